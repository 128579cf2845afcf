"""One backend class per database, chosen when the store opens: every read the query layer asks
answers on every backend, and the SQLite class's SQL gives exactly what ML Metadata's API gives."""

from __future__ import annotations

import pickle

import pytest

from lineage import Lineage, record
from lineage.store import BACKENDS, MemoryStore, PostgreSQLStore, SqliteStore, Store
from lineage.store.mlmd_reads import MlmdReads
from lineage.synthetic import generate
from lineage.uris import parse_store_uri


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    lin = Lineage.open(f"sqlite:///{tmp_path_factory.mktemp('backends')}/s.sqlite")
    info = generate(lin, runs=30, hot_runs=10, datasets=3, modules=2, endpoints=3, seed=11)
    record("Ingest", inputs={"raw": lin.node(f"a{info.hot_dataset}")}, state="CACHED", store=lin)
    yield lin
    lin.close()


def test_the_backend_class_is_chosen_when_the_store_opens(tmp_path):
    assert type(Store(parse_store_uri(str(tmp_path / "x.sqlite")))) is SqliteStore
    assert type(Store(parse_store_uri("memory://"))) is MemoryStore
    assert BACKENDS["postgresql"] is PostgreSQLStore and issubclass(PostgreSQLStore, Store)
    assert set(BACKENDS) == {"sqlite", "mysql", "postgresql", "memory"}


def _both(store, name, *args, **kwargs):
    """The SQLite class's answer and ML Metadata's API's answer to the same question."""
    return getattr(store, name)(*args, **kwargs), getattr(MlmdReads, name)(store, *args, **kwargs)


def test_sql_reads_answer_exactly_what_mlmds_api_answers(synthetic):
    s = synthetic.store
    assert s._sql_reader() is not None   # the SQL side is the one under test
    arts = [a.id for a in synthetic.artifacts(limit=None)]
    execs = [e.id for e in synthetic.executions(limit=None)]
    assert len(arts) > 50 and len(execs) > 50
    for name, args in [("artifact_types", (arts,)), ("execution_types", (execs,)),
                       ("stored_times", ("artifact", arts[:40])), ("stored_times", ("execution", execs[:40])),
                       ("cached_executions", (execs,)), ("has_custom_property", ("pushed_destination",)),
                       ("has_custom_property", ("model_name",)),
                       ("execution_ids_of_types", (["Train", "Push", "No-Such-Type"],))]:
        fast, api = _both(s, name, *args)
        assert fast == api, name
    assert len(s.execution_ids_of_types(["Train"])) == len(synthetic.executions("Train", limit=None)) > 10
    for kind, name in [("execution", "Train"), ("artifact", "Model"), ("context", "PipelineRun"),
                       ("artifact", "Train"), ("execution", "RemoteAnswer"), ("context", "No-Such-Type")]:
        assert s._type_absent(kind, name) == (name not in MlmdReads.type_names(s, kind)), (kind, name)
    fast, api = _both(s, "counts")
    assert fast == api and sum(fast["execution"].values()) == len(execs)
    endpoints = sorted({c.name for c in synthetic.store.list_contexts(filter_query="type = 'ServingEndpoint'")})
    assert len(endpoints) == 3
    for probes in (type(s).few_endpoint_probes, 0):   # both ways of finding an endpoint's executions
        s.few_endpoint_probes = probes
        for name, args in [("endpoints_with", ("Push", endpoints)), ("newest_in_endpoints", ("Push", endpoints)),
                           ("executions_in_endpoints", (["Push", "Rollback"], endpoints))]:
            fast, api = _both(s, name, *args)
            assert fast == api and fast, (name, probes)
    del s.few_endpoint_probes
    skip = ("Tag", "Note")
    fast, api = _both(s, "run_table", None, skip_types=skip)
    assert list(fast) == list(api) and len(fast) == 30          # the same runs, newest first
    assert fast == api
    some = list(fast)[3:9]
    assert _both(s, "run_table", some, skip_types=skip)[0] == _both(s, "run_table", some, skip_types=skip)[1]
    pipeline = fast[some[0]]["properties"]["pipeline"]
    fast, api = _both(s, "run_table", None, pipeline=pipeline, limit=5, skip_types=skip)
    assert fast == api and 0 < len(fast) <= 5


