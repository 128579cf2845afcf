"""The explorer's data side: the store it opens (read-only), cached queries returning plain
data, value formatting and charts. Pages are in :mod:`lineage.app.explorer`."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.query import replay_steps
from lineage.query.graph import Shape
from lineage.query.code import code_versions
from lineage.errors import LineageError
from lineage.records import Artifact, Execution, utc_from_s
from lineage.vocab import INPUT_EVENTS, RUN_CONTEXT_TYPES, is_blessed, type_leaf

LISTED = 200  # rows of a node's consumers listed (a hot dataset has thousands): the newest
def store_uri() -> Optional[str]:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.store or os.environ.get("LINEAGE_STORE") or None


@st.cache_resource(show_spinner=False)
def open_store(uri: Optional[str]) -> Lineage:
    return Lineage.open(uri, readonly=True)


def when(seconds_or_dt: Any) -> str:
    """One format for every time on every page: local time with its zone (``2026-12-03 08:25:09 UTC``),
    from UNIX seconds, a datetime or an ISO 8601 string."""
    if seconds_or_dt is None or seconds_or_dt == "":
        return ""
    if isinstance(seconds_or_dt, str):
        try:
            seconds_or_dt = _dt.datetime.fromisoformat(seconds_or_dt)
        except ValueError:
            return seconds_or_dt
    dt = utc_from_s(seconds_or_dt) if isinstance(seconds_or_dt, (int, float)) else seconds_or_dt
    if not dt:
        return ""
    if hasattr(dt, "to_pydatetime"):   # pandas' Timestamp (the runs table's column)
        dt = dt.to_pydatetime()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character (CommonMark escapes all)


def md_text(text: Any) -> str:
    """Stored text for a Streamlit element that renders Markdown (st.error, st.caption...): every
    Markdown and HTML character escaped, so a link, an image or bold in an error message shows as
    the characters it is, and nothing is fetched; a bare URL is not turned into a link either."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text))
    # GFM also links a bare URL, www. name or e-mail address even when escaped (remark-gfm finds
    # them in the rendered text): an invisible word joiner before each '://', '.' after www and '@'
    # breaks what it looks for; the text reads the same. Other colons stay as typed, so a copied
    # `reviews:2` is what was shown.
    escaped = re.sub(r"\\(:(?=\\/\\/)|@)", "\u2060\\\\\\1", escaped)
    escaped = re.sub(r"(?i)(www)\\\.", "\\1\u2060\\\\.", escaped)
    return escaped.replace("\n", "  \n")


# Alerts name their icon: given none, Streamlit takes a leading emoji of the text as the icon (a
# name from the store starting with one would lose it) and first compiles a 0.5 s emoji pattern.
ICON_ERROR, ICON_WARNING, ICON_INFO, ICON_OK = ":material/error:", ":material/warning:", ":material/info:", \
    ":material/check_circle:"


