"""Serving history: the pushes, rollbacks, promotions and unpins of a served model, oldest
first, and the serving state they add up to at any moment (:func:`replay_steps`)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..errors import NotFound
from ..records import Artifact, Execution, iso, utc_from_s
from ..store import Store
from ..vocab import artifact_role, execution_role, quote, type_leaf
from .leases import ServerLease, leases_at, leases_of
from .resolve import event_time, model_name_of, parse_when, pushed_version

__all__ = ["ServingEvent", "ServingState", "serving_history", "tfx_pushes", "endpoint_names", "replay_steps", "replay", "observed_state",
           "leases_for", "serving_now", "served_at", "with_remote", "last_change", "ServingGraph", "serving_graph"]


@dataclasses.dataclass(frozen=True)
class ServingEvent:
    time: float  # UNIX seconds when it took effect
    action: str  # push | rollback | promote | unpin
    version: Optional[int]
    label: Optional[str]
    execution: Execution
    state: str
    forced: bool = False
    observed: Optional[str] = None   # for action "observed": the version's state the server reported
    server: Optional[str] = None     # ... and which server reported it
    instance: Optional[str] = None   # ... and which process of it (its ModelServer lease)
    # for action "remote" (a split model's head and its module): the other side, MODEL:VERSION;
    # on the head's history, the module version that answered it; on the module's, the head it answered
    remote: Optional[str] = None
    remote_role: Optional[str] = None   # "module" (the other side is the module) or "head"

    @property
    def when(self) -> _dt.datetime:
        return utc_from_s(self.time)

    @property
    def effective(self) -> bool:
        return self.state == "COMPLETE"

    @property
    def user(self) -> Optional[str]:
        return self.execution.properties.get("user")


@dataclasses.dataclass(frozen=True)
class ServingState:
    model_name: str
    version: Optional[int]          # what an unversioned request is answered by
    pinned: bool                    # a rollback pinned it (until unpin)
    labels: Dict[str, int]
    versions: Tuple[int, ...]       # every version pushed so far
    since: Optional[float]
    event: Optional[ServingEvent]
    source: str = "recorded changes"   # or "observed": what servers reported (ServingObservation)
    available: Tuple[int, ...] = ()    # observed: the versions a server had AVAILABLE
    # observed, but only by servers whose lease expired (not seen since ``last_seen``): what they
    # last reported, not a fact
    stale: bool = False
    reported_by: Optional[str] = None  # observed: the server (host:port) that reported ``version``
    last_seen: Optional[float] = None  # ... and when it was last known to be alive
    # a split model's head: the module versions (MODEL:VERSION) its remote part was answered by
    remote: Tuple[str, ...] = ()

    def describe(self, now: Optional[float] = None) -> str:
        """``version 3`` / ``nothing``; a stale answer says who reported it and since when it is
        not seen: ``version 3, last reported by 127.0.0.1:8500 4 min ago, server not seen since``."""
        text = "nothing" if self.version is None else f"version {self.version}"
        if self.stale:
            ago = (now if now is not None else time.time()) - (self.last_seen or 0)
            text += f", last reported by {self.reported_by} {_ago(ago)}, server not seen since"
        if self.remote:
            text += f", its remote part answered by {', '.join(self.remote)}"
        return text

    def to_dict(self) -> Dict[str, Any]:
        return {"model_name": self.model_name, "version": self.version, "pinned": self.pinned,
                "labels": self.labels, "versions": list(self.versions),
                "since": iso(utc_from_s(self.since)) if self.since else None,
                "execution": self.event.execution.ref if self.event else None,
                "source": self.source, "available": list(self.available), "stale": self.stale,
                "reported_by": self.reported_by,
                "last_seen": iso(utc_from_s(self.last_seen)) if self.last_seen else None,
                "remote": list(self.remote)}


def _ago(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    if s < 172800:
        return f"{s // 3600} h ago"
    return f"{s // 86400} days ago"


def serving_history(store: Store, model_name: str, *, limit: int = 10_000) -> List[ServingEvent]:
    """Pushes, rollbacks, promotions and unpins of ``model_name`` (failed and unfinished ones
    included, marked by ``state``) and the version states servers reported (action
    ``observed``), oldest first."""
    ctx = store.get_context_by_name("ServingEndpoint", model_name) \
        if store.has_type("context", "ServingEndpoint") else None
    if ctx is None:
        tfx = tfx_pushes(store).get(model_name)
        if tfx:
            return [_tfx_push(e, a) for e, a in tfx]
        raise NotFound(f"no serving endpoint {model_name!r} in {store.config.redacted()} "
                       f"(nothing was pushed under that name)")
    all_execs = store.executions_in_context(ctx.id, limit=limit)
    observed = [_observation(e) for e in all_execs if type_leaf(e.type) == "ServingObservation"]
    observed += [_remote_answer(e, model_name) for e in all_execs if type_leaf(e.type) == "RemoteAnswer"]
    execs = [e for e in all_execs
             if execution_role(e.type) == "push" or type_leaf(e.type) in ("Rollback", "Promote", "Unpin")]
    # Our own executions carry the version as `target_version`; others (older or foreign
    # records) are resolved through their events and PushedModel artifacts, in one batch.
    unresolved = [e.id for e in execs if e.properties.get("target_version") is None
                  and type_leaf(e.type) != "Unpin"]
    events_by_exec: Dict[int, list] = {}
    arts: Dict[int, Artifact] = {}
    if unresolved:
        for ev in store.events_of_executions(unresolved):
            events_by_exec.setdefault(ev.execution_id, []).append(ev)
        art_ids = sorted({ev.artifact_id for evs in events_by_exec.values() for ev in evs})
        arts = {a.id: a for a in store.get_artifacts(art_ids)}
    out: List[ServingEvent] = []
    for e in execs:
        last = type_leaf(e.type)
        evs = events_by_exec.get(e.id, [])
        version = e.properties.get("target_version")
        if execution_role(e.type) == "push":
            action = "push"
            if version is None:
                pushed = [arts[v.artifact_id] for v in evs if v.type == "OUTPUT" and v.artifact_id in arts
                          and artifact_role(arts[v.artifact_id].type) == "pushed"]
                version = pushed_version(pushed[0]) if pushed else None
        else:
            action = last.lower()
            if version is None:
                targets = [arts[v.artifact_id] for v in evs if v.type == "INPUT" and v.key == "target"
                           and v.artifact_id in arts]
                version = pushed_version(targets[0]) if targets else None
        out.append(ServingEvent(
            time=event_time(e), action=action, version=int(version) if version is not None else None,
            label=e.properties.get("label") or ("stable" if action == "rollback" else None),
            execution=e, state=e.state, forced=bool(e.properties.get("forced")),
        ))
    out += observed
    out.sort(key=lambda s: (s.time, s.execution.id))
    return out


def tfx_pushes(store: Store) -> Dict[str, List[Tuple[Execution, Artifact]]]:
    """Pushes recorded by TFX's Pusher, which writes no ServingEndpoint context: its PushedModel
    outputs marked ``pushed``, by served model name (the destination's folder,
    ``<serving_dir>/<model>/<version>``), oldest first."""
    if not store.has_type("artifact", "PushedModel") or not store.has_custom_property("pushed_destination"):
        return {}
    arts = [a for a in store.list_artifacts(
        filter_query="type = 'PushedModel' AND custom_properties.pushed_destination.string_value LIKE '%'", limit=10_000)
        if a.get("model_name") is None and a.get("pushed") not in (0, "0", False)]
    if not arts:
        return {}
    producers: Dict[int, int] = {}
    for ev in store.events_of_artifacts([a.id for a in arts]):
        if ev.type == "OUTPUT":
            producers[ev.artifact_id] = ev.execution_id
    execs = {e.id: e for e in store.get_executions(sorted(set(producers.values())))}
    out: Dict[str, List[Tuple[Execution, Artifact]]] = {}
    for a in arts:
        name = model_name_of(a)
        e = execs.get(producers.get(a.id, -1))
        if name and e is not None:
            out.setdefault(name, []).append((e, a))
    for pushes in out.values():
        pushes.sort(key=lambda p: (_tfx_time(p[0]), p[0].id))
    return out


def _tfx_time(e: Execution) -> float:
    """When a TFX step ran: its record's time, else its run id (TFX 0.2x wrote times of 0 and
    an ISO run id such as ``2020-06-17T21:49:51.783778``)."""
    t = event_time(e)
    if t:
        return t
    try:
        return _dt.datetime.fromisoformat(str(e.properties.get("run_id"))).replace(tzinfo=_dt.timezone.utc).timestamp()
    except ValueError:
        return 0.0


def _tfx_push(e: Execution, a: Artifact) -> ServingEvent:
    state = e.state
    if state == "UNKNOWN" and str(e.properties.get("state", "")).lower() == "complete":
        state = "COMPLETE"   # TFX 0.2x kept the state in a property of its own
    return ServingEvent(time=_tfx_time(e), action="push", version=pushed_version(a), label=None,
                        execution=e, state=state)


def _observation(e: Execution) -> ServingEvent:
    version = e.get("target_version")
    return ServingEvent(time=float(e.get("observed_at") or event_time(e)), action="observed",
                        version=int(version) if version is not None else None, label=None, execution=e,
                        state=e.state, observed=str(e.get("serving_state")), server=e.get("server"),
                        instance=e.get("server_instance"))


def _remote_answer(e: Execution, model_name: str) -> ServingEvent:
    """A RemoteAnswer on a head's history (which module version answered this version) or on its
    module's (which head version this version answered)."""
    head, hv = e.get("model_name"), e.get("target_version")
    module, mv = e.get("remote_model"), e.get("remote_version")
    mine = head == model_name
    version = hv if mine else mv
    return ServingEvent(time=float(e.get("observed_at") or event_time(e)), action="remote",
                        version=int(version) if version is not None else None, label=None, execution=e,
                        state=e.state, server=e.get("server") if mine else e.get("remote_server"),
                        instance=e.get("server_instance"),
                        remote=f"{module}:{mv}" if mine else f"{head}:{hv}",
                        remote_role="module" if mine else "head")


