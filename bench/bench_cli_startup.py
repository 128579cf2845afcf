"""How long the CLI takes to start, beside importing ML Metadata alone (the floor of any command
that opens a store), rounds interleaved.

    .venv/bin/python bench/bench_cli_startup.py [--rounds 7]

Measured as whole processes: ``python -c pass``, ``python -c "from ml_metadata.metadata_store
import metadata_store"``, ``lineage --help``, and ``lineage ls runs`` on an empty store made once.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    py = sys.executable
    exe = str(Path(py).parent / "lineage")
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{tmp}/m.sqlite"
        subprocess.run([exe, "init", "--store", store], check=True, capture_output=True)
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "import ml_metadata": [py, "-c", "from ml_metadata.metadata_store import metadata_store"],
            "lineage --help": [exe, "--help"],
            "lineage ls runs": [exe, "ls", "runs", "--store", store],
        }
        times: dict = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, cmd in cases.items():
                t = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times[name].append(time.perf_counter() - t)
    floor = statistics.median(times["import ml_metadata"])
    print(f"medians of {args.rounds} interleaved rounds:")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:<20} {m:6.3f} s   {m / floor:4.2f}x importing ml_metadata")


if __name__ == "__main__":
    main()
