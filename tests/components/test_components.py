"""The TensorFlow components and the example pipeline, on real TF, Beam (DirectRunner) and TFMA.

One module-scoped run of the example pipeline on a slice of the data feeds the end-to-end tests;
refusal tests use tiny data of their own.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

import lineage.components  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from lineage.components import (PushRefused, build_text_embedding, ingest, publish_module, push, resolve_module,
                        transform)
from lineage.components.ingest import split_of
from lineage import record, use
from lineage.errors import InvalidInput, NotFound
from lineage.types import Dataset, ModelBlessing

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))

pytestmark = pytest.mark.slow


def test_example_pipeline_lineage_of_served_version_2(pipeline):
    lin, home = pipeline
    rep = lin.provenance("reviews:2")
    g = rep.graph
    pushed = rep.pushed
    assert pushed.properties["pushed_version"] == 2 and pushed.properties["model_name"] == "reviews"
    assert Path(pushed.uri) == home / "serving" / "reviews" / "2"
    assert (Path(pushed.uri) / "saved_model.pb").exists()

    [push_ex] = g.producers(pushed)
    assert push_ex.type == "Push" and push_ex.properties["target_version"] == 2
    model = g.inputs(push_ex)["model"][0]
    assert model.id == rep.model.id and model.type == "Model"
    [train_ex] = g.producers(model)
    assert train_ex.type == "Train" and train_ex.params["trainable"] is True
    ins = g.inputs(train_ex)
    transformed, module, base = ins["transformed"][0], ins["module"][0], ins["base_model"][0]
    assert module.properties["handle"] == "lineage-examples/review-text/2" and module.properties["version"] == 2
    assert [e.type for e in g.producers(module)] == ["PublishModule"]
    xf_ex = {e.type: e for e in g.producers(transformed)}["Transform"]
    assert xf_ex.params["preprocessing_fn"] == "reviews_preprocessing:preprocessing_fn"
    assert xf_ex.get("beam_runner") == "DirectRunner" and xf_ex.get("beam_job_id") is None   # where it ran
    examples = g.inputs(xf_ex)["examples"][0]
    ingest_ex = [e for e in g.producers(examples) if e.state == "COMPLETE"][0]
    assert ingest_ex.type == "Ingest"
    [raw] = g.inputs(ingest_ex)["raw"]
    assert raw.uri == str(REPO / "examples" / "data" / "reviews.csv") and raw.fingerprint.startswith("sha256:")
    # model v1, via the warm start, with its own module v1
    assert base.type == "Model" and base.id != model.id
    [train1] = g.producers(base)
    assert g.inputs(train1)["module"][0].properties["version"] == 1
    # evaluation and blessing linked to the model
    assert rep.evaluations and rep.blessed is True
    assert rep.metrics["accuracy"] >= 0.7 and "auc" in rep.metrics
    evaluate_ex = lin.producers(rep.evaluations[0])[0]
    assert lin.inputs(evaluate_ex)["model"][0].id == model.id
    assert lin.inputs(evaluate_ex)["baseline"][0].id == base.id
    metrics = json.loads((Path(rep.evaluations[0].uri) / "metrics.json").read_text())
    assert {"overall", "cuisine=italian", "price_level=1"} <= set(metrics["slices"])


def test_example_pipeline_runs_cache_and_share_the_module(pipeline):
    lin, home = pipeline
    runs = sorted(lin.runs(limit=None), key=lambda c: c.id)
    assert [c.properties["state"] for c in runs] == ["COMPLETE"] * 3
    second = [(e.type, e.state) for e in lin.run_steps(runs[1])]
    assert ("Ingest", "CACHED") in second and ("Transform", "CACHED") in second
    [m1] = lin.find("HubModule", "version = 1")
    assert {f"{p.model_name}:{p.version}" for p in lin.impact(m1).pushed} == {
        "reviews:1", "reviews:2", "reviews-text:1"}
    config = (home / "serving" / "models.config").read_text()
    assert 'name: "reviews"' in config and 'name: "reviews-text"' in config
    stats = lin.find("ExampleStatistics")[0]
    assert stats.get("row_count") == 600 and stats.get("rows_train") + stats.get("rows_eval") == 600
    assert stats.get("features")["cuisine"]["vocabulary_size"] == 5


def test_example_provenance_follows_productions_not_cache_hits(pipeline):
    """Runs 2 and 3 reuse run 1's ingest and transform (CACHED): reviews:2's provenance names
    run 1's Transform, never a cache hit, and every step in it made something."""
    lin, _ = pipeline
    runs = sorted(lin.runs(limit=None), key=lambda c: c.id)
    first_transform = [e for e in lin.run_steps(runs[0]) if e.type == "Transform"]
    p = lin.provenance("reviews:2")
    assert [e.id for e in p.transforms] == [e.id for e in first_transform]
    assert all(e.state != "CACHED" for e in p.steps)
    cached = [e for r in runs[1:] for e in lin.run_steps(r) if e.state == "CACHED"]
    assert cached and not {e.id for e in cached} & {e.id for e in p.steps}


