"""Audit queries: provenance, impact, serving history, diff, find, verify, taints.

Everything here reads through :class:`lineage.store.Store` and MLMD's bounded traversal;
nothing loads the whole store. Only :func:`taint` / :func:`untaint` write (an execution each,
nothing deleted). The functions are store-first and keyword-only past the subject; ``Lineage``
exposes them as methods.

Works on stores lineage did not write: TFX's type names are understood by *role*
(``...Transform`` is a transform, ``...Trainer`` a training step, ``ExternalArtifact`` raw data,
``pushed_version`` the served version).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import FingerprintError, InvalidInput, NotFound
from .fingerprint import fingerprint
from .graph import LineageGraph, trace
from .records import Artifact, Context, Execution, utc_from_s
from .store import Store, _quote

__all__ = [
    "execution_role", "artifact_role", "Provenance", "Impact", "ImpactedPush", "ServingEvent",
    "ServingState", "Diff", "VerifyReport", "TaintRecord", "provenance", "impact",
    "serving_history", "served_at", "replay", "replay_steps", "diff", "find", "verify", "taint", "untaint", "tainted",
    "resolve_served", "parse_when",
]

# ------------------------------------------------------------------------ roles

_EXEC_ROLES = {
    "ingest": ("Ingest", "CsvExampleGen", "ImportExampleGen", "BigQueryExampleGen", "ExampleGen"),
    "transform": ("Transform",),
    "train": ("Train", "Trainer", "Tuner"),
    "evaluate": ("Evaluate", "Evaluator", "ModelValidator"),
    "push": ("Push", "Pusher"),
    "publish": ("PublishModule",),
    "serving": ("Rollback", "Promote", "Unpin"),
}
_ART_ROLES = {
    "dataset": ("Dataset", "ExternalArtifact"),
    "examples": ("Examples",),
    "transform_graph": ("TransformGraph",),
    "hub_module": ("HubModule",),
    "model": ("Model",),
    "evaluation": ("ModelEvaluation",),
    "blessing": ("ModelBlessing",),
    "pushed": ("PushedModel",),
}
_BOOKKEEPING = {"fingerprint", "size_bytes", "file_count", "external", "name", "state",
                "producer_component", "pipeline_name", "tfx_version", "is_external"}


def _last(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def execution_role(type_name: str) -> Optional[str]:
    """``ingest``, ``transform``, ``train``, ``evaluate``, ``push``, ``publish``, ``serving``."""
    last = _last(type_name)
    for role, names in _EXEC_ROLES.items():
        if last in names or (role == "ingest" and last.endswith("ExampleGen")):
            return role
    return None


_ART_ROLE_OF = {name: role for role, names in _ART_ROLES.items() for name in names}


def artifact_role(type_name: str) -> Optional[str]:
    """``dataset``, ``examples``, ``transform_graph``, ``hub_module``, ``model``,
    ``evaluation``, ``blessing``, ``pushed``, or None."""
    return _ART_ROLE_OF.get(type_name)


# ------------------------------------------------------------------------ times


def parse_when(when: Any) -> float:
    """UNIX seconds from a datetime (naive = UTC), an ISO string, or a number of seconds."""
    if isinstance(when, bool):
        raise InvalidInput(f"not a time: {when!r}")
    if isinstance(when, (int, float)):
        return float(when)
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        return when.timestamp()
    if isinstance(when, _dt.date):
        return _dt.datetime(when.year, when.month, when.day, tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(when, str):
        text = when.strip()
        if text.lower() == "now":
            return _dt.datetime.now(_dt.timezone.utc).timestamp()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return parse_when(_dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise InvalidInput(
                f"not a time: {when!r}; use ISO 8601 (2026-11-26T10:00:00Z), 'now', or UNIX seconds"
            ) from None
    raise InvalidInput(f"not a time: {when!r}")


def _event_time(e: Execution) -> float:
    return e.properties.get("ended_at") or e.properties.get("started_at") or e.create_time_ms / 1000


# --------------------------------------------------------------------- resolving


def _is_served_spec(node: Any) -> bool:
    """``"reviews:2"`` names a served version; ``"artifact:12"`` / ``"e:7"`` are node refs."""
    return isinstance(node, str) and ":" in node and node.split(":", 1)[0].lower() not in (
        "a", "artifact", "e", "execution", "c", "context")


def _as_artifact(store: Store, node: Any) -> Artifact:
    from .api import parse_ref

    if _is_served_spec(node):
        return resolve_served(store, node)
    if isinstance(node, Artifact) and node.id is None:
        from .api import Lineage

        return Lineage(store).lookup(node)
    try:
        kind, node_id = parse_ref(node)
    except InvalidInput:
        if isinstance(node, str) and node.strip() and not node.strip()[0].isdigit():
            return resolve_served(store, node.strip())  # a model name: the version serving now
        raise
    if kind != "artifact":
        raise InvalidInput(f"{node!r} is not an artifact")
    return store.get_artifact(node_id)


def _pushed_version(a: Artifact) -> Optional[int]:
    v = a.get("pushed_version")
    try:
        return int(v) if v is not None and v != "" else None
    except (TypeError, ValueError):
        return None


def _model_name(a: Artifact) -> Optional[str]:
    name = a.get("model_name")
    if name:
        return str(name)
    dest = a.get("pushed_destination")  # TFX: <serving_dir>/<model>/<version>
    if dest:
        parts = Path(str(dest)).parts
        return parts[-2] if len(parts) >= 2 else None
    return None


def resolve_served(store: Store, spec: str) -> Artifact:
    """The PushedModel for ``"model:version"`` (``"model"`` alone: the one serving now)."""
    name, _, version = str(spec).partition(":")
    if not name:
        raise InvalidInput(f"{spec!r}: write MODEL:VERSION, e.g. reviews:2")
    if version:
        if not version.isdigit():
            raise InvalidInput(f"{spec!r}: the version must be a number, e.g. {name}:2")
        wanted = int(version)
    else:
        state = served_at(store, name, "now")
        if state.version is None:
            raise NotFound(f"model {name!r} has no version serving")
        wanted = state.version
    for a in _pushed_of(store, name):
        if _pushed_version(a) == wanted:
            return a
    raise NotFound(f"model {name!r} has no pushed version {wanted} in {store.config.redacted()}")


def _pushed_of(store: Store, model_name: str) -> List[Artifact]:
    if "PushedModel" not in store.type_names("artifact"):
        return []
    q = f"type = 'PushedModel' AND properties.model_name.string_value = {_quote(model_name)}"
    try:
        return store.list_artifacts(filter_query=q, limit=10_000)
    except InvalidInput:  # a foreign store whose PushedModel type has no model_name property
        return []


# -------------------------------------------------------------------- provenance


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where a model (or a served version of it) came from."""

    target: Artifact
    model: Optional[Artifact]
    pushed: Optional[Artifact]
    datasets: List[Artifact]
    examples: List[Artifact]
    transforms: List[Execution]
    transform_graphs: List[Artifact]
    hub_modules: List[Artifact]
    training: List[Execution]
    parameters: Dict[str, Any]
    code_version: Dict[str, Any]
    evaluations: List[Artifact]
    blessings: List[Artifact]
    metrics: Dict[str, Any]
    blessed: Optional[bool]
    ran_by: Optional[str]
    trained_at: Optional[_dt.datetime]
    pushed_at: Optional[_dt.datetime]
    steps: List[Execution]
    graph: LineageGraph = dataclasses.field(repr=False)

    def to_dict(self) -> Dict[str, Any]:
        def art(a: Artifact) -> Dict[str, Any]:
            d = {"id": a.id, "type": a.type, "uri": a.uri, "fingerprint": a.fingerprint}
            extra = {k: v for k, v in {**a.custom_properties, **a.properties}.items()
                     if k not in _BOOKKEEPING}
            if extra:
                d["properties"] = extra
            return d

        def ex(e: Execution) -> Dict[str, Any]:
            return {"id": e.id, "type": e.type, "state": e.state, "params": dict(e.params),
                    "started": _iso(e.started), "user": e.properties.get("user"),
                    "source_hash": e.properties.get("source_hash"),
                    "module_file": e.get("module_file"),
                    "module_source_hash": e.get("module_source_hash")}

        return {
            "target": art(self.target),
            "model": art(self.model) if self.model else None,
            "pushed": art(self.pushed) if self.pushed else None,
            "datasets": [art(a) for a in self.datasets],
            "examples": [art(a) for a in self.examples],
            "transforms": [ex(e) for e in self.transforms],
            "transform_graphs": [art(a) for a in self.transform_graphs],
            "hub_modules": [art(a) for a in self.hub_modules],
            "training": [ex(e) for e in self.training],
            "parameters": self.parameters,
            "code_version": self.code_version,
            "evaluations": [art(a) for a in self.evaluations],
            "blessings": [art(a) for a in self.blessings],
            "metrics": self.metrics,
            "blessed": self.blessed,
            "ran_by": self.ran_by,
            "trained_at": _iso(self.trained_at),
            "pushed_at": _iso(self.pushed_at),
            "steps": [{"id": e.id, "type": e.type, "state": e.state} for e in self.steps],
        }


