"""The lineage explorer: `lineage ui` (or `streamlit run app/explorer.py -- --store URI`).

Reads through the query API only, opens the store read-only, and never writes (rollback stays a
CLI/Python action: the Serving page shows the command). Every query is cached per store and
paged. Text from the store (names, properties, errors) is shown as text, never as HTML or
Markdown. The URL's query parameters select the page and the node (``?page=graph&artifact=12``),
so a view can be shared.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lineage import Lineage  # noqa: E402
from lineage.app.data import (ICON_ERROR, ICON_INFO, ICON_OK, ICON_WARNING, PAGES, TITLES, chart_bar, chart_curves, chart_parallel, chart_steps,  # noqa: E402
                              error_text, md_table, md_text, open_store, q_counts, q_curves, q_diff, q_endpoints, q_find,
                              q_history, q_impact, q_metric_names, q_metrics, q_node, q_provenance, q_run_notes,
                              q_run_steps, q_runs, q_runs_frame, q_state, q_step_log, q_traffic, q_version_checks,
                              q_view,
                              store_uri, when)
from lineage.errors import LineageError  # noqa: E402
from lineage.values import plain  # noqa: E402
from lineage.vocab import type_leaf  # noqa: E402
from lineage.records import Artifact  # noqa: E402
from lineage.query.view import SHOWN_PER_CLICK  # noqa: E402
from lineage.app import graph as graph_view  # noqa: E402

# ------------------------------------------------------ widget state and the URL
# Each widget has a stable key. Its first value comes from the URL once per session (a deep link);
# after that the widget owns it, and every change is written back to the URL. A URL value that
# names nothing is reported on the page instead of being replaced silently.

#: the URL parameters each page owns; the others are dropped when the page changes
PAGE_PARAMS = {"overview": (), "runs": ("run",), "experiments": ("experiment", "where"), "artifacts": ("artifact",), "data": ("dataset",),
               "provenance": ("node",), "impact": ("node",),
               "graph": ("node", "direction", "hops"), "serving": ("model", "back"), "compare": ("a", "b")}


def seed(key: str, param: str, options: Optional[List[Any]] = None, default: Any = None,
         convert: Callable[[str], Any] = str) -> None:
    """Give widget ``key`` its value from URL parameter ``param`` (first run only; again only if
    its value is no longer among ``options``)."""
    if key in st.session_state and (options is None or st.session_state[key] in options):
        return
    raw = st.query_params.get(param) if key not in st.session_state else None
    value = None
    if raw is not None:
        try:
            value = convert(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or (options is not None and value not in options):
            st.session_state[f"{key}:bad"] = raw
            value = None
    if value is None:
        value = default if options is None or default in options else (options[0] if options else None)
        if f"{key}:bad" in st.session_state:
            st.session_state[f"{key}:bad_stands_in"] = value
    st.session_state[key] = value


def bad_link(key: str, what: str, until_changed: bool = False) -> bool:
    """Report a URL value that named nothing; True if there was one. The report shows once, or
    with ``until_changed`` on every rerun until the user changes the value that stood in for it
    (a page whose own widgets rerun it, such as the graph, would otherwise flash it away)."""
    state = st.session_state
    raw = state.get(f"{key}:bad")
    if raw is None:
        return False
    if not until_changed or state.get(key) != state.get(f"{key}:bad_stands_in"):
        state.pop(f"{key}:bad", None)
        state.pop(f"{key}:bad_stands_in", None)
        if until_changed:
            return False
    error_text(f"Not found: the link names {what} that is not in this store", raw)
    return True


def to_url(**params: Any) -> None:
    """Write these widget values to the URL (only those that changed)."""
    for k, v in params.items():
        if st.query_params.get(k) != str(v):
            st.query_params[k] = str(v)


def linked_select(label: str, options: List[Any], key: str, param: str, what: str) -> Optional[Any]:
    """A selectbox whose first value comes from URL parameter ``param`` and whose every change
    goes back to it; None (after saying so) when the URL names nothing among ``options``."""
    seed(key, param, options)
    if bad_link(key, what):
        return None
    value = st.selectbox(label, options, key=key)
    to_url(**{param: value})
    return value


def node_ref(text: str) -> str:
    """A node reference from a URL: ``a12``, ``e7`` or ``MODEL:VERSION``."""
    text = text.strip()
    if not text:
        raise ValueError("empty")
    return text


def table(rows: Any, key: str, opens: Optional[List[Dict[str, Any]]] = None) -> None:
    """A table; with ``opens`` (one dict of widget values per row), selecting a row sets those
    values (a ``page`` among them moves to that page) and the page reruns once with them."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if not opens:
        st.dataframe(frame, hide_index=True, width="stretch")
        return
    st.dataframe(frame, hide_index=True, width="stretch", key=key, selection_mode="single-row",
                 on_select=functools.partial(_open_row, key, opens))


