"""Experiments: the runs table with parameters and metrics, curves, parallel coordinates.

The table opens on what runs are compared on: run, state, start, duration, the metrics, then only
the parameters (and tags) that vary (:func:`lineage.query.experiments.compared_columns`, the
CLI's default too); a column chooser shows any other. The sort, the chosen columns and the runs
whose curves are drawn are in the URL (``sort``, ``cols``, ``runs``), so a view can be shared."""

from __future__ import annotations

from typing import List, Optional

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.app.data import (ICON_INFO, chart_curves, chart_parallel, error_text, md_text, q_curves, q_metric_names,
                              q_runs_frame)
from lineage.app.state import bad_link, seed, to_url
from lineage.app.views.page import Page
from lineage.errors import LineageError
from lineage.query.experiments import compared_columns

CHOSEN = 10  # runs whose curves are drawn together, at most


def _listed(text: str) -> List[str]:
    return [x for x in (t.strip() for t in text.split(",")) if x]


def _chosen_from_table() -> None:
    """Rows selected in the table become the runs drawn (the multiselect, and so the URL)."""
    picked = st.session_state.get("exp_table")
    shown = st.session_state.get("exp_shown_runs") or []
    rows = list(picked.selection.rows) if picked is not None else []
    chosen = [shown[i] for i in rows if i < len(shown)][:CHOSEN]
    if chosen:
        st.session_state["exp_runs"] = chosen


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
    try:
        frame = q_runs_frame(uri, experiment, pipeline, where)
    except LineageError as exc:
        to_url(experiment=experiment, where=where)
        error_text("Cannot list these runs", exc)
        return
    if frame.empty:
        to_url(experiment=experiment, where=where)
        st.info("No runs match.", icon=ICON_INFO)
        return
    frame = frame.dropna(axis=1, how="all")
    if "duration_s" in frame:
        frame["duration_s"] = frame["duration_s"].round(1)
    every = list(frame.columns)
    default = compared_columns(frame.head(5000).to_dict(orient="records"), every)
    seed("exp_cols", "cols", None, default, lambda raw: [c for c in _listed(raw) if c in every] or None)
    seed("exp_sort", "sort", ["(newest first)"] + every, "(newest first)")
    seed("exp_desc", "desc", [True, False], True, lambda raw: raw == "1")
    if bad_link("exp_sort", "a column to sort by"):
        return
    top = st.columns([5, 2, 1])
    shown_cols = top[0].multiselect("Columns (what runs are compared on; the rest are constants here)", every,
                                    key="exp_cols") or default
    sort = top[1].selectbox("Sort by", ["(newest first)"] + every, key="exp_sort")
    desc = top[2].toggle("Descending", key="exp_desc")
    if sort != "(newest first)":
        frame = frame.sort_values(sort, ascending=not desc, na_position="last", kind="stable")
    shown = frame.head(5000)
    st.session_state["exp_shown_runs"] = list(shown["run"])
    st.caption(f"{len(frame)} run{'' if len(frame) == 1 else 's'}, {len(shown_cols)} of {len(every)} columns. Select "
               f"runs (at most {CHOSEN}) to draw their curves.")
    st.dataframe(shown[[c for c in shown_cols if c in shown.columns]], hide_index=True, width="stretch",
                 key="exp_table", selection_mode="multi-row", on_select=_chosen_from_table)
    runs = list(shown["run"])
    seed("exp_runs", "runs", None, runs[:3], lambda raw: [r for r in _listed(raw) if r in runs][:CHOSEN] or None)
    st.session_state["exp_runs"] = [r for r in st.session_state["exp_runs"] if r in runs] or runs[:3]
    chosen = st.multiselect("Runs whose curves are drawn", runs, key="exp_runs", max_selections=CHOSEN)
    to_url(experiment=experiment, where=where, cols=",".join(shown_cols) if shown_cols != default else "",
           sort="" if sort == "(newest first)" else sort, desc="1" if desc else "0", runs=",".join(chosen))
    metric_cols = [c for c in frame.columns if c.startswith("metrics.")]
    st.subheader("Metric curves")
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
    # readable axis names: the step and the parameter ("Train lr"), the metric's own name
    rename = {c: c.split(".", 1)[1].replace(".", " ") for c in params + [target]}
    data = data.rename(columns=rename)
    chart_parallel(data, [rename[c] for c in params] + [rename[target]], rename[target])


PAGE = Page("experiments", "Experiments", ("experiment", "where", "cols", "sort", "desc", "runs"), page_experiments)