def _iso(dt: Optional[_dt.datetime]) -> Optional[str]:
    return dt.isoformat() if dt else None


_CODE_KEYS = ("git_commit", "git_dirty", "python_version", "package_versions", "user", "host",
              "source_hash", "step", "checksum_md5", "module_file", "run_id", "tfx_version")


def _blessed_value(a: Artifact) -> Optional[bool]:
    v = a.get("blessed")
    if v is None:
        return None
    if isinstance(v, str):
        return v.lower() in ("1", "true", "yes")
    return bool(v)


def provenance(store: Store, target: Any) -> Provenance:
    """The structured report behind a Model or a PushedModel (or ``"model:version"``)."""
    art = _as_artifact(store, target)
    up = trace(store, [("artifact", art.id)], "UPSTREAM")
    pushed = art if artifact_role(art.type) == "pushed" else None
    model = art if artifact_role(art.type) == "model" else None
    if model is None:
        models = [a for a in up.artifacts() if artifact_role(a.type) == "model"]
        # the model pushed: the Model input of the push that produced the target
        for producer in up.producers(art):
            direct = [a for arts in up.inputs(producer).values() for a in arts
                      if artifact_role(a.type) == "model"]
            if direct:
                model = max(direct, key=lambda a: a.id)
                break
        if model is None and models:
            model = max(models, key=lambda a: a.id)
    training = []
    if model is not None:
        training = [e for e in up.producers(model) if execution_role(e.type) == "train"]
    other_train = [e for e in up.executions() if execution_role(e.type) == "train" and e not in training]
    training = training + sorted(other_train, key=lambda e: -e.id)

    # Evaluations are downstream of the model: its evaluators' outputs (two hops).
    evaluations: List[Artifact] = []
    blessings: List[Artifact] = []
    if model is not None:
        down = trace(store, [("artifact", model.id)], "DOWNSTREAM", max_hops=2)
        for ex in down.consumers(model):
            if execution_role(ex.type) != "evaluate":
                continue
            for arts in down.outputs(ex).values():
                for a in arts:
                    if artifact_role(a.type) == "evaluation":
                        evaluations.append(a)
                    elif artifact_role(a.type) == "blessing":
                        blessings.append(a)
    for a in up.artifacts():
        if artifact_role(a.type) == "blessing" and a not in blessings:
            blessings.append(a)
    evaluations.sort(key=lambda a: -a.id)
    blessings.sort(key=lambda a: -a.id)

    trainer = training[0] if training else None
    params = dict(trainer.params) if trainer else {}
    if trainer is not None and not params:  # TFX keeps exec properties as properties
        params = {k: v for k, v in trainer.properties.items()
                  if k not in _CODE_KEYS and k not in ("state", "pipeline_name", "pipeline_root",
                                                       "component_id")}
    code = {k: trainer.get(k) for k in _CODE_KEYS if trainer is not None and trainer.get(k) is not None}
    metrics: Dict[str, Any] = {}
    if evaluations:
        metrics = {k: v for k, v in evaluations[0].custom_properties.items() if k not in _BOOKKEEPING}
    blessed = None
    for b in blessings:
        blessed = _blessed_value(b)
        if blessed is not None:
            break
    pushed_at = None
    if pushed is not None:
        prods = up.producers(pushed)
        if prods:
            pushed_at = utc_from_s(_event_time(prods[0]))
    # Source data: Dataset / ExternalArtifact nodes; in stores with other names for raw data,
    # the sources (nothing upstream produced them) that are not modules or module sources.
    datasets = [a for a in up.artifacts() if artifact_role(a.type) == "dataset"]
    if not datasets:
        module_inputs = {a.id for e in up.executions() if execution_role(e.type) == "publish"
                         for arts in up.inputs(e).values() for a in arts}
        datasets = [a for a in up.sources() if artifact_role(a.type) is None and a.id != art.id
                    and a.id not in module_inputs]
    datasets.sort(key=lambda a: a.id)
    steps = [r for r in up.topological() if isinstance(r, Execution)]
    return Provenance(
        target=art, model=model, pushed=pushed, datasets=datasets,
        examples=up.artifacts(["Examples"]),
        transforms=[e for e in up.executions() if execution_role(e.type) == "transform"],
        transform_graphs=up.artifacts(["TransformGraph"]),
        hub_modules=up.artifacts(["HubModule"]), training=training, parameters=params,
        code_version=code, evaluations=evaluations, blessings=blessings, metrics=metrics,
        blessed=blessed, ran_by=(trainer.properties.get("user") if trainer else None),
        trained_at=trainer.started if trainer else None, pushed_at=pushed_at, steps=steps,
        graph=up,
    )


