"""Experiments: the runs table at 10k runs, and what step-log capture costs a step.

    .venv/bin/python bench/bench_experiments.py [--runs 10000] [--steps 300]

1. ``runs_frame()`` on a synthetic store of ``--runs`` runs (built once, cached in
   bench/.cache): lineage's SQL path beside the same table built through MLMD's API (one read per
   run, what non-SQLite stores do), and beside the floor: fetching the same rows with plain SQL and
   doing nothing with them. Rounds interleaved.
2. A trivial step (it prints one line) with capture off, ``failed`` (the default: captured, kept
   when the step fails) and ``always`` (a StepLog for every call), interleaved, ``--steps`` calls
   each, on a SQLite file in a temporary directory. What is on by default costs less than 10%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lineage import Lineage, step, use  # noqa: E402
from _out import add_json_arg, write_json  # noqa: E402
from lineage.synthetic import generate  # noqa: E402


def _store(runs: int) -> str:
    path = ROOT / "bench" / ".cache" / f"experiments-{runs}.sqlite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        tmp.unlink(missing_ok=True)
        lin = Lineage.open(f"sqlite:///{tmp}")
        print(f"building a {runs}-run synthetic store (once) ...", file=sys.stderr)
        generate(lin, runs=runs, hot_runs=min(500, runs), seed=7,
                 progress=lambda d, t: print(f"\r  {d}/{t} runs", end="", file=sys.stderr))
        print(file=sys.stderr)
        lin.close()
        tmp.rename(path)
    return str(path)


def _floor(path: str) -> int:
    """The rows the table needs, fetched with plain SQL and thrown away."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tid = ",".join(str(r[0]) for r in db.execute("SELECT id FROM Type WHERE name = 'PipelineRun'"))
    runs = f"IN (SELECT id FROM Context WHERE type_id IN ({tid}))"
    n = 0
    for sql in (f"SELECT id, name FROM Context WHERE id {runs}",
                f"SELECT * FROM ContextProperty WHERE context_id {runs}",
                f"SELECT a.context_id, e.id, e.type_id FROM Association a JOIN Execution e ON e.id = a.execution_id "
                f"WHERE a.context_id {runs}",
                f"SELECT p.* FROM Association x CROSS JOIN ExecutionProperty p ON p.execution_id = x.execution_id "
                f"WHERE x.context_id {runs} AND p.is_custom_property = 1"):
        n += len(db.execute(sql).fetchall())
    db.close()
    return n


def runs_table(runs: int, rounds: int) -> dict:
    path = _store(runs)
    lin = Lineage.open(f"sqlite:///{path}", readonly=True)
    assert len(lin.runs_frame()) == runs  # warm the file cache
    sql_t, mlmd_t, floor_t = [], [], []
    for _ in range(rounds):
        t = time.perf_counter()
        frame = lin.runs_frame()
        sql_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        _floor(path)
        floor_t.append(time.perf_counter() - t)
        db, lin.store._sql = lin.store._sql_reader(), None   # what a MariaDB store does
        t = time.perf_counter()
        slow = lin.runs_frame()
        mlmd_t.append(time.perf_counter() - t)
        lin.store._sql = db
        assert len(slow) == len(frame)
    s, m, f = (statistics.median(x) for x in (sql_t, mlmd_t, floor_t))
    print(f"runs table, {runs} runs, {frame.shape[1]} columns, median of {rounds} rounds:")
    print(f"  runs_frame (SQL on SQLite)        {s:7.3f} s")
    print(f"  through MLMD's API (one per run)  {m:7.3f} s   {m / s:5.1f}x slower")
    print(f"  floor: the rows, fetched only     {f:7.3f} s   runs_frame is {s / f:4.1f}x the floor")
    return {"runs": runs, "executions": sum(lin.store.counts()["execution"].values()), "columns": frame.shape[1],
            "runs_frame_s": s, "mlmd_api_s": m, "floor_s": f}


def capture_cost(steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        lin = Lineage.open(f"sqlite:///{tmp}/m.sqlite", artifact_root=f"{tmp}/artifacts")

        def body(i: int) -> None:
            print(f"step {i}")

        modes = {m: step(type=f"Capture_{m}", capture=m)(body) for m in ("off", "failed", "always")}
        devnull = open(os.devnull, "w")
        real = sys.stdout
        times: dict = {m: [] for m in modes}
        with use(lin):
            sys.stdout = devnull
            try:
                for i in range(steps):
                    order = list(modes.items())
                    for name, fn in (order if i % 2 else order[::-1]):
                        t = time.perf_counter()
                        fn(i)
                        times[name].append(time.perf_counter() - t)
            finally:
                sys.stdout = real
        lin.close()
    base = statistics.median(times["off"])
    print(f"a step that prints one line (the worst case: nothing else to do), median of {steps} calls each, "
          f"interleaved:")
    for m, what in (("off", "capture off"), ("failed", "captured, kept if it fails (default)"),
                    ("always", "captured and kept (a StepLog per call)")):
        t = statistics.median(times[m])
        print(f"  {what:<40} {t * 1000:6.2f} ms   {100 * (t / base - 1):+6.1f}%")
    return {m: statistics.median(times[m]) * 1e3 for m in modes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    add_json_arg(ap)
    args = ap.parse_args()
    table = runs_table(args.runs, args.rounds)
    capture = capture_cost(args.steps)
    write_json(args.json, {"runs_table": table, "capture_ms": capture})


if __name__ == "__main__":
    main()