def test_served_model_matches_the_trained_model_on_raw_inputs(pipeline):
    """No training/serving skew: the pushed SavedModel on raw features gives what the trained
    network gives on features transformed in process by the recorded TransformGraph."""
    from lineage.serving.server.tfenv import tf
    from lineage.components.train import build_model

    TF = tf()
    import tensorflow_transform as tft

    lin, home = pipeline
    rep = lin.provenance("reviews:2")
    train_ex = rep.training[0]
    ins = rep.graph.inputs(train_ex)
    tft_output = tft.TFTransformOutput(ins["transform_graph"][0].uri)
    with open(REPO / "examples" / "data" / "reviews.csv") as f:
        rows = [r for r in csv.DictReader(f)][:600][-8:]
    raw = {"text": TF.constant([r["text"] for r in rows]), "cuisine": TF.constant([r["cuisine"] for r in rows]),
           "price_level": TF.constant([int(r["price_level"]) for r in rows], dtype=TF.int64)}

    served = TF.saved_model.load(rep.pushed.uri).signatures["serving_default"]
    got = served(**raw)["probability"].numpy()

    features = json.loads((Path(rep.model.uri) / "training.json").read_text())["features"]
    net = build_model(TF, ins["module"][0].uri, tft_output, features, "text", 2, True)
    net.load_weights(str(Path(rep.model.uri) / "weights.h5"))
    xf = tft_output.transform_raw_features(dict(raw, label=TF.zeros([len(rows)], TF.int64)))
    want = TF.reshape(net({k: xf[k] for k in features}), [-1]).numpy()
    assert got.shape == (8,) and (got >= 0).all() and (got <= 1).all()
    assert abs(got - want).max() < 1e-5

    examples = [TF.train.Example(features=TF.train.Features(feature={
        "text": TF.train.Feature(bytes_list=TF.train.BytesList(value=[r["text"].encode()])),
        "cuisine": TF.train.Feature(bytes_list=TF.train.BytesList(value=[r["cuisine"].encode()])),
        "price_level": TF.train.Feature(int64_list=TF.train.Int64List(value=[int(r["price_level"])])),
    })).SerializeToString() for r in rows]
    via_examples = TF.saved_model.load(rep.pushed.uri).signatures["serve_tf_examples"](
        examples=TF.constant(examples))["probability"].numpy()
    assert abs(via_examples - got).max() < 1e-6


# ------------------------------------------------------------------ small components


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["review_id", "text", "cuisine", "price_level", "label"])
        for i in range(40):
            w.writerow([f"r{i}", "good food" if i % 2 else "bad service", ["thai", "greek"][i % 2],
                        "" if i == 3 else i % 4 + 1, i % 2])
    return p


def test_ingest_splits_by_key_and_records_statistics(lin, tiny):
    with use(lin):
        out = ingest(Dataset.at(tiny), eval_percent=25)
    want_eval = sum(split_of(f"r{i}", 25) == "eval" for i in range(40))
    stats = json.loads((Path(out.statistics.uri) / "statistics.json").read_text())
    assert stats["rows"] == {"train": 40 - want_eval, "eval": want_eval}
    assert stats["features"]["price_level"]["missing"] == 1
    assert stats["features"]["cuisine"]["vocabulary_size"] == 2
    assert out.statistics.get("rows_eval") == want_eval
    schema = (Path(out.schema.uri) / "schema.pbtxt").read_text()
    assert 'name: "text"' in schema and "type: BYTES" in schema and "type: INT" in schema
    assert sorted(p.name for p in Path(out.examples.uri).iterdir()) == ["eval", "train"]
    with pytest.raises(InvalidInput, match="key column 'id' is not in the header"):
        with use(lin):
            ingest(Dataset.at(tiny), key="id")
    assert lin.executions("Ingest")[0].state == "FAILED"