def _open_row(key: str, opens: List[Dict[str, Any]]) -> None:
    picked = st.session_state[key].selection.rows
    if not picked or picked[0] >= len(opens):
        return
    for k, v in opens[picked[0]].items():
        st.session_state[k] = v
    if "page" in opens[picked[0]]:
        for k in [k for k in st.session_state if str(k).endswith(":bad")]:
            del st.session_state[k]


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
    for e in endpoints:
        if e["tainted"]:
            st.error(f"{md_text(e['endpoint'])} serves version {e['version']}, made from tainted data", icon=ICON_ERROR)
            st.code(e["tainted"], language="text", wrap_lines=True)
    if endpoints:
        table(endpoints, "overview_endpoints",
              [{"page": "serving", "serving_model": e["endpoint"]} for e in endpoints])
        served = [e for e in endpoints if e["version"] is not None][:20]
        st.markdown(" · ".join(f"{md_text(e['endpoint'])}:{e['version']}: "
                               f"[what produced it](?page=provenance&node={_link_ref(e['endpoint'] + ':' + str(e['version']))}), "
                               f"[what it affects](?page=impact&node={_link_ref(e['endpoint'] + ':' + str(e['version']))})"
                               for e in served))
    else:
        st.caption("Nothing has been pushed to a serving endpoint yet.")
    st.subheader("Recent runs")
    runs = q_runs(uri, "", 10)
    if runs:
        table(runs, "overview_runs", [{"page": "runs", "runs_run": r["name"]} for r in runs])


def page_runs(uri: Optional[str], lin: Lineage) -> None:
    cols = st.columns(6)
    pipeline = cols[0].text_input("Pipeline", key="runs_pipeline")
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
        st.info("No runs match.", icon=ICON_INFO)
        return
    names = [r["name"] for r in runs]
    table(runs, "runs_table", [{"runs_run": n} for n in names])
    name = linked_select("Run", names, "runs_run", "run", "a run")
    if name is None:
        return
    extra = q_run_notes(uri, name)
    if extra["tags"] or extra["notes"]:
        st.markdown(" ".join(f"`{md_text(k)}={md_text(v)}`" for k, v in sorted(extra["tags"].items())))
        for n in extra["notes"]:
            st.caption(f"{when(n['at'])} {md_text(n['user'] or '')}")
            st.text(n["text"])
    steps = q_run_steps(uri, name)
    step_type = st.selectbox("Step type", [""] + sorted({s["type"] for s in steps}))
    if step_type:
        steps = [s for s in steps if s["type"] == step_type]
    st.subheader("Steps, in order")
    labels = [f"e{s['id']} {s['type']}" for s in steps]
    table(steps, "runs_steps", [{"runs_step": label} for label in labels])
    if steps:
        if st.session_state.get("runs_step") not in labels:  # a failed step first: that is what one looks for
            failed = [label for label, s in zip(labels, steps) if s.get("state") == "FAILED"]
            st.session_state["runs_step"] = (failed or labels)[0]
        pick = st.selectbox("Step", labels, key="runs_step")
        show_node(uri, pick.split()[0])


CHOSEN = 10  # runs whose curves are drawn together, at most


