"""Queries at 10k / 100k / 300k / 1M executions, each beside its raw anchor, in one run per size.

    .venv/bin/python bench/bench_scale.py [--sizes 10000,100000,300000,1000000] [--repeat 21]
    .venv/bin/python bench/bench_scale.py --build-only --sizes 1000000    # build (and cache) a store

Stores are synthetic (``lineage.synthetic``: about 6.7 executions per run, 8 raw datasets, the first of
them, "hot", feeding 1,000 runs whatever the size; the other seven share the rest, so a "cold"
dataset's answer grows with the store). They are built once (in tmpfs when there is one, then
moved) and cached under ``bench/.cache/``: about 1 s per 1,000 executions.

Per size, alternating sides, the answers compared:

- provenance of a random served version: ``Lineage.provenance`` against MLMD's own
  ``get_lineage_subgraph`` upstream (p50 and p95) and against the floor, one recursive SQL query
  returning the same upstream nodes with their rows and properties;
- impact of the hot dataset and of a cold one: ``Lineage.impact`` against MLMD's
  ``get_lineage_subgraph`` downstream (events only) and against one recursive SQL query giving
  the reachable set, the floor of any SQL answer;
- the first page (100) of the largest context's executions: ``Lineage.context_executions``
  against MLMD's paged ``get_executions_by_context`` and against a plain SQL page with the rows
  and properties.

The SQL floors run on one open read-only connection (``SqlFloor``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import sqlite3
import statistics
import tempfile
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_metadata.metadata_store.metadata_store import ListOptions, OrderByField  # noqa: E402
from ml_metadata.proto import metadata_store_pb2 as pb  # noqa: E402

from lineage import Lineage  # noqa: E402
from lineage.synthetic import generate  # noqa: E402
from lineage.vocab import INPUT_EVENTS, OUTPUT_EVENTS  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"


def store_path(executions: int) -> Path:
    return CACHE / f"scale-{executions}.sqlite"


def build(executions: int) -> Path:
    """The cached synthetic store of about ``executions`` executions (built if missing)."""
    path = store_path(executions)
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    work = Path("/dev/shm") if Path("/dev/shm").is_dir() else CACHE
    tmp = work / f"building-{path.name}"
    for p in work.glob(tmp.name + "*"):
        p.unlink()
    lin = Lineage.open(str(tmp))
    runs = max(10, round(executions / 6.72))  # what the generator writes per run, on average
    t = time.perf_counter()
    info = generate(lin, runs=runs, hot_runs=min(1000, runs), datasets=8, endpoints=20,
                    progress=lambda d, n: print(f"\r{path.name}: run {d}/{n}", end="", file=sys.stderr))
    lin.close()
    print(f"\n{path.name}: {info.executions} executions, {info.artifacts} artifacts, {info.events} events "
          f"in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    with sqlite3.connect(str(tmp)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.move(str(tmp), str(path))
    for p in work.glob(tmp.name + "-*"):
        p.unlink()
    return path


@contextlib.contextmanager
def scratch_copies(source: Path, *names: str):
    """Copies of a cached store under the given names, in tmpfs when there is one, removed after."""
    work = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        paths = [work / name for name in names]
        for path in paths:
            shutil.copy(source, path)
        yield paths
    finally:
        shutil.rmtree(work, ignore_errors=True)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def mlmd_subgraph(lin: Lineage, artifact_id: int, direction: str, fields=("events",)):
    opts = pb.LineageSubgraphQueryOptions(max_num_hops=100, direction=direction)
    opts.starting_artifacts.filter_query = f"id = {artifact_id}"
    return lin.store.mlmd.get_lineage_subgraph(opts, list(fields))


IN = ",".join(str(pb.Event.Type.Value(t)) for t in INPUT_EVENTS)      # 2, 3, 5
OUT = ",".join(str(pb.Event.Type.Value(t)) for t in OUTPUT_EVENTS)    # 1, 4, 6, 7


class SqlFloor:
    """The floors the issue 27 rows are measured against: one SQL statement each, on one open
    read-only connection (what any reader pays at least)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def upstream_rows(self, artifact_id: int) -> list:
        """Everything upstream of an artifact with its rows and properties, in one recursive
        query: the nodes provenance reports, read whole."""
        return self.db.execute(f"""WITH RECURSIVE walk(k, id) AS (SELECT 0, {int(artifact_id)}
            UNION SELECT 1, ev.execution_id FROM walk w JOIN Event ev ON ev.artifact_id = w.id
                  WHERE w.k = 0 AND ev.type IN ({OUT})
            UNION SELECT 0, ev.artifact_id FROM walk w JOIN Event ev ON ev.execution_id = w.id
                  WHERE w.k = 1 AND ev.type IN ({IN}))
            SELECT 0, a.id, a.type_id, a.uri, a.state, a.name, a.create_time_since_epoch, p.name, p.is_custom_property,
                   p.int_value, p.double_value, p.string_value
              FROM walk w JOIN Artifact a ON a.id = w.id LEFT JOIN ArtifactProperty p ON p.artifact_id = a.id WHERE w.k = 0
            UNION ALL
            SELECT 1, e.id, e.type_id, NULL, e.last_known_state, e.name, e.create_time_since_epoch, p.name,
                   p.is_custom_property, p.int_value, p.double_value, p.string_value
              FROM walk w JOIN Execution e ON e.id = w.id LEFT JOIN ExecutionProperty p ON p.execution_id = e.id
             WHERE w.k = 1""").fetchall()

    def first_page(self, context_id: int, limit: int = 100) -> list:
        """A context's first page of executions, oldest first, with their rows and properties."""
        return self.db.execute(f"""WITH page AS (SELECT execution_id FROM Association WHERE context_id = {int(context_id)}
                                                ORDER BY execution_id LIMIT {int(limit)})
            SELECT e.id, e.type_id, e.last_known_state, e.name, e.create_time_since_epoch, p.name, p.is_custom_property,
                   p.int_value, p.double_value, p.string_value
              FROM page JOIN Execution e ON e.id = page.execution_id
              LEFT JOIN ExecutionProperty p ON p.execution_id = e.id ORDER BY e.id""").fetchall()

    def reach(self, artifact_id: int) -> set:
        """The downstream reachable set in one recursive query (events only)."""
        rows = self.db.execute(f"""WITH RECURSIVE walk(k, id) AS (SELECT 0, {int(artifact_id)}
            UNION SELECT 1, ev.execution_id FROM walk w JOIN Event ev ON ev.artifact_id = w.id
                  WHERE w.k = 0 AND ev.type IN ({IN})
            UNION SELECT 0, ev.artifact_id FROM walk w JOIN Event ev ON ev.execution_id = w.id
                  WHERE w.k = 1 AND ev.type IN ({OUT}))
            SELECT k, id FROM walk""").fetchall()
        return {("a" if k == 0 else "e") + str(i) for k, i in rows}


