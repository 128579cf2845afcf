"""Rollback time and predict latency of the local server, next to calling the SavedModel in process.

    .venv/bin/python bench/bench_serving.py [--requests 300] [--rollbacks 10] [--example-home DIR]

Pushes three small versions of a toy model into a fresh store, starts the server on free
loopback ports, then measures in one run:

- rollback: ``Lineage.rollback(model, to=N)`` from the call to version N AVAILABLE (checks
  against the store, config write, gRPC reload, wait), alternating between versions;
- predict latency for one row, p50 and p99, interleaved request by request: the SavedModel's
  signature called in process (``tf.saved_model.load``), the server's own session call without
  the server, gRPC Predict, REST ``:predict`` on one kept-alive connection and on a new
  connection per request.

``--example-home`` (a directory where ``examples/reviews_pipeline.py --store sqlite:///DIR/
metadata.sqlite`` ran) adds the example's ``reviews`` model to the latency comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import lineage.components  # noqa: E402,F401
from lineage.components import push  # noqa: E402
from lineage import Lineage, record, use  # noqa: E402
from lineage.serving.server.tfenv import tf  # noqa: E402
from lineage.serving.server import ModelServer  # noqa: E402
from lineage.types import Model, ModelBlessing  # noqa: E402
from toy_models import build_toy  # noqa: E402
from _out import add_json_arg, write_json  # noqa: E402


def med_ms(xs):
    return statistics.median(xs) * 1e3


def pct_ms(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] * 1e3


def latency(TF, server, name, model_dir, grpc_inputs, rest_body, n):
    """Per-request seconds for each way of asking, interleaved request by request."""
    import http.client

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from lineage.serving.server.savedmodel import load_saved_model

    fn = TF.saved_model.load(str(model_dir)).signatures["serving_default"]
    session_model = load_saved_model(TF, str(model_dir))   # what the server runs, without the server
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
    req = predict_pb2.PredictRequest()
    req.model_spec.name = name
    for k, v in grpc_inputs.items():
        req.inputs[k].CopyFrom(TF.make_tensor_proto(v))
    path = f"/v1/models/{name}:predict"
    url = f"http://127.0.0.1:{server.rest_port}{path}"
    body = json.dumps(rest_body).encode()
    local_args = {k: TF.constant(v) for k, v in grpc_inputs.items()}
    feeds = {k: TF.make_ndarray(t) for k, t in req.inputs.items()}
    kept = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)

    def rest_kept():
        kept.request("POST", path, body=body)
        kept.getresponse().read()

    ways = {"in process (tf.saved_model.load)": lambda: fn(**local_args),
            "in process (the server's session)": lambda: session_model.run("", feeds),
            "gRPC Predict": lambda: stub.Predict(req, timeout=10),
            "REST, kept-alive connection": rest_kept,
            "REST, new connection": lambda: urllib.request.urlopen(urllib.request.Request(url, body), timeout=10).read()}
    times = {k: [] for k in ways}
    for f in ways.values():
        f()
    for _ in range(n):
        for k, f in ways.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    kept.close()
    return times


RESULTS: dict = {}


def report(title, times, n):
    base = med_ms(times["in process (the server's session)"])
    RESULTS[title] = {k: {"p50_ms": med_ms(xs), "p99_ms": pct_ms(xs, 99), "ratio": med_ms(xs) / base}
                      for k, xs in times.items()}
    print(f"{title}, 1 row, {n} requests each, interleaved:")
    for k, xs in times.items():
        print(f"  {k:36s} p50 {med_ms(xs):6.2f} ms ({med_ms(xs) / base:4.1f}x)   p99 {pct_ms(xs, 99):6.2f} ms")
    ratio = med_ms(times["REST, kept-alive connection"]) / med_ms(times["gRPC Predict"])
    print(f"  REST kept-alive p50 / gRPC p50: {ratio:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--rollbacks", type=int, default=10)
    ap.add_argument("--example-home", type=Path, default=None)
    add_json_arg(ap)
    args = ap.parse_args()
    TF = tf()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    lin = Lineage.open(f"sqlite:///{tmp / 'metadata.sqlite'}")
    config = tmp / "serving" / "models.config"
    with use(lin):
        for k in (1.0, 2.0, 3.0):
            src = build_toy(tmp / f"toy{k}", k)
            m = record("Train", outputs={"model": Model.at(src)}).model
            b = record("Evaluate", inputs={"model": m},
                       outputs={"blessing": ModelBlessing.at(tmp / f"b{k}", blessed=True)}).blessing
            push(m, b, model_name="toy", serving_root=tmp / "serving", config_path=config)
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=1.0).start()
    kw = {"config_path": str(config), "server": f"127.0.0.1:{server.grpc_port}",
          "rest": f"http://127.0.0.1:{server.rest_port}", "timeout": 60}
    try:
        times = []
        for i in range(args.rollbacks):
            target = (1, 2)[i % 2]
            t = time.perf_counter()
            lin.rollback("toy", to=target, **kw)
            times.append(time.perf_counter() - t)
        RESULTS["rollback"] = {"p50_ms": med_ms(times), "max_ms": max(times) * 1e3, "n": len(times)}
        print(f"rollback (call -> target AVAILABLE, checks and recording included): median "
              f"{med_ms(times):.0f} ms, max {max(times) * 1e3:.0f} ms over {len(times)}")
        report("toy predict", latency(TF, server, "toy", tmp / "serving" / "toy" / "2",
                                      {"x": [1.0]}, {"instances": [1.0]}, args.requests), args.requests)
    finally:
        server.stop()
    if args.example_home:
        server = ModelServer(str(args.example_home / "serving" / "models.config"), grpc_port=0, rest_port=0).start()
        try:
            versions = sorted(int(p.name) for p in (args.example_home / "serving" / "reviews").iterdir() if p.name.isdigit())
            row = {"text": "The ramen was delicious and fresh.", "cuisine": "japanese", "price_level": 2}
            report("reviews predict", latency(
                TF, server, "reviews", args.example_home / "serving" / "reviews" / str(versions[-1]),
                {"text": [row["text"]], "cuisine": [row["cuisine"]], "price_level": TF.constant([2], TF.int64)},
                {"instances": [row]}, args.requests), args.requests)
        finally:
            server.stop()
    write_json(args.json, RESULTS)
    sys.stdout.flush()
    import os

    os._exit(0)  # see examples/reviews_pipeline.py: TensorFlow's teardown can segfault


if __name__ == "__main__":
    main()
