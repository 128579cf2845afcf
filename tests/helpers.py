"""Recording helpers shared by the query, CLI and explorer tests: a small hand-recorded
pipeline with the example's shape, pushes and serving operations."""

from __future__ import annotations

from lineage import record
from lineage.types import Dataset, Examples, HubModule, Model, ModelBlessing, ModelEvaluation, PushedModel


def record_pipeline(lin, tmp_path, *, module_version=1, lr=0.01, base=None, raw=None, run_name="r", baseline=None):
    """A hand-recorded pipeline with the example's shape, pushed to the `reviews` endpoint."""
    from lineage import run

    with run(pipeline="reviews", name=run_name, store=lin):
        if raw is None:
            data = tmp_path / "reviews.csv"
            data.write_text("text,label\ngood,1\nbad,0\n")
            raw = lin.register(Dataset.at(data))
        module = record("PublishModule", outputs={"module": HubModule.at(
            f"/hub/me/text/{module_version}", handle=f"me/text/{module_version}", version=module_version)}).module
        examples = record("Ingest", inputs={"raw": raw}, outputs={"examples": Examples.at(f"/ex/{run_name}")}).examples
        inputs = {"examples": examples, "module": module}
        if base is not None:
            inputs["base_model"] = base
        model = record("Train", inputs=inputs, outputs={"model": Model.at(f"/models/{run_name}")},
                       params={"lr": lr, "trainable": False},
                       properties={"git_commit": f"commit-{run_name}"}).model
        ev = record("Evaluate", inputs={"model": model, "examples": examples,
                                        **({"baseline": baseline} if baseline is not None else {})},
                    outputs={"evaluation": ModelEvaluation.at(f"/eval/{run_name}", accuracy=0.8 + lr),
                             "blessing": ModelBlessing.at(f"/bless/{run_name}", blessed=True)})
    return raw, module, examples, model, ev


def record_push(lin, model, blessing, version, at, state="COMPLETE", name="reviews"):
    return record("Push", inputs={"model": model, "blessing": blessing},
                  outputs={"pushed": PushedModel.at(f"/serving/{name}/{version}", model_name=name,
                                                    pushed_version=version)},
                  started_at=at - 0.5, ended_at=at, state=state,
                  properties={"model_name": name}, contexts=[("ServingEndpoint", name)], store=lin).pushed


def record_serving_op(lin, op, target, at, state="COMPLETE", name="reviews", label=None):
    props = {"model_name": name}
    if target is not None:
        props["target_version"] = target.properties["pushed_version"]
    if label:
        props["label"] = label
    return record(op, inputs={"target": target} if target is not None else {}, started_at=at - 0.2,
                  ended_at=at, state=state, properties=props, contexts=[("ServingEndpoint", name)],
                  store=lin).execution




def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc, timeout: float = 20) -> None:
    """Terminate a server started by a test, killing it if it does not stop in time."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def cli(*args: str, cwd=None, env: dict = None):
    """The installed `lineage` console script, run as a user runs it (LINEAGE_STORE unset)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("lineage", path=str(Path(sys.executable).parent)) or "lineage"
    full_env = {k: v for k, v in os.environ.items() if k != "LINEAGE_STORE"}
    full_env.update(env or {})
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=120)


def served_store(lin, tmp_path):
    """Two pipelines (module v1, then v2 warm-started from model 1), both pushed as `reviews`,
    then a rollback to version 1: ``(lin, raw, module, m1, m2)``."""
    raw, module, _, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    _, _, _, m2, ev2 = record_pipeline(lin, tmp_path, module_version=2, lr=0.05, raw=raw, base=m1, run_name="r2")
    p1 = record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    record_push(lin, m2, ev2.blessing, 2, at=2000.0)
    record_serving_op(lin, "Rollback", p1, at=3000.0)
    return lin, raw, module, m1, m2


def run_example_pipeline(home) -> str:
    """examples/reviews_pipeline.py on the first 600 reviews into a store in ``home``: its URI."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import reviews_pipeline

    uri = f"sqlite:///{home / 'metadata.sqlite'}"
    assert reviews_pipeline.main(["--store", uri, "--rows", "600", "--epochs", "4", "-q"]) == 0
    return uri
