"""The explorer's URL state: the URL's query parameters are the truth.

Each widget has a stable key. Its first value comes from the URL once per session (a deep link);
after that the widget owns it, and every change is written back to the URL. A URL value that
names nothing is reported on the page instead of being replaced silently.
"""

from __future__ import annotations

import functools
import html
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote, urlencode

import pandas as pd
import streamlit as st

from lineage.app.data import error_text, md_text, q_node
from lineage.errors import LineageError


def seed(key: str, param: str, options: Optional[List[Any]] = None, default: Any = None,
         convert: Callable[[str], Any] = str) -> None:
    """Give widget ``key`` its value from URL parameter ``param`` (first run only; again only if
    its value is no longer among ``options``)."""
    if key in st.session_state and (options is None or st.session_state[key] in options):
        return
    raw = st.query_params.get(param) if key not in st.session_state else None
    value = None
    if raw is not None:
        try:
            value = convert(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or (options is not None and value not in options):
            st.session_state[f"{key}:bad"] = raw
            value = None
    if value is None:
        value = default if options is None or default in options else (options[0] if options else None)
        if f"{key}:bad" in st.session_state:
            st.session_state[f"{key}:bad_stands_in"] = value
    st.session_state[key] = value


def bad_link(key: str, what: str, until_changed: bool = False) -> bool:
    """Report a URL value that named nothing; True if there was one. The report shows once, or
    with ``until_changed`` on every rerun until the user changes the value that stood in for it
    (a page whose own widgets rerun it, such as the graph, would otherwise flash it away)."""
    state = st.session_state
    raw = state.get(f"{key}:bad")
    if raw is None:
        return False
    if not until_changed or state.get(key) != state.get(f"{key}:bad_stands_in"):
        state.pop(f"{key}:bad", None)
        state.pop(f"{key}:bad_stands_in", None)
        if until_changed:
            return False
    error_text(f"Not found: the link names {what} that is not in this store", raw)
    return True


def to_url(**params: Any) -> None:
    """These widget values are what the URL says once this run ends (an empty value or None: the
    parameter is dropped). Collected, then written once by :func:`write_url`: one browser history
    entry per user action."""
    st.session_state.setdefault(_NEXT, {}).update(params)


_NEXT, _WRITTEN = "_url_next", "_url_written"


def url_changed_by_browser() -> bool:
    """Whether the URL is not what this session last wrote (Back, Forward, an edited address):
    then it is the truth, and every control but the search box forgets its value, to take it from
    the URL again. Call once, first thing in a run."""
    st.session_state[_NEXT] = {}
    current = {k: st.query_params.get(k) for k in st.query_params}
    written = st.session_state.get(_WRITTEN)
    if written is None or written == current:
        return False
    for k in list(st.session_state.keys()):
        if not str(k).startswith("search_"):
            del st.session_state[k]
    st.session_state[_NEXT] = {}
    return True


def write_url(page: str, params: Sequence[str]) -> None:
    """The run's URL, written once: the page and the parameters it owns, as its controls left
    them (a parameter no control wrote this run keeps its value: a link's value that named
    nothing stays visible)."""
    current = {k: st.query_params.get(k) for k in st.query_params}
    wanted = st.session_state.get(_NEXT, {})
    final: Dict[str, str] = {"page": page}
    for k in params:
        v = wanted[k] if k in wanted else current.get(k)
        if v is not None and str(v) != "":
            final[k] = str(v)
    if final != current:
        st.query_params.from_dict(final)
    st.session_state[_WRITTEN] = final


def linked_select(label: str, options: List[Any], key: str, param: str, what: str) -> Optional[Any]:
    """A selectbox whose first value comes from URL parameter ``param`` and whose every change
    goes back to it; None (after saying so) when the URL names nothing among ``options``."""
    seed(key, param, options)
    if bad_link(key, what):
        return None
    value = st.selectbox(label, options, key=key)
    to_url(**{param: value})
    return value


def node_ref(text: str) -> str:
    """A node reference from a URL: ``a12``, ``e7`` or ``MODEL:VERSION``."""
    text = text.strip()
    if not text:
        raise ValueError("empty")
    return text


def table(rows: Any, key: str, opens: Optional[List[Dict[str, Any]]] = None) -> None:
    """A table; with ``opens`` (one dict of widget values per row), selecting a row sets those
    values (a ``page`` among them moves to that page) and the page reruns once with them."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if not opens:
        st.dataframe(frame, hide_index=True, width="stretch")
        return
    st.dataframe(frame, hide_index=True, width="stretch", key=key, selection_mode="single-row",
                 on_select=functools.partial(_open_row, key, opens))


def _open_row(key: str, opens: List[Dict[str, Any]]) -> None:
    picked = st.session_state[key].selection.rows
    if not picked or picked[0] >= len(opens):
        return
    for k, v in opens[picked[0]].items():
        st.session_state[k] = v
    if "page" in opens[picked[0]]:
        for k in [k for k in st.session_state if str(k).endswith(":bad")]:
            del st.session_state[k]


def artifact_ref(uri: Optional[str]) -> Callable[[str], str]:
    """``?artifact=12`` (or ``a12``) as ``"a12"`` when that artifact exists."""
    return existing_ref(uri, lambda raw: f"a{int(raw[1:] if raw.startswith('a') else raw)}")


def existing_ref(uri: Optional[str], form: Callable[[str], str] = lambda raw: raw) -> Callable[[str], str]:
    """A URL value converter: the reference ``form(raw)`` when it names something in the store
    (else ValueError: :func:`seed` then reports the link as naming nothing)."""
    def convert(raw: str) -> str:
        try:
            ref = form(raw.strip())
            q_node(uri, ref)
        except (LineageError, ValueError):
            raise ValueError(raw) from None
        return ref
    return convert


def open_link(page: str, params: Dict[str, str]) -> None:
    """Go to ``page`` with these URL parameters, as if its link had been opened: every control
    but the search box forgets its value and takes it from the URL again (a callback: the page
    reruns once)."""
    for k in list(st.session_state.keys()):
        if not str(k).startswith("search_"):
            del st.session_state[k]
    st.query_params.from_dict({"page": page, **params})
    st.session_state[_WRITTEN] = {"page": page, **params}


def nav_links(links: Sequence[Tuple[str, Dict[str, Any]]], before: str = "") -> None:
    """Links to other views of the explorer that open in place, as one line: each ``(text, URL
    parameters)``. A click loads what the link says in this tab (Back returns); a middle-click
    still opens a new tab. ``before`` is stored text shown first, as plain text."""
    parts = [f'<a href="?{html.escape(urlencode({k: str(v) for k, v in params.items()}, quote_via=quote))}" '
             f'target="_self">{html.escape(text)}</a>' for text, params in links]
    lead = html.escape(md_text(before)) if before else ""
    st.markdown(lead + " · ".join(parts), unsafe_allow_html=True)
