"""TF Serving's rules the local server follows, each checked over real gRPC / HTTP on 127.0.0.1:
zero-padded version folders, classification signatures with only scores, `--poll 0`, and a
kept-alive REST connection that does not wait on delayed ACKs."""

from __future__ import annotations

import http.client
import json
import resource
import time

import grpc
import pytest

from lineage.serving.server import ModelServer
from toy_models import build_toy

pytestmark = pytest.mark.slow


def _config(path, base):
    path.write_text(f'model_config_list {{ config {{ name: "toy" base_path: "{base}" model_platform: "tensorflow" }} }}\n')
    return path


@pytest.fixture
def padded_server(tmp_path):
    base = tmp_path / "toy"
    build_toy(base / "00000123", 2.0)   # TF Serving's own layout: zero-padded version folders
    server = ModelServer(str(_config(tmp_path / "models.config", base)), grpc_port=0, rest_port=0,
                         poll_seconds=0.2).start()
    yield server
    server.stop()


def _rest(server, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    conn.request(method, path, body=json.dumps(body) if body is not None else None)
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def test_zero_padded_version_folders_load(padded_server):
    status, body = _rest(padded_server, "GET", "/v1/models/toy")
    assert status == 200 and body["model_version_status"][0]["version"] == "123"
    assert body["model_version_status"][0]["state"] == "AVAILABLE"
    status, body = _rest(padded_server, "POST", "/v1/models/toy/versions/123:predict", {"instances": [1.5]})
    assert status == 200 and body["predictions"][0]["y"] == 3.0


def test_classify_with_only_scores_answers_on_both_protocols(padded_server):
    from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc

    status, body = _rest(padded_server, "POST", "/v1/models/toy:classify",
                         {"signature_name": "scores_only", "examples": [{"x": 0.0}]})
    assert status == 200 and body["results"] == [[["", 0.5]]]
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name, req.model_spec.signature_name = "toy", "scores_only"
    req.input.example_list.examples.add().features.feature["x"].float_list.value.append(0.0)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{padded_server.grpc_port}"))
    resp = stub.Classify(req, timeout=30)
    [c] = resp.result.classifications
    assert [(x.label, x.score) for x in c.classes] == [("", 0.5)]


def test_poll_zero_means_no_polling(tmp_path):
    base = tmp_path / "toy"
    build_toy(base / "1", 1.0)
    server = ModelServer(str(_config(tmp_path / "models.config", base)), grpc_port=0, rest_port=0,
                         poll_seconds=0).start()
    try:
        before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(2.0)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        assert cpu < 0.3, f"{cpu:.2f} s of CPU in 2 s idle: the loader is spinning"
        build_toy(base / "2", 2.0)  # not picked up without polling...
        time.sleep(0.5)
        assert [v.number for v in server.status("toy")] == [1]
        server.reload_config(server._config)  # ...until asked, as TF Serving's reload does
        assert 2 in [v.number for v in server.status("toy")]
    finally:
        server.stop()


def _stub(server):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))


def _predict_request(x, dtype=None, signature="", output_filter=()):
    from lineage.serving.server.tfenv import tf
    from tensorflow_serving.apis import predict_pb2

    TF = tf()
    req = predict_pb2.PredictRequest()
    req.model_spec.name, req.model_spec.signature_name = "toy", signature
    req.inputs["x"].CopyFrom(TF.make_tensor_proto(x, dtype=dtype or TF.float32))
    req.output_filter.extend(output_filter)
    return req


def test_grpc_answers_in_typed_fields_and_validates_like_tf_serving(padded_server):
    from lineage.serving.server.tfenv import tf

    stub = _stub(padded_server)
    resp = stub.Predict(_predict_request([1.0, 2.0, 3.0]), timeout=30)
    assert list(resp.outputs["y"].float_val) == [2.0, 4.0, 6.0] and resp.outputs["y"].tensor_content == b""
    assert resp.model_spec.signature_name == "serving_default"
    for request, code, says in [
        (_predict_request([1.0], signature="nope"), grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.'),
        (_predict_request([1.0], output_filter=["zz"]), grpc.StatusCode.INVALID_ARGUMENT,
         "output tensor alias not found in signature: zz"),
        (_predict_request([1.0], dtype=tf().float64), grpc.StatusCode.INVALID_ARGUMENT,
         "Expects arg[x] to be float but double is provided"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=30)
        assert info.value.code() == code and says in info.value.details(), info.value.details()
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    for make, method, sig in ((classification_pb2.ClassificationRequest, stub.Classify, "classify"),
                              (regression_pb2.RegressionRequest, stub.Regress, "regress")):
        req = make()
        req.model_spec.name = "toy"
        req.input.example_list.examples.add().features.feature["x"].float_list.value.append(1.0)
        with pytest.raises(grpc.RpcError) as info:   # TF Serving's default signature is serving_default
            method(req, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "inputs found in SignatureDef" in info.value.details()
        req.model_spec.signature_name = sig
        assert method(req, timeout=30).model_spec.signature_name == sig


def test_rest_writes_float32_bytes_and_errors_like_tf_serving(padded_server):
    status, body = _rest(padded_server, "POST", "/v1/models/toy:predict", {"instances": [1.1]})
    assert status == 200 and body["predictions"][0]["y"] == 2.2        # not 2.200000047683716
    status, body = _rest(padded_server, "POST", "/v1/models/toy:predict",
                         {"signature_name": "with_bytes", "instances": [1.0]})
    assert body["predictions"][0]["raw_bytes"] == {"b64": "AP9vaw=="}
    for method, path in (("POST", "/v1/models/toy:explode"), ("GET", "/v1/models/toy:predict"),
                         ("GET", "/v1/whatever"), ("PUT", "/v1/models/toy")):
        status, body = _rest(padded_server, method, path, {} if method != "GET" else None)
        assert status == 400 and body["error"].startswith("Malformed request"), (method, path, status, body)
    assert _rest(padded_server, "GET", "/v2/whatever")[0] == 404   # outside the REST API: not found
    status, body = _rest(padded_server, "GET", "/v1/models/%74oy")     # URL-encoded name: "toy"
    assert status == 200 and body["model_version_status"][0]["version"] == "123"


def test_multi_inference_runs_classify_and_regress_on_one_input(padded_server):
    from tensorflow_serving.apis import inference_pb2

    req = inference_pb2.MultiInferenceRequest()
    for sig, method in (("regress", "tensorflow/serving/regress"), ("classify", "tensorflow/serving/classify")):
        task = req.tasks.add()
        task.model_spec.name, task.model_spec.signature_name, task.method_name = "toy", sig, method
    req.input.example_list.examples.add().features.feature["x"].float_list.value.append(1.5)
    resp = _stub(padded_server).MultiInference(req, timeout=30)
    assert len(resp.results) == 2
    assert resp.results[0].regression_result.regressions[0].value == 3.0
    [c] = resp.results[1].classification_result.classifications
    assert [x.label for x in c.classes] == ["neg", "pos"]
    assert [(r.model_spec.name, r.model_spec.version.value, r.model_spec.signature_name) for r in resp.results] == [
        ("toy", 123, "regress"), ("toy", 123, "classify")]
    other = req.tasks.add()
    other.model_spec.name, other.method_name = "elsewhere", "tensorflow/serving/regress"
    with pytest.raises(grpc.RpcError) as info:
        _stub(padded_server).MultiInference(req, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "same model name" in info.value.details()
