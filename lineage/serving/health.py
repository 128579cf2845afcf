"""What ``lineage doctor`` checks and settles on the serving side, beyond the store's own rows:

- a lost model server (its lease expired, its process gone): ``--fix`` records END for every
  version it last reported loaded ("server lost", at the last moment it was known alive) and ends
  its lease LOST, so "serving now" stops showing its stale report;
- request log files a crashed server left unfinished (``*.tfrecord.part``, writer gone), found
  under the logging prefixes of the model configs the store's servers served: ``--fix`` keeps
  their intact records in a closed file, counts the truncated tail as lost, and records it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Dict, List, Tuple

from ..errors import LineageError
from ..query.health import Finding
from ..query.leases import ServerLease
from ..records import iso, utc_from_s
from ..recorder.repair import Closer
from ..store import Store
from ..vocab import quote
from .config import read_config
from .observe import record_observation

__all__ = ["serving_closers", "log_prefixes", "end_lost_server"]


def end_lost_server(store: Store, lease: ServerLease, doctor_id: int) -> None:
    """Record END ("server lost") for each version ``lease``'s process last reported in another
    state, at the last moment it was known alive; end the lease LOST. A lost *watcher* only has its
    lease ended: the server it watched may well run on (its reports stay stale, never END)."""
    newest: Dict[Tuple[str, int], Tuple[float, int, str]] = {}
    if lease.kind == "serve" and store.has_type("execution", "ServingObservation"):
        for e in store.list_executions(filter_query=f"type = 'ServingObservation' AND "
                                       f"properties.server_instance.string_value = {quote(lease.name)}", limit=None):
            key = (str(e.get("model_name")), int(e.get("target_version")))
            seen = (float(e.get("observed_at") or 0), e.id, str(e.get("serving_state")))
            if key not in newest or seen[:2] > newest[key][:2]:
                newest[key] = seen
    last = max([lease.heartbeat_at] + [t for t, _, _ in newest.values()])
    why = (f"server lost: {lease.address} not seen since {iso(utc_from_s(lease.heartbeat_at))}; "
           f"ended by lineage doctor (e{doctor_id})")
    for (model, version), (_, _, state) in sorted(newest.items()):
        if state != "END":
            record_observation(store, model, version, "END", server=lease.address, at=last, error=why,
                               instance=lease.name)
    store.put_context("ModelServer", lease.name, {"ended_at": last, "end_state": "LOST"})


def log_prefixes(store: Store) -> Dict[str, str]:
    """``{filename_prefix: model}`` of every request log the model configs of the store's servers
    ask for (configs that cannot be read now are passed over)."""
    from .server.predlog import log_config_of

    out: Dict[str, str] = {}
    for path in sorted({str(c.properties["config_path"]) for c in _server_contexts(store)
                        if c.properties.get("config_path")}):
        if not Path(path).exists():
            continue
        try:
            entries = read_config(path).model_config_list.config
        except LineageError:
            continue
        for entry in entries:
            try:
                cfg = log_config_of(entry)
            except LineageError:
                continue
            if cfg is not None:
                out[cfg.prefix] = entry.name
    return out


def _server_contexts(store: Store) -> List:
    if not store.has_type("context", "ModelServer"):
        return []
    return store.list_contexts(filter_query="type = 'ModelServer'", limit=None)


def serving_closers(store: Store, lost: List[ServerLease]) -> Tuple[List[Finding], List[Closer]]:
    """Findings for unfinished request logs, and what ``doctor --fix`` does about them and about
    the ``lost`` servers (found by :func:`lineage.query.check_health`)."""
    from .server.predlog import find_parts

    findings: List[Finding] = []
    closers: List[Closer] = []
    for lease in lost:
        closers.append((f"c{lease.id}", "LOST", functools.partial(end_lost_server, store, lease)))
    for path, model in find_parts(log_prefixes(store)):
        findings.append(Finding("unfinished-request-log", path, f"{model}: a request log a stopped server never "
                                f"closed; --fix keeps its intact records and records them", True))
        closers.append((path, "RECOVERED", functools.partial(_recover, store, path, model)))
    return findings, closers


def _recover(store: Store, path: str, model: str, doctor_id: int) -> None:
    from .predictions import record_prediction_log
    from .server.predlog import recover_part

    c = recover_part(path, model)
    record_prediction_log(store, c.model, c.path, {c.version: c.records}, first=c.first_time, last=c.last_time,
                          sampling_rate=c.sampling_rate, server="recovered by lineage doctor",
                          input_statistics=c.input_statistics, lost=c.lost)

