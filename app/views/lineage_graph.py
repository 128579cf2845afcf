"""Lineage graph: a node's neighbourhood, drawn; click to focus or open a group."""

from __future__ import annotations

from typing import Optional

import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app import graph as graph_view
from lineage.app.data import ICON_INFO, error_text, q_find, q_view
from lineage.app.state import seed, bad_link, to_url, node_ref, nav_links
from lineage.app.views.shared import show_node
from lineage.errors import LineageError
from lineage.query.view import SHOWN_PER_CLICK


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
        nav_links([("What produced this", {"page": "provenance", "node": ref}),
                   ("What does this affect", {"page": "impact", "node": ref})])
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


PAGE = Page('graph', 'Lineage graph', ('node', 'direction', 'hops'), page_graph)
