"""One gate for every change of what serves: push, rollback, promote and unpin refuse a version
that is unblessed or made from tainted data, the same way, and `force` overrides it, recorded."""

from __future__ import annotations

import pytest

from lineage import record, use
from lineage.components import PushRefused, push
from lineage.serving.rollback import RollbackFailed
from lineage.serving.server import ModelServer
from lineage.types import Dataset, Model, ModelBlessing
from toy_models import build_toy

pytestmark = pytest.mark.slow


@pytest.fixture
def served(lin, tmp_path):
    """toy versions 1 and 2 pushed (2 made from `raw`), a server on them, version 1 pinned."""
    serving, config = tmp_path / "serving", tmp_path / "serving" / "models.config"
    (tmp_path / "raw.csv").write_text("x\n1\n")
    with use(lin):
        raw = record("Ingest", outputs={"data": Dataset.at(tmp_path / "raw.csv")}).data
    models = []
    for k in (1.0, 2.0):
        src = build_toy(tmp_path / f"src{int(k)}", k)
        with use(lin):
            m = record("Train", inputs={"data": raw} if k == 2.0 else {}, outputs={"model": Model.at(src)}).model
            b = record("Evaluate", inputs={"model": m},
                       outputs={"blessing": ModelBlessing.at(tmp_path / f"b{int(k)}", blessed=True)}).blessing
        push(m, b, model_name="toy", serving_root=serving, config_path=config, store=lin)
        models.append((m, b))
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0).start()
    kw = {"config_path": str(config), "server": f"127.0.0.1:{server.grpc_port}",
          "rest": f"http://127.0.0.1:{server.rest_port}", "timeout": 60}
    lin.rollback("toy", to=1, **kw)
    lin.taint(raw, reason="mislabelled rows")
    yield lin, kw, models, serving, config, server
    server.stop()


def test_promote_checks_blessing_and_taint_like_rollback(served):
    lin, kw, _, _, config, server = served
    before = config.read_text()
    with pytest.raises(RollbackFailed, match=r"refused to label toy version 2 'canary'.*tainted: mislabelled rows"
                                             r".*--force overrides"):
        lin.promote("toy", version=2, label="canary", **kw)
    assert config.read_text() == before and server.resolve("toy").number == 1
    res = lin.promote("toy", version=2, label="canary", force=True, **kw)
    assert res.forced and lin.execution(res.execution.id).get("forced") is True
    assert server.resolve("toy", label="canary").number == 2


def test_unpin_does_not_silently_return_to_a_tainted_version(served):
    lin, kw, _, _, config, server = served
    before = config.read_text()
    with pytest.raises(RollbackFailed, match=r"refused to unpin toy \(back to version 2\).*tainted"):
        lin.unpin("toy", **kw)
    assert config.read_text() == before and server.resolve("toy").number == 1
    assert [e.state for e in lin.serving_history("toy") if e.action == "unpin"] == ["FAILED"]
    res = lin.unpin("toy", force=True, **kw)
    assert res.forced and server.resolve("toy").number == 2


def test_push_refuses_a_model_made_from_tainted_data(served, tmp_path):
    lin, _, models, serving, config, _ = served
    m2, b2 = models[1]
    with pytest.raises(PushRefused, match=r"made from tainted data .*mislabelled rows.*force=True"):
        push(m2, b2, model_name="toy", serving_root=serving, config_path=config, store=lin)
    assert sorted(p.name for p in (serving / "toy").iterdir()) == ["1", "2"]   # nothing was copied
    res = push(m2, b2, model_name="toy", force=True, serving_root=serving, config_path=config, store=lin)
    assert res.get("forced") is True and (serving / "toy" / "3").exists()
