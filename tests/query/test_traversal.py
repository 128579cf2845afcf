"""The one traversal (lineage.query.traversal.walk) on every backend: its events are ML Metadata's
own traversal's, past ML Metadata's hop cap too, and a cache hit's reused outputs lead nowhere;
the graphs built on it (trace, shape) hold the same nodes and edges."""

from __future__ import annotations

import pytest

from lineage import record
from lineage.errors import InvalidInput
from lineage.query import shape, trace, walk
from lineage.synthetic import generate


@pytest.fixture
def filled(any_lin):
    info = generate(any_lin, runs=12, hot_runs=5, datasets=2, modules=2, endpoints=2, seed=3)
    hot = any_lin.node(f"a{info.hot_dataset}")
    # a cache hit reading the hot dataset, and a step after it that read the hit's "output"
    reused = any_lin.artifacts("Dataset", limit=None)[-1]
    hit = record("Ingest", inputs={"raw": hot}, outputs={"examples": reused}, state="CACHED", store=any_lin)
    return any_lin, info, hit


def test_the_walk_finds_ml_metadatas_events_on_every_backend(filled):
    lin, info, hit = filled
    s = lin.store
    pushed = [a.id for a in lin.artifacts("PushedModel", limit=None)]
    starts = [("artifact", info.hot_dataset), ("artifact", pushed[0]), ("artifact", pushed[-1])]
    for kind, i in starts:
        for direction in ("UPSTREAM", "DOWNSTREAM"):
            for hops in (0, 1, 3, 100):
                ids = {"artifact_ids": [i]} if kind == "artifact" else {"execution_ids": [i]}
                ours = s.traversal_edges(direction=direction, max_hops=hops, **ids)
                mlmd = s.mlmd_traversal_edges(direction=direction, max_hops=hops, **ids)
                assert sorted(ours) == sorted(set(mlmd)), (kind, i, direction, hops)
                assert len(ours) == len(set(ours))
    up = walk(s, [("artifact", pushed[-1])], "UPSTREAM")           # a served model back to its data
    mlmd = s.mlmd_traversal_edges(artifact_ids=[pushed[-1]], direction="UPSTREAM")
    # ML Metadata also walks into the cache hit, which only reused what it "output"
    assert up.executions == {e for _, e, _ in mlmd} - {hit.execution.id} and hit.execution.id in {e for _, e, _ in mlmd}
    assert pushed[-1] in up.artifacts and up.artifacts <= {a for a, _, _ in mlmd}
    assert len(up.executions) >= 4 and {"Dataset", "PushedModel"} <= set(s.artifact_types(sorted(up.artifacts)).values())


def test_a_cache_hits_reused_output_leads_nowhere(filled):
    lin, info, hit = filled
    down = walk(lin.store, [("artifact", info.hot_dataset)], "DOWNSTREAM")
    assert hit.execution.id in down.executions                       # it read the dataset
    assert all(e != hit.execution.id or is_input for _, e, is_input in down.edges)   # it made nothing
    reused = hit.examples.id
    up = walk(lin.store, [("artifact", reused)], "UPSTREAM")
    assert hit.execution.id not in up.executions                       # not the reused artifact's producer


def test_trace_and_shape_hold_the_walks_nodes_and_edges(filled):
    lin, info, _ = filled
    pushed = lin.artifacts("PushedModel", limit=None)[-1]
    for roots, direction in (([("artifact", pushed.id)], "UPSTREAM"), ([("artifact", info.hot_dataset)], "DOWNSTREAM"),
                             ([("artifact", pushed.id)], "both")):
        g, sh = trace(lin.store, roots, direction), shape(lin.store, roots, direction)
        assert set(g.graph.nodes) == set(sh.nodes) and len(g) > 1
        assert sorted(g.graph.edges) == sorted(sh.edges)
        w = walk(lin.store, roots, direction)
        assert {k for k in sh.nodes if k[0] == "a"} == {f"a{i}" for i in w.artifacts}
        for u, v in g.graph.edges:      # each edge carries its event and argument name
            data = g.graph.edges[u, v]
            assert data["event"] == ("INPUT" if u[0] == "a" else "OUTPUT") and data["key"]


def test_a_bad_direction_or_hop_limit_is_refused(filled):
    lin, info, _ = filled
    for direction, hops in (("sideways", None), ("upstream", -1), ("upstream", 1.5), ("up", 2), ("upstream", True)):
        with pytest.raises(InvalidInput, match="direction must be|max_hops must be"):
            walk(lin.store, [("artifact", info.hot_dataset)], direction, hops)