def page_experiments(uri: Optional[str], lin: Lineage) -> None:
    """The runs table with their parameters and final metrics; curves of the chosen runs;
    parameters against a metric in parallel coordinates."""
    cols = st.columns([2, 2, 4])
    seed("exp_experiment", "experiment", None, "")
    seed("exp_where", "where", None, "")
    experiment = cols[0].text_input("Experiment", key="exp_experiment").strip()
    pipeline = cols[1].text_input("Pipeline", key="exp_pipeline").strip()
    where = cols[2].text_input("Filter (e.g. metrics.accuracy > 0.8 and params.Train.lr = 0.01)",
                               key="exp_where").strip()
    to_url(experiment=experiment, where=where)
    try:
        frame = q_runs_frame(uri, experiment, pipeline, where)
    except LineageError as exc:
        error_text("Cannot list these runs", exc)
        return
    if frame.empty:
        st.info("No runs match.", icon=ICON_INFO)
        return
    st.caption(f"{len(frame)} run{'' if len(frame) == 1 else 's'}. Click a column to sort; select runs "
               f"(at most {CHOSEN}) to draw their curves.")
    frame = frame.dropna(axis=1, how="all")
    # what an experiment is compared on first: parameters, metrics, tags; then the rest
    lead = ["run", "state"] + [c for c in frame.columns if c.split(".")[0] in ("params", "metrics", "tags")]
    frame = frame[lead + [c for c in frame.columns if c not in lead]]
    if "duration_s" in frame:
        frame["duration_s"] = frame["duration_s"].round(1)
    shown = frame.head(5000)
    st.dataframe(shown, hide_index=True, width="stretch", key="exp_table", selection_mode="multi-row",
                 on_select="rerun")
    picked = st.session_state.get("exp_table")
    rows = list(picked.selection.rows) if picked is not None else []
    chosen = [shown.iloc[i]["run"] for i in rows if i < len(shown)][:CHOSEN] or list(shown["run"].head(3))
    metric_cols = [c for c in frame.columns if c.startswith("metrics.")]
    st.subheader("Metric curves")
    st.caption(md_text(", ".join(chosen)) + ("" if rows else "  (the newest three: select runs in the table to choose)"))
    names, missing = q_metric_names(uri, tuple(chosen))
    if missing:
        st.caption(f"{len(missing)} metric history file(s) of these runs are gone (the runs table shows their "
                   f"last values): {md_text(', '.join(missing[:3]))}")
    if names:
        metric = st.selectbox("Metric", names, key="exp_metric")
        chart_curves(q_curves(uri, tuple(chosen), metric), metric)
    else:
        st.info("These runs logged no metric histories (log_metric inside a step body, or the Keras callback).", icon=ICON_INFO)
    params = [c for c in frame.columns if c.startswith("params.") and pd.api.types.is_numeric_dtype(frame[c])
              and frame[c].nunique(dropna=True) > 1]
    st.subheader("Parameters against a metric")
    if not metric_cols or not params:
        st.info("Parallel coordinates need runs that differ in a numeric parameter and logged a metric.", icon=ICON_INFO)
        return
    target = st.selectbox("Colour by", metric_cols, key="exp_colour")
    data = frame[["run"] + params + [target]].dropna(subset=[target]).head(2000)
    rename = {c: c.split(".", 1)[1].replace(".", "/") for c in params + [target]}
    data = data.rename(columns=rename)
    chart_parallel(data, [rename[c] for c in params] + [rename[target]], rename[target])


def show_node(uri: Optional[str], ref: str, *, narrow: bool = False) -> None:
    try:
        d = q_node(uri, ref)
    except LineageError as exc:
        error_text("Cannot show this", exc)
        return
    st.subheader(f"{d['kind'].capitalize()} {d['id']}")
    st.text(f"type: {d['type']}")
    if d["kind"] == "artifact":
        if d.get("tainted"):
            st.error("This artifact is tainted, or was made from tainted data", icon=ICON_ERROR)
            st.code("\n".join(d["tainted"]), language="text", wrap_lines=True)
        st.text(f"uri: {d['uri']}\nstate: {d['state']}\nfingerprint: {d['fingerprint'] or '-'}\ncreated: {d['created']}")
    elif d["kind"] == "execution":
        st.text(f"state: {d['state']}\nstarted: {d['started']}\nduration: {d['duration_s']}")
        if d["error"]:
            error_text("This step failed", d["error"])
        log_text = q_step_log(uri, f"e{d['id']}")
        if log_text:
            with st.expander("Log: what the step printed and logged" + (" (with its traceback)" if d["error"] else ""),
                             expanded=bool(d["error"])):
                st.code(log_text[-20000:], language="text")
    if narrow:   # beside the graph: as plain text (no JSON viewer or syntax highlighter to load)
        st.caption("properties")
        st.text(json.dumps(plain(d["properties"]), indent=1, default=str))
        st.caption("custom properties / parameters")
        st.text(json.dumps(plain(d["custom_properties"]), indent=1, default=str))
    else:
        cols = st.columns(2)
        cols[0].caption("properties")
        cols[0].json(plain(d["properties"]), expanded=True)
        cols[1].caption("custom properties / parameters")
        cols[1].json(plain(d["custom_properties"]), expanded=True)
    if narrow:   # beside the graph: a few rows each, drawn as static tables (no data grid to load)
        _panel_tables(d)
    elif d["kind"] == "artifact":
        st.caption("produced by")
        st.dataframe(pd.DataFrame(d["producers"]), hide_index=True, width="stretch")
        total = d["consumers_total"]
        st.caption(f"consumed by ({total}; the newest {len(d['consumers'])} listed)" if total > len(d["consumers"])
                   else "consumed by")
        table(d["consumers"], f"consumers:{ref}", None)
    elif d["kind"] == "execution":
        for title in ("inputs", "outputs"):
            rows = [dict(r, argument=k) for k, v in d[title].items() for r in v]
            st.caption(title)
            table(rows, f"{title}:{ref}", [{"page": "artifacts", "artifacts_ref": f"a{r['id']}"} for r in rows])
        outputs = [r for v in d["outputs"].values() for r in v][:10]
        if outputs:
            st.markdown(" · ".join(f"a{r['id']} {md_text(type_leaf(r['type']))}: "
                                   f"[what produced it](?page=provenance&node=a{r['id']}), "
                                   f"[what it affects](?page=impact&node=a{r['id']})" for r in outputs))
    if d.get("contexts") and not narrow:
        st.caption("contexts")
        st.dataframe(pd.DataFrame(d["contexts"]), hide_index=True, width="stretch")