def md_table(rows: List[Dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (the keys of the first are the columns), every cell escaped
    as :func:`md_text` does: drawn by the page's own Markdown renderer, without the data grid or
    Arrow code a DataFrame element loads."""
    cols = list(rows[0]) if rows else []

    def cell(v: Any) -> str:
        return md_text("" if v is None else str(v).replace("\n", " "))
    return ("| " + " | ".join(cell(c) for c in cols) + " |\n|" + "---|" * len(cols) + "\n"
            + "".join("| " + " | ".join(cell(r.get(c)) for c in cols) + " |\n" for r in rows))


def error_text(title: str, text: Any) -> None:
    """An error box with our own ``title``, and stored or user-given text below it as plain
    text: Markdown elements would render its links (GFM turns bare URLs into links even when
    escaped), images and HTML."""
    st.error(title, icon=ICON_ERROR)
    st.code(str(text), language="text", wrap_lines=True)


def short(v: Any, n: int = 80) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= n else text[: n - 1] + "…"


def art_row(a: Artifact) -> Dict[str, Any]:
    return {"id": a.id, "type": a.type, "state": a.state, "uri": a.uri,
            "fingerprint": (a.fingerprint or "")[:23], "created": when(a.created)}


def exec_row(e: Execution) -> Dict[str, Any]:
    d = e.duration_s
    # TFX's execution types are module paths (tfx.components.pusher.component.Pusher): the last part
    return {"id": e.id, "type": type_leaf(e.type), "state": e.state, "started": when(e.started),
            "duration_s": round(d, 3) if d is not None else None, "error": e.error or ""}


# ---------------------------------------------------------------------- charts
# Vega-Lite specs straight to st.vega_lite_chart: st.bar_chart / st.line_chart import Altair,
# which is slow to import on the first chart of a process.


def chart_bar(df: pd.DataFrame, x: str, y: str, color: Optional[str] = None) -> None:
    enc: Dict[str, Any] = {"x": {"field": x, "type": "nominal", "sort": None, "axis": {"labelAngle": -30}},
                           "y": {"field": y, "type": "quantitative"}, "tooltip": [{"field": c} for c in df.columns]}
    if color:
        enc["color"] = {"field": color, "type": "nominal"}
        enc["xOffset"] = {"field": color}
    st.vega_lite_chart(df, {"mark": "bar", "encoding": enc}, width="stretch")


def _integer_axis(values: Any) -> Dict[str, Any]:
    """An axis of whole numbers: the values themselves as ticks when there are few (a 1.5 tick
    rounded by the format read "2, 2, 1"), else whole-number steps."""
    distinct = sorted({int(v) for v in values if v == v and v is not None})
    if 0 < len(distinct) <= 20:
        return {"values": distinct, "format": "d"}
    return {"tickMinStep": 1, "format": "d"}


def chart_steps(df: pd.DataFrame, x: str, y: str) -> None:
    """A step line of a number over time: versions on a numeric axis (9 below 10, however many),
    a fixed height, times with their date."""
    st.vega_lite_chart(df, {"mark": {"type": "line", "interpolate": "step-after", "point": True},
                            "height": 260,
                            "encoding": {"x": {"field": x, "type": "temporal",
                                               "axis": {"format": "%Y-%m-%d %H:%M:%S", "labelAngle": -30}},
                                         "y": {"field": y, "type": "quantitative", "scale": {"zero": False},
                                               "axis": _integer_axis(df[y] if y in df else [])},
                                         "tooltip": [{"field": x, "type": "temporal", "format": "%Y-%m-%d %H:%M:%S"},
                                                     {"field": y}]}},
                       width="stretch")


def chart_curves(df: pd.DataFrame, metric: str) -> None:
    """One line per run: a metric's value against its step (epoch)."""
    st.vega_lite_chart(df, {"mark": {"type": "line", "point": True}, "height": 300,
                            "encoding": {"x": {"field": "step", "type": "quantitative", "axis": {"tickMinStep": 1}},
                                         "y": {"field": "value", "type": "quantitative", "scale": {"zero": False},
                                               "title": metric},
                                         "color": {"field": "run", "type": "nominal",
                                                   "legend": {"labelLimit": 0, "orient": "bottom",
                                                              "columns": 1}},   # run names whole
                                         "tooltip": [{"field": "run"}, {"field": "step"}, {"field": "value"}]}},
                       width="stretch")


def chart_parallel(df: pd.DataFrame, dims: List[str], metric: str) -> None:
    """Parallel coordinates: one line per run across its parameters (each axis scaled to its own
    range), coloured by ``metric``."""
    spec = {"height": 320,
            "transform": [{"window": [{"op": "count", "as": "index"}]},
                          {"fold": dims},
                          {"joinaggregate": [{"op": "min", "field": "value", "as": "lo"},
                                             {"op": "max", "field": "value", "as": "hi"}], "groupby": ["key"]},
                          {"calculate": "datum.hi == datum.lo ? 0.5 : (datum.value - datum.lo) / (datum.hi - datum.lo)",
                           "as": "scaled"}],
            "encoding": {"x": {"field": "key", "type": "nominal", "sort": dims, "title": None,
                               "axis": {"labelAngle": 0, "labelLimit": 0, "orient": "top", "domain": False,
                                        "ticks": False, "labelFontWeight": "bold"}}},
            "layer": [
                {"mark": {"type": "rule", "color": "#999"}, "encoding": {"detail": {"aggregate": "count"}}},
                {"mark": {"type": "line", "opacity": 0.8, "strokeWidth": 2},
                 "encoding": {"y": {"field": "scaled", "type": "quantitative", "axis": None},
                              "detail": {"field": "index", "type": "nominal"},
                              "color": {"field": metric, "type": "quantitative",
                                        # viridis without its darkest quarter: every line shows on a dark theme too
                                        "scale": {"scheme": {"name": "viridis", "extent": [0.25, 1]}}},
                              "tooltip": [{"field": "run"}, {"field": "key"}, {"field": "value"}, {"field": metric}]}},
                # each axis's own range: its highest value at the top, its lowest at the bottom
                {"mark": {"type": "text", "dy": -8, "align": "center"},
                 "encoding": {"y": {"value": 0}, "text": {"aggregate": "max", "field": "hi", "format": ".4~g"}}},
                {"mark": {"type": "text", "dy": 12, "align": "center"},
                 "encoding": {"y": {"value": 320}, "text": {"aggregate": "min", "field": "lo", "format": ".4~g"}}},
            ]}
    st.vega_lite_chart(df, spec, width="stretch")


# ---------------------------------------------------------------- cached queries
# Keyed by the store URI; results are plain data (records hold read-only mappings that
# Streamlit's cache cannot pickle).


@st.cache_data(ttl=30, max_entries=256, show_spinner=False)
def q_search(uri: Optional[str], text: str) -> List[Dict[str, Any]]:
    """The sidebar's search (``Lineage.search``): hits with the page and URL parameters to open."""
    return [h.to_dict() for h in open_store(uri).search(text, limit=5)]


@st.cache_data(ttl=30, show_spinner=False)
def q_counts(uri: Optional[str]) -> Dict[str, Dict[str, int]]:
    return open_store(uri).counts()


@st.cache_data(ttl=30, show_spinner=False)
def q_runs(uri: Optional[str], pipeline: str, limit: int) -> List[Dict[str, Any]]:
    lin = open_store(uri)
    rows = []
    for c in lin.runs(pipeline or None, limit=limit):
        p = c.properties
        rows.append({"id": c.id, "name": c.name, "pipeline": p.get("pipeline") or p.get("pipeline_name") or "",
                     "experiment": p.get("experiment") or "", "state": p.get("state", ""),
                     "started": when(p.get("started_at") or c.created),
                     "duration_s": round(p["ended_at"] - p["started_at"], 2)
                     if p.get("ended_at") and p.get("started_at") else None,
                     "git_commit": (p.get("git_commit") or "")[:12], "user": p.get("user") or ""})
    return rows


@st.cache_data(ttl=30, show_spinner=False)
def q_endpoints(uri: Optional[str]) -> List[Dict[str, Any]]:
    """What each endpoint serves now (no full replay), with the last change and its run."""
    lin = open_store(uri)
    names = lin.serving_endpoints()
    now = lin.serving_now(names)
    changes = {name: lin.last_serving_change(name) for name in names}
    contexts = lin.contexts_of_executions([ev for ev in changes.values() if ev is not None])
    any_taint = bool(lin.tainted())   # none in the store: nothing served can be made from one
    out = []
    for name in names:
        ev = changes[name]
        runs = [x.name for x in contexts.get(ev.id, []) if x.type in RUN_CONTEXT_TYPES] if ev is not None else []
        out.append({"endpoint": name, "version": now.get(name),
                    "checks": version_badges(uri, name, now.get(name)) if len(out) < BADGED else "",
                    "tainted": _serving_taints(lin, name, now.get(name)) if any_taint else "",
                    "last change": when(ev.properties.get("ended_at") or ev.created) if ev else "",
                    "by": f"e{ev.id} {ev.type} ({ev.properties.get('user') or '?'})" if ev else "",
                    "run": runs[0] if runs else ""})
    return out


def _serving_taints(lin: Lineage, model: str, version: Optional[int]) -> str:
    """The taints upstream of what an endpoint serves ("" when none, or nothing serves)."""
    if version is None:
        return ""
    try:
        return "; ".join(f"a{t.artifact_id}: {t.reason}" for t in lin.taints_of(f"{model}:{version}"))
    except LineageError:
        return ""


@st.cache_data(ttl=30, show_spinner=False)
def q_history(uri: Optional[str], model: str) -> List[Dict[str, Any]]:
    """The serving history, newest first, with why a failed change failed."""
    rows = [{"when": when(h.time), "time": h.time, "action": h.action, "version": h.version,
             "label": h.label or "", "state": h.observed or h.state, "execution": h.execution.id,
             "by": h.server or h.user or "", "forced": h.forced,
             "reason": h.execution.error or "" if h.state in ("FAILED", "CANCELED") else ""}
            for h in open_store(uri).serving_history(model)]
    rows = rows[::-1]
    versions = list(dict.fromkeys(r["version"] for r in rows if r["version"] is not None))[:BADGED]
    checks = {v: q_version_checks(uri, model, int(v)) for v in versions}
    for r in rows:   # each version's verdicts and its evaluation's headline metric
        c = checks.get(r["version"])
        r["checks"] = badges(c["blessed"], bool(c["tainted"])) if c else ""
        r["accuracy"] = c["metrics"].get("accuracy") if c else None
    return rows


@st.cache_data(ttl=30, show_spinner=False)
def q_version_checks(uri: Optional[str], model: str, version: int) -> Dict[str, Any]:
    """Blessing, taints and evaluation metrics of one pushed version (for its badges)."""
    lin = open_store(uri)
    try:
        rep = lin.verdicts(f"{model}:{version}")
    except LineageError:
        return {"blessed": None, "tainted": [], "metrics": {}}
    return {"blessed": rep.blessed, "tainted": [f"a{t.artifact_id}: {t.reason}" for t in rep.tainted],
            "metrics": {k: v for k, v in rep.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}}


#: the same words for the same verdicts on every page (tables, reports, the serving state)
BADGE_BLESSED, BADGE_UNBLESSED, BADGE_NO_VERDICT = "✅ blessed", "⚠️ not blessed", "no verdict"
BADGE_TAINTED, BADGE_SERVING = "⛔ tainted", "▶ serving now"
#: how many served versions a table checks for its badges (each is a provenance)
BADGED = 50


def badges(blessed: Optional[bool], tainted: bool, serving: Optional[bool] = None) -> str:
    """One cell: serving now, tainted, blessed or not, in that order."""
    parts = [BADGE_SERVING] if serving else []
    if tainted:
        parts.append(BADGE_TAINTED)
    parts.append({True: BADGE_BLESSED, False: BADGE_UNBLESSED, None: BADGE_NO_VERDICT}[blessed])
    return " · ".join(parts)


def version_badges(uri: Optional[str], model: str, version: Optional[int], serving: Optional[bool] = None) -> str:
    if version is None:
        return ""
    checks = q_version_checks(uri, model, int(version))
    return badges(checks["blessed"], bool(checks["tainted"]), serving)


@st.cache_data(ttl=30, show_spinner=False)
def q_serving_graph(uri: Optional[str]) -> Dict[str, Any]:
    """Servers, what each serves now, and which module version answers each head (distributed serving)."""
    return open_store(uri).serving_graph().to_dict()


def _dot_id(text: str) -> str:
    """A DOT quoted string: stored text is never markup there."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def serving_dot(graph: Dict[str, Any], selected: Optional[str] = None) -> str:
    """The serving graph in Graphviz's DOT: a box per server holding what it serves, an arrow from
    each head to the module version that answers it (labelled with the module server)."""
    lines = ["digraph serving {", "rankdir=LR;", 'node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
             'fontname="sans-serif", fontsize=11];', 'edge [fontname="sans-serif", fontsize=9];']
    placed = set()
    groups = list(graph["servers"].items()) + ([("not reported by a server", graph["unreported"])]
                                               if graph["unreported"] else [])
    for i, (server, served) in enumerate(groups):
        stale = " (not seen: lease expired)" if server in graph.get("stale", []) else ""
        lines.append(f"subgraph cluster_{i} {{ label={_dot_id(server + stale)}; style=dashed; fontsize=10;")
        for m in served:
            bold = ', penwidth=2, fillcolor="#d6e4fa"' if selected and m.rsplit(":", 1)[0] == selected else ""
            lines.append(f"  {_dot_id(m)} [label={_dot_id(m)}{bold}];")
            placed.add(m)
        lines.append("}")
    for call in graph["calls"]:
        for end in (call["head"], call["module"]):
            if end not in placed:
                lines.append(f"{_dot_id(end)};")
                placed.add(end)
        lines.append(f"{_dot_id(call['head'])} -> {_dot_id(call['module'])} "
                     f"[label={_dot_id('remote part via ' + call['server'])}];")
    lines.append("}")
    return "\n".join(lines)


@st.cache_data(ttl=30, show_spinner=False)
def q_state(uri: Optional[str], model: str) -> Dict[str, Any]:
    """The serving state now and the serving version after each effective event (one replay)."""
    lin = open_store(uri)
    history = lin.serving_history(model)
    timeline = [(ev.time, after.version) for ev, after in replay_steps(model, history)]
    state = lin.state_of(model, history)   # what servers reported, if any, by their leases
    return {"version": state.version, "pinned": state.pinned, "source": state.source,
            "stale": state.describe() if state.stale else "",
            "labels": ", ".join(f"{k}={v}" for k, v in sorted(state.labels.items())),
            "since": when(state.since), "timeline": timeline}


@st.cache_data(ttl=30, show_spinner=False)
def q_provenance(uri: Optional[str], ref: str) -> Dict[str, Any]:
    """The provenance report of a model or served version (``lineage provenance``), as data."""
    return open_store(uri).provenance(ref).to_dict()


@st.cache_data(ttl=30, show_spinner=False)
def q_impact(uri: Optional[str], ref: str) -> Dict[str, Any]:
    """The impact report of an artifact (``lineage impact``), as data."""
    lin = open_store(uri)
    imp = lin.impact(ref)
    marks = lin.tainted() if imp.sources else {}
    taints = [marks[a.id] for a in imp.sources if a.id in marks]
    return {"sources": [art_row(a) for a in imp.sources], "models": [art_row(a) for a in imp.models],
            "taints": [{"artifact": f"a{t.artifact_id}", "reason": t.reason, "by": t.user or "",
                        "when": when(t.when) if t.when else ""} for t in taints],
            "evaluations": [art_row(a) for a in imp.evaluations],
            "blessings": [art_row(a) | {"blessed": is_blessed(a.get("blessed"))} for a in imp.blessings],
            # what serves now first: that is what a person acts on
            "pushed": [{"model": p.model_name, "version": p.version, "artifact": f"a{p.pushed.id}",
                        "serving now": {True: "SERVING NOW", False: "no", None: "unknown"}[p.serving_now],
                        "checks": version_badges(uri, p.model_name, p.version, p.serving_now) if i < BADGED
                        else (BADGE_SERVING if p.serving_now else "")}
                       for i, p in enumerate(sorted(imp.pushed, key=lambda p: (p.serving_now is not True, -p.pushed.id)))]}


def _delta(va: Any, vb: Any) -> Any:
    """B - A when both are numbers (not booleans), else empty."""
    if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and not isinstance(va, bool) \
            and not isinstance(vb, bool):
        d = vb - va
        return round(d, 6) if isinstance(d, float) else d
    return ""


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_diff(uri: Optional[str], a: str, b: str) -> Dict[str, Any]:
    """What differs between two models (``Lineage.diff``), as table rows per section: a value
    that names an artifact shows its ref first (``a12 · sha256:…``), a step only one side ran
    says so instead of showing nulls, and numbers get their delta (B - A). ``refs``: the
    artifacts named, for links."""
    d = open_store(uri).diff(a, b)

    def cell(v: Any) -> Any:
        ref = d.refs.get(str(v)) if v is not None else None
        return f"{ref} · {short(v)}" if ref else short(v)

    sections: Dict[str, List[Dict[str, Any]]] = {}
    named: List[str] = []
    for section, changes in d.sections.items():
        only = {side: all(pair[i] is None for pair in changes.values()) for i, side in enumerate("AB")}
        rows = []
        for k, (va, vb) in changes.items():
            row = {"key": k, "A": cell(va), "B": cell(vb), "delta": _delta(va, vb)}
            for side, v in (("A", va), ("B", vb)):
                if v is None and only[side] and section.startswith("step "):
                    row[side] = f"(no {section[5:]} step on this side)"
                elif v is not None and d.refs.get(str(v)) and d.refs[str(v)] not in named:
                    named.append(d.refs[str(v)])
            rows.append(row)
        sections[section] = rows
    return {"same": d.same, "sections": sections, "refs": named}


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_models(uri: Optional[str]) -> List[Dict[str, Any]]:
    """The models Compare offers, newest first: every pushed version (``MODEL:VERSION``), else
    every trained model."""
    lin = open_store(uri)
    pushed = lin.find("PushedModel", limit=500) if lin.store.has_type("artifact", "PushedModel") else []
    if pushed:
        return [{"ref": p.ref, "model": str(p.get("model_name") or ""), "version": p.get("pushed_version"),
                 "label": f"{p.get('model_name')}:{p.get('pushed_version')} ({p.ref})"} for p in pushed]
    models = lin.find("Model", limit=500) if lin.store.has_type("artifact", "Model") else []
    return [{"ref": m.ref, "model": "", "version": None, "label": f"{m.ref} Model {m.uri}"} for m in models]


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_metrics(uri: Optional[str], ref: str) -> Dict[str, Any]:
    """A model's own evaluation metrics: TFMA's metrics.json per slice when its evaluation wrote
    one, else the recorded scalars as the one slice "overall"."""
    rep = open_store(uri).provenance(ref)
    for ev in rep.evaluations:
        p = Path(ev.uri) / "metrics.json"
        if p.exists():
            return json.loads(p.read_text())
    return {"overall": dict(rep.metrics), "slices": {"overall": dict(rep.metrics)}}


@st.cache_data(ttl=30, show_spinner=False)
def q_find(uri: Optional[str], kind: str, type_name: str, where: str, context: str, limit: int):
    lin = open_store(uri)
    found = lin.find(type_name or None, where or None, kind=kind, context=context or None, limit=limit)
    return [art_row(a) if kind == "artifact" else exec_row(a) for a in found]


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_traffic(uri: Optional[str], model: str) -> Dict[str, Any]:
    """A served model's logged requests: one row per log file and version (when, how many), the
    totals per version, and the training/serving skew of the newest version with logs."""
    lin = open_store(uri)
    files = lin.prediction_logs(model)
    rows = []
    for a in files:
        for v, n in json.loads(a.properties.get("version_counts") or "{}").items():
            t = a.properties.get("last_request_at") or a.properties.get("first_request_at")
            rows.append({"when": pd.to_datetime(t, unit="s").isoformat() if t else None, "version": str(v),
                         "sampled requests": n, "file": f"a{a.id}"})
    totals = [{"version": t.version, "files": t.files, "sampled": t.sampled, "estimated": round(t.estimated),
               "first": when(t.first), "last": when(t.last), "dropped": t.dropped}
              for t in lin.predictions(model)]
    skew: Optional[Dict[str, Any]] = None
    if files:
        try:
            skew = lin.serving_skew(model)
        except LineageError:
            skew = None
    return {"rows": rows, "totals": totals, "skew": skew}


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def q_runs_frame(uri: Optional[str], experiment: str, pipeline: str, where: str) -> pd.DataFrame:
    """The runs table (every run, newest first), its start time as text."""
    frame = open_store(uri).runs_frame(experiment or None, pipeline or None, where=where or None)
    frame["start"] = [when(t) if t is not None and t == t else "" for t in frame["start"]]
    return frame


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_curves(uri: Optional[str], runs: Tuple[str, ...], metric: str) -> pd.DataFrame:
    """One metric's history in each of these runs: run, step_type, step, value (histories whose
    file is gone are left out: :func:`q_metric_names` says how many)."""
    lin = open_store(uri)
    parts = []
    for name in runs:
        h = lin.metric_history(name, [metric], missing=[])
        h.insert(0, "run", name)
        parts.append(h)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run", "step", "value"])


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_metric_names(uri: Optional[str], runs: Tuple[str, ...]) -> Tuple[List[str], List[str]]:
    """The metrics these runs logged, and the history files that could not be read."""
    lin = open_store(uri)
    missing: List[str] = []
    names = sorted({m for name in runs for m in lin.metric_history(name, missing=missing)["metric"]})
    return names, missing


@st.cache_data(ttl=30, max_entries=256, show_spinner=False)
def q_step_log(uri: Optional[str], ref: str) -> Optional[str]:
    return open_store(uri).step_log(ref)


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_run_notes(uri: Optional[str], run: str) -> Dict[str, Any]:
    lin = open_store(uri)
    return {"tags": lin.tags(run), "notes": [n.to_dict() for n in lin.notes(run)],
            "history": [h.to_dict() for h in lin.tag_history(run)]}


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_run_steps(uri: Optional[str], run: str) -> List[Dict[str, Any]]:
    """A run's steps in order, as table rows (parameters, step, code version)."""
    lin = open_store(uri)
    steps = lin.run_steps(run)
    code = code_versions(lin.store, steps)   # a step's own, else its run's
    return [exec_row(e) | {"params": short(dict(e.params), 120), "step": e.properties.get("step", ""),
                           "git_commit": (code[e.id].get("git_commit") or "")[:12]
                           + (" (dirty)" if code[e.id].get("git_dirty") else ""),
                           "source_hash": (e.properties.get("source_hash") or "")[7:19]}
            for e in steps]


@st.cache_data(ttl=30, show_spinner=False)
def q_node(uri: Optional[str], ref: str) -> Dict[str, Any]:
    lin = open_store(uri)
    node = lin.node(ref)
    d: Dict[str, Any] = {"kind": node.kind, "id": node.id, "type": node.type,
                         "properties": dict(node.properties), "custom_properties": dict(node.custom_properties),
                         "created": when(node.created)}
    if isinstance(node, Artifact):
        d.update(uri=node.uri, state=node.state, fingerprint=node.fingerprint,
                 tainted=[f"a{t.artifact_id}: {t.reason}" for t in lin.taints_of(node)],
                 producers=[exec_row(e) for e in lin.producers(node)])
        total = len({e.execution_id for e in lin.events(node) if e.type in INPUT_EVENTS})
        consumers = sorted(lin.consumers(node, newest=LISTED), key=lambda e: -e.id)
        d.update(consumers=[exec_row(e) for e in consumers], consumers_total=total)
    elif isinstance(node, Execution):
        d.update(state=node.state, error=node.error, started=when(node.started),
                 duration_s=round(node.duration_s, 3) if node.duration_s is not None else None,
                 inputs={k: [art_row(a) for a in v] for k, v in lin.inputs(node).items()},
                 outputs={k: [art_row(a) for a in v] for k, v in lin.outputs(node).items()})
    d["contexts"] = [{"id": c.id, "type": c.type, "name": c.name} for c in lin.contexts(node)] \
        if node.kind != "context" else []
    return d


@st.cache_resource(ttl=30, max_entries=8, show_spinner=False)
def q_lineage(uri: Optional[str], ref: str, direction: str, hops: int) -> Tuple[Shape, Tuple[int, ...]]:
    """The shape of the traversal around ``ref`` (ids, types, states, edges: ``Lineage.shape``)
    and the tainted artifact ids; kept as objects (not copied per rerun) so that expanding a group
    redraws without walking the store again."""
    lin = open_store(uri)
    return lin.shape(ref, direction, hops), tuple(sorted(lin.tainted()))


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def q_view(uri: Optional[str], ref: str, direction: str, hops: int,
           expanded: Tuple[Tuple[str, int], ...] = ()) -> Dict[str, Any]:
    g, taints = q_lineage(uri, ref, direction, hops)
    view = open_store(uri).view(g, expanded=dict(expanded), tainted=taints)
    return {"view": view, "size": len(g), "edges": len(g.edges),
            "tainted": sorted(f"a{i}" for i in taints if f"a{i}" in g)}
