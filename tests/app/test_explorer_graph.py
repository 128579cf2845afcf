"""The interactive lineage graph in headless Chromium (issue 13, defect 4 and "a graph you can use"):
sibling fan-out drawn as one node, a click on a group draws its members, a click on a node focuses
it (side panel and URL follow, the page settles), and FAILED / CACHED / tainted are marked."""

from __future__ import annotations

import pytest

from explorer_helpers import SHOTS, click_graph_node, graph_frame, graph_nodes, select_row, served_browser, table_rows
from lineage import Lineage, record
from lineage.synthetic import generate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fanned(tmp_path_factory):
    """A synthetic store whose hot dataset feeds 30 runs, plus a failed and a cached step on it."""
    lin = Lineage.open(f"sqlite:///{tmp_path_factory.mktemp('graph')}/metadata.sqlite")
    info = generate(lin, runs=45, hot_runs=30, datasets=3, modules=2, endpoints=2, seed=5)
    hot = lin.node(f"a{info.hot_dataset}")
    failed = record("Ingest", inputs={"raw": hot}, state="FAILED", store=lin).execution
    cached = record("Ingest", inputs={"raw": hot}, state="CACHED", store=lin).execution
    lin.taint(lin.node(f"a{info.modules[0]}"), "tokenizer bug")
    from lineage.types import Dataset

    wide = record("Upload", outputs={"data": Dataset.at(tmp_path_factory.mktemp("wide") / "wide.csv")}, store=lin).data
    for _ in range(85):    # more readers than one click draws (40)
        record("Score", inputs={"data": wide}, store=lin)
    yield {"uri": lin.uri, "info": info, "failed": failed, "cached": cached, "lin": lin, "wide": wide}
    lin.close()


@pytest.fixture(scope="module")
def ui(fanned):
    with served_browser(fanned["uri"]) as (page, base):
        yield page, base


def _by_label(nodes, label):
    return [n for n in nodes if n["label"] == label]


def test_fan_out_is_one_node_that_a_click_expands_and_a_node_click_focuses(ui, fanned):
    page, base = ui
    hot = f"a{fanned['info'].hot_dataset}"
    page.goto(f"{base}/?page=graph&node={hot}&direction=downstream&hops=3")
    nodes = graph_nodes(page)
    [group] = _by_label(nodes, "x30 Ingest")              # 30 runs read it: one node, not 30
    assert "group" in group["classes"]
    [focus] = [n for n in nodes if "focus" in n["classes"]]
    assert focus["id"] == hot and focus["visible"]
    failed, cached = f"e{fanned['failed'].id}", f"e{fanned['cached'].id}"
    marks = {n["id"]: n["classes"] for n in nodes}
    assert "failed" in marks[failed] and "cached" in marks[cached]   # never merged into the group
    assert len(nodes) < 40
    page.screenshot(path=str(SHOTS / "graph-grouped.png"))

    click_graph_node(page, group["id"])                      # a real click on the canvas
    page.wait_for_function("() => true")
    frame_nodes = None
    for _ in range(60):
        frame_nodes = graph_nodes(page)
        if not _by_label(frame_nodes, "x30 Ingest"):
            break
        page.wait_for_timeout(500)
    ingests = [n for n in frame_nodes if n["label"].startswith("Ingest e") and "group" not in n["classes"]]
    assert len(ingests) == 32 and not any(n["label"].endswith("Ingest") for n in frame_nodes if "group" in n["classes"])
    page.screenshot(path=str(SHOTS / "graph-group-expanded.png"))

    target = next(n for n in ingests if n["id"] not in (failed, cached))["id"]
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    click_graph_node(page, target)
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('node') === '{target}'", timeout=30000)
    page.get_by_text(f"Execution {target[1:]}", exact=True).wait_for(timeout=30000)   # the side panel follows
    nodes = graph_nodes(page)
    assert [n["id"] for n in nodes if "focus" in n["classes"]] == [target]
    page.wait_for_timeout(1500)
    settled = len(frames)
    page.wait_for_timeout(3000)
    assert len(frames) - settled < 5, f"{len(frames) - settled} websocket messages in 3 s after a click"
    page.screenshot(path=str(SHOTS / "graph-focus-clicked.png"))


