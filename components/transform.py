"""transform: a user's tf.Transform ``preprocessing_fn`` run with ``tensorflow_transform.beam``.

The analysis runs over the train split; the resulting transform function is applied to both
splits. Outputs: the ``TransformGraph`` (tf.Transform's output directory, what training and
serving load) and the transformed ``Examples``. The preprocessing function is given as
``"package.module:function"`` or as a function object; its location and source hash are
recorded, so a change to it is a new cache key.

Beam runs on the DirectRunner by default; ``beam_args`` (e.g. ``["--runner=FlinkRunner",
"--flink_master=host:8081"]``) are passed to ``PipelineOptions`` unchanged, so the same step
runs on Flink, Spark or Dataflow.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import tempfile
import textwrap
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Union

from lineage import Input, Output, annotate, step
from lineage.errors import InvalidInput
from lineage.types import Examples, Schema, TransformGraph

from lineage.serving.server.tfenv import tf

__all__ = ["transform", "load_preprocessing_fn"]

#: Functions handed over as objects that cannot be imported by path (defined in __main__ or
#: inside a function): looked up by the key recorded in their place.
_LOCAL: Dict[str, Callable] = {}


def _source_hash(fn: Callable) -> str:
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        text = repr(fn)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _describe(fn: Union[str, Callable]) -> tuple:
    """``(reference, module file, source hash)`` for a function or a "module:function" path."""
    if isinstance(fn, str):
        fn = load_preprocessing_fn(fn)
        ref = f"{fn.__module__}:{fn.__qualname__}"
    else:
        if not callable(fn):
            raise InvalidInput(f"preprocessing_fn must be a function or 'module:function', not {fn!r}")
        ref = f"{fn.__module__}:{fn.__qualname__}"
        try:
            if load_preprocessing_fn(ref) is not fn:
                raise InvalidInput("not importable")
        except (InvalidInput, ImportError, AttributeError):
            ref = f"local:{fn.__module__}:{fn.__qualname__}"
            _LOCAL[ref] = fn
    try:
        module_file = inspect.getsourcefile(fn) or ""
    except TypeError:
        module_file = ""
    return ref, module_file, _source_hash(fn)


def load_preprocessing_fn(ref: str) -> Callable:
    """The function named by ``"package.module:function"`` (or a recorded local key)."""
    if ref in _LOCAL:
        return _LOCAL[ref]
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"preprocessing_fn {ref!r}: write it as 'package.module:function'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"preprocessing_fn {ref!r}: cannot import {module_name} ({exc})") from None
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise InvalidInput(f"preprocessing_fn {ref!r}: {module_name} has no {attr}")
    return obj


@step(type="Transform", cache=True)
def _transform(examples: Input[Examples], schema: Input[Schema], transform_graph: Output[TransformGraph],
               transformed: Output[Examples], preprocessing_fn: str, module_file: str,
               module_source_hash: str, beam_args: Sequence[str] = ()):
    tf()
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    from tfx_bsl.public import tfxio

    fn = load_preprocessing_fn(preprocessing_fn)
    if _source_hash(fn) != module_source_hash:   # a rerun must not record old code's hash over new code
        raise InvalidInput(f"preprocessing_fn {preprocessing_fn}: its source is not the one recorded "
                           f"({module_source_hash[:19]}…, now {_source_hash(fn)[:19]}…) in {module_file}")
    raw_schema = text_format.Parse((Path(schema.uri) / "schema.pbtxt").read_text(), schema_pb2.Schema())
    src = Path(examples.uri)
    sources = {split: tfxio.TFExampleRecord(file_pattern=str(src / split / "*.tfrecord"), schema=raw_schema)
               for split in ("train", "eval")}
    transformed.path.mkdir()
    options = PipelineOptions(list(beam_args) or ["--runner=DirectRunner", "--direct_num_workers=1"])
    with tempfile.TemporaryDirectory(prefix="tft-") as tmp:
        pipeline = beam.Pipeline(options=options)
        with tft_beam.Context(temp_dir=tmp):
            def read(split):
                return pipeline | f"Read{split}" >> sources[split].BeamSource()

            config = sources["train"].TensorAdapterConfig()
            (train_xf, xf_metadata), transform_fn = (
                (read("train"), config) | "Analyze" >> tft_beam.AnalyzeAndTransformDataset(
                    fn, output_record_batches=False))
            eval_xf, _ = (((read("eval"), config), transform_fn)
                          | "ApplyEval" >> tft_beam.TransformDataset(output_record_batches=False))
            out_coder = tft.coders.ExampleProtoCoder(xf_metadata.schema)
            for split, data in (("train", train_xf), ("eval", eval_xf)):
                (data | f"Encode{split}" >> beam.Map(out_coder.encode)
                 | f"Write{split}" >> beam.io.WriteToTFRecord(
                     str(transformed.path / split / "data"), file_name_suffix=".tfrecord", num_shards=1))
            _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(transform_graph.uri)
        result = pipeline.run()
        result.wait_until_finish()
    # where the work ran: the runner, and the job a distributed runner gave it (Dataflow, Flink)
    job_id = getattr(result, "job_id", None)
    annotate(beam_runner=str(options.view_as(StandardOptions).runner or "DirectRunner"),
             **({"beam_job_id": str(job_id() if callable(job_id) else job_id)} if job_id else {}))
    # Serving parses raw tf.Examples: keep the raw schema where TFTransformOutput looks for it.
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(raw_schema),
                               str(Path(transform_graph.uri) / tft.TFTransformOutput.RAW_METADATA_DIR))
    transformed.properties.update(split_names=json.dumps(["train", "eval"]))
    transform_graph.properties["module_source_hash"] = module_source_hash
    return {"preprocessing_fn": preprocessing_fn}


def transform(examples, schema, *, preprocessing_fn: Union[str, Callable],
              beam_args: Optional[Sequence[str]] = None):
    """Run ``preprocessing_fn`` over ``examples`` with tf.Transform on Beam.

    Returns a ``StepResult`` with ``transform_graph`` and ``transformed``. Cached: the same
    examples, schema and function source give the recorded outputs back (a CACHED execution).
    """
    ref, module_file, source = _describe(preprocessing_fn)
    return _transform(examples, schema, preprocessing_fn=ref, module_file=module_file,
                      module_source_hash=source, beam_args=list(beam_args or ()))
