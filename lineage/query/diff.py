"""Diff: what differs between two models, served versions or runs."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ..errors import NotFound
from ..records import Artifact, Context
from ..store import Store
from ..vocab import artifact_role, type_leaf
from .provenance import Provenance, provenance

__all__ = ["Diff", "diff"]


@dataclasses.dataclass(frozen=True)
class Diff:
    """What differs between two models (or runs): section -> key -> (a, b)."""

    a: str
    b: str
    sections: Dict[str, Dict[str, Tuple[Any, Any]]]
    #: the artifact a value names (a fingerprint or a URI seen in either side's provenance): its ref
    refs: Dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def same(self) -> bool:
        return not any(self.sections.values())

    def to_dict(self) -> Dict[str, Any]:
        return {"a": self.a, "b": self.b, "same": self.same,
                "sections": {s: {k: {"a": va, "b": vb} for k, (va, vb) in d.items()}
                             for s, d in self.sections.items()}, "refs": dict(self.refs)}


def _compare(x: Mapping[str, Any], y: Mapping[str, Any]) -> Dict[str, Tuple[Any, Any]]:
    return {k: (x.get(k), y.get(k)) for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)}


#: What names a step's code: the same values mean the same code ran.
_CODE = ("source_hash", "git_commit", "git_dirty", "module_source_hash", "checksum_md5", "python_version",
         "package_versions", "tfx_version")
_NOT_PARAMS = {"owner", "result", "cached_from", "closed_by"}


def _prov_view(p: Provenance) -> Dict[str, Dict[str, Any]]:
    """Everything a model's answer depends on, by section: the model itself, its data, Hub
    modules, each upstream step (parameters, inputs by content, code), metrics and blessing."""
    view: Dict[str, Dict[str, Any]] = {
        "fingerprints": {"type": p.target.type, "fingerprint": p.target.fingerprint,
                         "model fingerprint": p.model.fingerprint if p.model is not None else None},
        # source data by location (what a step made is compared by content in its step's section)
        "data": {a.uri: a.fingerprint for a in p.datasets if not p.graph.producers(a)},
        "hub_modules": {str(a.get("handle") or a.get("module_name") or a.uri):
                        a.get("version") for a in p.hub_modules},
        "parameters": dict(p.parameters),      # the training step's, as provenance reports them
        "code_version": dict(p.code_version),
    }
    counts: Dict[str, int] = {}
    for e in reversed(p.steps):  # nearest the model first: "step Train" is the one that made it
        name = type_leaf(e.type)
        counts[name] = counts.get(name, 0) + 1
        section = f"step {name}" + (f" #{counts[name]}" if counts[name] > 1 else "")
        step: Dict[str, Any] = {"state": e.state}
        step.update({f"param {k}": v for k, v in e.params.items() if k not in _NOT_PARAMS})
        code = {**{k: e.get(k) for k in _CODE if e.get(k) is not None}, **p.code_of(e)}
        step.update({f"code {k}": code[k] for k in _CODE if code.get(k) is not None})
        for key, arts in p.graph.inputs(e).items():
            if key.startswith("lineage:"):
                continue   # the source snapshot: "code source_hash" says it
            step[f"input {key}"] = ", ".join(sorted(str(a.fingerprint or a.uri) for a in arts))
        view[section] = step
    view["metrics"] = dict(p.metrics)
    view["blessing"] = {"blessed": p.blessed}
    return view


def _refs(*provs: Provenance) -> Dict[str, str]:
    """What a view's values can name, back to the artifact: fingerprint and URI -> ``a12``."""
    out: Dict[str, str] = {}
    for p in provs:
        for a in p.graph.artifacts():
            for value in (a.fingerprint, a.uri):
                if value:
                    out.setdefault(str(value), a.ref)
    return out


def _compare_views(va: Dict[str, Dict[str, Any]], vb: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Tuple[Any, Any]]]:
    """Section by section; a step only one side has differs in all its values."""
    return {k: _compare(va.get(k, {}), vb.get(k, {})) for k in list(dict.fromkeys([*va, *vb]))}


