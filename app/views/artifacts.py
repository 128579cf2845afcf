"""Artifacts: search by type, properties, URI and context; one artifact in detail."""

from __future__ import annotations

from typing import Optional

import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_ERROR, ICON_INFO, ICON_OK, ICON_WARNING, error_text, q_counts, q_find
from lineage.app.state import seed, bad_link, to_url, table, artifact_ref, nav_links
from lineage.app.views.shared import show_node
from lineage.errors import LineageError


def page_artifacts(uri: Optional[str], lin: Lineage) -> None:
    counts = q_counts(uri)
    cols = st.columns([2, 2, 2, 1, 1])   # the type box wide enough for its longest name
    types = [""] + sorted(counts["artifact"])
    seed("artifacts_type", "type", types, "")
    type_name = cols[0].selectbox("Type", types, key="artifacts_type",
                                  format_func=lambda t: t or "(any type)")
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
    seed("artifacts_ref", "artifact", None, choices[0] if choices else None, artifact_ref(uri))
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
    to_url(artifact=ref[1:], type=type_name)
    nav_links([("What produced this", {"page": "provenance", "node": ref}),
               ("What does this affect", {"page": "impact", "node": ref}),
               ("Lineage graph", {"page": "graph", "node": ref})])
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


PAGE = Page('artifacts', 'Artifacts', ('artifact', 'type'), page_artifacts)