def test_taint_marks_everything_downstream_of_the_tainted_module(ui, fanned):
    page, base = ui
    module = f"a{fanned['info'].modules[0]}"
    page.goto(f"{base}/?page=graph&node={module}&direction=downstream&hops=2")
    nodes = graph_nodes(page)
    assert nodes and all("tainted" in n["classes"] for n in nodes)
    assert any(n["label"].startswith("x") and "Train" in n["label"] for n in nodes)
    frame = page.frame_locator('iframe[title*="lineage_graph"]')
    frame.get_by_text("tainted, or downstream of a taint").wait_for(timeout=30000)   # the legend, under the graph
    page.get_by_text(f"tainted: {module}", exact=False).first.wait_for(timeout=30000)


def test_a_serving_history_row_picks_the_version_to_go_back_to(ui, fanned):
    page, base = ui
    name = fanned["info"].endpoints[0]
    page.goto(f"{base}/?page=serving&model={name}")
    table = page.locator('[data-testid="stDataFrame"]').filter(
        has=page.locator('th[role="columnheader"]', has_text="action")).first
    table.wait_for(timeout=60000)
    rows = table_rows(table)
    pushes = [int(r["version"]) for r in rows if r["action"] == "push"]
    assert len(pushes) >= 3 and pushes == sorted(pushes, reverse=True)   # newest first
    default = page.locator("code", has_text=f"lineage rollback {name} --to ").first.text_content()
    oldest = pushes[-1]
    assert default.strip().endswith(f"--to {pushes[1]}")   # the newest version not serving
    select_row(page, table, [i for i, r in enumerate(rows) if r["action"] == "push"][-1])
    page.locator("code", has_text=f"lineage rollback {name} --to {oldest}").first.wait_for(timeout=30000)
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('back') === '{oldest}'", timeout=30000)


def test_a_served_version_built_on_the_tainted_module_warns_on_overview(ui, fanned):
    """Issue 13, defect 6, in the browser: the taint shows where the serving state is shown."""
    page, base = ui
    lin = fanned["lin"]
    now = lin.serving_now(fanned["info"].endpoints)
    hit = [name for name, v in now.items() if v is not None and lin.taints_of(f"{name}:{v}")]
    assert hit, "the fixture should serve at least one version made with the tainted module"
    page.goto(f"{base}/?page=overview")
    for name in hit:
        page.locator('[data-testid="stAlert"]', has_text=f"{name} serves version {now[name]}, made from tainted data") \
            .first.wait_for(timeout=60000)


def test_each_click_on_a_group_draws_the_next_members(ui, fanned):
    """A group of 85 draws 40 members per click: the same group node clicked twice (the same
    value twice from the component) draws 80, the rest stays grouped."""
    page, base = ui
    page.goto(f"{base}/?page=graph&node=a{fanned['wide'].id}&direction=downstream&hops=1")
    [group] = _by_label(graph_nodes(page), "x85 Score")
    for shown, rest in ((40, 45), (80, 5)):
        click_graph_node(page, group["id"])
        for _ in range(60):
            nodes = graph_nodes(page)
            if _by_label(nodes, f"x{rest} more Score"):
                break
            page.wait_for_timeout(500)
        singles = [n for n in nodes if n["label"].startswith("Score e")]
        assert len(singles) == shown and [n["id"] for n in _by_label(nodes, f"x{rest} more Score")] == [group["id"]]


def _canvas(page):
    frame = graph_frame(page)
    return frame, frame.evaluate("() => { const b = document.getElementById('cy'); return {w: b.clientWidth, h: b.clientHeight}; }")


def _all_inside(page):
    _, size = _canvas(page)
    nodes = graph_nodes(page)
    outside = [n["label"] for n in nodes if not (0 <= n["x"] <= size["w"] and 0 <= n["y"] <= size["h"])]
    return nodes, outside


