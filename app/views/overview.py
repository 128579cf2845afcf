"""Overview: counts, what serves now, recent runs."""

from __future__ import annotations

from typing import Optional

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_ERROR, md_text, q_counts, q_endpoints, q_runs
from lineage.app.state import nav_links, table


def _fits(rows: int) -> int:
    """A table's height showing every row (up to 30; a taller one scrolls)."""
    return 35 * (min(rows, 30) + 1) + 3


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
                     hide_index=True, width="stretch", height=_fits(len(counts["artifact"])))
    with right:
        st.subheader("Executions by type and state")
        st.dataframe(pd.DataFrame(sorted(counts["execution"].items()), columns=["type", "count"]),
                     hide_index=True, width="stretch", height=_fits(len(counts["execution"])))
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
        for e in served:
            version = f"{e['endpoint']}:{e['version']}"
            nav_links([("what produced it", {"page": "provenance", "node": version}),
                       ("what it affects", {"page": "impact", "node": version})], before=f"{version}: ")
    else:
        st.caption("Nothing has been pushed to a serving endpoint yet.")
    st.subheader("Recent runs")
    runs = q_runs(uri, "", 10)
    if runs:
        table(runs, "overview_runs", [{"page": "runs", "runs_run": r["name"]} for r in runs])


PAGE = Page('overview', 'Overview', (), page_overview)