def observed_state(intended: ServingState, history: Sequence[ServingEvent], until: Optional[float],
                   leases: Sequence[ServerLease] = ()) -> ServingState:
    """``intended`` corrected by what servers reported up to ``until`` (None: now): a version
    serves when a server last reported it AVAILABLE, and unlabelled requests go to the highest of
    those (TF Serving's rule). Labels are the intended ones that point at an available version.
    Reports are read by the lease rules of :mod:`lineage.query.leases`: a replaced process's
    versions are gone; a stale one's are the answer only when no live server reports any, and
    then the answer says so (``stale``). Without observations, ``intended`` unchanged."""
    t = until if until is not None else time.time()
    newest: Dict[Tuple[Optional[str], int], ServingEvent] = {}
    for ev in history:
        if ev.action == "observed" and ev.version is not None and ev.time <= t:
            newest[(ev.instance or ev.server, ev.version)] = ev
    if not newest:
        return intended
    status = leases_at(leases, t)
    seen = {x.name: x for x in leases}
    live: Dict[int, ServingEvent] = {}
    stale: Dict[int, ServingEvent] = {}
    for (_, v), ev in newest.items():
        if ev.observed != "AVAILABLE":
            continue
        st = status.get(ev.instance or "", "live")   # a report without a lease: as recorded
        if st == "live":
            live[v] = max(ev, live.get(v, ev), key=lambda e: e.time)
        elif st == "stale":
            stale[v] = max(ev, stale.get(v, ev), key=lambda e: e.time)
    chosen = live or stale
    available = sorted(chosen)
    version = available[-1] if available else None
    since_ev = chosen.get(version) if version is not None else None
    if since_ev is None:   # nothing serves: since the newest report that said so
        since_ev = max(newest.values(), key=lambda e: e.time)
    lease = seen.get(since_ev.instance or "")
    return dataclasses.replace(
        intended, version=version, labels={k: v for k, v in intended.labels.items() if v in available},
        since=since_ev.time, source="observed", available=tuple(available), stale=bool(stale) and not live,
        reported_by=since_ev.server if version is not None else None,
        last_seen=(lease.heartbeat_at if lease is not None else since_ev.time) if version is not None else None)


