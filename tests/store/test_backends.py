"""One backend class per database, chosen when the store opens: every read the query layer asks
answers on every backend, and the SQLite class's SQL gives exactly what ML Metadata's API gives."""

from __future__ import annotations

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
                       ("has_custom_property", ("model_name",))]:
        fast, api = _both(s, name, *args)
        assert fast == api, name
    fast, api = _both(s, "counts")
    assert fast == api and sum(fast["execution"].values()) == len(execs)
    endpoints = sorted({c.name for c in synthetic.store.list_contexts(filter_query="type = 'ServingEndpoint'")})
    assert len(endpoints) == 3
    for name, args in [("endpoints_with", ("Push", endpoints)), ("newest_in_endpoints", ("Push", endpoints)),
                       ("executions_in_endpoints", (["Push", "Rollback"], endpoints))]:
        fast, api = _both(s, name, *args)
        assert fast == api and fast, name
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