# ------------------------------------------------------------------------ impact


@dataclasses.dataclass(frozen=True)
class ImpactedPush:
    pushed: Artifact
    model_name: Optional[str]
    version: Optional[int]
    serving_now: Optional[bool]  # None when the store does not say (e.g. a TFX store)


class Impact:
    """Everything downstream of some artifacts that matters: models, evaluations, pushes.

    Built from the reachable set alone (no node details but for the artifacts reported);
    ``graph`` and ``executions`` are read when first asked for.
    """

    def __init__(self, store: Store, sources: List[Artifact], models: List[Artifact],
                 evaluations: List[Artifact], blessings: List[Artifact], pushed: List[ImpactedPush],
                 execution_ids: List[int], max_hops: Optional[int]) -> None:
        self._store = store
        self.sources = sources
        self.models = models
        self.evaluations = evaluations
        self.blessings = blessings
        self.pushed = pushed
        self.execution_ids = execution_ids
        self._max_hops = max_hops
        self._graph: Optional[LineageGraph] = None

    def __repr__(self) -> str:
        return (f"<Impact of {', '.join(f'a{a.id}' for a in self.sources)}: {len(self.models)} models, "
                f"{len(self.pushed)} pushed versions, {len(self.serving_affected)} serving now>")

    @property
    def graph(self) -> LineageGraph:
        if self._graph is None:
            self._graph = trace(self._store, [("artifact", a.id) for a in self.sources],
                                "DOWNSTREAM", self._max_hops)
        return self._graph

    @property
    def executions(self) -> List[Execution]:
        return self._store.get_executions(self.execution_ids)

    @property
    def serving_affected(self) -> List[ImpactedPush]:
        return [p for p in self.pushed if p.serving_now]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "sources": [{"id": a.id, "type": a.type, "uri": a.uri} for a in self.sources],
            "models": [{"id": a.id, "uri": a.uri} for a in self.models],
            "evaluations": [a.id for a in self.evaluations],
            "blessings": [a.id for a in self.blessings],
            "pushed": [{"id": p.pushed.id, "model_name": p.model_name, "version": p.version,
                        "serving_now": p.serving_now} for p in self.pushed],
            "executions": len(self.execution_ids),
            "serving_affected": [f"{p.model_name}:{p.version}" for p in self.serving_affected],
        }


