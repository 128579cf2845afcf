"""Compare: two models (or served versions), step by step.

By default the two newest versions of one served model (the newest model name pushed at least
twice), the older as A. A link may name each side in any reference form (``reviews:2``, ``a12``,
``12``); values that name an artifact show its ref, a step only one side ran says so, numbers get
their delta."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.app.data import ICON_INFO, ICON_OK, chart_bar, error_text, md_text, q_diff, q_metrics, q_models, q_node
from lineage.app.state import bad_link, existing_ref, nav_links, seed, to_url
from lineage.app.views.page import Page
from lineage.errors import LineageError


def _default_pair(models: List[Dict[str, Any]]) -> Tuple[str, str]:
    """The two newest versions of the newest model name with two (older first); else the two
    newest models."""
    for m in models:
        same = [x for x in models if m["model"] and x["model"] == m["model"]]
        if len(same) >= 2:
            return same[1]["ref"], same[0]["ref"]
    return models[1]["ref"], models[0]["ref"]


def page_compare(uri: Optional[str], lin: Lineage) -> None:
    models = q_models(uri)
    if len(models) < 2:
        st.info("Compare needs two models.", icon=ICON_INFO)
        return
    label = {m["ref"]: m["label"] for m in models}
    ids = list(label)
    first, second = _default_pair(models)
    as_written = existing_ref(uri, lambda raw: f"a{raw}" if raw.isdigit() else raw)   # reviews:1 stays reviews:1
    seed("compare_a", "a", None, first, as_written)
    seed("compare_b", "b", None, second, as_written)
    bad_a, bad_b = bad_link("compare_a", "a model (a)"), bad_link("compare_b", "a model (b)")
    if bad_a or bad_b:
        return
    for key in ("compare_a", "compare_b"):   # deep-linked models as the link wrote them
        ref = st.session_state[key]
        if ref not in label:
            node = f"a{q_node(uri, ref)['id']}"
            if node in label:      # a listed model in another form (reviews:1 for a12): that entry
                label[ref] = label.pop(node)
                ids[ids.index(node)] = ref
            else:
                label[ref] = f"{ref} ({node})"
                ids.insert(0, ref)
    cols = st.columns(2)
    a = cols[0].selectbox("Model A", ids, key="compare_a", format_func=label.get)
    b = cols[1].selectbox("Model B", ids, key="compare_b", format_func=label.get)
    to_url(a=a, b=b)
    try:
        d = q_diff(uri, a, b)
        ma, mb = q_metrics(uri, a), q_metrics(uri, b)
    except LineageError as exc:
        error_text(f"Cannot compare {a} with {b}", exc)
        return
    if d["same"]:
        st.success("No differences in data, modules, parameters, code or metrics.", icon=ICON_OK)
    for section, changes in d["sections"].items():
        if changes:
            st.subheader(md_text(section))
            frame = pd.DataFrame(changes)
            if not any(r["delta"] != "" for r in changes):
                frame = frame.drop(columns=["delta"])
            st.dataframe(frame.astype(str), hide_index=True, width="stretch")
    if d["refs"]:
        nav_links([(r, {"page": "artifacts", "artifact": r[1:]}) for r in d["refs"][:40]],
                  before="Artifacts named above: ")
    slices = sorted(set(ma.get("slices", {})) | set(mb.get("slices", {})))
    metric = st.selectbox("Metric per slice", sorted({k for s in ma.get("slices", {}).values() for k in s}) or ["accuracy"],
                          index=0)
    rows = [{"slice": s, "model": side, metric: m.get("slices", {}).get(s, {}).get(metric)}
            for s in slices for side, m in (("A", ma), ("B", mb))]
    chart_bar(pd.DataFrame(rows), "slice", metric, color="model")


PAGE = Page("compare", "Compare", ("a", "b"), page_compare)
