"""Compare: two models (or served versions), step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_INFO, ICON_OK, chart_bar, error_text, md_text, q_diff, q_find, q_metrics
from lineage.app.state import seed, bad_link, to_url, artifact_ref
from lineage.errors import LineageError


def _two_newest_versions(models: List[Dict[str, Any]]) -> tuple:
    """The refs of the two newest pushed versions of the newest pushed model's name (older
    first); other models when there is one version only."""
    newest = models[0]
    same = [m for m in models if m["type"] == "PushedModel" and Path(m["uri"]).parent == Path(newest["uri"]).parent]
    pair = same[:2] if len(same) >= 2 else models[:2]
    return f"a{pair[1]['id']}", f"a{pair[0]['id']}"


def page_compare(uri: Optional[str], lin: Lineage) -> None:
    models = q_find(uri, "artifact", "PushedModel", "", "", 200) or q_find(uri, "artifact", "Model", "", "", 200)
    if len(models) < 2:
        st.info("Compare needs two models.", icon=ICON_INFO)
        return
    label = {f"a{m['id']}": f"a{m['id']} {m['type']} {m['uri']}" for m in models}
    ids = list(label)
    newest_a, newest_b = _two_newest_versions(models)
    seed("compare_a", "a", None, newest_a, artifact_ref(uri))
    seed("compare_b", "b", None, newest_b, artifact_ref(uri))
    bad_a, bad_b = bad_link("compare_a", "a model (a)"), bad_link("compare_b", "a model (b)")
    if bad_a or bad_b:
        return
    for key in ("compare_a", "compare_b"):   # deep-linked models the list does not hold
        ref = st.session_state[key]
        if ref not in label:
            label[ref] = ref
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
            st.dataframe(pd.DataFrame(changes), hide_index=True, width="stretch")
    slices = sorted(set(ma.get("slices", {})) | set(mb.get("slices", {})))
    metric = st.selectbox("Metric per slice", sorted({k for s in ma.get("slices", {}).values() for k in s}) or ["accuracy"],
                          index=0)
    rows = [{"slice": s, "model": label, metric: m.get("slices", {}).get(s, {}).get(metric)}
            for s in slices for label, m in (("A", ma), ("B", mb))]
    chart_bar(pd.DataFrame(rows), "slice", metric, color="model")


PAGE = Page('compare', 'Compare', ('a', 'b'), page_compare)
