"""Run every benchmark, then write ``bench/RESULTS.md`` and the performance page's figures (docs/performance.md).

Called by ``bench/run_all`` (which makes MLflow's environment first). Each benchmark runs as its
own process with ``--json``; a failed one is reported in RESULTS.md and the others still run.
The performance page's block between ``<!-- results -->`` and ``<!-- /results -->`` is the summary table
of RESULTS.md, word for word (a test keeps the two equal).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RESULTS = ROOT / "bench" / "RESULTS.md"
README = ROOT / "docs" / "performance.md"   # its results block is RESULTS.md's summary
BEGIN, END = "<!-- results -->", "<!-- /results -->"


def plan(quick: bool, mlflow: Optional[str]) -> Dict[str, List[str]]:
    """name -> the command (as shown in RESULTS.md: relative to the checkout)."""
    sizes = "10000,100000" if quick else "10000,100000,300000,1000000"
    large = "bench/.cache/scale-100000.sqlite" if quick else "bench/.cache/scale-300000.sqlite"
    r = (lambda full, q: str(q if quick else full))
    out = {
        "recorder": ["bench/bench_recorder.py", "--steps", r(300, 150), "--rounds", r(5, 3)]
                    + (["--mlflow", mlflow] if mlflow else []),
        "bulk": ["bench/bench_bulk.py", "--steps", r(10000, 4000), "--rounds", r(3, 2)],
        # issue 27's row: 2,000 steps, where raw MLMD has not yet slowed with its tables' growth
        "bulk_2k": ["bench/bench_bulk.py", "--steps", "2000", "--rounds", r(5, 3)],
        "mariadb": ["bench/bench_mariadb.py", "--steps", r(300, 150), "--rounds", r(3, 2)],
        "scale": ["bench/bench_scale.py", "--sizes", sizes, "--repeat", r(21, 11)],
        "cli": ["bench/bench_cli_startup.py", "--rounds", r(7, 5)],
        "experiments": ["bench/bench_experiments.py", "--rounds", r(3, 2), "--steps", r(300, 150)],
        # issue 13's goals are on a 100k-execution store; the full run adds issue 12's 300k one
        "explorer": ["bench/bench_explorer_browser.py", "--rounds", r(3, 2),
                     "--large", "bench/.cache/scale-100000.sqlite", "--large-label", "100k"]
                    + ([] if quick else ["--large", large, "--large-label", "300k"]),
        "shape": ["bench/bench_shape.py", "--store", "bench/.cache/scale-100000.sqlite", "--repeat", r(11, 5)],
        "serving": ["bench/bench_serving.py", "--requests", r(500, 200), "--rollbacks", r(10, 4)],
        "server_life": ["bench/bench_server_life.py", "--rounds", r(5, 3), "--requests", r(3000, 1000)],
        "prediction_log": ["bench/bench_prediction_log.py", "--requests", r(2000, 600)],
        "object_storage": ["bench/bench_object_storage.py", "--rounds", r(9, 5)],
        "naive": ["bench/bench_queries.py", "--store", "bench/.cache/scale-100000.sqlite", "--repeat", r(21, 7)],
        "tune": ["bench/bench_tune.py", "--size", r(300000, 100000), "--repeat", r(41, 21)],
        "gc": ["bench/bench_gc.py", "--size", "100000"],
        "search": ["bench/bench_search.py", "--size", r(300000, 100000), "--repeat", r(21, 7)],
        # issue 28: a head's predict through its remote part; the module server's batching
        "distributed": ["bench/bench_distributed.py", "--rounds", r(5, 3), "--requests", r(300, 150)],
    }
    return out


def machine() -> str:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))) / 2**20
    except (OSError, StopIteration):
        mem = float("nan")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; lineage at {commit or '?'}")


def run_one(name: str, cmd: List[str], out_dir: Path) -> Dict[str, Any]:
    target = out_dir / f"{name}.json"
    print(f"\n== {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    t = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([PY, *cmd, "--json", str(target)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=None, text=True)
    sys.stderr.write(proc.stdout)
    took = time.perf_counter() - t
    if proc.returncode != 0 or not target.exists():
        return {"error": f"exit {proc.returncode}", "seconds": took, "stdout": proc.stdout[-3000:]}
    return {"data": json.loads(target.read_text()), "seconds": took}


# ----------------------------------------------------------------- tables


def ms(x: float) -> str:
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms"


def ratio(x: float) -> str:
    return f"{x:.2f}x"


class Row:
    def __init__(self, metric: str, goal: str, anchor: str, ours: str, r: str, met: Optional[bool], command: str):
        self.cells = [metric, goal, anchor, ours, r, "yes" if met else "no" if met is False else "-", command]


def summary(res: Dict[str, Dict[str, Any]], cmds: Dict[str, str]) -> List[Row]:
    def have(name: str) -> Optional[Any]:
        return res.get(name, {}).get("data")

    return (_recording_rows(have, cmds) + _query_rows(have("scale"), cmds) + _naive_rows(have("naive"), cmds)
            + _cli_rows(have("cli"), cmds) + _shape_rows(have("shape"), cmds) + _explorer_rows(have("explorer"), cmds)
            + _server_life_rows(have("server_life"), cmds) + _object_storage_rows(have("object_storage"), cmds)
            + _tune_rows(have("tune"), cmds) + _gc_rows(have("gc"), cmds) + _search_rows(have("search"), cmds)
            + _distributed_rows(have("distributed"), cmds))


def _distributed_rows(d: Any, cmds: Dict[str, str]) -> List[Row]:
    if not d:
        return []
    p50, p99, t = d["p50_ms"], d["p99_ms"], d["throughput"]
    many_whole, many_head = f"undivided, {d.get('rows')} rows", f"head, {d.get('rows')} rows"
    return [Row("a head's gRPC Predict through its remote part (one row, loopback), p50", "<= 1.5x",
                f"the undivided model: {ms(p50['undivided'])} (p99 {ms(p99['undivided'])})",
                f"{ms(p50['head'])} (p99 {ms(p99['head'])})", ratio(d["ratio_p50"]), d["ratio_p50"] <= 1.5,
                cmds["distributed"]),
            *([Row("what the remote part adds to a head's Predict, against one empty gRPC Predict on loopback "
                   "(the floor of any second hop)", "-",
                   f"an empty Predict to a server answering at once: {ms(d['hop_floor_p50_ms'])}",
                   f"head minus undivided: {ms(d['added_p50_ms'])}",
                   ratio(d["added_p50_ms"] / d["hop_floor_p50_ms"]), None, cmds["distributed"]),
               Row(f"a head's gRPC Predict, {d['rows']} rows per request, p50", "-",
                   f"the undivided model: {ms(p50[many_whole])}", ms(p50[many_head]), ratio(d["ratio_p50_rows"]),
                   None, cmds["distributed"])]
              if "hop_floor_p50_ms" in d else []),
            Row("two heads sending at once through one module server (16 clients, one row each)", "-",
                f"module server not batching: {t['batching off']['rps']:.0f} requests/s",
                f"batching (64 rows, 2 ms): {t['batching on']['rps']:.0f} requests/s, "
                f"{d['calls_per_request_batched']:.2f} module calls per request",
                f"{d['batching_speedup']:.2f}x", None, cmds["distributed"])]


def _search_rows(se: Any, cmds: Dict[str, str]) -> List[Row]:
    if not se:
        return []
    floor = se["floor_uri_like"]["p50_ms"]
    return [Row(f"explorer search, {se['size'] // 1000}k store: {name} ({v['text']!r}, {v['hits']} hits; p50 / p95)",
                "<= 200 ms", f"one URI LIKE in SQL: {floor:.1f} ms", f"{v['p50_ms']:.1f} / {v['p95_ms']:.1f} ms",
                f"{v['p50_ms'] / floor:.2f}x", v["p95_ms"] <= 200, cmds["search"])
            for name, v in se["searches"].items()]


def _object_storage_rows(os_: Any, cmds: Dict[str, str]) -> List[Row]:
    if not os_:
        return []
    m = os_["mib_per_s"]
    size = f"{os_['mib']:.0f} MiB in {os_['files']} files, moto's S3 server on loopback"
    return [Row(f"upload of a step's output folder, fingerprinted ({size})", ">= 0.8x",
                f"s3fs put (no fingerprint): {m['s3fs put']:.0f} MiB/s", f"{m['lineage upload']:.0f} MiB/s",
                f"{os_['upload_ratio']:.2f}x", os_["upload_ratio"] >= 0.8, cmds["object_storage"]),
            Row(f"pull into the cache, checked against the record ({size})", ">= 0.8x",
                f"s3fs get (no check): {m['s3fs get']:.0f} MiB/s; get then sha256: {m['s3fs get + sha256']:.0f} MiB/s",
                f"{m['lineage pull']:.0f} MiB/s",
                f"{os_['pull_ratio']:.2f}x", os_["pull_ratio"] >= 0.8, cmds["object_storage"])]


def _tune_rows(tu: Any, cmds: Dict[str, str]) -> List[Row]:
    if not tu:
        return []
    rows = []
    for q, v in tu["queries"].items():
        rows.append(Row(f"`lineage tune`, {tu['size'] // 1000}k store: {q} (p50 / p95)", "-",
                        f"untuned: {v['plain']['p50_ms']:.2f} / {v['plain']['p95_ms']:.2f} ms",
                        f"{v['tuned']['p50_ms']:.2f} / {v['tuned']['p95_ms']:.2f} ms",
                        f"{v['p50_ratio']:.2f}x / {v['p95_ratio']:.2f}x", None, cmds["tune"]))
    return rows


def _gc_rows(g: Any, cmds: Dict[str, str]) -> List[Row]:
    if not g:
        return []
    size = f"{g['size'] // 1000}k store, {g['live_artifacts']:,} LIVE artifacts"
    return [Row(f"`lineage gc --dry-run`, {size}", "-",
                f"reading every LIVE artifact once: {g['read_all_live_s']:.1f} s", f"{g['dry_run_s']:.1f} s",
                f"{g['dry_run_ratio']:.2f}x", None, cmds["gc"]),
            Row(f"`lineage gc`, {size}: {g['removed']:,} removed", "-", "-", f"{g['gc_s']:.1f} s", "-", None, cmds["gc"])]


def _server_life_rows(sl: Any, cmds: Dict[str, str]) -> List[Row]:
    if not sl:
        return []
    g, c = sl["graceful_stop"], sl["lease_cost_grpc_predict"]
    lost = g["failed_after_taken"]
    rows = [Row(f"graceful stop (SIGTERM) with 8 clients sending, {len(g['rounds'])} servers", "< 2 s, 0 taken requests lost",
                f"{g['answered']:,} answered; {g['failed_at_the_client']} failed at the client, never taken by the server",
                f"{g['stop_s_median']:.2f} s (max {g['stop_s_max']:.2f} s), {lost} taken and lost", "-",
                g["stop_s_max"] < 2 and lost == 0, cmds["server_life"])]
    base = c["no recording (no lease)"]["p50_ms"]
    default = c["heartbeat 10 s (default)"]
    share = c["default heartbeat's estimated share of p50"]
    rows.append(Row("the lease's cost on gRPC Predict p50 (heartbeat every 10 s)", "< 1%",
                    f"the same server, not recording: {ms(base)}; heartbeat every 0.05 s: "
                    f"{ms(c['heartbeat 0.05 s (200x)']['p50_ms'])}",
                    f"{ms(default['p50_ms'])}; heartbeat's share estimated from the 200x one: {share * 100:.2f}%",
                    ratio(default["ratio"]), share < 0.01, cmds["server_life"]))
    return rows


def _shape_rows(sh: Any, cmds: Dict[str, str]) -> List[Row]:
    if not sh:
        return []
    return [Row(f"graph page's computation, hot dataset at 100k ({sh['nodes']:,} nodes drawn as {sh['drawn']})", "-",
                f"through networkx (sketch + view): {ms((sh['sketch_s'] + sh['sketch_view_s']) * 1000)}",
                f"{ms((sh['shape_s'] + sh['shape_view_s']) * 1000)}", f"{sh['ratio']:.2f}x faster", None, cmds["shape"])]


def _naive_rows(nv: Any, cmds: Dict[str, str]) -> List[Row]:
    if not nv:
        return []
    gib = nv["naive_peak_rss_growth_bytes"] / 2**30
    return [Row(f"the naive way: {nv['events']:,} events loaded into networkx, then impact", "-",
                f"load {nv['naive_load_s']:.1f} s and {gib:.2f} GiB of memory, then `descendants` {ms(nv['naive_descendants_ms'])}",
                f"impact {ms(nv['impact_ms'])}, nothing loaded", f"{(nv['naive_load_s'] * 1e3 + nv['naive_descendants_ms']) / nv['impact_ms']:.0f}x "
                f"sooner (first answer)", None, cmds["naive"])]


def _recording_rows(have: Any, cmds: Dict[str, str]) -> List[Row]:
    rows: List[Row] = []
    rec = have("recorder")
    if rec:
        s = rec["sides"]
        rows.append(Row("one step, recorded inputs (2 in, 1 out, 5 params, a run; SQLite in tmpfs)", "<= 1.2x",
                        f"raw MLMD, two put_execution: {ms(s['raw']['ms'])}", ms(s["step"]["ms"]),
                        ratio(s["step"]["ratio"]), s["step"]["ratio"] <= 1.2, cmds["recorder"]))
        rows.append(Row("one step, inputs as Dataset.at(path) every call", "<= 1.5x",
                        f"the same raw floor: {ms(s['raw']['ms'])}", ms(s["step_paths"]["ms"]),
                        ratio(s["step_paths"]["ratio"]), s["step_paths"]["ratio"] <= 1.5, cmds["recorder"]))
        if "step_openlineage" in s:
            extra = s["step_openlineage"]["ms"] - s["step"]["ms"]
            rows.append(Row("one step with live OpenLineage events (file transport; until every event is written)",
                            "<= +1 ms", f"the same step without events: {ms(s['step']['ms'])}",
                            ms(s["step_openlineage"]["ms"]), f"+{extra:.2f} ms", extra <= 1.0, cmds["recorder"]))
        if "step_snapshot" in s:
            extra = s["step_snapshot"]["ms"] - s["step"]["ms"]
            rows.append(Row("one step linking its source snapshot (a file outside git, kept once)", "-",
                            f"the same step without: {ms(s['step']['ms'])}", ms(s["step_snapshot"]["ms"]),
                            f"+{extra:.2f} ms", None, cmds["recorder"]))
        if "mlflow_sqlite" in s:
            for key, label in (("mlflow_sqlite", "SQLite backend"), ("mlflow_file", "file store")):
                x = s[key]["ms"] / s["step"]["ms"]
                rows.append(Row(f"one step against MLflow 3.17.2, {label}", ">= 10x faster" if key == "mlflow_sqlite" else "-",
                                f"MLflow: {ms(s[key]['ms'])}", ms(s["step"]["ms"]), f"{x:.1f}x faster",
                                x >= 10 if key == "mlflow_sqlite" else None, cmds["recorder"]))
    for name in ("bulk", "bulk_2k"):
        bulk = have(name)
        if bulk:
            r = bulk["rates"]
            rows.append(Row(f"bulk: {bulk['steps']:,} steps, batches of {bulk['batch']} (steps/s)", ">= 0.8x",
                            f"MLMD put_lineage_subgraph: {r['raw put_lineage_subgraph']['median']:.0f}/s "
                            f"(writing lineage's rows: {r['raw, the same rows as lineage']['median']:.0f}/s)",
                            f"record_many: {r['record_many']['median']:.0f}/s", ratio(r["record_many"]["ratio"]),
                            r["record_many"]["ratio"] >= 0.8, cmds[name]))
    mdb = have("mariadb")
    if mdb:
        rows.append(Row("one step on MariaDB (loopback, tmpfs)", "<= 2x, <= 40 SQL statements",
                        f"the same step on SQLite: {ms(mdb['sqlite_ms'])} (raw MLMD on MariaDB: {ratio(mdb['raw_ratio'])} "
                        f"its SQLite)", f"{ms(mdb['mariadb_ms'])}, {mdb['statements_per_step']:.0f} SQL statements",
                        ratio(mdb["ratio"]), mdb["ratio"] <= 2 and mdb["statements_per_step"] <= 40, cmds["mariadb"]))
        if mdb.get("vs_raw_mariadb"):
            rows.append(Row("one step on MariaDB, against ML Metadata's own floor there", "-",
                            f"raw MLMD, two put_execution, on MariaDB: {ms(mdb['raw_mariadb_ms'])}",
                            ms(mdb["mariadb_ms"]), ratio(mdb["vs_raw_mariadb"]), None, cmds["mariadb"]))
        if mdb.get("postgresql_ms"):
            floor = (f" (raw MLMD on PostgreSQL: {ratio(mdb['raw_postgresql_ratio'])} its SQLite)"
                     if mdb.get("raw_postgresql_ratio") else "")
            rows.append(Row("one step on PostgreSQL (loopback, tmpfs, fsync off)", "<= 2x",
                            f"the same step on SQLite: {ms(mdb['sqlite_ms'])}{floor}", ms(mdb["postgresql_ms"]),
                            ratio(mdb["postgresql_ratio"]), mdb["postgresql_ratio"] <= 2, cmds["mariadb"]))
        if mdb.get("vs_raw_postgresql"):
            rows.append(Row("one step on PostgreSQL, against ML Metadata's own floor there", "-",
                            f"raw MLMD, two put_execution, on PostgreSQL: {ms(mdb['raw_postgresql_ms'])}",
                            ms(mdb["postgresql_ms"]), ratio(mdb["vs_raw_postgresql"]), None, cmds["mariadb"]))
    return rows


def _query_rows(sc: Any, cmds: Dict[str, str]) -> List[Row]:
    rows: List[Row] = []
    if sc:
        sizes = sorted(sc.values(), key=lambda v: v["executions"])
        million = next((v for v in sizes if v["events"] >= 1_000_000), None)
        if million:
            p = million["provenance"]
            rows.append(Row(f"provenance p95, {million['events']:,} events", "<= 10 ms",
                            f"MLMD get_lineage_subgraph p95: {ms(p['mlmd_get_lineage_subgraph']['p95_ms'])}",
                            ms(p["lineage"]["p95_ms"]), ratio(p["lineage"]["p95_ms"] / p["mlmd_get_lineage_subgraph"]["p95_ms"]),
                            p["lineage"]["p95_ms"] <= 10, cmds["scale"]))
        hundred = next((v for v in sizes if v["executions"] >= 90_000), None)
        if hundred:
            h = hundred["impact_hot"]
            rows.append(Row(f"impact of the hot dataset, {hundred['executions']:,} executions ({h['answer_nodes']:,} nodes)",
                            "<= 100 ms", f"MLMD get_lineage_subgraph (events only): {ms(h['mlmd_get_lineage_subgraph']['p50_ms'])}; "
                            f"one recursive SQL query: {ms(h['recursive_sql']['p50_ms'])}",
                            ms(h["lineage"]["p50_ms"]), ratio(h["lineage"]["p50_ms"] / h["mlmd_get_lineage_subgraph"]["p50_ms"]),
                            h["lineage"]["p50_ms"] <= 100, cmds["scale"]))
        three = next((v for v in sizes if v["executions"] >= 290_000), None)
        if three:
            c = three["impact_cold"]
            rows.append(Row(f"impact of a cold dataset, {three['executions']:,} executions ({c['answer_nodes']:,} nodes)",
                            "<= 1 s", f"one recursive SQL query: {ms(c['recursive_sql']['p50_ms'])}",
                            ms(c["lineage"]["p50_ms"]), ratio(c["lineage"]["p50_ms"] / c["recursive_sql"]["p50_ms"]),
                            c["lineage"]["p50_ms"] <= 1000, cmds["scale"]))
        if hundred and "recursive_sql" in hundred["provenance"]:   # issue 27: each within a small factor of one SQL statement
            p = hundred["provenance"]
            rows.append(Row(f"provenance of a served version, {hundred['executions']:,} executions, against its floor",
                            "<= 2x", f"one recursive SQL query, the same nodes with their rows: {ms(p['recursive_sql']['p50_ms'])}",
                            ms(p["lineage"]["p50_ms"]), ratio(p["lineage"]["p50_ms"] / p["recursive_sql"]["p50_ms"]),
                            p["lineage"]["p50_ms"] <= 2 * p["recursive_sql"]["p50_ms"], cmds["scale"]))
            h = hundred["impact_hot"]
            rows.append(Row(f"impact of the hot dataset, {hundred['executions']:,} executions, against its floor",
                            "<= 1.5x", f"one recursive SQL query (reachable set): {ms(h['recursive_sql']['p50_ms'])}",
                            ms(h["lineage"]["p50_ms"]), ratio(h["lineage"]["p50_ms"] / h["recursive_sql"]["p50_ms"]),
                            h["lineage"]["p50_ms"] <= 1.5 * h["recursive_sql"]["p50_ms"], cmds["scale"]))
            f = hundred["first_page"]
            rows.append(Row(f"first page (100) of a context of {f['context_executions']:,} executions, against its floor",
                            "<= 1.5x", f"a plain SQL page with rows and properties: {ms(f['plain_sql']['p50_ms'])}",
                            ms(f["lineage"]["p50_ms"]), ratio(f["lineage"]["p50_ms"] / f["plain_sql"]["p50_ms"]),
                            f["lineage"]["p50_ms"] <= 1.5 * f["plain_sql"]["p50_ms"], cmds["scale"]))
        big = max(sizes, key=lambda v: v["first_page"]["context_executions"])
        f = big["first_page"]
        rows.append(Row(f"first page (100) of a context of {f['context_executions']:,} executions", "<= 5 ms",
                        f"MLMD paged get_executions_by_context: {ms(f['mlmd_paged']['p50_ms'])}",
                        ms(f["lineage"]["p50_ms"]), ratio(f["lineage"]["p50_ms"] / f["mlmd_paged"]["p50_ms"]),
                        f["lineage"]["p50_ms"] <= 5, cmds["scale"]))
    return rows


def _cli_rows(cli: Any, cmds: Dict[str, str]) -> List[Row]:
    rows: List[Row] = []
    if cli:
        c = cli["cases"]
        floor = c["import ml_metadata"]["s"]
        for name in ("lineage --help", "lineage ls runs", "lineage provenance", "lineage impact", "lineage history"):
            if name in c:
                goal = 1.5 if name in ("lineage --help", "lineage provenance") else 2.0   # issue 27: provenance
                rows.append(Row(f"`{name}`, a whole process", f"<= {goal}x", f"importing ml_metadata: {floor:.3f} s",
                                f"{c[name]['s']:.3f} s", ratio(c[name]["ratio"]), c[name]["ratio"] <= goal, cmds["cli"]))
    return rows


def _explorer_rows(exp: Any, cmds: Dict[str, str]) -> List[Row]:
    rows: List[Row] = []
    if not exp:
        return rows

    def med(xs: List[float]) -> float:
        xs = sorted(xs)
        return xs[len(xs) // 2]

    empty = exp.get("floor", {}).get("(empty app: new tab, rerun)")
    for store, pages in exp.items():
        if store == "floor":
            continue
        # issue 13: 1.5 s / 0.5 s on the example store, 3 s on the 100k one; issue 12: 1 s / 0.1 s at 300k
        goal_cold, goal_warm = {"example": (1.5, 0.5), "100k": (3.0, 3.0)}.get(store, (1.0, 0.1))
        first = pages.get("(first tab)")
        if first and empty:
            rows.append(Row(f"explorer, {store} store: the first tab of a fresh server", "-",
                            f"an empty Streamlit app's new tab: {med(empty['cold']):.2f} s", f"{med(first['cold']):.2f} s",
                            ratio(med(first["cold"]) / med(empty["cold"])), None, cmds["explorer"]))
        sidebar = {k: v for k, v in pages.items() if k != "(first tab)" and "-hot" not in k and not k.startswith("search ")}
        cold = max((med(v["cold"]), k) for k, v in sidebar.items())
        rows.append(Row(f"explorer, {store} store: slowest page's first visit (from the sidebar)", f"<= {goal_cold} s",
                        "-", f"{cold[0]:.2f} s ({cold[1]})", "-", cold[0] <= goal_cold, cmds["explorer"]))
        warm = max((med(v["warm"]), k) for k, v in pages.items() if v["warm"])
        rows.append(Row(f"explorer, {store} store: slowest page's rerun", f"<= {goal_warm} s",
                        f"an empty app's rerun: {med(empty['warm']):.2f} s" if empty else "-",
                        f"{warm[0]:.2f} s ({warm[1]})", ratio(warm[0] / med(empty["warm"])) if empty else "-",
                        warm[0] <= goal_warm, cmds["explorer"]))
        searches = {k: v for k, v in pages.items() if k.startswith("search ")}
        if searches:
            took = max((med(v["cold"]), k[len("search "):]) for k, v in searches.items())
            rows.append(Row(f"explorer, {store} store: the sidebar's search, typed until its hits show (slowest text)",
                            "-", f"an empty app's rerun: {med(empty['warm']):.2f} s" if empty else "-",
                            f"{took[0]:.2f} s ({took[1]})", ratio(took[0] / med(empty["warm"])) if empty else "-",
                            None, cmds["explorer"]))
        for key in ("graph-hot", "impact-hot"):
            if key in pages:
                rows.append(Row(f"explorer, {store} store: the hot dataset's {key.split('-')[0]} view, a new tab",
                                "<= 3 s", f"an empty app's new tab: {med(empty['cold']):.2f} s" if empty else "-",
                                f"{med(pages[key]['cold']):.2f} s", "-", med(pages[key]["cold"]) <= 3.0, cmds["explorer"]))
    return rows


def table(rows: List[Row]) -> str:
    head = "| metric | goal | anchor | lineage | ratio | met | command |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    return head + "".join("| " + " | ".join(c.replace("|", "\\|") for c in r.cells) + " |\n" for r in rows)


def details(res: Dict[str, Dict[str, Any]], cmds: Dict[str, str]) -> str:
    out = []
    sc = res.get("scale", {}).get("data")
    if sc:
        out.append("### Queries as the store grows\n\n`" + cmds["scale"] + "`\n\n"
                   "| executions | events | provenance p50 / p95 (MLMD p50) | hot impact: nodes, lineage (MLMD, SQL floor) "
                   "| cold impact: nodes, lineage (MLMD, SQL floor) | first page of the largest context (MLMD) |\n"
                   "| --- | --- | --- | --- | --- | --- |\n")
        for v in sorted(sc.values(), key=lambda v: v["executions"]):
            p, h, c, f = v["provenance"], v["impact_hot"], v["impact_cold"], v["first_page"]
            out.append(f"| {v['executions']:,} | {v['events']:,} | {ms(p['lineage']['p50_ms'])} / {ms(p['lineage']['p95_ms'])} "
                       f"({ms(p['mlmd_get_lineage_subgraph']['p50_ms'])}) | {h['answer_nodes']:,}: {ms(h['lineage']['p50_ms'])} "
                       f"({ms(h['mlmd_get_lineage_subgraph']['p50_ms'])}, {ms(h['recursive_sql']['p50_ms'])}) | "
                       f"{c['answer_nodes']:,}: {ms(c['lineage']['p50_ms'])} ({ms(c['mlmd_get_lineage_subgraph']['p50_ms'])}, "
                       f"{ms(c['recursive_sql']['p50_ms'])}) | {f['context_executions']:,}: {ms(f['lineage']['p50_ms'])} "
                       f"({ms(f['mlmd_paged']['p50_ms'])}) |\n")
        out.append("\n")
    exp = res.get("explorer", {}).get("data")
    if exp:
        out.append("### Explorer pages in headless Chromium (seconds: median, min-max)\n\n`" + cmds["explorer"] + "`\n\n"
                   "| store | page | first visit | rerun |\n| --- | --- | --- | --- |\n")
        for store, pages in exp.items():
            for page, v in pages.items():
                def cell(xs: List[float]) -> str:
                    xs = sorted(xs)
                    return f"{xs[len(xs) // 2]:.2f} ({xs[0]:.2f}-{xs[-1]:.2f})" if xs else "-"
                out.append(f"| {store} | {page} | {cell(v['cold'])} | {cell(v['warm'])} |\n")
        out.append("\n")
    for name, title in (("shape", "The graph page's computation (shape and view, against networkx)"),
                        ("naive", "The naive way (whole store in networkx)"), ("experiments", "Experiments"), ("serving", "Serving"),
                        ("server_life", "A server's life: graceful stop, the lease"), ("prediction_log", "Request logging"),
                        ("object_storage", "Object storage"), ("tune", "lineage tune's indexes"), ("gc", "lineage gc"),
                        ("search", "Search"), ("distributed", "Distributed serving"),
                        ("bulk", "Bulk recording"), ("bulk_2k", "Bulk recording, 2,000 steps"), ("recorder", "One step"), ("mariadb", "MariaDB"), ("cli", "CLI")):
        data = res.get(name, {}).get("data")
        if data is not None:
            out.append(f"### {title}\n\n`{cmds[name]}`\n\n```json\n{json.dumps(data, indent=1)}\n```\n\n")
    return "".join(out)


def earlier(missing: List[str], cmds: Dict[str, str]) -> tuple:
    """The rows and detail sections RESULTS.md holds for the benchmarks in ``missing`` (not run now,
    and not in the cache, as on a fresh clone with --only): ``(rows, details, when)``."""
    if not RESULTS.exists() or not missing:
        return "", "", ""
    text = RESULTS.read_text()
    scripts = {cmds[n].split()[1] for n in missing}   # bench/bench_x.py: its options may differ (--mlflow)

    def theirs(command: str) -> bool:
        parts = command.strip().strip("`").split()
        return len(parts) > 1 and parts[1] in scripts

    rows = "".join(line + "\n" for line in text.split(BEGIN, 1)[-1].split(END, 1)[0].splitlines()
                   if line.startswith("| ") and not line.startswith("| metric") and not line.startswith("| ---")
                   and theirs(line.rstrip().rstrip("|").rstrip().rsplit(" | ", 1)[-1]))
    sections = text.split("## Details\n\n", 1)[-1].split("\n### ")
    kept = "".join("### " + sec.lstrip("# ").rstrip() + "\n\n" for sec in sections
                   if any(theirs(line) for line in sec.splitlines() if line.startswith("`")))
    m = re.search(r"Measured by `bench/run_all` on (\S+) ", text)
    return rows, kept, m.group(1) if m else ""


def write(res: Dict[str, Dict[str, Any]], cmds: Dict[str, str], when: str) -> str:
    rows = summary(res, cmds)
    old_rows, old_details, old_when = earlier([n for n in cmds if n not in res], cmds)
    block = (f"Measured by `bench/run_all` on {when} ({machine()}). Every ratio compares two sides "
             f"measured in the same run, rounds interleaved; medians unless said."
             + (f" Rows of benchmarks not run this time are kept from the run of {old_when}." if old_rows else "")
             + "\n\n" + table(rows) + old_rows)
    failed = [f"- `{n}` failed ({r['error']}): see its output below" for n, r in res.items() if "error" in r]
    text = ("# Benchmark results\n\nWritten by `bench/run_all`; do not edit (run it again).\n\n" + BEGIN + "\n"
            + block + END + "\n\n" + ("## Failed\n\n" + "\n".join(failed) + "\n\n" if failed else "")
            + "## Details\n\n" + details(res, cmds) + old_details
            + "".join(f"### {n} (failed)\n\n```\n{r.get('stdout', '')}\n```\n\n" for n, r in res.items() if "error" in r))
    RESULTS.write_text(text)
    readme = README.read_text()
    if BEGIN in readme and END in readme:
        readme = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda m: BEGIN + "\n" + block + END, readme, flags=re.S)
        README.write_text(readme)
    return block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer rounds; stores up to 100k executions")
    ap.add_argument("--only", help="comma-separated benchmark names (keeps the others' last figures)")
    ap.add_argument("--mlflow", help="a Python with MLflow (bench/run_all makes bench/.venv-mlflow)")
    args = ap.parse_args()
    steps = plan(args.quick, args.mlflow and os.path.relpath(args.mlflow, ROOT))
    cmds = {n: ".venv/bin/python " + " ".join(c) for n, c in steps.items()}
    if not (ROOT / ".lineage" / "metadata.sqlite").exists():
        print("== the example pipeline first (the explorer's pages are measured on its store)", file=sys.stderr)
        subprocess.run([str(ROOT / "scripts" / "example")], cwd=ROOT, check=True)
    keep = ROOT / "bench" / ".cache" / "results.json"
    res: Dict[str, Dict[str, Any]] = json.loads(keep.read_text()) if keep.exists() and args.only else {}
    wanted = set(args.only.split(",")) if args.only else set(steps)
    unknown = wanted - set(steps)
    if unknown:
        raise SystemExit(f"bench/run_all: unknown benchmark(s) {', '.join(sorted(unknown))}; known: {', '.join(steps)}")
    with tempfile.TemporaryDirectory() as out_dir:
        for name, cmd in steps.items():
            if name in wanted:
                res[name] = run_one(name, cmd, Path(out_dir))
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_text(json.dumps(res))
    block = write(res, cmds, dt.date.today().isoformat())
    print("\n" + block, flush=True)
    print(f"wrote {RESULTS.relative_to(ROOT)} and {README.relative_to(ROOT)}'s figures", file=sys.stderr)


if __name__ == "__main__":
    main()
