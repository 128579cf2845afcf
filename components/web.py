"""TensorFlow.js: a module or a model converted for web pages, as a recorded step.

The talk converts a TF-Hub module with the TensorFlow.js converter for use in a web page. Here
that is a step whose output is a ``WebModel`` artifact (a TF.js graph model folder: ``model.json``
and its weight shards), linked to what it came from and fingerprinted like any artifact, so
``impact`` of a tainted module reaches its web models.

- :func:`module_to_web` converts a text-embedding module (``build_text_embedding``'s). Its
  tokenization (lower-casing, a regex, splitting, a vocabulary table) is made of string ops
  TensorFlow.js does not have, so it moves to JavaScript: the web model takes token ids
  (``ids``: int32 ``[batch, length]``, padded with -1) and returns the module's vector; the
  folder holds ``vocabulary.txt``, ``tokenizer.json`` and ``tokenize.js``, which tokenizes exactly
  as the module's graph does. The numbers are the module's: the browser's answers equal the served
  module's (tested in Chromium).
- :func:`model_to_web` converts a model's ``serving_default`` as it is (a model of numeric
  features). A model whose graph holds ops TensorFlow.js lacks (the example's models apply
  tf.Transform's vocabulary tables inside) is refused, naming the ops.

Each folder also gets ``index.html``, ``tf.min.js`` (TensorFlow.js 4.20.0, vendored and pinned:
components/web_assets/vendored.json) and ``lineage_web.json`` (what it came from, its input and
output names): serve the folder over HTTP and open it to try the model in a page.

Needs the ``web`` extra (``pip install 'lineage[web]'``: ``tensorflowjs==4.20.0``, the last release
that works with the pinned TensorFlow 2.16; it shares the stack's environment).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List

from lineage import Input, Output, annotate, step
from lineage.errors import InvalidInput, LineageError
from lineage.types import HubModule, Model, WebModel

from lineage.serving.server.tfenv import tf

__all__ = ["module_to_web", "model_to_web", "WebModel", "ASSETS"]

ASSETS = Path(__file__).resolve().parent / "web_assets"


class WebConversionFailed(LineageError):
    """TensorFlow.js's converter could not convert the model (ops it lacks, say)."""


def _converter() -> Any:
    try:
        from tensorflowjs.converters import tf_saved_model_conversion_v2 as conv
        import tensorflowjs
    except ImportError as exc:
        raise InvalidInput(f"converting for the web needs the TensorFlow.js converter ({exc}): "
                           f"pip install 'lineage[web]' (tensorflowjs==4.20.0)") from None
    return conv, tensorflowjs.__version__


def _convert(saved_model_dir: str, out: Path, what: str) -> str:
    conv, version = _converter()
    try:
        conv.convert_tf_saved_model(saved_model_dir, str(out), signature_def="serving_default",
                                    saved_model_tags="serve")
    except Exception as exc:   # the converter raises ValueError, AssertionError, KeyError... for what it cannot do
        ops = re.search(r"Unsupported Ops.*?:\s*(.*)", str(exc), re.S)
        if ops:
            raise WebConversionFailed(
                f"{what} uses ops TensorFlow.js does not have ({ops.group(1).strip()[:300]}): it cannot run in a "
                f"browser as it is. Convert a model of numeric inputs, or move those ops out of the graph "
                f"(module_to_web does this for text modules' tokenization)") from None
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise WebConversionFailed(f"TensorFlow.js's converter could not convert {what} ({type(exc).__name__}: {first}); "
                                  f"a graph with tables or string ops (such as tf.Transform's) cannot run in a browser: "
                                  f"convert a model of numeric inputs, or a text module with module_to_web") from None
    return str(version)


