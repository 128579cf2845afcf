"""What serves, observed: each model version's state (LOADING, AVAILABLE, UNLOADING, END) as a
model server reports it, recorded as a ``ServingObservation`` execution in the model's
ServingEndpoint context, with the version's PushedModel as its input.

- ``lineage serve`` records its own state changes through an :class:`Observer`: a queue drained by
  one background thread with its own store connection, so requests never wait on the store.
- ``lineage watch --server HOST:PORT`` polls a TF Serving fleet's GetModelStatus (:func:`watch`)
  and records each change it sees.
- :func:`check` compares the store's "serving now" with a live server and its model config
  (``lineage history MODEL --check``).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..errors import InvalidInput, LineageError
from ..owner import owner_host, this_owner
from ..query.leases import DEFAULT_HEARTBEAT, LEASE_BEATS
from ..query import pushed_of, served_at
from ..recorder import Recording
from ..records import Execution
from ..store import Store
from ..uris import parse_store_uri
from ..vocab import quote
from .client import ServingClient
from .config import model_entry, read_config
from .predictions import record_prediction_log

__all__ = ["record_observation", "record_remote_answer", "last_observed", "Observer", "Lease", "heartbeat_seconds", "watch", "check"]

log = logging.getLogger("lineage.serving")


def record_observation(store: Store, model_name: str, version: int, state: str, *, server: str,
                       at: Optional[float] = None, error: str = "", instance: str = "") -> Execution:
    """Record that ``server`` (the process ``instance``, its ModelServer lease) reported
    ``version`` of ``model_name`` in ``state`` at ``at``."""
    pushed = pushed_of(store, model_name, version)
    props: Dict[str, Any] = {"step": "lineage.observe", "model_name": model_name, "target_version": int(version),
                             "serving_state": state, "observed_at": at if at is not None else time.time(),
                             "server": server}
    if instance:
        props["server_instance"] = instance
    if error:
        props["error_message"] = error[:2000]
    rec = Recording(store, "ServingObservation", inputs=[("version", max(pushed, key=lambda a: a.id))] if pushed else [],
                    properties=props, in_run=False)
    rec.attach_context("ServingEndpoint", model_name, {"model_name": model_name})
    return rec.finish("COMPLETE", reread=False)[0]


def record_remote_answer(store: Store, head: str, version: int, module: str, module_version: int, *,
                         remote_server: str, server: str, at: Optional[float] = None,
                         instance: str = "") -> Execution:
    """Record that ``server``'s head ``head:version`` had its remote part answered by
    ``module:module_version`` on ``remote_server`` (first seen at ``at``)."""
    head_pushed = pushed_of(store, head, version)
    module_pushed = pushed_of(store, module, module_version)
    props: Dict[str, Any] = {"step": "lineage.observe", "model_name": head, "target_version": int(version),
                             "remote_model": module, "remote_version": int(module_version),
                             "remote_server": remote_server, "observed_at": at if at is not None else time.time(),
                             "server": server}
    if instance:
        props["server_instance"] = instance
    inputs = ([("version", max(head_pushed, key=lambda a: a.id))] if head_pushed else []) + \
        ([("remote", max(module_pushed, key=lambda a: a.id))] if module_pushed else [])
    rec = Recording(store, "RemoteAnswer", inputs=inputs, properties=props, in_run=False)
    rec.attach_context("ServingEndpoint", head, {"model_name": head})
    rec.attach_context("ServingEndpoint", module, {"model_name": module})
    return rec.finish("COMPLETE", reread=False)[0]


def last_observed(store: Store, model_name: str, server: Optional[str] = None) -> Dict[int, str]:
    """The newest recorded state of each version of ``model_name`` (as ``server`` reported it,
    if given)."""
    if not store.has_type("execution", "ServingObservation"):
        return {}
    q = (f"type = 'ServingObservation' AND contexts_a.type = 'ServingEndpoint' "
         f"AND contexts_a.name = {quote(model_name)}")
    if server is not None:
        q += f" AND properties.server.string_value = {quote(server)}"
    newest: Dict[int, Tuple[float, int, str]] = {}
    for e in store.list_executions(filter_query=q, limit=None, order_by="id"):
        key = (float(e.get("observed_at") or 0), e.id)
        v = int(e.get("target_version"))
        if v not in newest or key > newest[v][:2]:
            newest[v] = (key[0], key[1], str(e.get("serving_state")))
    return {v: s for v, (_, _, s) in sorted(newest.items())}


def heartbeat_seconds() -> float:
    """Seconds between a recording server's heartbeats: ``LINEAGE_HEARTBEAT_SECONDS`` (10)."""
    text = os.environ.get("LINEAGE_HEARTBEAT_SECONDS", "")
    try:
        value = float(text) if text else DEFAULT_HEARTBEAT
    except ValueError:
        raise InvalidInput(f"LINEAGE_HEARTBEAT_SECONDS={text!r} is not a number of seconds") from None
    if not value > 0:
        raise InvalidInput(f"LINEAGE_HEARTBEAT_SECONDS={text!r} must be more than 0")
    return value


