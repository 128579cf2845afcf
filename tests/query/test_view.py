"""The explorer's readable graph (lineage.query.view) against the graph it stands for: every node
drawn exactly once, every edge counted, groups honest, depths as hops in the raw MLMD store."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import pytest

from lineage.query.view import view_of
from lineage.synthetic import generate


def _raw_store_graph(lin) -> nx.DiGraph:
    """The whole store from MLMD's own API: the reference for depths."""
    g = nx.DiGraph()
    m = lin.store.mlmd
    for a in m.get_artifacts():
        g.add_node(f"a{a.id}")
    for e in m.get_executions():
        g.add_node(f"e{e.id}")
    for ev in m.get_events_by_execution_ids([int(k[1:]) for k in g if k[0] == "e"]):
        a, e = f"a{ev.artifact_id}", f"e{ev.execution_id}"
        g.add_edge(*((a, e) if ev.type == ev.INPUT else (e, a)))
    return g


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from lineage import Lineage

    lin = Lineage.open(f"sqlite:///{tmp_path_factory.mktemp('view')}/s.sqlite")
    info = generate(lin, runs=60, hot_runs=30, datasets=3, modules=2, endpoints=2, seed=11)
    yield lin, info
    lin.close()


def _check(graph, view, min_group):
    g = graph.graph
    members = [m for n in view.nodes for m in n.members]
    assert sorted(members) == sorted(g.nodes)  # a partition: every node once
    holder = view.holder()
    expected = Counter((holder[u], holder[v]) for u, v in g.edges)
    assert {(u, v): c for u, v, c in view.edges} == dict(expected)
    for n in view.nodes:
        kinds = {g.nodes[m]["kind"] for m in n.members}
        types = {g.nodes[m]["type"] for m in n.members}
        assert kinds == {n.kind} and types == {n.type}
        if n.group:
            assert len(n.members) >= 1 and "focus" not in n.marks
            assert not set(graph.roots) & set(n.members)
            assert n.label.startswith("x") and str(len(n.members)) in n.label
    positions = [(n.x, n.y) for n in view.nodes]
    assert len(set(positions)) == len(positions)  # nothing drawn on top of anything


@pytest.mark.parametrize("direction", ["downstream", "upstream", "both"])
@pytest.mark.parametrize("hops", [1, 3, 40])
def test_view_stands_for_the_whole_traversal(synthetic, direction, hops):
    lin, info = synthetic
    for focus in (f"a{info.hot_dataset}", f"a{info.models[-1]}", f"a{info.pushed[0]}", f"a{info.modules[0]}"):
        graph = lin.lineage(focus, direction, hops)
        for min_group in (2, 6, 10_000):
            view = view_of(graph, min_group=min_group)
            _check(graph, view, min_group)
            groups = [n for n in view.nodes if n.group]
            assert all(len(n.members) >= min_group for n in groups)
            if min_group == 10_000:
                assert not groups and len(view.nodes) == len(graph)


def test_depths_are_hops_in_the_raw_store_and_the_hot_fan_out_is_one_node(synthetic):
    lin, info = synthetic
    raw = _raw_store_graph(lin)
    hot = f"a{info.hot_dataset}"
    graph = lin.lineage(hot, "downstream", 4)
    view = view_of(graph)
    holder = view.holder()
    down = nx.single_source_shortest_path_length(raw, hot, cutoff=4)
    for key in graph.graph.nodes:
        assert view.node(holder[key]).depth == down[key]
    [ingests] = [n for n in view.nodes if n.depth == 1]
    readers = sorted(raw.successors(hot))
    assert ingests.group and sorted(ingests.members) == readers and len(readers) == 30
    assert ingests.label == "x30 Ingest"
    up = lin.lineage(f"a{info.models[-1]}", "upstream", 40)
    raw_up = nx.single_source_shortest_path_length(raw.reverse(copy=False), f"a{info.models[-1]}")
    upview = view_of(up, min_group=10_000)
    for n in upview.nodes:
        assert n.depth == -raw_up[n.id]