def stats(xs):
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return {"p50_ms": statistics.median(xs) * 1e3, "p95_ms": p95 * 1e3, "min_ms": xs[0] * 1e3,
            "max_ms": xs[-1] * 1e3, "n": len(xs)}


def measure(executions: int, repeat: int) -> dict:
    path = build(executions)
    lin = Lineage.open(str(path), readonly=True)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        n_exec = db.execute("SELECT COUNT(*) FROM Execution").fetchone()[0]
        n_events = db.execute("SELECT COUNT(*) FROM Event").fetchone()[0]
        n_art = db.execute("SELECT COUNT(*) FROM Artifact").fetchone()[0]
        datasets = [i for (i,) in db.execute(
            "SELECT a.id FROM Artifact a JOIN Type t ON t.id = a.type_id WHERE t.name = 'Dataset' "
            "AND a.uri LIKE '/synthetic/data/%' ORDER BY a.id")]
        pushed = [i for (i,) in db.execute(
            "SELECT a.id FROM Artifact a JOIN Type t ON t.id = a.type_id WHERE t.name = 'PushedModel'")]
        biggest_ctx, ctx_size = db.execute(
            "SELECT context_id, COUNT(*) c FROM Association GROUP BY context_id ORDER BY c DESC LIMIT 1").fetchone()
    hot, cold = datasets[0], datasets[1]
    out = {"executions": n_exec, "artifacts": n_art, "events": n_events, "store": str(path)}
    rng = random.Random(7)

    floor_sql = SqlFloor(path)
    # provenance: a served version, upstream
    ours, raw, floor = [], [], []
    lin.provenance(pushed[0])
    floor_sql.upstream_rows(pushed[0])
    for _ in range(repeat):
        target = rng.choice(pushed)
        t, rep = timed(lin.provenance, target)
        ours.append(t)
        t, g = timed(mlmd_subgraph, lin, target, "UPSTREAM", ("artifacts", "executions", "events"))
        raw.append(t)
        t, rows = timed(floor_sql.upstream_rows, target)
        floor.append(t)
        assert {a.id for a in rep.graph.artifacts()} == {a.id for a in g.artifacts} == \
            {r[1] for r in rows if r[0] == 0}, target
    out["provenance"] = {"lineage": stats(ours), "mlmd_get_lineage_subgraph": stats(raw), "recursive_sql": stats(floor)}

    # impact: the hot dataset and a cold one
    for name, aid, rounds in (("impact_hot", hot, max(3, repeat // 3)), ("impact_cold", cold, 3)):
        ours, raw, floor = [], [], []
        for r in range(rounds):
            t, imp = timed(lin.impact, aid)
            ours.append(t)
            t, g = timed(mlmd_subgraph, lin, aid, "DOWNSTREAM")
            raw.append(t)
            t, reach = timed(floor_sql.reach, aid)
            floor.append(t)
        mlmd_nodes = {f"a{e.artifact_id}" for e in g.events} | {f"e{e.execution_id}" for e in g.events}
        models = {f"a{a.id}" for a in imp.models}
        assert models <= reach and models <= mlmd_nodes | {f"a{aid}"}, name
        out[name] = {"answer_nodes": len(reach), "models": len(imp.models), "lineage": stats(ours),
                     "mlmd_get_lineage_subgraph": stats(raw), "recursive_sql": stats(floor)}

    # the first page of the largest context
    ours, raw, floor = [], [], []
    for _ in range(repeat):
        t, page = timed(lin.context_executions, biggest_ctx, limit=100)
        ours.append(t)
        t, rawpage = timed(lin.store.mlmd.get_executions_by_context, biggest_ctx,
                           list_options=ListOptions(limit=100, order_by=OrderByField.ID, is_asc=True))
        raw.append(t)
        t, rows = timed(floor_sql.first_page, biggest_ctx)
        floor.append(t)
        assert [e.id for e in page] == [e.id for e in rawpage] == list(dict.fromkeys(r[0] for r in rows))
    out["first_page"] = {"context_executions": ctx_size, "lineage": stats(ours), "mlmd_paged": stats(raw),
                         "plain_sql": stats(floor)}
    lin.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,300000,1000000")
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.build_only:
        for s in sizes:
            print(build(s))
        return
    results = {}
    for s in sizes:
        results[s] = r = measure(s, args.repeat)
        print(f"{r['executions']:>8} executions, {r['events']:>8} events: "
              f"provenance p50 {r['provenance']['lineage']['p50_ms']:.1f} ms p95 {r['provenance']['lineage']['p95_ms']:.1f} ms "
              f"(MLMD {r['provenance']['mlmd_get_lineage_subgraph']['p50_ms']:.1f}); "
              f"hot impact {r['impact_hot']['lineage']['p50_ms']:.0f} ms ({r['impact_hot']['answer_nodes']} nodes; "
              f"MLMD {r['impact_hot']['mlmd_get_lineage_subgraph']['p50_ms']:.0f}, SQL {r['impact_hot']['recursive_sql']['p50_ms']:.0f}); "
              f"cold impact {r['impact_cold']['lineage']['p50_ms']:.0f} ms ({r['impact_cold']['answer_nodes']} nodes; "
              f"MLMD {r['impact_cold']['mlmd_get_lineage_subgraph']['p50_ms']:.0f}, SQL {r['impact_cold']['recursive_sql']['p50_ms']:.0f}); "
              f"first page {r['first_page']['lineage']['p50_ms']:.2f} ms (MLMD {r['first_page']['mlmd_paged']['p50_ms']:.2f}; "
              f"{r['first_page']['context_executions']} in the context)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
