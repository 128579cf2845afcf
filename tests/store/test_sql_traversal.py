"""The traversal fast paths (SQL a level per query on SQLite; indexed producer look-ups upstream
on every backend) against ML Metadata's own ``get_lineage_subgraph``: for any starting nodes,
direction and hop limit, the same events."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ml_metadata.errors import NotFoundError

from lineage import Lineage, record
from lineage.store.traversal import Traversal
from lineage.synthetic import generate


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    lin = Lineage.open(f"sqlite:///{tmp_path_factory.mktemp('sqltrav')}/s.sqlite")
    info = generate(lin, runs=40, hot_runs=15, datasets=3, modules=2, endpoints=2, seed=7)
    hot = lin.node(f"a{info.hot_dataset}")
    record("Ingest", inputs={"raw": hot}, state="CACHED", store=lin)   # a cache hit among them
    yield lin
    lin.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_sql_traversal_returns_exactly_mlmds_events(store, data):
    s = store.store
    assert s._sql_reader() is not None   # the fast path is the one under test
    n_arts = len(store.artifacts(limit=None))
    n_execs = len(store.executions(limit=None))
    arts = data.draw(st.lists(st.integers(1, n_arts), max_size=4, unique=True))
    execs = data.draw(st.lists(st.integers(1, n_execs), max_size=3, unique=True))
    if not arts and not execs:
        arts = [1]
    direction = data.draw(st.sampled_from(["DOWNSTREAM", "UPSTREAM"]))
    hops = data.draw(st.sampled_from([0, 1, 2, 3, 4, 5, 7, 10, 40, 100]))
    fast = s.traversal_edges(artifact_ids=arts, execution_ids=execs, direction=direction, max_hops=hops)
    api = Traversal.traversal_edges(s, artifact_ids=arts, execution_ids=execs, direction=direction, max_hops=hops)
    mlmd = s.mlmd_traversal_edges(artifact_ids=arts, execution_ids=execs, direction=direction, max_hops=hops)
    assert sorted(set(fast)) == sorted(set(mlmd))
    assert sorted(set(api)) == sorted(set(mlmd))   # the other backends' path (producers upstream)
    assert len(fast) == len(set(fast)) and len(api) == len(set(api))


def test_impact_and_sketch_agree_with_and_without_the_fast_path(store, monkeypatch):
    info_hot = store.artifacts("Dataset", limit=1)[0]
    fast = store.impact(info_hot).to_dict()
    shape = store.sketch(info_hot, "downstream", 40)
    monkeypatch.setattr(type(store.store), "_sql_reader", lambda self: None)   # MLMD's API only
    assert store.impact(info_hot).to_dict() == fast
    slow = store.sketch(info_hot, "downstream", 40)
    assert sorted(slow.graph.edges) == sorted(shape.graph.edges) and len(slow) == len(shape)


def test_contexts_of_many_executions_are_mlmds(store):
    """The explorer's Overview reads the runs of every endpoint's last change in one query: the
    same contexts as MLMD's call per execution, an unknown id mapping to none."""
    s = store.store
    ids = [e.id for e in store.executions(limit=None)] + [10**6]
    fast = s.contexts_of_executions(ids)
    assert set(fast) == set(ids) and fast[10**6] == []
    with_contexts = 0
    for i in ids[:-1]:
        try:
            raw = sorted(c.id for c in s.mlmd.get_contexts_by_execution(i))
        except NotFoundError:   # MLMD's answer for an execution in no context
            raw = []
        assert sorted(c.id for c in fast[i]) == raw
        with_contexts += bool(raw)
        assert {c.type for c in fast[i]} == {c.type for c in s.contexts_of_execution(i)}
    assert with_contexts > len(ids) // 2
    some = store.executions(limit=5)
    assert {i: [c.id for c in cs] for i, cs in store.contexts_of_executions(some).items()} == \
           {e.id: [c.id for c in fast[e.id]] for e in some}   # the same through Lineage
