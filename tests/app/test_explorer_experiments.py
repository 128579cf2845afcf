"""The Experiments page and step logs in the explorer, in headless Chromium against a served
`lineage ui`: the runs table with parameter and metric columns, a filter from the URL, curves of
the runs chosen in the table, parallel coordinates, and a failed step's log with its traceback."""

from __future__ import annotations

import re

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
    caption = page.get_by_text("sweep-", exact=False).filter(has_text="newest three")
    caption.first.wait_for(timeout=30000)
    select_row(page, _table(page), 1)   # newest first: sweep-3, sweep-2
    page.locator('[data-testid="stCaptionContainer"]', has_text=re.compile(r"^\s*sweep-2\s*$")).first.wait_for(
        timeout=30000)
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