PANEL_ROWS = 8  # rows per table in the graph's side panel; the artifact or run page lists them all


def _panel_tables(d: Dict[str, Any]) -> None:
    """The graph's side panel: the node's neighbours and contexts, a few rows each, as static
    tables, with where to see the rest."""
    if d["kind"] == "artifact":
        parts = [("produced by", d["producers"], len(d["producers"])),
                 ("consumed by", d["consumers"], d["consumers_total"])]
    else:
        parts = [(title, [dict(r, argument=k) for k, v in d[title].items() for r in v], None)
                 for title in ("inputs", "outputs")]
    parts.append(("contexts", d.get("contexts") or [], None))
    for title, rows, total in parts:
        total = len(rows) if total is None else total
        if not rows:
            continue
        keep = ["id", "type", "state", "argument", "name"]
        shown = [{k: type_leaf(r[k]) if k == "type" else r[k] for k in keep if k in r} for r in rows[:PANEL_ROWS]]
        st.caption(title + (f" ({total}; {len(shown)} here, all on the "
                            f"{'Artifacts' if d['kind'] == 'artifact' else 'Runs'} page)" if total > len(shown) else ""))
        st.markdown(md_table(shown))


def page_artifacts(uri: Optional[str], lin: Lineage) -> None:
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
        error_text("Cannot show this", exc)
        rows = []
    choices = [f"a{r['id']}" for r in rows]
    if rows:
        table(rows, "artifacts_table", [{"artifacts_ref": c} for c in choices])
    seed("artifacts_ref", "artifact", None, choices[0] if choices else None, _artifact_ref(uri))
    if bad_link("artifacts_ref", "an artifact"):
        return
    search = (type_name, where, context, limit)
    if st.session_state.get("artifacts_search", search) != search and choices \
            and st.session_state["artifacts_ref"] not in choices:
        st.session_state["artifacts_ref"] = choices[0]   # a new search drives the detail
    st.session_state["artifacts_search"] = search
    selected = st.session_state["artifacts_ref"]
    if selected is not None and selected not in choices:
        choices.insert(0, selected)   # a deep-linked artifact the search does not list
    if not choices:
        st.info("No artifacts match.", icon=ICON_INFO)
        return
    ref = st.selectbox("Artifact", choices, key="artifacts_ref")
    to_url(artifact=ref[1:])
    st.markdown(f"[What produced this](?page=provenance&node={ref}) · [What does this affect](?page=impact&node={ref})"
                f" · [Lineage graph](?page=graph&node={ref})")
    show_node(uri, ref)
    if st.button("Verify (re-fingerprint now)"):
        report = lin.verify(ref)
        if report.clean and report.ok:
            st.success("The files match the recorded fingerprint.", icon=ICON_OK)
        elif report.missing:
            st.error("The files are missing.", icon=ICON_ERROR)
        elif report.changed:
            st.error("The files changed since they were recorded.", icon=ICON_ERROR)
        else:
            st.warning("No local fingerprint to verify.", icon=ICON_WARNING)


def _artifact_ref(uri: Optional[str]) -> Callable[[str], str]:
    """``?artifact=12`` (or ``a12``) as ``"a12"`` when that artifact exists."""
    def convert(raw: str) -> str:
        ref = f"a{int(raw[1:] if raw.startswith('a') else raw)}"
        try:
            q_node(uri, ref)
        except LineageError:
            raise ValueError(raw) from None
        return ref
    return convert


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


def _first_with_statistics(lin: Lineage, ids: List[str], look: int = 20) -> str:
    """The newest of the first ``look`` datasets that has statistics to show (else the newest)."""
    for ref in ids[:look]:
        if _statistics_for(lin, lin.artifact(int(ref[1:]))) is not None:
            return ref
    return ids[0]


