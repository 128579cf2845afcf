"""The explorer's search box (`Lineage.search`) on a large store: how long one search takes.

    .venv/bin/python bench/bench_search.py [--size 300000] [--repeat 21] [--json F]

On bench_scale.py's cached synthetic store (870k artifacts, 45k runs at 300k executions): a
model name, part of a run name, part of a URI, an artifact type, a reference typed whole, and text
that names nothing (every source scanned to its end). Each is timed ``--repeat`` times in turn
(the answer is checked to be the same each time); medians and p95 per search. The goal (issue 25)
is 200 ms at 300k executions. Floor: the one ``LIKE`` query over artifact URIs that the search
must make, in raw SQL on the same file.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import build, stats  # noqa: E402
from lineage import Lineage  # noqa: E402

SEARCHES = {
    "a served model's name": "model-3",
    "part of a run name": "synthetic-run-4464",
    "part of a URI": "runs/44642/Explain",
    "an artifact type": "Blessing",
    "a reference typed whole": "a12345",
    "text that names nothing": "no-such-thing-anywhere",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--json")
    args = ap.parse_args()
    source = build(args.size)
    lin = Lineage.open(str(source), readonly=True)
    first = {name: [h.to_dict() for h in lin.search(text)] for name, text in SEARCHES.items()}   # warm
    times = {name: [] for name in SEARCHES}
    floor = []
    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    for _ in range(args.repeat):
        for name, text in SEARCHES.items():
            t = time.perf_counter()
            got = [h.to_dict() for h in lin.search(text)]
            times[name].append(time.perf_counter() - t)
            assert got == first[name], name
        t = time.perf_counter()
        db.execute("SELECT id FROM Artifact WHERE uri LIKE ? ORDER BY id DESC LIMIT 10",
                   ("%no-such-thing-anywhere%",)).fetchall()
        floor.append(time.perf_counter() - t)
    out = {"size": args.size, "store": source.name, "floor_uri_like": stats(floor),
           "searches": {name: {"text": SEARCHES[name], "hits": len(first[name]), **stats(times[name])}
                        for name in SEARCHES}}
    for name, v in out["searches"].items():
        print(f"{name:28s} {v['text']!r:28s} {v['hits']:3d} hits  p50 {v['p50_ms']:7.1f} ms  p95 {v['p95_ms']:7.1f} ms")
    print(f"{'floor: one URI LIKE in SQL':58s}       p50 {out['floor_uri_like']['p50_ms']:7.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
