"""Serving: what serves now, its history, traffic and skew, and how to go back."""

from __future__ import annotations

from typing import Optional

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_ERROR, ICON_INFO, ICON_OK, ICON_WARNING, chart_bar, chart_steps, md_text, q_endpoints, q_history, q_serving_graph, q_state, serving_dot, q_traffic, q_version_checks
from lineage.app.state import linked_select, nav_links, table


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
        served = f"{name}:{state['version']}"
        nav_links([("What produced the serving version", {"page": "provenance", "node": served}),
                   ("What does it affect", {"page": "impact", "node": served})])
    _serving_graph(uri, name)
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


def _serving_graph(uri: Optional[str], name: str) -> None:
    """Servers and what each serves now; each head's arrow to the module version answering it."""
    graph = q_serving_graph(uri)
    if not graph["calls"] and not graph["servers"]:
        return
    mine = [c for c in graph["calls"] if c["head"].rsplit(":", 1)[0] == name]
    theirs = [c for c in graph["calls"] if c["module"].rsplit(":", 1)[0] == name]
    for c in mine:
        st.text(f"its remote part is answered by {c['module']} on {c['server']}")
    if theirs:
        st.text("it answers the remote part of " + ", ".join(c["head"] for c in theirs))
    st.subheader("Servers and models")
    st.graphviz_chart(serving_dot(graph, name))
    st.caption("Each box is a model server and what it serves now; an arrow runs from a head to the module "
               "version answering its remote part (distributed serving: docs/serving.md).")


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
        nav_links([(f"a{skew['training_statistics']}", {"page": "data", "dataset": f"a{skew['training_statistics']}"})],
                  before=f"Serving inputs ({skew['files']} log files) beside the training data's statistics: ")
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


PAGE = Page('serving', 'Serving', ('model', 'back'), page_serving)
