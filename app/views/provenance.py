"""What produced this: `lineage provenance` on screen."""

from __future__ import annotations

from typing import Optional

import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_ERROR, ICON_INFO, ICON_OK, ICON_WARNING, badges, md_table, md_text, q_provenance, when
from lineage.app.state import nav_links
from lineage.app.views.shared import report, artifact_table
from lineage.values import plain


def page_provenance(uri: Optional[str], lin: Lineage) -> None:
    """`lineage provenance` on screen: data, transform, modules, parameters, code, metrics, blessing."""
    found = report(uri, "provenance_node", "Model or served version (a12, or MODEL:VERSION)", "provenance",
                    q_provenance)
    if found is None:
        return
    ref, p = found
    t = p["target"]
    st.text(f"provenance of {t['ref']} {t['type']} {t['uri']}")
    verdict = badges(p["blessed"], bool(p["tainted"]))
    if p["tainted"]:
        st.error(verdict + ": made from tainted data", icon=ICON_ERROR)
        st.code("\n".join(f"{x['artifact']}: {x['reason']}" for x in p["tainted"]), language="text", wrap_lines=True)
    if p["pushed"]:
        props = p["pushed"].get("properties", {})
        st.text(f"served as: {props.get('model_name', '?')} version {props.get('pushed_version')} "
                f"(pushed {when(p['pushed_at']) or '?'})")
    st.text(f"trained: {when(p['trained_at']) or '?'} by {p['ran_by'] or '?'}")
    if not p["tainted"]:
        if p["blessed"] is True:
            st.success(verdict, icon=ICON_OK)
        elif p["blessed"] is False:
            st.warning(verdict + ": its evaluation did not bless it", icon=ICON_WARNING)
        else:
            st.info(verdict + ": no evaluation blessed or refused it", icon=ICON_INFO)
    for base in p["base_models"]:
        st.text(f"warm start: {base['ref']} {base['type']}"
                + (f", served as {base['served_as']}" if base.get("served_as") else "")
                + " (the training started from it)")
    cols = st.columns(2)
    with cols[0]:
        artifact_table("data", [{"ref": a["ref"], "type": a["type"], "uri": a["uri"]} for a in p["datasets"]])
        artifact_table("examples", [{"ref": a["ref"], "uri": a["uri"]} for a in p["examples"]])
        artifact_table("hub modules", [{"ref": a["ref"], "uri": a["uri"],
                                         "handle": a.get("properties", {}).get("handle", "")} for a in p["hub_modules"]])
        artifact_table("transform", [{"ref": e["ref"], "type": e["type"], "module": e["module_file"] or "",
                                       "source": (e["module_source_hash"] or "")[:19]} for e in p["transforms"]])
        st.caption("training: what each training step read")
        st.markdown(md_table([{"step": e["ref"], "state": e["state"],
                               "read": ", ".join(f"{a['ref']} {a.get('handle') or a['type']}" for a in e["read"]) or "-"}
                              for e in p["training"]]))
    with cols[1]:
        st.caption("parameters")
        st.json(plain(p["parameters"]), expanded=True)
        st.caption("code version")
        st.json(plain(p["code_version"]), expanded=True)
        st.caption("metrics")
        st.json(plain(p["metrics"]), expanded=True)
    st.caption("steps: " + md_text(" -> ".join(f"{s['type'].rsplit('.', 1)[-1]}({s['ref']})" for s in p["steps"])))
    nav_links([("What does this affect", {"page": "impact", "node": ref}),
               ("Lineage graph", {"page": "graph", "node": ref, "direction": "upstream", "hops": 20})])


PAGE = Page('provenance', 'What produced this', ('node',), page_provenance)
