"""The model server under hostile or careless clients, over real sockets on 127.0.0.1: stalled
connections are closed and hold no thread each, a deeply nested JSON body gets a 400 answer, and a
TensorProto that claims a huge shape is refused before anything is allocated."""

from __future__ import annotations

import http.client
import json
import resource
import socket
import threading

import grpc
import pytest

from lineage.serving.server import ModelServer
from toy_models import build_toy

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    base = tmp_path / "toy"
    build_toy(base / "1", 2.0)
    cfg = tmp_path / "models.config"
    cfg.write_text(f'model_config_list {{ config {{ name: "toy" base_path: "{base}" }} }}\n')
    s = ModelServer(str(cfg), grpc_port=0, rest_port=0, poll_seconds=0, idle_timeout=1.0, max_connections=50).start()
    yield s
    s.stop()


def _predict(server, body=b'{"instances": [1.0]}'):
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    conn.request("POST", "/v1/models/toy:predict", body=body)
    r = conn.getresponse()
    answer = (r.status, json.loads(r.read()))
    conn.close()
    return answer


def test_stalled_connections_are_closed_and_hold_no_thread_each(server):
    threads_before = threading.active_count()
    stalled = []
    for _ in range(300):   # more than max_connections: the rest wait in the listen backlog
        s = socket.create_connection(("127.0.0.1", server.rest_port), timeout=30)
        s.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Le")   # and never more
        stalled.append(s)
    try:
        assert threading.active_count() <= threads_before + 2   # no thread per connection
        # every stalled connection is closed by the server once idle (1 s here, 30 s by default)
        for s in stalled:
            assert s.recv(1024) == b""
        assert _predict(server) == (200, {"predictions": [{"k": 2.0, "y": 2.0}]})
    finally:
        for s in stalled:
            s.close()


def test_a_deeply_nested_json_body_gets_an_answer(server):
    status, body = _predict(server, b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert status == 400 and "JSON Parse error" in body["error"]
    assert _predict(server)[0] == 200


def test_a_tensor_claiming_a_huge_shape_is_refused_before_allocation(server):
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    req = predict_pb2.PredictRequest()
    req.model_spec.name = "toy"
    req.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[1.0],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=250_000_000)])))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(req, timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "over the server's limit" in info.value.details()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB"   # 1 GB had it been expanded


def test_a_body_over_the_limit_is_refused(tmp_path):
    base = tmp_path / "toy"
    build_toy(base / "1", 2.0)
    cfg = tmp_path / "models.config"
    cfg.write_text(f'model_config_list {{ config {{ name: "toy" base_path: "{base}" }} }}\n')
    s = ModelServer(str(cfg), grpc_port=0, rest_port=0, poll_seconds=0, max_request_bytes=1000).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", s.rest_port, timeout=30)
        conn.request("POST", "/v1/models/toy:predict", body=b'{"instances": [' + b"1.0," * 1000 + b"1.0]}")
        assert conn.getresponse().status == 413
        assert _predict(s)[0] == 200   # and the server keeps answering others
    finally:
        s.stop()