def page_data(uri: Optional[str], lin: Lineage) -> None:
    arts = q_find(uri, "artifact", "", "type in ('Dataset', 'Examples', 'ExampleStatistics')", "", 200)
    if not arts:
        st.info("No datasets recorded yet.", icon=ICON_INFO)
        return
    label = {f"a{a['id']}": f"a{a['id']} {a['type']} {a['uri']}" for a in arts}
    ids = list(label)
    seed("data_first", "dataset", ids, _first_with_statistics(lin, ids),
         lambda raw: raw if raw.startswith("a") else f"a{raw}")
    if bad_link("data_first", "a dataset"):
        return
    first = st.selectbox("Dataset", ids, key="data_first", format_func=label.get)
    other = st.selectbox("Compare with", ["(none)"] + ids, key="data_other",
                         format_func=lambda r: label.get(r, r))
    to_url(dataset=first)
    art = lin.artifact(int(first[1:]))
    stats = _statistics_for(lin, art)
    if stats is None:
        st.warning("No statistics were recorded at ingest for this dataset.", icon=ICON_WARNING)
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
            st.text(f"{name}: {'values' if 'histogram' in v else 'most frequent values'}")
            chart_bar(pd.DataFrame([{"value": str(k), "count": v} for k, v in dist.items()]), "value", "count")
    if other != "(none)":
        other_stats = _statistics_for(lin, lin.artifact(int(other[1:])))
        if other_stats is None:
            st.warning("No statistics for the second dataset.", icon=ICON_WARNING)
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
            st.success("The statistics are the same.", icon=ICON_OK)


def page_graph(uri: Optional[str], lin: Lineage) -> None:
    qp = st.query_params
    ref = st.session_state.get("graph_node") or qp.get("node") or (f"a{qp['artifact']}" if qp.get("artifact") else None) or \
        (f"e{qp['execution']}" if qp.get("execution") else None)
    if not ref:
        latest = q_find(uri, "artifact", "", "", "", 1)
        if not latest:
            st.info("Nothing recorded yet.", icon=ICON_INFO)
            return
        ref = f"a{latest[0]['id']}"
    cols = st.columns([2, 2, 3])
    seed("graph_node", "node", None, ref, node_ref)
    seed("graph_direction", "direction", ["upstream", "downstream", "both"], "both")
    seed("graph_hops", "hops", list(range(1, 41)), 8, int)
    bad_link("graph_direction", "a direction", until_changed=True)
    bad_link("graph_hops", "a number of hops (1 to 40)", until_changed=True)
    ref = cols[0].text_input("Node (a12, e7, or MODEL:VERSION)", key="graph_node").strip()
    direction = cols[1].radio("Direction", ["upstream", "downstream", "both"], horizontal=True, key="graph_direction")
    hops = cols[2].slider("Hops (depth drawn)", 1, 40, key="graph_hops")
    to_url(node=ref, direction=direction, hops=hops)
    where = (ref, direction, hops)
    if st.session_state.get("graph_expanded_for") != where:  # expansions belong to one view
        st.session_state["graph_expanded_for"] = where
        st.session_state["graph_expanded"] = {}
    expanded = st.session_state["graph_expanded"]
    try:
        g = q_view(uri, ref, direction, hops, tuple(sorted(expanded.items())))
    except LineageError as exc:
        error_text(f"Cannot show {ref!r}", exc)
        return
    view = g["view"]
    left, right = st.columns([5, 2])
    with left:
        graph_view.draw(view, key="graph_canvas", on_change=_graph_click)
        groups = sum(1 for n in view.nodes if n.group)
        note = f"{g['size']} nodes, {g['edges']} edges, drawn as {len(view.nodes)}"
        if groups:
            note += f" ({groups} groups: click one to draw its members)"
        if g["tainted"]:
            note += f"; tainted: {', '.join(g['tainted'])} (red, with everything downstream)"
        st.caption(note + ". Click a node to focus it; drag to pan, scroll to zoom.")
    singles = [n for n in view.nodes if not n.group]
    with right:
        st.selectbox("Move the focus to", ["(stay)"] + [f"{n.id} {n.type}" for n in singles],
                     key="graph_focus", on_change=_move_focus)
        st.markdown(f"[What produced this](?page=provenance&node={_link_ref(ref)}) · "
                    f"[What does this affect](?page=impact&node={_link_ref(ref)})")
        show_node(uri, ref, narrow=True)


def _graph_click() -> None:
    """A click on the graph: a group draws (more of) its members, a node becomes the focus.
    Runs as the component's callback, so the page reruns once, with the new state."""
    nodes = (st.session_state.get("graph_canvas") or {}).get("nodes") or []
    if not nodes:  # a click on the background, or a new drawing with nothing selected
        return
    node = nodes[0]
    if node.startswith("g"):
        expanded = st.session_state.setdefault("graph_expanded", {})
        expanded[node] = expanded.get(node, 0) + SHOWN_PER_CLICK
    elif node != st.session_state.get("graph_node"):
        st.session_state["graph_node"] = node


