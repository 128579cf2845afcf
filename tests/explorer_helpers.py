"""Helpers for the explorer's browser tests: a loopback beacon, Debian's Chromium, a served
`lineage ui`."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import free_port, stop_process

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "<script>alert('owned')</script>"
SHOTS = REPO / "test-output" / "screenshots"


class Beacon:
    """An HTTP server on loopback that notes every request: a browser that renders stored text
    as Markdown or HTML would fetch the image URLs in it from here."""

    def __init__(self) -> None:
        import http.server
        import threading

        requests = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payload(self) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return (f"boom: [a link]({base}/link) **bold text** ![md image]({base}/md.png) "
                f'<img src="{base}/html.png"> <b>tag</b>')


def chromium_path() -> str:
    """Debian's Chromium; the browser tests are skipped without it, except in CI."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        msg = "Chromium is not installed (apt-get install -y chromium): the browser test is skipped"
        if os.environ.get("CI"):
            pytest.fail(msg + " -- and CI must run it")
        pytest.skip(msg)
    SHOTS.mkdir(parents=True, exist_ok=True)
    return chromium


def launch(playwright, chromium: str):
    return playwright.chromium.launch(executable_path=chromium, args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"])


def start_ui(uri: str):
    """``lineage ui`` on a free port, once healthy: ``(port, process)``. Its output goes to a file
    (a pipe nobody reads fills up, and the server then blocks on its next log line)."""
    import tempfile

    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="lineage-ui-", suffix=".log", delete=False)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "lineage"), "ui", "--store", uri, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log.name  # type: ignore[attr-defined]
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return port, proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("lineage ui did not become healthy: " + Path(log.name).read_text()[-4000:])


@contextlib.contextmanager
def served_browser(uri: str):
    """``lineage ui`` on ``uri`` and a 1440x900 Chromium page: ``(page, base_url)``."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_path()
    port, proc = start_ui(uri)
    try:
        with sync_playwright() as p:
            browser = launch(p, chromium)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.ui_log = proc.log_path
            yield page, f"http://127.0.0.1:{port}"
            browser.close()
    finally:
        stop_process(proc)


# ------------------------------------------------ the interactive graph (Cytoscape.js in an iframe)
_CY = "() => { const c = [...document.querySelectorAll('div')].find(d => d._cyreg && d._cyreg.cy); return c ? c : null; }"


def graph_frame(page, timeout: float = 60000, settle: bool = True):
    """The graph component's frame, once its Cytoscape instance has drawn nodes (and, with
    ``settle``, the page has finished the rerun that a new drawing causes)."""
    page.wait_for_selector('iframe[title*="lineage_graph"]', timeout=timeout)
    frame = page.query_selector('iframe[title*="lineage_graph"]').content_frame()
    frame.wait_for_function(f"() => {{ const c = ({_CY})(); return c && c._cyreg.cy.nodes().length > 0; }}",
                            timeout=timeout)
    # a new drawing reports its (empty) selection, which reruns the page once: let that finish,
    # or a control touched now is redrawn under the test's hand
    if settle:
        page.wait_for_timeout(500)
        page.wait_for_function(READY, timeout=timeout)
    return frame


def graph_nodes(page):
    """What the graph shows: id, label, classes and on-screen position of every node."""
    frame = graph_frame(page)
    return frame.evaluate(f"""() => ({_CY})()._cyreg.cy.nodes().map(n => ({{
        id: n.id(), label: n.data('label'), classes: n.classes(), x: n.renderedPosition('x'),
        y: n.renderedPosition('y'), visible: n.visible()}}))""")


def click_graph_node(page, node_id: str) -> None:
    """A real mouse click on a node: centred on it first (as a person would pan to it)."""
    frame = graph_frame(page)
    pos = frame.evaluate(f"""(id) => {{ const c = ({_CY})(); const cy = c._cyreg.cy; const n = cy.getElementById(id);
        cy.center(n); const r = c.getBoundingClientRect(); const p = n.renderedPosition();
        return {{x: r.left + p.x, y: r.top + p.y}}; }}""", node_id)
    box = page.query_selector('iframe[title*="lineage_graph"]').bounding_box()
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])


def select_row(page, frame_locator, row: int) -> None:
    """Select row ``row`` (0 = first data row) of an st.dataframe by clicking its row marker,
    as a person does (the table is a canvas: header and rows are 35 px high)."""
    frame_locator.scroll_into_view_if_needed()
    box = frame_locator.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 35 * row + 17)


def table_rows(table):
    """An st.dataframe's rows as dicts, read from the grid's accessible table (the rows drawn),
    once its first row is there."""
    table.locator('td[role="gridcell"]').first.wait_for(state="attached", timeout=30000)
    return table.evaluate("""t => { const heads = [...t.querySelectorAll('th[role=columnheader]')].map(h => h.textContent);
        return [...t.querySelectorAll('tr[role=row]')].filter(r => r.querySelector('td')).map(r =>
            Object.fromEntries([...r.querySelectorAll('td')].map((c, i) => [heads[i], c.textContent]))); }""")


READY = ("() => { const a = document.querySelector('[data-testid=stApp]'); "
         "return a && a.getAttribute('data-test-script-state') === 'notRunning'; }")


def open_page(page, url: str, title: str, timeout: float = 120000) -> None:
    """Load ``url`` and wait until the page titled ``title`` has finished running."""
    page.goto(url)
    page.locator("h2", has_text=title).first.wait_for(timeout=timeout)
    page.wait_for_function(READY, timeout=timeout)
