"""Request logging as TF Serving's logging_config asks: the model server writes sampled requests
and their answers as PredictionLog protos in TFRecord files, per version. Read back here with
tensorflow_serving's own prediction_log_pb2 through tf.data.TFRecordDataset, against requests
sent over real gRPC and HTTP on 127.0.0.1."""

from __future__ import annotations

import glob
import json
import threading
import urllib.request

import grpc
import pytest

from lineage.serving.server import ModelServer
from toy_models import build_toy

pytestmark = pytest.mark.slow


def _config(path, base, logs, rate=1.0, versions="all { }"):
    path.write_text(f"""model_config_list {{ config {{
  name: "toy" base_path: "{base}" model_platform: "tensorflow"
  model_version_policy {{ {versions} }}
  logging_config {{ log_collector_config {{ type: "tfrecord" filename_prefix: "{logs}/toy" }}
                    sampling_config {{ sampling_rate: {rate} }} }}
}} }}
""")
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = tmp_path_factory.mktemp("toy") / "toy"
    for k in (1, 2):
        build_toy(base / str(k), float(k))
    return base


def _read(logs):
    """Every PredictionLog in the closed files, by file: {path: [PredictionLog, ...]}."""
    from tensorflow_serving.apis import prediction_log_pb2

    from lineage.serving.server.tfenv import tf

    TF = tf()
    out = {}
    for path in sorted(glob.glob(f"{logs}/*.tfrecord")):
        records = []
        for raw in TF.data.TFRecordDataset(path):
            rec = prediction_log_pb2.PredictionLog()
            rec.ParseFromString(raw.numpy())
            records.append(rec)
        out[path] = records
    return out


def _stub(server):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _predict_request(xs, version=None):
    from tensorflow_serving.apis import predict_pb2

    from lineage.serving.server.tfenv import tf

    req = predict_pb2.PredictRequest()
    req.model_spec.name = "toy"
    if version is not None:
        req.model_spec.version.value = version
    req.inputs["x"].CopyFrom(tf().make_tensor_proto(xs, dtype=tf().float32))
    return req


def _post(server, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def test_every_request_is_logged_at_rate_one_with_the_version_that_answered(tmp_path, models):
    from tensorflow_serving.apis import classification_pb2, inference_pb2, regression_pb2

    logs = tmp_path / "logs"
    config = _config(tmp_path / "models.config", models, logs)
    closed = []
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0, on_log_closed=closed.append).start()
    try:
        stub = _stub(server)
        sent = []
        for i in range(20):
            req = _predict_request([float(i), 1.0], version=1 + i % 2)
            resp = stub.Predict(req, timeout=30)
            sent.append(("predict_log", req, resp))
        ex = classification_pb2.ClassificationRequest()
        ex.model_spec.name = "toy"
        ex.model_spec.signature_name = "classify"
        ex.input.example_list.examples.add().features.feature["x"].float_list.value.append(0.5)
        sent.append(("classify_log", ex, stub.Classify(ex, timeout=30)))
        rg = regression_pb2.RegressionRequest()
        rg.model_spec.name = "toy"
        rg.model_spec.signature_name = "regress"
        rg.input.CopyFrom(ex.input)
        sent.append(("regress_log", rg, stub.Regress(rg, timeout=30)))
        mi = inference_pb2.MultiInferenceRequest()
        task = mi.tasks.add()
        task.model_spec.name = "toy"
        task.model_spec.signature_name = "regress"
        task.method_name = "tensorflow/serving/regress"
        mi.input.CopyFrom(ex.input)
        sent.append(("multi_inference_log", mi, stub.MultiInference(mi, timeout=30)))
        rest = [_post(server, "/v1/models/toy/versions/1:predict", {"instances": [3.0, 4.0, 6.0]}),
                _post(server, "/v1/models/toy:predict", {"inputs": {"x": [5.0]}}),
                _post(server, "/v1/models/toy:classify", {"signature_name": "classify", "examples": [{"x": 0.25}]})]
        # a failed request is answered with an error and logged nowhere
        with pytest.raises(grpc.RpcError):
            stub.Predict(_predict_request([1.0], version=9), timeout=30)
        server.request_log.flush()
    finally:
        server.stop()
    files = _read(logs)
    records = [r for recs in files.values() for r in recs]
    assert len(records) == len(sent) + len(rest)
    assert not glob.glob(f"{logs}/*.part")                 # every file closed
    # each file holds one version's answers; its name and the on_closed report say which
    for path, recs in files.items():
        [version] = {r.log_metadata.model_spec.version.value for r in recs}
        assert f"toy.{version}." in path
        [report] = [c for c in closed if c.path == path]
        assert (report.model, report.version, report.records, report.dropped) == ("toy", version, len(recs), 0)
        assert report.first_time <= report.last_time and report.sampling_rate == 1.0
    # the gRPC requests and answers are logged exactly as they were sent and answered
    grpc_logged = [r for r in records if r.WhichOneof("log_type") != "predict_log"
                   or r.predict_log.request.inputs["x"].tensor_shape.dim[0].size == 2]
    for kind, req, resp in sent:
        match = [r for r in grpc_logged if r.WhichOneof("log_type") == kind and getattr(r, kind).request == req]
        assert len(match) == 1, (kind, req)
        assert getattr(match[0], kind).response == resp
        assert match[0].log_metadata.model_spec.version.value == (resp.results[0].model_spec if kind ==
                                                                  "multi_inference_log" else resp.model_spec).version.value
        assert match[0].log_metadata.sampling_config.sampling_rate == 1.0
    # REST answers are logged as the gRPC request and response they stand for
    from lineage.serving.server.tfenv import tf

    TF = tf()
    rest_predicts = sorted((TF.make_ndarray(r.predict_log.request.inputs["x"]).tolist(),
                            TF.make_ndarray(r.predict_log.response.outputs["y"]).tolist(),
                            r.log_metadata.model_spec.version.value)
                           for r in records if r.WhichOneof("log_type") == "predict_log"
                           and r.predict_log.request.inputs["x"].tensor_shape.dim[0].size != 2)
    assert rest_predicts == [([3.0, 4.0, 6.0], [3.0, 4.0, 6.0], 1), ([5.0], [10.0], 2)]
    assert rest[0]["predictions"][0]["y"] == 3.0
    [rest_classify] = [r for r in records if r.WhichOneof("log_type") == "classify_log"
                       and r.classify_log.request.model_spec.signature_name == "classify"
                       and r.classify_log.request != sent[20][1]]
    assert rest_classify.classify_log.request.input.example_list.examples[0].features.feature["x"].float_list.value[0] == 0.25
    assert len(rest_classify.classify_log.response.result.classifications[0].classes) == 2


