"""Distributed serving (issue 28): one module server, two heads calling it over gRPC, and what
lineage answers about them. Real processes' parts: the example pipeline, then
examples/distributed_serving.py, two model servers on loopback, TF Serving's own client messages."""

from __future__ import annotations

import json
import socket
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import lineage.components  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from lineage import Lineage, use
from lineage.components import PushRefused, export_module, push, split_model
from lineage.errors import InvalidInput
from lineage.serving.config import read_config, write_config
from lineage.serving.observe import Observer
from lineage.serving.rollback import RollbackFailed
from lineage.serving.server import ModelServer
from helpers import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ROWS = [{"text": "The ramen was delicious and fresh.", "cuisine": "japanese", "price_level": 2},
        {"text": "Cold pizza, rude staff, never again", "cuisine": "italian", "price_level": 1},
        {"text": "", "cuisine": "french", "price_level": 4},
        {"text": "Honestly the tacos was rude staff, too salty.", "cuisine": "mexican", "price_level": 2}]


def _http(method: str, url: str, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _csv_rows(n: int):
    import csv

    with open(REPO / "examples" / "data" / "reviews.csv") as f:
        rows = list(csv.DictReader(f))[-n:]
    return ROWS + [{"text": r["text"], "cuisine": r["cuisine"], "price_level": int(r["price_level"])} for r in rows]


class Fleet:
    """The three servers of the talk's picture: undivided models, the module server, the heads."""

    def __init__(self, home: Path, uri: str, module_port: int) -> None:
        self.home, self.uri = home, uri
        serving = home / "serving"
        self.observer = Observer(uri, config_path=str(serving / "heads.config"))
        whole = read_config(serving / "models.config")   # every version of the undivided models
        for entry in whole.model_config_list.config:
            entry.model_version_policy.all.SetInParent()
        write_config(home / "whole.config", whole)
        self.whole = ModelServer(str(home / "whole.config"), grpc_port=0, rest_port=0).start()
        self.module = ModelServer(str(serving / "modules.config"), grpc_port=module_port, rest_port=0,
                                  batch_size=64, batch_timeout_ms=5).start()
        heads = read_config(serving / "heads.config")   # every request of reviews-split logged
        for entry in heads.model_config_list.config:
            if entry.name == "reviews-split":
                entry.logging_config.log_collector_config.filename_prefix = str(home / "logs" / "reviews-split")
                entry.logging_config.sampling_config.sampling_rate = 1.0
        write_config(home / "heads.config", heads)
        self.heads = ModelServer(str(home / "heads.config"), grpc_port=0, rest_port=0, workers=16,
                                 on_state=self.observer, on_remote=self.observer.remote_answer,
                                 on_log_closed=self.observer.log_closed).start()
        self.observer.begin(f"127.0.0.1:{self.heads.grpc_port}")

    def predict(self, server: ModelServer, model: str, rows, version=None):
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
        return _http("POST", f"http://127.0.0.1:{server.rest_port}{path}", {"instances": rows})

    def stop(self) -> None:
        for s in (self.heads, self.module, self.whole):
            if not s._stop.is_set():
                s.stop()
        self.observer.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from helpers import run_example_pipeline

    home = tmp_path_factory.mktemp("distributed")
    uri = run_example_pipeline(home)   # then the talk's picture on it
    import distributed_serving
    module_port = free_port()
    assert distributed_serving.main(["--store", uri, "--module-server", f"127.0.0.1:{module_port}", "-q"]) == 0
    f = Fleet(home, uri, module_port)
    yield f
    f.stop()


def test_heads_answer_as_the_undivided_models_over_rest_and_grpc(fleet):
    import grpc
    from lineage.serving.server.tfenv import tf
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

    rows = _csv_rows(60)
    for whole, head in (("reviews", "reviews-split"), ("reviews-text", "reviews-text-split")):
        status, want = fleet.predict(fleet.whole, whole, rows, version=1)
        assert status == 200, want
        status, got = fleet.predict(fleet.heads, head, rows)
        assert status == 200, got
        assert len(got["predictions"]) == len(rows)
        assert max(abs(a - b) for a, b in zip(want["predictions"], got["predictions"])) < 1e-5
        # the head's signature, as clients see it: the undivided model's inputs, not the module's output
        status, meta = _http("GET", f"http://127.0.0.1:{fleet.heads.rest_port}/v1/models/{head}/metadata")
        sig = meta["metadata"]["signature_def"]["signature_def"]
        assert sorted(sig["serving_default"]["inputs"]) == ["cuisine", "price_level", "text"]
        assert not [k for k in sig if k.startswith("lineage_remote__")]
        # Classify through the remote part, as TF Serving's REST API takes it
        status, cls = _http("POST", f"http://127.0.0.1:{fleet.heads.rest_port}/v1/models/{head}:classify",
                            {"signature_name": "classify", "examples": rows[:3]})
        assert status == 200 and abs(cls["results"][0][1][1] - want["predictions"][0]) < 1e-5

    TF = tf()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{fleet.heads.grpc_port}"))
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "reviews-split"
    req.inputs["text"].CopyFrom(TF.make_tensor_proto([r["text"] for r in ROWS]))
    req.inputs["cuisine"].CopyFrom(TF.make_tensor_proto([r["cuisine"] for r in ROWS]))
    req.inputs["price_level"].CopyFrom(TF.make_tensor_proto([r["price_level"] for r in ROWS], dtype=TF.int64))
    resp = stub.Predict(req, timeout=60)
    _, want = fleet.predict(fleet.whole, "reviews", ROWS, version=1)
    assert resp.model_spec.version.value == 1
    assert abs(TF.make_ndarray(resp.outputs["probability"]) - want["predictions"]).max() < 1e-5
    # a client sending the module's output itself is refused, as by the undivided model
    req.inputs["text_embedding"].CopyFrom(TF.make_tensor_proto([[0.0] * 16] * len(ROWS)))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(req, timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "text_embedding" in err.value.details()
    meta = stub.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec=req.model_spec, metadata_field=["signature_def"]), timeout=30)
    assert meta.model_spec.name == "reviews-split"


