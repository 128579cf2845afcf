"""Impact: everything downstream of some artifacts that matters (models, evaluations,
blessings, pushed versions) and whether each pushed version serves now."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Dict, List, Optional, Sequence

from ..errors import InvalidInput
from ..records import Artifact, Execution
from ..store import Store
from ..vocab import artifact_role, is_blessed
from .graph import LineageGraph, trace
from .traversal import walk
from .predictions import VersionTraffic, summarize
from .resolve import model_name_of, pushed_version
from .serving import serving_now
from .subject import as_artifact
from .taint import taint_marks, tainted

__all__ = ["Impact", "ImpactedPush", "impact"]


@dataclasses.dataclass(frozen=True)
class ImpactedPush:
    pushed: Artifact
    model_name: Optional[str]
    version: Optional[int]
    serving_now: Optional[bool]  # None when the store does not say (e.g. a TFX store)


@dataclasses.dataclass(frozen=True)
class Impact:
    """Everything downstream of some artifacts that matters: models, evaluations, pushes.

    Built from the reachable set alone (no node details but for the artifacts reported);
    ``graph`` and ``executions`` are read when first asked for.
    """

    store: Store = dataclasses.field(repr=False, compare=False)
    sources: List[Artifact]
    models: List[Artifact]
    evaluations: List[Artifact]
    blessings: List[Artifact]
    pushed: List[ImpactedPush]
    execution_ids: List[int]
    max_hops: Optional[int] = None
    #: the logged answers of the affected versions (request logs of served versions), per version
    answers: List[VersionTraffic] = dataclasses.field(default_factory=list)
    #: TensorFlow.js conversions downstream (lineage.components.web)
    web_models: List[Artifact] = dataclasses.field(default_factory=list)

    def __repr__(self) -> str:
        return (f"<Impact of {', '.join(f'a{a.id}' for a in self.sources)}: {len(self.models)} models, "
                f"{len(self.pushed)} pushed versions, {len(self.serving_affected)} serving now>")

    @functools.cached_property
    def graph(self) -> LineageGraph:
        """The downstream graph itself (traversed when first asked for)."""
        return trace(self.store, [("artifact", a.id) for a in self.sources], "DOWNSTREAM", self.max_hops)

    @property
    def executions(self) -> List[Execution]:
        return self.store.get_executions(self.execution_ids)

    @property
    def serving_affected(self) -> List[ImpactedPush]:
        return [p for p in self.pushed if p.serving_now]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "sources": [a.summary() for a in self.sources],
            "models": [a.summary() for a in self.models],
            "evaluations": [a.summary() for a in self.evaluations],
            "blessings": [{**a.summary(), "blessed": is_blessed(a.get("blessed"))} for a in self.blessings],
            "pushed": [{**p.pushed.summary(), "model_name": p.model_name, "version": p.version,
                        "serving_now": p.serving_now} for p in self.pushed],
            "executions": len(self.execution_ids),
            "serving_affected": [f"{p.model_name}:{p.version}" for p in self.serving_affected],
            "answers": [t.to_dict() for t in self.answers],
            "web_models": [a.summary() for a in self.web_models],
        }


def _answered_heads(store: Store, pushed_ids: set) -> set:
    """The heads' PushedModels whose remote part one of ``pushed_ids`` (module versions) answered,
    as their servers recorded it (RemoteAnswer executions)."""
    if not pushed_ids or not store.has_type("execution", "RemoteAnswer"):
        return set()
    answers = {ev.execution_id for ev in store.events_of_artifacts(sorted(pushed_ids))
               if ev.key == "remote" and ev.type == "INPUT"}
    if not answers:
        return set()
    return {ev.artifact_id for ev in store.events_of_executions(sorted(answers)) if ev.key == "version"}


def impact(store: Store, artifacts: Sequence[Any] = (), *, tainted_only: bool = False,
           max_hops: Optional[int] = None) -> Impact:
    """Every downstream model, evaluation and pushed version, with whether it serves now.

    With ``tainted_only=True`` (and no artifacts) the sources are every tainted artifact.
    """
    if isinstance(artifacts, (str, int, Artifact)):
        artifacts = [artifacts]
    sources = [as_artifact(store, a) for a in artifacts]
    if tainted_only:
        taints = tainted(store)
        if sources:
            sources = [a for a in sources if a.id in taints]
        else:
            sources = store.get_artifacts(sorted(taints))
    if not sources and not tainted_only:
        raise InvalidInput("impact() needs an artifact (or tainted_only=True)")
    reached = walk(store, [("artifact", a.id) for a in sources], "DOWNSTREAM", max_hops) if sources else None
    art_ids, exec_ids = (set(reached.artifacts), set(reached.executions)) if reached is not None else (set(), set())
    source_ids = {a.id for a in sources}
    types = store.artifact_types(sorted(art_ids - source_ids))
    # through module servers: a served module version reaches the heads whose remote part it answered
    heads = _answered_heads(store, {i for i, t in {**types, **{a.id: a.type for a in sources}}.items()
                                    if artifact_role(t) == "pushed"} | source_ids) - art_ids
    while heads:
        more = walk(store, [("artifact", i) for i in sorted(heads)], "DOWNSTREAM", max_hops)
        art_ids |= set(more.artifacts) | heads
        exec_ids |= set(more.executions)
        types = store.artifact_types(sorted(art_ids - source_ids))
        heads = _answered_heads(store, {i for i, t in types.items() if artifact_role(t) == "pushed"}) - art_ids
    wanted = {"model", "evaluation", "blessing", "pushed", "predictions", "web_model"}
    records = store.get_artifacts(sorted(i for i, t in types.items() if artifact_role(t) in wanted))
    by_role: Dict[str, List[Artifact]] = {r: [] for r in wanted}
    for a in records:
        by_role[artifact_role(a.type)].append(a)
    annotations = {e.id for e in taint_marks(store)} if exec_ids else set()
    named = [(p, model_name_of(p), pushed_version(p)) for p in by_role["pushed"]]
    serving = serving_now(store, [n for _, n, v in named if n is not None and v is not None])
    pushed = []
    for p, name, version in named:
        now = serving.get(name)
        pushed.append(ImpactedPush(p, name, version, None if now is None else now == version))
    pushed.sort(key=lambda p: (p.model_name or "", p.version or 0))
    return Impact(store, sources, sorted(by_role["model"], key=lambda a: a.id),
                  sorted(by_role["evaluation"], key=lambda a: a.id),
                  sorted(by_role["blessing"], key=lambda a: a.id), pushed,
                  sorted(exec_ids - annotations), max_hops, summarize(by_role["predictions"]),
                  sorted(by_role["web_model"], key=lambda a: a.id))
