"""What is the same for every step of a run (code version, packages, user, host) is recorded
once, on the run; a step keeps only what varies, and every reader still answers with it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from helpers import cli
from lineage import Input, Output, run, step, use
from lineage.codeversion import RUN_CONSTANTS, _environment, code_version
from lineage.types import Dataset, Model


@step(type="Train")
def train(data: Input[Dataset], model: Output[Model], lr: float = 0.1):
    model.path.write_text(f"model {lr}")


def _data(tmp_path: Path) -> Dataset:
    f = tmp_path / "rows.csv"
    f.write_text("a,b\n1,2\n")
    return Dataset.at(f)


def test_a_step_in_a_run_leaves_the_constants_to_its_run_and_readers_fill_them_in(any_lin, tmp_path):
    lin = any_lin
    with run(pipeline="p", name="r1", store=lin):
        model = train(_data(tmp_path), lr=0.5)
    [execution] = lin.producers(model)
    here = {k: v for k, v in code_version().items() if k in RUN_CONSTANTS}
    assert {"python_version", "package_versions", "user", "host"} <= set(here)
    # the step's own row holds none of them; the run's holds each once
    assert not set(execution.properties) & set(RUN_CONSTANTS)
    run_ctx = lin.store.get_context_by_name("PipelineRun", "r1")
    assert {k: run_ctx.properties.get(k) for k in here} == here
    # every reader answers as before
    assert lin.code_of(execution) == here
    prov = lin.provenance(model)
    assert {k: prov.code_version[k] for k in here} == here
    assert prov.ran_by == here["user"]
    assert prov.to_dict()["training"][0]["user"] == here["user"]


def test_a_step_outside_a_run_records_everything_itself(lin, tmp_path):
    with use(lin):
        model = train(_data(tmp_path))
    [execution] = lin.producers(model)
    here = {k: v for k, v in code_version().items() if k in RUN_CONSTANTS}
    assert {k: execution.properties.get(k) for k in here} == here
    assert lin.code_of(execution) == here


def test_a_run_resumed_on_another_host_keeps_what_it_recorded_and_the_new_steps_say_theirs(
        lin, tmp_path, monkeypatch):
    data = _data(tmp_path)
    monkeypatch.setattr(socket, "gethostname", lambda: "machine-a")
    _environment.cache_clear()
    try:
        with run(pipeline="p", name="shared", store=lin):
            first = train(data, lr=0.1)
        monkeypatch.setattr(socket, "gethostname", lambda: "machine-b")
        _environment.cache_clear()
        with run(pipeline="p", name="shared", store=lin):
            second = train(data, lr=0.2)
    finally:
        monkeypatch.undo()
        _environment.cache_clear()
    [e1], [e2] = lin.producers(first), lin.producers(second)
    assert lin.store.get_context_by_name("PipelineRun", "shared").properties["host"] == "machine-a"
    assert "host" not in e1.properties and e2.properties["host"] == "machine-b"
    assert lin.code_of(e1)["host"] == "machine-a" and lin.code_of(e2)["host"] == "machine-b"
    # what is the same on both (the user, the packages) stays on the run alone
    assert "user" not in e2.properties and lin.code_of(e2)["user"] == lin.code_of(e1)["user"]


def test_show_prints_the_code_a_step_has_from_its_run(lin, tmp_path):
    with run(pipeline="p", name="r-show", store=lin):
        model = train(_data(tmp_path))
    [execution] = lin.producers(model)
    r = cli("show", execution.ref, "--store", lin.uri)
    assert r.returncode == 0, r.stderr
    assert "code (its run's)" in r.stdout and socket.gethostname() in r.stdout
    r = cli("show", execution.ref, "--store", lin.uri, "--json")
    assert json.loads(r.stdout)["code_from_run"]["host"] == socket.gethostname()
