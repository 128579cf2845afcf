"""The Streamlit explorer: every page with Streamlit's AppTest on real stores, and the served
app in headless Chromium through Playwright."""

from __future__ import annotations

import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from explorer_helpers import REPO, SCRIPT, SHOTS, chromium_path, graph_nodes, launch, start_ui
from helpers import record_pipeline, record_push, stop_process
from lineage import Lineage

APP = str(REPO / "app" / "explorer.py")


@pytest.fixture(autouse=True)
def _store_env_restored(monkeypatch):
    """AppTest runs the explorer in this process and reads the store from LINEAGE_STORE: put the
    variable back as it was after each test."""
    monkeypatch.delenv("LINEAGE_STORE", raising=False)


def app(uri: str, **params) -> AppTest:
    os.environ["LINEAGE_STORE"] = uri
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = str(v)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frames(at) -> list:
    return [d.value for d in at.dataframe]


def graph_elements(at) -> dict:
    """The graph component's nodes (by id) and edges, as the explorer sends them to the browser."""
    import json

    [graph] = at.get("component_instance")
    elements = json.loads(graph.proto.json_args)["elements"]
    nodes = {e["data"]["id"]: e for e in elements if "source" not in e["data"]}
    edges = [(e["data"]["source"], e["data"]["target"]) for e in elements if "source" in e["data"]]
    return {"nodes": nodes, "edges": edges}


def texts(at) -> str:
    return "\n".join([t.value for t in at.text] + [c.value for c in at.code] + [c.value for c in at.caption])


def test_overview_counts_runs_and_serving_state(store):
    at = app(store["uri"], page="overview")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Artifacts"] == str(len(store["lin"].artifacts(limit=None)))
    dfs = frames(at)
    by_type = dict(zip(dfs[0]["type"], dfs[0]["count"]))
    assert by_type["PushedModel"] == 2 and by_type["HubModule"] == 2
    serving = next(d for d in dfs if "endpoint" in d.columns)
    row = serving[serving["endpoint"] == "reviews"].iloc[0]
    assert row["version"] == 1 and "Rollback" in row["by"] and row["run"] == ""
    runs = next(d for d in dfs if "name" in d.columns)
    assert set(runs["name"]) >= {"run-1", "run-2"}
    assert set(runs[runs["name"] != "payload-run"]["state"]) == {"COMPLETE"}


def test_runs_page_lists_steps_with_params(store):
    at = app(store["uri"], page="runs", run="run-2")
    steps = frames(at)[1]
    assert list(steps["type"]) == ["PublishModule", "Ingest", "Train", "Evaluate"]
    train = steps[steps["type"] == "Train"].iloc[0]
    assert "0.05" in train["params"] and train["git_commit"].startswith("commit-run-2")
    at.text_input[2].input("2999-01-01").run()          # started since: nothing yet
    assert any(i.value == "No runs match." for i in at.info)


def test_artifacts_search_by_uri(store):
    at = app(store["uri"], page="artifacts")
    at.text_input[1].input("/models/").run()
    uris = set(frames(at)[0]["uri"])
    assert uris == {"/models/run-1", "/models/run-2"}


def test_artifacts_deep_link_selects_the_node_and_shows_text_as_text(store):
    odd = store["odd"]
    at = app(store["uri"], artifact=odd.id)
    assert at.query_params["page"] == ["artifacts"] or at.query_params.get("page") in ("artifacts", ["artifacts"])
    assert at.selectbox[-1].value == f"a{odd.id}"
    shown = [j.value for j in at.json]
    assert any(SCRIPT in str(v) for v in shown)                   # shown, as JSON text
    assert not any(SCRIPT in m.value for m in at.markdown)        # never as Markdown/HTML
    at = app(store["uri"], page="artifacts", artifact=store["m2"].id)
    assert f"uri: {store['m2'].uri}" in texts(at)


def test_graph_page_draws_the_lineage_and_marks_taints(store):
    m2 = store["m2"]
    at = app(store["uri"], page="graph", node=f"a{m2.id}", direction="upstream", hops=20)
    g = graph_elements(at)
    assert {f"a{m2.id}", f"a{store['raw'].id}", f"a{store['m1'].id}"} <= set(g["nodes"])
    assert "focus" in g["nodes"][f"a{m2.id}"]["classes"]
    assert "tainted" in g["nodes"][f"a{store['module2'].id}"]["classes"]   # the tainted module, in red
    assert "tainted" not in g["nodes"][f"a{store['raw'].id}"]["classes"]
    assert f"tainted: a{store['module2'].id}" in texts(at)
    [graph] = at.get("component_instance")
    legend = [item["label"] for item in json.loads(graph.proto.json_args)["legend"]]   # drawn under the graph
    assert "HubModule" in legend and "CACHED (reused, made nothing)" in legend and "Model" in legend


