"""Issue 25, item 8, the details a person trips on: Overview's tables show every row, one time
format on every page (local time with its zone), the Type box wide enough for a type's name, the
impact report as CSV. Headless Chromium against a served `lineage ui` on the shared store."""

from __future__ import annotations

import csv
import io
import re

import pytest

from explorer_helpers import open_page, table_rows

pytestmark = pytest.mark.slow

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{2,5}$")


def test_overview_shows_every_artifact_type(browser_page, store):
    page, base = browser_page
    open_page(page, f"{base}/?page=overview", "Overview")
    counts = store["lin"].counts()["artifact"]
    table = page.locator('[data-testid="stDataFrame"]').filter(
        has=page.locator('th[role="columnheader"]', has_text="type")).first
    assert sorted(r["type"] for r in table_rows(table)) == sorted(counts)    # none cut off


def test_one_time_format_on_every_page(browser_page, store):
    page, base = browser_page
    open_page(page, f"{base}/?page=runs", "Runs")
    table = page.locator('[data-testid="stDataFrame"]').filter(
        has=page.locator('th[role="columnheader"]', has_text="started")).first
    assert all(TIME.match(r["started"]) for r in table_rows(table))
    open_page(page, f"{base}/?page=provenance&node=reviews:2", "What produced this")
    trained = page.get_by_text("trained: ", exact=False).first.inner_text()
    assert TIME.match(trained.split("trained: ", 1)[1].split(" by ")[0]), trained
    pushed = page.get_by_text("served as: ", exact=False).first.inner_text()
    assert TIME.match(pushed.split("(pushed ", 1)[1].rstrip(")")), pushed


def test_the_type_box_fits_a_type_name_and_the_impact_report_downloads(browser_page, store, tmp_path):
    page, base = browser_page
    open_page(page, f"{base}/?page=artifacts&type=ModelEvaluation", "Artifacts")
    box = page.locator('[data-testid="stSelectbox"]').first.bounding_box()
    assert box["width"] >= 200
    open_page(page, f"{base}/?page=impact&node=a{store['raw'].id}", "What does this affect")
    with page.expect_download() as got:
        page.get_by_role("button", name="Download the impact report (CSV)").click()
    path = tmp_path / "impact.csv"
    got.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    pushed = [r for r in rows if r["section"] == "pushed"]
    assert {r["version"] for r in pushed} == {"1", "2"} and pushed[0]["serving now"] == "SERVING NOW"
