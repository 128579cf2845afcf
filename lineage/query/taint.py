"""Taints: which artifacts are marked bad now (the latest Taint or Untaint of each wins).
Marking is a write and lives in :mod:`lineage.recorder.marks`."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Dict, List, Optional

from ..records import Execution
from ..store import Store
from .graph import trace
from .resolve import event_time

__all__ = ["TaintRecord", "taint_marks", "tainted", "tainted_upstream"]


@dataclasses.dataclass(frozen=True)
class TaintRecord:
    artifact_id: int
    reason: str
    execution: Execution

    @property
    def when(self) -> Optional[_dt.datetime]:
        return self.execution.started

    @property
    def user(self) -> Optional[str]:
        return self.execution.properties.get("user")

    def to_dict(self) -> Dict[str, object]:
        return {"artifact": f"a{self.artifact_id}", "reason": self.reason, "user": self.user,
                "when": self.when.isoformat() if self.when else None, "execution": self.execution.ref}


def taint_marks(store: Store) -> List[Execution]:
    """Every Taint and Untaint execution, by id."""
    kinds = [t for t in ("Taint", "Untaint") if store.has_type("execution", t)]
    return store.get_executions(store.execution_ids_of_types(kinds)) if kinds else []


def tainted(store: Store) -> Dict[int, TaintRecord]:
    """Artifacts whose latest Taint/Untaint is a Taint, with the reason."""
    marks = taint_marks(store)
    if not marks:
        return {}
    events = store.events_of_executions([e.id for e in marks])
    target = {ev.execution_id: ev.artifact_id for ev in events if ev.type == "INPUT"}
    state: Dict[int, Optional[TaintRecord]] = {}
    for e in sorted(marks, key=lambda e: (event_time(e), e.id)):
        aid = target.get(e.id)
        if aid is None:
            continue
        state[aid] = TaintRecord(aid, e.properties.get("reason", ""), e) if e.type == "Taint" else None
    return {k: v for k, v in state.items() if v is not None}


def tainted_upstream(store: Store, artifact_id: int, marks: Optional[Dict[int, TaintRecord]] = None
                     ) -> List[TaintRecord]:
    """The taints on ``artifact_id`` itself and on anything it was made from, the artifact's own
    first (cache hits are not productions: see :mod:`lineage.query.graph`)."""
    marks = tainted(store) if marks is None else marks
    if not marks:
        return []
    up = {a.id for a in trace(store, [("artifact", artifact_id)], "UPSTREAM").artifacts()}
    return sorted((marks[i] for i in up if i in marks), key=lambda t: (t.artifact_id != artifact_id, t.artifact_id))
