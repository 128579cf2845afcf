"""Every explorer page (and the sidebar's search) as a person meets it: loaded in headless Chromium from a served `lineage
ui`, timed from navigation until the page has finished running and drawn (the graph: every node
on the canvas), on the example store and on the large synthetic store, with screenshots.

    .venv/bin/python bench/bench_explorer_browser.py [--store URI] [--large URI --large-label NAME ...] [--rounds 3]

--store defaults to the example pipeline's store (./.lineage/metadata.sqlite; run scripts/example
first); --large (repeatable, each with its --large-label) to bench/.cache/synthetic-12500-1000.sqlite
(built once with lineage.synthetic, about 100k executions, if absent). Cold: a page's first visit on a fresh server (empty caches),
reached from the sidebar in one browser tab; the hot dataset's deep links in a new tab. Warm: the
page run again in place (Streamlit's rerun, as after any click; caches full). Rounds alternate;
medians with min and max. Screenshots go to test-output/screenshots/bench-<store>-<page>.png.
Beside them, the same measures on a Streamlit app that only writes a header (what any page costs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

READY = "() => { const a = document.querySelector('[data-testid=stApp]'); return a && a.getAttribute('data-test-script-state') === 'notRunning' && document.querySelector('h2, h1'); }"
TITLE = {"overview": "Overview", "runs": "Runs", "experiments": "Experiments", "artifacts": "Artifacts", "data": "Data", "graph": "Lineage graph",
         "provenance": "What produced this", "impact": "What does this affect", "serving": "Serving",
         "compare": "Compare"}


def pages_for(uri: str, large: bool) -> dict:
    uri = uri if "://" in uri else f"sqlite:///{Path(uri).resolve()}"
    from lineage import Lineage

    lin = Lineage.open(uri, readonly=True)
    pages: dict = {p: f"page={p}" for p in TITLE}
    if large:
        # the generator's hot dataset (feeding 1,000 runs) is its first
        hot = min(lin.store.list_artifacts(filter_query="type = 'Dataset'", limit=20, order_by="id", ascending=True),
                  key=lambda a: a.id)
        pages["graph-hot"] = f"page=graph&node=a{hot.id}&direction=downstream&hops=40"
        pages["impact-hot"] = f"page=impact&node=a{hot.id}"
    # the sidebar's search: a served model's name and part of a run name (bench_search's texts)
    pages["search"] = ("model-3", "synthetic-run-4464") if large else ("reviews", "baseline")
    lin.close()
    return pages


def load(page, base: str, query: str, title: str) -> float:
    from explorer_helpers import graph_frame

    t0 = time.perf_counter()
    page.goto(f"{base}/?{query}")
    page.locator("h2", has_text=title).first.wait_for(timeout=120000)
    page.wait_for_function(READY, timeout=120000)
    if "page=graph" in query:
        graph_frame(page, timeout=120000, settle=False)
    return time.perf_counter() - t0


WATCH = """() => { window.__runs = []; const a = document.querySelector('[data-testid=stApp]');
    new MutationObserver(() => window.__runs.push([performance.now(), a.getAttribute('data-test-script-state')]))
        .observe(a, {attributes: true, attributeFilter: ['data-test-script-state']}); return performance.now(); }"""


def rerun(page) -> float:
    """Streamlit's own rerun (the "r" key): the script runs again in the same session, as after
    any click, with the browser's page already loaded."""
    from playwright.sync_api import TimeoutError as Timeout

    page.wait_for_function(READY, timeout=120000)
    for attempt in range(3):   # a key press while the page is being redrawn can be lost
        page.locator("h2").first.click()
        t0 = page.evaluate(WATCH)
        page.keyboard.press("r")
        try:
            page.wait_for_function("() => window.__runs.length > 0", timeout=5000)
            break
        except Timeout:
            if attempt == 2:
                raise
    page.wait_for_function("() => window.__runs.some(r => r[1] !== 'notRunning') && "
                           "window.__runs[window.__runs.length - 1][1] === 'notRunning'", timeout=120000)
    done = page.evaluate("() => window.__runs[window.__runs.length - 1][0]")
    return (done - t0) / 1000.0


