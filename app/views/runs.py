"""Runs: every run, its tags and notes, its steps in order."""

from __future__ import annotations

from typing import Optional

import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_INFO, md_text, q_run_notes, q_run_steps, q_runs, when
from lineage.app.state import linked_select, table
from lineage.app.views.shared import show_node


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


PAGE = Page('runs', 'Runs', ('run',), page_runs)