def _bad_preprocessing_fn(inputs):
    raise ValueError("cannot preprocess: the label column is gone")


def test_failing_preprocessing_fn_is_recorded_failed_with_nothing_half_recorded(lin, tiny):
    with use(lin):
        data = ingest(Dataset.at(tiny))
        before = len(lin.artifacts(limit=None))
        with pytest.raises(Exception, match="label column is gone"):
            transform(data.examples, data.schema, preprocessing_fn=_bad_preprocessing_fn)
    [ex] = lin.executions("Transform")
    assert ex.state == "FAILED" and "label column is gone" in ex.properties["error_message"]
    assert ex.params["preprocessing_fn"].endswith("_bad_preprocessing_fn")
    # nothing half-recorded: its inputs, and only the log lineage keeps of a failed step
    assert sorted((e.type, e.key) for e in lin.events(ex) if e.type == "OUTPUT") == [("OUTPUT", "lineage:log")]
    assert [e.type for e in lin.events(ex)].count("INPUT") == 2
    assert "Traceback" in lin.step_log(ex.id)
    assert len([a for a in lin.artifacts(limit=None) if a.type != "StepLog"]) == before
    assert lin.artifacts("TransformGraph") == []


def test_modules_publish_resolve_and_refuse_republishing(lin, tmp_path):
    src = build_text_embedding(tmp_path / "src", ["good", "bad", "food"], dim=4)
    hub_root = tmp_path / "hub"
    with use(lin):
        v1 = publish_module(src, publisher="me", name="words", hub_root=hub_root)
        v2 = publish_module(src, publisher="me", name="words", hub_root=hub_root)
        assert (v1.properties["version"], v2.properties["version"]) == (1, 2)
        before = sorted(p.name for p in (hub_root / "me" / "words").iterdir())
        with pytest.raises(InvalidInput, match="version 1 already exists.*immutable"):
            publish_module(src, publisher="me", name="words", version=1, hub_root=hub_root)
        assert sorted(p.name for p in (hub_root / "me" / "words").iterdir()) == before
        assert resolve_module("me/words/1", hub_root=hub_root).id == v1.id
        assert resolve_module("me/words", hub_root=hub_root).id == v2.id
        assert resolve_module(str(hub_root / "me" / "words" / "2")).id == v2.id
        with pytest.raises(NotFound, match="versions there: \\[1, 2\\]"):
            resolve_module("me/words/9", hub_root=hub_root)
        url = "https://tfhub.dev/google/nnlm-en-dim50/2"
        with pytest.raises(NotFound, match="cannot download"):
            resolve_module(url, cache_dir=tmp_path / "cache")
        cached = tmp_path / "cache" / hashlib.sha1(url.encode()).hexdigest()
        shutil.copytree(src, cached)
        m = resolve_module(url, cache_dir=tmp_path / "cache")
        assert m.properties["handle"] == url and m.properties["version"] == 2 and m.uri == str(cached)
    assert [e.type for e in lin.producers(v1)] == ["PublishModule"]
    assert lin.inputs(lin.producers(v1)[0])["source"][0].uri == str(src)
    import tensorflow_hub as hub
    from lineage.serving.server.tfenv import tf

    layer = hub.KerasLayer(v2.uri, trainable=True)
    out = layer(tf().constant(["Good food!", ""]))
    assert out.shape == (2, 4) and len(layer.trainable_weights) == 1