def replay_steps(model_name: str, history: Iterable[ServingEvent]) -> Iterator[Tuple[ServingEvent, ServingState]]:
    """The serving state after each effective event, in one pass over the history.

    It follows the model config each change writes and TF Serving's routing rule (a request
    without a version or label gets the highest version the policy loads): a push adds a
    version (served when the policy is "latest"); a rollback to N loads only N, labels it
    ``stable`` and drops the labels on other versions; a promote adds its version to a pinned
    policy, so unlabelled traffic goes to it when it is the highest; an unpin serves the newest
    again and keeps only the labels on it."""
    versions: set = set()
    loaded: Optional[set] = None   # None: policy "latest" (the newest pushed); else the versions pinned
    labels: Dict[str, int] = {}
    serving: Optional[int] = None
    since, last_event = None, None
    for ev in history:
        if not ev.effective or ev.action == "observed":
            continue
        before = serving
        if ev.action == "push" and ev.version is not None:
            versions.add(ev.version)
        elif ev.action == "rollback" and ev.version is not None:
            loaded = {ev.version}
            labels = {k: v for k, v in labels.items() if v == ev.version}
            labels["stable"] = ev.version
        elif ev.action == "promote" and ev.version is not None and ev.label:
            loaded = (loaded or set(sorted(versions)[-1:])) | {ev.version}
            labels[ev.label] = ev.version
        elif ev.action == "unpin":
            loaded = None
            labels = {k: v for k, v in labels.items() if versions and v == max(versions)}
        serving = max(loaded) if loaded else (max(versions) if versions else None)
        if serving != before or last_event is None:
            since, last_event = ev.time, ev
        yield ev, ServingState(model_name, serving, loaded is not None, dict(labels),
                               tuple(sorted(versions)), since, last_event)


