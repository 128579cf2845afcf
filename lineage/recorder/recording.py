"""The one recording primitive: :class:`Recording`, one execution from start to end state.

``@step``, ``record()``, the taint marks and every serving change (push, rollback, promote,
unpin) record through it:

    with Recording(store, "Rollback", inputs=[("target", pushed)], params={...}) as rec:
        rec.annotate(target_version=3)
        rec.attach_context("ServingEndpoint", "reviews")
        ...                                   # the work; an exception records FAILED

- :meth:`start` writes the execution RUNNING with its INPUT events and contexts (one MLMD call);
  :meth:`defer_start` asks for that write only if the execution is still unfinished after a
  threshold (``@step``: a step that ends sooner is written once, whole; see :func:`running_after`);
- :meth:`finish` writes the end state with the outputs, properties and annotations (one call),
  or, when never started, the whole execution at once (``record()``, cache hits);
- :meth:`fail` writes FAILED with the error (CANCELED for Ctrl-C and SystemExit).

Inside a ``with`` block (and a ``@step`` body) the recording is *active*: :func:`annotate` and
:func:`attach_context` reach it from anywhere in that thread or task.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import os
import signal
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..codeversion import RUN_CONSTANTS, code_version
from ..errors import InvalidInput, LineageError
from ..owner import this_owner
from ..records import Artifact, Context, Execution
from ..store import ArtifactRef, Store
from ..vocab import check_execution_state
from .current import active_run
from .metrics import MetricLog

__all__ = ["Recording", "running_after", "start_pending", "active_recording", "log_metric", "log_metrics", "annotate", "attach_context", "current_execution_id", "now", "error_properties"]

log = logging.getLogger("lineage")

_active: contextvars.ContextVar[Optional["Recording"]] = contextvars.ContextVar(
    "lineage_recording", default=None)


#: Default of $LINEAGE_RUNNING_AFTER: seconds a step runs before its RUNNING row is written.
RUNNING_AFTER = 1.0


def running_after() -> float:
    """Seconds a ``@step`` body runs before its execution is written RUNNING: ``$LINEAGE_RUNNING_AFTER``
    (default 1.0; 0 writes RUNNING before every body, as a two-write recorder does). A step that
    ends sooner is written once, in its end state; one that runs longer is visible as RUNNING
    (with its owner, so ``lineage doctor`` finds it if the process is killed)."""
    raw = os.environ.get("LINEAGE_RUNNING_AFTER", "")
    if not raw.strip():
        return RUNNING_AFTER
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise InvalidInput(f"LINEAGE_RUNNING_AFTER={raw!r}: give the seconds a step runs before it is "
                           f"written RUNNING, a number >= 0 (0: before every step body)")
    return value


class _LateStarts:
    """One daemon thread that writes RUNNING for the deferred recordings still unfinished at
    their deadline (a heap of deadlines; finished recordings are skipped when their turn comes)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: List[Tuple[float, int, "Recording"]] = []
        self._seq = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def add(self, rec: "Recording", delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), rec))
            if self._thread is None or not self._thread.is_alive():  # first use, or after a fork
                self._thread = threading.Thread(target=self._loop, name="lineage-running", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is rec:
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, rec = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if not rec._done:
                rec._late_start()

    def start_now(self, which: Any) -> None:
        """Write RUNNING now for the pending recordings ``which(rec)`` selects."""
        with self._cond:
            chosen = [e for e in self._heap if not e[2]._done and which(e[2])]
            if chosen:
                self._heap = [e for e in self._heap if e not in chosen]
                heapq.heapify(self._heap)
        for _, _, rec in chosen:
            rec._late_start()


_LATE = _LateStarts()


def start_pending(which: Any) -> None:
    """Write RUNNING now for every deferred recording still unfinished that ``which(recording)``
    selects (a run ending while its steps run in other threads)."""
    _LATE.start_now(which)


def now() -> float:
    """UNIX seconds, to the millisecond (how start and end times are recorded)."""
    return round(time.time(), 3)


def error_properties(exc: BaseException) -> Dict[str, Any]:
    return {"error_type": type(exc).__name__, "error_message": str(exc)[:4000], "ended_at": now()}


class Recording:
    """One execution being recorded (see the module docstring).

    ``inputs`` pair an argument name with a stored artifact; ``params`` are the step's
    parameters (custom properties); ``properties`` anything else recorded on the execution.
    The active run's contexts (if its store is ``store``, and unless ``in_run=False``) and
    ``context_ids`` are attached; its code version is recorded unless ``properties`` already say.
    ``lean`` (a ``@step``'s): inside a run, leave out the code version, packages, user and host
    where they are the run's (the run records them once; :mod:`lineage.query.code` reads them).
    """

    def __init__(self, store: Store, type_name: str, *, inputs: Sequence[Tuple[str, Artifact]] = (),
                 params: Optional[Mapping[str, Any]] = None, properties: Optional[Mapping[str, Any]] = None,
                 context_ids: Sequence[int] = (), in_run: bool = True, lean: bool = False) -> None:
        if not isinstance(type_name, str) or not type_name:
            raise InvalidInput("an execution needs its type as a non-empty string")
        self.store = store
        self.type_name = type_name
        self.inputs = list(inputs)
        self.params: Dict[str, Any] = dict(params or {})
        run = active_run() if in_run else None
        self.run = run if run is not None and run.store is store else None
        code = dict(self.run.code) if self.run is not None else code_version()
        self.properties: Dict[str, Any] = {**code, **(properties or {})}
        self.properties.setdefault("started_at", now())
        self.context_ids: List[int] = list(self.run.context_ids) if self.run is not None else []
        self._same = dict(self.run.constants) if lean and self.run is not None else {}
        self.context_ids += [c for c in context_ids if c not in self.context_ids]
        self.annotations: Dict[str, Any] = {}
        self.metrics = MetricLog()  # log_metric() from a @step body
        self.execution_id: Optional[int] = None
        self.execution: Optional[Execution] = None
        self._token: Optional[contextvars.Token] = None
        self._begun = False  # started, or its start deferred: an error must be recorded
        self._done = False   # its end state is being (or was) written: no late RUNNING write
        self._start_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Recording {self.type_name} e{self.execution_id}>"

    # ------------------------------------------------------------------ writing

    def start(self) -> int:
        """Write the execution RUNNING, with its owner (this process); returns its id."""
        terminate_as_exit()
        self._begun = True
        execution, _ = self.store.write_execution(
            type=self.type_name, state="RUNNING", properties={**self._own(self.properties), "owner": this_owner()},
            params=self.params, inputs=[(a.id, k) for k, a in self.inputs], context_ids=self.context_ids,
            reread=False,
        )
        self.execution_id = execution.id
        log.info("%s started as execution %s", self.type_name, execution.id)
        return execution.id

    def _own(self, properties: Dict[str, Any]) -> Dict[str, Any]:
        """``properties`` less the run constants that are the run's own values (when lean)."""
        same = self._same
        if not same:
            return properties
        return {k: v for k, v in properties.items() if not (k in RUN_CONSTANTS and same.get(k) == v)}

    def defer_start(self, after: float) -> None:
        """Write RUNNING only if the execution is still unfinished ``after`` seconds from now (at
        once when ``after`` is 0); :meth:`finish` otherwise writes the whole execution in one call."""
        if after <= 0:
            self.start()
            return
        terminate_as_exit()
        self._begun = True
        _LATE.add(self, after)

    def ensure_started(self) -> Optional[int]:
        """The execution's id, writing it RUNNING now if its start was deferred."""
        with self._start_lock:
            if self.execution_id is None and not self._done:
                self.start()
        return self.execution_id

    def _late_start(self) -> None:
        try:
            self.ensure_started()
        except Exception as exc:  # the step goes on; its end state is still written whole
            log.warning("%s: could not write it RUNNING (%s)", self.type_name, exc)

    def annotate(self, **properties: Any) -> None:
        """Record these properties on the execution with its end state."""
        self.annotations.update(properties)

    def attach_context(self, type: str, name: str, properties: Optional[Mapping[str, Any]] = None) -> Context:
        """Also associate the execution (and attribute its artifacts) with this context,
        created if needed (a model's ServingEndpoint, say)."""
        ctx = self.store.put_context(type, name, properties or {}, update=bool(properties))
        if ctx.id not in self.context_ids:
            self.context_ids.append(ctx.id)
        return ctx

    def record_intent(self) -> None:
        """Write the annotations and contexts gathered so far onto the RUNNING execution now, not
        with its end state: what a change is about to do (which model, which version) is then in
        the store before the change becomes visible, so a crash in between leaves it findable
        (``lineage doctor`` settles it)."""
        self.ensure_started()
        self.store.write_execution(type=self.type_name, state="RUNNING", execution_id=self.execution_id,
                                   properties=dict(self.annotations), context_ids=self.context_ids, reread=False)

    def finish(self, state: str = "COMPLETE", *, outputs: Sequence[Tuple[ArtifactRef, str]] = (),
               properties: Optional[Mapping[str, Any]] = None, reread: bool = True,
               also_outputs: Sequence[Tuple[ArtifactRef, str]] = ()) -> Tuple[Execution, List[Artifact]]:
        """Write the end state (or, if never started, the whole execution) in one MLMD call.
        Returns the execution and the output artifacts as stored, in the order given
        (``also_outputs`` are written too, not returned: what lineage keeps, its log say)."""
        state = check_execution_state(state)
        with self._start_lock:  # a late RUNNING write waits for this one, then sees it done
            self._done = True
            return self._finish(state, outputs, properties, reread, also_outputs)

    def _finish(self, state: str, outputs: Sequence[Tuple[ArtifactRef, str]],
                properties: Optional[Mapping[str, Any]], reread: bool,
                also_outputs: Sequence[Tuple[ArtifactRef, str]]) -> Tuple[Execution, List[Artifact]]:
        props = {**self.annotations, **(properties or {})}
        given = props if self.execution_id is not None else {**self.properties, **props}
        if state != "RUNNING" and "ended_at" not in given:
            props["ended_at"] = now()
        if self.execution_id is None:
            execution, outs = self.store.write_execution(
                type=self.type_name, state=state, properties=self._own({**self.properties, **props}),
                params=self.params, inputs=[(a.id, k) for k, a in self.inputs], outputs=outputs,
                context_ids=self.context_ids, reread=reread, also_outputs=also_outputs)
        else:
            execution, outs = self.store.write_execution(
                type=self.type_name, state=state, execution_id=self.execution_id, properties=props,
                outputs=outputs, context_ids=self.context_ids, reread=reread, also_outputs=also_outputs)
        self.execution_id = execution.id
        self.execution = execution
        log.info("%s %s (execution %s)", self.type_name, state, execution.id)
        return execution, outs

    def fail(self, exc: BaseException, outputs: Sequence[Tuple[ArtifactRef, str]] = ()) -> None:
        """Record FAILED with the error (CANCELED for Ctrl-C, SIGTERM and SystemExit), and
        ``outputs`` (what lineage keeps of a failed step: its log, its metrics so far). When the
        annotations themselves cannot be recorded, FAILED is recorded without them. A failure to
        record is logged, never raised over the original error."""
        if not self._begun or self.execution is not None:
            return
        state = "CANCELED" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "FAILED"
        try:
            try:
                self.finish(state, also_outputs=outputs, properties=error_properties(exc), reread=False)
            except LineageError:
                self.annotations.clear()  # an annotation may be what could not be recorded
                self.finish(state, properties=error_properties(exc), reread=False)
        except Exception:
            log.warning("could not record execution %s as %s", self.execution_id, state,
                        exc_info=log.isEnabledFor(logging.DEBUG))

    # ------------------------------------------------------------------ activity

    def activate(self) -> None:
        """Make this the recording :func:`annotate` and :func:`attach_context` reach."""
        self._token = _active.set(self)

    def deactivate(self) -> None:
        if self._token is not None:
            _active.reset(self._token)
            self._token = None

    def __enter__(self) -> "Recording":
        self.start()
        self.activate()
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        self.deactivate()
        if exc is not None:
            self.fail(exc)
        elif self.execution is None:
            self.finish("COMPLETE")


_TERM_INSTALLED = False


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def terminate_as_exit() -> None:
    """Make SIGTERM end this process as Ctrl-C does (an exception through the step, which is
    recorded CANCELED), when nobody else handles SIGTERM. Main thread only (Python's rule)."""
    global _TERM_INSTALLED
    if _TERM_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    _TERM_INSTALLED = True
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)


