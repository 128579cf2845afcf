"""``lineage doctor``: what in a store is inconsistent with the world.

- executions and runs left RUNNING whose owning process is gone (killed, or the machine went
  down): :mod:`lineage.owner` tells, for owners on this host;
- serving changes (push, rollback, promote, unpin) left RUNNING the same way;
- recorded artifacts missing on disk;
- version directories in a serving root that the store does not know (a push killed after
  copying, or files put there by hand);
- model servers (``lineage serve``, ``lineage watch``) whose lease expired without an end: lost
  (their process is gone, or on another host and not seen) or unresponsive (their process runs
  here but does not renew its lease).

Reading only; :mod:`lineage.recorder.repair` closes what can be closed.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..owner import owner_alive
from ..records import Artifact, Context, Execution, iso, utc_from_s
from ..layout import versions_on_disk
from ..store import Store
from ..vocab import execution_role
from .leases import ServerLease, all_leases
from .resolve import model_name_of, pushed_version
from .verify import verify

__all__ = ["Finding", "HealthReport", "check_health"]


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str        # abandoned-execution | abandoned-serving-change | abandoned-run | unknown-owner
    #                  | missing-artifact | unknown-version | lost-server | unresponsive-server
    #                  | unfinished-request-log | unfinished-upload | unfinished-gc | openlineage-undelivered | duplicate-version | duplicate-module
    ref: str         # e12, c3, a7, or MODEL:VERSION
    detail: str
    fixable: bool    # lineage doctor --fix closes it

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class HealthReport:
    findings: List[Finding]
    executions: List[Execution] = dataclasses.field(repr=False, default_factory=list)  # fixable ones
    runs: List[Context] = dataclasses.field(repr=False, default_factory=list)          # fixable ones
    servers: List[ServerLease] = dataclasses.field(repr=False, default_factory=list)   # lost ones

    @property
    def healthy(self) -> bool:
        return not self.findings

    def to_dict(self) -> Dict[str, Any]:
        return {"healthy": self.healthy, "findings": [f.to_dict() for f in self.findings]}


def _owner_verdict(owner: Optional[str]) -> Optional[str]:
    """Why a RUNNING row is abandoned, None if its owner still runs, '?' if it cannot be told."""
    if not owner:
        return "?"
    alive = owner_alive(owner)
    if alive is None:
        return "?"
    return None if alive else f"its process ({owner}) is gone"


def _running_executions(store: Store, report: List[Finding], fixable: List[Execution]) -> None:
    for e in store.list_executions(filter_query="last_known_state = RUNNING", limit=None, order_by="id",
                                   ascending=True):
        why = _owner_verdict(e.get("owner"))
        if why is None:
            continue
        serving = execution_role(e.type) in ("push", "serving")
        if why == "?":
            report.append(Finding("unknown-owner", f"e{e.id}", f"{e.type} is RUNNING and its owner "
                                  f"({e.get('owner') or 'not recorded'}) cannot be checked from here", False))
            continue
        kind = "abandoned-serving-change" if serving else "abandoned-execution"
        report.append(Finding(kind, f"e{e.id}", f"{e.type} is RUNNING but {why}", True))
        fixable.append(e)


def _running_runs(store: Store, report: List[Finding], fixable: List[Context]) -> None:
    if not store.has_type("context", "PipelineRun"):
        return
    for c in store.list_contexts(filter_query="type = 'PipelineRun' AND properties.state.string_value = 'RUNNING'",
                                 limit=None):
        why = _owner_verdict(c.get("owner"))
        if why is None:
            continue
        if why == "?":
            report.append(Finding("unknown-owner", f"c{c.id}", f"run {c.name!r} is RUNNING and its owner "
                                  f"cannot be checked from here", False))
            continue
        report.append(Finding("abandoned-run", f"c{c.id}", f"run {c.name!r} is RUNNING but {why}", True))
        fixable.append(c)


def _unknown_versions(store: Store, report: List[Finding]) -> None:
    if not store.has_type("artifact", "PushedModel"):
        return
    known: Dict[Path, Dict[str, Any]] = {}
    for a in store.list_artifacts(filter_query="type = 'PushedModel'", limit=None):
        name, version = model_name_of(a), pushed_version(a)
        if name is None or version is None:
            continue
        entry = known.setdefault(Path(a.path).parent, {"name": name, "versions": set()})
        entry["versions"].add(version)
    for base, entry in sorted(known.items()):
        for v in versions_on_disk(base):
            if v not in entry["versions"]:
                report.append(Finding("unknown-version", f"{entry['name']}:{v}",
                                      f"{base / str(v)} is served from but was never recorded as pushed",
                                      False))


def _two_contents(store: Store, report: List[Finding]) -> None:
    """One name, two contents (stores written before versions were numbered by the store): a served
    version pushed twice with different bytes, a module handle and version recorded twice so."""
    groups: Dict[tuple, Dict[str, List[int]]] = {}
    if store.has_type("artifact", "PushedModel"):
        for a in store.list_artifacts(filter_query="type = 'PushedModel'", limit=None):
            name, version = model_name_of(a), pushed_version(a)
            if name is not None and version is not None:
                groups.setdefault(("duplicate-version", f"{name}:{version}"), {}).setdefault(
                    str(a.fingerprint or a.uri), []).append(a.id)
    if store.has_type("artifact", "HubModule"):
        for a in store.list_artifacts(filter_query="type = 'HubModule'", limit=None):
            handle = a.get("handle")
            if handle and a.get("version") is not None:
                groups.setdefault(("duplicate-module", str(handle)), {}).setdefault(
                    str(a.fingerprint or a.uri), []).append(a.id)
    for (kind, ref), contents in sorted(groups.items()):
        if len(contents) > 1:
            what = "served version" if kind == "duplicate-version" else "module version"
            ids = "; ".join(", ".join(f"a{i}" for i in sorted(v)) + f" ({k[:19]})" for k, v in sorted(contents.items()))
            report.append(Finding(kind, ref, f"one {what}, {len(contents)} contents: {ids}: provenance of {ref} "
                                  f"is ambiguous (recorded before lineage numbered versions by the store)", False))


def _lost_servers(store: Store, report: List[Finding], fixable: List[ServerLease], now: float) -> None:
    for lease in all_leases(store):
        if lease.end_state or lease.expires_at >= now:
            continue
        seen = f"{iso(utc_from_s(lease.heartbeat_at))} ({int(now - lease.heartbeat_at)} s ago)"
        what = "model server" if lease.kind == "serve" else f"{lease.kind} of"
        if owner_alive(lease.owner):
            report.append(Finding("unresponsive-server", f"c{lease.id}", f"{what} {lease.address} has not renewed its "
                                  f"lease since {seen}, but its process ({lease.owner}) runs (stopped with SIGSTOP? "
                                  f"store unreachable from it?)", False))
            continue
        gone = "its process is gone" if owner_alive(lease.owner) is False else f"on {lease.machine or 'another host'}"
        report.append(Finding("lost-server", f"c{lease.id}", f"{what} {lease.address} not seen since {seen}, lease of "
                              f"{lease.lease_seconds:g} s expired ({gone}); what it reported is stale", True))
        fixable.append(lease)


def check_health(store: Store, *, check_files: bool = True, now: Optional[float] = None) -> HealthReport:
    """Everything inconsistent in the store (see the module docstring)."""
    findings: List[Finding] = []
    executions: List[Execution] = []
    runs: List[Context] = []
    servers: List[ServerLease] = []
    _running_executions(store, findings, executions)
    _running_runs(store, findings, runs)
    _lost_servers(store, findings, servers, now if now is not None else time.time())
    if check_files:
        missing: List[Artifact] = verify(store).missing
        findings += [Finding("missing-artifact", f"a{a.id}", f"{a.type} at {a.uri} is gone", False)
                     for a in missing]
    _unknown_versions(store, findings)
    _two_contents(store, findings)
    return HealthReport(findings, executions, runs, servers)
