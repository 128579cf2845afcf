"""The Serving page draws the serving graph (issue 28): which server serves which version now, and
an arrow from each head to the module version answering its remote part, in headless Chromium
against a served `lineage ui`, on a store recorded as lineage serve records (leases, observations,
remote answers)."""

from __future__ import annotations

import pytest

from explorer_helpers import SHOTS, open_page, served_browser
from lineage import Lineage, record, use
from lineage.serving.observe import Lease, record_observation, record_remote_answer
from lineage.types import HubModule, Model, ModelBlessing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory):
    from lineage.components import push

    tmp = tmp_path_factory.mktemp("serving-graph")
    uri = f"sqlite:///{tmp / 'metadata.sqlite'}"
    lin = Lineage.open(uri, artifact_root=str(tmp / "artifacts"))
    serving = tmp / "serving"

    def folder(name: str):
        d = tmp / "src" / name
        d.mkdir(parents=True)
        (d / "saved_model.pb").write_bytes(name.encode())
        return d

    with use(lin):
        hub = lin.register(HubModule.at(folder("module"), handle="acme/text/1", publisher="acme", module_name="text",
                                        version=1))
        part = record("ExportModule", inputs={"module": hub},
                      outputs={"servable": Model.at(folder("part"), serving_part="module")}).servable
        push(part, None, model_name="encoder", serving_root=serving, config_path=tmp / "modules.config", store=lin)
        for head in ("clf-a", "clf-b"):
            whole = record("Train", inputs={"module": hub}, outputs={"model": Model.at(folder(head + "-whole"))}).model
            bless = record("Evaluate", inputs={"model": whole},
                           outputs={"blessing": ModelBlessing.at(tmp / "b" / head, blessed=True)}).blessing
            split = record("SplitModel", inputs={"model": whole, "module_part": part},
                           outputs={"head": Model.at(folder(head), serving_part="head", remote_model="encoder")}).head
            push(split, bless, model_name=head, serving_root=serving, config_path=tmp / "heads.config", store=lin)
    store = lin.store
    module_server, heads_server = Lease("127.0.0.1:8600", heartbeat=600), Lease("127.0.0.1:8500", heartbeat=600)
    module_server.begin(store)
    heads_server.begin(store)
    record_observation(store, "encoder", 1, "AVAILABLE", server="127.0.0.1:8600", instance=module_server.name)
    for head in ("clf-a", "clf-b"):
        record_observation(store, head, 1, "AVAILABLE", server="127.0.0.1:8500", instance=heads_server.name)
        record_remote_answer(store, head, 1, "encoder", 1, remote_server="127.0.0.1:8600", server="127.0.0.1:8500",
                             instance=heads_server.name)
    yield uri, lin
    lin.close()


def test_the_serving_graph_in_the_record(fleet_store):
    _, lin = fleet_store
    graph = lin.serving_graph()
    assert graph.servers == {"127.0.0.1:8500": ["clf-a:1", "clf-b:1"], "127.0.0.1:8600": ["encoder:1"]}
    assert graph.calls == [("clf-a:1", "encoder:1", "127.0.0.1:8600"), ("clf-b:1", "encoder:1", "127.0.0.1:8600")]
    assert lin.served_at("clf-a").remote == ("encoder:1",)
    assert lin.last_serving_change("clf-a").type == "Push"   # a remote answer is not a change of what serves


def test_the_serving_page_draws_servers_models_and_remote_calls(fleet_store):
    uri, _ = fleet_store
    with served_browser(uri) as (page, base):
        open_page(page, f"{base}/?page=serving&model=clf-a", "Serving")
        page.locator("h3", has_text="Servers and models").first.wait_for(timeout=60000)
        page.get_by_text("its remote part is answered by encoder:1 on 127.0.0.1:8600").first.wait_for(timeout=30000)
        svg = page.locator('[data-testid="stGraphVizChart"] svg').first
        svg.wait_for(timeout=30000)
        texts = svg.locator("text").all_text_contents()
        for want in ("127.0.0.1:8500", "127.0.0.1:8600", "clf-a:1", "clf-b:1", "encoder:1",
                     "remote part via 127.0.0.1:8600"):
            assert want in texts, (want, texts)
        assert svg.locator("g.edge").count() == 2
        page.screenshot(path=str(SHOTS / "serving-graph.png"), full_page=True)
        open_page(page, f"{base}/?page=serving&model=encoder", "Serving")
        page.get_by_text("it answers the remote part of clf-a:1, clf-b:1").first.wait_for(timeout=30000)