def impact(store: Store, artifacts: Sequence[Any] = (), *, tainted_only: bool = False,
           max_hops: Optional[int] = None) -> Impact:
    """Every downstream model, evaluation and pushed version, with whether it serves now.

    With ``tainted_only=True`` (and no artifacts) the sources are every tainted artifact.
    """
    from .graph import reach

    if isinstance(artifacts, (str, int, Artifact)):
        artifacts = [artifacts]
    sources = [_as_artifact(store, a) for a in artifacts]
    if tainted_only:
        taints = tainted(store)
        if sources:
            sources = [a for a in sources if a.id in taints]
        else:
            sources = store.get_artifacts(sorted(taints))
    if not sources and not tainted_only:
        raise InvalidInput("impact() needs an artifact (or tainted_only=True)")
    art_ids, exec_ids, _ = reach(store, [("artifact", a.id) for a in sources], "DOWNSTREAM", max_hops) \
        if sources else (set(), set(), [])
    source_ids = {a.id for a in sources}
    types = store.artifact_types(sorted(art_ids - source_ids))
    wanted = {"model", "evaluation", "blessing", "pushed"}
    records = store.get_artifacts(sorted(i for i, t in types.items() if artifact_role(t) in wanted))
    by_role: Dict[str, List[Artifact]] = {r: [] for r in wanted}
    for a in records:
        by_role[artifact_role(a.type)].append(a)
    annotations = {e.id for e in _marks(store)} if exec_ids else set()
    named = [(p, _model_name(p), _pushed_version(p)) for p in by_role["pushed"]]
    serving = serving_now(store, [n for _, n, v in named if n is not None and v is not None])
    pushed = []
    for p, name, version in named:
        now = serving.get(name)
        pushed.append(ImpactedPush(p, name, version, None if now is None else now == version))
    pushed.sort(key=lambda p: (p.model_name or "", p.version or 0))
    return Impact(store, sources, sorted(by_role["model"], key=lambda a: a.id),
                  sorted(by_role["evaluation"], key=lambda a: a.id),
                  sorted(by_role["blessing"], key=lambda a: a.id), pushed,
                  sorted(exec_ids - annotations), max_hops)


