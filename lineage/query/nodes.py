"""One node's neighbours: the executions that produced or read an artifact, and an execution's
input and output artifacts by argument name."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from ..records import Artifact, Execution
from ..store import Store
from ..vocab import INPUT_EVENTS, OUTPUT_EVENTS

__all__ = ["producers", "consumers", "inputs", "outputs"]


def _linked(store: Store, artifact_id: int, types: Sequence[str], newest: Optional[int] = None) -> List[Execution]:
    ids = sorted({e.execution_id for e in store.events_of_artifacts([artifact_id]) if e.type in types})
    return store.get_executions(ids if newest is None else ids[len(ids) - min(newest, len(ids)):])


def producers(store: Store, artifact_id: int) -> List[Execution]:
    """The executions that wrote ``artifact_id`` (a cache hit's CACHED execution included)."""
    return _linked(store, artifact_id, OUTPUT_EVENTS)


def consumers(store: Store, artifact_id: int, newest: Optional[int] = None) -> List[Execution]:
    """The executions that read ``artifact_id``, by id (only the ``newest`` ones, if given: a
    shared dataset is read by thousands)."""
    return _linked(store, artifact_id, INPUT_EVENTS, newest)


def _io(store: Store, execution_id: int, types: Sequence[str]) -> Dict[str, List[Artifact]]:
    events = [e for e in store.events_of_executions([execution_id]) if e.type in types]
    arts = {a.id: a for a in store.get_artifacts(sorted({e.artifact_id for e in events}))}
    out: Dict[str, List[Artifact]] = {}
    for e in events:
        if e.artifact_id in arts:
            for key in e.keys or ("",):
                out.setdefault(key, []).append(arts[e.artifact_id])
    return out


def inputs(store: Store, execution_id: int) -> Dict[str, List[Artifact]]:
    """An execution's input artifacts by argument name."""
    return _io(store, execution_id, INPUT_EVENTS)


def outputs(store: Store, execution_id: int) -> Dict[str, List[Artifact]]:
    """An execution's output artifacts by argument name."""
    return _io(store, execution_id, OUTPUT_EVENTS)