def active_recording(what: str) -> Recording:
    """The recording of the @step body running in this thread or task; InvalidInput (naming
    ``what``) outside one."""
    rec = _active.get()
    if rec is None:
        raise InvalidInput(f"{what}() is called from inside a @step body")
    return rec


def log_metric(name: str, value: float, step: Optional[int] = None) -> None:
    """From inside a @step body: log one value of metric ``name`` (at ``step``: an epoch or a
    batch; by default the metric's next step, 0, 1, 2...). See :mod:`lineage.recorder.metrics`."""
    active_recording("log_metric").metrics.add(name, value, step)


def log_metrics(values: Mapping[str, float], step: Optional[int] = None) -> None:
    """From inside a @step body: log several metrics at once (at the same ``step``); all or
    nothing: one bad value logs none of them."""
    if not isinstance(values, Mapping):
        raise InvalidInput(f"log_metrics takes a dict of name -> number, not {type(values).__name__}")
    log = active_recording("log_metrics").metrics
    for name, value in values.items():
        log.check(name, value, step)
    for name, value in values.items():
        log.add(name, value, step)


def current_execution_id() -> Optional[int]:
    """From inside a @step body: the id of the execution being recorded."""
    rec = _active.get()
    return rec.ensure_started() if rec is not None else None


def annotate(**properties: Any) -> None:
    """From inside a @step body: record these properties on this execution (declared
    properties of its type, or custom ones), with its final state."""
    active_recording("annotate").annotate(**properties)


def record_intent() -> None:
    """From inside a step body: write what the step is about to do (its annotations and
    contexts so far) now, before it makes a change visible (see :meth:`Recording.record_intent`)."""
    active_recording("record_intent").record_intent()


def attach_context(type: str, name: str, properties: Optional[Mapping[str, Any]] = None) -> Context:
    """From inside a step body: also associate this execution (and attribute its artifacts)
    with the context ``type``/``name``, created if needed (e.g. a model's ServingEndpoint)."""
    return active_recording("attach_context").attach_context(type, name, properties)