def test_serving_page_timeline_and_rollback_commands(store):
    at = app(store["uri"], page="serving", model="reviews")
    hist = frames(at)[0]   # newest first
    assert list(hist["action"]) == ["rollback", "push", "push"] and list(hist["version"]) == [1, 2, 1]
    t = texts(at)
    assert "serving now: version 1 (pinned)" in t
    assert "lineage rollback reviews --to 2" in t and "lineage rollback reviews --to 1" not in t
    # version 2 was made with the tainted module: its badge says so, where the command is
    assert any("version 2 was made from tainted data" in e.value for e in at.error)
    [chart] = at.get("vega_lite_chart")
    assert '"quantitative"' in chart.proto.spec    # versions on a numeric axis: 9 sorts below 10
    import json

    axis = json.loads(chart.proto.spec)["encoding"]["y"]["axis"]
    assert axis["values"] == [1, 2]                # ticks at the versions: no 1.5 read as "2" (issue 25, item 8)


def test_compare_page_shows_the_diff(store):
    at = app(store["uri"], page="compare", a=f"a{store['m1'].id}", b=f"a{store['m2'].id}")
    assert any("lr" in set(d["key"]) for d in frames(at) if "key" in d.columns)
    assert at.get("vega_lite_chart")  # metrics per slice


def test_compare_names_artifacts_says_which_steps_one_side_lacks_and_gives_deltas(store):
    """Issue 25, item 5: inputs as refs (not bare hashes), a missing step named instead of nulls,
    numbers with their delta."""
    lin = store["lin"]
    at = app(store["uri"], page="compare", a=f"a{store['m1'].id}", b="reviews:2")
    sections = {h.value: d for h, d in zip(at.subheader, [d for d in frames(at) if "key" in d.columns])}
    push = sections["step Push"]
    assert set(push["A"]) == {"(no Push step on this side)"}     # model 1 itself was never pushed
    train = sections["step Train"]
    lr = train[train["key"] == "param lr"].iloc[0]
    assert (lr["A"], lr["B"], float(lr["delta"])) == ("0.01", "0.05", pytest.approx(0.04))
    module = train[train["key"] == "input module"].iloc[0]
    m2_module = lin.inputs(lin.producers(store["m2"])[0])["module"][0]
    assert module["B"] == f"a{m2_module.id} · {m2_module.fingerprint or m2_module.uri}"   # its ref, then what it is
    assert (f'<a href="?page=artifacts&amp;artifact={m2_module.id}" target="_self">a{m2_module.id}</a>'
            in "".join(m.value for m in at.markdown))   # a link that opens in place


@pytest.mark.slow
def test_compare_shows_each_models_own_metrics(store):
    """Model 2 was evaluated with model 1 as its baseline: the metrics rows are 0.81 and 0.85,
    not 0.85 twice (issue 13, defect 3)."""
    at = app(store["uri"], page="compare", a=f"a{store['m1'].id}", b=f"a{store['m2'].id}")
    [metrics] = [d for d in frames(at) if "key" in d.columns and "accuracy" in set(d["key"])]
    row = metrics[metrics["key"] == "accuracy"].iloc[0]
    assert (float(row["A"]), float(row["B"])) == (pytest.approx(0.81), pytest.approx(0.85))


def test_data_and_compare_pages_on_the_example_pipeline(pipeline):
    lin, home = pipeline
    uri = lin.uri
    examples = lin.find("Examples", "split_names ~ '%train%'")[-1]
    at = app(uri, page="data", dataset=f"a{examples.id}")
    features = next(d for d in frames(at) if "feature" in d.columns)
    row = features[features["feature"] == "cuisine"].iloc[0]
    assert row["vocabulary_size"] == 5 and row["missing"] == 0
    assert len(at.get("vega_lite_chart")) >= 3  # rows per split and per-feature distributions
    assert "statistics: a" in texts(at)
    at = app(uri, page="data")   # with no dataset named, it opens on one that has statistics
    assert "statistics: a" in texts(at) and not at.warning
    v1, v2 = lin.provenance("reviews:1").pushed, lin.provenance("reviews:2").pushed
    at = app(uri, page="compare", a=f"a{v1.id}", b=f"a{v2.id}")
    keys = set().union(*[set(d["key"]) for d in frames(at) if "key" in d.columns])
    assert {"learning_rate", "trainable"} <= keys
    spec = at.get("vega_lite_chart")[0]
    assert spec.proto is not None


