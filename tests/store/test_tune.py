"""`lineage tune`: the indexes ML Metadata lacks, added on request and removed with --undo, on
SQLite, MariaDB and PostgreSQL; ML Metadata keeps reading and writing the store as before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import cli
from lineage import Input, Lineage, Output, run, step
from lineage.errors import InvalidInput
from lineage.store.connect import connection_config
from lineage.store.tune import INDEXES
from lineage.types import Dataset, Model
from lineage.uris import parse_store_uri
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

NAMES = sorted(i.name for i in INDEXES)


@step(type="Train")
def train(data: Input[Dataset], model: Output[Model], lr: float = 0.1):
    model.path.write_text(f"model {lr}")


def database_indexes(uri: str) -> list:
    """The lineage_* indexes, read from the database's own catalogue with its own driver."""
    cfg = parse_store_uri(uri)
    if cfg.backend == "sqlite":
        # in another process: a second copy of SQLite in this one, beside ML Metadata's, would
        # not see its locks (the reason lineage.store.tune closes ML Metadata's connection first)
        out = subprocess.run([sys.executable, "-c", "import sqlite3, sys; print('\\n'.join(n for (n,) in "
                              "sqlite3.connect(sys.argv[1]).execute(\"SELECT name FROM sqlite_master WHERE "
                              "type = 'index'\")))", str(cfg.path)], capture_output=True, text=True, check=True)
        return sorted(n for n in out.stdout.split() if n.startswith("lineage_"))
    if cfg.backend == "mysql":
        import pymysql
        db = pymysql.connect(host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password, database=cfg.database)
        with db.cursor() as cur:
            cur.execute("SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = %s",
                        (cfg.database,))
            rows = cur.fetchall()
        db.close()
        return sorted(r[0] for r in rows if r[0].startswith("lineage_"))
    import psycopg
    with psycopg.connect(host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password, dbname=cfg.database) as db:
        rows = db.execute("SELECT indexname FROM pg_indexes").fetchall()
    return sorted(r[0] for r in rows if r[0].startswith("lineage_"))


def raw_mlmd_writes_and_reads(uri: str, name: str) -> None:
    """ML Metadata itself, knowing nothing of lineage, writes an execution with events and a
    context through the tuned tables and reads them back."""
    store = metadata_store.MetadataStore(connection_config(parse_store_uri(uri), False))
    at = store.put_artifact_type(pb.ArtifactType(name="RawThing"))
    et = store.put_execution_type(pb.ExecutionType(name="RawStep"))
    ct = store.put_context_type(pb.ContextType(name="RawRun"))
    [a_in, a_out] = store.put_artifacts([pb.Artifact(type_id=at, uri="/raw/in"), pb.Artifact(type_id=at, uri="/raw/out")])
    eid, _, [cid] = store.put_execution(
        pb.Execution(type_id=et), [(pb.Artifact(id=a_in, type_id=at, uri="/raw/in"), pb.Event(type=pb.Event.INPUT)),
                                   (pb.Artifact(id=a_out, type_id=at, uri="/raw/out"), pb.Event(type=pb.Event.OUTPUT))],
        [pb.Context(type_id=ct, name=name)])
    events = store.get_events_by_artifact_ids([a_out])
    assert [(e.execution_id, e.type) for e in events] == [(eid, pb.Event.OUTPUT)]
    assert [c.id for c in store.get_contexts_by_artifact(a_out)] == [cid]
    assert [c.id for c in store.get_contexts_by_execution(eid)] == [cid]


def _answers(lin: Lineage, model) -> tuple:
    [producer] = lin.producers(model)
    return (producer.id, sorted(c.name for c in lin.contexts(model)), sorted(c.name for c in lin.contexts(producer)),
            sorted(a.ref for a in lin.upstream(model).artifacts()))


def test_tune_adds_and_undo_removes_the_indexes_and_mlmd_keeps_working(store_uri, tmp_path):
    lin = Lineage.open(store_uri, artifact_root=str(tmp_path / "arts"))
    data = tmp_path / "d.csv"
    data.write_text("x\n")
    with run(pipeline="p", name="before", store=lin):
        model = train(Dataset.at(data))
    before = _answers(lin, model)

    names, execution = lin.tune()
    assert sorted(names) == NAMES == database_indexes(store_uri)
    assert execution.type == "Tune" and execution.properties["action"] == "add"
    assert sorted(json.loads(execution.properties["indexes"])) == NAMES
    assert _answers(lin, model) == before                       # the same answers through the indexes
    raw_mlmd_writes_and_reads(store_uri, "tuned")
    with run(pipeline="p", name="after", store=lin):            # and lineage writes as before
        again = train(Dataset.at(data), lr=0.2)
    assert lin.producers(again)[0].params["lr"] == 0.2
    other = Lineage.open(store_uri)   # committed: another connection sees what was written after tuning
    assert other.store.get_execution(execution.id).type == "Tune"
    assert other.producers(again)[0].params["lr"] == 0.2
    other.close()
    assert lin.tune() == ([], None)                             # a second time changes nothing

    names, undone = lin.tune(undo=True)
    assert sorted(names) == NAMES and database_indexes(store_uri) == []
    assert undone.properties["action"] == "remove"
    assert _answers(lin, model) == before
    raw_mlmd_writes_and_reads(store_uri, "untuned")
    lin.close()


def test_the_cli_says_what_it_added_and_that_it_is_already_done(tmp_path):
    uri = f"sqlite:///{tmp_path / 's' / 'm.sqlite'}"
    assert cli("init", "--store", uri).returncode == 0
    r = cli("tune", "--store", uri)
    assert r.returncode == 0 and "added 3 index(es)" in r.stdout and "lineage_event_artifact_type on Event" in r.stdout
    r = cli("tune", "--store", uri)
    assert r.returncode == 0 and "already tuned" in r.stdout
    r = cli("tune", "--undo", "--store", uri, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["indexes"] == [] and database_indexes(uri) == []
    tunes = Lineage.open(uri, readonly=True).executions("Tune")
    assert sorted(e.properties["action"] for e in tunes) == ["add", "remove"]


def test_tuning_what_cannot_be_tuned_says_why(tmp_path):
    with pytest.raises(InvalidInput, match="memory:// store lives in one process"):
        Lineage.open("memory://").tune()
    uri = f"sqlite:///{tmp_path / 's' / 'm.sqlite'}"
    Lineage.open(uri).close()
    with pytest.raises(InvalidInput, match="open it writable"):
        Lineage.open(uri, readonly=True).tune()
    assert database_indexes(uri) == []