def switch(page, title: str, graph: bool) -> float:
    """Go to a page from the sidebar, in the same session (what a person does most): until it
    has finished running (and, for the graph, drawn)."""
    from explorer_helpers import graph_frame

    page.wait_for_function(READY, timeout=120000)
    t0 = page.evaluate("() => performance.now()")
    page.locator('[data-testid="stSidebar"]').get_by_text(title, exact=True).click()
    # done: the new page's own header is drawn and the script has finished (a run can be too
    # quick for the script-state attribute to change at all)
    page.wait_for_function("(title) => { const h = document.querySelector('h2'); const a = document.querySelector("
                           "'[data-testid=stApp]'); return h && h.textContent.includes(title) && "
                           "a.getAttribute('data-test-script-state') === 'notRunning'; }", arg=title, timeout=120000)
    if graph:
        graph_frame(page, timeout=120000, settle=False)
    return (page.evaluate("() => performance.now()") - t0) / 1000.0


FOCUS = ("() => { const c = [...document.querySelectorAll('div')].find(d => d._cyreg && d._cyreg.cy); "
         "return c ? c._cyreg.cy.nodes('.focus').map(n => n.id()) : []; }")


def retarget(page, ref: str) -> float:
    """On the graph page, type another node into the Node box: until the graph is redrawn
    around it (a rerun with a new traversal; the component stays loaded)."""
    t0 = page.evaluate("() => performance.now()")
    box = page.get_by_label("Node (a12, e7, or MODEL:VERSION)")
    box.fill(ref)
    box.press("Enter")
    frame = page.query_selector('iframe[title*="lineage_graph"]').content_frame()
    frame.wait_for_function(f"() => ({FOCUS})().includes('{ref}')", timeout=120000)
    page.wait_for_function(READY, timeout=120000)
    return (page.evaluate("() => performance.now()") - t0) / 1000.0


def search(page, text: str) -> float:
    """The sidebar's search: type ``text``, press Enter, until its hits are buttons on screen
    (or it says nothing is named) and the run has finished."""
    t0 = page.evaluate("() => performance.now()")
    box = page.get_by_role("textbox", name="Search")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function("() => { const s = document.querySelector('[data-testid=stSidebar]');"
                           " return s && (s.querySelector('.st-key-search_hit_0') || "
                           "s.textContent.includes('Nothing is named by that.')); }", timeout=120000)
    page.wait_for_function(READY, timeout=120000)
    took = (page.evaluate("() => performance.now()") - t0) / 1000.0
    box.fill("")
    box.press("Enter")
    page.wait_for_function("() => !document.querySelector('.st-key-search_hit_0')", timeout=120000)
    page.wait_for_function(READY, timeout=120000)
    return took


def measure(browser, uri: str, name: str, pages: dict, shots: bool) -> dict:
    """One fresh server: each page reached from the sidebar (cold: its first visit; then its
    rerun, warm), and the deep links (the hot dataset) opened in a new tab, then rerun."""
    from explorer_helpers import SHOTS, start_ui
    from helpers import stop_process

    out: dict = {}
    SHOTS.mkdir(parents=True, exist_ok=True)
    port, proc = start_ui(uri)
    base = f"http://127.0.0.1:{port}"
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        first = load(page, base, "page=overview", "Overview")
        out["(first tab)"] = [(first, float("nan"))]
        for key, query in pages.items():
            if key == "search":
                continue
            title = TITLE[key.split("-")[0]]
            if "-" in key:   # a deep link: a new tab
                other = browser.new_page(viewport={"width": 1440, "height": 900})
                cold = load(other, base, query, title)
                warm = rerun(other)
                if shots:
                    other.screenshot(path=str(SHOTS / f"bench-{name}-{key}.png"), full_page=True)
                other.close()
            else:
                if key == "overview":
                    switch(page, "Runs", False)
                try:
                    cold = switch(page, title, key == "graph")
                except Exception:
                    page.screenshot(path="/tmp/switch-failed.png")
                    raise RuntimeError(f"{name}: switching to {key} failed (from {page.url})")
                warm = rerun(page)
                if shots:
                    page.screenshot(path=str(SHOTS / f"bench-{name}-{key}.png"), full_page=True)
                if key == "graph" and "graph-hot" in pages:
                    hot = pages["graph-hot"].split("node=")[1].split("&")[0]
                    frame = page.query_selector('iframe[title*="lineage_graph"]').content_frame()
                    before = frame.evaluate(FOCUS)[0]
                    typed = retarget(page, hot)
                    out.setdefault("graph-hot, typed in the Node box", []).append((typed, rerun(page)))
                    retarget(page, before)   # the next pages open on the node the graph showed
            out.setdefault(key, []).append((cold, warm))
        for text in pages.get("search", ()):     # the sidebar's search, typed on the last page
            took = search(page, text)
            out.setdefault(f"search {text!r}", []).append((took, float("nan")))
        page.close()
    finally:
        stop_process(proc)
    return out