class Lease:
    """This process's ModelServer context: created by :meth:`begin`, renewed by :meth:`renew`,
    ended by :meth:`end` (see :mod:`lineage.query.leases` for what the store makes of it)."""

    def __init__(self, address: str, kind: str = "serve", heartbeat: Optional[float] = None,
                 config_path: Optional[str] = None) -> None:
        self.address = address
        self.kind = kind
        self.heartbeat = heartbeat if heartbeat is not None else heartbeat_seconds()
        self.owner = this_owner()
        # a server process is one life (a restart is a new one); watchers of one address from one
        # machine share theirs (each `watch --once` from cron renews it instead of adding one)
        self.name = f"{address}@{self.owner}" if kind == "serve" else f"{kind} {address}@{owner_host(self.owner)}"
        self.config_path = config_path

    def begin(self, store: Store) -> None:
        t = time.time()
        props = {"address": self.address, "kind": self.kind, "owner": self.owner, "started_at": t,
                 "heartbeat_at": t, "heartbeat_seconds": self.heartbeat,
                 "lease_seconds": self.heartbeat * LEASE_BEATS}
        if self.config_path:
            props["config_path"] = str(self.config_path)
        props["end_state"] = ""   # a watcher's shared lease runs again
        store.put_context("ModelServer", self.name, props)

    def renew(self, store: Store) -> None:
        store.put_context("ModelServer", self.name, {"heartbeat_at": time.time()})

    def end(self, store: Store, state: str = "STOPPED") -> None:
        t = time.time()
        store.put_context("ModelServer", self.name, {"heartbeat_at": t, "ended_at": t, "end_state": state})


