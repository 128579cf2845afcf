"""Diff: what differs between two models, served versions or runs."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ..errors import NotFound
from ..records import Artifact, Context
from ..store import Store
from ..vocab import artifact_role
from .provenance import Provenance, provenance

__all__ = ["Diff", "diff"]


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
