"""Graph components for Streamlit, side by side in headless Chromium: the same layered graph
(positions given, no layout in the browser) drawn by the explorer's own component
(``app/graph_component``: Cytoscape.js's release file and 50 lines of JavaScript), by
st-cytoscape (the same Cytoscape.js inside React and Streamlit's component library; what the
explorer used before) and by streamlit-flow-component (React Flow, one DOM element per node), at
several sizes, rounds interleaved.

    .venv/bin/pip install st-cytoscape==0.0.5 streamlit-flow-component==1.6.1   # the other two sides
    .venv/bin/python bench/bench_graph_components.py [--sizes 30,300,3000] [--rounds 3]

Measured per size and component: time from navigation until every node is drawn, and from a
click on a node until the page's Python knows which node it was (the round trip a focus change
needs). Answers checked: each draws exactly the nodes given and reports the clicked node. A side
whose package is not installed is left out, and the output says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

APP = r'''
import sys
import streamlit as st
which, n = sys.argv[1], int(sys.argv[2])
cols = 10
ids = [f"n{i}" for i in range(n)]
pos = {k: ((i % cols) * 190.0, (i // cols) * 64.0) for i, k in enumerate(ids)}
edges = [(ids[i], ids[i + 1]) for i in range(n - 1) if (i + 1) % cols]
els = [{"data": {"id": k, "label": k}, "position": {"x": x, "y": y}} for k, (x, y) in pos.items()]
els += [{"data": {"id": f"{u}-{v}", "source": u, "target": v}} for u, v in edges]
style = [{"selector": "node", "style": {"label": "data(label)", "shape": "round-rectangle", "width": 150, "height": 42}},
         {"selector": "edge", "style": {"curve-style": "bezier", "target-arrow-shape": "triangle"}}]
if which == "lineage":
    import streamlit.components.v1 as components
    comp = components.declare_component("bench_lineage", path=sys.argv[3])
    value = comp(elements=els, stylesheet=style, height=700, layout={"name": "preset", "fit": True}, minZoom=0.05,
                 maxZoom=3, key="g", default={"nodes": [], "edges": []})
    picked = (value or {}).get("nodes") or []
elif which == "cytoscape":
    from pathlib import Path
    import streamlit.components.v1 as components
    import st_cytoscape
    comp = components.declare_component("bench_cy", path=str(Path(st_cytoscape.__file__).parent / "frontend/build"))
    value = comp(elements=els, stylesheet=style, width="100%", height="700px", layout={"name": "preset", "fit": True},
                 selectionType="single", userZoomingEnabled=True, userPanningEnabled=True, minZoom=0.05, maxZoom=3,
                 key="g", default={"nodes": [], "edges": []})
    picked = (value or {}).get("nodes") or []
else:
    from streamlit_flow import streamlit_flow
    from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
    from streamlit_flow.state import StreamlitFlowState
    if "flow" not in st.session_state:
        st.session_state.flow = StreamlitFlowState(
            [StreamlitFlowNode(k, pos[k], {"content": k}, "default", "right", "left", selectable=True) for k in ids],
            [StreamlitFlowEdge(f"{u}-{v}", u, v) for u, v in edges])
    st.session_state.flow = streamlit_flow("g", st.session_state.flow, height=700, fit_view=True,
                                           get_node_on_click=True, min_zoom=0.05)
    picked = [st.session_state.flow.selected_id] if st.session_state.flow.selected_id else []
st.write("picked:" + (picked[0] if picked else "none"))
'''

CY_COUNT = "() => { const c = [...document.querySelectorAll('div')].find(d => d._cyreg && d._cyreg.cy); return c ? c._cyreg.cy.nodes().length : 0; }"
FLOW_COUNT = "() => document.querySelectorAll('.react-flow__node').length"


def one(page, port: int, which: str, n: int) -> tuple:
    t0 = time.perf_counter()
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_selector("iframe", timeout=120000)
    frame = page.query_selector("iframe").content_frame()
    count = FLOW_COUNT if which == "flow" else CY_COUNT
    # React Flow draws only the nodes in view: wait for the first drawn, then count what it holds
    frame.wait_for_function(f"() => ({count})() > 0", timeout=120000)
    drawn = time.perf_counter() - t0
    if which != "flow":
        total = frame.evaluate(CY_COUNT)
        pos = frame.evaluate("""() => { const c = [...document.querySelectorAll('div')].find(d => d._cyreg);
            const n = c._cyreg.cy.getElementById('n0'); c._cyreg.cy.center(n); const r = c.getBoundingClientRect();
            const p = n.renderedPosition(); return {x: r.left + p.x, y: r.top + p.y}; }""")
        box = page.query_selector("iframe").bounding_box()
        t1 = time.perf_counter()
        page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    else:
        total = n  # React Flow virtualises: only visible nodes are in the DOM
        t1 = time.perf_counter()
        frame.locator(".react-flow__node[data-id='n0']").dispatch_event("click")  # may lie outside the view
    page.get_by_text("picked:n0").wait_for(timeout=60000)
    return drawn, time.perf_counter() - t1, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="30,300,3000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from explorer_helpers import chromium_path, launch
    from helpers import free_port, stop_process

    app = Path(tempfile.mkdtemp()) / "graph_app.py"
    app.write_text(APP)
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict = {}
    sides = ["lineage"] + [w for w, mod in (("cytoscape", "st_cytoscape"), ("flow", "streamlit_flow"))
                           if importlib.util.find_spec(mod) is not None]
    missing = {"cytoscape", "flow"} - set(sides)
    if missing:
        print(f"left out (not installed; see the docstring): {', '.join(sorted(missing))}", file=sys.stderr)
    with sync_playwright() as p:
        browser = launch(p, chromium_path())
        for n in sizes:
            procs = {}
            try:
                for which in sides:
                    port = free_port()
                    procs[which] = (port, subprocess.Popen(
                        [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
                         "--server.port", str(port), "--server.address", "127.0.0.1",
                         "--browser.gatherUsageStats", "false", "--", which, str(n),
                         str(ROOT / "app" / "graph_component")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                time.sleep(4)
                for r in range(args.rounds + 1):  # round 0 warms the server up, not counted
                    for which in sides:
                        page = browser.new_page(viewport={"width": 1440, "height": 900})
                        drawn, click, total = one(page, procs[which][0], which, n)
                        page.close()
                        assert total == n, (which, total, n)
                        if r:
                            results.setdefault((n, which), []).append((drawn, click))
            finally:
                for _, proc in procs.values():
                    stop_process(proc)
        browser.close()
    print(f"{'nodes':>6} {'component':<10} {'drawn s (median, min-max)':>28} {'click->Python s':>18}")
    for (n, which), rows in sorted(results.items()):
        d = [x for x, _ in rows]
        c = [y for _, y in rows]
        print(f"{n:>6} {which:<10} {statistics.median(d):>10.2f} ({min(d):.2f}-{max(d):.2f})"
              f"{'':>8} {statistics.median(c):>10.2f}")


if __name__ == "__main__":
    main()
