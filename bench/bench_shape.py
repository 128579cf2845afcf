"""What the explorer's graph page computes for the hot dataset of a large store, two ways side by
side, rounds interleaved: ``lin.shape`` + ``lin.view`` (plain dicts, what the page uses) against
``lin.sketch`` + ``lin.view`` (the same through a networkx graph). Both give the same drawing
(tests/query/test_view.py checks it).

    .venv/bin/python bench/bench_shape.py [--store bench/.cache/scale-100000.sqlite] [--repeat 11]

The store is one bench_scale.py builds (``--sizes 100000``); its hot dataset is its first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    from _out import add_json_arg, write_json

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=str(ROOT / "bench" / ".cache" / "scale-100000.sqlite"))
    ap.add_argument("--repeat", type=int, default=11)
    add_json_arg(ap)
    args = ap.parse_args()
    from lineage import Lineage

    lin = Lineage.open(f"sqlite:///{Path(args.store).resolve()}", readonly=True)
    hot = min(a.id for a in lin.store.list_artifacts(filter_query="type = 'Dataset'", limit=20))
    taints = lin.tainted()
    times: dict = {"shape": [], "shape_view": [], "sketch": [], "sketch_view": []}
    for r in range(args.repeat + 1):   # round 0 warms the file's pages, not counted
        t0 = time.perf_counter()
        shape = lin.shape(f"a{hot}", "downstream", 40)
        t1 = time.perf_counter()
        a = lin.view(shape, tainted=taints)
        t2 = time.perf_counter()
        graph = lin.sketch(f"a{hot}", "downstream", 40)
        t3 = time.perf_counter()
        b = lin.view(graph, tainted=taints)
        t4 = time.perf_counter()
        assert [(n.id, n.members, n.x, n.y) for n in a.nodes] == [(n.id, n.members, n.x, n.y) for n in b.nodes]
        if r:
            for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                times[k].append(v)
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"store": args.store, "nodes": len(shape), "edges": len(shape.edges), "drawn": len(a.nodes),
           **{f"{k}_s": v for k, v in med.items()},
           "ratio": (med["sketch"] + med["sketch_view"]) / (med["shape"] + med["shape_view"])}
    print(f"hot dataset a{hot}: {out['nodes']:,} nodes, {out['edges']:,} edges, drawn as {out['drawn']}")
    print(f"shape + view  {med['shape'] * 1000:.0f} + {med['shape_view'] * 1000:.0f} ms")
    print(f"sketch + view {med['sketch'] * 1000:.0f} + {med['sketch_view'] * 1000:.0f} ms  ({out['ratio']:.2f}x)")
    write_json(args.json, out)


if __name__ == "__main__":
    main()
