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
import time
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

from .api import Lineage, current_lineage
from .codeversion import _git_state_cached, code_version
from .errors import InvalidInput
from .records import Context

__all__ = ["Run", "run", "current_run"]

log = logging.getLogger("lineage")
F = TypeVar("F", bound=Callable[..., Any])

_active: contextvars.ContextVar[Optional["Run"]] = contextvars.ContextVar("lineage_run", default=None)


def current_run() -> Optional["Run"]:
    """The run active in this thread or task, if any."""
    return _active.get()


def _now() -> float:
    return round(time.time(), 3)


class Run:
    """A pipeline run: Pipeline, PipelineRun and (optionally) Experiment contexts.

    Enter it with ``with``; every step called inside is associated with these contexts, and
    its artifacts attributed to them. Leaving the block records the run COMPLETE, or FAILED
    with the error when an exception escapes (the exception propagates).
    """

    def __init__(self, pipeline: str, experiment: Optional[str] = None, name: Optional[str] = None,
                 store: Union[Lineage, str, None] = None) -> None:
        for label, value in (("pipeline", pipeline), ("experiment", experiment), ("name", name)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidInput(f"run {label} must be a non-empty string, not {value!r}")
        self.pipeline = pipeline
        self.experiment = experiment
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        self.name = name or f"{pipeline}-{stamp}-{secrets.token_hex(3)}"
        self._store_arg = store
        self.lineage: Optional[Lineage] = None
        self.context: Optional[Context] = None
        self.context_ids: List[int] = []
        self.code: Dict[str, Any] = {}
        self.state = "NEW"
        self._token: Optional[contextvars.Token] = None

    def __repr__(self) -> str:
        return f"Run({self.name!r}, pipeline={self.pipeline!r}, state={self.state})"

    def start(self) -> "Run":
        if isinstance(self._store_arg, Lineage):
            self.lineage = self._store_arg
        elif self._store_arg is not None:
            self.lineage = Lineage.open(self._store_arg)
        else:
            self.lineage = current_lineage()
        store = self.lineage.store
        _git_state_cached.cache_clear()  # once per run: a commit made since is seen
        self.code = code_version()
        self.started_at = _now()
        pipeline_ctx = store.put_context("Pipeline", self.pipeline, {"pipeline": self.pipeline},
                                         update=False)
        ids = [pipeline_ctx.id]
        props = {"pipeline": self.pipeline, "experiment": self.experiment, "state": "RUNNING",
                 "started_at": self.started_at, **{k: self.code.get(k) for k in
                                                    ("git_commit", "git_dirty", "user", "host")}}
        self.context = store.put_context("PipelineRun", self.name, props)
        ids.append(self.context.id)
        store.link_contexts(pipeline_ctx.id, self.context.id)
        if self.experiment:
            exp = store.put_context("Experiment", self.experiment,
                                    {"experiment": self.experiment}, update=False)
            ids.append(exp.id)
            store.link_contexts(exp.id, self.context.id)
        self.context_ids = ids
        self.state = "RUNNING"
        log.info("run %s started (pipeline %s) in %s", self.name, self.pipeline, self.lineage.uri)
        return self

    def finish(self, error: Optional[BaseException] = None) -> None:
        if self.lineage is None or self.state not in ("RUNNING",):
            return
        self.state = "COMPLETE" if error is None else "FAILED"
        props: Dict[str, Any] = {"state": self.state, "ended_at": _now()}
        if error is not None:
            props.update(error_type=type(error).__name__, error_message=str(error)[:2000])
        self.lineage.store.put_context("PipelineRun", self.name, props)
        log.info("run %s %s", self.name, self.state)

    def __enter__(self) -> "Run":
        if self.state == "NEW":
            self.start()
        self._token = _active.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        token, self._token = self._token, None
        if token is not None:
            _active.reset(token)
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
            token = _active.set(self)
            try:
                return fn(*args, **kwargs)
            finally:
                _active.reset(token)

        return bound  # type: ignore[return-value]


def run(pipeline: str = "default", experiment: Optional[str] = None, name: Optional[str] = None,
        *, store: Union[Lineage, str, None] = None) -> Run:
    """A run context manager: ``with run(pipeline="reviews", experiment="baseline"):``.

    ``name`` reuses an existing PipelineRun of that name (resuming it) or creates it;
    without one a unique name is made. ``store`` is a Lineage or a store URI; by default the
    current store.
    """
    return Run(pipeline, experiment, name, store)