# --------------------------------------------------------------- serving history


@dataclasses.dataclass(frozen=True)
class ServingEvent:
    time: float  # UNIX seconds when it took effect
    action: str  # push | rollback | promote | unpin
    version: Optional[int]
    label: Optional[str]
    execution: Execution
    state: str
    forced: bool = False

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

    def to_dict(self) -> Dict[str, Any]:
        return {"model_name": self.model_name, "version": self.version, "pinned": self.pinned,
                "labels": self.labels, "versions": list(self.versions),
                "since": _iso(utc_from_s(self.since)) if self.since else None,
                "execution": self.event.execution.id if self.event else None}


def serving_history(store: Store, model_name: str, *, limit: int = 10_000) -> List[ServingEvent]:
    """Pushes, rollbacks, promotions and unpins of ``model_name``, oldest first (failed ones
    included, marked by ``state``)."""
    ctx = store.get_context_by_name("ServingEndpoint", model_name) \
        if "ServingEndpoint" in store.type_names("context") else None
    if ctx is None:
        raise NotFound(f"no serving endpoint {model_name!r} in {store.config.redacted()} "
                       f"(nothing was pushed under that name)")
    execs = [e for e in store.executions_in_context(ctx.id, limit=limit)
             if execution_role(e.type) == "push" or _last(e.type) in ("Rollback", "Promote", "Unpin")]
    # Our own executions carry the version as `target_version`; others (older or foreign
    # records) are resolved through their events and PushedModel artifacts, in one batch.
    unresolved = [e.id for e in execs if e.properties.get("target_version") is None
                  and _last(e.type) != "Unpin"]
    events_by_exec: Dict[int, list] = {}
    arts: Dict[int, Artifact] = {}
    if unresolved:
        for ev in store.events_of_executions(unresolved):
            events_by_exec.setdefault(ev.execution_id, []).append(ev)
        art_ids = sorted({ev.artifact_id for evs in events_by_exec.values() for ev in evs})
        arts = {a.id: a for a in store.get_artifacts(art_ids)}
    out: List[ServingEvent] = []
    for e in execs:
        last = _last(e.type)
        evs = events_by_exec.get(e.id, [])
        version = e.properties.get("target_version")
        if execution_role(e.type) == "push":
            action = "push"
            if version is None:
                pushed = [arts[v.artifact_id] for v in evs if v.type == "OUTPUT" and v.artifact_id in arts
                          and artifact_role(arts[v.artifact_id].type) == "pushed"]
                version = _pushed_version(pushed[0]) if pushed else None
        else:
            action = last.lower()
            if version is None:
                targets = [arts[v.artifact_id] for v in evs if v.type == "INPUT" and v.key == "target"
                           and v.artifact_id in arts]
                version = _pushed_version(targets[0]) if targets else None
        out.append(ServingEvent(
            time=_event_time(e), action=action, version=int(version) if version is not None else None,
            label=e.properties.get("label") or ("stable" if action == "rollback" else None),
            execution=e, state=e.state, forced=bool(e.properties.get("forced")),
        ))
    out.sort(key=lambda s: (s.time, s.execution.id))
    return out


