"""The lineage explorer: `lineage ui` (or `streamlit run app/explorer.py -- --store URI`).

Reads through the query API only, opens the store read-only, and never writes (rollback stays a
CLI/Python action: the Serving page shows the command). Every query is cached per store and
paged. Text from the store (names, properties, errors) is shown as text, never as HTML or
Markdown. The URL's query parameters select the page and the node (``?page=graph&artifact=12``),
so a view can be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lineage import Lineage  # noqa: E402
from lineage.errors import LineageError  # noqa: E402
from lineage.records import Artifact, Execution, utc_from_s  # noqa: E402

PAGES = ["overview", "runs", "artifacts", "data", "graph", "serving", "compare"]
TITLES = {"overview": "Overview", "runs": "Runs", "artifacts": "Artifacts", "data": "Data",
          "graph": "Lineage graph", "serving": "Serving", "compare": "Compare"}
GRAPH_CAP = 250  # nodes drawn at most; the rest is counted, not drawn


def _store_uri() -> Optional[str]:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.store or os.environ.get("LINEAGE_STORE") or None


@st.cache_resource(show_spinner=False)
def open_store(uri: Optional[str]) -> Lineage:
    return Lineage.open(uri, readonly=True)


def when(seconds_or_dt: Any) -> str:
    if seconds_or_dt is None:
        return ""
    dt = utc_from_s(seconds_or_dt) if isinstance(seconds_or_dt, (int, float)) else seconds_or_dt
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else ""


def short(v: Any, n: int = 80) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= n else text[: n - 1] + "…"


def art_row(a: Artifact) -> Dict[str, Any]:
    return {"id": a.id, "type": a.type, "state": a.state, "uri": a.uri,
            "fingerprint": (a.fingerprint or "")[:23], "created": when(a.created)}


def exec_row(e: Execution) -> Dict[str, Any]:
    d = e.duration_s
    return {"id": e.id, "type": e.type, "state": e.state, "started": when(e.started),
            "duration_s": round(d, 3) if d is not None else None, "error": e.error or ""}


# ---------------------------------------------------------------------- charts
# Vega-Lite specs straight to st.vega_lite_chart: st.bar_chart / st.line_chart import Altair,
# which costs 1.5 s on the first chart of a process.


def chart_bar(df: pd.DataFrame, x: str, y: str, color: Optional[str] = None) -> None:
    enc: Dict[str, Any] = {"x": {"field": x, "type": "nominal", "sort": None, "axis": {"labelAngle": -30}},
                           "y": {"field": y, "type": "quantitative"}, "tooltip": [{"field": c} for c in df.columns]}
    if color:
        enc["color"] = {"field": color, "type": "nominal"}
        enc["xOffset"] = {"field": color}
    st.vega_lite_chart(df, {"mark": "bar", "encoding": enc}, width="stretch")


def chart_steps(df: pd.DataFrame, x: str, y: str) -> None:
    st.vega_lite_chart(df, {"mark": {"type": "line", "interpolate": "step-after", "point": True},
                            "encoding": {"x": {"field": x, "type": "temporal"},
                                         "y": {"field": y, "type": "ordinal", "sort": "descending"},
                                         "tooltip": [{"field": x, "type": "temporal"}, {"field": y}]}},
                       width="stretch")


# ---------------------------------------------------------------- cached queries
# Keyed by the store URI; results are plain data (records hold read-only mappings that
# Streamlit's cache cannot pickle).


@st.cache_data(ttl=30, show_spinner=False)
def q_counts(uri: Optional[str]) -> Dict[str, Dict[str, int]]:
    return open_store(uri).store.counts()


@st.cache_data(ttl=30, show_spinner=False)
def q_runs(uri: Optional[str], pipeline: str, limit: int) -> List[Dict[str, Any]]:
    lin = open_store(uri)
    rows = []
    for c in lin.runs(pipeline or None, limit=limit):
        p = c.properties
        rows.append({"id": c.id, "name": c.name, "pipeline": p.get("pipeline", ""),
                     "experiment": p.get("experiment") or "", "state": p.get("state", ""),
                     "started": when(p.get("started_at") or c.created),
                     "duration_s": round(p["ended_at"] - p["started_at"], 2)
                     if p.get("ended_at") and p.get("started_at") else None,
                     "git_commit": (p.get("git_commit") or "")[:12], "user": p.get("user") or ""})
    return rows


@st.cache_data(ttl=30, show_spinner=False)
def q_endpoints(uri: Optional[str]) -> List[Dict[str, Any]]:
    """What each endpoint serves now (no full replay), with the last change and its run."""
    from lineage.queries import serving_now
    from lineage.store import _quote

    lin = open_store(uri)
    if "ServingEndpoint" not in lin.store.type_names("context"):
        return []
    contexts = lin.store.list_contexts(filter_query="type = 'ServingEndpoint'", limit=500)
    now = serving_now(lin.store, [c.name for c in contexts])
    out = []
    for c in contexts:
        last = lin.store.list_executions(
            filter_query=f"contexts_a.type = 'ServingEndpoint' AND contexts_a.name = {_quote(c.name)} "
                         f"AND last_known_state = COMPLETE", limit=1, order_by="id")
        ev = last[0] if last else None
        run = ""
        if ev is not None:
            runs = [x.name for x in lin.contexts(ev) if x.type == "PipelineRun"]
            run = runs[0] if runs else ""
        out.append({"endpoint": c.name, "version": now.get(c.name),
                    "last change": when(ev.properties.get("ended_at") or ev.created) if ev else "",
                    "by": f"e{ev.id} {ev.type} ({ev.properties.get('user') or '?'})" if ev else "",
                    "run": run})
    return out


@st.cache_data(ttl=30, show_spinner=False)
def q_history(uri: Optional[str], model: str) -> List[Dict[str, Any]]:
    return [{"when": when(h.time), "time": h.time, "action": h.action, "version": h.version,
             "label": h.label or "", "state": h.state, "execution": h.execution.id,
             "user": h.user or "", "forced": h.forced}
            for h in open_store(uri).serving_history(model)]


@st.cache_data(ttl=30, show_spinner=False)
def q_state(uri: Optional[str], model: str) -> Dict[str, Any]:
    """The serving state now and the serving version after each effective event (one replay)."""
    from lineage.queries import replay, replay_steps

    history = open_store(uri).serving_history(model)
    timeline = [(ev.time, after.version) for ev, after in replay_steps(model, history)]
    state = replay(model, history)
    return {"version": state.version, "pinned": state.pinned,
            "labels": ", ".join(f"{k}={v}" for k, v in sorted(state.labels.items())),
            "since": when(state.since), "timeline": timeline}


@st.cache_data(ttl=30, show_spinner=False)
def q_find(uri: Optional[str], kind: str, type_name: str, where: str, context: str, limit: int):
    lin = open_store(uri)
    found = lin.find(type_name or None, where or None, kind=kind, context=context or None, limit=limit)
    return [art_row(a) if kind == "artifact" else exec_row(a) for a in found]


@st.cache_data(ttl=30, show_spinner=False)
def q_node(uri: Optional[str], ref: str) -> Dict[str, Any]:
    lin = open_store(uri)
    node = lin.node(ref)
    d: Dict[str, Any] = {"kind": node.kind, "id": node.id, "type": node.type,
                         "properties": dict(node.properties), "custom_properties": dict(node.custom_properties),
                         "created": when(node.created)}
    if isinstance(node, Artifact):
        d.update(uri=node.uri, state=node.state, fingerprint=node.fingerprint,
                 producers=[exec_row(e) for e in lin.producers(node)],
                 consumers=[exec_row(e) for e in lin.consumers(node)])
    elif isinstance(node, Execution):
        d.update(state=node.state, error=node.error, duration_s=node.duration_s, started=when(node.started),
                 inputs={k: [art_row(a) for a in v] for k, v in lin.inputs(node).items()},
                 outputs={k: [art_row(a) for a in v] for k, v in lin.outputs(node).items()})
    d["contexts"] = [{"id": c.id, "type": c.type, "name": c.name} for c in lin.contexts(node)] \
        if node.kind != "context" else []
    return d


@st.cache_data(ttl=30, show_spinner=False)
def q_graph(uri: Optional[str], ref: str, direction: str, hops: int) -> Dict[str, Any]:
    from lineage.export import to_dot

    lin = open_store(uri)
    g = lin.lineage(ref, direction, hops)
    taints = lin.tainted()
    nodes = [{"key": k, "type": d["type"], "kind": d["kind"]} for k, d in sorted(g.graph.nodes(data=True))]
    return {"dot": to_dot(g, tainted=taints, max_nodes=GRAPH_CAP), "nodes": nodes,
            "size": len(g), "edges": g.graph.number_of_edges(),
            "tainted": sorted(f"a{i}" for i in taints if f"a{i}" in g.graph)}


# ---------------------------------------------------------------------- pages


def page_overview(uri: Optional[str], lin: Lineage) -> None:
    counts = q_counts(uri)
    c1, c2, c3 = st.columns(3)
    c1.metric("Artifacts", sum(counts["artifact"].values()))
    c2.metric("Executions", sum(counts["execution"].values()))
    c3.metric("Failed executions", counts["state"].get("FAILED", 0))
    left, right = st.columns(2)
    with left:
        st.subheader("Artifacts by type")
        st.dataframe(pd.DataFrame(sorted(counts["artifact"].items()), columns=["type", "count"]),
                     hide_index=True, width="stretch")
    with right:
        st.subheader("Executions by type and state")
        st.dataframe(pd.DataFrame(sorted(counts["execution"].items()), columns=["type", "count"]),
                     hide_index=True, width="stretch")
        st.dataframe(pd.DataFrame(sorted(counts["state"].items()), columns=["state", "count"]),
                     hide_index=True, width="stretch")
    st.subheader("Serving now")
    endpoints = q_endpoints(uri)
    if endpoints:
        st.dataframe(pd.DataFrame(endpoints), hide_index=True, width="stretch")
    else:
        st.caption("Nothing has been pushed to a serving endpoint yet.")
    st.subheader("Recent runs")
    runs = q_runs(uri, "", 10)
    if runs:
        st.dataframe(pd.DataFrame(runs), hide_index=True, width="stretch")


def page_runs(uri: Optional[str], lin: Lineage) -> None:
    qp = st.query_params
    cols = st.columns(6)
    pipeline = cols[0].text_input("Pipeline", value=qp.get("pipeline", ""))
    experiment = cols[1].text_input("Experiment")
    state = cols[2].selectbox("State", ["", "RUNNING", "COMPLETE", "FAILED"])
    since = cols[3].text_input("Started since (YYYY-MM-DD)")
    until = cols[4].text_input("Started until (YYYY-MM-DD)")
    limit = cols[5].selectbox("Show", [50, 200, 1000], index=0)
    runs = q_runs(uri, pipeline, limit)
    if experiment:
        runs = [r for r in runs if r["experiment"] == experiment]
    if state:
        runs = [r for r in runs if r["state"] == state]
    if since:
        runs = [r for r in runs if r["started"] >= since]
    if until:
        runs = [r for r in runs if r["started"][:len(until)] <= until]
    if not runs:
        st.info("No runs match.")
        return
    st.dataframe(pd.DataFrame(runs), hide_index=True, width="stretch")
    names = [r["name"] for r in runs]
    wanted = qp.get("run")
    name = st.selectbox("Run", names, index=names.index(wanted) if wanted in names else 0)
    st.query_params["run"] = name
    steps = [exec_row(e) | {"params": short(dict(e.params), 120), "step": e.properties.get("step", ""),
                            "git_commit": (e.properties.get("git_commit") or "")[:12]
                            + (" (dirty)" if e.properties.get("git_dirty") else ""),
                            "source_hash": (e.properties.get("source_hash") or "")[7:19]}
             for e in lin.run_steps(name)]
    step_type = st.selectbox("Step type", [""] + sorted({s["type"] for s in steps}))
    if step_type:
        steps = [s for s in steps if s["type"] == step_type]
    st.subheader("Steps, in order")
    st.dataframe(pd.DataFrame(steps), hide_index=True, width="stretch")
    if steps:
        pick = st.selectbox("Step", [f"e{s['id']} {s['type']}" for s in steps])
        show_node(uri, pick.split()[0])


def show_node(uri: Optional[str], ref: str) -> None:
    try:
        d = q_node(uri, ref)
    except LineageError as exc:
        st.error(str(exc))
        return
    st.subheader(f"{d['kind'].capitalize()} {d['id']}")
    st.text(f"type: {d['type']}")
    if d["kind"] == "artifact":
        st.text(f"uri: {d['uri']}\nstate: {d['state']}\nfingerprint: {d['fingerprint'] or '-'}\ncreated: {d['created']}")
    elif d["kind"] == "execution":
        st.text(f"state: {d['state']}\nstarted: {d['started']}\nduration: {d['duration_s']}")
        if d["error"]:
            st.error(d["error"])
    cols = st.columns(2)
    cols[0].caption("properties")
    cols[0].json(d["properties"], expanded=True)
    cols[1].caption("custom properties / parameters")
    cols[1].json(d["custom_properties"], expanded=True)
    if d["kind"] == "artifact":
        st.caption("produced by")
        st.dataframe(pd.DataFrame(d["producers"]), hide_index=True, width="stretch")
        st.caption("consumed by")
        st.dataframe(pd.DataFrame(d["consumers"]), hide_index=True, width="stretch")
    elif d["kind"] == "execution":
        for title in ("inputs", "outputs"):
            rows = [dict(r, argument=k) for k, v in d[title].items() for r in v]
            st.caption(title)
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if d.get("contexts"):
        st.caption("contexts")
        st.dataframe(pd.DataFrame(d["contexts"]), hide_index=True, width="stretch")


def page_artifacts(uri: Optional[str], lin: Lineage) -> None:
    qp = st.query_params
    counts = q_counts(uri)
    cols = st.columns([1, 2, 2, 1, 1])
    type_name = cols[0].selectbox("Type", [""] + sorted(counts["artifact"]))
    where = cols[1].text_input("Properties (e.g. accuracy > 0.9 and blessed = true)")
    uri_part = cols[2].text_input("URI contains")
    context = cols[3].text_input("Context (name or Type:name)")
    limit = cols[4].selectbox("Show", [50, 200, 1000])
    if uri_part:
        quoted = "'%" + uri_part.replace("\\", "\\\\").replace("'", "\\'") + "%'"
        where = f"{where} and uri ~ {quoted}" if where.strip() else f"uri ~ {quoted}"
    try:
        rows = q_find(uri, "artifact", type_name, where, context, limit)
    except LineageError as exc:
        st.error(str(exc))
        rows = []
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    choices = [f"a{r['id']}" for r in rows]
    selected = qp.get("artifact")
    if selected and f"a{selected}" not in choices:
        choices.insert(0, f"a{selected}")
    if not choices:
        st.info("No artifacts match.")
        return
    ref = st.selectbox("Artifact", choices, index=choices.index(f"a{selected}") if selected else 0)
    st.query_params["artifact"] = ref[1:]
    show_node(uri, ref)
    if st.button("Verify (re-fingerprint now)"):
        report = lin.verify(ref)
        if report.clean and report.ok:
            st.success("The files match the recorded fingerprint.")
        elif report.missing:
            st.error("The files are missing.")
        elif report.changed:
            st.error("The files changed since they were recorded.")
        else:
            st.warning("No local fingerprint to verify.")


def _statistics_for(lin: Lineage, art: Artifact) -> Optional[Dict[str, Any]]:
    """statistics.json recorded at ingest for this Dataset / Examples / ExampleStatistics."""
    def found(a: Artifact) -> Optional[Dict[str, Any]]:
        p = Path(a.uri) / "statistics.json"
        return {"artifact": a.id, **json.loads(p.read_text())} if p.exists() else None

    if art.type == "ExampleStatistics":
        return found(art)
    # The ingest that produced these Examples (or, for a Dataset, the newest one that read it;
    # a shared dataset may have thousands of readers: look no further than needed).
    execs = lin.producers(art) if art.type != "Dataset" else \
        sorted(lin.consumers(art), key=lambda e: -e.id)[:20]
    for ex in execs:
        for arts in lin.outputs(ex).values():
            for a in arts:
                stats = found(a) if a.type == "ExampleStatistics" else None
                if stats:
                    return stats
    return None


def page_data(uri: Optional[str], lin: Lineage) -> None:
    qp = st.query_params
    arts = q_find(uri, "artifact", "", "type in ('Dataset', 'Examples', 'ExampleStatistics')", "", 200)
    if not arts:
        st.info("No datasets recorded yet.")
        return
    labels = [f"a{a['id']} {a['type']} {a['uri']}" for a in arts]
    ids = [str(a["id"]) for a in arts]
    wanted = qp.get("artifact")
    first = st.selectbox("Dataset", labels, index=ids.index(wanted) if wanted in ids else 0)
    other = st.selectbox("Compare with", ["(none)"] + labels)
    art = lin.artifact(int(first.split()[0][1:]))
    stats = _statistics_for(lin, art)
    if stats is None:
        st.warning("No statistics were recorded at ingest for this dataset.")
        return
    st.text(f"statistics: a{stats['artifact']}")
    st.subheader("Rows per split")
    chart_bar(pd.DataFrame([{"split": k, "rows": v} for k, v in stats["rows"].items()]), "split", "rows")
    feats = stats["features"]
    table = pd.DataFrame([{"feature": k, "type": v["type"], "missing": v["missing"],
                           "min": v.get("min"), "max": v.get("max"), "mean": v.get("mean"),
                           "vocabulary_size": v.get("vocabulary_size")} for k, v in sorted(feats.items())])
    st.subheader("Features")
    st.dataframe(table, hide_index=True, width="stretch")
    for name, v in sorted(feats.items()):
        dist = v.get("histogram") or v.get("top_values")
        if dist:
            st.caption(f"{name}: {'values' if 'histogram' in v else 'most frequent values'}")
            chart_bar(pd.DataFrame([{"value": str(k), "count": v} for k, v in dist.items()]), "value", "count")
    if other != "(none)":
        other_stats = _statistics_for(lin, lin.artifact(int(other.split()[0][1:])))
        if other_stats is None:
            st.warning("No statistics for the second dataset.")
            return
        st.subheader("How the two differ")
        rows = []
        for k in sorted(set(feats) | set(other_stats["features"])):
            a, b = feats.get(k, {}), other_stats["features"].get(k, {})
            for m in ("missing", "mean", "min", "max", "vocabulary_size"):
                if a.get(m) != b.get(m):
                    rows.append({"feature": k, "statistic": m, "first": a.get(m), "second": b.get(m)})
        for split in sorted(set(stats["rows"]) | set(other_stats["rows"])):
            if stats["rows"].get(split) != other_stats["rows"].get(split):
                rows.append({"feature": f"rows[{split}]", "statistic": "count",
                             "first": stats["rows"].get(split), "second": other_stats["rows"].get(split)})
        if rows:
            st.dataframe(pd.DataFrame(rows).astype(str), hide_index=True, width="stretch")
        else:
            st.success("The statistics are the same.")


def page_graph(uri: Optional[str], lin: Lineage) -> None:
    qp = st.query_params
    ref = qp.get("node") or (f"a{qp['artifact']}" if qp.get("artifact") else None) or \
        (f"e{qp['execution']}" if qp.get("execution") else None)
    if not ref:
        latest = q_find(uri, "artifact", "", "", "", 1)
        if not latest:
            st.info("Nothing recorded yet.")
            return
        ref = f"a{latest[0]['id']}"
    cols = st.columns([2, 2, 3])
    ref = cols[0].text_input("Node (a12, e7, or MODEL:VERSION)", value=ref)
    direction = cols[1].radio("Direction", ["upstream", "downstream", "both"], horizontal=True,
                              index=["upstream", "downstream", "both"].index(qp.get("direction", "both"))
                              if qp.get("direction", "both") in ("upstream", "downstream", "both") else 2)
    hops = cols[2].slider("Hops", 1, 40, int(qp.get("hops", 8)) if str(qp.get("hops", "8")).isdigit() else 8)
    try:
        g = q_graph(uri, ref, direction, hops)
    except LineageError as exc:
        st.error(str(exc))
        return
    st.query_params.update({"page": "graph", "node": ref, "direction": direction, "hops": str(hops)})
    st.graphviz_chart(g["dot"], width="stretch")
    note = f"{g['size']} nodes, {g['edges']} edges"
    if g["size"] > GRAPH_CAP:
        note += f"; the {GRAPH_CAP} nearest to {ref} are drawn, {g['size'] - GRAPH_CAP} are not"
    if g["tainted"]:
        note += f"; tainted: {', '.join(g['tainted'])} (red, with everything downstream)"
    st.caption(note)
    keys = [n["key"] for n in g["nodes"]]
    focus = st.selectbox("Move the focus to", ["(stay)"] + [f"{n['key']} {n['type']}" for n in g["nodes"]])
    if focus != "(stay)":
        st.query_params["node"] = focus.split()[0]
        st.rerun()
    if ref in keys:
        with st.expander("Details of the focused node"):
            show_node(uri, ref)


def page_serving(uri: Optional[str], lin: Lineage) -> None:
    endpoints = q_endpoints(uri)
    if not endpoints:
        st.info("Nothing has been pushed yet. The push step records a ServingEndpoint per model name.")
        return
    names = [e["endpoint"] for e in endpoints]
    qp = st.query_params
    name = st.selectbox("Model", names, index=names.index(qp["model"]) if qp.get("model") in names else 0)
    st.query_params["model"] = name
    history = q_history(uri, name)
    state = q_state(uri, name)
    now = {"version": state["version"]}
    st.text(f"serving now: version {state['version']}" + (" (pinned)" if state["pinned"] else "")
            + (f"; labels {state['labels']}" if state["labels"] else "") + f"; since {state['since']}")
    st.subheader("Timeline")
    st.dataframe(pd.DataFrame(history).drop(columns=["time"]), hide_index=True, width="stretch")
    if state["timeline"]:
        chart_steps(pd.DataFrame([{"when": pd.to_datetime(t, unit="s").isoformat(), "serving version": str(v)}
                                  for t, v in state["timeline"] if v is not None]), "when", "serving version")
    st.subheader("Go back")
    versions = sorted({h["version"] for h in history if h["action"] == "push" and h["version"] is not None})
    for v in versions:
        if v != now["version"]:
            st.code(f"lineage rollback {name} --to {v}", language="bash")
    st.caption("The explorer never changes what is served: run the command (it checks the version "
               "through the store first, and records what it did).")


def _metrics(lin: Lineage, ref: str) -> Dict[str, Any]:
    rep = lin.provenance(ref)
    for ev in rep.evaluations:
        p = Path(ev.uri) / "metrics.json"
        if p.exists():
            return json.loads(p.read_text())
    return {"overall": rep.metrics, "slices": {"overall": rep.metrics}}


def page_compare(uri: Optional[str], lin: Lineage) -> None:
    models = q_find(uri, "artifact", "PushedModel", "", "", 200) or q_find(uri, "artifact", "Model", "", "", 200)
    if len(models) < 2:
        st.info("Compare needs two models.")
        return
    labels = [f"a{m['id']} {m['type']} {m['uri']}" for m in models]
    qp = st.query_params
    ids = [f"a{m['id']}" for m in models]
    ia = ids.index(qp["a"]) if qp.get("a") in ids else min(1, len(ids) - 1)
    ib = ids.index(qp["b"]) if qp.get("b") in ids else 0
    cols = st.columns(2)
    a = cols[0].selectbox("Model A", labels, index=ia).split()[0]
    b = cols[1].selectbox("Model B", labels, index=ib).split()[0]
    st.query_params.update({"a": a, "b": b})
    d = lin.diff(a, b)
    if d.same:
        st.success("No differences in data, modules, parameters, code or metrics.")
    for section, changes in d.sections.items():
        if changes:
            st.subheader(section)
            st.dataframe(pd.DataFrame([{"key": k, "A": short(va), "B": short(vb)} for k, (va, vb) in changes.items()]),
                         hide_index=True, width="stretch")
    ma, mb = _metrics(lin, a), _metrics(lin, b)
    slices = sorted(set(ma.get("slices", {})) | set(mb.get("slices", {})))
    metric = st.selectbox("Metric per slice", sorted({k for s in ma.get("slices", {}).values() for k in s}) or ["accuracy"],
                          index=0)
    rows = [{"slice": s, "model": label, metric: m.get("slices", {}).get(s, {}).get(metric)}
            for s in slices for label, m in (("A", ma), ("B", mb))]
    chart_bar(pd.DataFrame(rows), "slice", metric, color="model")


def first_run_page() -> None:
    st.title("lineage explorer")
    st.info("This store is empty: nothing has been recorded yet.")
    st.markdown("Record a first run, then reload this page:")
    st.code("""from lineage import step, run, Input, Output
