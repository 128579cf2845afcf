"""Stored text on the explorer's pages is shown as its characters: Markdown and bare URLs in
names a user sets make no link and fetch nothing (issue 25, item 3), in headless Chromium."""

from __future__ import annotations

import pytest

import lineage
from explorer_helpers import open_page, served_browser
from lineage import Lineage, log_metric, run, step

pytestmark = pytest.mark.slow


def test_a_run_named_with_markdown_is_shown_as_text_and_fetches_nothing(tmp_path, beacon):
    """Issue 25, item 3: a run name with Markdown image, link and bold syntax, drawn in the
    Experiments page's caption of the runs chosen: its characters, no link, no request."""
    lin = Lineage.open(f"sqlite:///{tmp_path / 'metadata.sqlite'}", artifact_root=str(tmp_path / "artifacts"))
    hostile = (f"![img](http://127.0.0.1:{beacon.port}/run.png) **bold run** "
               f"[click](http://127.0.0.1:{beacon.port}/link)")

    @step(type="Fit")
    def fit(lr: float):
        log_metric("loss", lr)

    with lineage.use(lin):
        with run("hostile", experiment="hostile", name=hostile):
            fit(0.1)
    with served_browser(lin.uri) as (page, base):
        open_page(page, f"{base}/?page=experiments", "Experiments")
        page.get_by_text("**bold run**", exact=False).filter(visible=True).first.wait_for(timeout=60000)
        page.wait_for_timeout(1500)         # give a renderer time to fetch, if it were going to
        links = page.locator(f'a[href*="127.0.0.1:{beacon.port}"]')
        assert links.count() == 0, [links.nth(i).evaluate("e => e.parentElement.parentElement.outerHTML.slice(0, 600)")
                                    for i in range(links.count())]
        assert page.locator("strong", has_text="bold run").count() == 0
        assert page.locator(f'img[src*="127.0.0.1:{beacon.port}"]').count() == 0
    assert beacon.requests == []
    lin.close()
