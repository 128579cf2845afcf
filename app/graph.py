"""The explorer's interactive lineage graph: a :class:`lineage.query.view.GraphView` drawn with
Cytoscape.js (canvas rendering, pan and zoom; a click on a node reruns the page with it) in the
project's own component, ``graph_component/`` (Cytoscape.js's release file from npm and 50 lines
of JavaScript speaking Streamlit's component protocol: no React, no Arrow).

Positions come from the view (columns by depth), so the browser lays out nothing: the drawing
takes the same time whatever the store's size, and the same view always looks the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import streamlit as st
import streamlit.components.v1 as components

from lineage.query.export import NEUTRAL_ARTIFACT, TAINT_COLOUR, style_of
from lineage.query.view import MAX_ROWS, GraphView, Y_STEP

FOCUS_COLOUR, FAILED_COLOUR = "#1d4ed8", "#dc2626"
ZOOM = 0.85  # the zoom a large graph opens at (labels readable at 1440 px); smaller ones are fitted


COMPONENT = Path(__file__).resolve().parent / "graph_component"


@st.cache_resource(show_spinner=False)
def _component() -> Any:
    return components.declare_component("lineage_graph", path=str(COMPONENT))


STYLESHEET: List[Dict[str, Any]] = [
    {"selector": "node", "style": {
        "label": "data(label)", "background-color": "data(fill)", "shape": "round-rectangle",
        "width": 150, "height": 42, "font-size": 12, "text-wrap": "wrap", "text-max-width": 140,
        "text-valign": "center", "text-halign": "center", "border-width": 1, "border-color": "#64748b",
        "color": "#0f172a", "font-family": "sans-serif"}},
    {"selector": "node.execution", "style": {"shape": "rectangle"}},
    {"selector": "node.group", "style": {"border-style": "double", "border-width": 6, "font-weight": "bold"}},
    {"selector": "node.cached", "style": {"border-style": "dashed", "border-width": 2, "color": "#475569"}},
    {"selector": "node.failed", "style": {"border-color": FAILED_COLOUR, "border-width": 3}},
    {"selector": "node.tainted", "style": {"background-color": TAINT_COLOUR, "border-color": FAILED_COLOUR}},
    {"selector": "node.focus", "style": {"border-color": FOCUS_COLOUR, "border-width": 4}},
    {"selector": "node:selected", "style": {"overlay-color": FOCUS_COLOUR, "overlay-opacity": 0.15}},
    {"selector": "edge", "style": {
        "width": 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#94a3b8",
        "target-arrow-color": "#94a3b8", "label": "data(label)", "font-size": 10, "color": "#475569",
        "text-background-color": "#ffffff", "text-background-opacity": 1}},
]


def elements(view: GraphView) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for n in view.nodes:
        classes = [n.kind] + list(n.marks) + (["group"] if n.group else [])
        out.append({"data": {"id": n.id, "label": n.label, "fill": style_of(n.kind, n.type)[1]},
                    "position": {"x": n.x, "y": n.y}, "classes": " ".join(classes), "selectable": True})
    for u, v, count in view.edges:
        out.append({"data": {"id": f"{u}->{v}", "source": u, "target": v,
                             "label": str(count) if count > 1 else ""}, "selectable": False})
    return out


def _opening(view: GraphView, height: int) -> Dict[str, Any]:
    """Every drawing opens fitted to the canvas it has (the component caps the zoom of a small
    one at a readable 1.2); the buttons above it fit again, zoom, and save it as PNG."""
    return {"name": "preset", "fit": True, "padding": 30}


def height_of(view: GraphView) -> int:
    rows: Dict[int, int] = {}
    for n in view.nodes:
        rows[n.depth] = min(MAX_ROWS, rows.get(n.depth, 0) + 1)
    return int(min(760, max(320, max(rows.values(), default=1) * Y_STEP * ZOOM + 80)))


def draw(view: GraphView, *, key: str, on_change: Callable[[], None]) -> Optional[Dict[str, Any]]:
    """Draw ``view``; a click on a node calls ``on_change`` with ``st.session_state[key]`` =
    ``{"nodes": [its id], "edges": [], "at": <ms>}`` (every click a new value)."""
    height = height_of(view)
    return _component()(elements=elements(view), stylesheet=STYLESHEET, height=height, layout=_opening(view, height),
                        legend=legend(view), minZoom=0.1, maxZoom=3.0, key=key, default={"nodes": [], "edges": []},
                        on_change=on_change)


def legend(view: GraphView) -> List[Dict[str, str]]:
    """The legend drawn under the graph (in the component, as text): the colour of each type
    drawn, then the marks; each item ``{"label", "fill", "border"}``."""
    seen: Dict[str, str] = {}
    for n in sorted(view.nodes, key=lambda n: (n.kind, n.type)):
        seen.setdefault(n.type.rsplit(".", 1)[-1], style_of(n.kind, n.type)[1])
    items = [{"label": t, "fill": f, "border": "1px solid #64748b"} for t, f in seen.items()]
    marks = [("focus", f"3px solid {FOCUS_COLOUR}", NEUTRAL_ARTIFACT[1]),
             ("FAILED", f"3px solid {FAILED_COLOUR}", NEUTRAL_ARTIFACT[1]),
             ("CACHED (reused, made nothing)", "2px dashed #64748b", NEUTRAL_ARTIFACT[1]),
             ("tainted, or downstream of a taint", f"1px solid {FAILED_COLOUR}", TAINT_COLOUR),
             ("xN: N of one type at one depth (click to expand)", "4px double #64748b", NEUTRAL_ARTIFACT[1])]
    return items + [{"label": t, "fill": f, "border": b} for t, b, f in marks]