def _move_focus() -> None:
    """The focus selector changed: focus that node, and the selector goes back to "(stay)" (no
    rerun of its own, so no loop)."""
    choice = st.session_state.get("graph_focus", "(stay)")
    if choice != "(stay)":
        st.session_state["graph_node"] = choice.split()[0]
        st.session_state["graph_focus"] = "(stay)"


def _report(uri: Optional[str], key: str, hint: str, what: str,
            load: Callable[[Optional[str], str], Dict[str, Any]]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The node a report page is about (the URL's ``node``, else the newest pushed model) and its
    report, or None after saying why there is none."""
    latest = q_find(uri, "artifact", "PushedModel", "", "", 1) or q_find(uri, "artifact", "Model", "", "", 1)
    seed(key, "node", None, f"a{latest[0]['id']}" if latest else "", node_ref)
    ref = st.text_input(hint, key=key).strip()
    to_url(node=ref)
    if not ref:
        st.info("Nothing recorded yet.", icon=ICON_INFO)
        return None
    try:
        return ref, load(uri, ref)
    except LineageError as exc:
        error_text(f"Cannot show the {what} of {ref!r}", exc)
        return None


def _artifact_table(title: str, rows: List[Dict[str, Any]]) -> None:
    """Rows that name an artifact (``ref`` a12) open it on the Artifacts page."""
    st.caption(title)
    if not rows:
        st.text("-")
        return
    refs = [str(r.get("ref") or r.get("artifact") or (f"a{r['id']}" if "id" in r else "")) for r in rows]
    opens = [{"page": "artifacts", "artifacts_ref": ref} for ref in refs] \
        if all(ref.startswith("a") for ref in refs) else None
    table(rows, f"table:{title}", opens)


def page_provenance(uri: Optional[str], lin: Lineage) -> None:
    """`lineage provenance` on screen: data, transform, modules, parameters, code, metrics, blessing."""
    found = _report(uri, "provenance_node", "Model or served version (a12, or MODEL:VERSION)", "provenance",
                    q_provenance)
    if found is None:
        return
    ref, p = found
    t = p["target"]
    st.text(f"provenance of {t['ref']} {t['type']} {t['uri']}")
    if p["tainted"]:
        st.error("Made from tainted data", icon=ICON_ERROR)
        st.code("\n".join(f"{x['artifact']}: {x['reason']}" for x in p["tainted"]), language="text", wrap_lines=True)
    if p["pushed"]:
        props = p["pushed"].get("properties", {})
        st.text(f"served as: {props.get('model_name', '?')} version {props.get('pushed_version')} "
                f"(pushed {p['pushed_at'] or '?'})")
    st.text(f"trained: {p['trained_at'] or '?'} by {p['ran_by'] or '?'}; blessed: "
            f"{'-' if p['blessed'] is None else p['blessed']}")
    cols = st.columns(2)
    with cols[0]:
        _artifact_table("data", [{"ref": a["ref"], "type": a["type"], "uri": a["uri"]} for a in p["datasets"]])
        _artifact_table("examples", [{"ref": a["ref"], "uri": a["uri"]} for a in p["examples"]])
        _artifact_table("hub modules", [{"ref": a["ref"], "uri": a["uri"],
                                         "handle": a.get("properties", {}).get("handle", "")} for a in p["hub_modules"]])
        _artifact_table("transform", [{"ref": e["ref"], "type": e["type"], "module": e["module_file"] or "",
                                       "source": (e["module_source_hash"] or "")[:19]} for e in p["transforms"]])
    with cols[1]:
        st.caption("parameters")
        st.json(plain(p["parameters"]), expanded=True)
        st.caption("code version")
        st.json(plain(p["code_version"]), expanded=True)
        st.caption("metrics")
        st.json(plain(p["metrics"]), expanded=True)
    st.caption("steps: " + md_text(" -> ".join(f"{s['type'].rsplit('.', 1)[-1]}({s['ref']})" for s in p["steps"])))
    st.markdown(f"[What does this affect](?page=impact&node={_link_ref(ref)}) · "
                f"[Lineage graph](?page=graph&node={_link_ref(ref)}&direction=upstream&hops=20)")


def page_impact(uri: Optional[str], lin: Lineage) -> None:
    """`lineage impact` on screen: affected models, evaluations, pushed versions, serving now."""
    found = _report(uri, "impact_node", "Artifact (a12, or MODEL:VERSION)", "impact", q_impact)
    if found is None:
        return
    ref, imp = found
    serving = [p for p in imp["pushed"] if p["serving now"] == "SERVING NOW"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Models", len(imp["models"]))
    c2.metric("Evaluations", len(imp["evaluations"]))
    c3.metric("Pushed versions", len(imp["pushed"]))
    c4.metric("Serving now", len(serving))
    if serving:
        st.error("Affected versions are serving now: " + md_text(", ".join(f"{p['model']}:{p['version']}" for p in serving)),
                 icon=ICON_ERROR)
    _artifact_table("pushed versions", imp["pushed"])
    _artifact_table("models", imp["models"])
    _artifact_table("evaluations", imp["evaluations"])
    _artifact_table("blessings", imp["blessings"])
    st.markdown(f"[Lineage graph](?page=graph&node={_link_ref(ref)}&direction=downstream&hops=20)")


def _link_ref(ref: str) -> str:
    from urllib.parse import quote

    return quote(ref, safe="")


def page_serving(uri: Optional[str], lin: Lineage) -> None:
    endpoints = q_endpoints(uri)
    if not endpoints:
        st.info("Nothing has been pushed yet. The push step records a ServingEndpoint per model name.", icon=ICON_INFO)
        return
    names = [e["endpoint"] for e in endpoints]
    name = linked_select("Model", names, "serving_model", "model", "a served model")
    if name is None:
        return
    history = q_history(uri, name)
    state = q_state(uri, name)
    if state.get("stale"):
        st.warning("serving now: " + md_text(state["stale"]) + ". `lineage doctor` lists lost servers.", icon=ICON_WARNING)
    st.text("serving now: " + ("nothing" if state["version"] is None else f"version {state['version']}")
            + (" (pinned)" if state["pinned"] else "")
            + (f"; labels {state['labels']}" if state["labels"] else "") + f"; since {state['since']}"
            + (" (as the server reported)" if state.get("source") == "observed" else ""))
    if state["version"] is not None:
        _version_badges(uri, name, state["version"], serving=True)
        served = _link_ref(f"{name}:{state['version']}")
        st.markdown(f"[What produced the serving version](?page=provenance&node={served}) · "
                    f"[What does it affect](?page=impact&node={served})")
    if state["timeline"]:
        st.subheader("Serving version over time")
        chart_steps(pd.DataFrame([{"when": pd.to_datetime(t, unit="s").isoformat(), "serving version": v}
                                  for t, v in state["timeline"] if v is not None]), "when", "serving version")
    _traffic(uri, name)
    st.subheader("History, newest first")
    failed = sum(1 for h in history if h["reason"])
    if failed:
        st.caption(f"{failed} change(s) failed; the reason is in the last column")
    versions = sorted({h["version"] for h in history if h["action"] == "push" and h["version"] is not None},
                      reverse=True)
    others = [v for v in versions if v != state["version"]]
    table(pd.DataFrame(history).drop(columns=["time"]), "serving_history",
          [{"serving_back": h["version"]} if h["version"] in others else {} for h in history])
    st.subheader("Go back")
    if not others:
        st.caption("No other version was pushed.")
        return
    back = linked_select("Version to go back to", others, "serving_back", "back",
                         "a version to go back to (pushed, and not the one serving now)")
    if back is None:
        return
    _version_badges(uri, name, back, serving=False)
    st.code(f"lineage rollback {name} --to {back}", language="bash")
    st.caption("The explorer never changes what is served: run the command (it checks the version "
               "through the store first, and records what it did).")


def _traffic(uri: Optional[str], name: str) -> None:
    """Logged requests per version over time, and the newest logged version's skew."""
    traffic = q_traffic(uri, name)
    if not traffic["rows"]:
        st.caption("No request logs for this model (give it a logging_config: see docs/serving.md, Prediction logs).")
        return
    st.subheader("Traffic per version (logged requests)")
    chart_bar(pd.DataFrame(traffic["rows"]), "when", "sampled requests", color="version")
    st.dataframe(pd.DataFrame(traffic["totals"]), hide_index=True, width="stretch")
    skew = traffic["skew"]
    if skew is None:
        return
    st.subheader(f"Training/serving skew of version {skew['version']}")
    if skew["training_statistics"]:
        st.markdown(f"Serving inputs ({skew['files']} log files) beside the training data's statistics "
                    f"([a{skew['training_statistics']}](?page=data&dataset=a{skew['training_statistics']})).")
    else:
        st.caption("No training statistics were found upstream of this version.")
    flagged = [f["feature"] for f in skew["features"] if f["skewed"]]
    if flagged:
        st.warning("Skewed: " + ", ".join(md_text(f) for f in flagged), icon=ICON_WARNING)
    st.dataframe(pd.DataFrame(skew["features"]), hide_index=True, width="stretch")


def _version_badges(uri: Optional[str], name: str, version: int, *, serving: bool) -> None:
    """Blessed or not, tainted or not, for one pushed version: a warning a person cannot miss."""
    checks = q_version_checks(uri, name, version)
    what = f"version {version}" + (" (serving now)" if serving else "")
    if checks["tainted"]:
        st.error(f"{what} was made from tainted data", icon=ICON_ERROR)
        st.code("\n".join(checks["tainted"]), language="text", wrap_lines=True)
    if checks["blessed"] is False:
        st.warning(f"{what} was not blessed by its evaluation", icon=ICON_WARNING)
    if not checks["tainted"] and checks["blessed"]:
        st.success(f"{what}: blessed, nothing upstream tainted", icon=ICON_OK)


def _two_newest_versions(models: List[Dict[str, Any]]) -> tuple:
    """The refs of the two newest pushed versions of the newest pushed model's name (older
    first); other models when there is one version only."""
    newest = models[0]
    same = [m for m in models if m["type"] == "PushedModel" and Path(m["uri"]).parent == Path(newest["uri"]).parent]
    pair = same[:2] if len(same) >= 2 else models[:2]
    return f"a{pair[1]['id']}", f"a{pair[0]['id']}"


def page_compare(uri: Optional[str], lin: Lineage) -> None:
    models = q_find(uri, "artifact", "PushedModel", "", "", 200) or q_find(uri, "artifact", "Model", "", "", 200)
    if len(models) < 2:
        st.info("Compare needs two models.", icon=ICON_INFO)
        return
    label = {f"a{m['id']}": f"a{m['id']} {m['type']} {m['uri']}" for m in models}
    ids = list(label)
    newest_a, newest_b = _two_newest_versions(models)
    seed("compare_a", "a", None, newest_a, _artifact_ref(uri))
    seed("compare_b", "b", None, newest_b, _artifact_ref(uri))
    bad_a, bad_b = bad_link("compare_a", "a model (a)"), bad_link("compare_b", "a model (b)")
    if bad_a or bad_b:
        return
    for key in ("compare_a", "compare_b"):   # deep-linked models the list does not hold
        ref = st.session_state[key]
        if ref not in label:
            label[ref] = ref
            ids.insert(0, ref)
    cols = st.columns(2)
    a = cols[0].selectbox("Model A", ids, key="compare_a", format_func=label.get)
    b = cols[1].selectbox("Model B", ids, key="compare_b", format_func=label.get)
    to_url(a=a, b=b)
    try:
        d = q_diff(uri, a, b)
        ma, mb = q_metrics(uri, a), q_metrics(uri, b)
    except LineageError as exc:
        error_text(f"Cannot compare {a} with {b}", exc)
        return
    if d["same"]:
        st.success("No differences in data, modules, parameters, code or metrics.", icon=ICON_OK)
    for section, changes in d["sections"].items():
        if changes:
            st.subheader(md_text(section))
            st.dataframe(pd.DataFrame(changes), hide_index=True, width="stretch")
    slices = sorted(set(ma.get("slices", {})) | set(mb.get("slices", {})))
    metric = st.selectbox("Metric per slice", sorted({k for s in ma.get("slices", {}).values() for k in s}) or ["accuracy"],
                          index=0)
    rows = [{"slice": s, "model": label, metric: m.get("slices", {}).get(s, {}).get(metric)}
            for s in slices for label, m in (("A", ma), ("B", mb))]
    chart_bar(pd.DataFrame(rows), "slice", metric, color="model")


def first_run_page() -> None:
    st.title("lineage explorer")
    st.info("This store is empty: nothing has been recorded yet.", icon=ICON_INFO)
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
    uri = store_uri()
    try:
        lin = open_store(uri)
    except LineageError as exc:
        st.title("lineage explorer")
        error_text("Cannot show this", exc)
        return
    counts = q_counts(uri)
    if not counts["artifact"] and not counts["execution"]:
        first_run_page()
        return
    qp = st.query_params
    seed("page", "page", PAGES, "artifacts" if qp.get("artifact") and not qp.get("page") else "overview")
    with st.sidebar:
        st.title("lineage")
        st.text(lin.uri)
        page = st.radio("Page", PAGES, key="page", format_func=TITLES.get)
    for k in [k for k in st.query_params if k != "page" and k not in PAGE_PARAMS[page]]:
        del st.query_params[k]    # each page keeps only its own parameters
    to_url(page=page)
    bad_link("page", "a page")
    st.header(TITLES[page])
    {"overview": page_overview, "runs": page_runs, "experiments": page_experiments, "artifacts": page_artifacts, "data": page_data,
     "graph": page_graph, "provenance": page_provenance, "impact": page_impact, "serving": page_serving,
     "compare": page_compare}[page](uri, lin)


main()
