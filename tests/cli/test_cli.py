"""The `lineage` command, run as users run it: the installed console script, in a subprocess."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lineage import Input, Output, run, step
from lineage.types import Dataset, Model

from helpers import cli, free_port

LINEAGE = shutil.which("lineage", path=str(Path(sys.executable).parent)) or "lineage"


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
    assert [d["ref"] for d in data] and data[-1]["ref"] == model.ref
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
    assert {k: [a["ref"] for a in v] for k, v in data["outputs"].items()} == {"model": [model.ref]}
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
    r = cli("ls", "runs", "--store", "redis://x/y")
    assert r.returncode == 1 and "unknown store URI scheme" in r.stderr
    r = cli("ls", "runs", "--store", f"postgresql://127.0.0.1:{free_port()}/y")   # no user: libpq's default
    assert r.returncode == 1 and "nothing answers at 127.0.0.1:" in r.stderr and r.stderr.count("\n") == 1
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
    # Every module of lineage/ (the model server's included, until it starts), rollback too: its
    # ModelService client speaks TF Serving's wire format without tensorflow_serving.apis (which
    # imports TensorFlow). Only the server's gRPC service module imports TF Serving's messages.
    code = ("import sys, pkgutil, importlib, lineage; "
            "names = [m.name for m in pkgutil.walk_packages(lineage.__path__, 'lineage.') "
            "if m.name != 'lineage.serving.server.grpc_api' and not m.name.endswith('__main__')]; "
            "assert len(names) > 50, names; [importlib.import_module(n) for n in names]; "
            "from lineage.serving.wire import messages; messages(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'apache_beam', 'streamlit')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_provenance_imports_only_what_it_reads(tmp_path):
    # `lineage provenance` answers without parsing the YAML schema or importing the other
    # queries (diff, health, impact, verify, the experiments table), networkx or pandas
    from lineage import Lineage
    from lineage.synthetic import generate

    uri = f"sqlite:///{tmp_path}/m.sqlite"
    info = generate(Lineage.open(uri), runs=6, hot_runs=2, endpoints=1)
    code = ("import sys, lineage.cli\n"
            "try:\n"
            f"    lineage.cli.main(['provenance', 'a{info.pushed[-1]}', '--store', {uri!r}])\n"
            "except SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('yaml', 'networkx', 'pandas') "
            "or m.startswith(('lineage.query.diff', 'lineage.query.health', 'lineage.query.impact', "
            "'lineage.query.verify', 'lineage.query.experiments', 'lineage.recorder'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"provenance of a{info.pushed[-1]} PushedModel" in out.stdout
    assert out.stdout.splitlines()[-1] == "[]"


def test_query_names_stay_queries_whichever_module_loads_first():
    # lineage.query imports each query's module when first used; a module imported first by its
    # own path (`import lineage.query.provenance`) must not take its query's name on the package
    code = ("import lineage.query.provenance, lineage.query.diff, lineage.query.impact; "
            "from lineage import query; import types; "
            "names = ('provenance', 'diff', 'impact', 'find', 'verify', 'pull'); "
            "print([n for n in names if isinstance(getattr(query, n), types.ModuleType) "
            "or not callable(getattr(query, n))]); "
            "print(query.experiments.__name__, query.Diff.__module__, sorted(set(query.__all__) - set(dir(query))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == ["[]", "lineage.query.experiments lineage.query.diff []"], out.stderr


# ---------------------------------------------------------------- query commands


@pytest.fixture
def served(lin, tmp_path):
    from helpers import served_store

    return served_store(lin, tmp_path)


@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_provenance_impact_history_diff(served):
    lin, raw, module, m1, m2 = served
    r = cli("provenance", "reviews:2", "--store", lin.uri)
    assert r.returncode == 0, r.stderr
    assert "served as:   reviews version 2" in r.stdout and raw.uri in r.stdout
    assert "me/text/2 version 2" in r.stdout and re.search(r"\n  lr +0.05\n", r.stdout)
    assert "blessed:     True" in r.stdout
    data = json.loads(cli("provenance", "reviews", "--store", lin.uri, "--json").stdout)
    assert data["pushed"]["properties"]["pushed_version"] == 1  # the rollback made 1 serve

    r = cli("impact", f"a{module.id}", "--store", lin.uri)
    assert "reviews:1" in r.stdout and "SERVING NOW" in r.stdout and "reviews:2" in r.stdout
    r = cli("impact", f"a{raw.id}", "--store", lin.uri, "--fail-if-serving")
    assert r.returncode == 1
    r = cli("impact", "--store", lin.uri)
    assert r.returncode == 1 and "--tainted" in r.stderr

    r = cli("history", "reviews", "--store", lin.uri)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [l.split()[2:4] for l in lines[1:4]] == [["push", "1"], ["push", "2"], ["rollback", "1"]]
    assert lines[-1] == "serving now: version 1 (pinned); labels: stable=1 (from the recorded changes)"
    r = cli("history", "reviews", "--at", "1970-01-01T00:40:00Z", "--store", lin.uri)
    assert r.stdout.splitlines()[-1].startswith("serving at 1970-01-01T00:40:00Z: version 2")
    r = cli("history", "reviews", "--at", "1970-01-01T00:00:10Z", "--store", lin.uri)   # before the first push
    assert r.stdout.splitlines()[-1].startswith("serving at 1970-01-01T00:00:10Z: nothing; labels: -")

    r = cli("diff", f"a{m1.id}", f"a{m2.id}", "--store", lin.uri)
    assert "parameters:\n  lr: 0.01 -> 0.05" in r.stdout
    assert json.loads(cli("diff", "r1", "r2", "--json", "--store", lin.uri).stdout)["same"] is False


@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_find_verify_taint_export(served, tmp_path):
    lin, raw, module, m1, m2 = served
    r = cli("find", "--executions", "--where", "lr > 0.02", "--store", lin.uri, "--json")
    assert [d["custom_properties"]["lr"] for d in json.loads(r.stdout)] == [0.05]
    r = cli("find", "--where", "lr > 1 or lr < 0", "--store", lin.uri)
    assert r.returncode == 1 and "`or` is not supported" in r.stderr

    r = cli("verify", f"a{raw.id}", "--store", lin.uri)
    assert r.returncode == 0 and "1 ok" in r.stdout
    Path(raw.uri).write_text("changed!\n")
    r = cli("verify", "--store", lin.uri)
    assert r.returncode == 1 and f"CHANGED a{raw.id}" in r.stdout

    r = cli("taint", f"a{module.id}", "--reason", "bad vocabulary", "--store", lin.uri)
    assert r.returncode == 0 and "tainted" in r.stdout
    r = cli("taint", "--list", "--store", lin.uri, "--json")
    assert [(d["artifact"], d["reason"]) for d in json.loads(r.stdout)] == [(f"a{module.id}", "bad vocabulary")]
    r = cli("impact", "--tainted", "--store", lin.uri, "--json")
    assert json.loads(r.stdout)["serving_affected"] == ["reviews:1"]
    r = cli("impact", f"a{module.id}", "--store", lin.uri)     # the reason travels with the report
    assert f"TAINTED a{module.id}: bad vocabulary (" in r.stdout, r.stdout
    r = cli("taint", f"a{module.id}", "--store", lin.uri)
    assert r.returncode == 1 and "--reason" in r.stderr

    out = tmp_path / "g.dot"
    r = cli("export", "reviews:2", "--format", "dot", "-o", str(out), "--store", lin.uri)
    assert r.returncode == 0 and out.read_text().startswith("digraph")
    assert 'fillcolor="#fecaca"' in out.read_text()  # the tainted module and its downstream
    for fmt, check in (("json", lambda t: json.loads(t)["directed"]), ("graphml", lambda t: "<graphml" in t),
                       ("openlineage", lambda t: json.loads(t)[0]["eventType"] == "COMPLETE")):
        r = cli("export", f"a{m2.id}", "--format", fmt, "--store", lin.uri)
        assert r.returncode == 0 and check(r.stdout), (fmt, r.stderr)
    r = cli("upstream", f"a{m2.id}", "--types", "Dataset,HubModule,Model", "--store", lin.uri)
    assert r.returncode == 0 and f"a{m1.id} Model" in r.stdout and "Train" not in r.stdout
    r = cli("downstream", f"a{raw.id}", "--hops", "2", "--store", lin.uri)
    assert r.stdout.splitlines()[0].endswith("5 nodes")  # two ingests and their examples


def test_runs_shows_what_varies_and_fits_the_terminal(tmp_path):
    """`lineage runs` by default: run, state, start, duration, the metrics, then what differs
    between the runs, as many columns as fit the terminal (COLUMNS), saying how many it left out."""
    from lineage import Lineage, log_metric, run, step

    @step(type="Fit")
    def fit(lr: float, label: str = "label", epochs: int = 3):
        log_metric("loss", 1 / (1 + lr))

    lin = Lineage.open(f"sqlite:///{tmp_path / 'm.sqlite'}")
    for lr in (0.1, 0.3):
        with run(pipeline="p", experiment="sweep", store=lin):
            fit(lr)
    r = cli("runs", "--store", lin.uri, env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert header[:4] == ["RUN", "STATE", "START", "DURATION_S"]
    assert "METRICS.LOSS" in header and "PARAMS.FIT.LR" in header
    assert not [c for c in header if c in ("PARAMS.FIT.LABEL", "PARAMS.FIT.EPOCHS", "EXPERIMENT")]   # constant
    assert "more columns" in r.stdout.splitlines()[-1] and "--all-columns" in r.stdout.splitlines()[-1]
    narrow = cli("runs", "--store", lin.uri, env={"COLUMNS": "60"})
    assert max(len(line) for line in narrow.stdout.splitlines()[:-1]) <= 90   # the first four always
    every = cli("runs", "--store", lin.uri, "--all-columns", env={"COLUMNS": "60"})
    assert "PARAMS.FIT.LABEL" in every.stdout.splitlines()[0]
