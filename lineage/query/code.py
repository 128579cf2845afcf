"""What code ran an execution: git commit and dirty flag, Python and package versions, user
and host. A step inside a run records these only where they differ from its run's (the
PipelineRun context holds them once, see :mod:`lineage.recorder.runs`); every reader asks here,
which gives the execution's own values over its run's. Executions lineage did not write (TFX's)
are answered from their own properties alone."""

from __future__ import annotations

from typing import Any, Dict, Sequence

from ..codeversion import RUN_CONSTANTS
from ..records import Execution
from ..store import Store

__all__ = ["code_versions", "code_of", "RUN_CONSTANTS"]


def code_versions(store: Store, executions: Sequence[Execution]) -> Dict[int, Dict[str, Any]]:
    """``{execution id: {key: value}}`` for the :data:`RUN_CONSTANTS` keys: the execution's own
    where it recorded them, else its run's (one contexts read for those that need it)."""
    lean = [e for e in executions if "started_at" in e.properties and any(k not in e.properties for k in RUN_CONSTANTS)]
    runs = store.run_contexts_of([e.id for e in lean]) if lean else {}
    out: Dict[int, Dict[str, Any]] = {}
    for e in executions:
        run = runs.get(e.id)
        merged = {k: run.properties[k] for k in RUN_CONSTANTS if run is not None and run.properties.get(k) is not None}
        merged.update({k: e.properties[k] for k in RUN_CONSTANTS if e.properties.get(k) is not None})
        out[e.id] = merged
    return out


def code_of(store: Store, execution: Execution) -> Dict[str, Any]:
    """The :data:`RUN_CONSTANTS` of one execution (see :func:`code_versions`)."""
    return code_versions(store, [execution])[execution.id]