def replay_steps(model_name: str, history: Iterable[ServingEvent]) -> Iterator[Tuple[ServingEvent, ServingState]]:
    """The serving state after each effective event, in one pass over the history."""
    versions: set = set()
    pinned: Optional[int] = None
    labels: Dict[str, int] = {}
    serving: Optional[int] = None
    since, last_event = None, None
    for ev in history:
        if not ev.effective:
            continue
        before = serving
        if ev.action == "push" and ev.version is not None:
            versions.add(ev.version)
            if pinned is None:
                serving = max(versions)
        elif ev.action == "rollback" and ev.version is not None:
            pinned = serving = ev.version
            labels["stable"] = ev.version
        elif ev.action == "promote" and ev.version is not None and ev.label:
            labels[ev.label] = ev.version
        elif ev.action == "unpin":
            pinned = None
            serving = max(versions) if versions else None
        if serving != before or last_event is None:
            since, last_event = ev.time, ev
        yield ev, ServingState(model_name, serving, pinned is not None, dict(labels),
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
    types = set(store.type_names("execution"))
    if not names:
        return out
    if "Push" not in types:
        return {n: _replayed_now(store, n) for n in names}
    pins = [t for t in ("Rollback", "Unpin") if t in types]
    ops_by: Dict[str, List[Execution]] = {}
    if pins:
        in_names = ", ".join(_quote(n) for n in names)
        for e in store.list_executions(
                filter_query=f"contexts_a.type = 'ServingEndpoint' AND contexts_a.name IN ({in_names}) "
                             f"AND type IN ({', '.join(_quote(t) for t in pins)}) "
                             f"AND last_known_state = COMPLETE", limit=None, order_by="id"):
            ops_by.setdefault(str(e.properties.get("model_name")), []).append(e)
    for name in names:
        ctx = f"contexts_a.type = 'ServingEndpoint' AND contexts_a.name = {_quote(name)}"
        ops = ops_by.get(name, [])
        pushes = store.list_executions(
            filter_query=f"{ctx} AND type = 'Push' AND last_known_state = COMPLETE", limit=1, order_by="id")
        if any(e.properties.get("target_version") is None and e.type != "Unpin" for e in ops + pushes):
            out[name] = _replayed_now(store, name)  # older records: replay them
            continue
        version = None
        last = max(ops, key=lambda e: (_event_time(e), e.id)) if ops else None
        if last is not None and last.type == "Rollback":
            version = int(last.properties["target_version"])
        elif pushes:
            version = int(pushes[0].properties["target_version"])
        out[name] = version
    return out


def _replayed_now(store: Store, name: str) -> Optional[int]:
    try:
        return served_at(store, name, "now").version
    except NotFound:
        return None


def served_at(store: Store, model_name: str, when: Any = "now") -> ServingState:
    """Which version of ``model_name`` served at ``when`` (``"now"``, a datetime, ISO text or
    UNIX seconds), from the recorded push / rollback / promote / unpin executions."""
    return replay(model_name, serving_history(store, model_name), parse_when(when))


# -------------------------------------------------------------------------- diff


@dataclasses.dataclass(frozen=True)
class Diff:
    """What differs between two models (or runs): section -> key -> (a, b)."""

    a: str
    b: str
    sections: Dict[str, Dict[str, Tuple[Any, Any]]]

    @property
    def same(self) -> bool:
        return not any(self.sections.values())

    def to_dict(self) -> Dict[str, Any]:
        return {"a": self.a, "b": self.b, "same": self.same,
                "sections": {s: {k: {"a": va, "b": vb} for k, (va, vb) in d.items()}
                             for s, d in self.sections.items()}}


def _compare(x: Mapping[str, Any], y: Mapping[str, Any]) -> Dict[str, Tuple[Any, Any]]:
    return {k: (x.get(k), y.get(k)) for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)}


def _prov_view(p: Provenance) -> Dict[str, Dict[str, Any]]:
    return {
        "data": {a.uri: a.fingerprint for a in p.datasets},
        "hub_modules": {str(a.get("handle") or a.get("module_name") or a.uri):
                        a.get("version") for a in p.hub_modules},
        "transform": {f"{e.type}": e.get("module_source_hash") or e.get("checksum_md5") or e.get("source_hash")
                      for e in p.transforms},
        "parameters": dict(p.parameters),
        "code_version": dict(p.code_version),
        "metrics": dict(p.metrics),
        "blessing": {"blessed": p.blessed},
    }


def _run_model(store: Store, run: Union[Context, str]) -> Tuple[Context, Optional[Artifact]]:
    ctx = run if isinstance(run, Context) else store.get_context_by_name("PipelineRun", str(run))
    if ctx is None:
        raise NotFound(f"no run named {run!r}")
    models = [a for a in store.artifacts_in_context(ctx.id, limit=10_000)
              if artifact_role(a.type) in ("pushed", "model")]
    pushed = [a for a in models if artifact_role(a.type) == "pushed"]
    pick = max(pushed or models, key=lambda a: a.id) if (pushed or models) else None
    return ctx, pick