def test_empty_store_shows_a_first_run_page(tmp_path):
    uri = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    Lineage.open(uri).close()
    at = app(uri)
    assert "nothing has been recorded yet" in at.info[0].value
    assert "@step" in at.code[0].value


def test_an_endpoint_whose_only_push_failed_serves_nothing(tmp_path):
    from helpers import record_pipeline, record_push

    lin = Lineage.open(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
    _, _, _, model, ev = record_pipeline(lin, tmp_path)
    record_push(lin, model, ev.blessing, 1, at=1000.0, state="FAILED", name="ghost")
    at = app(lin.uri, page="serving", model="ghost")
    assert "serving now: nothing; since" in texts(at) and "version None" not in texts(at)


def test_works_on_the_upgraded_tfx_store(tfx_store, tmp_path):
    from lineage.store import upgrade_store
    from lineage.uris import parse_store_uri

    copy = tmp_path / "tfx.sqlite"
    upgrade_store(parse_store_uri(str(tfx_store)), copy_to=copy)
    at = app(str(copy), page="overview")
    assert dict(zip(frames(at)[0]["type"], frames(at)[0]["count"]))["ExternalArtifact"] == 1
    # TFX's Pusher output is a served model (its destination's folder), not "Nothing has been pushed"
    serving = next(d for d in frames(at) if "endpoint" in d.columns)
    assert list(zip(serving["endpoint"], serving["version"])) == [("chicago_taxi_beam", 1592445164)]
    assert "Pusher" in serving["by"].iloc[0] and serving["run"].iloc[0].startswith("chicago_taxi_beam.")
    at = app(str(copy), page="serving", model="chicago_taxi_beam")
    assert "serving now: version 1592445164; since 2020-06-17" in texts(at)
    assert list(frames(at)[0]["action"]) == ["push"]
    pushed = Lineage.open(str(copy), readonly=True).artifacts("PushedModel")[0]
    at = app(str(copy), page="graph", node=f"a{pushed.id}", direction="upstream", hops=30)
    nodes = graph_elements(at)["nodes"].values()
    stats = [n for n in nodes if n["data"]["label"].startswith("ExampleStatistics")]
    assert stats and stats[0]["data"]["fill"] == "#f5f5f5"   # unknown types: neutral
    # TFX's own run context lists as a run, with its components as steps (issue 13, defect 8)
    at = app(str(copy), page="runs")
    runs = frames(at)[0]
    assert list(runs["name"]) == ["chicago_taxi_beam.2020-06-17T21:49:51.783778"]
    assert list(runs["pipeline"]) == ["chicago_taxi_beam"]
    steps = next(d for d in frames(at) if "source_hash" in d.columns)
    assert len(steps) == 9 and any("Pusher" in t for t in steps["type"])


# ------------------------------------------------------------ a real browser


@pytest.mark.slow
def test_served_explorer_in_headless_chromium(store, beacon):
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    port, proc = start_ui(store["uri"])
    shots = SHOTS
    try:
        with sync_playwright() as p:
            browser = launch(p, chromium)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            m2 = store["m2"]
            page.goto(f"http://127.0.0.1:{port}/?page=graph&node=a{m2.id}&direction=upstream&hops=20")
            labels = [n["label"] for n in graph_nodes(page)]
            assert f"Model a{m2.id}" in labels and f"Dataset a{store['raw'].id}" in labels
            assert any(label.startswith("HubModule") for label in labels)
            page.screenshot(path=str(shots / "lineage-graph.png"), full_page=True)

            page.goto(f"http://127.0.0.1:{port}/?page=serving&model=reviews")
            page.get_by_text("serving now: version 1 (pinned)").wait_for(timeout=60000)
            page.get_by_text("lineage rollback reviews --to 2").wait_for(timeout=30000)
            page.screenshot(path=str(shots / "serving.png"), full_page=True)

            page.goto(f"http://127.0.0.1:{port}/?artifact={store['odd'].id}")
            page.get_by_text(SCRIPT, exact=False).filter(visible=True).first.wait_for(timeout=60000)
            assert dialogs == []                 # the <script> was text, not code
            page.screenshot(path=str(shots / "artifact-with-script-text.png"), full_page=True)

            # A failed step's error message with Markdown and HTML in it: shown as its characters.
            page.goto(f"http://127.0.0.1:{port}/?page=runs&run=payload-run")
            page.get_by_text("**bold text**", exact=False).filter(visible=True).first.wait_for(timeout=60000)
            page.wait_for_timeout(1500)  # give a renderer time to fetch, if it were going to
            assert page.get_by_text("![md image]", exact=False).count() >= 1
            links = page.locator(f'a[href*="127.0.0.1:{beacon.port}"]')
            assert links.count() == 0, [links.nth(i).evaluate("e => e.parentElement.outerHTML.slice(0, 400)")
                                        for i in range(links.count())]
            assert page.locator("strong", has_text="bold text").count() == 0
            assert page.locator(f'img[src*="127.0.0.1:{beacon.port}"]').count() == 0
            assert beacon.requests == []         # no image was fetched
            page.screenshot(path=str(shots / "runs-error-as-text.png"), full_page=True)
            browser.close()
        for name in ("lineage-graph.png", "serving.png", "artifact-with-script-text.png", "runs-error-as-text.png"):
            assert (shots / name).stat().st_size > 10_000
    finally:
        stop_process(proc)


def test_taints_show_on_overview_serving_and_artifact_pages(tmp_path):
    """A served version built on tainted data warns on every page that shows it (issue 13, defect 6)."""
    lin = Lineage.open(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
    raw, module, _, model, ev = record_pipeline(lin, tmp_path, run_name="r1")
    record_push(lin, model, ev.blessing, 1, at=1000.0)
    lin.taint(module, "trained on the test set")
    expected = f"a{module.id}: trained on the test set"
    at = app(lin.uri, page="overview")
    assert any("reviews serves version 1, made from tainted data" in e.value for e in at.error)
    assert expected in texts(at)
    at = app(lin.uri, page="serving", model="reviews")
    assert any("version 1 (serving now) was made from tainted data" in e.value for e in at.error)
    at = app(lin.uri, page="artifacts", artifact=model.id)
    assert any("tainted" in e.value for e in at.error) and expected in texts(at)
    at = app(lin.uri, page="artifacts", artifact=raw.id)
    assert not at.error                                     # upstream of the taint: clean
    lin.close()


def test_provenance_and_impact_reports_on_screen(store):
    """`lineage provenance` and `lineage impact` as pages (issue 13, "answers on screen")."""
    module2 = store["module2"]
    at = app(store["uri"], page="provenance", node="reviews:2")
    t = texts(at)
    assert f"provenance of a{store['p2'].id} PushedModel" in t and "served as: reviews version 2" in t
    assert any("tainted" in e.value for e in at.error)                     # made with the tainted module
    assert f"a{module2.id}: vocabulary leaked from the test set" in t
    tables = frames(at)
    assert any(f"a{store['raw'].id}" in set(d["ref"]) for d in tables if "ref" in d.columns)   # its data
    assert any("0.85" in str(j.value) for j in at.json)                     # its own metrics
    at = app(store["uri"], page="impact", node=f"a{module2.id}")
    pushed = next(d for d in frames(at) if "serving now" in d.columns)
    assert list(zip(pushed["model"], pushed["version"], pushed["serving now"])) == [("reviews", 2, "no")]
    assert [m.value for m in at.metric][:4] == ["1", "1", "1", "0"]
    at = app(store["uri"], page="impact", node="a99999")
    assert any("Cannot show the impact of 'a99999'" in e.value for e in at.error)


def test_panel_tables_escape_what_the_store_holds():
    """The graph's side panel draws its tables as Markdown: a cell's pipes, links and newlines
    stay text and never break the table."""
    from lineage.app.data import md_table

    text = md_table([{"id": 7, "name": "a|b [x](http://127.0.0.1:9/) **bold**\nnext"}, {"id": 8, "name": None}])
    lines = text.splitlines()
    assert lines[0] == "| id | name |" and lines[1] == "|---|---|" and len(lines) == 4
    # a ':' before '//' gets an invisible word joiner: GFM links a bare URL even when escaped
    assert "a\\|b \\[x\\]\\(http\u2060\\:\\/\\/127\\.0\\.0\\.1\\:9\\/\\) \\*\\*bold\\*\\* next" in lines[2]
    assert lines[3] == "| 8 |  |"
