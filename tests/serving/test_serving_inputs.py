"""Bad input to the serving commands is refused before anything is touched: model names that
would leave the serving root, version numbers no server knows, ports that are not ports or are
taken, negative timeouts. The model config stays readable by a TF Serving running as another user."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys

import pytest

from lineage import record, use
from lineage.components import push
from lineage.errors import InvalidInput
from lineage.serving.rollback import RollbackFailed
from lineage.types import Model, ModelBlessing
from helpers import cli


@pytest.fixture
def model(lin, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "saved_model.pb").write_bytes(b"not really")
    with use(lin):
        m = record("Train", outputs={"model": Model.at(tmp_path / "m")}).model
        b = record("Evaluate", inputs={"model": m}, outputs={"blessing": ModelBlessing.at(
            tmp_path / "b", blessed=True)}).blessing
    return m, b


@pytest.mark.parametrize("name", ["../../escaped", "/abs/olute", ".", "..", "", "a/b", ".hidden"])
def test_model_names_that_leave_the_serving_root_are_refused(lin, tmp_path, model, name):
    root, config = tmp_path / "serving", tmp_path / "serving" / "models.config"
    with pytest.raises(InvalidInput, match="model name"):
        push(*model, model_name=name, serving_root=root, config_path=config, store=lin)
    assert not root.exists() and lin.executions("Push") == []
    assert not (tmp_path.parent / "escaped").exists()


def test_the_model_config_is_readable_by_others(lin, tmp_path, model):
    config = tmp_path / "serving" / "models.config"
    push(*model, model_name="reviews", serving_root=tmp_path / "serving", config_path=config, store=lin)
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    assert (tmp_path / "serving" / "reviews" / "1" / "saved_model.pb").exists()


@pytest.mark.parametrize("version", [1180591620717411303424, 0, -1, 2**31])
def test_impossible_versions_are_refused_before_anything_is_recorded(lin, tmp_path, model, version):
    push(*model, model_name="reviews", serving_root=tmp_path / "serving",
         config_path=tmp_path / "serving" / "models.config", store=lin)
    before = (tmp_path / "serving" / "models.config").read_text()
    with pytest.raises(RollbackFailed, match="not a version number"):
        lin.rollback("reviews", to=version, config_path=str(tmp_path / "serving" / "models.config"))
    with pytest.raises(RollbackFailed, match="not a version number"):
        lin.promote("reviews", version=version, config_path=str(tmp_path / "serving" / "models.config"))
    assert lin.executions("Rollback") == [] and lin.executions("Promote") == []
    assert (tmp_path / "serving" / "models.config").read_text() == before


@pytest.mark.parametrize("args, says", [
    (["serve", "--grpc-port", "99999"], "99999 is not a port"),
    (["serve", "--rest-port", "http"], "'http' is not a port number"),
    (["serve", "--poll", "-1"], "must be 0 or more"),
    (["rollback", "reviews", "--to", "1", "--timeout", "-1"], "must be 0 or more"),
    (["rollback", "reviews", "--to", "1", "--timeout", "0"], "must be more than 0"),
])
def test_cli_arguments_that_cannot_work_are_usage_errors(args, says):
    r = cli(*args)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_a_port_in_use_is_one_clear_line(tmp_path):
    config = tmp_path / "models.config"
    config.write_text("model_config_list {}\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "lineage.cli", "serve", "--config", str(config),
                            "--grpc-port", "0", "--rest-port", str(port)], capture_output=True, text=True,
                           timeout=180)
    assert r.returncode == 1 and "cannot serve on 127.0.0.1" in r.stderr and "Traceback" not in r.stderr
