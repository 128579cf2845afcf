"""`lineage rerun`: a recorded run executed again from the record, into a new run linked to it.

The subject is the demo example pipeline (examples/demo_pipeline.py, steps defined in the script
itself), copied with its data into tmp_path and run as a user runs it (`python demo_pipeline.py`);
the rerun is the real `lineage` command. Assertions are on the store: the new run and its link,
the executions, their parameters, the input/output edges, and the files the snapshots keep."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import cli
from lineage import Lineage

REPO = Path(__file__).resolve().parents[2]


def _copy_demo(tmp_path: Path) -> Path:
    """The demo pipeline and its data copied to tmp_path/work (outside any git repository), lineage
    imported from the installed package; the script's path."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    script = work / "demo_pipeline.py"
    script.write_text((REPO / "examples" / "demo_pipeline.py").read_text()
                      .replace("sys.path.insert(0, str(HERE.parent))", "pass"))
    shutil.copy(REPO / "examples" / "data" / "reviews.csv", work / "data" / "reviews.csv")
    return script


def _demo(tmp_path: Path, env: dict = None) -> tuple:
    """The demo pipeline copied outside git (:func:`_copy_demo`), run once."""
    script = _copy_demo(tmp_path)
    uri = f"sqlite:///{tmp_path / 'store' / 'metadata.sqlite'}"
    _run_script(script, uri, env)
    lin = Lineage.open(uri)
    (run,) = lin.runs()
    return lin, uri, script, run.name


def _run_script(script: Path, uri: str, env: dict = None) -> None:
    out = subprocess.run([sys.executable, str(script), "--store", uri], capture_output=True, text=True,
                         cwd=script.parent, timeout=120,
                         env={**os.environ, "LINEAGE_CODE_SNAPSHOTS": "1", **(env or {})})
    assert out.returncode == 0, out.stderr


def _rerun(uri: str, *args: str, cwd=None):
    return cli("--store", uri, "--json", "rerun", *args, cwd=cwd)


def _steps(lin: Lineage, name: str):
    return {e.type: e for e in lin.run_steps(name)}


def test_a_rerun_replays_the_run_into_a_new_linked_run_and_reports_it_reproduced(tmp_path):
    lin, uri, _, name = _demo(tmp_path)
    out = _rerun(uri, name, cwd=tmp_path)   # from another folder: the script's is found from the record
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and report["ran"] == 3 and report["reproduced"] == 3 and report["differed"] == 0
    assert [s["step"] for s in report["steps"]] == ["Ingest", "Train", "Evaluate"]
    assert "[1/3] Ingest (was e1)" in out.stderr      # progress, one line a step

    lin = Lineage.open(uri, readonly=True)
    new = next(c for c in lin.runs() if c.name == report["run"])
    assert new.properties["rerun_of"] == name and new.properties["state"] == "COMPLETE"
    assert new.properties["pipeline"] == "reviews-demo"
    old_steps, new_steps = _steps(lin, name), _steps(lin, report["run"])
    assert [(e.type, e.state) for e in lin.run_steps(report["run"])] == \
        [("Ingest", "COMPLETE"), ("Train", "COMPLETE"), ("Evaluate", "COMPLETE")]   # not CACHED: run again
    for t in ("Ingest", "Train", "Evaluate"):
        assert dict(new_steps[t].params) == dict(old_steps[t].params)           # the exact parameters
        assert new_steps[t].get("step") == old_steps[t].get("step") == f"__main__:{t.lower()}"
        assert new_steps[t].get("source_hash") == old_steps[t].get("source_hash")
    # the edges: the recorded raw data; each later step reads what the rerun's earlier step made
    assert lin.inputs(new_steps["Ingest"])["raw"][0].id == lin.inputs(old_steps["Ingest"])["raw"][0].id
    new_examples = lin.outputs(new_steps["Ingest"])["examples"][0]
    assert new_examples.id != lin.outputs(old_steps["Ingest"])["examples"][0].id
    assert new_examples.fingerprint == lin.outputs(old_steps["Ingest"])["examples"][0].fingerprint
    assert lin.inputs(new_steps["Train"])["examples"][0].id == new_examples.id
    assert lin.inputs(new_steps["Evaluate"])["model"][0].id == lin.outputs(new_steps["Train"])["model"][0].id
    # the two runs compare equal output by output
    d = lin.diff(name, report["run"])
    assert not any(k.startswith("output") for s in d.sections.values() for k in s)


