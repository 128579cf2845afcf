"""One step recorded with MLflow, the way bench_recorder.py records it with lineage: a run with
5 parameters, its 2 inputs named (as tags) and 1 output file logged as an artifact.

Runs in MLflow's own virtual environment (MLflow pins a protobuf that ML Metadata refuses), made
by ``bench/run_all``; prints ``{"ms_per_step": ...}``:

    bench/.venv-mlflow/bin/python bench/mlflow_step.py --backend sqlite --steps 200 --dir /dev/shm/x
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=("sqlite", "file"), default="sqlite")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it, in maintenance mode
    import mlflow

    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}" if args.backend == "sqlite" else (root / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    # artifacts beside the store (in tmpfs too), not in ./mlruns where MLflow puts them by default
    mlflow.create_experiment("bench", artifact_location=(root / "artifacts").as_uri())
    mlflow.set_experiment("bench")
    out = root / "model.bin"
    out.write_bytes(b"w" * 1024)

    def one(i: int) -> None:
        with mlflow.start_run(run_name=f"step-{i}"):
            mlflow.log_params({"lr": i * 0.001, "epochs": 3, "optimizer": "adam", "fine_tune": False, "seed": 1})
            mlflow.set_tags({"input.data": "/a.csv", "input.extra": "/b.csv"})
            mlflow.log_artifact(str(out))

    one(-1)  # warm-up: tables, experiment
    t = time.perf_counter()
    for i in range(args.steps):
        one(i)
    print(json.dumps({"ms_per_step": (time.perf_counter() - t) / args.steps * 1e3,
                      "mlflow": mlflow.__version__, "backend": args.backend}))


if __name__ == "__main__":
    main()
