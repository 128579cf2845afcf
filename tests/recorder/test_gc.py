"""`lineage gc`: files of artifacts nothing protects go (on disk and in the bucket), the rows stay
DELETED; what served, anything tainted or tagged keep, fresh artifacts and data lineage did not
write are never touched; a killed gc is settled by doctor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import cli
from lineage import Input, Lineage, Output, record, run, step, use
from lineage.errors import InvalidInput
from lineage.types import Dataset, Model, ModelBlessing, PushedModel


@step
def clean(raw: Input[Dataset], cleaned: Output[Dataset]):
    cleaned.path.write_text(raw.path.read_text().upper())


@step
def train(data: Input[Dataset], model: Output[Model], epochs: int = 1):
    model.path.mkdir()
    (model.path / "weights.bin").write_bytes(data.path.read_bytes() * 100)


@step(type="Evaluate")
def evaluate(model: Input[Model], blessing: Output[ModelBlessing]):
    blessing.path.write_text("blessed")


def _pipeline(lin, tmp_path, name):
    raw = tmp_path / f"{name}.csv"
    raw.write_text(f"rows of {name}\n")
    with run(pipeline="p", name=name, store=lin):
        cleaned = clean(Dataset.at(raw))
        model = train(cleaned)
    return raw, cleaned, model


def _served(lin, tmp_path, model):
    """A version that served: an Evaluate and a Push recorded after the model (no server needed)."""
    with use(lin):
        blessing = evaluate(model)
        serving = tmp_path / "serving" / "m" / "1"
        serving.mkdir(parents=True)
        (serving / "saved_model.pb").write_bytes(b"pb")
        record("Push", inputs={"model": model, "blessing": blessing}, outputs={"pushed": PushedModel.at(serving)})
    return blessing


def _files(lin):
    return sorted(str(p.relative_to(lin.artifact_root)) for p in Path(lin.artifact_root).rglob("*") if p.is_file())


def test_gc_removes_only_what_nothing_protects(lin, tmp_path):
    raw1, cleaned1, served_model = _pipeline(lin, tmp_path, "served")
    blessing = _served(lin, tmp_path, served_model)
    raw2, cleaned2, old_model = _pipeline(lin, tmp_path, "unserved")
    raw3, evidence, _ = _pipeline(lin, tmp_path, "tainted")
    lin.taint(evidence, "bad labels")
    raw4, kept, _ = _pipeline(lin, tmp_path, "kept")
    lin.tag(kept, keep="audit 2026")
    before = lin.provenance(served_model).to_dict()

    # fresh artifacts are protected by the window: nothing goes
    plan, execution = lin.gc(keep_days=30)
    assert plan.removable == [] and execution is None

    plan, execution = lin.gc(keep_days=0, dry_run=True)     # everything is older than 0 days
    planned = {r.artifact.id for r in plan.removable}
    assert old_model.id in planned and cleaned2.id in planned
    assert not planned & {served_model.id, cleaned1.id, blessing.id, evidence.id, kept.id}
    assert execution is None and Path(old_model.path).exists()               # a dry run changes nothing
    assert plan.protected["ancestry of a version that served"] >= 3
    assert plan.protected["tainted (evidence)"] == 1 and plan.protected["tagged keep"] == 1

    plan, execution = lin.gc(keep_days=0)
    assert execution.type == "GarbageCollect" and execution.state == "COMPLETE"
    removed = set(json.loads(execution.properties["removed"]))
    assert removed == planned and execution.properties["freed_bytes"] > 0
    for art in (old_model, cleaned2):
        assert not Path(art.uri).exists()                                     # the files are gone
        stored = lin.artifact(art.id)
        assert stored.state == "DELETED" and stored.custom_properties["deleted_by"] == execution.id
        assert lin.producers(stored)                                           # the rows and edges stay
    for art in (served_model, cleaned1, blessing, evidence, kept):
        assert Path(art.uri).exists() and lin.artifact(art.id).state == "LIVE"
    for raw in (raw1, raw2, raw3, raw4):                                       # data lineage did not write
        assert raw.exists()
    assert lin.provenance(served_model).to_dict() == before
    report = lin.verify(lin.producers(old_model)[0])
    assert report.clean and report.deleted == [(lin.artifact(old_model.id), f"deleted by gc (e{execution.id})")]
    assert lin.verify().clean                                                  # LIVE ones all verify


def test_gc_keeps_the_newest_runs_and_the_cli_says_why(lin, tmp_path):
    for name in ("r1", "r2", "r3"):
        _pipeline(lin, tmp_path, name)
    import os

    env = {**os.environ, "LINEAGE_ARTIFACTS": str(lin.artifact_root)}   # where this store's steps wrote
    r = cli("gc", "--keep-days", "0", "--keep-runs", "2", "--dry-run", "--store", lin.uri, env=env)
    assert r.returncode == 0, r.stderr
    assert "would remove 2 artifact(s)" in r.stdout and "in the newest 2 run(s)" in r.stdout
    r = cli("gc", "--keep-days", "0", "--keep-runs", "2", "--store", lin.uri, "--json", env=env)
    data = json.loads(r.stdout)
    assert r.returncode == 0 and len(data["removable"]) == 2 and data["execution"].startswith("e")
    r1 = {a.id for a in lin.store.artifacts_in_context(lin.store.get_context_by_name("PipelineRun", "r1").id)}
    assert {int(a["ref"][1:]) for a in data["removable"]} <= r1
    r = cli("verify", "--store", lin.uri)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("gc", "--keep-days", "0", "--dry-run", "--store", lin.uri)                # another artifact root
    assert "nothing to remove" in r.stdout and "outside the artifact root" in r.stdout
    with pytest.raises(InvalidInput, match=r"keep_days \(--keep-days\) must be"):
        lin.gc(keep_days=-1)


def test_gc_removes_from_the_bucket(tmp_path, s3):
    lin = Lineage.open(f"sqlite:///{tmp_path / 's' / 'm.sqlite'}", artifact_root=f"s3://{s3.bucket}/team")
    _, cleaned, model = _pipeline(lin, tmp_path, "remote")
    prefixes = tuple(a.uri.split(f"s3://{s3.bucket}/", 1)[1] for a in (cleaned, model))
    assert len([k for k in s3.objects(s3.bucket) if k.startswith(prefixes)]) == 2   # cleaned, weights.bin
    plan, execution = lin.gc(keep_days=0)
    assert {r.artifact.id for r in plan.removable} >= {cleaned.id, model.id}
    assert [k for k in s3.objects(s3.bucket) if k.startswith(prefixes)] == []     # boto3 sees them gone
    assert lin.artifact(model.id).state == "DELETED" and lin.artifact(cleaned.id).state == "DELETED"


KILLED_GC = """
import os, shutil, signal, sys
from lineage import Lineage
from lineage.recorder.recording import Recording
lin = Lineage.open(sys.argv[1])
model, cleaned = int(sys.argv[2]), int(sys.argv[3])
rec = Recording(lin.store, "GarbageCollect", properties={"step": "lineage.gc"}, in_run=False)
eid = rec.start()
lin.store.set_artifact_states([cleaned, model], "MARKED_FOR_DELETION", {"deleted_by": eid})
shutil.rmtree(lin.artifact(model).path)
os.kill(os.getpid(), signal.SIGKILL)      # killed between removing one artifact's files and the next
"""


def test_a_killed_gc_is_settled_by_doctor(lin, tmp_path):
    import subprocess
    import sys

    _, cleaned, model = _pipeline(lin, tmp_path, "old")
    ran = subprocess.run([sys.executable, "-c", KILLED_GC, lin.uri, str(model.id), str(cleaned.id)],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == -9, ran.stderr
    report, _ = lin.doctor()
    kinds = {(f.kind, f.ref) for f in report.findings}
    assert ("unfinished-gc", model.ref) in kinds and ("unfinished-gc", cleaned.ref) in kinds
    assert any(f.kind == "abandoned-execution" for f in report.findings)     # the gc itself
    report, doctor = lin.doctor(fix=True)
    assert lin.artifact(model.id).state == "DELETED"                          # its files were gone
    assert lin.artifact(cleaned.id).state == "LIVE"                           # its files are there
    assert "deleted_by" not in lin.artifact(cleaned.id).custom_properties
    [gc_run] = lin.executions("GarbageCollect")
    assert gc_run.state == "FAILED"
    assert not [f for f in lin.doctor()[0].findings if f.kind in ("unfinished-gc", "abandoned-execution")]