def test_a_rollback_during_traffic_splits_the_logs_as_the_server_answered(tmp_path, models):
    logs = tmp_path / "logs"
    config = _config(tmp_path / "models.config", models, logs, versions="latest { num_versions: 1 }")
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0).start()
    answered = {}
    stop = threading.Event()

    def traffic():
        stub = _stub(server)
        i = 0
        while not stop.is_set():
            i += 1
            resp = stub.Predict(_predict_request([float(i)]), timeout=30)
            answered[float(i)] = resp.model_spec.version.value

    try:
        t = threading.Thread(target=traffic)
        t.start()
        while len(answered) < 30:
            pass
        pinned = _config(tmp_path / "pinned.config", models, logs, versions="specific { versions: 1 }")
        from lineage.serving.config import read_config

        server.reload_config(read_config(pinned))        # the rollback, as HandleReloadConfigRequest does it
        n = len(answered)
        while len(answered) < n + 30:
            pass
        stop.set()
        t.join(30)
        server.request_log.flush()
    finally:
        server.stop()
    from lineage.serving.server.tfenv import tf

    TF = tf()
    logged = {}
    for path, recs in _read(logs).items():
        for r in recs:
            [x] = TF.make_ndarray(r.predict_log.request.inputs["x"]).tolist()
            logged[x] = r.log_metadata.model_spec.version.value
            assert f"toy.{logged[x]}." in path
    assert logged == answered                              # every request, with the version that answered it
    assert set(answered.values()) == {1, 2}


def test_sampling_and_a_full_queue_drop_counted_never_silently(tmp_path, models):
    import time

    from lineage.serving.server.predlog import LogConfig

    logs = tmp_path / "logs"
    config = _config(tmp_path / "models.config", models, logs, rate=0.5)
    release = threading.Event()
    closed = []

    def slow_close(c):
        closed.append(c)
        if len(closed) == 2:
            release.wait(60)                               # the writer is stuck here: the queue fills

    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0, prediction_log_queue=5,
                         on_log_closed=slow_close).start()
    try:
        stub = _stub(server)
        for i in range(400):
            stub.Predict(_predict_request([float(i)], version=1), timeout=30)
        server.request_log.flush()
        assert len(closed) == 1 and 120 < closed[0].records < 280      # about half of 400
        server.request_log.configure({"toy": LogConfig(str(logs / "toy"), 1.0, "tfrecord")})  # all, from now on
        stub.Predict(_predict_request([-1.0], version=1), timeout=30)
        flusher = threading.Thread(target=server.request_log.flush)
        flusher.start()
        deadline = time.monotonic() + 30
        while len(closed) < 2:                             # the writer is now inside on_closed
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for i in range(50):
            stub.Predict(_predict_request([float(i)], version=1), timeout=30)
        assert server.request_log.dropped_total == 45      # 5 waited in the queue, 45 could not
        release.set()
        flusher.join(60)
        server.request_log.flush()
    finally:
        release.set()
        server.stop()
    assert [c.records for c in closed[1:]] == [1, 5]       # no sample lost while the queue had room
    assert [c.dropped for c in closed] == [0, 0, 45]       # the drops are on the report of the file after them
    written = _read(logs)
    assert sorted(len(v) for v in written.values()) == sorted(c.records for c in closed)