FLOOR_APP = "import streamlit as st\nst.header('Overview')\n"


def floor(browser, rounds: int) -> dict:
    """The same three measures on a Streamlit app that only writes a header: what any page costs."""
    import subprocess
    import tempfile

    from helpers import free_port, stop_process

    app = Path(tempfile.mkdtemp()) / "floor.py"
    app.write_text(FLOOR_APP)
    out: dict = {}
    for _ in range(rounds):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
                                 "--server.port", str(port), "--server.address", "127.0.0.1",
                                 "--browser.gatherUsageStats", "false"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            import urllib.request
            while time.time() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.3)
            base = f"http://127.0.0.1:{port}"
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            first = load(page, base, "", "Overview")
            again = rerun(page)
            page.close()
            out.setdefault("(empty app: new tab, rerun)", []).append((first, again))
        finally:
            stop_process(proc)
    return out


def _cell(values: list) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _build_if_absent(large: Path) -> None:
    if large.exists():
        return
    from lineage import Lineage
    from lineage.synthetic import generate

    large.parent.mkdir(parents=True, exist_ok=True)
    print(f"building {large} (12,500 runs, about 100k executions; a few minutes, once)", file=sys.stderr)
    lin = Lineage.open(f"sqlite:///{large}")
    generate(lin, runs=12500, hot_runs=1000, datasets=8, endpoints=20,
             progress=lambda d, t: print(f"\r  {d}/{t} runs", end="", file=sys.stderr))
    lin.close()
    print(file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=str(ROOT / ".lineage" / "metadata.sqlite"))
    ap.add_argument("--large", action="append",
                    help="a large store (repeatable; default bench/.cache/synthetic-12500-1000.sqlite)")
    ap.add_argument("--large-label", action="append",
                    help="how each --large store is named in the results, in the same order (default 100k)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="also write the figures to this file (bench/run_all reads it)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from explorer_helpers import chromium_path, launch

    larges = [Path(x.replace("sqlite:///", "")) for x in (args.large or [str(ROOT / "bench" / ".cache" /
                                                                            "synthetic-12500-1000.sqlite")])]
    labels = args.large_label or ["100k"]
    if len(labels) != len(larges):
        ap.error("give one --large-label per --large")
    for large in larges:
        _build_if_absent(large)
    stores = [("example", args.store, pages_for(args.store, False))] + \
        [(label, str(large), pages_for(str(large), True)) for label, large in zip(labels, larges)]
    results: dict = {}
    with sync_playwright() as p:
        browser = launch(p, chromium_path())
        for r in range(args.rounds):  # rounds interleave the floor and the two stores
            for name, per_page in [("floor", floor(browser, 1))] + \
                    [(name, measure(browser, uri, name, pages, r == 0)) for name, uri, pages in stores]:
                for key, rows in per_page.items():
                    results.setdefault((name, key), []).extend(rows)
        browser.close()
    print("Cold: a page's first visit on a fresh server, from the sidebar (deep links: a new tab).")
    print("Warm: the same page run again (Streamlit's rerun, as after any click).\n")
    print("| store | page | cold s, median (min-max) | warm s, median (min-max) |")
    print("| --- | --- | --- | --- |")
    out: dict = {}
    for (name, key), rows in results.items():
        warm = [r[1] for r in rows if r[1] == r[1]]
        print(f"| {name} | {key} | {_cell([r[0] for r in rows])} | {_cell(warm) if warm else '-'} |")
        out.setdefault(name, {})[key] = {"cold": [r[0] for r in rows], "warm": warm}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
