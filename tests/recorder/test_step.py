"""@step, run() and record(): what a step run leaves in the store.

Tests taking ``any_lin`` run on a SQLite file and on MariaDB.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import lineage
from lineage import Input, Lineage, Output, record, run, step, use
from lineage.errors import FingerprintError, InvalidInput
from lineage.records import Artifact
from lineage.recorder import current_execution_id
from lineage.types import Dataset, Model

# --------------------------------------------------------------------- the steps

CALLS = {"train": 0}


@step
def clean(raw: Input[Dataset], cleaned: Output[Dataset], min_len: int = 3, lower: bool = True):
    text = raw.path.read_text()
    lines = [l for l in text.splitlines() if len(l) >= min_len]
    cleaned.path.write_text("\n".join(l.lower() if lower else l for l in lines))
    cleaned.properties["rows"] = len(lines)


@step(type="Train", name="tests.train", cache=True)
def train(data: Input[Dataset], model: Output[Model], lr: float = 0.1, layers=(8, 4), opts=None):
    CALLS["train"] += 1
    model.path.mkdir()
    (model.path / "weights.txt").write_text(f"{lr} {data.path.read_text()}")
    return {"loss": 0.25}


@step
def explode(data: Input[Dataset], model: Output[Model], why: str = "boom"):
    model.path.write_text("half written")
    raise RuntimeError(why)


@step
def lazy(data: Input[Dataset], model: Output[Model]):
    pass  # forgets to write its output


@pytest.fixture
def raw(tmp_path: Path) -> Artifact:
    p = tmp_path / "reviews.csv"
    p.write_text("Great food\nok\nTerrible service\n")
    return Dataset.at(p)


def _event_keys(lin: Lineage, execution_id: int):
    return sorted((e.type, e.key, e.artifact_id) for e in lin.events(f"e{execution_id}"))


# ------------------------------------------------------------------------ tests


def test_step_records_inputs_outputs_params_and_contexts(any_lin, raw):
    with run(pipeline="reviews", experiment="baseline", store=any_lin) as r:
        cleaned = clean(raw, min_len=5)
    assert isinstance(cleaned, Artifact) and cleaned.type == "Dataset"
    assert Path(cleaned.uri).read_text() == "great food\nterrible service"
    assert cleaned.custom_properties["rows"] == 2
    assert cleaned.fingerprint.startswith("sha256:")

    [ex] = any_lin.executions("clean")
    assert ex.state == "COMPLETE"
    assert dict(ex.params) == {"min_len": 5, "lower": True}
    assert isinstance(ex.params["min_len"], int) and ex.params["lower"] is True
    assert ex.properties["step"].endswith(":clean")
    assert ex.properties["source_hash"].startswith("sha256:")
    code = any_lin.code_of(ex)      # recorded on the run, once (test_run_constants.py)
    assert code["python_version"] and "ml-metadata" in code["package_versions"]
    assert ex.properties["started_at"] <= ex.properties["ended_at"]

    [raw_stored] = any_lin.artifacts("Dataset", filter_query="properties.external.bool_value = true")
    assert raw_stored.uri == raw.uri
    assert _event_keys(any_lin, ex.id) == [("INPUT", "raw", raw_stored.id), ("OUTPUT", "cleaned", cleaned.id)]

    ctx = {c.type: c for c in any_lin.contexts(ex)}
    assert set(ctx) == {"Pipeline", "PipelineRun", "Experiment"}
    assert ctx["PipelineRun"].name == r.name
    assert ctx["PipelineRun"].properties["state"] == "COMPLETE"
    assert ctx["Pipeline"].name == "reviews" and ctx["Experiment"].name == "baseline"
    # artifacts are attributed to the run, and the run hangs under its pipeline and experiment
    assert {a.id for a in any_lin.store.artifacts_in_context(ctx["PipelineRun"].id)} == {raw_stored.id, cleaned.id}
    assert {p.name for p in any_lin.store.parent_contexts(ctx["PipelineRun"].id)} == {"reviews", "baseline"}
    assert [s.id for s in any_lin.run_steps(r.name)] == [ex.id]


def _observed(lin: Lineage, type_name: str):
    return [(e.state, [ev.key for ev in lin.events(f"e{e.id}")]) for e in lin.executions(type_name)] \
        if lin.store.has_type("execution", type_name) else []


def test_a_quick_step_is_written_once_in_its_end_state(lin, raw):
    seen = {}

    @step
    def quick(data: Input[Dataset], out: Output[Dataset]):
        seen["during"] = _observed(lin, "quick")
        out.path.write_text("x")

    with run(pipeline="p", store=lin):
        quick(raw)
    assert seen == {"during": []}  # nothing written before the body ended
    [e] = lin.executions("quick")
    # one MLMD write: MLMD's update time moves on every later write of the row
    assert e.state == "COMPLETE" and e.create_time_ms == e.update_time_ms
    assert sorted(ev.key for ev in lin.events(f"e{e.id}")) == ["data", "out"]


def test_a_step_still_running_after_the_threshold_is_visible_as_running(lin, raw, monkeypatch):
    monkeypatch.setenv("LINEAGE_RUNNING_AFTER", "0.2")
    seen = {}

    @step
    def slow(data: Input[Dataset], out: Output[Dataset]):
        deadline = time.monotonic() + 20
        while not _observed(lin, "slow") and time.monotonic() < deadline:
            time.sleep(0.02)
        seen["during"] = _observed(lin, "slow")
        seen["owner"] = lin.executions("slow")[0].get("owner", "")
        out.path.write_text("x")

    with run(pipeline="p", store=lin):
        slow(raw)
    assert seen["during"] == [("RUNNING", ["data"])] and f":{os.getpid()}:" in seen["owner"]
    [e] = lin.executions("slow")
    assert e.state == "COMPLETE" and e.update_time_ms > e.create_time_ms


def test_running_after_zero_writes_running_before_every_body(lin, raw, monkeypatch):
    monkeypatch.setenv("LINEAGE_RUNNING_AFTER", "0")
    seen = {}

    @step
    def observe(data: Input[Dataset], out: Output[Dataset]):
        seen["during"] = _observed(lin, "observe")
        out.path.write_text("x")

    with run(pipeline="p", store=lin):
        observe(raw)
    assert seen == {"during": [("RUNNING", ["data"])]}
    assert lin.executions("observe")[0].state == "COMPLETE"


def test_a_bad_running_after_is_refused_naming_the_variable(lin, raw, monkeypatch):
    monkeypatch.setenv("LINEAGE_RUNNING_AFTER", "soon")
    with run(pipeline="p", store=lin):
        with pytest.raises(InvalidInput, match="LINEAGE_RUNNING_AFTER='soon'.*number >= 0"):
            clean(raw)
    assert not lin.store.has_type("execution", "clean") or lin.executions("clean") == []


def test_current_execution_id_writes_the_step_running_at_once(lin, raw):
    seen = {}

    @step
    def ask(data: Input[Dataset], out: Output[Dataset]):
        seen["id"] = current_execution_id()
        seen["during"] = _observed(lin, "ask")
        out.path.write_text("x")

    with run(pipeline="p", store=lin):
        ask(raw)
    [e] = lin.executions("ask")
    assert seen == {"id": e.id, "during": [("RUNNING", ["data"])]} and e.state == "COMPLETE"


def test_a_run_ending_while_a_thread_is_in_a_step_body_is_failed_naming_it(lin, raw):
    entered, release = threading.Event(), threading.Event()

    @step
    def worker(data: Input[Dataset], out: Output[Dataset]):
        entered.set()
        release.wait(30)
        out.path.write_text("x")

    with run(pipeline="p", name="left-behind", store=lin) as r:
        t = threading.Thread(target=r.bind(lambda: worker(raw)))
        t.start()
        assert entered.wait(30)
    ctx = lin.store.get_context_by_name("PipelineRun", "left-behind")
    [e] = lin.executions("worker")  # written RUNNING when the run ended, not a second later
    assert ctx.properties["state"] == "FAILED" and f"e{e.id} worker" in ctx.properties["error_message"]
    release.set()
    t.join(30)
    assert lin.execution(e.id).state == "COMPLETE"


def test_failing_step_is_recorded_failed_and_the_exception_propagates(lin, raw):
    with pytest.raises(RuntimeError) as info:
        with run(pipeline="p", name="failing-run", store=lin):
            explode(raw, why="disk on fire")
    assert str(info.value) == "disk on fire" and type(info.value) is RuntimeError
    [ex] = lin.executions("explode")
    assert ex.state == "FAILED"
    assert ex.properties["error_type"] == "RuntimeError"
    assert ex.properties["error_message"] == "disk on fire"
    assert ex.error == "RuntimeError: disk on fire"
    # no half-recorded output: only the step's log (its traceback), which lineage itself keeps
    assert sorted((e.type, e.key) for e in lin.events(ex)) == [("INPUT", "data"), ("OUTPUT", "lineage:log")]
    assert lin.artifacts("Model") == []
    run_ctx = lin.store.get_context_by_name("PipelineRun", "failing-run")
    assert run_ctx.properties["state"] == "FAILED"
    assert run_ctx.properties["error_message"] == "disk on fire"


def test_step_that_writes_no_output_fails_clearly(lin, raw):
    with pytest.raises(FingerprintError, match="without writing its output 'model'"):
        with use_store(lin):
            lazy(raw)
    [ex] = lin.executions("lazy")
    assert ex.state == "FAILED" and ex.properties["error_type"] == "FingerprintError"


def use_store(lin):
    return lineage.use(lin)


def test_cache_hit_records_cached_and_skips_the_body(lin, raw):
    with run(pipeline="p", store=lin):
        cleaned = clean(raw)
        CALLS["train"] = 0
        first = train(cleaned, lr=0.01, opts={"seed": 1})
        second = train(cleaned, lr=0.01, opts={"seed": 1})
    assert CALLS["train"] == 1
    assert second.id == first.id
    cached, complete = lin.executions("Train")
    assert complete.state == "COMPLETE" and cached.state == "CACHED"
    assert cached.properties["cached_from"] == complete.id
    assert cached.properties["cache_key"] == complete.properties["cache_key"]
    assert _event_keys(lin, cached.id) == [("INPUT", "data", cleaned.id), ("OUTPUT", "model", first.id)]
    assert complete.properties["result"] == '{"loss": 0.25}'
    assert complete.properties["step"] == "tests.train"


def test_cache_misses_on_new_params_new_input_or_modified_outputs(lin, raw, tmp_path):
    with use_store(lin):
        cleaned = clean(raw)
        CALLS["train"] = 0
        model = train(cleaned, lr=0.5)
        train(cleaned, lr=0.6)                       # other parameter
        assert CALLS["train"] == 2
        (Path(model.uri) / "weights.txt").write_text("tampered")
        train(cleaned, lr=0.5)                       # same key, but outputs no longer verify
        assert CALLS["train"] == 3
        other = tmp_path / "other.csv"
        other.write_text("different data entirely\n")
        train(clean(Dataset.at(other)), lr=0.5)      # other input fingerprint
        assert CALLS["train"] == 4
    assert {e.state for e in lin.executions("Train")} == {"COMPLETE"}


def test_external_data_is_fingerprinted_once_and_reused(lin, raw, tmp_path):
    with use_store(lin):
        a = clean(raw)
        b = clean(Dataset.at(raw.uri))
        assert len(lin.artifacts("Dataset", filter_query="properties.external.bool_value = true")) == 1
        Path(raw.uri).write_text("changed content\n")
        clean(Dataset.at(raw.uri))
    externals = lin.artifacts("Dataset", filter_query="properties.external.bool_value = true")
    assert len(externals) == 2 and externals[0].fingerprint != externals[1].fingerprint
    assert a.fingerprint == b.fingerprint


def test_inputs_by_id_by_uri_and_wrong_types(lin, raw):
    with use_store(lin):
        cleaned = clean(raw)
        by_id = train(cleaned.id, lr=1.0)
        by_uri = clean(raw.uri)
        assert by_uri.fingerprint == cleaned.fingerprint
        with pytest.raises(InvalidInput, match=r"input 'data' expects a Dataset, but artifact \d+ is a Model"):
            train(by_id, lr=2.0)
        with pytest.raises(InvalidInput, match="output 'model' is allocated by lineage"):
            train(cleaned, model="somewhere")
        with pytest.raises(InvalidInput, match="missing argument"):
            clean()
        with pytest.raises(FingerprintError, match="does not exist"):
            clean(Dataset.at("/no/such/file.csv"))
    assert lin.executions("Train")[0].state == "COMPLETE"


def test_steps_outside_a_run_still_record(lin, raw):
    with use_store(lin):
        out = clean(raw)
    [ex] = lin.executions("clean")
    assert ex.state == "COMPLETE" and lin.contexts(ex) == []
    assert lin.outputs(ex)["cleaned"][0].id == out.id


def test_parameters_mlmd_cannot_hold_read_back_equal(lin, raw):
    with use_store(lin):
        cleaned = clean(raw)
        train(cleaned, lr=0.1, layers=(16, 8), opts={"path": Path("/x"), "tags": {"b", "a"}})
    ex = lin.executions("Train")[0]
    assert ex.params["layers"] == (16, 8)
    assert ex.params["opts"] == {"path": Path("/x"), "tags": {"a", "b"}}
    assert ex.params["lr"] == 0.1


def test_several_outputs_return_a_step_result(lin, raw):
    @step
    def split(data: Input[Dataset], train_set: Output[Dataset], eval_set: Output[Dataset], ratio: float = 0.5):
        train_set.path.write_text("t")
        eval_set.path.mkdir()
        (eval_set.path / "part-0").write_text("e")
        return 42

    with use_store(lin):
        result = split(raw)
    assert set(result) == {"train_set", "eval_set"}
    assert result.train_set.type == "Dataset" and result["eval_set"].properties["file_count"] == 1
    assert result.value == 42 and result.execution.state == "COMPLETE"


def test_record_a_step_that_ran_elsewhere(lin, raw, tmp_path):
    model_dir = tmp_path / "external_model"
    model_dir.mkdir()
    (model_dir / "saved_model.pb").write_bytes(b"\x08\x01")
    with run(pipeline="imported", store=lin):
        result = record("Train", inputs={"examples": raw}, outputs={"model": Model.at(model_dir)},
                        params={"epochs": 3}, started_at=1700000000.0, ended_at=1700000060.0)
        remote = record("Push", inputs={"model": result.model},
                        outputs={"pushed": lineage.types.PushedModel.at("gs://bucket/models/1")})
    ex = result.execution
    assert ex.state == "COMPLETE" and ex.params["epochs"] == 3 and ex.duration_s == 60.0 and ex.properties["started_at"] == 1700000000.0
    assert result.model.fingerprint.startswith("sha256:") and result.model.properties["file_count"] == 1
    assert "external" not in result.model.properties
    assert remote.pushed.uri == "gs://bucket/models/1" and remote.pushed.fingerprint is None
    assert _event_keys(lin, remote.execution.id) == [("INPUT", "model", result.model.id),
                                                     ("OUTPUT", "pushed", remote.pushed.id)]
    assert {c.type for c in lin.contexts(remote.execution)} == {"Pipeline", "PipelineRun"}
    with pytest.raises(InvalidInput, match="must be an artifact such as Model.at"):
        record("Train", outputs={"model": "/some/path"}, store=lin)
    with pytest.raises(InvalidInput, match="needs an artifact type"):
        record("Train", inputs={"data": "/some/path"}, store=lin)


def test_concurrent_runs_in_threads_do_not_mix(lin, tmp_path):
    def pipeline(i: int) -> str:
        p = tmp_path / f"in{i}.csv"
        p.write_text(f"row number {i}\n" * (i + 1))
        with run(pipeline="threads", name=f"run-{i}", store=lin) as r:
            for _ in range(3):
                clean(Dataset.at(p))
        return r.name

    with ThreadPoolExecutor(4) as pool:
        names = list(pool.map(pipeline, range(4)))
    for name in names:
        steps = lin.run_steps(name)
        assert len(steps) == 3 and {s.state for s in steps} == {"COMPLETE"}
        for s in steps:
            assert {c.name for c in lin.contexts(s) if c.type == "PipelineRun"} == {name}


def test_bind_carries_the_run_into_a_worker_thread(lin, raw):
    results = []
    with run(pipeline="p", name="bound", store=lin) as r:
        t = threading.Thread(target=r.bind(lambda: results.append(clean(raw))))
        t.start()
        t.join()
    assert len(lin.run_steps("bound")) == 1


def test_async_steps_and_tasks_keep_their_runs(lin, tmp_path):
    @step
    async def fetch(src: Input[Dataset], out: Output[Dataset], delay: float = 0.0):
        await asyncio.sleep(delay)
        out.path.write_text(src.path.read_text())

    async def one(i: int):
        p = tmp_path / f"a{i}.txt"
        p.write_text(str(i))
        with run(pipeline="async", name=f"task-{i}", store=lin):
            await fetch(Dataset.at(p), delay=0.01 * (3 - i))

    async def main():
        await asyncio.gather(*(one(i) for i in range(3)))

    asyncio.run(main())
    for i in range(3):
        [s] = lin.run_steps(f"task-{i}")
        assert s.state == "COMPLETE"
        assert lin.inputs(s)["src"][0].uri.endswith(f"a{i}.txt")


def test_named_run_is_reused(lin, raw):
    with run(pipeline="p", name="nightly", store=lin):
        clean(raw)
    with run(pipeline="p", name="nightly", store=lin):
        clean(raw, min_len=1)
    assert len(lin.run_steps("nightly")) == 2
    assert len(lin.runs("p")) == 1


def test_code_version_records_git_state(lin, raw, tmp_path, monkeypatch):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (["git", "init", "-q"], ["git", "-c", "user.email=t@t", "-c", "user.name=t",
                                         "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(cmd, cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    src = repo / "mysteps.py"
    src.write_text(
        "from lineage import step, Input, Output\nfrom lineage.types import Dataset\n"
        "@step\ndef copy(a: Input[Dataset], b: Output[Dataset]):\n    b.path.write_text(a.path.read_text())\n"
    )
    monkeypatch.syspath_prepend(str(repo))
    monkeypatch.chdir(repo)
    import importlib

    mysteps = importlib.import_module("mysteps")
    with run(pipeline="git", name="git-run", store=lin):
        mysteps.copy(raw)
    ex = lin.executions("copy")[0]
    assert lin.code_of(ex)["git_commit"] == sha
    assert lin.code_of(ex)["git_dirty"] is False  # untracked files do not make it dirty
    ctx = lin.store.get_context_by_name("PipelineRun", "git-run")
    assert ctx.properties["git_commit"] == sha and "git_commit" not in ex.properties   # the run's, once
    # run from outside the repository: the run has no commit, the step records its source's own
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    with run(pipeline="git", name="git-run-2", store=lin):
        mysteps.copy(raw)
    ex2 = max(lin.executions("copy"), key=lambda e: e.id)
    assert "git_commit" not in lin.store.get_context_by_name("PipelineRun", "git-run-2").properties
    assert ex2.properties["git_commit"] == sha and lin.code_of(ex2)["git_commit"] == sha


def test_outputs_never_land_in_a_directory_another_store_left(tmp_path, raw):
    shared = tmp_path / "shared-artifacts"
    a = Lineage.open(f"sqlite:///{tmp_path / 'a.sqlite'}", artifact_root=str(shared))
    b = Lineage.open(f"sqlite:///{tmp_path / 'b.sqlite'}", artifact_root=str(shared))
    with use_store(a):
        first = clean(raw)
    with use_store(b):
        second = clean(raw, min_len=50)  # execution 1 in its store too
    assert first.uri != second.uri
    assert Path(first.uri).read_text() == "great food\nterrible service"
    assert Path(second.uri).read_text() == ""


def test_dataset_at_the_same_path_each_call_maps_to_one_artifact_until_the_file_changes(lin, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("aaaa\n")
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "p0").write_text("x")
    ids = []
    with run(pipeline="p", store=lin):
        for _ in range(3):
            ids.append(clean(Dataset.at(data)).id)
        first = lin.register(Dataset.at(data))
        os.utime(data, ns=(time.time_ns(), time.time_ns() + 5_000_000))  # same size, new content
        data.write_text("bbbb\n")
        second = lin.register(Dataset.at(data))
        d1 = lin.register(Dataset.at(folder))
        (folder / "p0").write_text("y")  # a folder is fingerprinted every time: a file inside changed
        d2 = lin.register(Dataset.at(folder))
    inputs = {ev.artifact_id for e in lin.executions("clean") for ev in lin.events(f"e{e.id}") if ev.type == "INPUT"}
    assert inputs == {first.id} and len(set(ids)) == 3
    assert second.id != first.id and second.fingerprint != first.fingerprint
    assert d2.id != d1.id
    assert lin.register(Dataset.at(data)).id == second.id  # unchanged since: the same one


def test_an_async_step_with_cache_returns_the_cached_output_when_awaited(lin, tmp_path):
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n1,2\n")

    @step(cache=True)
    async def clean(src: Input[Dataset], out: Output[Dataset]):
        await asyncio.sleep(0)
        out.path.write_text(src.path.read_text().upper())

    with use(lin):
        first = asyncio.run(clean(Dataset.at(raw)))
        second = asyncio.run(clean(Dataset.at(raw)))
    assert second.id == first.id and Path(second.uri).read_text() == "A,B\n1,2\n"
    states = [e.state for e in lin.executions("clean", limit=None)]
    assert sorted(states) == ["CACHED", "COMPLETE"]