# ---------------------------------------------------------------------- linked into lineage


@pytest.fixture
def pushed_toy(lin, tmp_path):
    """Two toy versions trained from one dataset, each pushed as `toy` (version 2 serves), and
    the model config given a logging_config at rate 1.0."""
    from lineage import record, use
    from lineage.components import push
    from lineage.serving.config import model_entry, read_config, write_config
    from lineage.types import Dataset, Model, ModelBlessing

    serving, config = tmp_path / "serving", tmp_path / "serving" / "models.config"
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    with use(lin):
        raw = lin.register(Dataset.at(data))
        for k in (1, 2):
            src = build_toy(tmp_path / f"src{k}", float(k))
            m = record("Train", inputs={"data": raw}, outputs={"model": Model.at(src)}).model
            b = record("Evaluate", inputs={"model": m},
                       outputs={"blessing": ModelBlessing.at(tmp_path / f"b{k}", blessed=True)}).blessing
            push(m, b, model_name="toy", serving_root=serving, config_path=config, store=lin)
    cfg = read_config(config)
    entry = model_entry(cfg, "toy")
    entry.logging_config.log_collector_config.type = "tfrecord"
    entry.logging_config.log_collector_config.filename_prefix = str(tmp_path / "logs" / "toy")
    entry.logging_config.sampling_config.sampling_rate = 1.0
    write_config(config, cfg)
    return raw, config, tmp_path / "logs"


def test_logs_become_lineage_and_impact_counts_the_answers_of_affected_versions(lin, sqlite_uri, pushed_toy):
    from helpers import cli

    from lineage.serving.observe import Observer

    raw, config, logs = pushed_toy
    observer = Observer(sqlite_uri, "local")
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0, on_state=observer,
                         on_log_closed=observer.log_closed).start()
    kw = {"config_path": str(config), "server": f"127.0.0.1:{server.grpc_port}", "timeout": 60}
    answered = {}
    try:
        stub = _stub(server)
        for i in range(12):
            answered[float(i)] = stub.Predict(_predict_request([float(i)]), timeout=30).model_spec.version.value
        lin.rollback("toy", to=1, **kw)                    # recorded, and the server reloads
        for i in range(12, 20):
            answered[float(i)] = stub.Predict(_predict_request([float(i)]), timeout=30).model_spec.version.value
        server.request_log.flush()
    finally:
        server.stop()
        observer.close()
    assert sorted(answered.values()).count(2) == 12 and sorted(answered.values()).count(1) == 8
    # each closed file is a PredictionLogs artifact made by a LogPredictions step from the version
    files = lin.prediction_logs("toy")
    assert sorted(a.properties["model_version"] for a in files) == [1, 2]
    for a in files:
        [producer] = lin.producers(a)
        assert producer.type == "LogPredictions"
        [pushed] = lin.inputs(producer)["version"]
        assert pushed.properties["pushed_version"] == a.properties["model_version"]
        assert "toy" in [c.name for c in lin.contexts(producer)]
    traffic = {t.version: t for t in lin.predictions("toy")}
    assert {v: t.sampled for v, t in traffic.items()} == {1: 8, 2: 12}
    assert all(t.estimated == t.sampled and t.first <= t.last for t in traffic.values())
    assert {v: t.sampled for v, t in ((t.version, t) for t in lin.predictions("toy", version=1))} == {1: 8}
    # a bad dataset upstream of both versions: impact counts the answers each gave
    lin.taint(raw, "labels were shuffled")
    imp = lin.impact(raw)
    assert {(t.model, t.version, t.sampled) for t in imp.answers} == {("toy", 1, 8), ("toy", 2, 12)}
    out = cli("impact", f"a{raw.id}", "--store", sqlite_uri)
    assert "12 sampled answers from toy:2 between" in out.stdout and "8 sampled answers from toy:1" in out.stdout
    shown = cli("predictions", "toy", "--version", "1", "--show", "2", "--store", sqlite_uri)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("--- logged request") == 2 and "predict_log" in shown.stdout
    table = cli("predictions", "toy", "--json", "--store", sqlite_uri)
    assert [(v["version"], v["sampled"]) for v in json.loads(table.stdout)["versions"]] == [(1, 8), (2, 12)]


