"""The synthetic store generator (small here; large in bench/), and the queries on its shape
checked against the whole store loaded into networkx."""

from __future__ import annotations

import networkx as nx

from lineage.synthetic import generate


def _whole_store(lin) -> nx.DiGraph:
    g = nx.DiGraph()
    m = lin.store.mlmd
    for a in m.get_artifacts():
        g.add_node(f"a{a.id}", type=a.type)
    for e in m.get_executions():
        g.add_node(f"e{e.id}", type=e.type)
    for ev in m.get_events_by_execution_ids([int(k[1:]) for k in g if k[0] == "e"]):
        a, e = f"a{ev.artifact_id}", f"e{ev.execution_id}"
        g.add_edge(*((a, e) if ev.type == ev.INPUT else (e, a)))
    return g


def test_generated_store_has_the_promised_shape_and_queries_agree(lin):
    info = generate(lin, runs=40, hot_runs=12, datasets=4, modules=3, endpoints=3, seed=3)
    assert info.runs == 40 and len(info.models) == 40
    assert 2.2 <= info.artifacts / info.executions <= 3.5
    runs = lin.runs(limit=None)
    assert len(runs) == 40
    for ctx in runs:
        steps = [e.type for e in lin.run_steps(ctx)]
        assert 6 <= len(steps) <= 9 and steps[0] == "Ingest"
    g = _whole_store(lin)
    hot = f"a{info.hot_dataset}"
    readers = [e for e in g.successors(hot)]
    assert len(readers) == 12  # the hot dataset feeds exactly hot_runs ingests

    imp = lin.impact(info.hot_dataset)
    naive_models = {k for k in nx.descendants(g, hot) if g.nodes[k]["type"] == "Model"}
    assert {f"a{a.id}" for a in imp.models} == naive_models and len(naive_models) == 12
    assert {f"a{p.pushed.id}" for p in imp.pushed} == {
        k for k in nx.descendants(g, hot) if g.nodes[k]["type"] == "PushedModel"}

    for pushed in info.pushed[:5]:
        rep = lin.provenance(pushed)
        assert set(rep.graph.graph.nodes) == nx.ancestors(g, f"a{pushed}") | {f"a{pushed}"}
        assert rep.model is not None and rep.hub_modules and rep.datasets
    module_models = {k for k in nx.descendants(g, f"a{info.modules[0]}") if g.nodes[k]["type"] == "Model"}
    assert {f"a{a.id}" for a in lin.impact(info.modules[0]).models} == module_models
