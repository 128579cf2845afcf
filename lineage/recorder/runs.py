"""``with run(pipeline=..., experiment=..., name=...)``: the contexts steps are grouped under.

The active run lives in a :mod:`contextvars` variable, so concurrent runs in different
threads or asyncio tasks never mix. A thread started inside a run does not inherit it
(Python starts threads with an empty context): wrap its target with :meth:`Run.bind`.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import logging
import secrets
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TypeVar

from ..codeversion import RUN_CONSTANTS, clear_git_cache, code_version
from ..errors import AlreadyExists, InvalidInput
from ..records import Context
from ..store import Store
from .current import active_run, as_store, reset_active_run, run_closed, run_opened, set_active_run
from ..owner import owner_alive, this_owner
from .recording import now, start_pending

__all__ = ["Run", "run", "current_run"]

log = logging.getLogger("lineage")
F = TypeVar("F", bound=Callable[..., Any])


def current_run() -> Optional["Run"]:
    """The run active in this thread or task, if any."""
    run = active_run()
    return run if isinstance(run, Run) else None


class Run:
    """A pipeline run: Pipeline, PipelineRun and (optionally) Experiment contexts.

    Enter it with ``with``; every step called inside is associated with these contexts, and
    its artifacts attributed to them. Leaving the block records the run COMPLETE, or FAILED
    with the error when an exception escapes (the exception propagates).
    """

    def __init__(self, pipeline: str, experiment: Optional[str] = None, name: Optional[str] = None,
                 store: Any = None, resume: bool = False) -> None:
        for label, value in (("pipeline", pipeline), ("experiment", experiment), ("name", name)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidInput(f"run {label} must be a non-empty string, not {value!r}")
        self.pipeline = pipeline
        self.experiment = experiment
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        self.name = name or f"{pipeline}-{stamp}-{secrets.token_hex(3)}"
        self._store_arg = store
        self.resume = resume
        self.store: Optional[Store] = None
        self.context: Optional[Context] = None
        self.context_ids: List[int] = []
        self.code: Dict[str, Any] = {}
        #: The code version, packages, user and host the run records (its steps leave them out)
        self.constants: Dict[str, Any] = {}
        self.state = "NEW"
        self._token: Optional[contextvars.Token] = None

    def __repr__(self) -> str:
        return f"Run({self.name!r}, pipeline={self.pipeline!r}, state={self.state})"

    def start(self) -> "Run":
        store = self.store = as_store(self._store_arg)
        clear_git_cache()  # once per run: a commit made since is seen
        self.code = code_version()
        self.started_at = now()
        pipeline_ctx = store.put_context("Pipeline", self.pipeline, {"pipeline": self.pipeline},
                                         update=False)
        ids = [pipeline_ctx.id]
        constants = {k: self.code[k] for k in RUN_CONSTANTS if self.code.get(k) is not None}
        props = {"pipeline": self.pipeline, "experiment": self.experiment, "state": "RUNNING",
                 "owner": this_owner(), "entry_point": _entry_point(), **constants}
        # created only if new (MLMD's unique name makes this the one atomic claim of the name)
        claimed = store.put_context("PipelineRun", self.name, {**props, "started_at": self.started_at}, update=False)
        if claimed.properties.get("owner") != props["owner"] or claimed.properties.get("started_at") != self.started_at:
            self._check_resumable(claimed)
            # Resumed (perhaps on another machine): what the run recorded stays, as its earlier
            # steps rely on it; this process's steps record their own where it differs.
            recorded = {k: claimed.properties[k] for k in RUN_CONSTANTS if claimed.properties.get(k) is not None}
            if recorded:
                constants = recorded
                props = {k: v for k, v in props.items() if k not in RUN_CONSTANTS}
            if claimed.properties.get("started_at"):
                # resuming a run by name: it started when it first started
                self.started_at = claimed.properties["started_at"]
                props["resumed_at"] = now()
        props["started_at"] = self.started_at
        self.context = store.put_context("PipelineRun", self.name, props)
        self.constants = constants
        ids.append(self.context.id)
        store.link_contexts(pipeline_ctx.id, self.context.id)
        if self.experiment:
            exp = store.put_context("Experiment", self.experiment,
                                    {"experiment": self.experiment}, update=False)
            ids.append(exp.id)
            store.link_contexts(exp.id, self.context.id)
        self.context_ids = ids
        self.state = "RUNNING"
        log.info("run %s started (pipeline %s) in %s", self.name, self.pipeline, store.config.redacted())
        return self

    def _check_resumable(self, existing: Context) -> None:
        """A run of this name exists: resuming it is fine once it ended, or when asked for
        (``resume=True``); one still running in another live process is refused, naming it."""
        owner = existing.properties.get("owner")
        if self.resume or existing.properties.get("state") != "RUNNING" or not owner or owner == this_owner():
            return
        alive = owner_alive(owner)
        if alive is False:
            return   # its process is gone: this one takes the run over (as a resume)
        where = "is running in another process" if alive else "is RUNNING, owned by a process on another host"
        raise AlreadyExists(f"run {self.name!r} {where} ({owner}); two processes under one run name would "
                            f"merge their steps. Give this run another name, wait for that one to end, or "
                            f"pass run(..., resume=True) to add to it on purpose")

    def finish(self, error: Optional[BaseException] = None) -> None:
        if self.store is None or self.state not in ("RUNNING",):
            return
        # steps of this run still in their body in other threads, not yet written: RUNNING now
        start_pending(lambda rec: rec.run is self)
        open_steps = [] if self.context is None else self.store.list_executions(
            filter_query=f"contexts_a.id = {self.context.id} AND last_known_state = RUNNING", limit=20)
        self.state = "COMPLETE" if error is None and not open_steps else "FAILED"
        props: Dict[str, Any] = {"state": self.state, "ended_at": now()}
        if error is not None:
            props.update(error_type=type(error).__name__, error_message=str(error)[:2000])
        elif open_steps:
            props.update(error_type="StepsStillRunning", error_message=(
                "step(s) " + ", ".join(f"e{e.id} {e.type}" for e in open_steps) + " never finished "
                "(a process was killed?): `lineage doctor` lists them, `lineage doctor --fix` closes them"))
        self.store.put_context("PipelineRun", self.name, props)
        log.info("run %s %s", self.name, self.state)

    def __enter__(self) -> "Run":
        if self.state == "NEW":
            self.start()
        self._token = set_active_run(self)
        run_opened(self)
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        token, self._token = self._token, None
        if token is not None:
            reset_active_run(token)
        run_closed(self)
        try:
            self.finish(exc)
        except Exception:
            if exc is None:
                raise
            log.warning("could not record run %s as FAILED", self.name, exc_info=True)

    def bind(self, fn: F) -> F:
        """``fn`` wrapped so that it runs with this run active (for worker threads)."""

        @functools.wraps(fn)
        def bound(*args: Any, **kwargs: Any) -> Any:
            token = set_active_run(self)
            try:
                return fn(*args, **kwargs)
            finally:
                reset_active_run(token)

        return bound  # type: ignore[return-value]


def _entry_point() -> Optional[str]:
    """The script this process runs (``python script.py``), where ``lineage rerun`` finds steps
    defined in it and the folder Python put first on ``sys.path``."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)   # none in a notebook or the REPL
    try:
        return str(Path(path).resolve()) if path and Path(path).is_file() else None
    except (OSError, ValueError):
        return None


def run(pipeline: str = "default", experiment: Optional[str] = None, name: Optional[str] = None,
        *, store: Any = None, resume: bool = False) -> Run:
    """A run context manager: ``with run(pipeline="reviews", experiment="baseline"):``.

    ``name`` reuses an existing PipelineRun of that name (resuming it) or creates it;
    without one a unique name is made. A run of that name still RUNNING in another live process
    is refused (``AlreadyExists``, naming its owner) unless ``resume=True``. ``store`` is a Lineage
    or a store URI; by default the current store.
    """
    return Run(pipeline, experiment, name, store, resume)
