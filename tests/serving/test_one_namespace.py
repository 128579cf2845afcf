"""One namespace per store (issue 23): two working directories sharing one store number a served
model's versions in one sequence, an endpoint has one serving root, a module handle and version
name one content, and doctor reports stores written before these rules."""

from __future__ import annotations

import os

import pytest

from lineage import Lineage, record, use
from lineage.components.push import PushRefused, push_saved_model
from lineage.serving.rollback import RollbackFailed
from lineage.types import HubModule, ModelBlessing, PushedModel


def _saved_model(path, content: bytes):
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(content)
    (path / "variables").mkdir()
    (path / "variables" / "variables.index").write_bytes(content[::-1])
    return path


def _machine(tmp_path, name):
    """A working directory of its own: its serving root and model config are its own."""
    home = tmp_path / name
    return {"serving_root": home / "serving", "config_path": home / "serving" / "models.config"}, home


def test_versions_are_numbered_by_the_store_and_the_serving_root_is_the_endpoints(tmp_path):
    lin = Lineage.open(f"sqlite:///{tmp_path / 'shared' / 'metadata.sqlite'}")
    a, a_home = _machine(tmp_path, "a")
    b, b_home = _machine(tmp_path, "b")
    p1 = push_saved_model(lin, _saved_model(a_home / "m1", b"one"), model_name="reviews", force=True, **a)
    assert p1.get("pushed_version") == 1
    ctx = lin.store.get_context_by_name("ServingEndpoint", "reviews")
    assert ctx.properties["serving_root"] == str(a["serving_root"].absolute())
    before = lin.counts()
    with pytest.raises(PushRefused, match=rf"reviews is served from {a['serving_root']} .* --move-endpoint"):
        push_saved_model(lin, _saved_model(b_home / "m2", b"two"), model_name="reviews", force=True, **b)
    assert lin.counts() == before and not (b["serving_root"] / "reviews").exists()   # nothing recorded or copied
    p2 = push_saved_model(lin, b_home / "m2", model_name="reviews", force=True, move_endpoint=True, **b)
    assert p2.get("pushed_version") == 2                      # never a second version 1
    assert sorted(os.listdir(b["serving_root"] / "reviews")) == ["2"]
    [push2] = lin.producers(p2)
    assert push2.get("moved_endpoint_from") == str(a["serving_root"].absolute())
    ctx = lin.store.get_context_by_name("ServingEndpoint", "reviews")
    assert ctx.properties["serving_root"] == str(b["serving_root"].absolute())
    with pytest.raises(PushRefused, match="version 1 already exists in .*pushed from another machine"):
        push_saved_model(lin, _saved_model(b_home / "m3", b"three"), model_name="reviews", force=True,
                         version=1, **b)
    assert [e.version for e in lin.serving_history("reviews") if e.action == "push"] == [1, 2]
    assert lin.provenance("reviews:2").model.id == lin.node(f"a{lin.inputs(push2)['model'][0].id}").id
    # a rollback through machine a's model config (which serves from a's folder) is refused
    with pytest.raises(RollbackFailed, match=r"store records its versions under .*b/serving/reviews"):
        lin.rollback("reviews", to=1, config_path=str(a["config_path"]), server="127.0.0.1:1",
                     rest="http://127.0.0.1:1", timeout=2)
    report, _ = lin.doctor(check_files=False)
    assert not [f for f in report.findings if f.kind.startswith("duplicate")]


def test_doctor_reports_one_version_or_module_with_two_contents(tmp_path):
    lin = Lineage.open(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
    with use(lin):   # what two working directories wrote before this rule, recorded as they did
        for i, home in enumerate(("a", "b")):
            d = _saved_model(tmp_path / home / "serving" / "reviews" / "1", f"model {home}".encode())
            record("Push", outputs={"pushed": PushedModel.at(d, model_name="reviews", pushed_version=1)})
            m = _saved_model(tmp_path / home / "hub" / "me" / "text" / "1", f"module {home}".encode())
            record("PublishModule", outputs={"module": HubModule.at(m, handle="me/text/1", publisher="me",
                                                                      module_name="text", version=1)})
        record("Evaluate", outputs={"b": ModelBlessing.at(tmp_path / "bless", blessed=True)})
    report, _ = lin.doctor(check_files=False)
    found = {(f.kind, f.ref): f.detail for f in report.findings}
    assert set(found) == {("duplicate-version", "reviews:1"), ("duplicate-module", "me/text/1")}
    assert "one served version, 2 contents" in found[("duplicate-version", "reviews:1")]


def test_a_module_handle_names_one_content_across_the_store(tmp_path):
    from lineage.components.hub import publish_module, resolve_module

    lin = Lineage.open(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
    src = _saved_model(tmp_path / "src", b"module bytes")
    v1 = publish_module(src, publisher="me", name="text", hub_root=tmp_path / "hub-a", store=lin)
    assert v1.get("handle") == "me/text/1"
    # machine b, its own hub folder: the next version is 2, never a second 1
    other = _saved_model(tmp_path / "other", b"other bytes")
    v2 = publish_module(other, publisher="me", name="text", hub_root=tmp_path / "hub-b", store=lin)
    assert v2.get("handle") == "me/text/2"
    # the same bytes as version 1 under version 1 on b: the recorded artifact, and b's folder has it
    again = publish_module(src, publisher="me", name="text", version=1, hub_root=tmp_path / "hub-b", store=lin)
    assert again.id == v1.id and (tmp_path / "hub-b" / "me" / "text" / "1" / "saved_model.pb").exists()
    assert resolve_module("me/text/1", hub_root=tmp_path / "hub-b", store=lin).id == v1.id
    # other bytes under a recorded handle and version: refused, in publish and in resolve
    with pytest.raises(Exception, match="is not the module me/text/1 recorded"):
        publish_module(other, publisher="me", name="text", version=1, hub_root=tmp_path / "hub-c", store=lin)
    _saved_model(tmp_path / "hub-d" / "me" / "text" / "1", b"tampered")
    with pytest.raises(Exception, match="is not the module me/text/1 recorded"):
        resolve_module("me/text/1", hub_root=tmp_path / "hub-d", store=lin)
    assert len(lin.artifacts("HubModule", limit=None)) == 2
