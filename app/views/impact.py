"""What does this affect: `lineage impact` on screen."""

from __future__ import annotations

from typing import Optional

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_ERROR, md_text, q_impact
from lineage.app.state import nav_links
from lineage.app.views.shared import report, artifact_table


def page_impact(uri: Optional[str], lin: Lineage) -> None:
    """`lineage impact` on screen: affected models, evaluations, pushed versions, serving now."""
    found = report(uri, "impact_node", "Artifact (a12, or MODEL:VERSION)", "impact", q_impact)
    if found is None:
        return
    ref, imp = found
    if imp["taints"]:   # why this is being looked at, in the words of whoever marked it
        st.error(f"{ref} is marked tainted", icon=ICON_ERROR)
        st.code("\n".join(" ".join(x for x in (t["artifact"], t["when"], t["by"]) if x) + ": " + t["reason"]
                          for t in imp["taints"]), language="text", wrap_lines=True)
    serving = [p for p in imp["pushed"] if p["serving now"] == "SERVING NOW"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Models", len(imp["models"]))
    c2.metric("Evaluations", len(imp["evaluations"]))
    c3.metric("Pushed versions", len(imp["pushed"]))
    c4.metric("Serving now", len(serving))
    if serving:
        st.error("Affected versions are serving now: " + md_text(", ".join(f"{p['model']}:{p['version']}" for p in serving)),
                 icon=ICON_ERROR)
    artifact_table("pushed versions", imp["pushed"])
    artifact_table("models", imp["models"])
    artifact_table("evaluations", imp["evaluations"])
    artifact_table("blessings", imp["blessings"])
    nav_links([("Lineage graph", {"page": "graph", "node": ref, "direction": "downstream", "hops": 20})])
    rows = [{"section": section, **{k: v for k, v in r.items()}} for section in ("pushed", "models", "evaluations", "blessings")
            for r in imp[section]]
    st.download_button("Download the impact report (CSV)", pd.DataFrame(rows, dtype=object).to_csv(index=False),
                       file_name=f"impact-{ref.replace(':', '-').replace('/', '-')}.csv", mime="text/csv")


PAGE = Page('impact', 'What does this affect', ('node',), page_impact)
