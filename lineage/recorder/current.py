"""Which store recording goes to now: the active run's, else the one set with :func:`use`, else
the default from ``$LINEAGE_STORE`` (the embedded ``./.lineage/metadata.sqlite`` when unset).

The choice lives in :mod:`contextvars` variables, so concurrent threads and asyncio tasks never
mix. A thread started inside ``with run(...)`` or ``with use(...)`` starts with an empty context:
wrap its target with :meth:`lineage.Run.bind`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from typing import Any, Dict, Iterator, List, Optional, Protocol, Tuple

from ..store import Store
from ..uris import parse_store_uri


class ActiveRun(Protocol):
    """What recording needs of the active run (:class:`lineage.recorder.runs.Run`)."""

    store: Optional[Store]
    context_ids: List[int]
    code: Dict[str, Any]
    constants: Dict[str, Any]
    name: str
    pipeline: str


__all__ = ["run_opened", "run_closed", "ActiveRun", "as_store", "use_store", "current_store", "active_run", "set_active_run", "reset_active_run"]

log = logging.getLogger("lineage")

_store: contextvars.ContextVar[Optional[Store]] = contextvars.ContextVar("lineage_store", default=None)
_run: contextvars.ContextVar[Optional[ActiveRun]] = contextvars.ContextVar("lineage_run", default=None)
_defaults: Dict[Tuple[str, str], Store] = {}
_defaults_lock = threading.Lock()


def as_store(store: Any) -> Store:
    """A :class:`Store` from a Store, anything holding one as ``.store`` (a ``Lineage``), a store
    URI, or None (the current store)."""
    if isinstance(store, Store):
        return store
    inner = getattr(store, "store", None)
    if isinstance(inner, Store):
        return inner
    if store is None:
        return current_store()
    return Store(parse_store_uri(str(store)))


@contextlib.contextmanager
def use_store(store: Store) -> Iterator[Store]:
    """Make ``store`` the current store inside the ``with`` block."""
    token = _store.set(store)
    try:
        yield store
    finally:
        _store.reset(token)


def active_run() -> Optional[ActiveRun]:
    """The run active in this thread or task, if any."""
    return _run.get()


def set_active_run(run: Optional[ActiveRun]) -> contextvars.Token:
    return _run.set(run)


def reset_active_run(token: contextvars.Token) -> None:
    _run.reset(token)


#: runs open now, by the thread that opened them: a thread with none of its own that records
#: while another thread has one open was most likely meant to record into it
_open_runs: Dict[int, ActiveRun] = {}
_warned: set = set()


def run_opened(run: ActiveRun) -> None:
    _open_runs[threading.get_ident()] = run


def run_closed(run: ActiveRun) -> None:
    if _open_runs.get(threading.get_ident()) is run:
        del _open_runs[threading.get_ident()]


def current_store() -> Store:
    """The store ``@step`` writes to now (see the module docstring for the order)."""
    run = _run.get()
    if run is not None and run.store is not None:
        return run.store
    chosen = _store.get()
    if chosen is not None:
        return chosen
    others = [r for t, r in list(_open_runs.items()) if t != threading.get_ident()]
    me = threading.get_ident()
    if others and me not in _warned:
        _warned.add(me)
        log.warning("thread %r records to the default store (%s) while a run is open in another thread "
                    "(store %s): a thread does not inherit the run; wrap its target with run.bind(fn)",
                    threading.current_thread().name, parse_store_uri(None).redacted(),
                    ", ".join(sorted({r.store.config.redacted() for r in others if r.store is not None})))
    config = parse_store_uri(None)
    key = (config.redacted(), str(config.artifact_root))
    with _defaults_lock:
        store = _defaults.get(key)
        if store is None:
            store = Store(config)
            _defaults[key] = store
    return store