def diff(store: Store, a: Any, b: Any) -> Diff:
    """Compare two models / served versions (artifacts, ``"model:version"``) or two runs
    (run names or PipelineRun contexts): data, module versions, parameters, code, metrics."""
    def is_run(x: Any) -> bool:
        return isinstance(x, Context) or (isinstance(x, str) and store.get_context_by_name(
            "PipelineRun", x) is not None if "PipelineRun" in store.type_names("context") else False)

    if is_run(a) and is_run(b):
        ca, ma = _run_model(store, a)
        cb, mb = _run_model(store, b)
        sections = {}
        if ma is not None and mb is not None:
            sections = {k: _compare(v, w) for (k, v), w in
                        zip(_prov_view(provenance(store, ma)).items(),
                            _prov_view(provenance(store, mb)).values())}
        steps_a = {e.type: e for e in store.executions_in_context(ca.id, limit=10_000)}
        steps_b = {e.type: e for e in store.executions_in_context(cb.id, limit=10_000)}
        for t in sorted(set(steps_a) | set(steps_b)):
            ea, eb = steps_a.get(t), steps_b.get(t)
            sections[f"step {t}"] = _compare(
                {"state": ea.state, **dict(ea.params)} if ea else {"state": None},
                {"state": eb.state, **dict(eb.params)} if eb else {"state": None})
        return Diff(ca.name, cb.name, sections)
    pa, pb_ = provenance(store, a), provenance(store, b)
    va, vb = _prov_view(pa), _prov_view(pb_)
    return Diff(f"a{pa.target.id}", f"a{pb_.target.id}", {k: _compare(va[k], vb[k]) for k in va})


# -------------------------------------------------------------------------- find


def find(store: Store, *, kind: str = "artifact", type: Optional[str] = None,
         where: Union[str, Mapping[str, Any], None] = None, context: Optional[str] = None,
         since: Any = None, until: Any = None, limit: Optional[int] = 100) -> list:
    """Artifacts (or executions) by type, property values, state, time and context.

    ``where`` is the small filter language of :mod:`lineage.filters` (or a dict of
    property = value); ``context`` a context name, or ``Type:name`` (``PipelineRun:nightly``).
    """
    from .filters import Clause, parse_filter, to_mlmd

    if kind not in ("artifact", "execution"):
        raise InvalidInput("kind must be 'artifact' or 'execution'")
    if isinstance(where, Mapping):
        clauses = [Clause(k, "=", (v,)) for k, v in where.items()]
    else:
        clauses = parse_filter(where or "")
    query = to_mlmd(clauses, kind, store, type)
    extra = []
    if context:
        ctype, _, cname = str(context).rpartition(":")
        extra.append(f"contexts_c.name = {_quote(cname)}")
        if ctype:
            extra.append(f"contexts_c.type = {_quote(ctype)}")
    if since is not None:
        extra.append(f"create_time_since_epoch >= {int(parse_when(since) * 1000)}")
    if until is not None:
        extra.append(f"create_time_since_epoch <= {int(parse_when(until) * 1000)}")
    full = " AND ".join([q for q in [query] if q] + extra) or None
    lister = store.list_artifacts if kind == "artifact" else store.list_executions
    return lister(filter_query=full, limit=limit)


# ------------------------------------------------------------------------ verify


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    checked: int
    ok: List[Artifact]
    missing: List[Artifact]
    changed: List[Tuple[Artifact, str]]  # (artifact, fingerprint now)
    skipped: List[Artifact]               # no fingerprint recorded, or not a local path

    @property
    def clean(self) -> bool:
        return not self.missing and not self.changed

    def to_dict(self) -> Dict[str, Any]:
        return {"checked": self.checked, "ok": len(self.ok),
                "missing": [{"id": a.id, "uri": a.uri} for a in self.missing],
                "changed": [{"id": a.id, "uri": a.uri, "recorded": a.fingerprint, "now": now}
                            for a, now in self.changed],
                "skipped": len(self.skipped), "clean": self.clean}


