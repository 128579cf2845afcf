"""train: a tf-keras classifier on a TF-Hub module, exported so serving applies the transform.

The model reads the transformed examples: the text feature goes through
``hub.KerasLayer(module)`` (``trainable`` fine-tunes it), vocabulary-encoded features through a
small embedding, numeric ones as they are; a dense head on top. ``base_model`` warm-starts the
weights that still fit (by layer name) from an earlier ``Model``.

The exported SavedModel applies the ``TransformGraph`` itself, so it takes **raw** features:

- ``serving_default``: one named input per raw feature (what TF Serving's REST ``instances``
  and gRPC ``Predict`` send); outputs ``probability`` (binary) or ``probabilities`` and
  ``class_id`` (multi-class);
- ``serve_tf_examples``: serialized raw ``tf.Example`` strings (what TFMA evaluates);
- ``classify``: TF Serving's Classify signature over serialized examples (``classes``, ``scores``;
  its SignatureDef carries the Classify method name, so a real TF Serving answers it too).

Training and serving therefore run the same transform: no skew. Every epoch's metrics are logged
(:func:`lineage.components.keras.metrics_callback`): the step's ``Metrics`` output holds the
histories, and the final values are properties of the ``Model``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence, Tuple

from lineage import Input, Output, step
from lineage.errors import InvalidInput
from lineage.types import Examples, HubModule, Model, TransformGraph

from lineage.serving.server.tfenv import tf

from .keras import metrics_callback

__all__ = ["train", "build_model"]


def _dataset(TF, pattern: str, feature_spec: dict, label: str, batch_size: int, shuffle: bool, seed: int):
    files = sorted(TF.io.gfile.glob(pattern))
    if not files:
        raise InvalidInput(f"no TFRecord files match {pattern}")
    ds = TF.data.TFRecordDataset(files)
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x: TF.io.parse_example(x, feature_spec))
    return ds.map(lambda f: (f, f.pop(label)))


def build_model(TF, hub_path: Optional[str], tft_output, features: Sequence[str], text_feature: str,
                num_classes: int, trainable: bool, module_output: Optional[Tuple[str, int]] = None):
    """The classifier. With ``module_output`` (``(input name, width)``) the module's part is left
    out and its output is an input instead: a split model's head (components.split)."""
    spec = tft_output.transformed_feature_spec()
    inputs, parts = {}, []
    for name in features:
        if name == text_feature and module_output is not None:
            inputs[module_output[0]] = TF.keras.Input(shape=(module_output[1],), dtype=TF.float32,
                                                      name=module_output[0])
            parts.append(inputs[module_output[0]])
            continue
        fs = spec[name]
        inputs[name] = TF.keras.Input(shape=(), dtype=fs.dtype, name=name)
        if name == text_feature:
            import tensorflow_hub as hub

            parts.append(hub.KerasLayer(hub_path, trainable=trainable, name="hub_module")(inputs[name]))
        elif fs.dtype == TF.int64:
            buckets = tft_output.num_buckets_for_transformed_feature(name)
            emb = TF.keras.layers.Embedding(buckets, 4, name=f"{name}_embedding")(inputs[name])
            parts.append(emb)
        else:
            parts.append(TF.keras.layers.Reshape((1,), name=f"{name}_column")(TF.cast(inputs[name], TF.float32)))
    x = TF.keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]
    x = TF.keras.layers.Dense(16, activation="relu", name="hidden")(x)
    if num_classes == 2:
        out = TF.keras.layers.Dense(1, activation="sigmoid", name="head")(x)
    else:
        out = TF.keras.layers.Dense(num_classes, activation="softmax", name=f"head_{num_classes}")(x)
    return TF.keras.Model(inputs, out)


