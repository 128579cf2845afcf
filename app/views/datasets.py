"""Data: a dataset's statistics recorded at ingest, and how two datasets differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import pandas as pd
import streamlit as st

from lineage import Lineage
from lineage.app.views.page import Page
from lineage.app.data import ICON_INFO, ICON_OK, ICON_WARNING, chart_bar, q_find
from lineage.app.state import seed, bad_link, to_url
from lineage.records import Artifact


def _statistics_for(lin: Lineage, art: Artifact) -> Optional[Dict[str, Any]]:
    """statistics.json recorded at ingest for this Dataset / Examples / ExampleStatistics."""
    def found(a: Artifact) -> Optional[Dict[str, Any]]:
        p = Path(a.uri) / "statistics.json"
        return {"artifact": a.id, **json.loads(p.read_text())} if p.exists() else None

    if art.type == "ExampleStatistics":
        return found(art)
    # The ingest that produced these Examples (or, for a Dataset, the newest one that read it;
    # a shared dataset may have thousands of readers: look no further than needed).
    execs = lin.producers(art) if art.type != "Dataset" else \
        sorted(lin.consumers(art), key=lambda e: -e.id)[:20]
    for ex in execs:
        for arts in lin.outputs(ex).values():
            for a in arts:
                stats = found(a) if a.type == "ExampleStatistics" else None
                if stats:
                    return stats
    return None


def _first_with_statistics(lin: Lineage, ids: List[str], look: int = 20) -> str:
    """The newest of the first ``look`` datasets that has statistics to show; else the newest
    ExampleStatistics of the store (a large store's newest datasets may have none); else the newest."""
    for ref in ids[:look]:
        if _statistics_for(lin, lin.artifact(int(ref[1:]))) is not None:
            return ref
    for stats in (lin.find("ExampleStatistics", limit=5) if lin.store.has_type("artifact", "ExampleStatistics") else []):
        if _statistics_for(lin, stats) is not None:
            return stats.ref
    return ids[0]


def page_data(uri: Optional[str], lin: Lineage) -> None:
    arts = q_find(uri, "artifact", "", "type in ('Dataset', 'Examples', 'ExampleStatistics')", "", 200)
    if not arts:
        st.info("No datasets recorded yet.", icon=ICON_INFO)
        return
    label = {f"a{a['id']}": f"a{a['id']} {a['type']} {a['uri']}" for a in arts}
    ids = list(label)
    opening = _first_with_statistics(lin, ids)
    if opening not in label:   # an older dataset with statistics: offered first
        node = lin.artifact(int(opening[1:]))
        label[opening] = f"{opening} {node.type} {node.uri}"
        ids.insert(0, opening)
    seed("data_first", "dataset", ids, opening,
         lambda raw: raw if raw.startswith("a") else f"a{raw}")
    if bad_link("data_first", "a dataset"):
        return
    first = st.selectbox("Dataset", ids, key="data_first", format_func=label.get)
    other = st.selectbox("Compare with", ["(none)"] + ids, key="data_other",
                         format_func=lambda r: label.get(r, r))
    to_url(dataset=first)
    art = lin.artifact(int(first[1:]))
    stats = _statistics_for(lin, art)
    if stats is None:
        st.warning("No statistics were recorded at ingest for this dataset.", icon=ICON_WARNING)
        return
    st.text(f"statistics: a{stats['artifact']}")
    st.subheader("Rows per split")
    chart_bar(pd.DataFrame([{"split": k, "rows": v} for k, v in stats["rows"].items()]), "split", "rows")
    feats = stats["features"]
    table = pd.DataFrame([{"feature": k, "type": v["type"], "missing": v["missing"],
                           "min": v.get("min"), "max": v.get("max"), "mean": v.get("mean"),
                           "vocabulary_size": v.get("vocabulary_size")} for k, v in sorted(feats.items())])
    st.subheader("Features")
    st.dataframe(table, hide_index=True, width="stretch")
    for name, v in sorted(feats.items()):
        dist = v.get("histogram") or v.get("top_values")
        if dist:
            st.text(f"{name}: {'values' if 'histogram' in v else 'most frequent values'}")
            chart_bar(pd.DataFrame([{"value": str(k), "count": v} for k, v in dist.items()]), "value", "count")
    if other != "(none)":
        other_stats = _statistics_for(lin, lin.artifact(int(other[1:])))
        if other_stats is None:
            st.warning("No statistics for the second dataset.", icon=ICON_WARNING)
            return
        st.subheader("How the two differ")
        rows = []
        for k in sorted(set(feats) | set(other_stats["features"])):
            a, b = feats.get(k, {}), other_stats["features"].get(k, {})
            for m in ("missing", "mean", "min", "max", "vocabulary_size"):
                if a.get(m) != b.get(m):
                    rows.append({"feature": k, "statistic": m, "first": a.get(m), "second": b.get(m)})
        for split in sorted(set(stats["rows"]) | set(other_stats["rows"])):
            if stats["rows"].get(split) != other_stats["rows"].get(split):
                rows.append({"feature": f"rows[{split}]", "statistic": "count",
                             "first": stats["rows"].get(split), "second": other_stats["rows"].get(split)})
        if rows:
            st.dataframe(pd.DataFrame(rows).astype(str), hide_index=True, width="stretch")
        else:
            st.success("The statistics are the same.", icon=ICON_OK)


PAGE = Page('data', 'Data', ('dataset',), page_data)
