"""Distributed serving: a shared Hub module on its own model server, each classifier a *head*.

The talk's picture: two teams' classifiers start from the same TF-Hub module; the module is put on
a third model server, and in each classifier its part is replaced by a remote call to that server
(one copy of the shared weights, requests from every head batched together, its own hardware).

- :func:`export_module` makes the module's part a served model: a SavedModel whose
  ``serving_default`` takes the module's input (``text``, whole sentences) and returns its output
  (``embedding``). Push it under its own name (``review-text-encoder``), versioned like any
  served model. The same module exported twice is the same recorded artifact (a cache hit).
- :func:`split_model` turns a trained model (the ``train`` step's) into its head: the same raw
  inputs and outputs, every signature of the undivided model, with the module's part replaced by
  a call to ``module_model`` on ``server`` (declared in ``assets.extra/lineage_remote.json``,
  see :mod:`lineage.serving.remote`). Its inputs in the lineage are the model, its transform
  graph and the module part it calls, so ``impact`` of the module (or of its served part) reaches
  every head. Before anything is written the step checks the split on data: the head fed by the
  module part must answer as the undivided model does (``max_abs_diff`` is recorded; above
  ``tolerance`` the split is refused). A model that fine-tuned its module (``trainable=True``)
  holds its own copy of the module's weights, so it cannot call the published module: refused.

``lineage serve`` runs a head by calling the module server over gRPC ``Predict`` (see
docs/serving.md, "Distributed serving").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from lineage import Input, Output, annotate, step
from lineage.errors import InvalidInput
from lineage.serving.remote import RemoteCall, RemoteSpec, SignatureRoute, check_call
from lineage.types import Examples, HubModule, Model, TransformGraph

from lineage.serving.server.tfenv import tf

from .train import build_model, mark_classify

__all__ = ["export_module", "split_model"]

PREPARE = "lineage_remote__"   # a head's prepare signatures: lineage_remote__<signature>


@step(type="ExportModule")
def export_module(module: Input[HubModule], servable: Output[Model], input_name: str = "text",
                  output_name: str = "embedding"):
    """The module's part as a served model: ``serving_default`` maps ``input_name`` (strings)
    to ``output_name`` (the module's vectors)."""
    TF = tf()
    loaded = TF.saved_model.load(module.uri)
    if not callable(loaded):
        raise InvalidInput(f"module {module.uri} is not callable (a TF-Hub module's __call__): it cannot be served")
    probe = loaded(TF.constant(["probe"]))
    dim = int(probe.shape[-1])

    holder = TF.Module()
    holder.module = loaded

    @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name=input_name)])
    def serving_default(text):
        return {output_name: holder.module(text)}

    TF.saved_model.save(holder, servable.uri, signatures={"serving_default": serving_default})
    handle = module.get("handle") or module.uri
    servable.properties.update(serving_part="module", module_handle=str(handle), remote_input=input_name,
                               remote_output=output_name, embedding_dim=dim)
    return {"module": str(handle), "embedding_dim": dim}


def _training_info(model_dir: Path) -> Dict[str, Any]:
    path = model_dir / "training.json"
    if not path.exists() or not (model_dir / "weights.h5").exists():
        raise InvalidInput(f"{model_dir} was not made by the train step (no training.json and weights.h5): "
                           f"only a model trained by lineage.components.train can be split")
    return json.loads(path.read_text())


def _module_weights_moved(TF: Any, weights_h5: Path, module_uri: str) -> float:
    """How far the model's copy of the module's embeddings moved from the module's own
    (0.0: not fine-tuned)."""
    import h5py
    import numpy as np

    loaded = TF.saved_model.load(module_uri)
    module = getattr(loaded, "module", loaded)   # a module's served part holds the module
    own = [v.numpy() for v in getattr(module, "variables", None) or loaded.variables]
    found: List[Any] = []
    with h5py.File(weights_h5, "r") as f:
        group = f.get("hub_module")
        if group is None:
            raise InvalidInput(f"{weights_h5.parent} has no hub_module layer: it does not use a TF-Hub module")
        group.visititems(lambda name, obj: found.append(np.asarray(obj)) if hasattr(obj, "shape") else None)
    if len(found) != len(own):
        return float("inf")
    moved = 0.0
    for a in own:
        match = [b for b in found if b.shape == a.shape]
        if not match:
            return float("inf")
        moved = max(moved, min(float(np.abs(a - b).max()) for b in match))
    return moved


