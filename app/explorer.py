"""The lineage explorer: `lineage ui` (or `streamlit run app/explorer.py -- --store URI`).

Reads through the query API only, opens the store read-only, and never writes (rollback stays a
CLI/Python action: the Serving page shows the command). Every query is cached per store and
paged. Text from the store (names, properties, errors) is shown as text, never as HTML or
Markdown. The URL's query parameters select the page and the node (``?page=graph&artifact=12``),
so a view can be shared. Each page is a module of ``app/views/`` (registered once in its
``__init__``); the URL state helpers are ``app/state.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lineage.app.data import ICON_INFO, error_text, md_text, open_store, q_counts, q_search, store_uri  # noqa: E402
from lineage.app.state import bad_link, open_link, seed, url_changed_by_browser, write_url  # noqa: E402
from lineage.app.views import BY_NAME, PAGES  # noqa: E402
from lineage.errors import LineageError  # noqa: E402


def first_run_page() -> None:
    st.title("lineage explorer")
    st.info("This store is empty: nothing has been recorded yet.", icon=ICON_INFO)
    st.markdown("Record a first run, then reload this page:")
    st.code("""from lineage import step, run, Input, Output
from lineage.types import Dataset

@step
def clean(raw: Input[Dataset], cleaned: Output[Dataset]):
    cleaned.path.write_text(raw.path.read_text().lower())

with run(pipeline="demo"):
    clean(Dataset.at("data.csv"))""", language="python")
    st.markdown("or run the example pipeline: `scripts/example`.")


#: Back and Forward change the address but do not rerun a one-page Streamlit app: the page then
#: loads what the address says (a listener on the app's window, added once)
_HISTORY_JS = """<script>
const w = window.parent;
if (!w.__lineageHistory) {
  w.__lineageHistory = true;
  w.addEventListener("popstate", () => w.location.reload());
}
</script>"""


def _back_and_forward() -> None:
    st.iframe(_HISTORY_JS, height=1)   # st.iframe runs its script with access to the app's window


def _search(uri: Optional[str]) -> None:
    """The sidebar's search box: what the text names (a reference, a served model, a run, an
    experiment, a type, a tag, a URI), each hit a button that opens it."""
    text = st.text_input("Search", key="search_text", placeholder="reviews:2, a run, a12, a URI, a tag",
                         help="Part of a name is enough; press Enter").strip()
    if not text:
        return
    try:
        hits = q_search(uri, text)
    except LineageError as exc:
        error_text("Cannot search", exc)
        return
    if not hits:
        st.caption("Nothing is named by that.")
    for i, h in enumerate(hits[:20]):
        # a button's label is Markdown: stored names are escaped (a run named with an image would load it)
        st.button(md_text(h["label"]), key=f"search_hit_{i}", on_click=open_link, args=(h["page"], h["params"]),
                  width="stretch", help=f"{h['kind']}: open it on the {BY_NAME[h['page']].title} page")


def main() -> None:
    st.set_page_config(page_title="lineage explorer", layout="wide")
    uri = store_uri()
    try:
        lin = open_store(uri)
    except LineageError as exc:
        st.title("lineage explorer")
        error_text("Cannot show this", exc)
        return
    counts = q_counts(uri)
    if not counts["artifact"] and not counts["execution"]:
        first_run_page()
        return
    url_changed_by_browser()   # Back, Forward, an edited address: the URL is the truth
    qp = st.query_params
    names = [p.name for p in PAGES]
    seed("page", "page", names, "artifacts" if qp.get("artifact") and not qp.get("page") else "overview")
    with st.sidebar:
        st.title("lineage")
        st.text(lin.uri)
        _search(uri)
        name = st.radio("Page", names, key="page", format_func=lambda n: BY_NAME[n].title)
        _back_and_forward()
    page = BY_NAME[name]
    bad_link("page", "a page")
    st.header(page.title)
    try:
        page.render(uri, lin)
    finally:   # each page keeps only its own parameters; the URL is written once a run
        write_url(name, page.params)


main()
