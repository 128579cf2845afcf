"""``lineage doctor --fix``: close what a killed process left RUNNING. An abandoned execution that
``settle`` can judge (a serving change whose intent was recorded) is closed COMPLETE when it took
effect, with the outputs it made, else FAILED with the reason; every other abandoned execution and
run is recorded FAILED. The repair itself is a ``Doctor`` execution naming what it closed (nothing
is deleted)."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

from ..query.health import HealthReport
from ..records import Execution
from ..store import Store
from .recording import Recording, now

__all__ = ["repair", "last_alive"]


def last_alive(e: Execution) -> float:
    """The last moment an abandoned execution's process is known to have been alive: its last
    write (MLMD's update time), never the moment it was found (a process killed 9 s in ran 9 s)."""
    times = [e.update_time_ms / 1000.0, float(e.get("started_at") or 0)]
    return max(times) or now()


def _run_last_alive(store: Store, c: Any) -> float:
    """An abandoned run's last sign of life: the newest write of it or of any of its steps."""
    times = [float(c.properties.get("resumed_at") or 0), float(c.properties.get("started_at") or 0),
             c.update_time_ms / 1000.0 if getattr(c, "update_time_ms", 0) else 0.0]
    for e in store.list_executions(filter_query=f"contexts_a.id = {c.id}", limit=50, order_by="id", ascending=False):
        times += [last_alive(e), float(e.get("ended_at") or 0)]
    return max(times) or now()


Settle = Callable[[Execution], Optional[Tuple[str, str, List[Tuple[Any, str]]]]]
#: something else doctor closes: ``(ref, outcome, close)``; ``close(doctor_id)`` does it
Closer = Tuple[str, str, Callable[[int], None]]


def repair(store: Store, report: HealthReport, settle: Optional[Settle] = None,
           others: Sequence[Closer] = ()) -> Optional[Execution]:
    """Close the fixable findings of ``report``; returns the Doctor execution (None: nothing to do).
    ``settle(execution)`` may say how an abandoned execution really ended: ``(state, reason,
    outputs)``. ``others`` are closed too (a lost server's versions, a crashed server's request
    logs). The Doctor's ``closed`` property says what became of each: ``e12 COMPLETE, c3 FAILED``."""
    if not report.executions and not report.runs and not others:
        return None
    verdicts = {e.id: settle(e) if settle is not None else None for e in report.executions}
    outcome = ([f"e{e.id} {'COMPLETE' if v is not None and v[0] == 'COMPLETE' else 'FAILED'}"
                for e, v in ((e, verdicts[e.id]) for e in report.executions)]
               + [f"c{c.id} FAILED" for c in report.runs] + [f"{ref} {what}" for ref, what, _ in others])
    reasons = {f.ref: f.detail for f in report.findings if f.fixable}
    rec = Recording(store, "Doctor", properties={"step": "lineage.doctor", "closed": ", ".join(outcome)},
                    in_run=False)
    doctor, _ = rec.finish("COMPLETE")
    for e in report.executions:
        verdict = verdicts[e.id]
        why = reasons.get(f"e{e.id}", "abandoned")
        if verdict is not None and verdict[0] == "COMPLETE":
            store.write_execution(type=e.type, state="COMPLETE", execution_id=e.id, outputs=verdict[2], properties={
                "ended_at": now(), "closed_by": doctor.id,
                "result": f"{why}, but the change took effect ({verdict[1]}); completed by lineage doctor "
                          f"(e{doctor.id})"})
            continue
        if verdict is not None:
            why = f"{why}; {verdict[1]}"
        store.write_execution(type=e.type, state="FAILED", execution_id=e.id, properties={
            "error_type": "Abandoned", "ended_at": last_alive(e), "closed_by": doctor.id,
            "error_message": f"{why}; closed by lineage doctor (e{doctor.id})"})
    for c in report.runs:
        store.put_context("PipelineRun", c.name, {
            "state": "FAILED", "ended_at": _run_last_alive(store, c), "error_type": "Abandoned",
            "error_message": f"{reasons.get(f'c{c.id}', 'abandoned')}; closed by lineage doctor (e{doctor.id})"})
    for _, _, close in others:
        close(doctor.id)
    return doctor