class Observer:
    """A model server's state changes, recorded off the request path: :meth:`__call__` only
    queues; one thread opens the store and writes, and renews the server's lease every
    ``heartbeat`` seconds. Nothing is written before :meth:`begin` names the address the server
    answers on (a server that never started listening records nothing); ``server`` given here
    begins at once."""

    def __init__(self, store_uri: Optional[str], server: str = "", *, heartbeat: Optional[float] = None,
                 config_path: Optional[str] = None) -> None:
        self.store_uri = store_uri
        self.server = ""
        self.lease: Optional[Lease] = None
        self._heartbeat = heartbeat if heartbeat is not None else heartbeat_seconds()
        self._config_path = config_path
        self._queue: "queue.Queue[Optional[tuple]]" = queue.Queue()
        self._begun = threading.Event()
        self._closing = threading.Event()
        self._end_state = "STOPPED"
        self._thread = threading.Thread(target=self._run, name="serving-observer", daemon=True)
        self._thread.start()
        if server:
            self.begin(server)

    def begin(self, server: str) -> None:
        """The server listens on ``server`` (host:port): its lease starts, what was queued is written."""
        self.server = server
        self.lease = Lease(server, "serve", self._heartbeat, self._config_path)
        self._begun.set()

    def __call__(self, model_name: str, version: int, state: str, error: str = "") -> None:
        self._queue.put((model_name, version, state, error, time.time()))

    def remote_answer(self, head: str, version: int, module: str, module_version: int, target: str) -> None:
        """A head's remote part was first answered by ``module:module_version`` (on ``target``)."""
        self._queue.put(("remote", head, version, module, module_version, target, time.time()))

    def log_closed(self, closed: Any) -> None:
        """A closed request log file (:class:`~lineage.serving.server.predlog.ClosedLog`): recorded
        as a PredictionLogs artifact of the version that answered (off the request path too)."""
        self._queue.put(("log", closed))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (False if ``timeout`` passed first)."""
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(timeout)

    def close(self, timeout: float = 30.0, end_state: str = "STOPPED") -> None:
        """Write what is queued, end the lease (``end_state``), then stop. Before :meth:`begin`:
        stop, recording nothing."""
        self._end_state = end_state
        self._closing.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._begun.wait(0.2):
            if self._closing.is_set():
                return   # the server never listened: nothing of it is recorded
        assert self.lease is not None
        store: Optional[Store] = None
        begun = False
        next_beat = time.monotonic() + self._heartbeat
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_beat - time.monotonic()))
            except queue.Empty:
                item = ("beat",)
            try:
                if store is None:
                    store = Store(parse_store_uri(self.store_uri))
                if not begun:
                    self.lease.begin(store)
                    begun = True
                if item is None:
                    self.lease.end(store, self._end_state)
                    break
                if item[0] == "flush":
                    item[1].set()
                    continue
                if item[0] == "beat":
                    next_beat = time.monotonic() + self._heartbeat
                    self.lease.renew(store)
                    continue
                if item[0] == "log" and len(item) == 2:
                    c = item[1]
                    record_prediction_log(store, c.model, c.path, {c.version: c.records}, first=c.first_time,
                                          last=c.last_time, sampling_rate=c.sampling_rate, dropped=c.dropped,
                                          server=self.server, input_statistics=c.input_statistics,
                                          lost=getattr(c, "lost", 0), remote=getattr(c, "remote", None))
                    continue
                if item[0] == "remote" and len(item) == 7:
                    _, head, hv, module, mv, target, at = item
                    record_remote_answer(store, head, hv, module, mv, remote_server=target, server=self.server,
                                         at=at, instance=self.lease.name)
                    continue
                model_name, version, state, error, at = item
                record_observation(store, model_name, version, state, server=self.server, at=at, error=error,
                                   instance=self.lease.name)
            except Exception as exc:  # the store is down: serving goes on, the log says what was lost
                log.warning("could not record %s: %s", "the end of the lease" if item is None else
                            item[1] if item[0] == "log" else item[:3], exc)
                if item is None:
                    break
        if store is not None:
            store.close()


def watch(store: Store, client: ServingClient, models: Iterable[str], *, server: str, interval: float = 5.0,
          rounds: Optional[int] = None, on_change: Optional[Callable[[str, int, str, str], None]] = None,
          lease: Optional[Lease] = None) -> int:
    """Poll GetModelStatus for ``models`` every ``interval`` seconds (``rounds`` times, or until
    interrupted) and record each version whose state changed since last seen (a version the
    server no longer lists is recorded END). Returns the number of changes recorded. With a
    ``lease`` (kind ``watch``), each answered poll renews it and the observations name it."""
    names = list(models)
    known = {name: last_observed(store, name, server) for name in names}
    changes, done = 0, 0
    while True:
        answers = {name: client.status(name) for name in names}   # all polled before anything is written
        if lease is not None:
            lease.renew(store)
        for name in names:
            seen = {v: (s, e) for v, s, e in answers[name]}
            for v in sorted(set(seen) | set(known[name])):
                state, error = seen.get(v, ("END", ""))
                if known[name].get(v) != state:
                    record_observation(store, name, v, state, server=server, error=error,
                                       instance=lease.name if lease is not None else "")
                    known[name][v] = state
                    changes += 1
                    if on_change is not None:
                        on_change(name, v, state, error)
        done += 1
        if rounds is not None and done >= rounds:
            return changes
        time.sleep(interval)


def check(store: Store, model_name: str, client: ServingClient, config_path: Optional[Path]) -> List[str]:
    """Where the store's answer for "serving now" disagrees with the live server and its model
    config: one sentence each (empty: they agree)."""
    state = served_at(store, model_name, "now")
    problems: List[str] = []
    live = client.status(model_name)
    available = sorted(v for v, s, _ in live if s == "AVAILABLE")
    serving = available[-1] if available else None
    if serving != state.version:
        problems.append(f"the store says version {state.version} serves {model_name}; the server at "
                        f"{client.grpc_target} answers with version {serving} (available: {available or 'none'})")
    if config_path is not None and config_path.exists():
        try:
            entry = model_entry(read_config(config_path), model_name)
        except LineageError as exc:
            return problems + [str(exc)]
        labels = dict(entry.version_labels) if entry is not None else {}
        if labels != state.labels:
            problems.append(f"the store says labels {state.labels or '{}'}; the model config {config_path} has "
                            f"{labels or '{}'}")
        for label, v in sorted(labels.items()):
            if v not in available:
                problems.append(f"label {label} points at version {v}, which the server does not have available")
    return problems