from lineage.types import Dataset

@step
def clean(raw: Input[Dataset], cleaned: Output[Dataset]):
    cleaned.path.write_text(raw.path.read_text().lower())

with run(pipeline="demo"):
    clean(Dataset.at("data.csv"))""", language="python")
    st.markdown("or run the example pipeline: `scripts/example`.")


def main() -> None:
    st.set_page_config(page_title="lineage explorer", layout="wide")
    uri = _store_uri()
    try:
        lin = open_store(uri)
    except LineageError as exc:
        st.title("lineage explorer")
        st.error(str(exc))
        return
    counts = q_counts(uri)
    if not counts["artifact"] and not counts["execution"]:
        first_run_page()
        return
    qp = st.query_params
    page = qp.get("page")
    if page not in PAGES:
        page = "artifacts" if qp.get("artifact") else "overview"
    with st.sidebar:
        st.title("lineage")
        st.text(lin.uri)
        page = st.radio("Page", PAGES, index=PAGES.index(page), format_func=TITLES.get)
    st.query_params["page"] = page
    st.header(TITLES[page])
    {"overview": page_overview, "runs": page_runs, "artifacts": page_artifacts, "data": page_data,
     "graph": page_graph, "serving": page_serving, "compare": page_compare}[page](uri, lin)


main()