def test_the_module_server_batches_both_heads_requests(fleet):
    before = sum(b.calls for b in fleet.module._batchers.values())
    asked = sum(b.requests for b in fleet.module._batchers.values())
    errors = []

    def send(head: str) -> None:
        for i in range(15):
            status, body = fleet.predict(fleet.heads, head, [ROWS[i % len(ROWS)]])
            if status != 200:
                errors.append(body)

    threads = [threading.Thread(target=send, args=(h,)) for h in ("reviews-split", "reviews-text-split") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    requests = sum(b.requests for b in fleet.module._batchers.values()) - asked
    calls = sum(b.calls for b in fleet.module._batchers.values()) - before
    assert requests == 120            # every head request made one remote call
    assert calls < requests           # ... and the module server ran them in shared batches


def test_lineage_answers_through_the_module_server(fleet):
    status, _ = fleet.predict(fleet.heads, "reviews-split", ROWS[:1])
    assert status == 200
    status, _ = fleet.predict(fleet.heads, "reviews-text-split", ROWS[:1])
    assert status == 200
    fleet.observer.flush(30)
    lin = Lineage.open(fleet.uri, readonly=True)
    remote = [e for e in lin.serving_history("reviews-split") if e.action == "remote"]
    assert [(e.version, e.remote, e.remote_role) for e in remote] == [(1, "review-text-encoder:1", "module")]
    state = lin.served_at("reviews-split")
    assert state.version == 1 and state.remote == ("review-text-encoder:1",)
    assert "its remote part answered by review-text-encoder:1" in state.describe()
    graph = lin.serving_graph()
    module_at = f"127.0.0.1:{fleet.module.grpc_port}"
    assert {c for c in graph.calls if c[0].endswith("-split:1")} == {
        ("reviews-split:1", "review-text-encoder:1", module_at), ("reviews-text-split:1", "review-text-encoder:1", module_at)}
    assert graph.servers[f"127.0.0.1:{fleet.heads.grpc_port}"] == ["reviews-split:1", "reviews-text-split:1"]
    called = sorted(e.remote for e in lin.serving_history("review-text-encoder") if e.action == "remote")
    assert called == ["reviews-split:1", "reviews-text-split:1"]
    # impact of the served module version reaches both heads through the module server
    module_pushed = lin.provenance("review-text-encoder:1").pushed
    reached = {(p.model_name, p.version) for p in lin.impact(module_pushed).pushed}
    assert {("reviews-split", 1), ("reviews-text-split", 1)} <= reached
    # impact of the Hub module version: the undivided models, the module's part and both heads
    hub = [a for a in lin.artifacts("HubModule", limit=None) if a.get("handle") == "lineage-examples/review-text/1"][0]
    reached = {(p.model_name, p.version) for p in lin.impact(hub).pushed}
    assert {("reviews", 1), ("reviews-text", 1), ("review-text-encoder", 1), ("reviews-split", 1),
            ("reviews-text-split", 1)} <= reached
    # the head's provenance names the model it was split from and the module part it calls
    prov = lin.provenance("reviews-split:1")
    assert prov.model is not None and prov.model.get("remote_model") == "review-text-encoder"
    assert "lineage-examples/review-text/1" in {m.get("handle") for m in prov.hub_modules}
    assert prov.remote == ["review-text-encoder:1"] and prov.to_dict()["remote"] == ["review-text-encoder:1"]


def test_a_remote_part_that_cannot_answer_is_unavailable(fleet):
    import grpc
    from lineage.serving.server.tfenv import tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    # a module server that accepts connections and never answers: the head's timeout applies
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    down = free_port()
    try:
        for target, why in ((f"127.0.0.1:{port}", "did not answer within 2000 ms"), (f"127.0.0.1:{down}", "UNAVAILABLE")):
            fleet.heads.remote_calls.overrides["review-text-encoder"] = target
            status, body = fleet.predict(fleet.heads, "reviews-split", ROWS[:1])
            assert status == 503, body
            assert "review-text-encoder" in body["error"] and target in body["error"] and why in body["error"]
        TF = tf()
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{fleet.heads.grpc_port}"))
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "reviews-text-split"
        req.inputs["text"].CopyFrom(TF.make_tensor_proto(["fine"]))
        req.inputs["cuisine"].CopyFrom(TF.make_tensor_proto(["thai"]))
        req.inputs["price_level"].CopyFrom(TF.make_tensor_proto([1], dtype=TF.int64))
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(req, timeout=60)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "remote part of reviews-text-split version 1 unavailable" in err.value.details()
    finally:
        fleet.heads.remote_calls.overrides.pop("review-text-encoder", None)
        silent.close()
    status, _ = fleet.predict(fleet.heads, "reviews-split", ROWS[:1])
    assert status == 200   # the module server answers again: so does the head


def test_two_lineage_serve_processes_a_module_server_and_its_heads(fleet):
    """The talk's picture as a user runs it: `lineage serve` for the module, `lineage serve` for the
    heads (pointed at it with --remote), both recording into the store; a client asks a head."""
    import subprocess
    import time

    from helpers import stop_process

    exe = str(Path(sys.executable).parent / "lineage")
    serving = fleet.home / "serving"
    ports = {k: free_port() for k in ("module_grpc", "module_rest", "heads_grpc", "heads_rest")}
    module = subprocess.Popen([exe, "serve", "--store", fleet.uri, "--config", str(serving / "modules.config"),
                               "--grpc-port", str(ports["module_grpc"]), "--rest-port", str(ports["module_rest"]),
                               "--batch-size", "64", "--batch-timeout-ms", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    heads = subprocess.Popen([exe, "serve", "--store", fleet.uri, "--config", str(serving / "heads.config"),
                              "--grpc-port", str(ports["heads_grpc"]), "--rest-port", str(ports["heads_rest"]),
                              "--remote", f"review-text-encoder=127.0.0.1:{ports['module_grpc']}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{ports['heads_rest']}/v1/models/reviews-text-split:predict"
        deadline, status, got = time.time() + 120, None, None
        while time.time() < deadline:
            try:
                status, got = _http("POST", url, {"instances": ROWS})
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert status == 200, got
        _, want = fleet.predict(fleet.whole, "reviews-text", ROWS, version=1)
        assert max(abs(a - b) for a, b in zip(want["predictions"], got["predictions"])) < 1e-5
    finally:
        for proc in (heads, module):
            stop_process(proc, 30)
    assert heads.returncode == 0 and module.returncode == 0, (heads.stdout.read(), module.stdout.read())
    lin = Lineage.open(fleet.uri, readonly=True)
    by_process = [e for e in lin.serving_history("reviews-text-split")
                  if e.action == "remote" and e.server == f"127.0.0.1:{ports['heads_grpc']}"]
    assert [(e.version, e.remote) for e in by_process] == [(1, "review-text-encoder:1")]
    assert by_process[0].execution.get("remote_server") == f"127.0.0.1:{ports['module_grpc']}"


def test_the_gate_checks_a_module_against_the_heads_that_call_it(fleet):
    lin = Lineage.open(fleet.uri)
    serving = fleet.home / "serving"
    v2 = [a for a in lin.artifacts("HubModule", limit=None) if a.get("handle") == "lineage-examples/review-text/2"][0]
    with use(lin):
        part2 = export_module(v2)
    other_config = fleet.home / "elsewhere.config"   # the module server's own config is left alone
    with pytest.raises(PushRefused) as err:
        push(part2, None, model_name="review-text-encoder", config_path=other_config, store=lin)
    assert "reviews-split:1" in str(err.value) and "reviews-text-split:1" in str(err.value)
    assert "lineage-examples/review-text/1" in str(err.value)
    assert not (serving / "review-text-encoder" / "2").exists()
    # a fine-tuned model holds its own copy of the module: it cannot call the shared one
    prov2 = lin.provenance("reviews:2")
    part1 = lin.provenance("review-text-encoder:1").model
    with use(lin), pytest.raises(InvalidInput, match="fine-tuned its module"):
        split_model(prov2.model, prov2.transform_graphs[0], part1, module_model="review-text-encoder")
    # rolling back a head checks the module serving now; rolling the module checks the heads
    with pytest.raises(RollbackFailed) as err:
        lin.rollback("review-text-encoder", to=7, config_path=str(serving / "modules.config"),
                     server=f"127.0.0.1:{fleet.module.grpc_port}", rest=None, timeout=10)
    assert "never pushed" in str(err.value)
    forced = push(part2, None, model_name="review-text-encoder", config_path=other_config, store=lin, force=True,
                  reason="trying v2 on the module server")
    with pytest.raises(RollbackFailed) as err:   # the module's rollback is checked against the heads too
        lin.rollback("review-text-encoder", to=2, config_path=str(serving / "modules.config"),
                     server=f"127.0.0.1:{fleet.module.grpc_port}", rest=None, timeout=10)
    assert "--force overrides the heads check" in str(err.value) and "reviews-split:1" in str(err.value), str(err.value)
    push_exec = lin.producers(forced)[0]
    assert push_exec.get("forced") is True or push_exec.get("forced") == 1
    assert "heads" in str(push_exec.get("force_reason")) and "trying v2" in str(push_exec.get("force_reason"))


def test_a_heads_request_logs_say_which_module_version_answered(fleet):
    for _ in range(3):
        assert fleet.predict(fleet.heads, "reviews-split", ROWS)[0] == 200
    fleet.heads.stop()   # closes the request log files, recorded by the heads' server
    assert fleet.observer.flush(30)
    lin = Lineage.open(fleet.uri, readonly=True)
    logs = lin.prediction_logs("reviews-split")
    assert logs and sum(a.get("request_count") for a in logs) >= 3
    answered = {}
    for a in logs:
        for k, n in json.loads(a.get("remote_answers") or "{}").items():
            answered[k] = answered.get(k, 0) + n
    assert set(answered) == {"review-text-encoder:1"} and answered["review-text-encoder:1"] >= 3