@pytest.mark.parametrize("view", ["both&hops=8", "downstream&hops=40", "upstream&hops=8"])
def test_every_node_of_a_drawing_is_inside_the_canvas(ui, fanned, view):
    """Issue 25, item 1: 12 of 20 nodes were off the canvas to the left, the PushedModel column
    behind the side panel; every drawing now opens fitted to the canvas it has."""
    page, base = ui
    info = fanned["info"]
    for focus in (f"a{info.hot_dataset}", f"a{info.models[-1]}", f"a{info.pushed[0]}"):
        page.goto(f"{base}/?page=graph&node={focus}&direction={view}")
        nodes, outside = _all_inside(page)
        assert nodes and not outside, (focus, view, outside)


def test_an_opened_group_is_a_grid_inside_the_canvas_and_the_buttons_work(ui, fanned, tmp_path):
    page, base = ui
    page.goto(f"{base}/?page=graph&node=a{fanned['wide'].id}&direction=downstream&hops=1")
    [group] = _by_label(graph_nodes(page), "x85 Score")
    click_graph_node(page, group["id"])
    for _ in range(60):
        if _by_label(graph_nodes(page), "x45 more Score"):
            break
        page.wait_for_timeout(500)
    nodes, outside = _all_inside(page)
    singles = [n for n in nodes if n["label"].startswith("Score e")]
    assert len(singles) == 40 and not outside
    assert len({round(n["x"]) for n in singles}) >= 4          # a grid, not one column 40 tall
    frame, _ = _canvas(page)
    zoom = frame.evaluate("() => [...document.querySelectorAll('div')].find(d => d._cyreg && d._cyreg.cy)._cyreg.cy.zoom()")
    frame.locator("#zoom-in").click()
    frame.locator("#zoom-in").click()
    bigger = frame.evaluate("() => [...document.querySelectorAll('div')].find(d => d._cyreg && d._cyreg.cy)._cyreg.cy.zoom()")
    assert bigger > zoom * 1.5
    frame.locator("#fit").click()
    assert not _all_inside(page)[1]
    with page.expect_download() as got:
        frame.locator("#png").click()
    path = tmp_path / "graph.png"
    got.value.save_as(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    with page.expect_download() as got:
        frame.locator("#svg").click()
    path = tmp_path / "graph.svg"
    got.value.save_as(path)
    _check_svg(path, graph_nodes(page), frame)


def _check_svg(path, nodes, frame):
    """The SVG is the drawing: one box per node with its label's text, one curve and arrowhead
    per edge, from its source node to its target."""
    import xml.etree.ElementTree as ET

    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and float(root.get("width")) > 300
    drawn = {g.get("data-id"): g for g in root.iterfind(".//s:g[@class='node']", ns)}
    assert set(drawn) == {n["id"] for n in nodes}
    for n in nodes:
        text = " ".join(t.text or "" for t in drawn[n["id"]].iterfind(".//s:tspan", ns))
        assert text.split() == n["label"].split(), (text, n["label"])
        assert drawn[n["id"]].find("s:rect", ns).get("fill").startswith("rgb")
    edges = frame.evaluate("() => [...document.querySelectorAll('div')].find(d => d._cyreg && d._cyreg.cy)"
                           "._cyreg.cy.edges().map(e => [e.source().id(), e.target().id()])")
    got = [(g.get("data-source"), g.get("data-target")) for g in root.iterfind(".//s:g[@class='edge']", ns)]
    assert sorted(got) == sorted(map(tuple, edges)) and got
    assert all(g.find("s:path", ns) is not None and g.find("s:polygon", ns) is not None
               for g in root.iterfind(".//s:g[@class='edge']", ns))


def test_the_graph_follows_a_dark_theme(ui, fanned):
    """Issue 25, item 8: the graph stayed a white box in dark mode."""
    page, base = ui
    page.emulate_media(color_scheme="dark")
    try:
        page.goto(f"{base}/?page=graph&node=a{fanned['info'].hot_dataset}&direction=downstream&hops=2")
        frame = graph_frame(page)
        colour = frame.evaluate("() => getComputedStyle(document.body).backgroundColor")
        r, g, b = [int(x) for x in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3]]
        assert r + g + b < 3 * 80, colour          # dark, not white
    finally:
        page.emulate_media(color_scheme="light")
