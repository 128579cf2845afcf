"""Prediction logs in lineage: each closed log file of sampled requests (TF Serving's
``logging_config``; written by ``lineage serve`` or by a TF Serving fleet) becomes a
``PredictionLogs`` artifact, output of a ``LogPredictions`` execution whose input is the
PushedModel version that answered, in the model's ServingEndpoint context. The graph therefore
reaches past a served version to the answers it gave: ``impact`` of a bad dataset counts them.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, Mapping, Optional

from ..fingerprint import fingerprint
from ..query import pushed_of, pushed_version
from ..recorder import Recording
from ..records import Artifact, Execution
from ..store import Store
from ..uris import to_uri

__all__ = ["record_prediction_log", "already_recorded"]


def record_prediction_log(store: Store, model_name: str, path: str, version_counts: Mapping[int, int], *,
                          first: float, last: float, sampling_rate: float, dropped: int = 0,
                          server: str = "", input_statistics: Optional[Mapping[str, Any]] = None,
                          lost: int = 0, remote: Optional[Mapping[str, int]] = None) -> Execution:
    """Record one closed log file (see the module docstring). ``version_counts``: sampled
    requests per version that answered them; ``lost``: bytes of a truncated tail left out when a
    crashed server's file was recovered; ``remote``: a head's remote calls answered while the file
    was open, by module version (``{"review-text-encoder:1": 57}``)."""
    fp = fingerprint(path)
    counts = {int(v): int(n) for v, n in version_counts.items() if n}
    pushed = {pushed_version(a): a for a in sorted(pushed_of(store, model_name), key=lambda a: a.id)}
    inputs = [(f"version_{v}" if len(counts) > 1 else "version", pushed[v]) for v in sorted(counts) if v in pushed]
    props: Dict[str, Any] = {
        "model_name": model_name, "version_counts": json.dumps({str(v): n for v, n in sorted(counts.items())}),
        "request_count": sum(counts.values()), "first_request_at": first, "last_request_at": last,
        "sampling_rate": sampling_rate, "dropped_count": int(dropped), "server": server,
        "fingerprint": fp.digest, "size_bytes": fp.size_bytes, "file_count": fp.file_count}
    if lost:
        props["lost_bytes"] = int(lost)
    if remote:
        props["remote_answers"] = json.dumps(dict(sorted(remote.items())))
    if input_statistics:
        props["input_statistics"] = json.dumps(input_statistics, sort_keys=True)
    if len(counts) == 1:
        props["model_version"] = next(iter(counts))
    exec_props: Dict[str, Any] = {"step": "lineage.predictions", "model_name": model_name, "server": server,
                                  "started_at": first or time.time(), "ended_at": last or time.time()}
    if len(counts) == 1:
        exec_props["target_version"] = next(iter(counts))
    rec = Recording(store, "LogPredictions", inputs=inputs, properties=exec_props, in_run=False)
    rec.attach_context("ServingEndpoint", model_name, {"model_name": model_name})
    artifact = Artifact(id=None, type="PredictionLogs", uri=to_uri(path), properties=props)
    return rec.finish("COMPLETE", outputs=[(artifact, "logs")], reread=False)[0]


def already_recorded(store: Store, path: str) -> Optional[Artifact]:
    """The PredictionLogs artifact of this file with this content, if recorded before."""
    if not store.has_type("artifact", "PredictionLogs"):
        return None
    return store.find_artifact("PredictionLogs", to_uri(path), fingerprint(path).digest)
