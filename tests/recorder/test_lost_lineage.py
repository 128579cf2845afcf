"""Lineage is never lost silently: a path given as a plain parameter is warned about (or recorded
as an input on request), a parameter of the wrong annotated type is refused, -0.0 reads back as
-0.0, two processes never merge under one run name, and a killed run's recorded duration ends
when its process was last alive. Real SQLite stores, real child processes."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from lineage import Lineage, record, run, step, use
from lineage.errors import AlreadyExists, InvalidInput
from lineage.recorder.step import LineageWarning
from lineage.types import Dataset, Model


def test_a_path_parameter_is_warned_about_once_naming_the_fix(lin, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("a\nb\n")

    @step
    def count(src: Path, label: str = "x"):
        return len(Path(src).read_text().splitlines())

    with use(lin), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert count(data) == 2
        assert count(data) == 2
    said = [str(w.message) for w in caught if issubclass(w.category, LineageWarning)]
    assert len(said) == 1, said   # once per step and parameter
    assert "parameter 'src' names an existing file" in said[0] and "Input[Dataset]" in said[0]
    assert "paths_as_inputs=True" in said[0]
    [e, _] = lin.executions("count")
    assert e.params["src"] == data and lin.inputs(e) == {}   # a path reads back a path (a plain value)


def test_paths_as_inputs_records_the_file_as_a_fingerprinted_input(lin, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("a\nb\n")

    @step(paths_as_inputs=True)
    def count(src, note: str = "x"):   # unannotated, given a Path
        return len(Path(src).read_text().splitlines())   # the body still gets the path

    with use(lin), warnings.catch_warnings():
        warnings.simplefilter("error", LineageWarning)   # no warning: nothing is lost
        assert count(data) == 2
    [e] = lin.executions("count")
    [src] = lin.inputs(e)["src"]
    assert (src.type, src.path, "src" in e.params) == ("Dataset", data, False)
    assert src.fingerprint.startswith("sha256:")
    assert [a.id for a in lin.upstream(f"e{e.id}").artifacts()] == [src.id]   # in provenance


def test_a_parameter_of_the_wrong_annotated_type_is_refused_before_anything_runs(lin):
    ran = []

    @step
    def train(epochs: int, lr: float = 0.1, name: str = "m", fast: bool = False):
        ran.append(epochs)

    with use(lin):
        with pytest.raises(InvalidInput, match=r"parameter 'epochs' is annotated int but was given 'many' \(str\)"):
            train("many")
        with pytest.raises(InvalidInput, match="parameter 'lr' is annotated float but was given True"):
            train(3, lr=True)
        with pytest.raises(InvalidInput, match="parameter 'fast' is annotated bool"):
            train(3, fast=1)
        train(3, lr=1)   # an int is a real number
    assert ran == [3]
    assert [e.params["epochs"] for e in lin.executions("train")] == [3]   # the refused calls left nothing


def test_an_artifact_passed_to_a_plain_parameter_names_the_annotation_to_use(lin, tmp_path):
    """A recorded artifact given where no Input[T] is declared (``source: Dataset``): the error
    says to annotate it Input[Dataset]; it used to say a Artifact cannot be recorded."""
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    raw = lin.register(Dataset.at(data))

    @step
    def fit(source: Dataset, lr: float):
        pass

    before = [e.id for e in lin.executions(limit=None)]
    with use(lin):
        with pytest.raises(InvalidInput, match=rf"parameter 'source' was given an artifact \(a{raw.id} Dataset "
                                               r".*annotate it Input\[Dataset\]"):
            fit(raw, 0.1)
    assert [e.id for e in lin.executions(limit=None)] == before   # nothing was recorded


def test_a_step_returning_an_artifact_is_told_that_outputs_are_output_arguments(lin, tmp_path):
    """``return Model.at(path)`` recorded nothing and said nothing: the model was lost to
    provenance. Now a LineageWarning names the artifact and the Output[T] argument to declare."""
    out = tmp_path / "model"

    @step
    def fit(lr: float):
        out.mkdir(exist_ok=True)
        return Model.at(out)

    with use(lin):
        with pytest.warns(LineageWarning, match=r"step fit returned an artifact that is not recorded \(Model "
                                                 r".*`model: Output\[Model\]`"):
            fit(0.1)
    [e] = lin.executions("fit")
    assert lin.outputs(e) == {}                     # what the warning is about


def test_negative_zero_reads_back_as_negative_zero(lin):
    with use(lin):
        e = record("T", params={"x": -0.0, "y": 0.0}).execution
    p = lin.execution(e.id).params
    assert math.copysign(1.0, p["x"]) == -1.0 and math.copysign(1.0, p["y"]) == 1.0


CHILD = textwrap.dedent("""
    import sys, time
    from lineage import Lineage, run, record, use
    lin = Lineage.open(sys.argv[1])
    with run(pipeline="p", name="nightly", store=lin), use(lin):
        record("Clean", params={"who": "first"})
        print("started", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def test_two_processes_never_merge_under_one_run_name(sqlite_uri, tmp_path):
    first = subprocess.Popen([sys.executable, "-c", CHILD, sqlite_uri, "4"], stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "started"
    lin = Lineage.open(sqlite_uri)
    with pytest.raises(AlreadyExists, match=r"run 'nightly' is running in another process \(.*\); .*resume=True"):
        with run(pipeline="p", name="nightly", store=lin):
            pytest.fail("the body must not run")
    with run(pipeline="p", name="nightly", store=lin, resume=True), use(lin):   # on purpose: allowed
        record("Clean", params={"who": "second"})
    first.wait(30)
    assert first.returncode == 0
    steps = lin.run_steps("nightly")
    assert sorted(e.params["who"] for e in steps) == ["first", "second"]
    assert lin.store.get_context_by_name("PipelineRun", "nightly").properties["state"] == "COMPLETE"


def test_a_killed_runs_duration_ends_when_its_process_was_last_alive(sqlite_uri):
    child = subprocess.Popen([sys.executable, "-c", CHILD, sqlite_uri, "60"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "started"
    child.kill()
    child.wait(30)
    died = time.time()
    time.sleep(3)   # the fix comes later than the death
    lin = Lineage.open(sqlite_uri)
    report, doctor = lin.doctor(fix=True, check_files=False)
    assert doctor is not None
    ctx = lin.store.get_context_by_name("PipelineRun", "nightly")
    assert ctx.properties["state"] == "FAILED"
    assert ctx.properties["ended_at"] <= died + 0.5, (ctx.properties["ended_at"], died)
    assert ctx.properties["ended_at"] >= ctx.properties["started_at"]
    # a new process may take the name over once its owner is gone
    with run(pipeline="p", name="nightly", store=lin):
        pass
