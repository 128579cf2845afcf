"""Issue 25, item 6: blessing, taint and "serving now" travel, as the same badges on every page
(Overview's serving table, Provenance, Serving's history, Impact's rows, serving now sorted first),
and provenance names the warm-start base model and which Hub module each training step read.
Headless Chromium against a served `lineage ui` on the shared explorer store: version 1 (blessed)
serves after a rollback; version 2 was trained from version 1 on a module since tainted."""

from __future__ import annotations

import pytest

from explorer_helpers import SHOTS, open_page, table_rows

pytestmark = pytest.mark.slow


def _table_with(page, text):
    table = page.locator('[data-testid="stDataFrame"]').filter(has=page.locator('[role="gridcell"]', has_text=text)).first
    return table_rows(table)


def test_overview_serving_table_carries_the_serving_versions_badges(browser_page):
    page, base = browser_page
    open_page(page, f"{base}/?page=overview", "Overview")
    [row] = [r for r in _table_with(page, "reviews") if r.get("endpoint") == "reviews"]
    assert row["version"] == "1" and row["checks"] == "✅ blessed"


def test_provenance_shows_the_verdict_as_a_badge_the_warm_start_and_each_trainings_module(browser_page, store):
    page, base = browser_page
    open_page(page, f"{base}/?page=provenance&node=reviews:2", "What produced this")
    page.get_by_text("⛔ tainted · ✅ blessed", exact=False).first.wait_for(timeout=30000)
    m1, m2 = store["m1"], store["m2"]
    page.get_by_text(f"warm start: a{m1.id} Model, served as reviews:1 (the training started from it)",
                     exact=True).first.wait_for(timeout=30000)
    lin = store["lin"]
    train2 = lin.producers(m2)[0]
    cells = page.locator("table td").all_inner_texts()
    assert f"a{m1.id} Model, a{store['module2'].id} me/text/2" in cells
    assert f"e{train2.id}" in cells
    assert "blessed: True" not in page.inner_text("body")   # no longer the verdict as plain text
    page.screenshot(path=str(SHOTS / "provenance-badges.png"), full_page=True)


def test_serving_history_has_each_versions_badges_and_metric(browser_page):
    page, base = browser_page
    open_page(page, f"{base}/?page=serving&model=reviews", "Serving")
    rows = _table_with(page, "push")
    pushes = {r["version"]: r for r in rows if r["action"] == "push"}
    assert pushes["2"]["checks"] == "⛔ tainted · ✅ blessed" and pushes["1"]["checks"] == "✅ blessed"
    assert float(pushes["1"]["accuracy"]) == pytest.approx(0.81) and float(pushes["2"]["accuracy"]) == pytest.approx(0.85)


def test_impact_lists_what_serves_now_first_with_its_badges(browser_page, store):
    page, base = browser_page
    open_page(page, f"{base}/?page=impact&node=a{store['raw'].id}", "What does this affect")
    rows = _table_with(page, "SERVING NOW")
    assert rows[0]["serving now"] == "SERVING NOW" and rows[0]["version"] == "1"
    assert rows[0]["checks"] == "▶ serving now · ✅ blessed"
    assert rows[1]["checks"] == "⛔ tainted · ✅ blessed"
