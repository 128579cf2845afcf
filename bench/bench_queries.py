"""Query speed on a large synthetic store, next to the naive approach, in one run.

    .venv/bin/python bench/bench_queries.py [--runs 15000] [--hot-runs 1000] [--repeat 15]

Builds (once; cached under bench/.cache/) a synthetic store of about 100k executions and 280k
artifacts (lineage.synthetic), then measures, alternating the two sides:

- provenance of one served model: ``Lineage.provenance(pushed)`` (MLMD's bounded traversal)
  against the naive approach (the whole store loaded into a networkx graph, then ``ancestors``);
- impact of the dataset feeding ``--hot-runs`` models: ``Lineage.impact(dataset)`` against
  ``descendants`` in the naive graph.

The naive side's query times exclude its build time, which is reported on its own.
Medians are reported, with ratios.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import networkx as nx  # noqa: E402

from lineage import Lineage  # noqa: E402
from lineage.synthetic import generate  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"


def naive_graph(lin: Lineage) -> nx.DiGraph:
    """The whole store in memory: every artifact, execution and event."""
    m = lin.store.mlmd
    g = nx.DiGraph()
    for a in m.get_artifacts():
        g.add_node(f"a{a.id}", type=a.type)
    for e in m.get_executions():
        g.add_node(f"e{e.id}", type=e.type)
    execs = [int(k[1:]) for k in g if k[0] == "e"]
    for i in range(0, len(execs), 5000):
        for ev in m.get_events_by_execution_ids(execs[i:i + 5000]):
            a, e = f"a{ev.artifact_id}", f"e{ev.execution_id}"
            if ev.type == ev.INPUT:
                g.add_edge(a, e)
            else:
                g.add_edge(e, a)
    return g


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15000)
    ap.add_argument("--hot-runs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--store", help="an existing store to use instead (bench/.cache/scale-100000.sqlite, say)")
    ap.add_argument("--json", help="also write the figures to this file (bench/run_all reads it)")
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    path = Path(args.store) if args.store else CACHE / f"synthetic-{args.runs}-{args.hot_runs}.sqlite"
    if not args.store and (args.rebuild or not path.exists()):
        for p in CACHE.glob(path.name + "*"):
            p.unlink()
        lin = Lineage.open(str(path))
        info = generate(lin, runs=args.runs, hot_runs=args.hot_runs, datasets=8, endpoints=20,
                        progress=lambda d, n: print(f"\rgenerating run {d}/{n}", end="", file=sys.stderr))
        print(f"\ngenerated {info.executions} executions, {info.artifacts} artifacts, {info.events} "
              f"events in {info.seconds:.0f}s", file=sys.stderr)
        lin.close()
    lin = Lineage.open(str(path), readonly=True)
    counts = {t: len(lin.store.list_artifacts(filter_query=f"type = '{t}'", limit=None))
              for t in ("PushedModel", "Model")}
    hot = lin.artifacts("Dataset", limit=None)
    hot = min(hot, key=lambda a: a.id)  # the generator's hot dataset is the first
    pushed = [a.id for a in lin.store.list_artifacts(filter_query="type = 'PushedModel'", limit=None)]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    build_s, g = timed(naive_graph, lin)
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024  # KiB on Linux
    n_exec = sum(1 for k in g if k[0] == "e")
    print(f"store: {n_exec} executions, {g.number_of_nodes() - n_exec} artifacts, {counts['Model']} "
          f"models, {counts['PushedModel']} pushed versions; hot dataset a{hot.id}")
    rng = random.Random(1)
    prov_ours, prov_naive, imp_ours, imp_naive = [], [], [], []
    for i in range(args.repeat):
        target = rng.choice(pushed)
        t, rep = timed(lin.provenance, target)
        prov_ours.append(t)
        t, anc = timed(nx.ancestors, g, f"a{target}")
        prov_naive.append(t)
        assert {f"a{a.id}" for a in rep.graph.artifacts()} == {k for k in anc if k[0] == "a"} | {f"a{target}"}
        if i < max(3, args.repeat // 3):
            t, imp = timed(lin.impact, hot)
            imp_ours.append(t)
            t, desc = timed(nx.descendants, g, f"a{hot.id}")
            imp_naive.append(t)
    models = len(imp.models)
    assert {f"a{a.id}" for a in imp.models} == {k for k in desc if g.nodes[k]["type"] == "Model"}
    med = statistics.median
    print(f"naive: whole store into networkx: {build_s:.1f} s ({g.number_of_nodes()} nodes, "
          f"{g.number_of_edges()} edges), once")
    print(f"provenance of a served model: lineage {med(prov_ours) * 1e3:.1f} ms, naive ancestors "
          f"{med(prov_naive) * 1e3:.2f} ms (+ the build), median of {len(prov_ours)}")
    print(f"impact of a dataset feeding {models} models: lineage {med(imp_ours) * 1e3:.0f} ms, naive "
          f"descendants {med(imp_naive) * 1e3:.1f} ms (+ the build), median of {len(imp_ours)}")
    print(f"first answer (build + query) vs lineage: provenance {(build_s + med(prov_naive)) / med(prov_ours):.0f}x "
          f"slower naive, impact {(build_s + med(imp_naive)) / med(imp_ours):.0f}x slower naive")
    print(f"naive graph: peak resident memory grew {rss_growth / 2**30:.2f} GiB while loading it")
    if args.json:
        import json
        Path(args.json).write_text(json.dumps({
            "store": str(path), "executions": n_exec, "events": g.number_of_edges(), "nodes": g.number_of_nodes(),
            "naive_load_s": build_s, "naive_peak_rss_growth_bytes": rss_growth,
            "provenance_ms": med(prov_ours) * 1e3, "naive_ancestors_ms": med(prov_naive) * 1e3,
            "impact_ms": med(imp_ours) * 1e3, "naive_descendants_ms": med(imp_naive) * 1e3}, indent=1))


if __name__ == "__main__":
    main()
