"""What ``lineage gc`` may remove, and why everything else stays (read-only: the removal is
:mod:`lineage.recorder.gc`).

An artifact's files may go only when lineage wrote them (under the store's artifact root, local
or on object storage, and not registered from outside) and nothing protects them. Protected,
always:

- the complete ancestry of every version that ever served: every artifact upstream of every
  pushed version, and every output of the steps on the way (an evaluator's evaluation beside the
  blessing the push read);
- anything ever tainted (the evidence), anything tagged ``keep`` (``lineage tag a12 keep=...``)
  or in a run tagged ``keep``;
- anything newer than the retention window (``keep_days``), anything of the newest ``keep_runs``
  runs, and the inputs of a step still running.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from ..errors import InvalidInput
from ..objects import is_remote
from ..records import Artifact
from ..store import Store
from ..vocab import RUN_CONTEXT_TYPES, is_local, local_path, quote, types_of_role
from .graph import trace
from .taint import taint_marks

__all__ = ["GcPlan", "Removable", "plan_gc", "KEEP_TAG"]

#: the tag that keeps an artifact, or every artifact of a run (any value)
KEEP_TAG = "tags.keep"
_PAGE = 2000


@dataclasses.dataclass(frozen=True)
class Removable:
    artifact: Artifact
    size_bytes: int
    why: str          # why nothing protects it

    def to_dict(self) -> Dict[str, Any]:
        return {**self.artifact.summary(), "size_bytes": self.size_bytes, "why": self.why}


@dataclasses.dataclass(frozen=True)
class GcPlan:
    keep_days: float
    keep_runs: int
    removable: List[Removable]
    protected: Dict[str, int]     # reason -> how many LIVE artifacts it keeps
    checked: int

    @property
    def size_bytes(self) -> int:
        return sum(r.size_bytes for r in self.removable)

    def to_dict(self) -> Dict[str, Any]:
        return {"keep_days": self.keep_days, "keep_runs": self.keep_runs, "checked": self.checked,
                "removable": [r.to_dict() for r in self.removable], "size_bytes": self.size_bytes,
                "protected": dict(self.protected)}


def live_artifacts(store: Store) -> List[Artifact]:
    out: List[Artifact] = []
    last = 0
    while True:
        batch = store.list_artifacts(filter_query=f"id > {last} AND state = LIVE", limit=_PAGE,
                                     order_by="id", ascending=True)
        out += batch
        if len(batch) < _PAGE:
            return out
        last = batch[-1].id


def served_ancestry(store: Store) -> Set[int]:
    """Every artifact upstream of every version that ever served, with the other outputs of the
    steps on the way, and the pushed versions themselves."""
    pushed: List[int] = []
    for type_name in types_of_role("pushed"):
        if store.has_type("artifact", type_name):
            pushed += [a.id for a in store.list_artifacts(filter_query=f"type = {quote(type_name)}", limit=None)]
    if not pushed:
        return set()
    up = trace(store, [("artifact", i) for i in pushed], "UPSTREAM")
    keep = {a.id for a in up.artifacts()} | set(pushed)
    steps = [e.id for e in up.executions()]
    for i in range(0, len(steps), 500):
        keep |= {ev.artifact_id for ev in store.events_of_executions(steps[i:i + 500]) if ev.type == "OUTPUT"}
    return keep


def tainted_ever(store: Store) -> Set[int]:
    """Every artifact a Taint mark ever named (evidence, even when lifted since)."""
    marks = [e.id for e in taint_marks(store) if e.type == "Taint"]
    out: Set[int] = set()
    for i in range(0, len(marks), 500):
        out |= {ev.artifact_id for ev in store.events_of_executions(marks[i:i + 500]) if ev.type == "INPUT"}
    return out


def _runs(store: Store) -> List[Any]:
    runs: List[Any] = []
    for t in RUN_CONTEXT_TYPES:
        if store.has_type("context", t):
            runs += store.list_contexts(filter_query=f"type = {quote(t)}", limit=None)
    return sorted(runs, key=lambda c: -c.id)


def _in_running_steps(store: Store) -> Set[int]:
    running = store.list_executions(filter_query="last_known_state = RUNNING", limit=None)
    ids = [e.id for e in running]
    return {ev.artifact_id for ev in store.events_of_executions(ids) if ev.type == "INPUT"} if ids else set()


class _Roots:
    """Where lineage writes a store's artifacts: the object store root, and the local root as
    given and as resolved (recorded paths use the form the steps saw). Checked by string prefix:
    no file system call per artifact."""

    def __init__(self, store: Store) -> None:
        remote = store.config.artifact_remote
        self.remote = remote.rstrip("/") + "/" if remote else ""
        given = Path(store.config.artifact_root).absolute()
        self.local = tuple({os.path.normpath(str(given)) + os.sep, os.path.normpath(str(given.resolve())) + os.sep})

    def wrote(self, a: Artifact) -> bool:
        """Whether lineage wrote ``a``'s files: under the artifact root, not registered data."""
        if a.get("external"):
            return False
        if self.remote and is_remote(a.uri):
            return a.uri.startswith(self.remote)
        if not is_local(a.uri):
            return False
        return os.path.normpath(os.path.abspath(local_path(a.uri))).startswith(self.local)