def test_run_contexts_found_by_probing_are_mlmds(synthetic, tmp_path):
    """A step's run context, found on SQLite by probing the newest runs begun before the step (no
    scan of MLMD's Association table): the same as MLMD's API gives, for every execution, and for
    a run resumed after many others began (found by the scan it falls back to)."""
    s = synthetic.store
    execs = [e.id for e in synthetic.executions(limit=None)] + [10**6]
    fast, api = _both(s, "run_contexts_of", execs)
    assert {e: c.id for e, c in fast.items()} == {e: c.id for e, c in api.items()} and len(fast) > 100
    assert all(c.type == "PipelineRun" for c in fast.values())

    from lineage import Lineage, run
    lin = Lineage.open(f"sqlite:///{tmp_path / 'resumed.sqlite'}")
    with run(pipeline="p", name="long-lived", store=lin):
        first = record("Score", params={"k": 1}, store=lin)
    for i in range(80):   # 80 runs begun after it
        with run(pipeline="p", name=f"other-{i}", store=lin):
            pass
    with run(pipeline="p", name="long-lived", store=lin):   # resumed
        later = record("Score", params={"k": 2}, store=lin)
    ids = [first.execution.id, later.execution.id]
    fast, api = _both(lin.store, "run_contexts_of", ids)
    assert {e: c.name for e, c in fast.items()} == {e: c.name for e, c in api.items()} \
        == {first.execution.id: "long-lived", later.execution.id: "long-lived"}
    fast, api = _both(lin.store, "run_contexts_of", [later.execution.id])   # alone: past the probes
    assert fast[later.execution.id].name == api[later.execution.id].name == "long-lived"

    # answers are kept only until an association is added: a step put in a run afterwards is found
    from ml_metadata.proto import metadata_store_pb2 as pb
    loose = record("Score", params={"k": 3}, store=lin).execution.id
    assert lin.store.run_contexts_of([loose]) == {} == MlmdReads.run_contexts_of(lin.store, [loose])
    run_id = lin.store.run_contexts_of([first.execution.id])[first.execution.id].id
    lin.store.mlmd.put_attributions_and_associations(
        [], [pb.Association(execution_id=loose, context_id=run_id)])
    fast, api = _both(lin.store, "run_contexts_of", [loose])
    assert fast[loose].id == api[loose].id == run_id
    lin.close()


def test_postgresqls_words_for_an_aborted_write_are_retried():
    """ML Metadata reports PostgreSQL's serialization failures and deadlocks as INTERNAL (MySQL's
    as ABORTED): the PostgreSQL class retries them like aborted writes, nothing else."""
    from ml_metadata import errors

    from lineage.store import MySQLStore

    for text, retried in [("ERROR:  could not serialize access due to concurrent update", True),
                          ("ERROR:  deadlock detected", True), ("ERROR:  syntax error at or near", False)]:
        assert PostgreSQLStore.transient(errors.InternalError(text)) is retried
        assert MySQLStore.transient(errors.InternalError(text)) is False
    assert PostgreSQLStore.transient(errors.AbortedError("aborted")) and MySQLStore.transient(errors.AbortedError("x"))