def mark_classify(model_dir: Path) -> None:
    """Give the ``classify`` SignatureDef TF Serving's Classify method name.

    ``tf.saved_model.save`` writes every signature as a Predict one; TensorFlow Serving answers
    Classify only for signatures marked ``tensorflow/serving/classify`` (inputs ``inputs``,
    outputs ``classes`` and ``scores``, as this one has)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = model_dir / "saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(path.read_bytes())
    for graph in proto.meta_graphs:
        if "classify" in graph.signature_def:
            graph.signature_def["classify"].method_name = "tensorflow/serving/classify"
    path.write_bytes(proto.SerializeToString())


@step(type="Train")
def train(transformed: Input[Examples], transform_graph: Input[TransformGraph], module: Input[HubModule],
          model: Output[Model], base_model: Input[Model] = None, label: str = "label",
          text_feature: str = "text", features: Optional[Sequence[str]] = None, num_classes: int = 2,
          learning_rate: float = 0.01, epochs: int = 5, batch_size: int = 64, trainable: bool = False,
          seed: int = 0):
    """Train, evaluate on the eval split, and export a raw-feature SavedModel at ``model``."""
    TF = tf()
    import tensorflow_transform as tft

    TF.keras.utils.set_random_seed(seed)
    tft_output = tft.TFTransformOutput(transform_graph.uri)
    spec = tft_output.transformed_feature_spec()
    if label not in spec:
        raise InvalidInput(f"label {label!r} is not a transformed feature ({', '.join(sorted(spec))})")
    feats = list(features) if features else sorted(k for k in spec if k != label)
    unknown = [f for f in feats if f not in spec]
    if unknown or text_feature not in feats:
        raise InvalidInput(f"features {unknown or [text_feature]} are not transformed features "
                           f"({', '.join(sorted(spec))})")
    keep = {k: spec[k] for k in feats + [label]}
    train_ds = _dataset(TF, f"{transformed.uri}/train/*.tfrecord", keep, label, batch_size, True, seed)
    eval_ds = _dataset(TF, f"{transformed.uri}/eval/*.tfrecord", keep, label, batch_size, False, seed)

    net = build_model(TF, module.uri, tft_output, feats, text_feature, num_classes, trainable)
    warm = []
    if base_model is not None:
        weights = Path(base_model.uri) / "weights.h5"
        if not weights.exists():
            raise InvalidInput(f"base model {base_model.uri} has no weights.h5 to warm-start from")
        net.load_weights(str(weights), by_name=True, skip_mismatch=True)
        warm = [layer.name for layer in net.layers if layer.weights]
    binary = num_classes == 2
    metric = TF.keras.metrics.BinaryAccuracy(name="accuracy") if binary else \
        TF.keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    net.compile(optimizer=TF.keras.optimizers.Adam(learning_rate),
                loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
                metrics=[metric])
    history = net.fit(train_ds, validation_data=eval_ds, epochs=epochs, verbose=0,
                      callbacks=[metrics_callback()])  # every epoch's metrics: the step's Metrics output
    final = {k: float(v[-1]) for k, v in history.history.items()}

    # The serving graph: raw features -> the recorded transform -> the model.
    tft_layer = tft_output.transform_features_layer()
    raw_spec = {k: v for k, v in tft_output.raw_feature_spec().items() if k != label}

    def predict(raw):
        xf = tft_layer(raw)
        out = net({k: xf[k] for k in feats})
        if binary:
            return {"probability": TF.reshape(out, [-1])}
        return {"probabilities": out, "class_id": TF.argmax(out, axis=-1)}

    @TF.function(input_signature=[TF.TensorSpec([None], v.dtype, name=k) for k, v in sorted(raw_spec.items())])
    def serving_default(*args):
        return predict(dict(zip(sorted(raw_spec), args)))

    @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name="examples")])
    def serve_tf_examples(serialized):
        return predict(TF.io.parse_example(serialized, raw_spec))

    @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name="inputs")])
    def classify(serialized):
        out = predict(TF.io.parse_example(serialized, raw_spec))
        if binary:
            p = out["probability"]
            scores = TF.stack([1.0 - p, p], axis=-1)
            n = 2
        else:
            scores = out["probabilities"]
            n = num_classes
        classes = TF.tile(TF.expand_dims(TF.strings.as_string(TF.range(n)), 0), [TF.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    net.tft_layer = tft_layer  # tracked, so the transform's assets go into the SavedModel
    TF.saved_model.save(net, model.uri, signatures={
        "serving_default": serving_default,
        "serve_tf_examples": serve_tf_examples,
        "classify": classify,
    })
    mark_classify(Path(model.uri))
    net.save_weights(str(Path(model.uri) / "weights.h5"))
    (Path(model.uri) / "training.json").write_text(json.dumps(
        {"metrics": final, "features": feats, "label": label, "warm_started_layers": warm,
         "raw_features": sorted(raw_spec)}, indent=2, sort_keys=True))
    model.properties.update(final)
    return {"metrics": final, "warm_started_layers": warm}
