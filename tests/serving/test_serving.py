"""The local TF-Serving-compatible server and version-pinned rollback, over real sockets on
127.0.0.1 (gRPC with tensorflow_serving's stubs, REST with urllib)."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import lineage.components  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from lineage.components import push
from lineage import Lineage, record, use
from lineage.serving.config import read_config
from lineage.serving.rollback import RollbackFailed
from lineage.serving.server import ModelServer
from lineage.types import Model, ModelBlessing
from toy_models import build_toy

pytestmark = pytest.mark.slow


def _http(method: str, url: str, body=None, raw: bytes = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Env:
    def __init__(self, tmp: Path, lin: Lineage) -> None:
        self.tmp, self.lin = tmp, lin
        self.serving = tmp / "serving"
        self.config = tmp / "serving" / "models.config"
        self.pushed = {}

    def add_version(self, k: float, *, blessed: bool = True, force: bool = False, corrupt: bool = False):
        src = build_toy(self.tmp / "trained" / f"k{k}", k)
        if corrupt:
            for f in (src / "variables").iterdir():
                f.write_bytes(b"\0" * 16)
        with use(self.lin):
            model = record("Train", outputs={"model": Model.at(src)}, params={"k": k}).model
            bless = record("Evaluate", inputs={"model": model}, outputs={"blessing": ModelBlessing.at(
                self.tmp / "bless" / f"k{k}", blessed=blessed)}).blessing
            p = push(model, bless, model_name="toy", force=force, serving_root=self.serving,
                     config_path=self.config)
        self.pushed[p.properties["pushed_version"]] = p
        return p

    @property
    def kw(self):
        return {"config_path": str(self.config), "server": f"127.0.0.1:{self.server.grpc_port}",
                "rest": f"http://127.0.0.1:{self.server.rest_port}", "timeout": 30}

    def rest(self, path: str, body=None, method=None, raw=None):
        return _http(method or ("POST" if body is not None or raw is not None else "GET"),
                     f"http://127.0.0.1:{self.server.rest_port}{path}", body, raw)


@pytest.fixture
def env(tmp_path_factory):
    """A fresh store, three pushed toy versions and a started server for each test (no test
    depends on what another left behind)."""
    tmp = tmp_path_factory.mktemp("serving")
    for d in ("trained", "bless"):
        (tmp / d).mkdir()
    lin = Lineage.open(f"sqlite:///{tmp / 'metadata.sqlite'}")
    e = Env(tmp, lin)
    for k in (1.0, 2.0, 3.0):
        e.add_version(k)
    e.server = ModelServer(str(e.config), grpc_port=0, rest_port=0, poll_seconds=0.2,
                           max_request_bytes=1 << 16).start()
    yield e
    e.server.stop()


def _grpc_predict(env, x, version=None, label=None):
    import grpc
    from lineage.serving.server.tfenv import tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    TF = tf()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{env.server.grpc_port}"))
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "toy"
    if version is not None:
        req.model_spec.version.value = version
    if label is not None:
        req.model_spec.version_label = label
    req.inputs["x"].CopyFrom(TF.make_tensor_proto(x, dtype=TF.float32))
    resp = stub.Predict(req, timeout=30)
    return resp.model_spec.version.value, TF.make_ndarray(resp.outputs["y"]).tolist()


def _reset(env):
    """Back to serving version 3, whatever a test did."""
    env.lin.rollback("toy", to=3, **env.kw)
    assert env.server.resolve("toy").number == 3


def test_rest_and_grpc_route_versions_and_report_errors(env):
    _reset(env)
    assert env.rest("/v1/models/toy") == (200, {"model_version_status": [
        {"version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    assert env.rest("/v1/models/toy:predict", {"instances": [1.0, 2.0]}) == (
        200, {"predictions": [{"k": 3.0, "y": 3.0}, {"k": 3.0, "y": 6.0}]})
    assert env.rest("/v1/models/toy:predict", {"inputs": {"x": [2.0]}}) == (200, {"outputs": {"k": [3.0], "y": [6.0]}})
    assert _grpc_predict(env, [1.0, 2.0]) == (3, [3.0, 6.0])
    status, meta = env.rest("/v1/models/toy/metadata")
    assert status == 200 and {"serving_default", "classify", "regress"} <= set(meta["metadata"]["signature_def"]["signature_def"])
    status, body = env.rest("/v1/models/toy:classify", {"signature_name": "classify", "examples": [{"x": 0.0}]})
    assert status == 200 and body["results"][0][1][0] == "pos" and abs(body["results"][0][1][1] - 0.5) < 1e-6
    assert env.rest("/v1/models/toy:regress", {"signature_name": "regress", "examples": [{"x": 2.0}]}) == (
        200, {"results": [6.0]})

    # version-specific and label URLs route to the right version
    env.lin.promote("toy", version=2, label="canary", **env.kw)
    assert env.rest("/v1/models/toy/versions/2:predict", {"instances": [1.0]})[1]["predictions"][0]["k"] == 2.0
    assert env.rest("/v1/models/toy/labels/canary:predict", {"instances": [1.0]})[1]["predictions"][0]["k"] == 2.0
    assert env.rest("/v1/models/toy:predict", {"instances": [1.0]})[1]["predictions"][0]["k"] == 3.0
    assert _grpc_predict(env, [1.0], label="canary")[0] == 2
    assert _grpc_predict(env, [1.0], version=3)[0] == 3
    assert env.rest("/v1/models/toy/labels/canary")[1]["model_version_status"][0]["version"] == "2"

    # bad requests: TF Serving-style errors, and the server keeps serving
    bad = [
        (("/v1/models/toy:predict", None, None, b"{not json"), 400, "JSON Parse error"),
        (("/v1/models/toy:predict", {"instances": [{"z": 1.0}]}), 400, "Sent extra: {z}. Missing but required: {x}."),
        (("/v1/models/toy:predict", {"instances": ["text"]}), 400, 'JSON Value: "text" Type: String is not of expected type: float'),
        (("/v1/models/toy:predict", {"nothing": 1}), 400, "Missing 'inputs' or 'instances'"),
        (("/v1/models/nope:predict", {"instances": [1.0]}), 404, "Servable not found"),
        (("/v1/models/toy/versions/9:predict", {"instances": [1.0]}), 404, "Specific(toy, 9)"),
        (("/v1/models/toy/labels/nope:predict", {"instances": [1.0]}), 400, "Unrecognized servable version label"),
        (("/v1/models/toy:explode", {"instances": [1.0]}), 400, "Malformed request"),
    ]
    for args, code, message in bad:
        status, body = env.rest(*args)
        assert status == code and message in body["error"], (args[0], status, body)
    import grpc

    with pytest.raises(grpc.RpcError) as info:
        _grpc_predict(env, [1.0], version=9)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert env.rest("/v1/models/toy:predict", {"instances": [1.0]})[0] == 200


def test_rollback_pins_records_and_unpin_returns_to_latest(env):
    _reset(env)
    lin = env.lin
    res = lin.rollback("toy", to=1, **env.kw)
    assert (res.version, res.previous) == (1, 3) and res.seconds < 30
    assert env.server.resolve("toy").number == 1 and _grpc_predict(env, [1.0])[0] == 1
    entry = read_config(env.config).model_config_list.config[0]
    assert list(entry.model_version_policy.specific.versions) == [1] and dict(entry.version_labels) == {"stable": 1}
    ex = res.execution
    assert ex.type == "Rollback" and ex.state == "COMPLETE"
    assert (ex.properties["target_version"], ex.properties["model_name"], ex.properties["forced"]) == (1, "toy", False)
    ins = lin.inputs(ex)
    assert ins["target"][0].id == env.pushed[1].id and ins["previous"][0].id == env.pushed[3].id
    assert {c.type: c.name for c in lin.contexts(ex)}["ServingEndpoint"] == "toy"
    assert lin.served_at("toy").version == 1 and lin.served_at("toy").pinned

    assert lin.rollback("toy", previous=True, **env.kw).version == 3   # the one before 1
    assert lin.rollback("toy", last_good=True, **env.kw).version == 3
    res = lin.unpin("toy", **env.kw)
    assert res.version == 3 and not lin.served_at("toy").pinned
    assert entry.name == "toy" and read_config(env.config).model_config_list.config[0].model_version_policy.latest.num_versions == 1


def _state(env):
    return (env.config.read_text(), env.server.resolve("toy").number,
            [(e.id, e.state) for e in env.lin.executions(limit=None) if e.type != "Rollback"],
            len(env.lin.artifacts(limit=None)))


def _assert_refused(env, message, **kw):
    before = _state(env)
    n = len(env.lin.executions("Rollback", limit=None))
    with pytest.raises(RollbackFailed, match=message):
        env.lin.rollback("toy", **{**env.kw, **kw})
    assert _state(env) == before  # config, server and store as they were ...
    rolls = env.lin.executions("Rollback", limit=None)
    assert len(rolls) == n + 1 and rolls[0].state == "FAILED"  # ... plus a FAILED execution
    import re

    assert re.search(message, rolls[0].properties["error_message"])
    return rolls[0]


def test_every_refusal_leaves_everything_as_it_was(env, tmp_path):
    _reset(env)
    _assert_refused(env, "version 9 was never pushed", to=9)

    path2 = Path(env.pushed[2].uri)
    saved = tmp_path / "v2"
    shutil.copytree(path2, saved)
    (path2 / "saved_model.pb").write_bytes(b"tampered")
    _assert_refused(env, "changed since they were pushed", to=2)
    shutil.rmtree(path2)
    _assert_refused(env, "missing", to=2)
    shutil.copytree(saved, path2)

    env.add_version(4.0, blessed=False, force=True)   # version 4, force-pushed
    _reset_to = env.lin.rollback("toy", to=3, **env.kw)            # pin 3 so 4 is not serving
    assert _reset_to.version == 3
    ex = _assert_refused(env, "force-pushed without a blessing.*--force overrides", to=4)
    assert ex.properties["target_version"] == 4

    env.lin.taint(env.lin.inputs(env.lin.producers(env.pushed[2])[0])["model"][0], "trained on leaked labels")
    _assert_refused(env, "is tainted: trained on leaked labels", to=2)
    forced = env.lin.rollback("toy", to=2, force=True, **env.kw)   # --force overrides, recorded
    assert forced.version == 2 and forced.execution.properties["forced"] is True
    assert env.lin.rollback("toy", last_good=True, **env.kw).version == 3  # skips tainted 2, unblessed 4

    # a corrupt SavedModel at the target (pushed that way): the load fails, the old config comes back
    env.add_version(5.0, corrupt=True)
    env.lin.rollback("toy", to=3, **env.kw)
    _assert_refused(env, "could not load toy version 5", to=5)
    assert _grpc_predict(env, [1.0])[0] == 3

    # the server down: nothing changes either, the config file byte for byte (comments too)
    env.config.write_text("# pinned by the on-call, see the incident doc\n" + env.config.read_text())
    kw = dict(env.kw, server="127.0.0.1:1", rest="http://127.0.0.1:1", timeout=3)
    before = _state(env)
    with pytest.raises(RollbackFailed, match="did not answer"):
        env.lin.rollback("toy", to=1, **kw)
    assert _state(env) == before
    assert env.lin.executions("Rollback", limit=1)[0].state == "FAILED"
    env.lin.untaint(env.lin.inputs(env.lin.producers(env.pushed[2])[0])["model"][0], "cleared")


def test_zero_downtime_while_rolling_back_and_forward(env):
    _reset(env)
    env.lin.rollback("toy", to=3, **env.kw)
    timeline = [(time.monotonic(), {3})]  # (since, versions allowed)
    answers, errors = [], []
    stop = threading.Event()

    def client():
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline and len(answers) < 20000:
            t0 = time.monotonic()
            try:
                v, y = _grpc_predict(env, [1.0])
                answers.append((t0, time.monotonic(), v, y[0]))
            except Exception as exc:  # any failed request fails the test
                errors.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    current = 3
    for target in (1, 3, 2, 3, 1, 3):
        t0 = time.monotonic()
        timeline.append((t0, {current, target}))
        env.lin.rollback("toy", to=target, **env.kw)
        # the server retires the old version right after the new one is AVAILABLE
        deadline = time.monotonic() + 10
        while env.server.resolve("toy").number != target and time.monotonic() < deadline:
            time.sleep(0.01)
        timeline.append((time.monotonic(), {target}))
        current = target
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(answers) > 50
    for start, end, v, y in answers:
        allowed = set()
        for i, (since, versions) in enumerate(timeline):
            until = timeline[i + 1][0] if i + 1 < len(timeline) else float("inf")
            if since <= end and start <= until:
                allowed |= versions
        assert v in allowed and y == float(v), (start, end, v)
    assert {v for *_, v, _ in answers} >= {1, 2, 3}


def test_example_model_answers_match_the_savedmodel_in_process(pipeline):
    from lineage.serving.server.tfenv import tf

    TF = tf()
    lin, home = pipeline
    server = ModelServer(str(home / "serving" / "models.config"), grpc_port=0, rest_port=0).start()
    try:
        rows = [{"text": "The ramen was delicious and fresh.", "cuisine": "japanese", "price_level": 2},
                {"text": "Cold pizza, rude staff, never again", "cuisine": "italian", "price_level": 1}]
        status, body = _http("POST", f"http://127.0.0.1:{server.rest_port}/v1/models/reviews:predict",
                             {"instances": rows})
        assert status == 200
        pushed = lin.provenance("reviews:2").pushed
        fn = TF.saved_model.load(pushed.uri).signatures["serving_default"]
        want = fn(text=TF.constant([r["text"] for r in rows]), cuisine=TF.constant([r["cuisine"] for r in rows]),
                  price_level=TF.constant([r["price_level"] for r in rows], TF.int64))["probability"].numpy()
        assert [round(p, 5) for p in body["predictions"]] == [round(float(p), 5) for p in want]
        assert want[0] > 0.5 > want[1]
        status, cols = _http("POST", f"http://127.0.0.1:{server.rest_port}/v1/models/reviews/versions/2:predict",
                             {"inputs": {"text": [rows[0]["text"]], "cuisine": [rows[0]["cuisine"]],
                                         "price_level": [2]}})
        assert status == 200 and len(cols["outputs"]) == 1
        import grpc
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "reviews"
        req.inputs["text"].CopyFrom(TF.make_tensor_proto([r["text"] for r in rows]))
        req.inputs["cuisine"].CopyFrom(TF.make_tensor_proto([r["cuisine"] for r in rows]))
        req.inputs["price_level"].CopyFrom(TF.make_tensor_proto([r["price_level"] for r in rows], dtype=TF.int64))
        resp = stub.Predict(req, timeout=30)
        assert resp.model_spec.version.value == pushed.properties["pushed_version"]
        assert abs(TF.make_ndarray(resp.outputs["probability"]) - want).max() < 1e-6
        status, cls = _http("POST", f"http://127.0.0.1:{server.rest_port}/v1/models/reviews:classify",
                            {"signature_name": "classify", "examples": rows})
        assert status == 200 and [round(r[1][1], 5) for r in cls["results"]] == [round(float(p), 5) for p in want]
    finally:
        server.stop()


def test_cli_serve_rollback_promote_unpin(tmp_path):
    """The commands as users type them: `lineage serve` in its own process, `lineage rollback /
    promote / unpin / history` against it, curl-style HTTP on the REST port."""
    import os
    import subprocess
    import sys

    from helpers import free_port, stop_process

    e = Env(tmp_path, Lineage.open(f"sqlite:///{tmp_path / 'metadata.sqlite'}"))
    for d in ("trained", "bless"):
        (tmp_path / d).mkdir()
    e.add_version(1.0)
    e.add_version(2.0)
    grpc_port, rest_port = free_port(), free_port()
    exe = str(Path(sys.executable).parent / "lineage")
    env = {k: v for k, v in os.environ.items() if k != "LINEAGE_STORE"}
    server = subprocess.Popen([exe, "serve", "--store", e.lin.uri, "--grpc-port", str(grpc_port),
                               "--rest-port", str(rest_port), "--poll", "0.2"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{rest_port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if _http("GET", f"{base}/v1/models/toy")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError(server.stdout.read1(4000).decode())
        assert _http("POST", f"{base}/v1/models/toy:predict", {"instances": [2.0]})[1] == {
            "predictions": [{"k": 2.0, "y": 4.0}]}
        common = ["--store", e.lin.uri, "--server", f"127.0.0.1:{grpc_port}", "--rest", base, "--timeout", "30"]

        def cli(*args):
            return subprocess.run([exe, *args, *common], capture_output=True, text=True, timeout=120, env=env)

        r = cli("rollback", "toy", "--to", "1")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("toy: now serving version 1 (was 2); pinned, label stable -> 1")
        assert _http("POST", f"{base}/v1/models/toy:predict", {"instances": [2.0]})[1]["predictions"][0]["k"] == 1.0
        r = cli("rollback", "toy", "--to", "7")
        assert r.returncode == 1 and "version 7 was never pushed for toy" in r.stderr and "Traceback" not in r.stderr
        r = cli("promote", "toy", "--version", "2", "--label", "canary")
        assert r.returncode == 0, r.stderr
        assert _http("POST", f"{base}/v1/models/toy/labels/canary:predict", {"instances": [1.0]})[1][
            "predictions"][0]["k"] == 2.0
        r = cli("unpin", "toy", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["version"] == 2
        e.add_version(3.0)  # serving the latest again: the server picks a new version up by itself
        deadline = time.time() + 30
        while time.time() < deadline:
            status, body = _http("GET", f"{base}/v1/models/toy/versions/3")
            if status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE":
                break
            time.sleep(0.2)
        assert _http("POST", f"{base}/v1/models/toy:predict", {"instances": [1.0]})[1]["predictions"][0]["k"] == 3.0
        # the server records off the request path: its observation of version 3 lands shortly after
        deadline = time.time() + 30
        while True:
            r = subprocess.run([exe, "history", "toy", "--store", e.lin.uri, "--json"], capture_output=True,
                               text=True, timeout=60, env=env)
            events = json.loads(r.stdout)["events"]
            if any(h["action"] == "observed" and (h["version"], h["state"]) == (3, "AVAILABLE") for h in events) \
                    or time.time() > deadline:
                break
            time.sleep(0.3)
        actions = [(h["action"], h["version"], h["state"]) for h in events if h["action"] != "observed"]
        assert actions == [("push", 1, "COMPLETE"), ("push", 2, "COMPLETE"), ("rollback", 1, "COMPLETE"),
                           ("rollback", 7, "FAILED"), ("promote", 2, "COMPLETE"), ("unpin", None, "COMPLETE"),
                           ("push", 3, "COMPLETE")]
        # `lineage serve` recorded what it did into the store it serves: version 3 became available
        observed = [(h["version"], h["state"]) for h in events if h["action"] == "observed"]
        assert (3, "AVAILABLE") in observed and (2, "AVAILABLE") in observed
        assert json.loads(r.stdout)["state"]["source"] == "observed"
    finally:
        stop_process(server, 30)


def test_server_side_batching_gives_the_same_answers(env, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    server = ModelServer(str(env.config), grpc_port=0, rest_port=0, batch_size=64, batch_timeout_ms=20).start()
    try:
        v = server.resolve("toy")
        k = float(v.number)

        def ask(i):
            out = server.run(v, "", {"x": [float(i), float(i) + 0.5]})
            return out["y"].tolist()

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, range(64)))
        assert answers == [[i * k, (i + 0.5) * k] for i in range(64)]
        [batcher] = server._batchers.values()
        assert batcher.requests == 64 and batcher.calls < 64   # requests shared signature calls
        status, body = _http("POST", f"http://127.0.0.1:{server.rest_port}/v1/models/toy:predict",
                             {"instances": [1.0, 2.0]})
        assert status == 200 and [p["y"] for p in body["predictions"]] == [k, 2 * k]
        status, body = _http("POST", f"http://127.0.0.1:{server.rest_port}/v1/models/toy:predict",
                             {"instances": [[1.0, 2.0]]})
        # tensors go in as sent (TF Serving does not check declared shapes); another trailing
        # shape never shares a batch with the [n] requests
        assert status == 200 and body["predictions"] == [{"k": [k, k], "y": [k, 2 * k]}]
    finally:
        server.stop()


def test_history_answers_what_the_server_serves_after_promote_and_unpin(env):
    """Promote after a rollback loads the promoted version beside the pinned one; TF Serving then
    answers unlabelled requests with the highest loaded version, and so must `served_at`. After
    an unpin the labels the config dropped are gone from the history too."""
    from lineage.serving.config import model_entry

    def served_by_server():
        return int(env.rest("/v1/models/toy:predict", {"instances": [1.0]})[1]["predictions"][0]["k"])

    def config_labels():
        return dict(model_entry(read_config(env.config), "toy").version_labels)

    env.lin.rollback("toy", to=1, **env.kw)
    assert served_by_server() == 1 == env.lin.served_at("toy").version
    env.lin.promote("toy", version=2, label="canary", **env.kw)
    state = env.lin.served_at("toy")
    assert served_by_server() == 2 == state.version
    assert state.labels == config_labels() == {"stable": 1, "canary": 2}
    assert env.lin.serving_now(["toy"]) == {"toy": 2}
    env.lin.unpin("toy", **env.kw)
    state = env.lin.served_at("toy")
    assert served_by_server() == 3 == state.version and not state.pinned
    assert state.labels == config_labels() == {}