def test_a_changed_input_is_refused_naming_it_and_nothing_is_recorded(tmp_path):
    lin, uri, script, name = _demo(tmp_path)
    data = script.parent / "data" / "reviews.csv"
    data.write_text(data.read_text().replace("great", "grand", 1))
    before = (len(lin.runs()), len(lin.executions(limit=None)))
    out = cli("--store", uri, "rerun", name)
    assert out.returncode == 1
    assert f"input a1 (Dataset {data}, read by Ingest.raw) changed since it was recorded" in out.stderr and "changed since it was recorded" in out.stderr
    assert "nothing was run or recorded" in out.stderr and "Traceback" not in out.stderr
    lin = Lineage.open(uri, readonly=True)
    assert (len(lin.runs()), len(lin.executions(limit=None))) == before


def test_changed_code_runs_the_recorded_snapshot(tmp_path):
    lin, uri, script, name = _demo(tmp_path)
    original = script.read_text()
    train = _steps(lin, name)["Train"]
    snap = lin.inputs(train)["lineage:source"][0]
    assert snap.type == "SourceSnapshot" and snap.properties["source_path"] == str(script.resolve())
    assert Path(snap.uri).read_text() == original and "/_code/" in snap.uri   # the file as it ran
    # one snapshot for every step of the file: stored once
    assert {lin.inputs(e)["lineage:source"][0].id for e in lin.run_steps(name)} == {snap.id}
    # the step is edited since: the rerun runs the snapshot's code, and reproduces
    script.write_text(original.replace('    """Naive Bayes over lower-cased words."""',
                                       '    """Naive Bayes over lower-cased words."""\n    smoothing = smoothing * 2'))
    out = _rerun(uri, name)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    trained = next(s for s in report["steps"] if s["step"] == "Train")
    assert trained["note"] == f"ran its source snapshot {snap.ref}" and trained["reproduced"] is True
    assert report["reproduced"] == 3


def test_changed_code_without_a_snapshot_is_refused_unless_allowed_and_then_recorded(tmp_path):
    lin, uri, script, name = _demo(tmp_path, env={"LINEAGE_CODE_SNAPSHOTS": "0"})
    assert "lineage:source" not in lin.inputs(_steps(lin, name)["Train"])
    script.write_text(script.read_text().replace('    """Naive Bayes over lower-cased words."""',
                                                 '    """Naive Bayes over lower-cased words."""\n'
                                                 '    smoothing = smoothing * 2'))
    out = cli("--store", uri, "rerun", name)
    assert out.returncode == 1 and "step Train (e2, __main__:train): its source changed since the run" in out.stderr
    assert "pass --allow-code-change to run today's code" in out.stderr
    out = _rerun(uri, name, "--allow-code-change")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["Ingest"]["reproduced"] is True
    assert steps["Train"]["reproduced"] is False and "--allow-code-change" in steps["Train"]["note"]
    lin = Lineage.open(uri, readonly=True)
    new = next(c for c in lin.runs() if c.name == report["run"])
    assert new.properties["code_change_allowed"] is True
    assert _steps(lin, report["run"])["Train"].get("source_hash") != _steps(lin, name)["Train"].get("source_hash")


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_a_run_from_a_clean_tree_names_the_commit_to_check_out(tmp_path):
    script = _copy_demo(tmp_path)
    work = script.parent
    _git(work, "init", "-q")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "first")
    first = _git(work, "rev-parse", "HEAD").strip()
    uri = f"sqlite:///{tmp_path / 'store' / 'metadata.sqlite'}"
    _run_script(script, uri)
    lin = Lineage.open(uri)
    (run,) = lin.runs()
    assert run.properties["git_commit"] == first and run.properties["git_dirty"] is False
    assert "lineage:source" not in lin.inputs(lin.run_steps(run.name)[1])   # git can give it back
    script.write_text(script.read_text().replace('    """Naive Bayes over lower-cased words."""',
                                                 '    """Naive Bayes over lower-cased words."""\n    pass'))
    _git(work, "commit", "-qam", "second")
    out = cli("--store", uri, "rerun", run.name)
    assert out.returncode == 1
    assert f"recorded from a clean tree at commit {first[:12]}: `git checkout {first[:12]}` and rerun" in out.stderr
    _git(work, "checkout", "-q", first)
    out = _rerun(uri, run.name)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["reproduced"] == 3


