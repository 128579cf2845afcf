"""``lineage doctor --fix``: close what a killed process left RUNNING. Each abandoned execution
is recorded FAILED with the reason, each abandoned run FAILED, and the repair itself is recorded
as a ``Doctor`` execution naming what it closed (nothing is deleted)."""

from __future__ import annotations

from typing import Optional

from ..query.health import HealthReport
from ..records import Execution
from ..store import Store
from .recording import Recording, now

__all__ = ["repair"]


def repair(store: Store, report: HealthReport) -> Optional[Execution]:
    """Close the fixable findings of ``report``; returns the Doctor execution (None: nothing to do)."""
    if not report.executions and not report.runs:
        return None
    closed = [f"e{e.id}" for e in report.executions] + [f"c{c.id}" for c in report.runs]
    reasons = {f.ref: f.detail for f in report.findings if f.fixable}
    rec = Recording(store, "Doctor", properties={"step": "lineage.doctor", "closed": ", ".join(closed)},
                    in_run=False)
    doctor, _ = rec.finish("COMPLETE")
    for e in report.executions:
        store.write_execution(type=e.type, state="FAILED", execution_id=e.id, properties={
            "error_type": "Abandoned", "ended_at": now(), "closed_by": doctor.id,
            "error_message": f"{reasons.get(f'e{e.id}', 'abandoned')}; closed by lineage doctor (e{doctor.id})"})
    for c in report.runs:
        store.put_context("PipelineRun", c.name, {
            "state": "FAILED", "ended_at": now(), "error_type": "Abandoned",
            "error_message": f"{reasons.get(f'c{c.id}', 'abandoned')}; closed by lineage doctor (e{doctor.id})"})
    return doctor
