"""The Experiments page and step logs in the explorer, in headless Chromium against a served
`lineage ui`: the runs table with parameter and metric columns, a filter from the URL, curves of
the runs chosen in the table, parallel coordinates, and a failed step's log with its traceback."""

from __future__ import annotations

import pytest

import lineage
from explorer_helpers import SHOTS, open_page, select_row, served_browser, table_rows
from lineage import Lineage, log_metric, run, step

pytestmark = pytest.mark.slow

LRS = (0.01, 0.03, 0.1, 0.3)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("experiments")
    lin = Lineage.open(f"sqlite:///{tmp / 'metadata.sqlite'}", artifact_root=str(tmp / "artifacts"))

    @step(type="Fit")
    def fit(lr: float, epochs: int = 5):
        for e in range(1, epochs + 1):
            log_metric("loss", 1 / (1 + lr * 10 * e), step=e)
            log_metric("accuracy", 1 - 1 / (2 + lr * 10 * e), step=e)

    @step(type="Check")
    def check(lr: float):
        print(f"checking lr={lr}")
        if lr > 0.2:
            raise RuntimeError(f"lr {lr} diverged")

    with lineage.use(lin):
        for i, lr in enumerate(LRS):
            try:
                with run("sweep", experiment="lr-sweep", name=f"sweep-{i}"):
                    fit(lr)
                    check(lr)
            except RuntimeError:
                pass
    yield {"uri": lin.uri, "lin": lin}
    lin.close()


@pytest.fixture(scope="module")
def browser_page(sweep):
    with served_browser(sweep["uri"]) as (page, base):
        yield page, base


def _table(page):
    return page.locator('[data-testid="stDataFrame"]').first


def test_the_runs_table_shows_parameters_and_final_metrics(browser_page, sweep):
    page, base = browser_page
    open_page(page, f"{base}/?page=experiments", "Experiments")
    rows = {r["run"]: r for r in table_rows(_table(page))}
    assert set(rows) == {f"sweep-{i}" for i in range(len(LRS))}
    frame = sweep["lin"].runs_frame()
    drawn = set(next(iter(rows.values())))      # the grid draws the columns in view
    assert {"run", "state", "params.Check.lr", "params.Fit.lr"} <= drawn, drawn
    for want in frame.to_dict(orient="records"):
        got = rows[want["run"]]
        assert float(got["params.Fit.lr"]) == want["params.Fit.lr"]
        for col in {"metrics.loss", "metrics.accuracy"} & drawn:
            assert float(got[col]) == pytest.approx(want[col], rel=1e-4)   # as drawn
        assert got["state"] == want["state"]
    assert {rows["sweep-3"]["state"], rows["sweep-0"]["state"]} == {"FAILED", "COMPLETE"}
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    charts.nth(1).wait_for(timeout=30000)           # the curves, and the parallel coordinates
    assert charts.count() == 2
    page.screenshot(path=str(SHOTS / "experiments.png"), full_page=True)


def test_a_filter_in_the_link_and_runs_chosen_in_the_table(browser_page):
    page, base = browser_page
    open_page(page, f"{base}/?page=experiments&where=params.Fit.lr%20%3E%3D%200.1", "Experiments")
    rows = table_rows(_table(page))
    assert sorted(r["run"] for r in rows) == ["sweep-2", "sweep-3"]
    # no run chosen: the newest ones are drawn; choosing one in the table draws that one
    page.wait_for_function("() => new URLSearchParams(location.search).get('runs') === 'sweep-3,sweep-2'",
                           timeout=30000)
    select_row(page, _table(page), 1)   # newest first: sweep-3, sweep-2
    page.wait_for_function("() => new URLSearchParams(location.search).get('runs') === 'sweep-2'", timeout=30000)
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=30000)
    bad = page.goto(f"{base}/?page=experiments&where=lr%20%3E%20high%20and")
    assert bad is not None
    page.get_by_text("Cannot list these runs", exact=False).first.wait_for(timeout=60000)


def test_a_failed_step_shows_its_log_with_the_traceback(browser_page, sweep):
    page, base = browser_page
    open_page(page, f"{base}/?page=runs&run=sweep-3", "Runs")
    page.get_by_label("Step", exact=True).first.wait_for(timeout=30000)
    failed = [e for e in sweep["lin"].executions("Check") if e.state == "FAILED"]
    assert len(failed) == 1
    page.get_by_text("This step failed", exact=False).first.wait_for(timeout=60000)
    page.get_by_text("Log: what the step printed", exact=False).first.wait_for(timeout=60000)
    code = page.locator('[data-testid="stCode"]', has_text="Traceback (most recent call last)")
    code.first.wait_for(timeout=30000)
    text = code.first.inner_text()
    assert "checking lr=0.3" in text and "RuntimeError: lr 0.3 diverged" in text
    page.screenshot(path=str(SHOTS / "runs-failed-step-log.png"), full_page=True)



def _columns(page):
    table = _table(page)
    table.locator('td[role="gridcell"]').first.wait_for(state="attached", timeout=30000)
    return table.evaluate("t => [...t.querySelectorAll('th[role=columnheader]')].map(h => h.textContent)")


def test_the_table_opens_on_what_runs_are_compared_on_and_the_url_holds_the_view(browser_page):
    """Issue 25, item 4: run, state, start, duration, the metrics, then the parameters that vary
    (Fit.epochs is 5 in every run: left out, in the column chooser); sort, columns and the runs
    drawn are in the URL and come back from it."""
    page, base = browser_page
    open_page(page, f"{base}/?page=experiments", "Experiments")
    cols = _columns(page)
    assert cols[:4] == ["run", "state", "start", "duration_s"]
    assert set(cols[4:6]) == {"metrics.accuracy", "metrics.loss"}
    assert "params.Fit.lr" in cols and "params.Fit.epochs" not in cols
    # a shared link: sorted by accuracy, highest first, two runs drawn, chosen columns
    open_page(page, f"{base}/?page=experiments&sort=metrics.accuracy&desc=1&runs=sweep-0,sweep-1"
                    f"&cols=run,metrics.accuracy,params.Fit.epochs", "Experiments")
    assert _columns(page) == ["run", "metrics.accuracy", "params.Fit.epochs"]
    rows = table_rows(_table(page))
    accuracies = [float(r["metrics.accuracy"]) for r in rows]
    assert accuracies == sorted(accuracies, reverse=True) and rows[0]["run"] == "sweep-3"
    chosen = page.locator('[data-testid="stMultiSelect"]').nth(1).inner_text()
    assert "sweep-0" in chosen and "sweep-1" in chosen and "sweep-2" not in chosen
    from urllib.parse import parse_qs, urlparse

    params = {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}
    assert params["sort"] == "metrics.accuracy" and params["runs"] == "sweep-0,sweep-1"


def test_parallel_coordinates_name_their_axes_and_show_each_ones_range(browser_page):
    page, base = browser_page
    open_page(page, f"{base}/?page=experiments", "Experiments")
    chart = page.locator('[data-testid="stVegaLiteChart"]').nth(1)
    chart.wait_for(timeout=30000)
    chart.locator("svg text").first.wait_for(state="attached", timeout=30000)
    texts = chart.evaluate("c => [...c.querySelectorAll('svg text')].map(t => t.textContent)")
    assert "Fit lr" in texts and "accuracy" in texts          # the step and parameter, the metric
    assert "0.3" in texts and "0.01" in texts                   # the lr axis's highest and lowest values
