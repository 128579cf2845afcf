"""Prediction logs read back: which answers each served version gave, and when.

The files are ``PredictionLogs`` artifacts in a model's ServingEndpoint context (recorded by
``lineage serve`` as it closes them, or by ``lineage ingest-logs``); their properties say how
many sampled requests each version answered, between which times, at which sampling rate.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Optional, Sequence

from ..records import Artifact
from ..store import Store
from ..vocab import quote
from .resolve import parse_when

__all__ = ["prediction_logs", "summarize", "VersionTraffic"]


@dataclasses.dataclass(frozen=True)
class VersionTraffic:
    """The logged answers of one model version."""

    model: str
    version: int
    files: int
    sampled: int           # answers in the logs
    estimated: float       # answers given: each file's sampled count over its sampling rate
    first: Optional[float]
    last: Optional[float]
    dropped: int           # samples the server dropped (its log queue was full)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def prediction_logs(store: Store, model_name: str, *, since: Any = None, until: Any = None,
                    version: Optional[int] = None, limit: Optional[int] = None) -> List[Artifact]:
    """The PredictionLogs files of ``model_name`` overlapping [since, until], oldest first."""
    if not store.has_type("artifact", "PredictionLogs"):
        return []
    q = ["type = 'PredictionLogs'", f"properties.model_name.string_value = {quote(model_name)}"]
    if since is not None:
        q.append(f"properties.last_request_at.double_value >= {float(parse_when(since)) - 1e-3!r}")
    if until is not None:
        q.append(f"properties.first_request_at.double_value <= {float(parse_when(until)) + 1e-3!r}")
    found = store.list_artifacts(filter_query=" AND ".join(q), limit=limit, order_by="id", ascending=True)
    if version is not None:
        found = [a for a in found if str(int(version)) in json.loads(a.properties.get("version_counts") or "{}")]
    return found


def summarize(artifacts: Sequence[Artifact]) -> List[VersionTraffic]:
    """Per (model, version): files, sampled and estimated answers, first and last time."""
    rows: Dict[tuple, Dict[str, Any]] = {}
    for a in artifacts:
        rate = a.properties.get("sampling_rate") or 0.0
        model = a.properties.get("model_name") or ""
        for v, n in json.loads(a.properties.get("version_counts") or "{}").items():
            row = rows.setdefault((model, int(v)), {"files": 0, "sampled": 0, "estimated": 0.0, "first": None,
                                                     "last": None, "dropped": 0})
            row["files"] += 1
            row["sampled"] += int(n)
            row["estimated"] += int(n) / rate if rate > 0 else 0.0
            row["dropped"] += int(a.properties.get("dropped_count") or 0)
            f, last = a.properties.get("first_request_at"), a.properties.get("last_request_at")
            if f is not None and (row["first"] is None or f < row["first"]):
                row["first"] = f
            if last is not None and (row["last"] is None or last > row["last"]):
                row["last"] = last
    return [VersionTraffic(m, v, **r) for (m, v), r in sorted(rows.items())]


def training_statistics(store: Store, pushed: Artifact) -> Optional[Dict[str, Any]]:
    """The statistics ingest recorded for the data a pushed version was trained on:
    ``{"artifact": id, "features": {...}}`` from the ``statistics.json`` of an ExampleStatistics
    output of an ingest step upstream of it; None when there is none."""
    from pathlib import Path

    from ..vocab import execution_role, type_leaf
    from .graph import trace

    graph = trace(store, [("artifact", int(pushed.id))], "UPSTREAM")  # type: ignore[arg-type]
    ingests = sorted((e.id for e in graph.executions() if execution_role(e.type) == "ingest"), reverse=True)
    if not ingests:
        return None
    outputs = [ev.artifact_id for ev in store.events_of_executions(ingests) if ev.type == "OUTPUT"]
    for a in sorted(store.get_artifacts(outputs), key=lambda a: -a.id):
        if type_leaf(a.type) != "ExampleStatistics":
            continue
        path = Path(a.path) / "statistics.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        return {"artifact": a.id, "features": doc.get("features", {})}
    return None


def serving_skew(store: Store, model_name: str, *, version: Optional[int] = None, since: Any = None,
                 until: Any = None, threshold: float = 0.1) -> Dict[str, Any]:
    """The logged requests' input statistics beside the training data's, feature by feature
    (:func:`lineage.statistics.skew`), for one version (default: the newest one with logs)."""
    from ..errors import NotFound
    from ..statistics import merge, skew
    from .resolve import pushed_of

    files = prediction_logs(store, model_name, since=since, until=until, version=version)
    if not files:
        raise NotFound(f"no logged requests of {model_name}" + (f" version {version}" if version is not None else "")
                       + ": give the model a logging_config (see docs/serving.md, Prediction logs)")
    if version is None:
        version = max(int(v) for a in files for v in json.loads(a.properties.get("version_counts") or "{}"))
        files = [a for a in files if str(version) in json.loads(a.properties.get("version_counts") or "{}")]
    serving = merge(json.loads(a.properties["input_statistics"]) for a in files
                    if a.properties.get("input_statistics"))
    pushed = pushed_of(store, model_name, version)
    training = training_statistics(store, max(pushed, key=lambda a: a.id)) if pushed else None
    return {"model": model_name, "version": version, "files": len(files),
            "requests": sum(int(a.properties.get("request_count") or 0) for a in files),
            "training_statistics": training["artifact"] if training else None,
            "features": skew(training["features"] if training else {}, serving, threshold)}


__all__ += ["training_statistics", "serving_skew"]
