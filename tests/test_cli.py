"""The `lineage` command, run as users run it: the installed console script, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lineage import Input, Lineage, Output, run, step
from lineage.types import Dataset, Model

LINEAGE = shutil.which("lineage", path=str(Path(sys.executable).parent)) or "lineage"


def cli(*args: str, cwd: Path = None, env: dict = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "LINEAGE_STORE"}
    full_env.update(env or {})
    return subprocess.run([LINEAGE, *args], capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=120)


@step(type="Train")
def fit(data: Input[Dataset], model: Output[Model], lr: float = 0.1):
    model.path.write_text(f"weights {lr}")


@pytest.fixture
def populated(lin, tmp_path):
    src = tmp_path / "d.csv"
    src.write_text("a,b\n1,2\n")
    with run(pipeline="cli-test", experiment="exp", name="cli-run-1", store=lin):
        model = fit(Dataset.at(src), lr=0.5)
    with pytest.raises(ZeroDivisionError):
        with run(pipeline="cli-test", name="cli-run-2", store=lin):
            fit(Dataset.at(src), lr=0.25)
            1 / 0
    return lin, model


def test_init_creates_the_default_store(tmp_path):
    r = cli("init", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / ".lineage" / "metadata.sqlite").exists()
    assert (tmp_path / ".lineage" / "artifacts").is_dir()
    assert "lineage store ready" in r.stdout


def test_ls_tables_and_json(populated):
    lin, model = populated
    r = cli("ls", "executions", "--store", lin.uri)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.strip().splitlines()
    assert header.split()[:3] == ["ID", "TYPE", "STATE"]
    assert len(rows) == 2 and all(" Train " in row and "COMPLETE" in row for row in rows)

    r = cli("--store", lin.uri, "ls", "artifacts", "--type", "Model", "--json")
    data = json.loads(r.stdout)
    assert [d["id"] for d in data] and data[-1]["id"] == model.id
    assert data[-1]["properties"]["fingerprint"] == model.fingerprint

    r = cli("ls", "runs", "--store", lin.uri, "--json")
    runs = {d["name"]: d["properties"]["state"] for d in json.loads(r.stdout)}
    assert runs == {"cli-run-1": "COMPLETE", "cli-run-2": "FAILED"}

    r = cli("ls", "executions", "--store", lin.uri, "--limit", "1", "--json")
    assert len(json.loads(r.stdout)) == 1


def test_show_artifact_execution_and_context(populated):
    lin, model = populated
    r = cli("show", f"a{model.id}", "--store", lin.uri)
    assert r.returncode == 0, r.stderr
    assert f"artifact {model.id}: Model" in r.stdout and model.uri in r.stdout
    assert "produced by: e1 Train (COMPLETE)" in r.stdout

    r = cli("show", "e1", "--store", lin.uri, "--json")
    data = json.loads(r.stdout)
    assert data["type"] == "Train" and data["state"] == "COMPLETE"
    assert data["custom_properties"] == {"lr": 0.5}
    assert data["outputs"] == {"model": [model.id]}
    assert {c["type"] for c in data["contexts"]} == {"Pipeline", "PipelineRun", "Experiment"}

    run_ctx = lin.store.get_context_by_name("PipelineRun", "cli-run-2")
    r = cli("show", f"c{run_ctx.id}", "--store", lin.uri)
    assert "state" in r.stdout and "FAILED" in r.stdout and "ZeroDivisionError" in r.stdout


def test_errors_are_one_clear_line(tmp_path, lin):
    r = cli("show", "e999", "--store", lin.uri)
    assert r.returncode == 1
    assert r.stderr.strip() == f"lineage: error: execution 999 does not exist in {lin.uri}"
    r = cli("show", "zz", "--store", lin.uri)
    assert r.returncode == 1 and "not a node reference" in r.stderr and "Traceback" not in r.stderr
    r = cli("ls", "runs", cwd=tmp_path)
    assert r.returncode == 1 and "no lineage store at" in r.stderr
    assert not (tmp_path / ".lineage").exists()  # reading never creates a store
    r = cli("ls", "runs", "--store", "postgres://x/y")
    assert r.returncode == 1 and "unknown store URI scheme" in r.stderr
    r = cli("ls", "artifacts", "--limit", "0", "--store", lin.uri)
    assert r.returncode == 2 and "--limit must be a positive number" in r.stderr


def test_store_from_environment(populated, tmp_path):
    lin, _ = populated
    r = cli("ls", "runs", cwd=tmp_path, env={"LINEAGE_STORE": lin.uri})
    assert r.returncode == 0 and "cli-run-1" in r.stdout


def test_upgrade_the_tfx_store(tfx_store, tmp_path):
    r = cli("ls", "artifacts", "--store", str(tfx_store))
    assert r.returncode == 1 and "lineage upgrade" in r.stderr and "Traceback" not in r.stderr
    copy = tmp_path / "upgraded.sqlite"
    r = cli("upgrade", "--store", str(tfx_store), "--copy-to", str(copy))
    assert r.returncode == 0, r.stderr
    r = cli("ls", "artifacts", "--store", str(copy), "--json", "--limit", "100")
    assert {"PushedModel", "ModelBlessing", "Examples"} <= {d["type"] for d in json.loads(r.stdout)}
    r = cli("show", "e9", "--store", str(copy))
    assert r.returncode == 0 and "Pusher" in r.stdout


def test_cli_does_not_import_tensorflow():
    code = ("import sys, lineage.cli, lineage; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'apache_beam', 'streamlit')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
