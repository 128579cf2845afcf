"""What request logging at sampling_rate 1.0 adds to gRPC Predict, against logging off, same run.

    .venv/bin/python bench/bench_prediction_log.py [--requests 2000]

Two servers on free loopback ports serve the same toy model: one with a ``logging_config`` at
``sampling_rate: 1.0`` (every request written as a PredictionLog), one without. One-row Predict
requests alternate between them, one client, one channel each; p50 and p99 of each, and the
records the logging server wrote (with what it dropped, which must be nothing at this rate of
one client).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import grpc  # noqa: E402

from lineage.serving.server import ModelServer  # noqa: E402
from lineage.serving.server.tfenv import tf  # noqa: E402
from toy_models import build_toy  # noqa: E402
from _out import add_json_arg, write_json  # noqa: E402


def _config(path: Path, base: Path, logs: Optional[Path] = None) -> Path:
    logging = (f'logging_config {{ log_collector_config {{ type: "tfrecord" filename_prefix: "{logs}/toy" }} '
               f'sampling_config {{ sampling_rate: 1.0 }} }}') if logs else ""
    path.write_text(f'model_config_list {{ config {{ name: "toy" base_path: "{base}" '
                    f'model_platform: "tensorflow" {logging} }} }}\n')
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    add_json_arg(ap)
    args = ap.parse_args()
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    TF = tf()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        base = tmp_path / "toy"
        build_toy(base / "1", 2.0)
        closed = []
        on = ModelServer(str(_config(tmp_path / "on.config", base, tmp_path / "logs")), grpc_port=0, rest_port=0,
                         poll_seconds=0, on_log_closed=closed.append).start()
        off = ModelServer(str(_config(tmp_path / "off.config", base)), grpc_port=0, rest_port=0,
                          poll_seconds=0).start()
        try:
            stubs = {name: prediction_service_pb2_grpc.PredictionServiceStub(
                grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}")) for name, s in (("on", on), ("off", off))}
            req = predict_pb2.PredictRequest()
            req.model_spec.name = "toy"
            req.inputs["x"].CopyFrom(TF.make_tensor_proto([1.0], dtype=TF.float32))
            for stub in stubs.values():  # warm up
                for _ in range(50):
                    stub.Predict(req, timeout=30)
            times = {"on": [], "off": []}
            for i in range(args.requests):
                order = ("on", "off") if i % 2 else ("off", "on")
                for name in order:
                    t = time.perf_counter()
                    stubs[name].Predict(req, timeout=30)
                    times[name].append(time.perf_counter() - t)
            on.request_log.flush()
            written, dropped = on.request_log.written_total, on.request_log.dropped_total
        finally:
            on.stop()
            off.stop()
    p50 = {k: statistics.median(v) * 1000 for k, v in times.items()}
    p99 = {k: sorted(v)[int(0.99 * len(v))] * 1000 for k, v in times.items()}
    print(f"gRPC Predict, one row, {args.requests} requests each, alternating:")
    print(f"  logging off              p50 {p50['off']:.3f} ms   p99 {p99['off']:.3f} ms")
    print(f"  logging at rate 1.0      p50 {p50['on']:.3f} ms   p99 {p99['on']:.3f} ms   "
          f"p50 {100 * (p50['on'] / p50['off'] - 1):+.1f}%")
    print(f"  written {written} PredictionLogs (the warm-up's included), dropped {dropped}; "
          f"{len(closed)} file(s) closed")
    write_json(args.json, {"requests": args.requests, "p50_ms": p50, "p99_ms": p99, "written": written,
                           "dropped": dropped, "overhead_p50": p50["on"] / p50["off"] - 1})


if __name__ == "__main__":
    main()