def verify(store: Store, node: Any = None, *, page: int = 1000,
           progress: Optional[Callable[[int], None]] = None) -> VerifyReport:
    """Re-fingerprint artifacts on disk and report the missing and changed ones.

    ``node`` is an artifact, an execution (its outputs) or ``None`` (every LIVE artifact,
    paged). ``progress(n)`` is called with the number checked so far.
    """
    from .api import parse_ref

    if node is None:
        def pages():
            last = 0
            while True:
                batch = store.list_artifacts(filter_query=f"id > {last} AND state = LIVE", limit=page,
                                             order_by="id", ascending=True)
                if not batch:
                    return
                yield batch
                last = batch[-1].id
        batches: Iterable[List[Artifact]] = pages()
    else:
        kind, node_id = ("served", 0) if _is_served_spec(node) else parse_ref(node)
        if kind == "artifact":
            batches = [[store.get_artifact(node_id)]]
        elif kind == "execution":
            evs = [e for e in store.events_of_executions([node_id]) if e.type == "OUTPUT"]
            batches = [store.get_artifacts(sorted({e.artifact_id for e in evs}))]
        elif kind == "served":
            batches = [[_as_artifact(store, node)]]
        else:
            batches = [store.artifacts_in_context(node_id, limit=100_000)]
    ok, missing, changed, skipped = [], [], [], []
    checked = 0
    for batch in batches:
        for a in batch:
            checked += 1
            local = "://" not in a.uri or a.uri.startswith("file://")
            if not a.fingerprint or not str(a.fingerprint).startswith("sha256:") or not local:
                skipped.append(a)
                continue
            try:
                now = fingerprint(a.path).digest
            except FingerprintError:
                missing.append(a)
                continue
            (ok.append(a) if now == a.fingerprint else changed.append((a, now)))
        if progress:
            progress(checked)
    return VerifyReport(checked, ok, missing, changed, skipped)


# ------------------------------------------------------------------------ taints


@dataclasses.dataclass(frozen=True)
class TaintRecord:
    artifact_id: int
    reason: str
    execution: Execution

    @property
    def when(self) -> Optional[_dt.datetime]:
        return self.execution.started

    @property
    def user(self) -> Optional[str]:
        return self.execution.properties.get("user")


def _mark(store: Store, action: str, artifact: Any, reason: str) -> Execution:
    from .codeversion import code_version
    import time

    if not reason or not str(reason).strip():
        raise InvalidInput(f"{action.lower()} needs a reason (who should know why?)")
    art = _as_artifact(store, artifact)
    now = round(time.time(), 3)
    props = {**{k: v for k, v in code_version().items() if k in ("user", "host")},
             "reason": str(reason), "started_at": now, "ended_at": now, "step": f"lineage.{action.lower()}"}
    execution, _ = store.write_execution(type=action, state="COMPLETE", properties=props,
                                         inputs=[(art.id, "artifact")])
    return execution


def taint(store: Store, artifact: Any, reason: str) -> Execution:
    """Mark an artifact bad (a ``Taint`` execution reading it; nothing is changed or deleted)."""
    return _mark(store, "Taint", artifact, reason)


def untaint(store: Store, artifact: Any, reason: str) -> Execution:
    """Lift a taint (an ``Untaint`` execution; the taint stays on record)."""
    art = _as_artifact(store, artifact)
    if art.id not in tainted(store):
        raise InvalidInput(f"artifact {art.id} is not tainted")
    return _mark(store, "Untaint", art, reason)


def _marks(store: Store) -> List[Execution]:
    """Every Taint and Untaint execution (few: paged by id)."""
    types = set(store.type_names("execution"))
    marks: List[Execution] = []
    for t in ("Taint", "Untaint"):
        if t in types:
            last = 0
            while True:
                batch = store.list_executions(filter_query=f"type = '{t}' AND id > {last}",
                                              limit=1000, order_by="id", ascending=True)
                marks += batch
                if len(batch) < 1000:
                    break
                last = batch[-1].id
    return marks


def tainted(store: Store) -> Dict[int, TaintRecord]:
    """Artifacts whose latest Taint/Untaint is a Taint, with the reason."""
    marks = _marks(store)
    if not marks:
        return {}
    events = store.events_of_executions([e.id for e in marks])
    target = {ev.execution_id: ev.artifact_id for ev in events if ev.type == "INPUT"}
    state: Dict[int, Optional[TaintRecord]] = {}
    for e in sorted(marks, key=lambda e: (_event_time(e), e.id)):
        aid = target.get(e.id)
        if aid is None:
            continue
        state[aid] = TaintRecord(aid, e.properties.get("reason", ""), e) if e.type == "Taint" else None
    return {k: v for k, v in state.items() if v is not None}