def _page(out: Path, info: Dict[str, Any], extra: List[str]) -> None:
    for name in ["index.html", "tf.min.js"] + extra:
        shutil.copy(ASSETS / name, out / name)
    (out / "lineage_web.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


@step(type="ConvertToWeb")
def module_to_web(module: Input[HubModule], web_model: Output[WebModel]):
    """``module`` (a text-embedding module) as a TF.js graph model taking token ids."""
    TF = tf()
    src = Path(module.path)
    vocab_file = src / "vocabulary.txt"
    if not vocab_file.exists():
        raise InvalidInput(f"module {module.get('handle') or module.uri} has no vocabulary.txt: only text-embedding "
                           f"modules made by build_text_embedding have a tokenization module_to_web can move to "
                           f"JavaScript; convert other models with model_to_web")
    vocab = [w for w in vocab_file.read_text().split("\n") if w]
    loaded = TF.saved_model.load(str(src))
    tables = [v for v in loaded.variables if len(v.shape) == 2 and int(v.shape[0]) == len(vocab) + 1]
    if len(tables) != 1:
        raise InvalidInput(f"module {module.uri}: no single embedding table of {len(vocab) + 1} rows "
                           f"(its vocabulary and one out-of-vocabulary bucket)")
    table = TF.constant(tables[0].numpy())

    class Core(TF.Module):
        @TF.function(input_signature=[TF.TensorSpec([None, None], TF.int32, name="ids")])
        def __call__(self, ids):
            mask = TF.cast(ids >= 0, TF.float32)
            vectors = TF.gather(table, TF.maximum(ids, 0)) * TF.expand_dims(mask, -1)
            count = TF.reduce_sum(mask, axis=1, keepdims=True)
            return {"embedding": TF.math.divide_no_nan(TF.reduce_sum(vectors, axis=1), count)}

    core = Core()
    out = web_model.path
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="lineage-web-") as tmp:
        TF.saved_model.save(core, tmp, signatures={"serving_default": core.__call__})
        version = _convert(tmp, out, f"module {module.uri}")
    shutil.copy(vocab_file, out / "vocabulary.txt")
    (out / "tokenizer.json").write_text(json.dumps(
        {"lowercase": "ascii", "replace": "[^a-z0-9' ]", "split": "whitespace", "vocabulary": "vocabulary.txt",
         "oov_id": len(vocab), "pad_id": -1}, indent=2) + "\n")
    handle = str(module.get("handle") or module.uri)
    _page(out, {"source": f"module {handle}", "input": "ids", "output": "embedding", "tokenizer": True},
          ["tokenize.js"])
    web_model.properties.update(source=handle, tfjs_version=version, web_input="ids", web_output="embedding")
    annotate(tfjs_version=version, vocabulary_size=len(vocab))
    return {"tfjs_version": version, "vocabulary_size": len(vocab), "dim": int(table.shape[1])}


@step(type="ConvertToWeb")
def model_to_web(model: Input[Model], web_model: Output[WebModel]):
    """``model``'s ``serving_default`` as a TF.js graph model (refused, naming the ops, when
    TensorFlow.js cannot run it)."""
    TF = tf()
    src = Path(model.path)
    sig = TF.saved_model.load(str(src)).signatures.get("serving_default")
    if sig is None:
        raise InvalidInput(f"model {model.uri} has no serving_default signature to convert")
    inputs = sorted(sig.structured_input_signature[1])
    outputs = sorted(sig.structured_outputs)
    out = web_model.path
    out.mkdir(parents=True)
    version = _convert(str(src), out, f"model a{model.id} ({model.uri})")
    _page(out, {"source": f"model {model.ref}", "input": inputs[0] if len(inputs) == 1 else inputs,
                "output": outputs[0] if len(outputs) == 1 else outputs, "tokenizer": False}, [])
    web_model.properties.update(source=model.ref, tfjs_version=version, web_input=",".join(inputs),
                                web_output=",".join(outputs))
    annotate(tfjs_version=version)
    return {"tfjs_version": version, "inputs": inputs, "outputs": outputs}