def test_from_a_step_reuses_the_recorded_outputs_before_it_and_set_changes_a_parameter(tmp_path):
    lin, uri, _, name = _demo(tmp_path)
    out = _rerun(uri, name, "--from", "Train", "--set", "Train.smoothing=0.25")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [(s["step"], s["action"]) for s in report["steps"]] == \
        [("Ingest", "reused"), ("Train", "ran"), ("Evaluate", "ran")]
    lin = Lineage.open(uri, readonly=True)
    old, new = _steps(lin, name), _steps(lin, report["run"])
    assert set(new) == {"Train", "Evaluate"}
    assert new["Train"].params["smoothing"] == 0.25 and old["Train"].params["smoothing"] == 1.0
    assert lin.inputs(new["Train"])["examples"][0].id == lin.outputs(old["Ingest"])["examples"][0].id
    ctx = next(c for c in lin.runs() if c.name == report["run"])
    assert ctx.properties["rerun_from"] == "Train"
    assert json.loads(ctx.properties["rerun_overrides"]) == {"Train.smoothing": 0.25}
    assert next(s for s in report["steps"] if s["step"] == "Train")["reproduced"] is False
    d = lin.diff(name, report["run"])
    assert d.sections["step Train"]["param smoothing"] == (1.0, 0.25)
    assert "output model" in d.sections["step Train"]


def test_bad_requests_name_what_was_wrong(tmp_path):
    lin, uri, _, name = _demo(tmp_path)
    out = cli("--store", uri, "rerun", name, "--set", "Train.smothing=2", "--set", "Push.x=1", "--set", "oops")
    assert out.returncode == 1 and "write Step.param=value" in out.stderr
    out = cli("--store", uri, "rerun", name, "--set", "Train.smothing=2", "--set", "Push.x=1")
    assert out.returncode == 1
    assert "Train has no parameter 'smothing'; its parameters: smoothing" in out.stderr
    assert "no step Push runs again in this rerun" in out.stderr
    out = cli("--store", uri, "rerun", name, "--from", "Tran")
    assert out.returncode == 1 and "has no such step; its steps: Ingest (e1), Train (e2), Evaluate (e3)" in out.stderr
    out = cli("--store", uri, "rerun", name, "--set", "Train.smoothing=high")
    assert out.returncode == 1 and "the recorded value is 1.0 (float)" in out.stderr
    assert len(Lineage.open(uri, readonly=True).runs()) == 1


def test_the_python_api_and_a_failing_step(tmp_path):
    lin, uri, script, name = _demo(tmp_path)
    report = lin.rerun(name, set={"Train": {"smoothing": 0.5}}, name="again")
    assert report.run == "again" and len(report.ran) == 3
    assert _steps(lin, "again")["Train"].params["smoothing"] == 0.5
    # a rerun can be rerun: it keeps the original's script, where its steps are
    again = lin.rerun("again", name="again-again")
    assert again.ok and len(again.reproduced) == 3 and again.original == "again"
    # a step that raises stops the rerun; the new run is FAILED, the report says where
    report = lin.rerun(name, set={"Ingest": {"eval_percent": 0}}, name="broken")
    assert [(s.original.type, s.action) for s in report.steps] == \
        [("Ingest", "ran"), ("Train", "ran"), ("Evaluate", "failed")]
    assert report.ok is False and report.error.startswith("step Evaluate failed: FileNotFoundError")
    broken = next(c for c in lin.runs() if c.name == "broken")
    assert broken.properties["state"] == "FAILED" and broken.properties["error_type"] == "FileNotFoundError"
    assert [e.state for e in lin.run_steps("broken")] == ["COMPLETE", "COMPLETE", "FAILED"]


def test_rerun_on_every_backend(store_uri, tmp_path):
    """The demo recorded into SQLite, MariaDB and PostgreSQL, and rerun from each."""
    script = _copy_demo(tmp_path)
    _run_script(script, store_uri)
    lin = Lineage.open(store_uri, artifact_root=str(tmp_path / "artifacts"))
    report = lin.rerun("naive-bayes")
    assert report.ok and len(report.reproduced) == 3
    new = next(c for c in lin.runs() if c.name == report.run)
    assert new.properties["rerun_of"] == report.original
    train = _steps(lin, report.original)["Train"]
    assert lin.inputs(train)["lineage:source"][0].type == "SourceSnapshot"
    assert dict(_steps(lin, report.run)["Train"].params) == dict(train.params)
