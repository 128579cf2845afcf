"""Nothing stays RUNNING without a trace: SIGTERM and failures while recording end a step with
its reason; a SIGKILL leaves a RUNNING row with its owner, which `lineage doctor` finds and
`lineage doctor --fix` closes. Checked on a real store, through real processes and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lineage import Input, Lineage, Output, annotate, run, step
from lineage.errors import InvalidInput
from lineage.types import Dataset, Examples

SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lineage import Input, Output, run, step
    from lineage.types import Dataset

    @step
    def slow(src: Input[Dataset], out: Output[Dataset]):
        out.path.write_text("x")
        print("started", flush=True)
        time.sleep(60)

    with run("victim", name=sys.argv[2], store=sys.argv[1]):
        slow(Dataset.at(sys.argv[3]))
""")


def _victim(tmp_path: Path, store: str, name: str) -> subprocess.Popen:
    data = tmp_path / "in.csv"
    data.write_text("a\n")
    script = tmp_path / "victim.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), store, name, str(data)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "LINEAGE_RUNNING_AFTER": "0.3"})
    assert proc.stdout.readline().strip() == "started"
    return proc


def _running_row(lin: Lineage, timeout: float = 30.0):
    """The victim's step, once its RUNNING row is written (after LINEAGE_RUNNING_AFTER)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lin.store.has_type("execution", "slow"):
            found = lin.executions("slow")
            if found:
                return found[0]
        time.sleep(0.05)
    raise AssertionError("the step was never written RUNNING")


def _file(path: Path) -> Path:
    path.write_text(path.name)
    return path


def _lineage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lineage.cli", *args], capture_output=True, text=True, timeout=120)


def test_sigterm_in_a_step_is_recorded_canceled(lin, tmp_path):
    proc = _victim(tmp_path, lin.uri, "term-run")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    [e] = lin.executions("slow")
    assert e.state == "CANCELED" and e.get("error_type") == "SystemExit"
    ctx = lin.store.get_context_by_name("PipelineRun", "term-run")
    assert ctx.properties["state"] == "FAILED"


def test_sigkill_leaves_an_owner_that_doctor_finds_and_fix_closes(lin, tmp_path):
    proc = _victim(tmp_path, lin.uri, "kill-run")
    assert _running_row(lin).state == "RUNNING"
    proc.kill()
    proc.wait(30)
    [e] = lin.executions("slow")
    assert e.state == "RUNNING" and e.get("owner", "").split(":")[1] == str(proc.pid)

    r = _lineage("doctor", "--store", lin.uri, "--json")
    assert r.returncode == 1, r.stderr
    found = {(f["kind"], f["ref"]) for f in json.loads(r.stdout)["findings"]}
    run_ctx = lin.store.get_context_by_name("PipelineRun", "kill-run")
    assert found == {("abandoned-execution", f"e{e.id}"), ("abandoned-run", f"c{run_ctx.id}")}

    r = _lineage("doctor", "--fix", "--store", lin.uri)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"closed e{e.id}, c" in r.stdout and " as FAILED (recorded as e" in r.stdout
    again = Lineage.open(lin.uri, readonly=True)
    closed = again.execution(e.id)
    assert closed.state == "FAILED" and closed.get("error_type") == "Abandoned"
    [doctor] = again.executions("Doctor")
    assert closed.get("closed_by") == doctor.id and f"e{e.id}" in doctor.get("closed")
    assert again.store.get_context_by_name("PipelineRun", "kill-run").properties["state"] == "FAILED"
    assert _lineage("doctor", "--store", lin.uri).returncode == 0


def test_a_live_owner_is_not_abandoned(lin, tmp_path):
    proc = _victim(tmp_path, lin.uri, "live-run")
    try:
        _running_row(lin)
        report, _ = lin.doctor()
        assert report.healthy, report.findings
    finally:
        proc.kill()
        proc.wait(30)


def test_a_failure_while_recording_outputs_marks_the_step_failed(lin, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n")

    @step
    def split(src: Input[Dataset], out: Output[Examples]):
        out.path.write_text("e")
        out.properties["span"] = "many"  # Examples.span is a declared INT

    @step
    def noted(src: Input[Dataset]):
        annotate(cached_from="several")  # a declared INT of every execution

    with pytest.raises(InvalidInput, match="span"):
        with run("outputs", store=lin):
            split(Dataset.at(data))
    with pytest.raises(InvalidInput, match="cached_from"):
        with run("annotations", store=lin):
            noted(Dataset.at(data))
    for t in ("split", "noted"):
        [e] = lin.executions(t)
        assert e.state == "FAILED" and e.get("error_type") == "InvalidInput", (t, e.state)
    assert lin.artifacts("Examples") == []


def test_resuming_a_run_keeps_its_start_and_does_not_hide_a_running_step(lin, tmp_path):
    proc = _victim(tmp_path, lin.uri, "resumed")
    _running_row(lin)
    proc.kill()
    proc.wait(30)
    first = lin.store.get_context_by_name("PipelineRun", "resumed").properties["started_at"]
    time.sleep(0.05)
    data = tmp_path / "d2.csv"
    data.write_text("y\n")

    @step
    def quick(src: Input[Dataset], out: Output[Dataset]):
        out.path.write_text("q")

    with run("victim", name="resumed", store=lin):
        quick(Dataset.at(data))
    ctx = lin.store.get_context_by_name("PipelineRun", "resumed")
    assert ctx.get("started_at") == first and ctx.get("resumed_at") > first
    assert ctx.get("state") == "FAILED" and ctx.get("error_type") == "StepsStillRunning"


def test_doctor_reports_missing_files_and_unknown_served_versions(lin, tmp_path):
    from lineage import record
    from lineage.types import Model, PushedModel

    raw = lin.register(Dataset.at(_file(tmp_path / "raw.csv")))
    version_dir = tmp_path / "serving" / "reviews" / "1"
    version_dir.mkdir(parents=True)
    (version_dir / "saved_model.pb").write_bytes(b"")
    model = record("Train", inputs={"data": raw}, outputs={"model": Model.at(_file(tmp_path / "m"))}, store=lin).model
    record("Push", inputs={"model": model}, outputs={"pushed": PushedModel.at(
        version_dir, model_name="reviews", pushed_version=1)}, store=lin)
    stray = version_dir.parent / "7"
    stray.mkdir(parents=True)
    (stray / "saved_model.pb").write_bytes(b"")
    Path(raw.uri).unlink()
    report, _ = lin.doctor()
    kinds = {(f.kind, f.ref) for f in report.findings}
    assert ("missing-artifact", f"a{raw.id}") in kinds
    assert ("unknown-version", "reviews:7") in kinds
