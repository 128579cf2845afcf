"""How long the CLI takes to start, beside importing ML Metadata alone (the floor of any command
that opens a store), rounds interleaved.

    .venv/bin/python bench/bench_cli_startup.py [--rounds 7]

Measured as whole processes: ``python -c pass``, ``python -c "from ml_metadata.metadata_store
import metadata_store"``, ``lineage --help``, ``lineage ls runs`` on an empty store made once, and
the query commands ``provenance``, ``impact`` and ``history`` on a 40-run synthetic store.

Every process runs with its modules' bytecode cached, as on a user's machine (pip compiles an
installed package; an editable one writes ``__pycache__`` on its first run): the children run
without ``PYTHONDONTWRITEBYTECODE`` and one unmeasured round goes first. ML Metadata, the floor,
is compiled at install; a lineage compiled at every start would be measured against it unfairly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _out import add_json_arg, write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    add_json_arg(ap)
    args = ap.parse_args()
    py = sys.executable
    exe = str(Path(py).parent / "lineage")
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{tmp}/m.sqlite"
        subprocess.run([exe, "init", "--store", store], check=True, capture_output=True)
        # a small store with lineage to ask about: 40 synthetic runs
        small = f"sqlite:///{tmp}/small.sqlite"
        from lineage import Lineage
        from lineage.synthetic import generate
        info = generate(Lineage.open(small), runs=40, hot_runs=10, endpoints=2)
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "import ml_metadata": [py, "-c", "from ml_metadata.metadata_store import metadata_store"],
            "lineage --help": [exe, "--help"],
            "lineage ls runs": [exe, "ls", "runs", "--store", store],
            "lineage provenance": [exe, "provenance", f"a{info.pushed[-1]}", "--store", small],
            "lineage impact": [exe, "impact", f"a{info.hot_dataset}", "--store", small],
            "lineage history": [exe, "history", info.endpoints[0], "--store", small],
        }
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for cmd in cases.values():   # the unmeasured round: every module's bytecode written
            subprocess.run(cmd, check=True, capture_output=True, env=env)
        times: dict = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, cmd in cases.items():
                t = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, env=env)
                times[name].append(time.perf_counter() - t)
    floor = statistics.median(times["import ml_metadata"])
    print(f"medians of {args.rounds} interleaved rounds:")
    out = {}
    for name, ts in times.items():
        m = statistics.median(ts)
        out[name] = {"s": m, "min_s": min(ts), "max_s": max(ts), "ratio": m / floor}
        print(f"  {name:<20} {m:6.3f} s   {m / floor:4.2f}x importing ml_metadata")
    write_json(args.json, {"rounds": args.rounds, "cases": out})


if __name__ == "__main__":
    main()
