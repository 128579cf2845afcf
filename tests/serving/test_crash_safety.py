"""A push or rollback killed (SIGKILL, in a real child process) right after its change became
visible: the store already holds the intent under the model's ServingEndpoint, `lineage doctor`
reports it, and `doctor --fix` settles it by what the world shows (the version's files, the
model config), so history tells what serves."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from helpers import cli
from lineage import Lineage, record, use
from lineage.components import push
from lineage.serving.config import model_entry, read_config
from lineage.types import Model, ModelBlessing

pytestmark = pytest.mark.slow

# The child runs the real push / rollback and kills itself (SIGKILL: no cleanup, no finally)
# the moment the change is visible: right after the version folder's rename, or the config write.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from lineage import Lineage
    from lineage.components import push
    import lineage.serving.rollback as rollback

    uri, what, serving, config, m, b = sys.argv[1:7]
    lin = Lineage.open(uri)

    def killed_after(fn):
        def wrapper(*args, **kwargs):
            result = fn(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapper

    if what == "push":
        os.rename = killed_after(os.rename)
        push(lin.artifact(int(m)), lin.artifact(int(b)), model_name="reviews", serving_root=serving,
             config_path=config, store=lin)
    else:
        rollback.write_config = killed_after(rollback.write_config)
        lin.rollback("reviews", to=1, config_path=config, server="127.0.0.1:1", rest="", timeout=5)
""")


@pytest.fixture
def pushed_twice(lin, tmp_path, sqlite_uri):
    serving, config = tmp_path / "serving", tmp_path / "serving" / "models.config"
    ids = []
    for i in (1, 2):
        (tmp_path / f"m{i}").mkdir()
        (tmp_path / f"m{i}" / "saved_model.pb").write_bytes(b"model %d" % i)
        with use(lin):
            m = record("Train", outputs={"model": Model.at(tmp_path / f"m{i}")}).model
            b = record("Evaluate", inputs={"model": m},
                       outputs={"blessing": ModelBlessing.at(tmp_path / f"b{i}", blessed=True)}).blessing
        ids.append((m.id, b.id))
        if i == 1:
            push(m, b, model_name="reviews", serving_root=serving, config_path=config, store=lin)
    return serving, config, ids


def _child(sqlite_uri, what, serving, config, m, b):
    proc = subprocess.run([sys.executable, "-c", CHILD, sqlite_uri, what, str(serving), str(config), str(m), str(b)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr   # it really was killed mid-change


def test_a_push_killed_after_its_version_appeared_is_completed_by_doctor(sqlite_uri, tmp_path, pushed_twice):
    serving, config, ids = pushed_twice
    _child(sqlite_uri, "push", serving, config, *ids[1])
    assert (serving / "reviews" / "2" / "saved_model.pb").exists()     # version 2 is visible to servers
    lin = Lineage.open(sqlite_uri)
    try:
        running = [e for e in lin.serving_history("reviews") if e.state == "RUNNING"]
        assert [(e.action, e.version) for e in running] == [("push", 2)]   # the intent is in history
        report, _ = lin.doctor()
        # the push left RUNNING, and a served version 2 no push has recorded yet
        assert sorted(f.kind for f in report.findings) == ["abandoned-serving-change", "unknown-version"]
        report, doctor = lin.doctor(fix=True)
        assert doctor is not None
        push_exec = lin.execution(running[0].execution.id)
        assert push_exec.state == "COMPLETE" and "took effect" in push_exec.get("result")
        [pushed] = lin.outputs(f"e{push_exec.id}")["pushed"]
        assert pushed.properties["pushed_version"] == 2 and pushed.fingerprint.startswith("sha256:")
        assert lin.served_at("reviews", "now").version == 2
        assert lin.doctor()[0].healthy
    finally:
        lin.close()


def test_a_push_killed_before_its_version_appeared_is_failed_by_doctor(sqlite_uri, tmp_path, pushed_twice):
    serving, config, ids = pushed_twice
    # the version folder never appears: kill on the copy instead of the rename
    child = CHILD.replace("os.rename = killed_after(os.rename)",
                          "import shutil; shutil.copytree = killed_after(shutil.copytree)")
    proc = subprocess.run([sys.executable, "-c", child, sqlite_uri, "push", str(serving), str(config), *map(str, ids[1])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert not (serving / "reviews" / "2").exists()
    lin = Lineage.open(sqlite_uri)
    try:
        lin.doctor(fix=True)
        [e] = [e for e in lin.serving_history("reviews") if e.version == 2]
        assert e.state == "FAILED" and "never appeared" in lin.execution(e.execution.id).get("error_message")
        assert lin.served_at("reviews", "now").version == 1
    finally:
        lin.close()


def test_a_rollback_killed_after_the_config_write_is_completed_by_doctor(sqlite_uri, lin, tmp_path, pushed_twice):
    serving, config, ids = pushed_twice
    push(lin.artifact(ids[1][0]), lin.artifact(ids[1][1]), model_name="reviews", serving_root=serving,
         config_path=config, store=lin)
    assert lin.served_at("reviews", "now").version == 2
    _child(sqlite_uri, "rollback", serving, config, *ids[1])
    entry = model_entry(read_config(config), "reviews")
    assert list(entry.model_version_policy.specific.versions) == [1]     # a server now serves 1
    fresh = Lineage.open(sqlite_uri)
    try:
        [rb] = [e for e in fresh.serving_history("reviews") if e.action == "rollback"]
        assert (rb.state, rb.version) == ("RUNNING", 1)                   # in history, as an intent
        r = cli("doctor", "--fix", "--no-files", "--store", sqlite_uri)   # as an operator runs it
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"closed e{rb.execution.id} as COMPLETE (recorded as e" in r.stdout   # says what it did
        assert fresh.execution(rb.execution.id).state == "COMPLETE"
        state = fresh.served_at("reviews", "now")
        assert (state.version, state.pinned, state.labels) == (1, True, {"stable": 1})
    finally:
        fresh.close()
