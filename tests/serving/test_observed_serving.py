""""What is serving" is observed: the model server records each version's state changes, `lineage
watch` records what a server reports, "serving now" answers from those observations, and
`lineage history --check` says when the store and the live server disagree. Real server on
127.0.0.1, real SQLite store, real CLI processes."""

from __future__ import annotations

import json
import time

import pytest

from helpers import cli
from lineage import Lineage, record, use
from lineage.components import push
from lineage.serving.observe import Observer, last_observed
from lineage.serving.server import ModelServer
from lineage.types import Model, ModelBlessing
from toy_models import build_toy

pytestmark = pytest.mark.slow


@pytest.fixture
def two_versions(lin, tmp_path):
    serving, config = tmp_path / "serving", tmp_path / "serving" / "models.config"
    for k in (1.0, 2.0):
        src = build_toy(tmp_path / f"src{int(k)}", k)
        with use(lin):
            m = record("Train", outputs={"model": Model.at(src)}).model
            b = record("Evaluate", inputs={"model": m},
                       outputs={"blessing": ModelBlessing.at(tmp_path / f"b{int(k)}", blessed=True)}).blessing
        push(m, b, model_name="toy", serving_root=serving, config_path=config, store=lin)
    return config


def _until(fn, what, seconds=60.0):
    end = time.monotonic() + seconds
    while not fn():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def _observed(lin, version, state):
    return lambda: last_observed(lin.store, "toy").get(version) == state


def test_serving_now_follows_what_the_server_reports(lin, sqlite_uri, two_versions):
    config = two_versions
    observer = Observer(sqlite_uri, "local")
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0, on_state=observer).start()
    kw = {"config_path": str(config), "server": f"127.0.0.1:{server.grpc_port}",
          "rest": f"http://127.0.0.1:{server.rest_port}", "timeout": 60}
    try:
        _until(_observed(lin, 2, "AVAILABLE"), "version 2 AVAILABLE")
        state = lin.served_at("toy", "now")
        assert (state.version, state.source, state.available) == (2, "observed", (2,))
        states = [(e.version, e.observed) for e in lin.serving_history("toy") if e.action == "observed"]
        assert states == [(2, "LOADING"), (2, "AVAILABLE")]
        [obs] = [e for e in lin.serving_history("toy") if e.observed == "AVAILABLE"]
        assert [a.properties["pushed_version"] for a in lin.inputs(f"e{obs.execution.id}")["version"]] == [2]

        # the blocker of the issue: promote after rollback. TF Serving answers unlabelled
        # requests with the highest available version, and so must "serving now"
        lin.rollback("toy", to=1, **kw)
        _until(_observed(lin, 2, "END"), "version 2 unloaded")
        assert lin.served_at("toy", "now").version == 1
        lin.promote("toy", version=2, label="canary", **kw)
        _until(_observed(lin, 2, "AVAILABLE"), "version 2 loaded again")
        state = lin.served_at("toy", "now")
        assert (state.version, state.available, state.labels) == (2, (1, 2), {"stable": 1, "canary": 2})
        assert server.resolve("toy").number == 2   # what the live server answers agrees

        env = {"LINEAGE_STORE": sqlite_uri}
        ok = cli("history", "toy", "--check", "--server", kw["server"], "--config", str(config), "--json", env=env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert json.loads(ok.stdout)["check"] == {"agrees": True, "problems": []}

        # the server changes while nobody records it: the check says so, and exits 1
        observer.close()
        server.on_state = None
        lin.rollback("toy", to=1, **kw)
        bad = cli("history", "toy", "--check", "--server", kw["server"], "--config", str(config), env=env)
        assert bad.returncode == 1
        assert "the store says version 2 serves toy; the server at" in bad.stdout and "answers with version 1" in bad.stdout
    finally:
        server.stop()


def test_watch_records_what_a_server_reports_once(lin, sqlite_uri, two_versions):
    server = ModelServer(str(two_versions), grpc_port=0, rest_port=0, poll_seconds=0).start()
    target = f"127.0.0.1:{server.grpc_port}"
    env = {"LINEAGE_STORE": sqlite_uri}
    try:
        first = cli("watch", "--server", target, "--once", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == ["toy version 2: AVAILABLE"]
        again = cli("watch", "--server", target, "--once", env=env)
        assert again.returncode == 0 and again.stdout == ""      # nothing changed, nothing recorded
        assert last_observed(lin.store, "toy", target) == {2: "AVAILABLE"}
        assert lin.served_at("toy", "now").source == "observed"
    finally:
        server.stop()
    after = cli("watch", "--server", target, "--once", env=env)
    assert after.returncode != 0 and "did not answer" in after.stderr and "Traceback" not in after.stderr


def test_the_server_records_every_version_unloading_when_it_stops(sqlite_uri, two_versions):
    observer = Observer(sqlite_uri, "local")
    server = ModelServer(str(two_versions), grpc_port=0, rest_port=0, poll_seconds=0, on_state=observer).start()
    server.stop()
    observer.close()
    with Lineage.open(sqlite_uri) as lin:
        assert [e.observed for e in lin.serving_history("toy") if e.action == "observed"] == [
            "LOADING", "AVAILABLE", "UNLOADING", "END"]
        assert lin.served_at("toy", "now").version is None   # nothing serves: the truth