def plan_gc(store: Store, *, keep_days: float = 30, keep_runs: int = 0, now: Optional[float] = None) -> GcPlan:
    """What ``lineage gc`` would remove (nothing is changed), and what each protection keeps."""
    if not isinstance(keep_days, (int, float)) or isinstance(keep_days, bool) or keep_days < 0:
        raise InvalidInput(f"keep_days (--keep-days) must be a number of days >= 0, not {keep_days!r}")
    if not isinstance(keep_runs, int) or isinstance(keep_runs, bool) or keep_runs < 0:
        raise InvalidInput(f"keep_runs (--keep-runs) must be a whole number >= 0, not {keep_runs!r}")
    now = time.time() if now is None else now
    live = live_artifacts(store)
    served = served_ancestry(store)
    tainted = tainted_ever(store)
    running = _in_running_steps(store)
    runs = _runs(store)
    kept_runs: Set[int] = set()
    for c in runs[:keep_runs]:
        kept_runs |= {a.id for a in store.artifacts_in_context(c.id, limit=None)}
    tagged_runs: Set[int] = set()
    for c in runs:
        if c.custom_properties.get(KEEP_TAG) not in (None, ""):
            tagged_runs |= {a.id for a in store.artifacts_in_context(c.id, limit=None)}
    cutoff_ms = (now - keep_days * 86400) * 1000
    protected: Dict[str, int] = {}
    removable: List[Removable] = []
    root = store.config.artifact_remote or str(store.config.artifact_root)
    roots = _Roots(store)
    for a in live:
        if not roots.wrote(a):
            reason: Optional[str] = f"not lineage's to remove (registered data, or outside the artifact root {root})"
        elif a.id in served:
            reason = "ancestry of a version that served"
        elif a.id in tainted:
            reason = "tainted (evidence)"
        elif a.custom_properties.get(KEEP_TAG) not in (None, "") or a.id in tagged_runs:
            reason = "tagged keep"
        elif a.create_time_ms >= cutoff_ms:
            reason = f"newer than {keep_days:g} days"
        elif a.id in kept_runs:
            reason = f"in the newest {keep_runs} run(s)"
        elif a.id in running:
            reason = "input of a running step"
        else:
            reason = None
        if reason is not None:
            protected[reason] = protected.get(reason, 0) + 1
            continue
        age = (now * 1000 - a.create_time_ms) / 86400e3
        removable.append(Removable(a, int(a.get("size_bytes") or 0),
                                   f"{age:.0f} days old, never served, not tainted, not tagged keep"))
    return GcPlan(keep_days, keep_runs, removable, protected, len(live))
