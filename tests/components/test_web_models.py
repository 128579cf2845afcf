"""TF.js conversion as a recorded step (issue 28), tested as a user would: the converted folders
served over HTTP on loopback, loaded in headless Chromium with the vendored @tensorflow/tfjs, the
example's inputs run there, and the answers compared with the same module and model served by the
model server (REST, as `lineage serve` answers)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import urllib.request
from pathlib import Path

import pytest

import lineage.components  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from explorer_helpers import SHOTS, chromium_path, launch
from lineage import Lineage, record, use
from lineage.components import build_text_embedding, export_module, model_to_web, module_to_web, publish_module, push
from lineage.components.web import WebConversionFailed
from lineage.serving.server import ModelServer
from lineage.types import Model, ModelBlessing
from toy_models import build_toy

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SENTENCES = ["The ramen was delicious and fresh.", "COLD pizza, RUDE staff -- never again!!!", "",
             "   ", "zebra quantum xylophone", "Don't miss the tacos' salsa", "Café crème brûlée: très bon",
             "emoji 🍜 ramen 🍜 fresh", "tab\tseparated\nlines"]


def _vocabulary():
    import sys

    sys.path.insert(0, str(REPO / "examples"))
    from reviews_pipeline import vocabulary

    return vocabulary(60)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    lin = Lineage.open(f"sqlite:///{tmp / 'metadata.sqlite'}", artifact_root=str(tmp / "artifacts"))
    src = build_text_embedding(tmp / "module-src", _vocabulary(), dim=16, seed=1)
    hub = publish_module(src, publisher="acme", name="review-text", hub_root=tmp / "hub", store=lin)
    with use(lin):
        part = export_module(hub)
        module_web = module_to_web(hub)
        toy = record("Train", outputs={"model": Model.at(build_toy(tmp / "toy", 3.0))}).model
        bless = record("Evaluate", inputs={"model": toy},
                       outputs={"blessing": ModelBlessing.at(tmp / "bless", blessed=True)}).blessing
        toy_web = model_to_web(toy)
    config = tmp / "serving" / "models.config"
    push(part, None, model_name="review-text-encoder", serving_root=tmp / "serving", config_path=config, store=lin)
    push(toy, bless, model_name="toy", serving_root=tmp / "serving", config_path=config, store=lin)
    server = ModelServer(str(config), grpc_port=0, rest_port=0).start()
    handler = functools.partial(_Quiet, directory=str(tmp))
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    yield {"lin": lin, "tmp": tmp, "hub": hub, "part": part, "module_web": module_web, "toy_web": toy_web,
           "server": server, "base": f"http://127.0.0.1:{http_server.server_address[1]}"}
    http_server.shutdown()
    server.stop()
    lin.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _served(server, model: str, inputs: dict):
    req = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}/v1/models/{model}:predict",
                                 data=json.dumps({"inputs": inputs}).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())["outputs"]


def _url(web, artifact) -> str:
    return web["base"] + "/" + str(Path(artifact.uri).relative_to(web["tmp"])) + "/index.html"


def test_the_web_models_are_recorded_linked_and_fingerprinted(web):
    lin, mw = web["lin"], web["module_web"]
    assert mw.type == "WebModel" and mw.fingerprint.startswith("sha256:")
    assert mw.get("source") == "acme/review-text/1" and mw.get("tfjs_version") == "4.20.0"
    folder = Path(mw.uri)
    assert {"model.json", "vocabulary.txt", "tokenizer.json", "tokenize.js", "tf.min.js", "index.html",
            "lineage_web.json"} <= {p.name for p in folder.iterdir()}
    assert lin.producers(mw)[0].type == "ConvertToWeb"
    assert [a.id for a in lin.inputs(lin.producers(mw)[0])["module"]] == [web["hub"].id]
    # a tainted module reaches its web model
    lin.taint(web["hub"], "vocabulary built from leaked data")
    try:
        imp = lin.impact(web["hub"])
        assert mw.id in {a.id for a in imp.web_models}
        assert "web_models" in imp.to_dict()
    finally:
        lin.untaint(web["hub"], "test over")


def test_a_model_tensorflow_js_cannot_run_is_refused_by_name(web):
    with use(web["lin"]), pytest.raises(WebConversionFailed) as err:
        model_to_web(web["part"])   # string ops and a vocabulary table inside
    assert "cannot run in a browser" in str(err.value) or "TensorFlow.js does not have" in str(err.value)
    assert f"a{web['part'].id}" in str(err.value)


def test_the_browser_answers_as_the_model_server(web):
    from playwright.sync_api import sync_playwright

    served = {"embedding": _served(web["server"], "review-text-encoder", {"text": SENTENCES})}  # one output: bare
    toy_served = _served(web["server"], "toy", {"x": [0.5, -2.0, 10.0]})
    requests = []
    with sync_playwright() as p:
        browser = launch(p, chromium_path())
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(_url(web, web["module_web"]))
        page.get_by_text("module acme/review-text/1 (TensorFlow.js 4.20.0)").wait_for(timeout=60000)
        got = page.evaluate("""async (texts) => {
            await tf.setBackend('cpu');
            const tok = await lineageTokenizer('');
            const model = await tf.loadGraphModel(new URL('model.json', location.href).href);
            const ids = tok.encode(texts);
            const out = model.execute({ids: tf.tensor2d(ids.values, ids.shape, 'int32')});
            return {embedding: await out.array(), tokens: texts.map(tok.tokens)};
        }""", SENTENCES)
        for sentence, want, have in zip(SENTENCES, served["embedding"], got["embedding"]):
            assert max(abs(a - b) for a, b in zip(want, have)) < 1e-5, (sentence, want, have)
        assert got["tokens"][1] == ["cold", "pizza", "rude", "staff", "never", "again"]
        page.click("#run")   # the folder's own page, as a person would use it
        page.wait_for_function("document.getElementById('out').textContent.length > 0", timeout=30000)
        assert len(json.loads(page.inner_text("#out"))) == 16
        page.screenshot(path=str(SHOTS / "web-model.png"))

        page.goto(_url(web, web["toy_web"]))
        page.get_by_text("(TensorFlow.js 4.20.0)", exact=False).wait_for(timeout=60000)
        toy = page.evaluate("""async (x) => {
            await tf.setBackend('cpu');
            const model = await tf.loadGraphModel(new URL('model.json', location.href).href);
            const out = [].concat(model.execute({x: tf.tensor1d(x, 'float32')}));
            return {values: await Promise.all(out.map((t) => t.array()))};
        }""", [0.5, -2.0, 10.0])
        browser.close()
    assert any(len(v) == 3 and max(abs(a - b) for a, b in zip(v, toy_served["y"])) < 1e-6 for v in toy["values"])
    assert all(u.startswith(web["base"]) for u in requests), [u for u in requests if not u.startswith(web["base"])]
