"""Cost of recording one step: ``@step`` against raw MLMD calls and MLflow, side by side in one run.

    .venv/bin/python bench/bench_recorder.py [--steps 300] [--rounds 5] [--mlflow PYTHON] [--json F]

Each side records the same step (2 inputs, 1 output file, 5 parameters, in one run context)
into its own fresh SQLite file (WAL, as lineage creates them; in tmpfs when there is one):

- raw MLMD, the floor: two ``put_execution`` calls (RUNNING with the inputs, then COMPLETE with
  the output), no fingerprint, no code version, no cache key;
- ``@step`` given the recorded input artifacts;
- ``@step`` given ``Dataset.at(path)`` for its inputs at every call (the docs' pattern);
- ``@step`` defined in a file outside git, linking its source snapshot (``LINEAGE_CODE_SNAPSHOTS``
  is off for the other sides, so their figures do not depend on whether the checkout is dirty);
- with ``--mlflow PYTHON`` (a Python with MLflow installed: ``bench/run_all`` makes one), MLflow
  recording the same step (a run, 5 params, the inputs as tags, the output file as an artifact)
  with its SQLite backend and its file store (``bench/mlflow_step.py``, in its own process; its
  import is not timed).

Rounds alternate between the sides so machine noise hits all alike; medians are reported,
with min, max and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import subprocess
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


def bench_lineage(root: Path, n: int, paths: bool = False, fn=train, warmed=None) -> float:
    lin = Lineage.open(f"sqlite:///{root / 'l.sqlite'}", artifact_root=str(root / "arts"))
    a, b = root / "a.csv", root / "b.csv"
    a.write_text("x" * 1000)
    b.write_text("y" * 1000)
    with run(pipeline="bench", store=lin):
        da, db = lin.register(Dataset.at(a)), lin.register(Dataset.at(b))
        fn(da, db, lr=0.0)  # warm: types, caches
        if warmed is not None:
            warmed()
        t = time.perf_counter()
        if paths:
            for i in range(n):
                fn(Dataset.at(a), Dataset.at(b), lr=i * 0.001)
        else:
            for i in range(n):
                fn(da, db, lr=i * 0.001)
        return (time.perf_counter() - t) / n


def bench_openlineage(root: Path, n: int) -> float:
    """@step with live OpenLineage events on (the client's file transport, into ``root``); the
    time until every event is written counts, from when the sender process is up (it starts
    once per pipeline process, with the first event: reported, not counted per step)."""
    import os

    from lineage.recorder import live

    config = root / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {root / 'events.jsonl'}\n  append: true\n")
    old = os.environ.get("OPENLINEAGE_CONFIG")
    os.environ["OPENLINEAGE_CONFIG"] = str(config)
    started = {}

    def warmed() -> None:   # the sender process is up (once per pipeline process): not a step's cost
        t0 = time.perf_counter()
        live.flush(60)
        started["s"] = time.perf_counter() - t0
        started["t"] = time.perf_counter()

    try:
        per_step = bench_lineage(root, n, warmed=warmed)
        live.flush(60)
        drained = time.perf_counter() - started["t"]
        sent = len((root / "events.jsonl").read_text().splitlines()) if (root / "events.jsonl").exists() else 0
        assert sent >= 2 * n, f"only {sent} events written for {n} steps"
        print(f"  OpenLineage: the sender process up in {started['s']:.2f} s (once); the steps themselves "
              f"{per_step * 1e3:.2f} ms each while queueing; with every event written {drained / n * 1e3:.2f} ms each",
              file=sys.stderr)
        return max(per_step, drained / n)
    finally:
        if old is None:
            os.environ.pop("OPENLINEAGE_CONFIG", None)
        else:
            os.environ["OPENLINEAGE_CONFIG"] = old


def bench_snapshot(root: Path, n: int) -> float:
    """The same step defined in a file outside any git repository: each call links the file's
    SourceSnapshot (kept once, on the warm-up call)."""
    import importlib.util
    import inspect
    import os

    src = root / "bench_snapshot_steps.py"
    src.write_text("from lineage import Input, Output, step\nfrom lineage.types import Dataset, Model\n\n\n"
                   + inspect.getsource(train.fn).replace("def train", "@step(type=\"Train\")\ndef train"))
    spec = importlib.util.spec_from_file_location("bench_snapshot_steps", src)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.environ["LINEAGE_CODE_SNAPSHOTS"] = "1"
    try:
        return bench_lineage(root, n, fn=module.train)
    finally:
        os.environ["LINEAGE_CODE_SNAPSHOTS"] = "0"


def bench_paths(root: Path, n: int) -> float:
    return bench_lineage(root, n, paths=True)


def bench_mlflow(python: str, backend: str, root: Path, n: int) -> float:
    out = subprocess.run([python, str(Path(__file__).with_name("mlflow_step.py")), "--backend", backend,
                          "--steps", str(n), "--dir", str(root)], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"MLflow's side failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["ms_per_step"] / 1e3


def bench_raw(root: Path, n: int, cfg: "pb.ConnectionConfig | None" = None) -> float:
    """The floor; on a SQLite file in ``root``, or on the store ``cfg`` names (MySQL/MariaDB)."""
    if cfg is None:
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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mlflow", help="a Python with MLflow installed (bench/.venv-mlflow/bin/python)")
    ap.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    import os

    os.environ["LINEAGE_CODE_SNAPSHOTS"] = "0"   # the same on a clean and a dirty checkout; step_snapshot has them
    sides = {"raw": bench_raw, "step": bench_lineage, "step_paths": bench_paths, "step_openlineage": bench_openlineage,
             "step_snapshot": bench_snapshot}
    if args.mlflow:
        sides["mlflow_sqlite"] = lambda root, n: bench_mlflow(args.mlflow, "sqlite", root, n)
        sides["mlflow_file"] = lambda root, n: bench_mlflow(args.mlflow, "file", root, n)
    times = {k: [] for k in sides}
    for r in range(args.rounds):
        for name, fn in sides.items():
            with tempfile.TemporaryDirectory(dir=args.dir) as d:
                times[name].append(fn(Path(d), args.steps))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1] * 1e3:.2f} ms" for k, v in times.items()),
              file=sys.stderr)
    floor = statistics.median(times["raw"])
    labels = {"raw": "raw MLMD (RUNNING + COMPLETE, nothing else)", "step": "@step, inputs recorded",
              "step_paths": "@step, inputs as Dataset.at(path) each call",
              "step_openlineage": "@step, live OpenLineage events (file transport)",
              "step_snapshot": "@step, with its source snapshot (no git)",
              "mlflow_sqlite": "MLflow, SQLite backend", "mlflow_file": "MLflow, file store"}
    out = {}
    for name, v in times.items():
        m = statistics.median(v)
        out[name] = {"ms": m * 1e3, "min_ms": min(v) * 1e3, "max_ms": max(v) * 1e3, "ratio": m / floor}
        print(f"{labels[name]:45s} {m * 1e3:7.2f} ms/step  (min {min(v) * 1e3:.2f}, max {max(v) * 1e3:.2f})  "
              f"{m / floor:.2f}x the raw floor")
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": args.steps, "rounds": args.rounds, "sides": out}, indent=1))


if __name__ == "__main__":
    main()
