"""The query API: traversal against an independent reference, provenance, impact, serving
history at exact timestamps, diff, find, verify, taints, exports."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage import Lineage, record
from lineage.errors import InvalidInput, NotFound
from helpers import cli, record_pipeline, record_push, record_serving_op
from lineage.types import Dataset, Model, ModelBlessing, PushedModel

# ------------------------------------------------------------ random DAGs (hypothesis)


@st.composite
def dags(draw):
    """Sources, then steps each reading some existing artifacts and writing 1-2 new ones."""
    n_sources = draw(st.integers(1, 4))
    n_steps = draw(st.integers(1, 9))
    steps = []
    n_artifacts = n_sources
    for _ in range(n_steps):
        inputs = draw(st.lists(st.integers(0, n_artifacts - 1), min_size=1, max_size=3, unique=True))
        n_out = draw(st.integers(1, 2))
        outputs = list(range(n_artifacts, n_artifacts + n_out))
        n_artifacts += n_out
        steps.append((inputs, outputs))
    return n_sources, steps


def _reference(n_sources, steps):
    """The same DAG as plain Python adjacency, built from the spec, not from the store."""
    up, down = {}, {}
    for s, (ins, outs) in enumerate(steps):
        e = ("e", s)
        for i in ins:
            down.setdefault(("a", i), set()).add(e)
            up.setdefault(e, set()).add(("a", i))
        for o in outs:
            down.setdefault(e, set()).add(("a", o))
            up.setdefault(("a", o), set()).add(e)
    return up, down


def _closure(adj, start, max_hops=None):
    seen, frontier, hops = {start}, {start}, 0
    while frontier and (max_hops is None or hops < max_hops):
        frontier = {n for f in frontier for n in adj.get(f, ())} - seen
        seen |= frontier
        hops += 1
    return seen


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=dags(), data=st.data())
def test_upstream_and_downstream_match_an_independent_reference(dag, data):
    n_sources, steps = dag
    tmp = Path(tempfile.mkdtemp())
    try:
        lin = Lineage.open(f"sqlite:///{tmp / 'm.sqlite'}", artifact_root=str(tmp / "arts"))
        art_ids, exec_ids = {}, {}
        for i in range(n_sources):
            [a] = lin.store.put_artifacts([Dataset.at(f"/data/source-{i}")])
            art_ids[i] = a.id
        for s, (ins, outs) in enumerate(steps):
            result = record("Step", inputs={f"in{k}": art_ids[i] for k, i in enumerate(ins)},
                            outputs={f"out{k}": [Dataset.at(f"/data/out-{o}")] for k, o in enumerate(outs)},
                            params={"step": s}, store=lin)
            exec_ids[s] = result.execution.id
            for k, o in enumerate(outs):
                art_ids[o] = result[f"out{k}"].id
        up, down = _reference(n_sources, steps)
        to_key = lambda n: f"a{art_ids[n[1]]}" if n[0] == "a" else f"e{exec_ids[n[1]]}"
        start = data.draw(st.sampled_from(sorted(set(up) | set(down))))
        hops = data.draw(st.one_of(st.none(), st.integers(0, 6)))
        ref = f"a{art_ids[start[1]]}" if start[0] == "a" else f"e{exec_ids[start[1]]}"
        got_up = set(lin.upstream(ref, max_hops=hops).graph.nodes)
        got_down = set(lin.downstream(ref, max_hops=hops).graph.nodes)
        assert got_up == {to_key(n) for n in _closure(up, start, hops)}
        assert got_down == {to_key(n) for n in _closure(down, start, hops)}
        # edges are exactly the recorded events among those nodes
        g = lin.upstream(ref).graph
        for u, v, d in g.edges(data=True):
            assert d["event"] == ("INPUT" if u.startswith("a") else "OUTPUT")
        lin.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_traversal_continues_past_mlmds_hundred_hop_cap(lin):
    [prev] = lin.store.put_artifacts([Dataset.at("/chain/0")])
    first = prev
    for i in range(60):  # 120 hops from the last artifact back to the first
        prev = record("Step", inputs={"x": prev}, outputs={"y": Dataset.at(f"/chain/{i + 1}")}, store=lin).y
    g = lin.upstream(prev)
    assert f"a{first.id}" in g and len(g) == 121
    assert len(lin.upstream(prev, max_hops=100)) == 101
    assert len(lin.downstream(first)) == 121


def test_types_filter_contracts_paths(lin):
    [raw] = lin.store.put_artifacts([Dataset.at("/d")])
    ex = record("Ingest", inputs={"raw": raw}, outputs={"examples": Dataset.at("/e")}, store=lin)
    m = record("Train", inputs={"data": ex.examples}, outputs={"model": Model.at("/m")}, store=lin)
    g = lin.upstream(m.model, types=["Dataset"])
    assert set(g.graph.nodes) == {f"a{raw.id}", f"a{ex.examples.id}", f"a{m.model.id}"}
    assert g.graph.has_edge(f"a{raw.id}", f"a{ex.examples.id}")
    with pytest.raises(InvalidInput, match="max_hops"):
        lin.upstream(m.model, max_hops=-1)
    with pytest.raises(InvalidInput, match="a context has no lineage"):
        lin.upstream("c1")


# --------------------------------------------------------------- a small pipeline


def test_provenance_report_field_by_field(lin, tmp_path):
    raw, module, examples, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    _, module2, _, m2, ev2 = record_pipeline(lin, tmp_path, module_version=2, lr=0.02, base=m1, raw=raw, run_name="r2")
    record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    p2 = record_push(lin, m2, ev2.blessing, 2, at=2000.0)

    rep = lin.provenance("reviews:2")
    assert rep.target.id == p2.id and rep.pushed.id == p2.id and rep.model.id == m2.id
    assert [a.id for a in rep.datasets] == [raw.id]
    assert rep.datasets[0].fingerprint == lin.artifact(raw.id).fingerprint
    assert {a.get("version") for a in rep.hub_modules} == {1, 2}  # v1 via the warm start
    assert rep.training[0].type == "Train" and rep.training[0].params["lr"] == 0.02
    assert rep.parameters == {"lr": 0.02, "trainable": False}
    assert rep.code_version["git_commit"] == "commit-r2"
    assert [a.id for a in rep.evaluations] == [ev2.evaluation.id]
    assert rep.metrics == {"accuracy": pytest.approx(0.82)}
    assert rep.blessed is True
    assert rep.pushed_at.timestamp() == 2000.0
    assert m1.id in {a.id for a in rep.graph.artifacts(["Model"])}  # warm-start lineage
    assert [e.type for e in rep.steps][-1] == "Push"
    d = rep.to_dict()
    assert d["pushed"]["properties"]["pushed_version"] == 2 and d["blessed"] is True
    json.dumps(d)  # the report is JSON-ready
    assert lin.provenance("reviews").pushed.id == p2.id  # "reviews" alone: serving now
    with pytest.raises(NotFound, match="no pushed version 7"):
        lin.provenance("reviews:7")


def test_served_at_across_pushes_and_rollbacks_at_exact_timestamps(lin, tmp_path):
    _, _, _, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    _, _, _, m2, ev2 = record_pipeline(lin, tmp_path, run_name="r2")
    _, _, _, m3, ev3 = record_pipeline(lin, tmp_path, run_name="r3")
    p1 = record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    p2 = record_push(lin, m2, ev2.blessing, 2, at=2000.0)
    record_serving_op(lin, "Rollback", p1, at=3000.0)
    record_push(lin, m3, ev3.blessing, 3, at=4000.0)             # pinned: still 1
    record_serving_op(lin, "Rollback", p2, at=4500.0, state="FAILED")  # failed: no change
    record_serving_op(lin, "Promote", p2, at=4800.0, label="canary")
    record_serving_op(lin, "Unpin", None, at=5000.0)             # back to latest: 3

    at = lambda t: lin.served_at("reviews", t)
    assert at(999.999).version is None
    assert at(1000.0).version == 1
    assert at(1999.999).version == 1 and at(2000.0).version == 2
    assert at(2999.999).version == 2
    s = at(3000.0)
    assert (s.version, s.pinned, s.labels) == (1, True, {"stable": 1})
    assert at(4000.0).version == 1 and at(4000.0).versions == (1, 2, 3)
    assert at(4500.0).version == 1
    assert at(4800.0).labels == {"stable": 1, "canary": 2}
    s = at(5000.0)
    assert (s.version, s.pinned) == (3, False) and s.since == 5000.0
    assert lin.served_at("reviews").version == 3
    assert at("1970-01-01T00:49:59.999Z").version == 2      # ISO text: 3000 s is the rollback
    assert at("1970-01-01T00:50:00+00:00").version == 1
    hist = lin.serving_history("reviews")
    assert [(h.action, h.version, h.state) for h in hist] == [
        ("push", 1, "COMPLETE"), ("push", 2, "COMPLETE"), ("rollback", 1, "COMPLETE"),
        ("push", 3, "COMPLETE"), ("rollback", 2, "FAILED"), ("promote", 2, "COMPLETE"),
        ("unpin", None, "COMPLETE")]
    with pytest.raises(NotFound, match="no serving endpoint 'nope'"):
        lin.served_at("nope")
    with pytest.raises(InvalidInput, match="not a time"):
        lin.served_at("reviews", "yesterday-ish")


def test_impact_and_taints(lin, tmp_path):
    raw, module, _, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    _, module2, _, m2, ev2 = record_pipeline(lin, tmp_path, module_version=2, raw=raw, run_name="r2")
    record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    record_push(lin, m2, ev2.blessing, 2, at=2000.0)
    # A second model that reuses module v1: one module feeds two served models.
    other = record("Train", inputs={"module": module}, outputs={"model": Model.at("/models/cuisine")}, store=lin).model
    cuisine_blessing = record("Evaluate", inputs={"model": other}, store=lin,
                              outputs={"blessing": ModelBlessing.at("/bless/cuisine", blessed=True)}).blessing
    record_push(lin, other, cuisine_blessing, 1, at=1500.0, name="cuisine")

    imp = lin.impact(module)
    assert {a.id for a in imp.models} == {m1.id, other.id}
    assert {(p.model_name, p.version, p.serving_now) for p in imp.pushed} == {
        ("reviews", 1, False), ("cuisine", 1, True)}
    assert [f"{p.model_name}:{p.version}" for p in imp.serving_affected] == ["cuisine:1"]
    imp_raw = lin.impact(raw)
    assert {(p.model_name, p.version, p.serving_now) for p in imp_raw.pushed} == {
        ("reviews", 1, False), ("reviews", 2, True)}
    assert {a.id for a in imp_raw.evaluations} == {ev1.evaluation.id, ev2.evaluation.id}

    assert lin.impact(tainted_only=True).pushed == []
    taint = lin.taint(module2, "vocabulary built from a leaked test set")
    assert taint.state == "COMPLETE" and taint.properties["reason"].startswith("vocabulary")
    assert set(lin.tainted()) == {module2.id}
    tainted_imp = lin.impact(tainted_only=True)
    assert {(p.model_name, p.version) for p in tainted_imp.pushed} == {("reviews", 2)}
    # the annotation does not show up as lineage
    assert all(e.type != "Taint" for e in lin.downstream(module2).executions())
    lin.untaint(module2, "false alarm")
    assert lin.tainted() == {}
    assert lin.artifact(module2.id).state == "LIVE"  # nothing changed on the artifact
    with pytest.raises(InvalidInput, match="not tainted"):
        lin.untaint(module2, "again")
    with pytest.raises(InvalidInput, match="needs a reason"):
        lin.taint(module2, " ")


def test_diff_models_and_runs(lin, tmp_path):
    raw, _, _, m1, _ = record_pipeline(lin, tmp_path, run_name="r1")
    _, _, _, m2, _ = record_pipeline(lin, tmp_path, module_version=2, lr=0.05, raw=raw, run_name="r2")
    d = lin.diff(m1, m2)
    assert not d.same
    assert d.sections["parameters"] == {"lr": (0.01, 0.05)}
    assert d.sections["code_version"] == {"git_commit": ("commit-r1", "commit-r2")}
    assert d.sections["hub_modules"] == {"me/text/1": (1, None), "me/text/2": (None, 2)}
    assert d.sections["data"] == {}
    assert lin.diff(m1, m1).same
    runs = lin.diff("r1", "r2")
    assert runs.a == "r1" and runs.sections["step Train"]["param lr"] == (0.01, 0.05)


def test_find_with_the_filter_language(lin, tmp_path):
    record_pipeline(lin, tmp_path, lr=0.01, run_name="r1")
    record_pipeline(lin, tmp_path, lr=0.05, module_version=2, run_name="r2")
    assert [e.params["lr"] for e in lin.find(kind="execution", where="lr > 0.02")] == [0.05]
    assert len(lin.find(kind="execution", type="Train", where="lr >= 0.01 and trainable = false")) == 2
    assert [a.uri for a in lin.find("HubModule", "version = 1")] == ["/hub/me/text/1"]
    assert len(lin.find("HubModule", "version in (1, 2)")) == 2
    assert [a.uri for a in lin.find(where="uri ~ '/models/%'")] == ["/models/r2", "/models/r1"]
    assert len(lin.find(where="blessed = true")) == 2
    assert len(lin.find(kind="execution", where="state = COMPLETE", context="PipelineRun:r1")) == 4
    assert len(lin.find(context="r2")) >= 4
    with pytest.raises(InvalidInput, match="has a property 'no_such_property'"):
        lin.find(where="no_such_property = 3")
    assert len(lin.find("Model", since="2000-01-01", until="now")) == 2
    assert lin.find("Model", since="2999-01-01") == []
    assert [e.params["lr"] for e in lin.find(kind="execution", where={"lr": 0.05})] == [0.05]
    for bad, message in [("lr >", "needs a value"), ("lr > 1 or lr < 0", "`or` is not supported"),
                         ("> 3", "expected a field name"), ("lr >> 3", "expected a value"),
                         ("lr = 'x' lr = 2", "expected `and`"), ("state = BOGUS", "unknown artifact state"),
                         ("lr in 1", "`in` takes a list"), ("lr = 'unterminated", "cannot read")]:
        with pytest.raises(InvalidInput, match=message):
            lin.find(where=bad)


def test_verify_reports_missing_and_changed_files(lin, tmp_path):
    from lineage import Input, Output, step, use

    @step
    def write(src: Input[Dataset], out: Output[Dataset]):
        out.path.mkdir()
        (out.path / "part-0").write_text(src.path.read_text())

    src = tmp_path / "src.txt"
    src.write_text("hello")
    with use(lin):
        a = write(Dataset.at(src))
        b = write(Dataset.at(src))
    assert lin.verify().clean
    (Path(a.uri) / "part-0").write_text("tampered")
    shutil.rmtree(b.uri)
    rep = lin.verify()
    assert rep.checked == 3 and [x.id for x in rep.missing] == [b.id]
    assert [(x.id, now.startswith("sha256:")) for x, now in rep.changed] == [(a.id, True)]
    assert not lin.verify(f"a{a.id}").clean and lin.verify(f"a{lin.inputs(lin.producers(a)[0])['src'][0].id}").clean
    assert [x.id for x in lin.verify(lin.producers(b)[0]).missing] == [b.id]


# ------------------------------------------------------------------------ exports


def test_exports_dot_json_graphml_and_openlineage(lin, tmp_path):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.serde import Serde

    from lineage.query import export

    raw, _, _, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    pushed = record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    g = lin.upstream(pushed)

    dot = export.to_dot(g, tainted=[raw.id])
    assert dot.startswith("digraph lineage {") and f'"a{pushed.id}"' in dot
    assert f'"a{raw.id}" -> "e' in dot and 'fillcolor="#fecaca"' in dot
    small = export.to_dot(g, max_nodes=3)
    assert "more nodes not drawn" in small

    data = export.to_node_link(g)
    back = nx.node_link_graph(json.loads(json.dumps(data, default=str)))  # networkx defaults only
    assert set(back.nodes) == set(g.graph.nodes) and set(back.edges) == set(g.graph.edges)

    gml = export.to_graphml(g)
    path = tmp_path / "g.graphml"
    path.write_text(gml)
    read = nx.read_graphml(path)
    assert set(read.nodes) == set(g.graph.nodes)
    assert json.loads(read.nodes[f"a{pushed.id}"]["properties"])["pushed_version"] == 1

    events = export.to_openlineage(g, namespace="reviews")
    assert len(events) == len(g.executions())
    for ev in events:  # rebuilt through the client's own (validating) models, then compared
        rebuilt = RunEvent(
            eventType=ev["eventType"], eventTime=ev["eventTime"], producer=ev["producer"],
            run=Run(runId=ev["run"]["runId"]), job=Job(namespace=ev["job"]["namespace"], name=ev["job"]["name"]),
            inputs=[InputDataset(namespace=d["namespace"], name=d["name"]) for d in ev["inputs"]],
            outputs=[OutputDataset(namespace=d["namespace"], name=d["name"]) for d in ev["outputs"]])
        again = Serde.to_dict(rebuilt)
        for key in ("eventType", "eventTime", "producer"):
            assert again[key] == ev[key]
        assert again["run"]["runId"] == ev["run"]["runId"]
    train = next(e for e in events if e["job"]["name"] == "Train")
    assert train["eventType"] == "COMPLETE" and train["job"]["namespace"] == "reviews"
    assert {d["name"] for d in train["outputs"]} == {"/models/r1"}
    params = {p["key"]: p["value"] for p in train["run"]["facets"]["executionParameters"]["parameters"]}
    assert params == {"lr": "0.01", "trainable": "false"}
    raw_in = [d for e in events for d in e["inputs"] if d["name"] == raw.uri][0]
    assert raw_in["facets"]["version"]["datasetVersion"] == lin.artifact(raw.id).fingerprint


# ------------------------------------------------------------- the TFX-written store


@pytest.fixture
def tfx(tfx_store, tmp_path):
    from lineage.store import upgrade_store
    from lineage.uris import parse_store_uri

    copy = tmp_path / "tfx-upgraded.sqlite"
    upgrade_store(parse_store_uri(str(tfx_store)), copy_to=copy)
    return Lineage.open(str(copy), readonly=True)


def test_tfx_store_provenance_upstream_impact_and_exports(tfx):
    from lineage.query import export

    [pushed] = tfx.artifacts("PushedModel")
    up = tfx.upstream(pushed)
    assert {"ExternalArtifact", "Examples", "ExampleStatistics", "Schema", "TransformGraph", "Model",
            "ModelBlessing"} <= {a.type for a in up.artifacts()}
    rep = tfx.provenance(pushed)
    assert rep.model is not None and rep.model.type == "Model"
    assert [a.type for a in rep.datasets] == ["ExternalArtifact"]
    assert [e.type.rsplit(".", 1)[-1] for e in rep.transforms] == ["Transform"]
    assert rep.training and rep.training[0].type.endswith("Trainer")
    assert rep.transform_graphs and rep.blessings
    assert rep.steps[-1].type.endswith("Pusher")
    [external] = tfx.artifacts("ExternalArtifact")
    imp = tfx.impact(external)
    assert pushed.id in {p.pushed.id for p in imp.pushed}
    # TFX's Pusher writes no serving endpoint: the model name is its destination's folder
    assert [(p.model_name, p.version, p.serving_now) for p in imp.pushed] == [("chicago_taxi_beam", 1592445164, True)]
    assert export.to_dot(up).count("->") == up.graph.number_of_edges()
    assert len(export.to_openlineage(up)) == len(up.executions())
    assert export.to_graphml(up).count("<node ") == len(up)


def test_tfx_pusher_destinations_are_served_models(tfx):
    """A TFX store has no ServingEndpoint context: its Pusher's PushedModel (pushed = 1,
    pushed_destination <serving_dir>/<model>/<version>) is a push of that model (issue 13, defect 8)."""
    raw = tfx.store.mlmd
    [pushed] = [a for a in raw.get_artifacts_by_type("PushedModel")]
    dest = pushed.custom_properties["pushed_destination"].string_value
    name, version = dest.rstrip("/").split("/")[-2:]
    assert tfx.serving_endpoints() == [name] == ["chicago_taxi_beam"]
    [event] = tfx.serving_history(name)
    assert (event.action, event.version, event.state) == ("push", int(version), "COMPLETE")
    assert event.when.isoformat().startswith("2020-06-17T21:49:51")   # the TFX run id: TFX wrote times of 0
    assert tfx.serving_now([name]) == {name: int(version)}
    assert tfx.provenance(name).target.id == pushed.id == tfx.provenance(f"{name}:{version}").target.id
    assert tfx.last_serving_change(name).type.endswith("Pusher")
    with pytest.raises(NotFound):
        tfx.serving_history("chicago_taxi")


def test_serving_now_fast_path_agrees_with_the_replay(lin, tmp_path):
    from lineage.query import served_at, serving_now

    _, _, _, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    _, _, _, m2, ev2 = record_pipeline(lin, tmp_path, run_name="r2")

    def push(model, blessing, version, at, name="reviews"):
        return record("Push", inputs={"model": model, "blessing": blessing},
                      outputs={"pushed": PushedModel.at(f"/s/{name}/{version}", model_name=name,
                                                        pushed_version=version)},
                      started_at=at, ended_at=at, contexts=[("ServingEndpoint", name)], store=lin,
                      properties={"model_name": name, "target_version": version}).pushed

    def op(kind, target, at, name="reviews", state="COMPLETE"):
        props = {"model_name": name}
        if target is not None:
            props["target_version"] = target.properties["pushed_version"]
        record(kind, inputs={"target": target} if target is not None else {}, started_at=at, ended_at=at,
               state=state, properties=props, contexts=[("ServingEndpoint", name)], store=lin)

    def check():
        fast = serving_now(lin.store, ["reviews", "other", "nope"])
        assert fast["reviews"] == served_at(lin.store, "reviews").version
        assert fast["nope"] is None
        return fast

    p1 = push(m1, ev1.blessing, 1, 100.0)
    push(m1, ev1.blessing, 1, 150.0, name="other")
    assert check()["reviews"] == 1
    p2 = push(m2, ev2.blessing, 2, 200.0)
    assert check()["reviews"] == 2
    op("Rollback", p1, 300.0)
    assert check()["reviews"] == 1 and check()["other"] == 1
    op("Rollback", p2, 350.0, state="FAILED")
    assert check()["reviews"] == 1
    push(m2, ev2.blessing, 3, 400.0)
    assert check()["reviews"] == 1   # still pinned
    op("Unpin", None, 500.0)
    assert check()["reviews"] == 3
    assert {(p.model_name, p.version, p.serving_now) for p in lin.impact(m2).pushed} == {
        ("reviews", 2, False), ("reviews", 3, True)}


def test_provenance_metrics_are_the_models_own_not_where_it_was_a_baseline(lin, tmp_path):
    """Model 2 is evaluated with model 1 as its baseline: model 1's metrics stay its own
    (0.81), not those of the newer evaluation it was only compared in (0.85)."""
    from helpers import record_pipeline

    raw, _, _, m1, _ = record_pipeline(lin, tmp_path, lr=0.01, run_name="r1")
    _, _, _, m2, _ = record_pipeline(lin, tmp_path, lr=0.05, raw=raw, run_name="r2", baseline=m1)
    p1, p2 = lin.provenance(f"a{m1.id}"), lin.provenance(f"a{m2.id}")
    assert p1.metrics["accuracy"] == pytest.approx(0.81) and p2.metrics["accuracy"] == pytest.approx(0.85)
    assert [e.uri for e in p1.evaluations] == ["/eval/r1"]


def test_verdicts_are_provenances_verdicts(lin, tmp_path):
    """``verdicts`` (the explorer's badges for every version in a history) gives provenance's
    blessing, taints and metrics, for a model and for the baseline it was compared with."""
    from helpers import record_pipeline

    raw, _, _, m1, _ = record_pipeline(lin, tmp_path, lr=0.01, run_name="r1")
    _, _, _, m2, _ = record_pipeline(lin, tmp_path, lr=0.05, raw=raw, run_name="r2", baseline=m1)
    lin.taint(raw, "mislabelled rows")
    for m in (m1, m2):
        full, light = lin.provenance(f"a{m.id}"), lin.verdicts(f"a{m.id}")
        assert light.target == full.target and light.blessed == full.blessed and light.metrics == full.metrics
        assert [(t.artifact_id, t.reason) for t in light.tainted] == [(t.artifact_id, t.reason) for t in full.tainted]
        assert [t.artifact_id for t in light.tainted] == [raw.id] and light.metrics["accuracy"] > 0.8


def test_tfx_runs_are_runs(tfx):
    """TFX records a pipeline run as a `run` context: runs() and run_steps() read it."""
    [r] = tfx.runs()
    assert r.type == "run" and r.name == "chicago_taxi_beam.2020-06-17T21:49:51.783778"
    assert [c.name for c in tfx.runs("chicago_taxi_beam")] == [r.name] and tfx.runs("other") == []
    assert len(tfx.run_steps(r.name)) == 9


def test_producers_and_consumers_are_mlmds_events(lin, tmp_path):
    """Producers and consumers against raw MLMD events; ``newest=N`` keeps the last N readers."""
    from ml_metadata.proto import metadata_store_pb2

    data = record("Upload", outputs={"data": Dataset.at(tmp_path / "d.csv")}, store=lin)
    readers = [record("Score", inputs={"data": data.data}, store=lin).execution.id for _ in range(5)]
    record("Other", outputs={"x": Dataset.at(tmp_path / "x.csv")}, store=lin)   # unrelated
    events = lin.store.mlmd.get_events_by_artifact_ids([data.data.id])
    inputs = sorted(e.execution_id for e in events if e.type == metadata_store_pb2.Event.INPUT)
    outputs = sorted(e.execution_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT)
    assert [e.id for e in lin.consumers(data.data)] == inputs == readers
    assert [e.id for e in lin.producers(data.data)] == outputs == [data.execution.id]
    assert [e.id for e in lin.consumers(data.data, newest=2)] == readers[-2:]
    assert lin.consumers(data.data, newest=0) == [] and len(lin.consumers(data.data, newest=50)) == 5


def test_provenance_names_the_warm_start_and_what_each_training_read(lin, tmp_path):
    """reviews:2 was fine-tuned from model 1 (served as reviews:1) on module v2; model 1 trained on
    module v1. `lineage provenance` says both (issue 25, item 6)."""
    raw, module1, _, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    _, module2, _, m2, ev2 = record_pipeline(lin, tmp_path, module_version=2, base=m1, raw=raw, run_name="r2")
    record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    record_push(lin, m2, ev2.blessing, 2, at=2000.0)
    p = lin.provenance("reviews:2")
    assert [a.id for a in p.base_models] == [m1.id] and p.served_as == {m1.id: "reviews:1"}
    train1, train2 = lin.producers(m1)[0], lin.producers(m2)[0]
    assert [a.id for a in p.training_inputs[train2.id]] == sorted([m1.id, module2.id])
    assert [a.id for a in p.training_inputs[train1.id]] == [module1.id]
    d = p.to_dict()
    assert d["base_models"][0]["served_as"] == "reviews:1"
    out = cli("--store", lin.uri, "provenance", "reviews:2")
    assert out.returncode == 0, out.stderr
    assert f"warm start:  a{m1.id} Model, served as reviews:1 (the training started from it)" in out.stdout
    assert f"e{train2.id} Train COMPLETE read a{m1.id} Model, a{module2.id} me/text/2" in out.stdout
    assert f"e{train1.id} Train COMPLETE read a{module1.id} me/text/1" in out.stdout
