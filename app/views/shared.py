"""What several pages show: one node in detail, a report's subject, tables of artifacts."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Tuple

import pandas as pd
import streamlit as st

from lineage.app.data import ICON_ERROR, ICON_INFO, error_text, md_table, q_find, q_node, q_step_log
from lineage.app.state import nav_links, node_ref, seed, table, to_url
from lineage.errors import LineageError
from lineage.values import plain
from lineage.vocab import type_leaf


def show_node(uri: Optional[str], ref: str, *, narrow: bool = False) -> None:
    try:
        d = q_node(uri, ref)
    except LineageError as exc:
        error_text("Cannot show this", exc)
        return
    st.subheader(f"{d['kind'].capitalize()} {d['id']}")
    st.text(f"type: {d['type']}")
    if d["kind"] == "artifact":
        if d.get("tainted"):
            st.error("This artifact is tainted, or was made from tainted data", icon=ICON_ERROR)
            st.code("\n".join(d["tainted"]), language="text", wrap_lines=True)
        st.text(f"uri: {d['uri']}\nstate: {d['state']}\nfingerprint: {d['fingerprint'] or '-'}\ncreated: {d['created']}")
    elif d["kind"] == "execution":
        st.text(f"state: {d['state']}\nstarted: {d['started']}\nduration: {d['duration_s']}")
        if d["error"]:
            error_text("This step failed", d["error"])
        log_text = q_step_log(uri, f"e{d['id']}")
        if log_text:
            with st.expander("Log: what the step printed and logged" + (" (with its traceback)" if d["error"] else ""),
                             expanded=bool(d["error"])):
                st.code(log_text[-20000:], language="text")
    if narrow:   # beside the graph: as plain text (no JSON viewer or syntax highlighter to load)
        st.caption("properties")
        st.text(json.dumps(plain(d["properties"]), indent=1, default=str))
        st.caption("custom properties / parameters")
        st.text(json.dumps(plain(d["custom_properties"]), indent=1, default=str))
    else:
        cols = st.columns(2)
        cols[0].caption("properties")
        cols[0].json(plain(d["properties"]), expanded=True)
        cols[1].caption("custom properties / parameters")
        cols[1].json(plain(d["custom_properties"]), expanded=True)
    if narrow:   # beside the graph: a few rows each, drawn as static tables (no data grid to load)
        _panel_tables(d)
    elif d["kind"] == "artifact":
        st.caption("produced by")
        st.dataframe(pd.DataFrame(d["producers"]), hide_index=True, width="stretch")
        total = d["consumers_total"]
        st.caption(f"consumed by ({total}; the newest {len(d['consumers'])} listed)" if total > len(d["consumers"])
                   else "consumed by")
        table(d["consumers"], f"consumers:{ref}", None)
    elif d["kind"] == "execution":
        for title in ("inputs", "outputs"):
            rows = [dict(r, argument=k) for k, v in d[title].items() for r in v]
            st.caption(title)
            table(rows, f"{title}:{ref}", [{"page": "artifacts", "artifacts_ref": f"a{r['id']}"} for r in rows])
        outputs = [r for v in d["outputs"].values() for r in v][:10]
        if outputs:
            for r in outputs:
                nav_links([("what produced it", {"page": "provenance", "node": f"a{r['id']}"}),
                           ("what it affects", {"page": "impact", "node": f"a{r['id']}"})],
                          before=f"a{r['id']} {type_leaf(r['type'])}: ")
    if d.get("contexts") and not narrow:
        st.caption("contexts")
        st.dataframe(pd.DataFrame(d["contexts"]), hide_index=True, width="stretch")


PANEL_ROWS = 8  # rows per table in the graph's side panel; the artifact or run page lists them all


def _panel_tables(d: Dict[str, Any]) -> None:
    """The graph's side panel: the node's neighbours and contexts, a few rows each, as static
    tables, with where to see the rest."""
    if d["kind"] == "artifact":
        parts = [("produced by", d["producers"], len(d["producers"])),
                 ("consumed by", d["consumers"], d["consumers_total"])]
    else:
        parts = [(title, [dict(r, argument=k) for k, v in d[title].items() for r in v], None)
                 for title in ("inputs", "outputs")]
    parts.append(("contexts", d.get("contexts") or [], None))
    for title, rows, total in parts:
        total = len(rows) if total is None else total
        if not rows:
            continue
        keep = ["id", "type", "state", "argument", "name"]
        shown = [{k: type_leaf(r[k]) if k == "type" else r[k] for k in keep if k in r} for r in rows[:PANEL_ROWS]]
        st.caption(title + (f" ({total}; {len(shown)} here, all on the "
                            f"{'Artifacts' if d['kind'] == 'artifact' else 'Runs'} page)" if total > len(shown) else ""))
        st.markdown(md_table(shown))


def report(uri: Optional[str], key: str, hint: str, what: str,
            load: Callable[[Optional[str], str], Dict[str, Any]]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The node a report page is about (the URL's ``node``, else the newest pushed model) and its
    report, or None after saying why there is none."""
    latest = q_find(uri, "artifact", "PushedModel", "", "", 1) or q_find(uri, "artifact", "Model", "", "", 1)
    seed(key, "node", None, f"a{latest[0]['id']}" if latest else "", node_ref)
    ref = st.text_input(hint, key=key).strip()
    to_url(node=ref)
    if not ref:
        st.info("Nothing recorded yet.", icon=ICON_INFO)
        return None
    try:
        return ref, load(uri, ref)
    except LineageError as exc:
        error_text(f"Cannot show the {what} of {ref!r}", exc)
        return None


def artifact_table(title: str, rows: List[Dict[str, Any]]) -> None:
    """Rows that name an artifact (``ref`` a12) open it on the Artifacts page."""
    st.caption(title)
    if not rows:
        st.text("-")
        return
    refs = [str(r.get("ref") or r.get("artifact") or (f"a{r['id']}" if "id" in r else "")) for r in rows]
    opens = [{"page": "artifacts", "artifacts_ref": ref} for ref in refs] \
        if all(ref.startswith("a") for ref in refs) else None
    table(rows, f"table:{title}", opens)

