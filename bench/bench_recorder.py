"""Cost of recording one step: ``@step`` against raw MLMD calls, side by side in one run.

    .venv/bin/python bench/bench_recorder.py [--steps 300] [--rounds 5]

Each side records the same step (2 inputs, 1 output file, 5 parameters, in one run context) as
RUNNING then COMPLETE into its own fresh SQLite file (WAL, as lineage creates them). The raw side
is the floor: two ``put_execution`` calls with no fingerprint, no code version, no cache key.
Rounds alternate between the sides so machine noise hits both alike; medians are reported,
with the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_metadata.metadata_store import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2 as pb  # noqa: E402

from lineage import Input, Lineage, Output, run, step  # noqa: E402
from lineage.types import Dataset, Model  # noqa: E402


@step(type="Train")
def train(data: Input[Dataset], extra: Input[Dataset], model: Output[Model], lr: float = 0.1,
          epochs: int = 3, optimizer: str = "adam", fine_tune: bool = False, seed: int = 1):
    model.path.write_bytes(b"w" * 1024)


def bench_lineage(root: Path, n: int) -> float:
    lin = Lineage.open(f"sqlite:///{root / 'l.sqlite'}", artifact_root=str(root / "arts"))
    a, b = root / "a.csv", root / "b.csv"
    a.write_text("x" * 1000)
    b.write_text("y" * 1000)
    with run(pipeline="bench", store=lin):
        da, db = lin.register(Dataset.at(a)), lin.register(Dataset.at(b))
        train(da, db, lr=0.0)  # warm: types, caches
        t = time.perf_counter()
        for i in range(n):
            train(da, db, lr=i * 0.001)
        return (time.perf_counter() - t) / n


def bench_raw(root: Path, n: int) -> float:
    path = root / "raw.sqlite"
    with contextlib.closing(sqlite3.connect(str(path))) as db:
        db.execute("PRAGMA journal_mode=WAL")
    cfg = pb.ConnectionConfig()
    cfg.sqlite.filename_uri = str(path)
    store = metadata_store.MetadataStore(cfg)
    at = store.put_artifact_type(pb.ArtifactType(name="Dataset"))
    mt = store.put_artifact_type(pb.ArtifactType(name="Model"))
    et = store.put_execution_type(pb.ExecutionType(name="Train"))
    ct = store.put_context_type(pb.ContextType(name="PipelineRun"))
    [cid] = store.put_contexts([pb.Context(type_id=ct, name="r")])
    ctx = store.get_contexts_by_id([cid])[0]
    ins = store.get_artifacts_by_id(store.put_artifacts(
        [pb.Artifact(type_id=at, uri="/a"), pb.Artifact(type_id=at, uri="/b")]))
    out_dir = root / "rawout"
    out_dir.mkdir()

    def one(i: int) -> None:
        ex = pb.Execution(type_id=et, last_known_state=pb.Execution.RUNNING)
        for k, v in (("lr", i * 0.001), ("epochs", 3), ("optimizer", "adam"), ("seed", 1)):
            if isinstance(v, float):
                ex.custom_properties[k].double_value = v
            elif isinstance(v, int):
                ex.custom_properties[k].int_value = v
            else:
                ex.custom_properties[k].string_value = v
        ex.custom_properties["fine_tune"].bool_value = False
        pairs = [(a, pb.Event(type=pb.Event.INPUT)) for a in ins]
        eid, _, _ = store.put_execution(ex, pairs, [ctx])
        (out_dir / str(i)).write_bytes(b"w" * 1024)
        ex.id = eid
        ex.last_known_state = pb.Execution.COMPLETE
        out = pb.Artifact(type_id=mt, uri=str(out_dir / str(i)))
        store.put_execution(ex, [(out, pb.Event(type=pb.Event.OUTPUT))], [ctx])

    one(-1)
    t = time.perf_counter()
    for i in range(n):
        one(i)
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    ours, raw = [], []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
            raw.append(bench_raw(Path(d1), args.steps))
            ours.append(bench_lineage(Path(d2), args.steps))
        print(f"round {r + 1}/{args.rounds}: raw {raw[-1] * 1e3:.2f} ms, @step {ours[-1] * 1e3:.2f} ms",
              file=sys.stderr)
    m_raw, m_ours = statistics.median(raw), statistics.median(ours)
    print(f"raw MLMD (RUNNING + COMPLETE): {m_raw * 1e3:.2f} ms/step")
    print(f"@step (same, + fingerprint, code version, cache key, events by name): {m_ours * 1e3:.2f} ms/step")
    print(f"ratio @step / raw: {m_ours / m_raw:.2f}x")


if __name__ == "__main__":
    main()
