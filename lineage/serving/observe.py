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
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..errors import LineageError
from ..query import pushed_of, pushed_version, served_at
from ..recorder import Recording
from ..records import Execution
from ..store import Store
from ..uris import parse_store_uri
from ..vocab import quote
from .client import ServingClient
from .config import model_entry, read_config
from .predictions import record_prediction_log

__all__ = ["record_observation", "last_observed", "Observer", "watch", "check"]

log = logging.getLogger("lineage.serving")


def record_observation(store: Store, model_name: str, version: int, state: str, *, server: str,
                       at: Optional[float] = None, error: str = "") -> Execution:
    """Record that ``server`` reported ``version`` of ``model_name`` in ``state`` at ``at``."""
    pushed = [a for a in pushed_of(store, model_name) if pushed_version(a) == version]
    props: Dict[str, Any] = {"step": "lineage.observe", "model_name": model_name, "target_version": int(version),
                             "serving_state": state, "observed_at": at if at is not None else time.time(),
                             "server": server}
    if error:
        props["error_message"] = error[:2000]
    rec = Recording(store, "ServingObservation", inputs=[("version", max(pushed, key=lambda a: a.id))] if pushed else [],
                    properties=props, in_run=False)
    rec.attach_context("ServingEndpoint", model_name, {"model_name": model_name})
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


class Observer:
    """A model server's state changes, recorded off the request path: :meth:`__call__` only
    queues; one thread opens the store and writes. ``server`` names the reporter (host:port)."""

    def __init__(self, store_uri: Optional[str], server: str = "") -> None:
        self.store_uri = store_uri
        self.server = server
        self._queue: "queue.Queue[Optional[tuple]]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="serving-observer", daemon=True)
        self._thread.start()

    def __call__(self, model_name: str, version: int, state: str, error: str = "") -> None:
        self._queue.put((model_name, version, state, error, time.time()))

    def log_closed(self, closed: Any) -> None:
        """A closed request log file (:class:`~lineage.serving.server.predlog.ClosedLog`): recorded
        as a PredictionLogs artifact of the version that answered (off the request path too)."""
        self._queue.put(("log", closed))

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        store: Optional[Store] = None
        while True:
            item = self._queue.get()
            if item is None:
                break
            try:
                if store is None:
                    store = Store(parse_store_uri(self.store_uri))
                if item[0] == "log" and len(item) == 2:
                    c = item[1]
                    record_prediction_log(store, c.model, c.path, {c.version: c.records}, first=c.first_time,
                                          last=c.last_time, sampling_rate=c.sampling_rate, dropped=c.dropped,
                                          server=self.server, input_statistics=c.input_statistics)
                    continue
                model_name, version, state, error, at = item
                record_observation(store, model_name, version, state, server=self.server, at=at, error=error)
            except Exception as exc:  # the store is down: serving goes on, the log says what was lost
                log.warning("could not record %s: %s", item[1] if item[0] == "log" else item[:3], exc)
        if store is not None:
            store.close()


def watch(store: Store, client: ServingClient, models: Iterable[str], *, server: str, interval: float = 5.0,
          rounds: Optional[int] = None, on_change: Optional[Callable[[str, int, str, str], None]] = None) -> int:
    """Poll GetModelStatus for ``models`` every ``interval`` seconds (``rounds`` times, or until
    interrupted) and record each version whose state changed since last seen (a version the
    server no longer lists is recorded END). Returns the number of changes recorded."""
    names = list(models)
    known = {name: last_observed(store, name, server) for name in names}
    changes, done = 0, 0
    while True:
        for name in names:
            seen = {v: (s, e) for v, s, e in client.status(name)}
            for v in sorted(set(seen) | set(known[name])):
                state, error = seen.get(v, ("END", ""))
                if known[name].get(v) != state:
                    record_observation(store, name, v, state, server=server, error=error)
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
