"""Distributed serving: a head's Predict through its remote part, and the module server's batching.

    .venv/bin/python bench/bench_distributed.py [--rounds 5] [--requests 300] [--store-dir DIR]

Builds (once, cached in bench/.cache/distributed) the example pipeline on 600 rows and
examples/distributed_serving.py on it, then starts three servers in this process on loopback:
the undivided models (models.config), the module server (modules.config) and the heads
(heads.config). Measured, rounds interleaved:

- a head's gRPC Predict (one row) against the undivided model's, p50 and p99 of ``--requests``
  each per round, request by request: the cost of the remote part (goal <= 1.5x p50); beside
  them the floor of the extra hop, an empty gRPC Predict to a server that answers at once (the
  remote part is one such call plus the module's own work), and the same with ``--rows`` rows
  per request (the module's work grows with the rows, the hop's cost does not);
- the module server's throughput with two heads sending at once (8 client threads each through
  the heads' server, one row per request), with the module server batching (--batch-size 64
  --batch-timeout-ms 2) and without: requests/s answered by the heads, and the module server's
  signature calls per request.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "examples"))

import lineage.components  # noqa: E402,F401
from helpers import free_port  # noqa: E402
from _out import add_json_arg, write_json  # noqa: E402

ROW = {"text": "The ramen was delicious and fresh.", "cuisine": "japanese", "price_level": 2}


def build(home: Path, module_port: int) -> str:
    uri = f"sqlite:///{home / 'metadata.sqlite'}"
    if (home / "serving" / "heads.config").exists():
        return uri
    import distributed_serving
    import reviews_pipeline

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    print(f"building the example store in {home} (once)", flush=True)
    assert reviews_pipeline.main(["--store", uri, "--rows", "600", "--epochs", "4", "-q"]) == 0
    assert distributed_serving.main(["--store", uri, "--module-server", f"127.0.0.1:{module_port}", "-q"]) == 0
    return uri


def stub_and_request(port: int, model: str, rows: int = 1):
    import grpc
    from lineage.serving.server.tfenv import tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    TF = tf()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    req.model_spec.version.value = 1
    req.inputs["text"].CopyFrom(TF.make_tensor_proto([ROW["text"] + f" ({i})" for i in range(rows)]))
    req.inputs["cuisine"].CopyFrom(TF.make_tensor_proto([ROW["cuisine"]] * rows))
    req.inputs["price_level"].CopyFrom(TF.make_tensor_proto([ROW["price_level"]] * rows, dtype=TF.int64))
    return stub, req


def empty_predict_server():
    """The floor of one gRPC hop: a server whose Predict answers an empty response at once."""
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Empty(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            return predict_pb2.PredictResponse()

    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Empty(), srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    return srv, port


def latencies(stub, req, n: int):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        stub.Predict(req, timeout=30)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def throughput(heads_port: int, module_server, seconds: float, threads_per_head: int = 8):
    done, errors = [0], [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    calls0 = sum(b.calls for b in module_server._batchers.values())
    asked0 = module_server.metrics.total()

    def client(model: str) -> None:
        stub, req = stub_and_request(heads_port, model)
        req.model_spec.ClearField("version")
        while time.monotonic() < stop:
            try:
                stub.Predict(req, timeout=30)
                with lock:
                    done[0] += 1
            except Exception:
                with lock:
                    errors[0] += 1

    ts = [threading.Thread(target=client, args=(m,)) for m in ("reviews-split", "reviews-text-split")
          for _ in range(threads_per_head)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - t0
    module_requests = module_server.metrics.total() - asked0
    calls = sum(b.calls for b in module_server._batchers.values()) - calls0
    return {"rps": done[0] / elapsed, "answered": done[0], "errors": errors[0], "module_requests": module_requests,
            "module_calls": calls if module_server.batch_size > 1 else module_requests}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=5.0, help="each throughput measurement")
    ap.add_argument("--rows", type=int, default=64, help="rows per request of the second latency pair")
    ap.add_argument("--store-dir", default=str(ROOT / "bench" / ".cache" / "distributed"))
    add_json_arg(ap)
    args = ap.parse_args()
    from lineage.serving.server import ModelServer

    home = Path(args.store_dir)
    port_file = home / "module-port"
    module_port = int(port_file.read_text()) if port_file.exists() and (home / "serving" / "heads.config").exists() \
        else free_port()
    build(home, module_port)
    port_file.write_text(str(module_port))
    serving = home / "serving"
    from lineage.serving.config import read_config, write_config

    config = read_config(serving / "models.config")   # every version of the undivided models
    for entry in config.model_config_list.config:
        entry.model_version_policy.all.SetInParent()
    write_config(home / "whole.config", config)
    whole = ModelServer(str(home / "whole.config"), grpc_port=0, rest_port=0).start()
    module = ModelServer(str(serving / "modules.config"), grpc_port=module_port, rest_port=0).start()
    batched = ModelServer(str(serving / "modules.config"), grpc_port=0, rest_port=0, batch_size=64,
                          batch_timeout_ms=2).start()
    heads = ModelServer(str(serving / "heads.config"), grpc_port=0, rest_port=0, workers=32).start()
    heads_b = ModelServer(str(serving / "heads.config"), grpc_port=0, rest_port=0, workers=32,
                          remote_servers={"review-text-encoder": f"127.0.0.1:{batched.grpc_port}"}).start()
    empty, empty_port = empty_predict_server()
    try:
        pairs = {"undivided": stub_and_request(whole.grpc_port, "reviews"),
                 "head": stub_and_request(heads.grpc_port, "reviews-split"),
                 "empty hop": stub_and_request(empty_port, "nothing"),
                 f"undivided, {args.rows} rows": stub_and_request(whole.grpc_port, "reviews", args.rows),
                 f"head, {args.rows} rows": stub_and_request(heads.grpc_port, "reviews-split", args.rows)}
        for stub, req in pairs.values():
            latencies(stub, req, 50)   # warm
        lat = {k: [] for k in pairs}
        tput = {"batching off": [], "batching on": []}
        for rnd in range(args.rounds):
            for k, (stub, req) in pairs.items():
                lat[k] += latencies(stub, req, args.requests)
            tput["batching off"].append(throughput(heads.grpc_port, module, args.seconds))
            tput["batching on"].append(throughput(heads_b.grpc_port, batched, args.seconds))
            print(f"round {rnd + 1}: p50 undivided {statistics.median(lat['undivided']):.2f} ms, head "
                  f"{statistics.median(lat['head']):.2f} ms; two heads at once {tput['batching off'][-1]['rps']:.0f}/s "
                  f"unbatched, {tput['batching on'][-1]['rps']:.0f}/s batched", flush=True)
        p50 = {k: statistics.median(v) for k, v in lat.items()}
        p99 = {k: pct(v, 99) for k, v in lat.items()}
        med = {k: {f: statistics.median(r[f] for r in v) for f in ("rps", "module_calls", "module_requests", "errors")}
               for k, v in tput.items()}
        many = f"{args.rows} rows"
        data = {"p50_ms": p50, "p99_ms": p99, "ratio_p50": p50["head"] / p50["undivided"],
                "ratio_p50_rows": p50[f"head, {many}"] / p50[f"undivided, {many}"], "rows": args.rows,
                "added_p50_ms": p50["head"] - p50["undivided"], "hop_floor_p50_ms": p50["empty hop"],
                "throughput": med, "batching_speedup": med["batching on"]["rps"] / med["batching off"]["rps"],
                "calls_per_request_batched": med["batching on"]["module_calls"] / max(1, med["batching on"]["module_requests"]),
                "rounds": args.rounds, "requests": args.requests, "seconds": args.seconds}
        print(f"head Predict p50 {p50['head']:.2f} ms vs undivided {p50['undivided']:.2f} ms: "
              f"{data['ratio_p50']:.2f}x (p99 {p99['head']:.2f} vs {p99['undivided']:.2f} ms); the remote part adds "
              f"{data['added_p50_ms']:.2f} ms, an empty gRPC Predict takes {p50['empty hop']:.2f} ms")
        print(f"{many} per request: head p50 {p50[f'head, {many}']:.2f} ms vs undivided "
              f"{p50[f'undivided, {many}']:.2f} ms: {data['ratio_p50_rows']:.2f}x")
        print(f"two heads at once: {med['batching off']['rps']:.0f} req/s with the module server not batching, "
              f"{med['batching on']['rps']:.0f} req/s batching ({data['batching_speedup']:.2f}x); "
              f"{data['calls_per_request_batched']:.2f} module calls per request when batching")
        write_json(args.json, data)
    finally:
        for s in (heads_b, heads, batched, module, whole):
            s.stop()
        empty.stop(None)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
