"""Experiments: the runs table with parameters and metrics, curves, parallel coordinates."""

from __future__ import annotations

from typing import Optional

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_INFO, chart_curves, chart_parallel, error_text, md_text, q_curves, q_metric_names, q_runs_frame
from lineage.app.state import seed, to_url
from lineage.errors import LineageError


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


PAGE = Page('experiments', 'Experiments', ('experiment', 'where'), page_experiments)
