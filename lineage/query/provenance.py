"""Provenance: where a model (or a served version of it) came from: data, transform, Hub
modules, training parameters, code version, evaluation and blessing."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Any, Dict, List, Optional, Tuple

from ..records import Artifact, Execution, iso, utc_from_s
from ..store import Store
from ..vocab import BOOKKEEPING, artifact_role, execution_role, is_baseline_key, is_blessed
from .code import code_versions
from .graph import LineageGraph, trace
from .resolve import event_time
from .subject import as_artifact
from .taint import TaintRecord, tainted

__all__ = ["Provenance", "provenance", "Verdicts", "verdicts"]


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
    #: taints on the target or anything it was made from (its own first)
    tainted: List[TaintRecord] = dataclasses.field(default_factory=list)
    #: each step's code version, packages, user and host (its own, else its run's)
    step_code: Dict[int, Dict[str, Any]] = dataclasses.field(default_factory=dict, repr=False)
    #: the models the model's own training started from (warm start, fine-tuning), newest first
    base_models: List[Artifact] = dataclasses.field(default_factory=list)
    #: what each training step read, by execution id: its Hub modules and base models
    training_inputs: Dict[int, List[Artifact]] = dataclasses.field(default_factory=dict, repr=False)
    #: "MODEL:VERSION" of each base model that was pushed, by artifact id
    served_as: Dict[int, str] = dataclasses.field(default_factory=dict, repr=False)
    #: a split model's head: the module versions (MODEL:VERSION) that answered its remote part,
    #: as its servers recorded them, first seen first
    remote: List[str] = dataclasses.field(default_factory=list)

    def code_of(self, execution: Execution) -> Dict[str, Any]:
        """The code version, packages, user and host of one of the steps."""
        return self.step_code.get(execution.id, {})

    def to_dict(self) -> Dict[str, Any]:
        def art(a: Artifact) -> Dict[str, Any]:
            d = {**a.summary(), "fingerprint": a.fingerprint}
            extra = {k: v for k, v in {**a.custom_properties, **a.properties}.items()
                     if k not in BOOKKEEPING}
            if extra:
                d["properties"] = extra
            return d

        def ex(e: Execution) -> Dict[str, Any]:
            return {**e.summary(), "params": dict(e.params),
                    "started": iso(e.started), "user": self.code_of(e).get("user"),
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
            "training": [{**ex(e), "read": [{**a.summary(), "handle": a.get("handle")}
                                            for a in self.training_inputs.get(e.id, [])]}
                         for e in self.training],
            "base_models": [{**art(a), "served_as": self.served_as.get(a.id)} for a in self.base_models],
            "remote": list(self.remote),
            "parameters": self.parameters,
            "code_version": self.code_version,
            "evaluations": [art(a) for a in self.evaluations],
            "blessings": [art(a) for a in self.blessings],
            "metrics": self.metrics,
            "blessed": self.blessed,
            "ran_by": self.ran_by,
            "trained_at": iso(self.trained_at),
            "pushed_at": iso(self.pushed_at),
            "steps": [e.summary() for e in self.steps],
            "tainted": [t.to_dict() for t in self.tainted],
        }


_CODE_KEYS = ("git_commit", "git_dirty", "python_version", "package_versions", "user", "host",
              "source_hash", "step", "checksum_md5", "module_file", "run_id", "tfx_version")


def _model_of(up: LineageGraph, art: Artifact) -> Optional[Artifact]:
    """The model behind ``art``: itself, the Model input of the push that produced it, or the
    newest model upstream."""
    if artifact_role(art.type) == "model":
        return art
    for producer in up.producers(art):
        direct = [a for arts in up.inputs(producer).values() for a in arts if artifact_role(a.type) == "model"]
        if direct:
            return max(direct, key=lambda a: a.id)
    models = [a for a in up.artifacts() if artifact_role(a.type) == "model"]
    return max(models, key=lambda a: a.id) if models else None


def _evaluations_of(store: Store, up: LineageGraph, model: Optional[Artifact]
                    ) -> Tuple[List[Artifact], List[Artifact]]:
    """Evaluations and blessings of ``model``: the outputs of the evaluators that evaluated it (two
    hops downstream; not those where it was the baseline another model was compared with), and any
    blessing upstream; newest first."""
    evaluations: List[Artifact] = []
    blessings: List[Artifact] = []
    if model is not None:
        down = trace(store, [("artifact", model.id)], "DOWNSTREAM", max_hops=2)
        for ex in down.consumers(model):
            if execution_role(ex.type) != "evaluate" or is_baseline_key(down.key(model, ex)):
                continue
            for a in (a for arts in down.outputs(ex).values() for a in arts):
                role = artifact_role(a.type)
                if role == "evaluation":
                    evaluations.append(a)
                elif role == "blessing":
                    blessings.append(a)
    blessings += [a for a in up.artifacts() if artifact_role(a.type) == "blessing" and a not in blessings]
    return sorted(evaluations, key=lambda a: -a.id), sorted(blessings, key=lambda a: -a.id)


def _parameters(trainer: Optional[Execution]) -> Dict[str, Any]:
    if trainer is None:
        return {}
    params = dict(trainer.params)
    if not params:  # TFX keeps exec properties as properties
        params = {k: v for k, v in trainer.properties.items()
                  if k not in _CODE_KEYS and k not in ("state", "pipeline_name", "pipeline_root", "component_id")}
    return params


def _datasets(up: LineageGraph, art: Artifact) -> List[Artifact]:
    """Source data: Dataset / ExternalArtifact nodes; in stores with other names for raw data,
    the sources (nothing upstream produced them) that are not modules or module sources."""
    datasets = [a for a in up.artifacts() if artifact_role(a.type) == "dataset"]
    if not datasets:
        module_inputs = {a.id for e in up.executions() if execution_role(e.type) == "publish"
                         for arts in up.inputs(e).values() for a in arts}
        datasets = [a for a in up.sources() if artifact_role(a.type) is None and a.id != art.id
                    and a.id not in module_inputs]
    return sorted(datasets, key=lambda a: a.id)


def _training_inputs(up: LineageGraph, training: List[Execution]) -> Dict[int, List[Artifact]]:
    """Per training step, the Hub modules and models it read (a warm start's base model)."""
    return {e.id: sorted((a for arts in up.inputs(e).values() for a in arts
                          if artifact_role(a.type) in ("hub_module", "model")), key=lambda a: a.id)
            for e in training}


def _served_as(store: Store, models: List[Artifact]) -> Dict[int, str]:
    """``MODEL:VERSION`` of each of ``models`` that was pushed (its first push)."""
    out: Dict[int, str] = {}
    for m in models:
        down = trace(store, [("artifact", m.id)], "DOWNSTREAM", max_hops=2)
        for ex in sorted(down.consumers(m), key=lambda e: e.id):
            pushed = [a for arts in down.outputs(ex).values() for a in arts if artifact_role(a.type) == "pushed"]
            if execution_role(ex.type) == "push" and pushed:
                out[m.id] = f"{pushed[0].get('model_name')}:{pushed[0].get('pushed_version')}"
                break
    return out


def provenance(store: Store, target: Any) -> Provenance:
    """The structured report behind a Model or a PushedModel (or ``"model:version"``)."""
    art = as_artifact(store, target)
    up = trace(store, [("artifact", art.id)], "UPSTREAM")
    pushed = art if artifact_role(art.type) == "pushed" else None
    model = _model_of(up, art)
    training = [e for e in up.producers(model) if execution_role(e.type) == "train"] if model is not None else []
    other_train = [e for e in up.executions() if execution_role(e.type) == "train" and e not in training]
    training = training + sorted(other_train, key=lambda e: -e.id)
    evaluations, blessings = _evaluations_of(store, up, model)
    trainer = training[0] if training else None
    steps = [r for r in up.topological() if isinstance(r, Execution)]
    step_code = code_versions(store, steps + [e for e in training if e not in steps])
    code = {k: trainer.get(k) for k in _CODE_KEYS if trainer is not None and trainer.get(k) is not None}
    if trainer is not None:
        code.update(step_code[trainer.id])
    metrics: Dict[str, Any] = {}
    if evaluations:
        metrics = {k: v for k, v in evaluations[0].custom_properties.items() if k not in BOOKKEEPING}
    verdicts = [v for v in (is_blessed(b.get("blessed")) for b in blessings) if v is not None]
    prods = up.producers(pushed) if pushed is not None else []
    reads = _training_inputs(up, training)
    bases = sorted((a for a in reads.get(trainer.id, []) if artifact_role(a.type) == "model" and a != model),
                   key=lambda a: -a.id) if trainer is not None else []
    return Provenance(
        target=art, model=model, pushed=pushed, datasets=_datasets(up, art),
        examples=up.artifacts(["Examples"]),
        transforms=[e for e in up.executions() if execution_role(e.type) == "transform"],
        transform_graphs=up.artifacts(["TransformGraph"]),
        hub_modules=up.artifacts(["HubModule"]), training=training, parameters=_parameters(trainer),
        code_version=code, evaluations=evaluations, blessings=blessings, metrics=metrics,
        blessed=verdicts[0] if verdicts else None, ran_by=code.get("user"),
        trained_at=trainer.started if trainer else None,
        pushed_at=utc_from_s(event_time(prods[0])) if prods else None,
        steps=steps, graph=up, tainted=_taints(store, up, art.id), step_code=step_code,
        base_models=bases, training_inputs=reads, served_as=_served_as(store, bases),
        remote=_remote_answers(store, pushed) if pushed is not None else [],
    )


def _remote_answers(store: Store, pushed: Artifact) -> List[str]:
    """The module versions recorded answering this pushed head's remote part (RemoteAnswer)."""
    if not store.has_type("execution", "RemoteAnswer"):
        return []
    ids = sorted({ev.execution_id for ev in store.events_of_artifacts([pushed.id])
                  if ev.key == "version" and ev.type == "INPUT"})
    out: List[str] = []
    for e in store.get_executions(ids):
        if e.type == "RemoteAnswer" and e.get("remote_model"):
            ref = f"{e.get('remote_model')}:{e.get('remote_version')}"
            if ref not in out:
                out.append(ref)
    return out


def _taints(store: Store, up: LineageGraph, target_id: int) -> List[TaintRecord]:
    marks = tainted(store)
    found = [marks[a.id] for a in up.artifacts() if a.id in marks]
    return sorted(found, key=lambda t: (t.artifact_id != target_id, t.artifact_id))


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """What a served version's badges say, the part of :func:`provenance` they need: its
    evaluation's blessing (None: no verdict), what upstream is tainted, the evaluation's metrics."""

    target: Artifact
    blessed: Optional[bool]
    tainted: List[TaintRecord]
    metrics: Dict[str, Any]


def verdicts(store: Store, target: Any) -> Verdicts:
    """Blessing, taints and metrics of a Model or PushedModel (or ``"model:version"``): the same
    answers as :func:`provenance`'s, without its code versions, steps and training details (the
    explorer asks this for every version in a serving history)."""
    art = as_artifact(store, target)
    up = trace(store, [("artifact", art.id)], "UPSTREAM")
    evaluations, blessings = _evaluations_of(store, up, _model_of(up, art))
    metrics = {k: v for k, v in evaluations[0].custom_properties.items() if k not in BOOKKEEPING} if evaluations else {}
    found = [v for v in (is_blessed(b.get("blessed")) for b in blessings) if v is not None]
    return Verdicts(art, found[0] if found else None, _taints(store, up, art.id), metrics)