def test_ingest_logs_brings_in_what_a_fleet_wrote_once(lin, sqlite_uri, pushed_toy, tmp_path):
    from helpers import cli

    raw, config, logs = pushed_toy
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0).start()   # no store: a "fleet"
    try:
        stub = _stub(server)
        for i in range(5):
            stub.Predict(_predict_request([float(i)]), timeout=30)
        server.request_log.flush()
    finally:
        server.stop()
    assert lin.prediction_logs("toy") == []
    (logs / "notes.txt").write_text("not a log")
    first = cli("ingest-logs", "toy", str(logs), "--store", sqlite_uri)
    assert first.returncode == 0, first.stderr
    assert "recorded: 5 requests of version(s) 2" in first.stdout
    again = cli("ingest-logs", "toy", str(logs), "--store", sqlite_uri)
    assert "already recorded" in again.stdout and "recorded: " not in again.stdout.replace("already recorded", "")
    [a] = lin.prediction_logs("toy")
    assert a.properties["request_count"] == 5 and a.properties["server"] == "ingested"
    [producer] = lin.producers(a)
    assert lin.inputs(producer)["version"][0].properties["pushed_version"] == 2
    other = cli("ingest-logs", "reviews", str(logs), "--store", sqlite_uri)
    assert "already recorded" in other.stdout            # same file, already in the store
    missing = cli("ingest-logs", "toy", str(tmp_path / "nope"), "--store", sqlite_uri)
    assert missing.returncode == 1 and "is not a directory" in missing.stderr


def test_serving_skew_is_the_logged_inputs_beside_the_training_statistics(pipeline, tmp_path):
    """The example's served model gets 100 ordinary reviews and 50 odd ones; the skew report
    compares what was logged with the statistics ingest recorded for the training rows, and both
    sides are checked against the CSV itself."""
    import csv
    import sqlite3
    from collections import Counter
    from pathlib import Path

    from lineage import Lineage
    from lineage.serving.config import model_entry, read_config, write_config
    from lineage.serving.observe import Observer

    lin0, home = pipeline
    store = tmp_path / "metadata.sqlite"
    src = sqlite3.connect(f"file:{lin0.store.config.path}?mode=ro", uri=True)
    dst = sqlite3.connect(store)
    src.backup(dst)
    src.close()
    dst.close()
    uri = f"sqlite:///{store}"
    cfg = read_config(home / "serving" / "models.config")
    entry = model_entry(cfg, "reviews")
    entry.logging_config.log_collector_config.filename_prefix = str(tmp_path / "logs" / "reviews")
    entry.logging_config.sampling_config.sampling_rate = 1.0
    config = tmp_path / "models.config"
    write_config(config, cfg)

    data = list(csv.DictReader(open(Path(__file__).resolve().parents[2] / "examples" / "data" / "reviews.csv")))
    train, sent = data[:600], data[600:700]
    odd = [{"text": "beep", "cuisine": "martian", "price_level": "4"}] * 50
    observer = Observer(uri, "local")
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0, on_log_closed=observer.log_closed).start()
    try:
        for chunk in (sent[:50], sent[50:], odd):
            _post(server, "/v1/models/reviews:predict", {"instances": [
                {"text": r["text"], "cuisine": r["cuisine"], "price_level": int(r["price_level"])} for r in chunk]})
        server.request_log.flush()
    finally:
        server.stop()
        observer.close()
    lin = Lineage.open(uri, readonly=True)
    report = lin.serving_skew("reviews")
    assert report["version"] == lin.served_at("reviews").version and report["requests"] == 3
    rows = {r["feature"]: r for r in report["features"]}
    assert rows["label"]["measure"] == "only in training"
    served = sent + odd
    # price level: how far the mean moved, in units of the training range (from the CSV itself)
    tp = [int(r["price_level"]) for r in train]
    sp = [int(r["price_level"]) for r in served]
    want = abs(sum(sp) / len(sp) - sum(tp) / len(tp)) / (max(tp) - min(tp))
    assert rows["price_level"]["distance"] == pytest.approx(want, abs=1e-5)
    # cuisine: the largest difference in a value's share (L-infinity), from the CSV itself
    tc, sc = Counter(r["cuisine"] for r in train), Counter(r["cuisine"] for r in served)
    linf = max(abs(tc[k] / len(train) - sc[k] / len(served)) for k in set(tc) | set(sc))
    assert rows["cuisine"]["distance"] == pytest.approx(linf, abs=1e-5) and linf > 0.3
    assert rows["cuisine"]["skewed"] is True
    out = __import__("helpers").cli("predictions", "reviews", "--skew", "--store", uri)
    assert out.returncode == 0, out.stderr
    assert "cuisine" in out.stdout and "SKEWED" in out.stdout
