"""lineage.statistics: summaries of log files merged equal one summary of all their rows (the
reference), and the skew measures equal their definitions computed by hand."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from lineage.statistics import merge, skew, summarize_rows

ROWS = st.lists(st.fixed_dictionaries({
    "price": st.one_of(st.integers(1, 4).map(str), st.just("")),
    "score": st.floats(-1e3, 1e3, allow_nan=False).map(repr),
    "cuisine": st.sampled_from(["italian", "thai", "french", "", "mexican"]),
}), min_size=1, max_size=40)
TYPES = {"price": "INT", "score": "FLOAT", "cuisine": "BYTES"}


@settings(max_examples=150, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=5))
def test_merged_file_summaries_equal_the_summary_of_all_rows(files):
    merged = merge(summarize_rows(rows, TYPES) for rows in files)
    whole = summarize_rows([r for rows in files for r in rows], TYPES)
    for name in TYPES:
        m, w = merged[name], whole[name]
        assert (m["count"], m["missing"]) == (w["count"], w["missing"])
        if "mean" in w:
            assert (m["min"], m["max"]) == (w["min"], w["max"])
            assert m["mean"] == pytest.approx(w["mean"], abs=1e-5 * max(1.0, abs(w["mean"])) * len(files))
        if "top_values" in w:   # five values at most: every file's top ten is all of them
            assert m["top_values"] == w["top_values"]


def test_skew_measures_are_their_definitions():
    train = [{"price": str(p), "cuisine": c} for p, c in [(1, "thai")] * 30 + [(4, "italian")] * 70]
    serve = [{"price": str(p), "cuisine": c} for p, c in [(1, "thai")] * 60 + [(2, "martian")] * 40]
    types = {"price": "INT", "cuisine": "BYTES"}
    rows = {r["feature"]: r for r in skew(summarize_rows(train, types), summarize_rows(serve, types))}
    t_mean, s_mean = (30 * 1 + 70 * 4) / 100, (60 * 1 + 40 * 2) / 100
    assert rows["price"]["distance"] == pytest.approx(abs(s_mean - t_mean) / (4 - 1), abs=1e-6)
    tc, sc = Counter(r["cuisine"] for r in train), Counter(r["cuisine"] for r in serve)
    assert rows["cuisine"]["distance"] == pytest.approx(max(abs(tc[k] / 100 - sc[k] / 100) for k in tc | sc))
    assert rows["cuisine"]["skewed"] is True and rows["price"]["skewed"] is True
    only = {r["feature"]: r["measure"] for r in skew({"a": summarize_rows(train, types)["price"]},
                                                      {"b": summarize_rows(serve, types)["price"]})}
    assert only == {"a": "only in training", "b": "only in serving"}