def replay(model_name: str, history: Iterable[ServingEvent], until: Optional[float] = None) -> ServingState:
    """The serving state after the effective events up to ``until`` (inclusive)."""
    state = ServingState(model_name, None, False, {}, (), None, None)
    for ev, after in replay_steps(model_name, history):
        if until is not None and ev.time > until:
            break
        state = after
    return state


def serving_now(store: Store, model_names: Sequence[str]) -> Dict[str, Optional[int]]:
    """The version serving now for each model, without a full replay: the newest effective
    rollback or unpin of all the endpoints in one query (a pin holds until an unpin), else
    each endpoint's newest effective push. Endpoints with records from other tools (no
    ``target_version``) are replayed with :func:`served_at`; unknown endpoints map to None."""
    out: Dict[str, Optional[int]] = {}
    names = sorted(set(model_names))
    if not names:
        return out
    types = {t for t in ("Push", "ServingObservation", "Rollback", "Unpin", "Promote") if store.has_type("execution", t)}
    if "Push" not in types:
        return {n: _replayed_now(store, n) for n in names}
    observed = set()
    if "ServingObservation" in types:  # endpoints a server reported on: answer from what it said
        observed = store.endpoints_with("ServingObservation", names)
        for n in sorted(observed):
            out[n] = _replayed_now(store, n)
        names = [n for n in names if n not in observed]
        if not names:
            return out
    pins = [t for t in ("Rollback", "Unpin", "Promote") if t in types]
    ops_by: Dict[str, List[Execution]] = {}
    if pins:
        for e in store.get_executions(store.executions_in_endpoints(pins, names)):
            ops_by.setdefault(str(e.properties.get("model_name")), []).append(e)
    newest = store.newest_in_endpoints("Push", names)
    newest_push = {e.id: e for e in store.get_executions(sorted(newest.values()))}
    for name in names:
        ops = ops_by.get(name, [])
        pushes = [newest_push[newest[name]]] if name in newest else []
        if any(e.properties.get("target_version") is None and e.type != "Unpin" for e in ops + pushes):
            out[name] = _replayed_now(store, name)  # older records: replay them
            continue
        version = None
        last = max(ops, key=lambda e: (event_time(e), e.id)) if ops else None
        if last is not None and last.type != "Unpin" and any(e.type == "Promote" for e in ops):
            out[name] = _replayed_now(store, name)  # a promote may have changed the highest loaded
            continue
        if last is not None and last.type == "Rollback":
            version = int(last.properties["target_version"])
        elif pushes:
            version = int(pushes[0].properties["target_version"])
        out[name] = version
    return out


def endpoint_names(store: Store, limit: int = 500) -> List[str]:
    """Every served model name: ServingEndpoint contexts, then TFX Pusher destinations."""
    names = [c.name for c in store.list_contexts(filter_query="type = 'ServingEndpoint'", limit=limit)] \
        if store.has_type("context", "ServingEndpoint") else []
    return names + sorted(n for n in tfx_pushes(store) if n not in names)


def _replayed_now(store: Store, name: str) -> Optional[int]:
    try:
        return served_at(store, name, "now").version
    except NotFound:
        return None


