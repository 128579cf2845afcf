"""Taint and untaint: an artifact marked bad (or cleared) is recorded as an execution that reads
it, with who, when and why. Nothing is changed or deleted; :mod:`lineage.query.taint` reads
the marks back."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from ..records import Execution
from ..store import Store
from ..query import as_artifact, tainted
from .recording import Recording, now

__all__ = ["taint", "untaint"]


def _mark(store: Store, action: str, artifact: Any, reason: str) -> Execution:
    if not reason or not str(reason).strip():
        raise InvalidInput(f"{action.lower()} needs a reason (who should know why?)")
    art = as_artifact(store, artifact)
    stamp = now()
    rec = Recording(store, action, inputs=[("artifact", art)], properties={
        "reason": str(reason), "started_at": stamp, "ended_at": stamp, "step": f"lineage.{action.lower()}"},
                    in_run=False)
    execution, _ = rec.finish("COMPLETE")
    return execution


def taint(store: Store, artifact: Any, reason: str) -> Execution:
    """Mark an artifact bad (a ``Taint`` execution reading it; nothing is changed or deleted)."""
    return _mark(store, "Taint", artifact, reason)


def untaint(store: Store, artifact: Any, reason: str) -> Execution:
    """Lift a taint (an ``Untaint`` execution; the taint stays on record)."""
    art = as_artifact(store, artifact)
    if art.id not in tainted(store):
        raise InvalidInput(f"artifact {art.id} is not tainted")
    return _mark(store, "Untaint", art, reason)
