"""`lineage push MODEL_DIR --model NAME`: a SavedModel a user trained themselves, pushed from the
command line through the same gate as a rollback. Real CLI processes on a real SQLite store; the
serving root and model config checked on disk."""

from __future__ import annotations

import json

import pytest

from helpers import cli
from lineage import Lineage, record, use
from lineage.serving.config import model_entry, read_config
from lineage.types import Model, ModelBlessing
from toy_models import build_toy

pytestmark = pytest.mark.slow


@pytest.fixture
def setup(tmp_path):
    uri = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    Lineage.open(uri).close()
    model = build_toy(tmp_path / "mine", 2.0)
    env = {"LINEAGE_STORE": uri}
    common = ["--serving-root", str(tmp_path / "serving"), "--config", str(tmp_path / "serving" / "models.config")]
    return tmp_path, uri, model, env, common


def _store_rows(uri):
    with Lineage.open(uri) as lin:
        c = lin.counts()
        return c["artifact"], c["execution"]


@pytest.mark.parametrize("what,says", [
    ("missing", "is not a directory: give the SavedModel folder"),
    ("not-saved-model", "is not a SavedModel (no saved_model.pb or saved_model.pbtxt in it)"),
    ("bad-name", "model name '../x': use letters, digits"),
    ("unblessed", "has no blessing: evaluate it (or name one with --blessing aN), or push anyway with --force"),
])
def test_bad_pushes_are_one_line_and_change_nothing(setup, what, says):
    tmp, uri, model, env, common = setup
    (tmp / "empty").mkdir()
    model_dir = {"missing": str(tmp / "nope"), "not-saved-model": str(tmp / "empty")}.get(what, str(model))
    name = "../x" if what == "bad-name" else "mine"
    before = _store_rows(uri)
    r = cli("push", model_dir, "--model", name, *common, env=env)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert _store_rows(uri) == before
    assert not (tmp / "serving").exists()


def test_push_records_the_model_and_serves_it_as_the_next_version(setup):
    tmp, uri, model, env, common = setup
    with Lineage.open(uri) as lin, use(lin):   # the user evaluated their model: a blessing
        m = record("Import", outputs={"model": Model.at(model)}).model
        record("Evaluate", inputs={"model": m}, outputs={"blessing": ModelBlessing.at(tmp / "b", blessed=True)})
    r = cli("push", str(model), "--model", "mine", "--json", *common, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["model_name"], out["version"], out["forced"]) == ("mine", 1, False)
    assert (tmp / "serving" / "mine" / "1" / "saved_model.pb").exists()
    entry = model_entry(read_config(tmp / "serving" / "models.config"), "mine")
    assert entry.base_path == str(tmp / "serving" / "mine")
    with Lineage.open(uri) as lin:
        [push] = lin.producers(out["pushed"])
        assert [a.id for a in lin.inputs(push)["model"]] == [m.id]   # the same bytes: the recorded model
        assert lin.inputs(push)["blessing"][0].type == "ModelBlessing"
        assert lin.served_at("mine").version == 1
    # a chosen version must be new; versions are immutable
    r = cli("push", str(model), "--model", "mine", "--version", "1", *common, env=env)
    assert r.returncode == 1 and "mine version 1 already exists" in r.stderr
    r = cli("push", str(model), "--model", "mine", "--version", "7", *common, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("mine: pushed version 7 (a")


def test_a_forced_push_records_what_it_overrode_and_why(setup):
    tmp, uri, model, env, common = setup
    r = cli("push", str(model), "--model", "mine", "--reason", "hotfix", *common, env=env)
    assert r.returncode == 1 and "--reason goes with --force" in r.stderr
    r = cli("push", str(model), "--model", "mine", "--force", "--reason", "hotfix, eval pending", "--json",
            *common, env=env)
    assert r.returncode == 0, r.stderr
    with Lineage.open(uri) as lin:
        [push] = lin.producers(json.loads(r.stdout)["pushed"])
        assert push.properties["forced"] is True
        assert push.properties["force_reason"] == "hotfix, eval pending; overrode: blessing"
        assert lin.inputs(push)["model"][0].properties["fingerprint"].startswith("sha256:")