def last_change(store: Store, model_name: str) -> Optional[Execution]:
    """The newest COMPLETE execution in ``model_name``'s ServingEndpoint context (a push,
    rollback, promote or unpin; not an observation, nor a head's remote answer), or None."""
    found = store.list_executions(
        filter_query=f"contexts_a.type = 'ServingEndpoint' AND contexts_a.name = {quote(model_name)} "
                     f"AND last_known_state = COMPLETE AND type != 'ServingObservation' AND type != 'RemoteAnswer'",
                     limit=1, order_by="id") \
        if store.has_type("context", "ServingEndpoint") else []
    if not found:
        tfx = [e for e, _ in tfx_pushes(store).get(model_name, [])]
        return tfx[-1] if tfx else None
    return found[0]


def served_at(store: Store, model_name: str, when: Any = "now") -> ServingState:
    """Which version of ``model_name`` served at ``when`` (``"now"``, a datetime, ISO text or
    UNIX seconds): what servers reported (ServingObservation, recorded by ``lineage serve`` and
    ``lineage watch``) where there are such observations, else the state the recorded push /
    rollback / promote / unpin executions add up to."""
    history = serving_history(store, model_name)
    until = parse_when(when)
    state = observed_state(replay(model_name, history, until), history, until, leases_for(store, history))
    return with_remote(state, history, until)


def _answering_modules(history: Sequence[ServingEvent], version: int, until: Optional[float]) -> List[ServingEvent]:
    """The newest report (up to ``until``) of each module model answering head ``version``'s
    remote part, oldest first (history is in time order)."""
    t = until if until is not None else time.time()
    newest: Dict[str, ServingEvent] = {}
    for ev in history:
        if ev.action == "remote" and ev.remote_role == "module" and ev.version == version and ev.time <= t \
                and ev.remote:
            newest[ev.remote.rsplit(":", 1)[0]] = ev
    return sorted(newest.values(), key=lambda ev: (ev.time, ev.remote or ""))


def with_remote(state: ServingState, history: Sequence[ServingEvent], until: Optional[float]) -> ServingState:
    """``state`` with the module versions that answered its version's remote part (a split
    model's head), the newest report of each module up to ``until``."""
    answering = _answering_modules(history, state.version, until) if state.version is not None else []
    return dataclasses.replace(state, remote=tuple(str(ev.remote) for ev in answering)) if answering else state


@dataclasses.dataclass(frozen=True)
class ServingGraph:
    """Who serves what now, and which heads call which modules: the serving graph of a fleet."""

    servers: Dict[str, List[str]]          # server (host:port) -> MODEL:VERSION it reports serving
    unreported: List[str]                  # MODEL:VERSION serving by the recorded changes, no server's report
    calls: List[Tuple[str, str, str]]      # (head MODEL:VERSION, module MODEL:VERSION, the module server it called)
    stale: List[str]                       # servers whose lease expired (what they reported is not a fact)

    def to_dict(self) -> Dict[str, Any]:
        return {"servers": self.servers, "unreported": self.unreported,
                "calls": [{"head": h, "module": m, "server": s} for h, m, s in self.calls], "stale": self.stale}


def serving_graph(store: Store, model_names: Sequence[str]) -> ServingGraph:
    """What serves each of ``model_names`` now, on which server, and which module version (on
    which module server) answers each head serving now."""
    servers: Dict[str, List[str]] = {}
    unreported: List[str] = []
    calls: List[Tuple[str, str, str]] = []
    stale: List[str] = []
    for name in model_names:
        try:
            history = serving_history(store, name)
        except NotFound:
            continue
        state = observed_state(replay(name, history, None), history, None, leases_for(store, history))
        if state.version is None:
            continue
        served = f"{name}:{state.version}"
        if state.source == "observed" and state.reported_by:
            servers.setdefault(state.reported_by, []).append(served)
            if state.stale and state.reported_by not in stale:
                stale.append(state.reported_by)
        else:
            unreported.append(served)
        for ev in _answering_modules(history, state.version, None):
            calls.append((served, str(ev.remote), str(ev.execution.get("remote_server") or "")))
    return ServingGraph({k: sorted(v) for k, v in sorted(servers.items())}, sorted(unreported), sorted(calls),
                        sorted(stale))


def leases_for(store: Store, history: Sequence[ServingEvent]) -> List[ServerLease]:
    """The leases of every process that reported at an address in ``history``'s observations."""
    return leases_of(store, {ev.server for ev in history if ev.action == "observed" and ev.instance and ev.server})