def _run_models(store: Store, run: Union[Context, str]) -> Tuple[Context, Dict[str, Artifact]]:
    """A run and its newest artifact of each role "pushed" and "model"."""
    ctx = run if isinstance(run, Context) else store.get_context_by_name("PipelineRun", str(run))
    if ctx is None:
        raise NotFound(f"no run named {run!r}")
    newest: Dict[str, Artifact] = {}
    for a in store.artifacts_in_context(ctx.id, limit=10_000):
        role = artifact_role(a.type)
        if role in ("pushed", "model") and (role not in newest or a.id > newest[role].id):
            newest[role] = a
    return ctx, newest


def _pair(ma: Dict[str, Artifact], mb: Dict[str, Artifact]) -> Tuple[Optional[Artifact], Optional[Artifact]]:
    """The models two runs are compared by: both pushed ones, else both trained ones (a rerun
    never pushes: its model is compared with the model the original trained)."""
    for role in ("pushed", "model"):
        if role in ma and role in mb:
            return ma[role], mb[role]
    return None, None


def _run_steps(store: Store, ctx: Context) -> Dict[str, Dict[str, Any]]:
    """A run's steps by section name (``step Train``, ``step Train #2``, in recorded order): state,
    parameters and each output's fingerprint (a rerun's are compared with its original's)."""
    executions = sorted(store.executions_in_context(ctx.id, limit=10_000), key=lambda e: e.id)
    outputs: Dict[int, Dict[str, Any]] = {e.id: {} for e in executions}
    events = [ev for ev in store.events_of_executions([e.id for e in executions]) if ev.type == "OUTPUT"] \
        if executions else []
    arts = {a.id: a for a in store.get_artifacts(sorted({ev.artifact_id for ev in events}))} if events else {}
    for ev in events:
        art = arts.get(ev.artifact_id)
        if art is not None and ev.key and not ev.key.startswith("lineage:"):
            outputs[ev.execution_id][f"output {ev.key}"] = art.fingerprint or art.uri
    out: Dict[str, Dict[str, Any]] = {}
    counts: Dict[str, int] = {}
    for e in executions:
        name = type_leaf(e.type)
        counts[name] = counts.get(name, 0) + 1
        key = f"step {name}" + (f" #{counts[name]}" if counts[name] > 1 else "")
        out[key] = {"state": e.state, **{f"param {k}": v for k, v in e.params.items() if k not in _NOT_PARAMS},
                    **outputs[e.id]}
    return out


def diff(store: Store, a: Any, b: Any) -> Diff:
    """Compare two models / served versions (artifacts, ``"model:version"``) or two runs (run
    names or PipelineRun contexts): the models' own fingerprints and their whole upstream, each
    step's parameters, inputs by content and code, Hub module versions, metrics and blessing,
    each difference named by the step it belongs to. ``same`` only if nothing differs."""
    def is_run(x: Any) -> bool:
        if isinstance(x, Context):
            return True
        return isinstance(x, str) and store.has_type("context", "PipelineRun") and \
            store.get_context_by_name("PipelineRun", x) is not None

    if is_run(a) and is_run(b):
        ca, models_a = _run_models(store, a)
        cb, models_b = _run_models(store, b)
        ma, mb = _pair(models_a, models_b)
        sections: Dict[str, Dict[str, Tuple[Any, Any]]] = {}
        refs: Dict[str, str] = {}
        if ma is not None and mb is not None:
            pa, pb = provenance(store, ma), provenance(store, mb)
            sections = _compare_views(_prov_view(pa), _prov_view(pb))
            refs = _refs(pa, pb)
        steps_a, steps_b = _run_steps(store, ca), _run_steps(store, cb)
        for key in list(dict.fromkeys([*steps_a, *steps_b])):
            found = _compare(steps_a.get(key, {"state": None}), steps_b.get(key, {"state": None}))
            sections[key] = {**sections.get(key, {}), **found}
        return Diff(ca.name, cb.name, sections, refs)
    pa, pb_ = provenance(store, a), provenance(store, b)
    return Diff(pa.target.ref, pb_.target.ref, _compare_views(_prov_view(pa), _prov_view(pb_)), _refs(pa, pb_))
