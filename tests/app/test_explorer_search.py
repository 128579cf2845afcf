"""Issue 25, item 7: a search box in the sidebar, answered from the store: part of a name, a
reference, a type or a tag; each hit opens its page in place. Headless Chromium against a served
`lineage ui` on the shared explorer store."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from explorer_helpers import READY, SHOTS, open_page

pytestmark = pytest.mark.slow


def _search(page, text):
    box = page.locator('[data-testid="stSidebar"]').get_by_role("textbox", name="Search")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(READY, timeout=60000)


def _open(page, label):
    before = page.url
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name=label).click()
    page.wait_for_function(f"() => location.href !== {before!r}", timeout=60000)
    page.wait_for_function(READY, timeout=60000)
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_search_finds_a_run_by_part_of_its_name_and_opens_it_in_place(browser_page):
    page, base = browser_page
    open_page(page, f"{base}/?page=overview", "Overview")
    pages_before = len(page.context.pages)
    _search(page, "run-2")
    params = _open(page, "run run-2")
    assert params == {"page": "runs", "run": "run-2"}
    page.locator("h2", has_text="Runs").first.wait_for(timeout=30000)
    assert len(page.context.pages) == pages_before          # in place, not a new tab
    page.screenshot(path=str(SHOTS / "search.png"), full_page=True)


def test_search_takes_a_reference_and_a_type(browser_page, store):
    page, base = browser_page
    open_page(page, f"{base}/?page=overview", "Overview")
    _search(page, "reviews:2")
    p2 = store["p2"]
    params = _open(page, f"reviews:2 (a{p2.id} PushedModel)")
    assert params == {"page": "artifacts", "artifact": str(p2.id)}
    page.locator("h3", has_text=f"Artifact {p2.id}").first.wait_for(timeout=30000)
    _search(page, "Blessing")
    params = _open(page, "artifact type ModelBlessing")
    assert params["page"] == "artifacts" and params["type"] == "ModelBlessing"
