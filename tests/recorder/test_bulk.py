"""record_many(): many step runs, a batch per MLMD transaction. What it stores is read back with
raw MLMD calls and compared with the entries given (a reference model in a property test)."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lineage import Lineage, record_many, run
from lineage.errors import InvalidInput, NotFound
from lineage.types import Dataset, Model


def _raw_events(lin: Lineage, execution_ids):
    """{execution id: sorted (INPUT|OUTPUT, key, artifact id)} read with MLMD's own API."""
    out = {i: [] for i in execution_ids}
    for e in lin.store.mlmd.get_events_by_execution_ids(list(execution_ids)):
        kind = "INPUT" if e.type == 3 else "OUTPUT" if e.type == 4 else str(e.type)
        for s in e.path.steps:
            out[e.execution_id].append((kind, s.key, e.artifact_id))
    return {i: sorted(v) for i, v in out.items()}


def test_a_pipeline_in_batches_links_outputs_to_later_inputs(any_lin, tmp_path):
    raw = tmp_path / "raw.csv"
    raw.write_text("a\nb\n")
    entries = []
    for i in range(3):
        entries += [
            {"type": "Clean", "inputs": {"raw": Dataset.at(raw)}, "params": {"min_len": i},
             "outputs": {"cleaned": Dataset.at(f"/bulk/{i}/clean.csv")}},
            {"type": "Train", "inputs": {"data": Dataset.at(f"/bulk/{i}/clean.csv")},
             "params": {"lr": 0.1 * (i + 1)}, "outputs": {"model": Model.at(f"/bulk/{i}/model")},
             "started_at": 100.0 + i, "ended_at": 160.0 + i},
        ]
    seen = []
    with run(pipeline="bulk", name="bulk-run", store=any_lin):
        got = record_many(entries, batch=4, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(4, 6), (6, 6)]
    assert [any_lin.execution(r.execution_id).type for r in got] == ["Clean", "Train"] * 3
    events = _raw_events(any_lin, [r.execution_id for r in got])
    raw_art = any_lin.register(Dataset.at(raw))  # the same content at the same URI: the stored one
    for i in range(3):
        clean, train = got[2 * i], got[2 * i + 1]
        # the Train of run i reads exactly what the Clean of run i wrote, across batches too
        assert events[clean.execution_id] == [("INPUT", "raw", raw_art.id), ("OUTPUT", "cleaned", clean.outputs["cleaned"])]
        assert events[train.execution_id] == [("INPUT", "data", clean.outputs["cleaned"]),
                                              ("OUTPUT", "model", train.outputs["model"])]
        e = any_lin.execution(train.execution_id)
        assert e.state == "COMPLETE" and e.get("lr") == 0.1 * (i + 1) and e.get("started_at") == 100.0 + i
    ctx = any_lin.store.get_context_by_name("PipelineRun", "bulk-run")
    assert {e.id for e in any_lin.store.executions_in_context(ctx.id)} == {r.execution_id for r in got}
    assert len(any_lin.artifacts("Dataset")) == 4  # the raw data once, three cleaned


def test_one_artifact_bound_to_two_arguments_is_one_event_naming_both(lin, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n")
    [r] = record_many([{"type": "Compare", "inputs": {"a": Dataset.at(data), "b": Dataset.at(data)}}], store=lin)
    assert sorted(key for _, key, _ in _raw_events(lin, [r.execution_id])[r.execution_id]) == ["a", "b"]
    assert len(lin.store.mlmd.get_events_by_execution_ids([r.execution_id])) == 1


@pytest.mark.parametrize("entry, message", [
    ({"inputs": {}}, "entry 1 needs 'type'"),
    ({"type": "X", "state": "DONE"}, r"entry 1 \(X\): unknown state 'DONE'"),
    ({"type": "X", "outptus": {}}, "unknown key.*outptus"),
    ({"type": "X", "inputs": {"d": "relative/path.csv"}}, "a URI needs an artifact type"),
    ("Train", "entry 1 is a str"),
])
def test_a_bad_entry_is_refused_before_anything_is_written(lin, entry, message):
    with pytest.raises(InvalidInput, match=message):
        record_many([{"type": "Ok"}, entry], store=lin)
    assert not lin.store.has_type("execution", "Ok") or lin.executions("Ok") == []


def test_an_unknown_artifact_id_writes_nothing(lin):
    with pytest.raises(NotFound, match="a999.*nothing was recorded"):
        record_many([{"type": "Ok"}, {"type": "Uses", "inputs": {"d": 999}}], store=lin)
    assert not lin.store.has_type("execution", "Ok") or lin.executions("Ok") == []


def test_a_value_refused_in_a_later_batch_names_what_was_recorded(lin):
    entries = [{"type": "Ok", "params": {"i": i}} for i in range(4)]
    entries[3]["properties"] = {"started_at": "yesterday"}  # a declared DOUBLE
    with pytest.raises(InvalidInput, match="entries 0-1 were recorded; entries 2-3 were not"):
        record_many(entries, batch=2, store=lin)
    assert sorted(e.get("i") for e in lin.executions("Ok")) == [0, 1]


@st.composite
def pipelines(draw):
    """Entries of a random DAG: each reads some earlier outputs (or the seed data) and writes 0-2."""
    n = draw(st.integers(1, 12))
    entries, outputs = [], []
    for i in range(n):
        reads = draw(st.lists(st.integers(-1, len(outputs) - 1), max_size=3, unique=True)) if outputs else [-1]
        k = draw(st.integers(0, 2))
        mine = [f"/prop/{i}/out{j}" for j in range(k)]
        entries.append((reads, mine))
        outputs += mine
    return entries, draw(st.integers(1, 5))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pipelines())
def test_what_is_stored_is_the_graph_given(tmp_path, shape):
    entries, batch = shape
    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        lin = Lineage.open(f"sqlite:///{d}/s.sqlite", artifact_root=f"{d}/arts")
        seed = lin.register(Dataset.at(f"hdfs://bucket/seed-{d[-6:]}"))
        flat = [u for _, mine in entries for u in mine]
        given_entries = [{
            "type": f"S{i % 3}",
            "inputs": {f"in{j}": (seed if r < 0 else Dataset.at(flat[r])) for j, r in enumerate(reads)},
            "outputs": {f"out{j}": Dataset.at(u) for j, u in enumerate(mine)},
        } for i, (reads, mine) in enumerate(entries)]
        got = record_many(given_entries, batch=batch, store=lin)
        by_uri = {}
        for r, (_, mine) in zip(got, entries):
            for j, u in enumerate(mine):
                by_uri[u] = r.outputs[f"out{j}"]
        events = _raw_events(lin, [r.execution_id for r in got])
        for r, (reads, mine) in zip(got, entries):
            expect = [("INPUT", f"in{j}", seed.id if x < 0 else by_uri[flat[x]]) for j, x in enumerate(reads)]
            expect += [("OUTPUT", f"out{j}", by_uri[u]) for j, u in enumerate(mine)]
            assert events[r.execution_id] == sorted(expect)
        stored = {a.id: a.uri for a in lin.store.get_artifacts(by_uri.values())}
        assert stored == {i: u for u, i in by_uri.items()}
        lin.close()