def test_expanding_a_group_draws_its_newest_members_and_keeps_the_rest_grouped(synthetic):
    lin, info = synthetic
    graph = lin.lineage(f"a{info.hot_dataset}", "downstream", 2)
    view = view_of(graph)
    [group] = [n for n in view.nodes if n.group and n.type == "Ingest"]
    opened = view_of(graph, expanded={group.id: 7})
    singles = [n for n in opened.nodes if not n.group and n.type == "Ingest"]
    [rest] = [n for n in opened.nodes if n.group and n.type == "Ingest"]
    newest = sorted(group.members, key=lambda k: -int(k[1:]))
    assert [n.id for n in singles] == newest[:7] or sorted(n.id for n in singles) == sorted(newest[:7])
    assert rest.id == group.id and sorted(rest.members) == sorted(newest[7:])
    assert rest.label == f"x{len(newest) - 7} more Ingest"
    _check(graph, opened, 6)


def test_marks_focus_failed_cached_and_tainted(lin, tmp_path):
    from helpers import record_pipeline
    from lineage import record

    raw, module, examples, model, ev = record_pipeline(lin, tmp_path)
    failed = record("Train", inputs={"examples": examples, "module": module}, state="FAILED", store=lin).execution
    cached = record("Ingest", inputs={"raw": raw}, state="CACHED", store=lin).execution
    graph = lin.lineage(raw, "downstream", 40)
    view = view_of(graph, tainted=(), min_group=10_000)
    marks = {n.id: n.marks for n in view.nodes}
    assert marks[f"a{raw.id}"] == ("focus",)
    assert marks[f"e{failed.id}"] == ("failed",) and marks[f"e{cached.id}"] == ("cached",)
    assert not any("tainted" in m for m in marks.values())
    lin.taint(examples, reason="labels were shuffled")
    view = view_of(lin.lineage(raw, "downstream", 40), tainted=lin.tainted(), min_group=10_000)
    tainted = {n.id for n in view.nodes if "tainted" in n.marks}
    below = {f"a{examples.id}", f"e{failed.id}", f"a{model.id}", f"e{ev.execution.id}"}
    assert below <= tainted and f"a{raw.id}" not in tainted and f"e{cached.id}" not in tainted


@pytest.mark.parametrize("direction", ["downstream", "upstream", "both"])
def test_a_sketch_draws_exactly_what_the_full_traversal_draws(synthetic, direction):
    """Lineage.sketch (events, types and states only) against Lineage.lineage (full records):
    the same nodes, edges, groups, marks and labels."""
    lin, info = synthetic
    if not lin.tainted():
        lin.taint(lin.node(f"a{info.modules[1]}"), "a taint, so that marks are compared too")
    for focus in (f"a{info.hot_dataset}", f"a{info.models[-1]}", f"a{info.pushed[0]}"):
        for hops in (2, 40):
            full = lin.lineage(focus, direction, hops)
            shape = lin.sketch(focus, direction, hops)
            assert sorted(full.graph.nodes) == sorted(shape.graph.nodes)
            assert sorted(full.graph.edges) == sorted(shape.graph.edges)
            for k, d in shape.graph.nodes(data=True):
                assert d["type"] == full.graph.nodes[k]["type"]
            plain = lin.shape(focus, direction, hops)   # the explorer's input: no networkx
            assert list(plain.nodes) == list(shape.graph.nodes) and sorted(plain.edges) == sorted(shape.graph.edges)
            assert all(plain.succ.get(k, []) == list(shape.graph.successors(k)) for k in plain.nodes)
            assert {k: (d["kind"], d["type"], d["state"]) for k, d in plain.nodes.items()} == \
                   {k: (d["kind"], d["type"], d["state"]) for k, d in shape.graph.nodes(data=True)}
            opened = {"g1:execution:Ingest:": 3}
            a, b, c = lin.view(full, expanded=opened), lin.view(shape, expanded=opened), lin.view(plain, expanded=opened)
            assert [(n.id, n.label, n.members, n.marks, n.x, n.y) for n in a.nodes] == \
                   [(n.id, n.label, n.members, n.marks, n.x, n.y) for n in b.nodes] == \
                   [(n.id, n.label, n.members, n.marks, n.x, n.y) for n in c.nodes]
            assert a.edges == b.edges == c.edges
            assert (c.graph_nodes, c.graph_edges) == (len(full), full.graph.number_of_edges())
