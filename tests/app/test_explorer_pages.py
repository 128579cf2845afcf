"""Every explorer page in headless Chromium, on the example pipeline's store and on a synthetic
store of about 100k executions: each finishes without an exception, shows what it is about, and
is saved as a screenshot (test-output/screenshots/example-<page>.png and large-<page>.png)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from explorer_helpers import READY, SHOTS, graph_nodes, open_page, served_browser, table_rows
from lineage import Lineage
from lineage.synthetic import generate

pytestmark = pytest.mark.slow

TITLES = {"overview": "Overview", "runs": "Runs", "experiments": "Experiments", "artifacts": "Artifacts", "data": "Data", "graph": "Lineage graph",
          "provenance": "What produced this", "impact": "What does this affect", "serving": "Serving",
          "compare": "Compare"}


@pytest.fixture(scope="session")
def large_store(tmp_path_factory):
    """12,500 synthetic runs (about 100k executions, 280k artifacts), 1,000 of them on one hot
    dataset; on /dev/shm when there is one (the store is written in about 1.5 minutes there)."""
    shm = Path("/dev/shm")
    base = Path(tmp_path_factory.mktemp("large", numbered=True)) if not shm.is_dir() else \
        shm / f"lineage-test-{os.getpid()}"
    base.mkdir(exist_ok=True)
    lin = Lineage.open(f"sqlite:///{base / 'metadata.sqlite'}")
    info = generate(lin, runs=12_500, hot_runs=1_000, datasets=8, endpoints=20, seed=1)
    lin.close()
    yield f"sqlite:///{base / 'metadata.sqlite'}", info
    for f in base.glob("*"):
        f.unlink()
    base.rmdir()


def _browse(uri, shots, checks):
    with served_browser(uri) as (page, base):
        for name, (query, check) in checks.items():
            open_page(page, f"{base}/?{query}", TITLES[name.split("-")[0]])
            if "page=graph" in query:
                graph_nodes(page)
            assert page.locator('[data-testid="stException"]').count() == 0, name
            check(page)
            path = SHOTS / f"{shots}-{name}.png"
            # tables are drawn on a canvas once measured: wait for them, so the picture shows them
            page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stDataFrame]')]"
                                   ".every(d => d.getBoundingClientRect().width > 150)", timeout=30000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 10_000


def _text(text):
    return lambda page: page.get_by_text(text, exact=False).filter(visible=True).first.wait_for(timeout=30000)


def _metric(label, value):
    def check(page):
        metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
        metric.wait_for(timeout=30000)
        assert metric.locator('[data-testid="stMetricValue"]').text_content().strip() == str(value), label
    return check


def test_every_page_on_the_example_pipeline_store(pipeline):
    lin, _ = pipeline
    executions = len(lin.executions(limit=None))
    v2 = lin.provenance("reviews:2")
    checks = {
        "overview": ("page=overview", _metric("Executions", executions)),
        "runs": ("page=runs", _text("Steps, in order")),
        "experiments": ("page=experiments", _text("Metric curves")),
        "artifacts": ("page=artifacts", _text("fingerprint:")),
        "data": ("page=data", _text("statistics: a")),
        "graph": (f"page=graph&node=a{v2.pushed.id}&direction=upstream&hops=12",
                  lambda page: [n for n in graph_nodes(page) if n["label"].startswith("HubModule")] or
                  pytest.fail("no Hub module upstream of reviews:2 in the graph")),
        "provenance": ("page=provenance&node=reviews%3A2", _text(f"provenance of a{v2.pushed.id}")),
        "impact": (f"page=impact&node=a{v2.datasets[0].id}", _metric("Pushed versions", 3)),
        "serving": ("page=serving&model=reviews", _text("serving now: version 2")),
        "compare": ("page=compare", _text("metrics")),
    }
    _browse(lin.uri, "example", checks)


def test_every_page_on_a_100k_execution_store(large_store):
    uri, info = large_store
    hot = f"a{info.hot_dataset}"

    def serving_at_scale(page):
        """Issue 13, defect 5: newest first on a numeric axis, one rollback command, reasons shown."""
        _text("serving now: version")(page)
        commands = page.locator("code", has_text="lineage rollback ")
        commands.first.wait_for(timeout=30000)
        page.wait_for_function(READY, timeout=60000)
        assert commands.count() == 1, commands.count()
        table = page.locator('[data-testid="stDataFrame"]').filter(
            has=page.locator('th[role="columnheader"]', has_text="action")).first
        rows = table_rows(table)
        versions = [int(r["version"]) for r in rows if r["action"] == "push"]
        assert versions == sorted(versions, reverse=True) and len(versions) > 10

    def hot_graph(page):
        nodes = graph_nodes(page)
        labels = {n["label"] for n in nodes}
        assert "x1000 Ingest" in labels and len(nodes) < 60, sorted(labels)

    checks = {
        "overview": ("page=overview", _metric("Executions", info.executions)),
        "runs": ("page=runs", _text("Steps, in order")),
        "experiments": ("page=experiments&experiment=baseline", _text(" columns. Select runs")),
        "artifacts": ("page=artifacts", _text("fingerprint:")),
        "data": ("page=data", lambda page: None),
        "graph": ("page=graph", lambda page: None),
        "graph-hot": (f"page=graph&node={hot}&direction=downstream&hops=40", hot_graph),
        "provenance": ("page=provenance", _text("provenance of a")),
        "impact": ("page=impact", _text("Serving now")),
        "impact-hot": (f"page=impact&node={hot}", _metric("Models", 1000)),
        "serving": (f"page=serving&model={info.endpoints[0]}", serving_at_scale),
        "compare": ("page=compare", _text("Metric per slice")),
    }
    _browse(uri, "large", checks)


def test_a_tfx_store_in_the_browser(tfx_store, tmp_path):
    """Issue 13, defect 8: TFX's run is a run, its Pusher output a served model, its long type
    names shortened."""
    from lineage.store import upgrade_store
    from lineage.uris import parse_store_uri

    copy = tmp_path / "tfx.sqlite"
    upgrade_store(parse_store_uri(str(tfx_store)), copy_to=copy)

    def overview(page):
        table = page.locator('[data-testid="stDataFrame"]').filter(
            has=page.locator('th[role="columnheader"]', has_text="endpoint")).first
        assert [(r["endpoint"], r["version"]) for r in table_rows(table)] == [("chicago_taxi_beam", "1592445164")]

    def runs(page):
        table = page.locator('[data-testid="stDataFrame"]').filter(
            has=page.locator('th[role="columnheader"]', has_text="source_hash")).first
        types = [r["type"] for r in table_rows(table)]
        assert "Pusher" in types and not any(t.startswith("tfx.") for t in types)

    checks = {"overview": ("page=overview", overview), "runs": ("page=runs", runs),
              "experiments": ("page=experiments", _text("1 run, ")),
              "serving": ("page=serving&model=chicago_taxi_beam", _text("serving now: version 1592445164")),
              "graph": ("page=graph&node=chicago_taxi_beam&direction=upstream&hops=30",
                        lambda page: [n for n in graph_nodes(page) if n["label"].startswith("Pusher")] or
                        pytest.fail("no Pusher step upstream of the served TFX model"))}
    _browse(str(copy), "tfx", checks)
