"""serving_now (a few queries for many endpoints) against served_at (the full replay of each
endpoint's history, the reference), on stores with and without server observations."""

from __future__ import annotations

from lineage.query import served_at, serving_now
from lineage.serving.observe import record_observation
from lineage.synthetic import generate


def test_serving_now_agrees_with_the_replay_of_each_endpoint(any_lin):
    info = generate(any_lin, runs=30, endpoints=3, push_fraction=0.9, seed=3)
    store = any_lin.store
    names = sorted(info.endpoints)
    reference = {n: served_at(store, n, "now").version for n in names}
    assert all(v is not None for v in reference.values()), reference
    assert serving_now(store, names) == reference
    # a server reports on the first endpoint only: that one is answered from what it said
    record_observation(store, names[0], 1, "AVAILABLE", server="test:8500")
    reference = {n: served_at(store, n, "now").version for n in names}
    assert reference[names[0]] == 1
    assert serving_now(store, names) == reference
    assert serving_now(store, names[:1]) == {names[0]: 1}   # every endpoint observed
    assert serving_now(store, ["nope"] + names[1:]) == {"nope": None, **{n: reference[n] for n in names[1:]}}
