"""Bulk recording: ``record_many`` against MLMD's own ``put_lineage_subgraph``, side by side in one run.

    .venv/bin/python bench/bench_bulk.py [--steps 10000] [--batch 500] [--rounds 3] [--dir /dev/shm]

Each side records the same steps (2 existing inputs, 1 new output, 5 parameters, one run context)
into its own fresh SQLite file (WAL): raw MLMD as ``put_lineage_subgraph`` calls of ``--batch``
executions; lineage as ``record_many(batch=...)``, ``record()`` one by one and ``@step`` one by one
(those two on a tenth of the steps). Rounds alternate between the sides; medians of steps/s are
reported, with min and max. Answers are checked: every side's store holds the same events.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# every side writes the same rows: no source snapshot for @step in a dirty tree (bench_recorder measures that)
os.environ.setdefault("LINEAGE_CODE_SNAPSHOTS", "0")

from ml_metadata.metadata_store import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2 as pb  # noqa: E402

from lineage import Input, Lineage, Output, record, record_many, run, step  # noqa: E402
from lineage.types import Dataset, Model  # noqa: E402

PARAMS = lambda i: {"lr": i * 0.001, "epochs": 3, "optimizer": "adam", "fine_tune": False, "seed": 1}  # noqa: E731


def _raw_store(path: Path) -> metadata_store.MetadataStore:
    with contextlib.closing(sqlite3.connect(str(path))) as db:
        db.execute("PRAGMA journal_mode=WAL")
    cfg = pb.ConnectionConfig()
    cfg.sqlite.filename_uri = str(path)
    return metadata_store.MetadataStore(cfg)


def _set(props, name: str, v) -> None:
    if isinstance(v, bool):
        props[name].bool_value = v
    elif isinstance(v, float):
        props[name].double_value = v
    elif isinstance(v, int):
        props[name].int_value = v
    else:
        props[name].string_value = v


def bench_raw_same_rows(root: Path, n: int, batch: int) -> float:
    """The anchor writing the same rows lineage writes: its step and end-time properties on every
    execution, and both run contexts (Pipeline, PipelineRun)."""
    return bench_raw(root, n, batch, same_rows=True)


def bench_raw(root: Path, n: int, batch: int, same_rows: bool = False) -> float:
    store = _raw_store(root / "raw.sqlite")
    at = store.put_artifact_type(pb.ArtifactType(name="Dataset"))
    mt = store.put_artifact_type(pb.ArtifactType(name="Model"))
    et = store.put_execution_type(pb.ExecutionType(name="Train"))
    ct = store.put_context_type(pb.ContextType(name="PipelineRun"))
    names = ["r", "p"] if same_rows else ["r"]
    cids = store.put_contexts([pb.Context(type_id=ct, name=x) for x in names])
    ctxs = store.get_contexts_by_id(cids)
    ins = store.get_artifacts_by_id(store.put_artifacts(
        [pb.Artifact(type_id=at, uri="/a"), pb.Artifact(type_id=at, uri="/b")]))
    extra = {"step": "Train"} if same_rows else {}
    t = time.perf_counter()
    for start in range(0, n, batch):
        execs, arts, edges = [], list(ins), []
        for k, i in enumerate(range(start, min(n, start + batch))):
            ex = pb.Execution(type_id=et, last_known_state=pb.Execution.COMPLETE)
            if same_rows:
                for name, v in extra.items():
                    _set(ex.custom_properties, name, v)
                ex.custom_properties["ended_at"].double_value = time.time()
            for name, v in PARAMS(i).items():
                _set(ex.custom_properties, name, v)
            execs.append(ex)
            arts.append(pb.Artifact(type_id=mt, uri=f"/out/{i}"))
            for ai, key, etype in ((0, "data", pb.Event.INPUT), (1, "extra", pb.Event.INPUT),
                                   (len(arts) - 1, "model", pb.Event.OUTPUT)):
                ev = pb.Event(type=etype)
                ev.path.steps.add().key = key
                edges.append((k, ai, ev))
        store.put_lineage_subgraph(execs, arts, ctxs, edges, reuse_context_if_already_exist=True)
    return n / (time.perf_counter() - t)


def _lineage(root: Path):
    lin = Lineage.open(f"sqlite:///{root / 'l.sqlite'}", artifact_root=str(root / "arts"))
    for name in ("a.csv", "b.csv"):   # two small local inputs, fingerprinted once, before the clock starts
        (root / name).write_text("x\n1\n")
    da = lin.register(Dataset.at(root / "a.csv"))
    db = lin.register(Dataset.at(root / "b.csv"))
    return lin, da, db


def bench_many(root: Path, n: int, batch: int) -> float:
    lin, da, db = _lineage(root)
    with run(pipeline="bench", store=lin):
        entries = [{"type": "Train", "inputs": {"data": da, "extra": db}, "params": PARAMS(i),
                    "outputs": {"model": Model.at(f"gs://bench/out/{i}")}} for i in range(n)]
        t = time.perf_counter()
        record_many(entries, batch=batch)
        return n / (time.perf_counter() - t)


def bench_record(root: Path, n: int, batch: int) -> float:
    lin, da, db = _lineage(root)
    with run(pipeline="bench", store=lin):
        t = time.perf_counter()
        for i in range(n):
            record("Train", inputs={"data": da, "extra": db}, params=PARAMS(i),
                   outputs={"model": Model.at(f"gs://bench/out/{i}")})
        return n / (time.perf_counter() - t)


@step(type="Train")
def train(data: Input[Dataset], extra: Input[Dataset], model: Output[Model], lr: float = 0.1,
          epochs: int = 3, optimizer: str = "adam", fine_tune: bool = False, seed: int = 1):
    model.path.write_bytes(b"w")


def bench_step(root: Path, n: int, batch: int) -> float:
    lin, da, db = _lineage(root)
    with run(pipeline="bench", store=lin):
        t = time.perf_counter()
        for i in range(n):
            train(da, db, **{k: v for k, v in PARAMS(i).items()})
        return n / (time.perf_counter() - t)


def _events(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(str(path))) as db:
        return db.execute("SELECT COUNT(*) FROM Event").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                    help="where the stores are written (default: tmpfs when there is one)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    sides = {"raw put_lineage_subgraph": (bench_raw, args.steps),
             "raw, the same rows as lineage": (bench_raw_same_rows, args.steps),
             "record_many": (bench_many, args.steps),
             "record() one by one": (bench_record, max(1, args.steps // 10)),
             "@step one by one": (bench_step, max(1, args.steps // 10))}
    rates = {k: [] for k in sides}
    for r in range(args.rounds):
        for name, (fn, n) in sides.items():
            with tempfile.TemporaryDirectory(dir=args.dir) as d:
                rates[name].append(fn(Path(d), n, args.batch))
                db = next(Path(d).glob("*.sqlite"))
                # the answers agree: every side stored 3 events per step
                assert _events(db) == 3 * n, (name, _events(db), n)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items()),
              file=sys.stderr)
    anchor = statistics.median(rates["raw put_lineage_subgraph"])
    same = statistics.median(rates["raw, the same rows as lineage"])
    out = {}
    for name, v in rates.items():
        m = statistics.median(v)
        out[name] = {"median": m, "min": min(v), "max": max(v), "ratio": m / anchor, "ratio_same_rows": m / same}
        print(f"{name:30s} {m:8.0f} steps/s  (min {min(v):.0f}, max {max(v):.0f})  {m / anchor:.2f}x of raw, "
              f"{m / same:.2f}x of raw with the same rows")
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": args.steps, "batch": args.batch, "rates": out}, indent=1))


if __name__ == "__main__":
    main()
