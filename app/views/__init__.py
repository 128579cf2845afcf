"""The explorer's pages, one module each, registered here once, in sidebar order. Each module's
``PAGE`` names its URL name, title, the URL parameters it owns and the function that draws it.
(Not ``app/pages/``: Streamlit turns a ``pages/`` folder beside the script into pages of its own.)"""

from __future__ import annotations

from typing import Dict, List

from lineage.app.views import overview, runs, experiments, artifacts, datasets, lineage_graph, provenance, impact, serving, compare
from lineage.app.views.page import Page

__all__ = ["PAGES", "BY_NAME", "Page"]

#: every page, in the sidebar's order
PAGES: List[Page] = [m.PAGE for m in (overview, runs, experiments, artifacts, datasets, lineage_graph, provenance, impact, serving, compare)]
#: page by its URL name (``?page=graph``)
BY_NAME: Dict[str, Page] = {p.name: p for p in PAGES}
