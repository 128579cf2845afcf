"""Per-feature statistics, one code for training data and served requests.

``ingest`` summarises a dataset's columns with it (``statistics.json``, the explorer's Data page);
the model server summarises the inputs of the requests it logs with it (each PredictionLogs
file's ``input_statistics``), so the two compare feature by feature: :func:`skew`.

A summary: ``type`` (INT, FLOAT, BYTES), ``count``, ``missing``; numbers: ``min``, ``max``,
``mean`` and, for integers with at most 20 distinct values, a ``histogram``; text: ``vocabulary_size``,
``top_values`` (10) and ``mean_length``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterable, List, Mapping, Optional

__all__ = ["FeatureStats", "infer_type", "summarize_rows", "merge", "skew"]

#: distinct values a text feature keeps count of (beyond it the vocabulary size is a lower bound)
MAX_DISTINCT = 100_000


def infer_type(values: Iterable[str]) -> str:
    """INT, FLOAT or BYTES for a column of text values (empty ones ignored)."""
    present = [v for v in values if v != ""]
    if not present:
        return "BYTES"
    try:
        for v in present:
            int(v)
        return "INT"
    except ValueError:
        pass
    try:
        for v in present:
            float(v)
        return "FLOAT"
    except ValueError:
        return "BYTES"


class FeatureStats:
    """One feature's summary, built value by value (text as read from a CSV, or typed values)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.count = 0
        self.missing = 0
        self.total = 0.0
        self.lo: Optional[float] = None
        self.hi: Optional[float] = None
        self.length = 0
        self.values: Counter = Counter()
        self.overflow = False

    def add(self, value: Any) -> None:
        self.count += 1
        if value is None or value == "" or value == b"":
            self.missing += 1
            return
        if self.kind in ("INT", "FLOAT"):
            x = float(value)
            self.total += x
            self.lo = x if self.lo is None or x < self.lo else self.lo
            self.hi = x if self.hi is None or x > self.hi else self.hi
            if self.kind == "INT" and len(self.values) <= 20:
                self.values[str(int(x)) if not isinstance(value, str) else value] += 1
            return
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        self.length += len(text)
        if text in self.values or len(self.values) < MAX_DISTINCT:
            self.values[text] += 1
        else:
            self.overflow = True

    def summary(self) -> Dict[str, Any]:
        s: Dict[str, Any] = {"type": self.kind, "missing": self.missing}
        present = self.count - self.missing
        if self.kind in ("INT", "FLOAT") and present:
            s.update(min=self.lo, max=self.hi, mean=round(self.total / present, 6))
            if self.kind == "INT" and len(self.values) <= 20:
                s["histogram"] = dict(sorted(self.values.items()))
        elif present:
            s.update(vocabulary_size=len(self.values), top_values=dict(self.values.most_common(10)),
                     mean_length=round(self.length / present, 2))
            if self.overflow:
                s["vocabulary_size_is_lower_bound"] = True
        s["count"] = self.count
        return s


def summarize_rows(rows: List[Mapping[str, Any]], types: Mapping[str, str]) -> Dict[str, dict]:
    """Every feature of ``types`` summarised over ``rows``."""
    out: Dict[str, dict] = {}
    for name, kind in types.items():
        acc = FeatureStats(kind)
        for r in rows:
            acc.add(r.get(name))
        out[name] = acc.summary()
    return out


def merge(summaries: Iterable[Mapping[str, dict]]) -> Dict[str, dict]:
    """Several files' summaries (with their ``count``) as one: counts, missing, min, max, means
    weighted by values present; text: top values summed (so approximate beyond each file's ten)."""
    out: Dict[str, dict] = {}
    for summary in summaries:
        for name, s in summary.items():
            m = out.setdefault(name, {"type": s.get("type"), "count": 0, "missing": 0})
            n_old = m["count"] - m["missing"]
            n_new = s.get("count", 0) - s.get("missing", 0)
            m["count"] += s.get("count", 0)
            m["missing"] += s.get("missing", 0)
            if "mean" in s:
                m["min"] = min(m.get("min", s["min"]), s["min"])
                m["max"] = max(m.get("max", s["max"]), s["max"])
                total = n_old + n_new
                m["mean"] = round((m.get("mean", 0.0) * n_old + s["mean"] * n_new) / total, 6) if total else 0.0
            if "top_values" in s:
                top = Counter(m.get("top_values", {}))
                top.update(s["top_values"])
                m["top_values"] = dict(top.most_common(10))
    return out


def skew(training: Mapping[str, dict], serving: Mapping[str, dict], threshold: float = 0.1) -> List[Dict[str, Any]]:
    """Feature by feature, training against serving: numbers by how far the serving mean moved,
    in units of the training range; text by the L-infinity distance of the top values' shares
    (TF Data Validation's measure for categorical skew). ``skewed`` when above ``threshold``;
    features seen on one side only are listed as such."""
    rows = []
    for name in sorted(set(training) | set(serving)):
        t, s = training.get(name), serving.get(name)
        row: Dict[str, Any] = {"feature": name, "type": (t or s or {}).get("type"),
                               "training": _brief(t), "serving": _brief(s), "measure": None, "distance": None,
                               "skewed": None}
        if t is None or s is None:
            row["measure"] = "only in training" if s is None else "only in serving"
        elif "mean" in t and "mean" in s:
            span = (t["max"] - t["min"]) or abs(t["mean"]) or 1.0
            row.update(measure="mean shift / training range", distance=round(abs(s["mean"] - t["mean"]) / span, 6))
        elif "top_values" in t and "top_values" in s:
            row.update(measure="L-infinity of top values", distance=round(_linf(t, s), 6))
        if row["distance"] is not None:
            row["skewed"] = row["distance"] > threshold
        rows.append(row)
    return rows


def _share(s: Mapping[str, Any]) -> Dict[str, float]:
    present = max(1, (s.get("count") or sum(s["top_values"].values()) + s.get("missing", 0)) - s.get("missing", 0))
    return {k: v / present for k, v in s["top_values"].items()}


def _linf(t: Mapping[str, Any], s: Mapping[str, Any]) -> float:
    a, b = _share(t), _share(s)
    return max(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def _brief(s: Optional[Mapping[str, Any]]) -> str:
    if s is None:
        return "-"
    if "mean" in s:
        return f"mean {s['mean']:.4g} [{s['min']:.4g}, {s['max']:.4g}]"
    if "top_values" in s:
        top = sorted(s["top_values"].items(), key=lambda kv: -kv[1])[:3]
        return ", ".join(f"{k[:20]} ({v})" for k, v in top)
    return f"{s.get('missing', 0)} missing"
