"""Issue 25, item 2: the URL is the single source of truth. One browser history entry per user
action; Back and Forward show what the URL says; an edited address is obeyed. Headless Chromium
against a served `lineage ui` on the shared explorer store."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from explorer_helpers import READY, open_page

pytestmark = pytest.mark.slow


def _params(page):
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def _settled(page):
    page.wait_for_timeout(300)
    page.wait_for_function(READY, timeout=60000)


def _header(page):
    return page.locator("h2").first.inner_text()


def _sidebar(page, label):
    before = page.url
    page.locator('[data-testid="stSidebar"]').get_by_text(label, exact=True).click()
    page.wait_for_function(f"() => location.href !== {before!r}", timeout=60000)
    _settled(page)


def test_back_and_forward_show_what_the_url_says_one_entry_per_click(browser_page):
    page, base = browser_page
    open_page(page, f"{base}/?page=runs", "Runs")
    _settled(page)
    start = page.evaluate("history.length")
    _sidebar(page, "Artifacts")
    assert _params(page)["page"] == "artifacts" and _header(page) == "Artifacts"
    _sidebar(page, "Serving")
    assert _params(page)["page"] == "serving" and _header(page) == "Serving"
    assert page.evaluate("history.length") == start + 2          # one entry per click
    page.go_back()
    page.wait_for_function("() => new URLSearchParams(location.search).get('page') === 'artifacts'")
    _settled(page)
    assert _header(page) == "Artifacts"                          # the page is what the URL says
    page.go_back()
    page.wait_for_function("() => new URLSearchParams(location.search).get('page') === 'runs'")
    _settled(page)
    assert _header(page) == "Runs"
    page.go_forward()
    page.wait_for_function("() => new URLSearchParams(location.search).get('page') === 'artifacts'")
    _settled(page)
    assert _header(page) == "Artifacts"


def test_back_restores_a_pages_own_state_from_the_url(browser_page, store):
    page, base = browser_page
    m1, m2 = store["m1"], store["m2"]
    open_page(page, f"{base}/?page=graph&node=a{m1.id}&direction=upstream&hops=3", "Lineage graph")
    _settled(page)
    open_page(page, f"{base}/?page=graph&node=a{m2.id}&direction=downstream&hops=5", "Lineage graph")
    _settled(page)
    page.go_back()
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('node') === 'a{m1.id}'")
    _settled(page)
    box = page.get_by_label("Node (a12, e7, or MODEL:VERSION)")
    for _ in range(60):   # the reloaded page fills its controls from the URL
        if box.input_value() == f"a{m1.id}":
            break
        page.wait_for_timeout(500)
    assert box.input_value() == f"a{m1.id}"
    assert _params(page) == {"page": "graph", "node": f"a{m1.id}", "direction": "upstream", "hops": "3"}


def test_a_link_to_another_page_opens_in_place_and_back_returns(browser_page, store):
    page, base = browser_page
    m2 = store["m2"]
    open_page(page, f"{base}/?page=artifacts&artifact={m2.id}", "Artifacts")
    tabs = len(page.context.pages)
    link = page.get_by_role("link", name="What produced this")
    assert link.get_attribute("target") == "_self"
    link.click()
    page.locator("h2", has_text="What produced this").first.wait_for(timeout=60000)
    assert len(page.context.pages) == tabs and _params(page) == {"page": "provenance", "node": f"a{m2.id}"}
    page.go_back()
    page.locator("h2", has_text="Artifacts").first.wait_for(timeout=60000)
    assert _params(page)["artifact"] == str(m2.id)