def _num_classes(weights_h5: Path) -> int:
    """2, or N for a model whose output layer is ``head_N`` (the train step's names)."""
    import h5py

    with h5py.File(weights_h5, "r") as f:
        names = list(f.keys())
    for n in names:
        if n.startswith("head_") and n[5:].isdigit():
            return int(n[5:])
    return 2


def _remote_call(module_part: Any, module_model: str, server: str, version: Optional[int],
                 label: Optional[str], timeout_ms: int) -> RemoteCall:
    """The head's remote call, checked as the server checks it when it loads the head."""
    if module_part.get("serving_part") != "module":
        raise InvalidInput(f"a{module_part.id} is not a module's served part: make one with export_module(module)")
    return check_call({"model": module_model, "server": server, "version": version, "label": label,
                       "timeout_ms": timeout_ms}, "split_model")


def _signatures(TF: Any, answer: Any, to_send: Any, raw_spec: Dict[str, Any], emb_spec: Any) -> Dict[str, Any]:
    """The head's signatures (the undivided model's, each taking the module's answer too) and
    their prepare signatures (the request -> what the module takes)."""
    names = sorted(raw_spec)
    raw_specs = [TF.TensorSpec([None], raw_spec[k].dtype, name=k) for k in names]
    ex_spec = TF.TensorSpec([None], TF.string, name="examples")
    in_spec = TF.TensorSpec([None], TF.string, name="inputs")

    @TF.function(input_signature=raw_specs + [emb_spec])
    def serving_default(*args):
        return answer(dict(zip(names, args[:-1])), args[-1])

    @TF.function(input_signature=raw_specs)
    def prepare_default(*args):
        return to_send(dict(zip(names, args)))

    @TF.function(input_signature=[ex_spec, emb_spec])
    def serve_tf_examples(serialized, embedding):
        return answer(TF.io.parse_example(serialized, raw_spec), embedding)

    @TF.function(input_signature=[ex_spec])
    def prepare_examples(serialized):
        return to_send(TF.io.parse_example(serialized, raw_spec))

    @TF.function(input_signature=[in_spec, emb_spec])
    def classify(serialized, embedding):
        out = answer(TF.io.parse_example(serialized, raw_spec), embedding)
        scores = TF.stack([1.0 - out["probability"], out["probability"]], axis=-1) if "probability" in out \
            else out["probabilities"]
        n = int(scores.shape[-1])
        classes = TF.tile(TF.expand_dims(TF.strings.as_string(TF.range(n)), 0), [TF.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    @TF.function(input_signature=[in_spec])
    def prepare_classify(serialized):
        return to_send(TF.io.parse_example(serialized, raw_spec))

    return {"serving_default": serving_default, PREPARE + "serving_default": prepare_default,
            "serve_tf_examples": serve_tf_examples, PREPARE + "serve_tf_examples": prepare_examples,
            "classify": classify, PREPARE + "classify": prepare_classify}


@step(type="SplitModel")
def split_model(model: Input[Model], transform_graph: Input[TransformGraph], module_part: Input[Model],
                head: Output[Model], check_examples: Input[Examples] = None, module_model: str = "",
                server: str = "127.0.0.1:8600", module_version: Optional[int] = None,
                module_label: Optional[str] = None, timeout_ms: int = 2000, text_feature: str = "text",
                tolerance: float = 1e-5, check_rows: int = 256):
    """Write ``model``'s head at ``head``: its module part replaced by a call to ``module_model``
    (a version, a label, or the newest) on ``server``. With ``check_examples`` (the raw examples;
    their ``eval`` split) the head is checked against the undivided model on up to ``check_rows``
    rows first."""
    TF = tf()
    import tensorflow_transform as tft

    call = _remote_call(module_part, module_model, server, module_version, module_label, timeout_ms)
    src = Path(model.path)
    info = _training_info(src)
    features = list(info["features"])
    if text_feature not in features:
        raise InvalidInput(f"model a{model.id} does not read {text_feature!r} through its module "
                           f"(its features: {', '.join(features)})")
    module_uri = str(module_part.path)   # the module's copy in its served part, loaded as the server loads it
    moved = _module_weights_moved(TF, src / "weights.h5", module_uri)
    if moved > 1e-6:
        raise InvalidInput(
            f"model a{model.id} fine-tuned its module (its copy of the module's weights moved by up to {moved:.3g}; "
            f"trained with trainable=True): it does not compute what the module part a{module_part.id} computes, so "
            f"it cannot call it. Serve it whole, or split a model trained with trainable=False")
    in_alias = module_part.get("remote_input") or "text"
    out_alias = module_part.get("remote_output") or "embedding"
    dim = int(module_part.get("embedding_dim"))
    fed = f"{text_feature}_embedding"
    tft_output = tft.TFTransformOutput(transform_graph.uri)
    raw_spec = {k: v for k, v in tft_output.raw_feature_spec().items() if k != info.get("label", "label")}
    if fed in raw_spec:
        raise InvalidInput(f"a raw feature is called {fed!r}, the name the module's answer takes in the head")
    num_classes = _num_classes(src / "weights.h5")
    net = build_model(TF, None, tft_output, features, text_feature, num_classes, False, module_output=(fed, dim))
    net.load_weights(str(src / "weights.h5"), by_name=True, skip_mismatch=False)
    binary = num_classes == 2
    tft_layer = tft_output.transform_features_layer()

    def answer(raw, embedding):
        xf = tft_layer(raw)
        out = net({**{k: xf[k] for k in features if k != text_feature}, fed: embedding})
        if binary:
            return {"probability": TF.reshape(out, [-1])}
        return {"probabilities": out, "class_id": TF.argmax(out, axis=-1)}

    def to_send(raw):
        return {in_alias: tft_layer(raw)[text_feature]}

    signatures = _signatures(TF, answer, to_send, raw_spec, TF.TensorSpec([None, dim], TF.float32, name=fed))
    diff = None
    if check_examples is not None:
        diff = _check_split(TF, src, Path(check_examples.path), module_uri,
                            signatures[PREPARE + "serve_tf_examples"], signatures["serve_tf_examples"],
                            (in_alias, out_alias), check_rows)
        annotate(checked_rows=diff[1])
        if not diff[0] <= tolerance:
            raise InvalidInput(f"the head of model a{model.id} with module part a{module_part.id} answers up to "
                               f"{diff[0]:.3g} away from the undivided model on {diff[1]} rows (tolerance "
                               f"{tolerance}): not written")
    net.tft_layer = tft_layer
    TF.saved_model.save(net, head.uri, signatures=signatures)
    mark_classify(Path(head.uri))
    route = {"send": {in_alias: in_alias}, "receive": {out_alias: fed}}
    RemoteSpec(call, {sig: SignatureRoute(PREPARE + sig, **route)
                      for sig in ("serving_default", "serve_tf_examples", "classify")}).write(head.uri)
    (Path(head.uri) / "training.json").write_text(json.dumps({**info, "split_from": model.ref}, indent=2, sort_keys=True))
    head.properties.update(serving_part="head", remote_model=module_model, remote_server=call.server,
                           remote_wanted=call.wanted, split_from=model.ref)
    if diff is not None:
        head.properties.update(max_abs_diff=float(diff[0]))
    return {"remote": call.wanted, "server": call.server, "max_abs_diff": diff[0] if diff else None}


def _check_split(TF: Any, model_dir: Path, examples_dir: Path, module_part_dir: str,
                 prepare_fn: Any, head_fn: Any, aliases: tuple, rows: int):
    """``(max |undivided - head(module part)|, rows compared)`` on the eval split's first rows."""
    import numpy as np

    files = sorted(TF.io.gfile.glob(str(examples_dir / "eval" / "*.tfrecord"))) or \
        sorted(TF.io.gfile.glob(str(examples_dir / "*" / "*.tfrecord")))
    if not files:
        raise InvalidInput(f"no TFRecord files under {examples_dir} to check the split on")
    serialized = [r.numpy() for r in TF.data.TFRecordDataset(files).take(rows)]
    if not serialized:
        raise InvalidInput(f"{examples_dir} holds no examples to check the split on")
    batch = TF.constant(serialized)
    whole = TF.saved_model.load(str(model_dir)).signatures["serve_tf_examples"](examples=batch)
    part = TF.saved_model.load(module_part_dir).signatures["serving_default"]
    sent = prepare_fn(batch)[aliases[0]]
    embedding = part(**{aliases[0]: sent})[aliases[1]]
    split = head_fn(batch, embedding)
    key = "probability" if "probability" in whole else "probabilities"
    return float(np.abs(whole[key].numpy() - split[key].numpy()).max()), len(serialized)
