"""A model server's life: graceful stop with requests in flight, and what the lease costs.

    .venv/bin/python bench/bench_server_life.py [--rounds 3] [--requests 2000]

Pushes a toy model into a fresh store and starts `lineage serve` processes on free loopback
ports, recording into the store, with a logging_config at rate 1.0 (every request logged):

- graceful stop: 4 gRPC and 4 REST clients send Predict requests without pause; after 2 s the
  server gets SIGTERM. Measured: seconds from the signal to the process's exit (code 0); the
  requests answered, refused (connection refused, or gRPC UNAVAILABLE) and failed at the client;
  and the requests the server took and answered by its own count (printed as it exits), so that a
  request taken and then lost shows as the difference (the goal is 0). ``--rounds`` servers.
- the lease's cost: two servers side by side, one renewing its lease every 10 s (the default),
  one every 0.05 s (200x as often), and a third with recording off (no lease); gRPC Predict p50
  and p99 asked of each in turn, request by request. The default heartbeat's cost is estimated
  from the 0.05 s one (it writes 200x as often).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from lineage import Lineage, record, use  # noqa: E402
from lineage.components import push  # noqa: E402
from lineage.serving.config import model_entry, read_config, write_config  # noqa: E402
from lineage.types import Model, ModelBlessing  # noqa: E402
from helpers import free_port  # noqa: E402
from toy_models import build_toy  # noqa: E402
from _out import add_json_arg, write_json  # noqa: E402

EXE = str(Path(sys.executable).parent / "lineage")


def setup(tmp: Path) -> tuple:
    uri = f"sqlite:///{tmp / 'metadata.sqlite'}"
    lin = Lineage.open(uri)
    config = tmp / "serving" / "models.config"
    src = build_toy(tmp / "trained", 2.0)
    with use(lin):
        m = record("Train", outputs={"model": Model.at(src)}).model
        b = record("Evaluate", inputs={"model": m}, outputs={"blessing": ModelBlessing.at(tmp / "b", blessed=True)}).blessing
    push(m, b, model_name="toy", serving_root=tmp / "serving", config_path=config, store=lin)
    cfg = read_config(config)
    entry = model_entry(cfg, "toy")
    entry.logging_config.log_collector_config.type = "tfrecord"
    entry.logging_config.log_collector_config.filename_prefix = str(tmp / "logs" / "toy")
    entry.logging_config.sampling_config.sampling_rate = 1.0
    write_config(config, cfg)
    lin.close()
    return uri, config


def start(uri: str, config: Path, heartbeat: float = 10.0, record_it: bool = True) -> tuple:
    g, r = free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "LINEAGE_STORE"},
           "LINEAGE_HEARTBEAT_SECONDS": str(heartbeat)}
    cmd = [EXE, "serve", "-v", "--store", uri, "--config", str(config), "--grpc-port", str(g), "--rest-port", str(r)]
    proc = subprocess.Popen(cmd + ([] if record_it else ["--no-record"]), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    threading.Thread(target=_keep_phases, args=(proc,), daemon=True).start()   # drained: it never blocks
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{r}/v1/models/toy", timeout=5) as resp:
                if resp.status == 200:
                    return proc, g, r
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


PHASES: dict = {}


def _keep_phases(proc: subprocess.Popen) -> None:
    """The server's log (-v), drained; its "stopped: ..." line says where the stop's time went."""
    for line in proc.stderr:
        if "stopped: REST drained" in line:
            PHASES[proc.pid] = line.split("stopped: ", 1)[1].strip()


def stub(port: int):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def predict_request():
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    req = predict_pb2.PredictRequest()
    req.model_spec.name = "toy"
    req.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float32))
    return req


def graceful_stop(uri: str, config: Path) -> dict:
    import grpc

    proc, g, r = start(uri, config)
    counts = {"answered": 0, "refused": 0, "failed": 0}
    failures: list = []
    lock = threading.Lock()
    stop = threading.Event()
    req = predict_request()

    def count(what: str, detail: str = "") -> None:
        with lock:
            counts[what] += 1
            if detail and len(failures) < 10:
                failures.append(detail)

    def grpc_client() -> None:
        s = stub(g)
        while not stop.is_set():
            try:
                s.Predict(req, 10)
                count("answered")
            except grpc.RpcError as exc:
                # UNAVAILABLE: the call was never taken (connection refused, or the server had
                # stopped taking calls); anything else ended a call that was taken
                refused = exc.code() == grpc.StatusCode.UNAVAILABLE
                count("refused" if refused else "failed", "" if refused else f"gRPC {exc.code().name}: {exc.details()}")
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    time.sleep(0.01)

    def rest_client() -> None:
        body = json.dumps({"instances": [1.0]}).encode()
        while not stop.is_set():
            request = urllib.request.Request(f"http://127.0.0.1:{r}/v1/models/toy:predict", data=body, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    json.loads(resp.read())
                count("answered")
            except urllib.error.HTTPError as exc:
                count("failed", f"REST {exc.code}")
            except (ConnectionRefusedError, urllib.error.URLError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, ConnectionRefusedError):
                    count("refused")
                    time.sleep(0.01)
                else:
                    count("failed", f"REST {reason!r}")
            except (ConnectionResetError, ValueError, OSError) as exc:
                count("failed", f"REST {exc!r}")

    threads = [threading.Thread(target=grpc_client) for _ in range(4)] + \
        [threading.Thread(target=rest_client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    took = time.monotonic() - t0
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(30)
    # the server's own count of the requests it took and answered (printed as it exits), against
    # the answers the clients received: any difference is a request taken and lost
    said = proc.stdout.read()
    m = re.search(r"(\d+) requests answered since the start", said)
    taken = int(m.group(1)) if m else -1
    time.sleep(0.2)
    return {"stop_s": took, "exit_code": code, **counts, "server_answered": taken, "phases": PHASES.get(proc.pid, ""),
            "taken_not_received": taken - counts["answered"] - 1 if taken >= 0 else None,   # 1: the readiness GET
            "failures": failures}


def lease_cost(uri: str, config: Path, n: int) -> dict:
    sides = {"heartbeat 10 s (default)": start(uri, config, 10.0),
             "heartbeat 0.05 s (200x)": start(uri, config, 0.05),
             "no recording (no lease)": start(uri, config, 10.0, record_it=False)}
    stubs = {k: stub(v[1]) for k, v in sides.items()}
    req = predict_request()
    times: dict = {k: [] for k in sides}
    try:
        for s in stubs.values():   # warm up
            for _ in range(50):
                s.Predict(req, 10)
        for _ in range(n):
            for k, s in stubs.items():
                t = time.perf_counter()
                s.Predict(req, 10)
                times[k].append(time.perf_counter() - t)
    finally:
        for proc, _, _ in sides.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    out = {}
    base = statistics.median(times["no recording (no lease)"])
    for k, xs in times.items():
        xs = sorted(xs)
        out[k] = {"p50_ms": statistics.median(xs) * 1e3, "p99_ms": xs[int(0.99 * (len(xs) - 1))] * 1e3,
                  "ratio": statistics.median(xs) / base}
    fast = out["heartbeat 0.05 s (200x)"]["p50_ms"] - out["heartbeat 10 s (default)"]["p50_ms"]
    out["default heartbeat's estimated share of p50"] = max(0.0, fast / 199) / out["heartbeat 10 s (default)"]["p50_ms"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000)
    add_json_arg(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        uri, config = setup(Path(d))
        stops = [graceful_stop(uri, config) for _ in range(args.rounds)]
        cost = lease_cost(uri, config, args.requests)
    result = {"graceful_stop": {"rounds": stops, "stop_s_median": statistics.median(s["stop_s"] for s in stops),
                                "stop_s_max": max(s["stop_s"] for s in stops),
                                "failed_after_taken": sum(s["taken_not_received"] or 0 for s in stops),
                                "failed_at_the_client": sum(s["failed"] for s in stops),
                                "answered": sum(s["answered"] for s in stops)},
              "lease_cost_grpc_predict": cost}
    print(json.dumps(result, indent=1))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
