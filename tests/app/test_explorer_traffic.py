"""The Serving page shows the logged requests per version (issue 15), in headless Chromium against
a served `lineage ui`, on a store whose request logs a real model server wrote and recorded."""

from __future__ import annotations

import grpc
import pytest

from explorer_helpers import SHOTS, open_page, served_browser, table_rows
from lineage import Lineage, record, use
from toy_models import build_toy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from lineage.components import push
    from lineage.serving.config import model_entry, read_config, write_config
    from lineage.serving.observe import Observer
    from lineage.serving.server import ModelServer
    from lineage.serving.server.tfenv import tf
    from lineage.types import Model, ModelBlessing

    tmp = tmp_path_factory.mktemp("traffic")
    uri = f"sqlite:///{tmp / 'metadata.sqlite'}"
    lin = Lineage.open(uri, artifact_root=str(tmp / "artifacts"))
    serving, config = tmp / "serving", tmp / "serving" / "models.config"
    with use(lin):
        for k in (1, 2):
            m = record("Train", outputs={"model": Model.at(build_toy(tmp / f"src{k}", float(k)))}).model
            b = record("Evaluate", inputs={"model": m},
                       outputs={"blessing": ModelBlessing.at(tmp / f"b{k}", blessed=True)}).blessing
            push(m, b, model_name="toy", serving_root=serving, config_path=config, store=lin)
    cfg = read_config(config)
    entry = model_entry(cfg, "toy")
    entry.logging_config.log_collector_config.filename_prefix = str(tmp / "logs" / "toy")
    entry.logging_config.sampling_config.sampling_rate = 1.0
    write_config(config, cfg)
    observer = Observer(uri, "local")
    server = ModelServer(str(config), grpc_port=0, rest_port=0, poll_seconds=0, on_state=observer,
                         on_log_closed=observer.log_closed).start()
    TF = tf()
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
        for n, then in ((12, "roll back to 1"), (8, None)):
            for i in range(n):
                req = predict_pb2.PredictRequest()
                req.model_spec.name = "toy"
                req.inputs["x"].CopyFrom(TF.make_tensor_proto([float(i)], dtype=TF.float32))
                stub.Predict(req, timeout=30)
            if then:
                lin.rollback("toy", to=1, config_path=str(config), server=f"127.0.0.1:{server.grpc_port}", timeout=60)
        server.request_log.flush()
    finally:
        server.stop()
        observer.close()
    yield uri, lin
    lin.close()


def test_the_serving_page_shows_traffic_per_version(logged):
    uri, lin = logged
    assert {t.version: t.sampled for t in lin.predictions("toy")} == {1: 8, 2: 12}
    with served_browser(uri) as (page, base):
        open_page(page, f"{base}/?page=serving&model=toy", "Serving")
        page.locator("h3", has_text="Traffic per version").first.wait_for(timeout=60000)
        totals = page.locator('[data-testid="stDataFrame"]').filter(
            has=page.locator('th[role="columnheader"]', has_text="estimated")).first
        rows = table_rows(totals)
        assert {(r["version"], r["sampled"]) for r in rows} == {("1", "8"), ("2", "12")}
        assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 2   # serving version, traffic
        page.get_by_text("Training/serving skew of version", exact=False).first.wait_for(timeout=30000)
        page.screenshot(path=str(SHOTS / "serving-traffic.png"), full_page=True)
