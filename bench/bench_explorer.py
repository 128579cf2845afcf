"""Render time of every explorer page on the large synthetic store (see bench_queries.py).

    .venv/bin/python bench/bench_explorer.py [--store bench/.cache/synthetic-15000-1000.sqlite]

Each page is rendered with Streamlit's AppTest in a fresh process (cold: imports, store
opening and empty caches included) and then again in that process (warm: cached queries).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["overview", "runs", "artifacts", "data", "graph", "provenance", "impact", "serving", "compare"]

CHILD = r'''
import os, sys, time
os.environ["LINEAGE_STORE"] = sys.argv[1]
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[2], default_timeout=120)
at.query_params["page"] = sys.argv[3]
t = time.perf_counter(); at.run(); cold = time.perf_counter() - t
t = time.perf_counter(); at.run(); warm = time.perf_counter() - t
assert not at.exception, [e.value for e in at.exception]
print(f"{cold:.3f} {warm:.3f}")
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=str(ROOT / "bench" / ".cache" / "synthetic-15000-1000.sqlite"))
    args = ap.parse_args()
    if not Path(args.store).exists():
        sys.exit(f"{args.store} does not exist: run bench/bench_queries.py first (it builds and caches it)")
    print(f"{'page':<10} {'cold s':>7} {'warm s':>7}")
    for page in PAGES:
        out = subprocess.run([sys.executable, "-c", CHILD, args.store, str(ROOT / "app" / "explorer.py"), page],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            print(f"{page:<10} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        cold, warm = out.stdout.split()[-2:]
        print(f"{page:<10} {float(cold):>7.2f} {float(warm):>7.2f}")


if __name__ == "__main__":
    main()