def test_records_read_in_sql_are_mlmds(synthetic, tmp_path):
    """Artifacts, executions and contexts read by id in SQL on SQLite, and events, equal ML
    Metadata's GetArtifactsByID / GetExecutionsByID / GetContextsByID / GetEventsBy* answers: every
    node of the synthetic store, and nodes holding every kind of value lineage records (exact trees
    beside their columns) and ML Metadata holds (STRUCT, PROTO, booleans, 64-bit integers, empty and
    non-ASCII text) written through its own API."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    s = synthetic.store
    arts = [a.id for a in synthetic.artifacts(limit=None)] + [10**7]
    execs = [e.id for e in synthetic.executions(limit=None)] + [10**7]
    for name, ids in (("get_artifacts", arts), ("get_executions", execs)):
        fast, api = _both(s, name, list(reversed(ids)) + ids[:5])   # any order, repeats: as asked
        assert fast == api and len(fast) == len(ids) - 1 + 5, name
        assert [n.to_dict() for n in fast] == [n.to_dict() for n in api]
        assert pickle.loads(pickle.dumps(fast)) == fast   # records travel to other processes as before
    ctxs = [c.id for c in s.list_contexts(limit=None)] + [10**7]
    fast, api = _both(s, "get_contexts", list(reversed(ctxs)))
    assert fast == api and len(fast) == len(ctxs) - 1 > 30 and pickle.loads(pickle.dumps(fast)) == fast
    assert [c.to_dict() for c in fast] == [c.to_dict() for c in api]
    for name, ids in (("events_of_artifacts", arts), ("events_of_executions", execs)):
        fast, api = _both(s, name, ids)
        assert fast == api and len(fast) > 2 * len(ids) // 3, name
        assert any(len(ev.path) > 0 for ev in fast)

    lin = Lineage.open(f"sqlite:///{tmp_path / 'values.sqlite'}")
    from lineage.types import Model
    made = record("Train", params={"lr": 0.1, "big": 2**40, "huge": 2**70, "flag": True, "none": None,
                                   "nested": {"a": [1, 2.5, "x"], "b": {"c": None}}, "text": "caf\u00e9 \u2603",
                                   "empty": "", "neg": -0.0, "inf": float("inf"), "tiny": 5e-324},
                  outputs={"model": Model.at(tmp_path / "m", accuracy=0.91, notes="\u00e9t\u00e9", steps=3,
                                             ok=False, layers=[1, 2, 3])}, store=lin)
    mlmd = lin.store.mlmd
    at = pb.ArtifactType(name="Odd")
    at.properties["s"] = pb.STRUCT
    at.properties["b"] = pb.BOOLEAN
    at_id = mlmd.put_artifact_type(at)
    odd = pb.Artifact(type_id=at_id, uri="/odd", state=pb.Artifact.DELETED, name="odd-one")
    odd.properties["s"].struct_value.update({"k": [1, "two"]})
    odd.properties["b"].bool_value = True
    odd.custom_properties["p"].proto_value.Pack(pb.Value(string_value="packed"))
    odd.custom_properties["i64"].int_value = 2**62
    plain = pb.Artifact(type_id=at_id)   # no uri, no state, no properties
    et_id = mlmd.put_execution_type(pb.ExecutionType(name="OddStep"))
    ex = pb.Execution(type_id=et_id, last_known_state=pb.Execution.CACHED)
    ex.custom_properties["when"].string_value = "struct-free text"
    odd_ids = mlmd.put_artifacts([odd, plain])
    (ex_id,) = mlmd.put_executions([ex])
    ls = lin.store
    assert ls._sql_reader() is not None
    arts = [made.model.id, *odd_ids]
    execs = [made.execution.id, ex_id]
    for name, ids in (("get_artifacts", arts), ("get_executions", execs)):
        fast, api = _both(ls, name, ids)
        assert len(fast) == len(ids) and fast == api, name
        assert [n.to_dict() for n in fast] == [n.to_dict() for n in api]
    ct = pb.ContextType(name="OddGroup")
    ct.properties["s"] = pb.STRUCT
    ct_id = mlmd.put_context_type(ct)
    group = pb.Context(type_id=ct_id, name="caf\u00e9 group")
    group.properties["s"].struct_value.update({"k": 1})
    group.custom_properties["n"].int_value = -(2**40)
    ls.mlmd.put_contexts([group, pb.Context(type_id=ct_id, name="plain")])
    ctxs = [c.id for c in ls.list_contexts(limit=None)]
    fast, api = _both(ls, "get_contexts", ctxs)
    assert len(fast) == len(ctxs) >= 3 and fast == api and [c.to_dict() for c in fast] == [c.to_dict() for c in api]
    got = {a.id: a for a in ls.get_artifacts(arts)}
    assert got[odd_ids[0]].properties["s"] == {"k": [1, "two"]} and got[odd_ids[0]].state == "DELETED"
    assert got[made.model.id].custom_properties["layers"] == [1, 2, 3]
    assert ls.get_executions([made.execution.id])[0].params["huge"] == 2**70
    lin.close()
