"""The models TF Serving's own tests run against, rebuilt here by our own code from their documented
behaviour (y = 0.5 * x + 2, and y = 0.5 * x + 3 for "half plus three"), with the same signature
names, inputs, outputs and version folders (``00000123``).

TF Serving keeps these as binary SavedModels in ``tensorflow_serving/servables/tensorflow/testdata``
(Apache-2.0). This project may not commit files fetched from other repositories, so the tests
build equivalents into ``tmp_path``: a TF1 graph model (``saved_model_half_plus_two_cpu``,
``saved_model_half_plus_three``, written with the v1 SavedModelBuilder as those were) and a TF2
``tf.Module`` model (``saved_model_half_plus_two_tf2_cpu``).
"""

from __future__ import annotations

from pathlib import Path

VERSION = 123


def _tf():
    from lineage.serving.server.tfenv import tf

    return tf()


def half_plus_tf1(base: Path, b: float = 2.0, versions=(VERSION,)) -> Path:
    """A TF1 SavedModel per version under ``base``: signatures ``serving_default`` (x -> y, both
    ``[None, 1]``), ``classify_x_to_y`` and ``regress_x_to_y`` (serialized tf.Examples with float
    feature ``x``), ``regress_x_to_y2`` (0.5 * x + 3), ``regress_x2_to_y3`` and
    ``classify_x2_to_y3`` (feature ``x2``, default 0)."""
    TF = _tf()
    v1 = TF.compat.v1
    for version in versions:
        graph = TF.Graph()
        with graph.as_default(), v1.Session(graph=graph) as sess:
            a = v1.Variable(0.5, name="a")
            bias = v1.Variable(b, name="b")
            c = v1.Variable(3.0, name="c")
            serialized = v1.placeholder(TF.string, name="tf_example", shape=[None])
            parsed = v1.io.parse_example(serialized, {
                "x": v1.io.FixedLenFeature([1], TF.float32),
                "x2": v1.io.FixedLenFeature([1], TF.float32, default_value=[0.0])})
            x = TF.identity(parsed["x"], name="x")
            y = TF.identity(a * x + bias, name="y")
            y2 = TF.identity(a * x + c, name="y2")
            x2 = TF.identity(parsed["x2"], name="x2")
            y3 = TF.identity(a * x2 + c, name="y3")
            info = v1.saved_model.utils.build_tensor_info
            sig = v1.saved_model.signature_def_utils.build_signature_def
            P, C, R = "tensorflow/serving/predict", "tensorflow/serving/classify", "tensorflow/serving/regress"
            signatures = {
                "serving_default": sig({"x": info(x)}, {"y": info(y)}, P),
                "classify_x_to_y": sig({"inputs": info(serialized)}, {"scores": info(y)}, C),
                "regress_x_to_y": sig({"inputs": info(serialized)}, {"outputs": info(y)}, R),
                "regress_x_to_y2": sig({"inputs": info(serialized)}, {"outputs": info(y2)}, R),
                "regress_x2_to_y3": sig({"inputs": info(x2)}, {"outputs": info(y3)}, R),
                "classify_x2_to_y3": sig({"inputs": info(x2)}, {"scores": info(y3)}, C),
                # TF Serving's half_plus_three also has its regression under this key (api_rest.md)
                "tensorflow/serving/regress": sig({"inputs": info(serialized)}, {"outputs": info(y)}, R),
            }
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.builder.SavedModelBuilder(str(base / f"{version:08d}"))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures)
            builder.save()
    return base


def half_plus_two_tf2(base: Path, version: int = VERSION) -> Path:
    """A TF2 SavedModel (``tf.saved_model.save`` of a ``tf.Module``) with the same signature names;
    ``serving_default`` takes ``x`` of shape ``[1]``."""
    TF = _tf()
    spec = {"x": TF.io.FixedLenFeature([1], TF.float32),
            "x2": TF.io.FixedLenFeature([1], TF.float32, default_value=[0.0])}

    class HalfPlusTwo(TF.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = TF.Variable(0.5), TF.Variable(2.0), TF.Variable(3.0)

        @TF.function(input_signature=[TF.TensorSpec([1], TF.float32)])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name="inputs")])
        def regress_xy(self, serialized):
            return {"outputs": self.a * TF.io.parse_example(serialized, spec)["x"] + self.b}

        @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name="inputs")])
        def regress_xy2(self, serialized):
            return {"outputs": self.a * TF.io.parse_example(serialized, spec)["x"] + self.c}

        @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name="inputs")])
        def classify_xy(self, serialized):
            return {"scores": self.a * TF.io.parse_example(serialized, spec)["x"] + self.b}

    m = HalfPlusTwo()
    TF.saved_model.save(m, str(base / f"{version:08d}"), signatures={
        "serving_default": m.predict, "regress_x_to_y": m.regress_xy, "regress_x_to_y2": m.regress_xy2,
        "classify_x_to_y": m.classify_xy})
    return base


def bad_model(base: Path, version: int = VERSION) -> Path:
    """A version folder with no SavedModel in it (TF Serving's ``bad_half_plus_two`` holds only an
    old checkpoint export)."""
    d = base / f"{version:08d}"
    d.mkdir(parents=True)
    (d / "export").write_bytes(b"not a SavedModel")
    (d / "checkpoint").write_text('model_checkpoint_path: "export"\n')
    return base


def echo_model(base: Path, version: int = 1) -> Path:
    """The shapes and types of TF Serving's REST API documentation (api_rest.md) echoed back:
    ``serving_default`` takes ``tag`` (string), ``signal`` (int64, 5 per row) and ``sensor``
    (int64, 2x2 per row); ``strings``, ``matrices`` (int64 [n, 1, 2]), ``floats`` and ``bools``
    (negated) take one ``x``; ``classify_objects`` classifies tf.Examples with a binary ``image`` and a
    ``caption`` (class: the caption, score: the image's length in bytes)."""
    TF = _tf()
    S = TF.TensorSpec

    class Echo(TF.Module):
        @TF.function(input_signature=[S([None], TF.string), S([None, 5], TF.int64), S([None, 2, 2], TF.int64)])
        def rows(self, tag, signal, sensor):
            return {"tag": TF.identity(tag), "signal": TF.identity(signal), "sensor": TF.identity(sensor)}

        @TF.function(input_signature=[S(None, TF.string)])
        def strings(self, x):
            return {"y": TF.identity(x)}

        @TF.function(input_signature=[S([None, 1, 2], TF.int64)])
        def matrices(self, x):
            return {"y": TF.identity(x)}

        @TF.function(input_signature=[S(None, TF.float32)])
        def floats(self, x):
            return {"y": TF.identity(x)}

        @TF.function(input_signature=[S(None, TF.bool)])
        def bools(self, x):
            return {"y": TF.logical_not(x)}

        @TF.function(input_signature=[S([None], TF.string, name="inputs")])
        def classify_objects(self, serialized):
            f = TF.io.parse_example(serialized, {"image": TF.io.FixedLenFeature([], TF.string),
                                                 "caption": TF.io.FixedLenFeature([], TF.string)})
            return {"classes": TF.expand_dims(f["caption"], -1),
                    "scores": TF.expand_dims(TF.cast(TF.strings.length(f["image"]), TF.float32), -1)}

    m = Echo()
    TF.saved_model.save(m, str(base / str(version)), signatures={
        "serving_default": m.rows, "strings": m.strings, "matrices": m.matrices, "floats": m.floats,
        "bools": m.bools, "classify_objects": m.classify_objects})
    return base