def test_unblessed_push_is_refused_unless_forced(lin, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "saved_model.pb").write_bytes(b"fake-but-present")
    from lineage.types import Model

    with use(lin):
        m = record("Train", outputs={"model": Model.at(model_dir)}).model
        b = record("Evaluate", inputs={"model": m}, outputs={"blessing": ModelBlessing.at(
            tmp_path / "b", blessed=False, failed_thresholds='["accuracy 0.5 is below 0.7"]')}).blessing
        with pytest.raises(PushRefused, match="not blessed.*accuracy 0.5 is below 0.7"):
            push(m, b, model_name="reviews", serving_root=tmp_path / "serving",
                 config_path=tmp_path / "models.config")
        assert not (tmp_path / "serving" / "reviews" / "1").exists()
        assert not (tmp_path / "models.config").exists()
        [failed] = lin.executions("Push")
        assert failed.state == "FAILED" and failed.properties["error_type"] == "PushRefused"
        assert lin.artifacts("PushedModel") == []
        forced = push(m, b, model_name="reviews", force=True, serving_root=tmp_path / "serving",
                      config_path=tmp_path / "models.config")
    assert forced.get("forced") is True and forced.properties["pushed_version"] == 1
    ex = lin.producers(forced)[0]
    assert ex.properties["forced"] is True and ex.state == "COMPLETE"
    assert {c.type: c.name for c in lin.contexts(ex)}["ServingEndpoint"] == "reviews"
    assert lin.served_at("reviews").version == 1
    assert (tmp_path / "serving" / "reviews" / "1" / "saved_model.pb").exists()


def test_example_pipeline_keeps_every_epoch_of_training(pipeline):
    """The Keras callback logged each epoch of each real fit: the history in the Train step's
    Metrics output ends on the values Keras itself reported (training.json) and on the Model."""
    lin, _ = pipeline
    trains = [e for e in lin.executions("Train", limit=None) if e.state == "COMPLETE"]
    assert trains
    for train in trains:
        [model] = lin.outputs(train)["model"]
        history = lin.metric_history(f"e{train.id}")
        reported = json.loads((Path(model.uri) / "training.json").read_text())["metrics"]
        assert set(reported) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        for name, final in reported.items():
            series = history[history.metric == name]
            assert series.step.tolist() == [1, 2, 3, 4]        # --epochs 4
            assert series.value.tolist()[-1] == final == model.custom_properties[name]
    # Evaluate logged its headline metrics; the runs table shows both, per run
    frame = lin.runs_frame(pipeline="reviews")
    assert {"metrics.val_accuracy", "metrics.eval_accuracy", "params.Train.learning_rate"} <= set(frame.columns)
    assert frame["metrics.eval_accuracy"].notna().any()


def test_rerun_of_the_example_baseline_runs_the_tf_steps_again_and_never_republishes_or_pushes(pipeline, tmp_path):
    """`lineage rerun baseline` on a copy of the example store: Ingest, Transform (Beam), Train and
    Evaluate run again on the recorded data, module and parameters; the module publish and the push
    are not repeated (their recorded outputs stand in); serving is unchanged."""
    from lineage import Lineage

    lin0, home = pipeline
    shutil.copy(home / "metadata.sqlite", tmp_path / "metadata.sqlite")
    lin = Lineage.open(f"sqlite:///{tmp_path / 'metadata.sqlite'}", artifact_root=str(tmp_path / "artifacts"))
    history = [(h.action, h.version) for h in lin.serving_history("reviews")]
    baseline = sorted(lin.runs(limit=None), key=lambda c: c.id)[0]
    report = lin.rerun("baseline")            # an experiment: its newest run
    assert report.original == baseline.name and report.ok, report.error
    assert [(s.original.type, s.action) for s in report.steps] == [
        ("PublishModule", "reused"), ("Ingest", "ran"), ("Transform", "ran"), ("Train", "ran"),
        ("Evaluate", "ran"), ("Push", "reused")]
    ingest = next(s for s in report.steps if s.original.type == "Ingest")
    assert ingest.reproduced is True           # the split is a hash of the review id: bit for bit
    old = {e.type: e for e in lin.run_steps(baseline)}
    new = {e.type: e for e in lin.run_steps(report.run)}
    assert set(new) == {"Ingest", "Transform", "Train", "Evaluate"}
    module = lin.outputs(old["PublishModule"])["module"][0]
    assert lin.inputs(new["Train"])["module"][0].id == module.id          # the module v1 it published
    assert dict(new["Train"].params) == dict(old["Train"].params)
    assert lin.inputs(new["Train"])["transformed"][0].id == lin.outputs(new["Transform"])["transformed"][0].id
    assert all(Path(a.uri).is_relative_to(tmp_path / "artifacts")
               for e in new.values() for arts in lin.outputs(e).values() for a in arts)
    assert [(h.action, h.version) for h in lin.serving_history("reviews")] == history       # nothing deployed
    assert len(lin.find("HubModule", limit=None)) == len(lin0.find("HubModule", limit=None))   # nothing published
