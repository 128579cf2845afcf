"""Tiny SavedModels for the serving tests: version k answers y = k * x (and says k)."""

from __future__ import annotations

from pathlib import Path


def build_toy(path: Path, k: float) -> Path:
    from lineage.serving.server.tfenv import tf

    TF = tf()

    class Toy(TF.Module):
        def __init__(self):
            super().__init__()
            self.k = TF.Variable(float(k))

        @TF.function(input_signature=[TF.TensorSpec([None], TF.float32, name="x")])
        def predict(self, x):
            return {"y": x * self.k, "k": TF.fill(TF.shape(x), self.k)}

        @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name="inputs")])
        def classify(self, serialized):
            x = TF.io.parse_example(serialized, {"x": TF.io.FixedLenFeature([], TF.float32)})["x"]
            p = TF.sigmoid(x * self.k)
            n = TF.shape(x)[0]
            return {"classes": TF.tile(TF.constant([["neg", "pos"]]), [n, 1]),
                    "scores": TF.stack([1 - p, p], axis=-1)}

        @TF.function(input_signature=[TF.TensorSpec([None], TF.float32, name="x")])
        def with_bytes(self, x):
            return {"raw_bytes": TF.fill(TF.shape(x), TF.constant(b"\x00\xffok")), "y": x * self.k}

        @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name="inputs")])
        def scores_only(self, serialized):
            x = TF.io.parse_example(serialized, {"x": TF.io.FixedLenFeature([], TF.float32)})["x"]
            return {"scores": TF.expand_dims(TF.sigmoid(x * self.k), -1)}

        @TF.function(input_signature=[TF.TensorSpec([None], TF.string, name="inputs")])
        def regress(self, serialized):
            x = TF.io.parse_example(serialized, {"x": TF.io.FixedLenFeature([], TF.float32)})["x"]
            return {"outputs": x * self.k}

    m = Toy()
    TF.saved_model.save(m, str(path), signatures={"serving_default": m.predict, "classify": m.classify,
                                                  "regress": m.regress, "scores_only": m.scores_only,
                                                  "with_bytes": m.with_bytes})
    return path
