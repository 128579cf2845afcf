"""The store: opening, type registration, conflicts, value round trips, errors, upgrade.

Every test here that takes ``store_uri``/``any_lin`` runs on a SQLite file and on MariaDB.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3

import pytest

from lineage import Lineage
from lineage.errors import (InvalidInput, NotFound, ReadOnlyStore, SchemaConflict, StoreNeedsUpgrade,
                            StoreNotFound)
from lineage.records import Artifact
from lineage.schema import REGISTRY, Registry
from lineage.store import Store
from lineage.uris import parse_store_uri

BUILTIN_ARTIFACTS = {"Dataset", "Examples", "Schema", "ExampleStatistics", "TransformGraph",
                     "HubModule", "Model", "ModelEvaluation", "ModelBlessing", "PushedModel"}


def test_open_registers_every_schema_type(any_lin):
    store = any_lin.store
    assert BUILTIN_ARTIFACTS <= set(store.type_names("artifact"))
    assert {"Ingest", "Transform", "Train", "Evaluate", "Push", "Rollback", "PublishModule"} <= set(
        store.type_names("execution"))
    assert {"Pipeline", "PipelineRun", "Experiment", "ServingEndpoint"} <= set(store.type_names("context"))
    assert store.type_properties("artifact", "HubModule")["version"] == "INT"
    assert store.type_properties("artifact", "Dataset")["fingerprint"] == "STRING"
    marker = store.get_context_by_name("LineageStore", "store")
    assert marker.properties["schema_version"] == REGISTRY.version


def test_reopen_is_idempotent(store_uri, tmp_path):
    first = Lineage.open(store_uri)
    ids = {n: first.store._types[("artifact", n)].id for n in BUILTIN_ARTIFACTS}
    first.close()
    second = Lineage.open(store_uri)
    assert {n: second.store._types[("artifact", n)].id for n in BUILTIN_ARTIFACTS} == ids
    assert len([c for c in second.store.list_contexts(limit=None) if c.type == "LineageStore"]) == 1


def test_conflicting_property_type_is_refused_and_store_untouched(store_uri):
    lin = Lineage.open(store_uri)
    art = lin.store.put_artifacts([Artifact(None, "Dataset", "/data/x.csv",
                                            properties={"fingerprint": "sha256:1"})])[0]
    # A newer schema file changes HubModule.version from INT to STRING: MLMD cannot do that.
    registry = Registry()
    spec = registry.get("artifact", "HubModule")
    registry._specs[("artifact", "HubModule")] = dataclasses.replace(
        spec, properties={**spec.properties, "version": "STRING"})
    with pytest.raises(SchemaConflict) as info:
        Store(parse_store_uri(store_uri), registry=registry)
    message = str(info.value)
    assert "HubModule" in message and "'version'" in message and "INT" in message and "STRING" in message
    again = Lineage.open(store_uri)
    assert again.store.type_properties("artifact", "HubModule")["version"] == "INT"
    assert again.artifact(art.id).uri == "/data/x.csv"


def test_user_declared_type_extends_additively(store_uri):
    registry = Registry()
    registry.declare("artifact", "Embeddings", {"dim": int})
    store = Store(parse_store_uri(store_uri), registry=registry)
    [a] = store.put_artifacts([Artifact(None, "Embeddings", "/e", properties={"dim": 64, "note": "x"})])
    assert a.properties["dim"] == 64 and a.custom_properties["note"] == "x"
    registry.declare("artifact", "Embeddings", {"model": str})
    store2 = Store(parse_store_uri(store_uri), registry=registry)
    [b] = store2.put_artifacts([Artifact(None, "Embeddings", "/f", properties={"dim": 8, "model": "m"})])
    assert store2.type_properties("artifact", "Embeddings").items() >= {"dim": "INT", "model": "STRING"}.items()
    assert store2.get_artifact(a.id).properties["dim"] == 64
    assert b.properties == {"dim": 8, "model": "m"}
    with pytest.raises(InvalidInput, match="already declares property 'dim' as INT"):
        registry.declare("artifact", "Embeddings", {"dim": float})


def test_values_round_trip(any_lin):
    props = {"an_int": 7, "a_float": 0.25, "a_str": "héllo", "a_bool": True,
             "a_dict": {"k": [1, 2]}, "a_list": [1, "two"], "big": 2**40, "huge": 2**70}
    [a] = any_lin.store.put_artifacts([Artifact(None, "Dataset", "/v", custom_properties=props)])
    got = any_lin.artifact(a.id).custom_properties
    assert got["an_int"] == 7 and isinstance(got["an_int"], int)
    assert got["a_float"] == 0.25
    assert got["a_str"] == "héllo"
    assert got["a_bool"] is True
    assert got["a_dict"] == {"k": [1, 2]}
    assert got["a_list"] == [1, "two"]
    assert got["big"] == 2**40 and isinstance(got["big"], int)    # past MySQL's 32-bit int_value
    assert got["huge"] == 2**70 and isinstance(got["huge"], int)  # past 2**53


def test_declared_int_property_too_big_for_mlmd_is_a_clear_error(any_lin):
    with pytest.raises(InvalidInput, match="32-bit integers.*declare it DOUBLE"):
        any_lin.store.put_artifacts([Artifact(None, "HubModule", "/m", properties={"version": 2**33})])
    assert any_lin.artifacts("HubModule") == []


def test_readonly_open_of_missing_sqlite_store(tmp_path):
    with pytest.raises(StoreNotFound, match="no lineage store at"):
        Lineage.open(f"sqlite:///{tmp_path / 'nope.sqlite'}", readonly=True)
    assert not (tmp_path / "nope.sqlite").exists()


def test_readonly_store_refuses_writes(sqlite_uri):
    Lineage.open(sqlite_uri).close()
    ro = Lineage.open(sqlite_uri, readonly=True)
    with pytest.raises(ReadOnlyStore, match="read-only"):
        ro.store.put_artifacts([Artifact(None, "Dataset", "/x")])


def test_new_sqlite_store_uses_wal(sqlite_uri):
    lin = Lineage.open(sqlite_uri)
    with sqlite3.connect(str(lin.config.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_ids_are_clear_errors(any_lin):
    with pytest.raises(NotFound, match="artifact 999 does not exist"):
        any_lin.artifact(999)
    with pytest.raises(NotFound, match="execution 999 does not exist"):
        any_lin.execution(999)


def test_malformed_filter_is_a_clear_error(any_lin):
    with pytest.raises(InvalidInput, match="refused"):
        any_lin.artifacts(filter_query="uri = = 'x'")


def _open_and_write(uri: str, i: int, queue) -> None:
    try:
        lin = Lineage.open(uri)
        [a] = lin.store.put_artifacts([Artifact(None, "Dataset", f"/p/{i}")])
        queue.put(("ok", a.id))
    except Exception as exc:  # reported to the parent
        queue.put(("error", repr(exc)))


def test_processes_opening_a_new_sqlite_store_at_once(tmp_path):
    uri = f"sqlite:///{tmp_path / 'race' / 'metadata.sqlite'}"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_open_and_write, args=(uri, i, queue)) for i in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert [r[0] for r in results] == ["ok"] * 4, results
    lin = Lineage.open(uri)
    assert len(lin.artifacts("Dataset")) == 4
    assert lin.store.type_names("artifact").count("Dataset") == 1


def test_store_needing_upgrade_gives_a_clear_error(tfx_store):
    before = tfx_store.read_bytes()
    for readonly in (False, True):
        with pytest.raises(StoreNeedsUpgrade) as info:
            Lineage.open(str(tfx_store), readonly=readonly)
        message = str(info.value)
        assert "lineage upgrade" in message and "--copy-to" in message and "--backup" in message
    assert tfx_store.read_bytes() == before  # never migrated silently


def test_upgrade_on_a_copy_leaves_the_original(tfx_store, tmp_path):
    from lineage.store import upgrade_store

    before = tfx_store.read_bytes()
    copy = tmp_path / "upgraded.sqlite"
    upgrade_store(parse_store_uri(str(tfx_store)), copy_to=copy)
    assert tfx_store.read_bytes() == before
    lin = Lineage.open(str(copy), readonly=True)
    types = {a.type for a in lin.artifacts(limit=None)}
    assert {"ExternalArtifact", "Examples", "Schema", "TransformGraph", "Model", "ModelBlessing",
            "PushedModel"} <= types
    assert len(lin.executions(limit=None)) == 9


def test_upgrade_in_place_makes_a_backup(tfx_store):
    from lineage.store import upgrade_store

    def rows(path):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(map(repr, db.execute(f"SELECT * FROM `{t}`"))) for t in tables}

    before = rows(tfx_store)
    done = upgrade_store(parse_store_uri(str(tfx_store)), backup=True)
    assert rows(done["backup"]) == before  # the backup holds exactly what the store held
    assert len(Lineage.open(str(tfx_store), readonly=True).artifacts(limit=None)) == 11
    with pytest.raises(InvalidInput, match="--copy-to"):
        upgrade_store(parse_store_uri(str(tfx_store)))


def test_what_a_write_returns_is_what_mlmd_stored(any_lin, tmp_path):
    """A step's outputs and execution are returned without reading them back: they must equal
    what raw MLMD reads for the same ids, times included (on every backend)."""
    from ml_metadata.metadata_store import metadata_store

    from lineage import Input, Output, run, step
    from lineage.types import Dataset, Model

    @step
    def fit(data: Input[Dataset], model: Output[Model], stats: Output[Dataset], lr: float = 0.5):
        model.path.write_text("m")
        model.properties["accuracy"] = 0.875
        stats.path.write_text("s")

    src = tmp_path / "d.csv"
    src.write_text("x\n")
    with run(pipeline="p", store=any_lin):
        result = fit(Dataset.at(src))
    raw = any_lin.store.mlmd
    assert isinstance(raw, metadata_store.MetadataStore)
    [stored_exec] = raw.get_executions_by_id([result.execution.id])
    assert result.execution.create_time_ms == stored_exec.create_time_since_epoch
    assert result.execution.update_time_ms == stored_exec.last_update_time_since_epoch
    assert result.execution.get("lr") == stored_exec.custom_properties["lr"].double_value == 0.5
    for name in ("model", "stats"):
        got = result[name]
        [proto] = raw.get_artifacts_by_id([got.id])
        assert (got.uri, got.type, got.create_time_ms, got.update_time_ms) == (
            proto.uri, proto.type, proto.create_time_since_epoch, proto.last_update_time_since_epoch)
        assert got.get("fingerprint") == proto.properties["fingerprint"].string_value
        assert got == any_lin.store.get_artifact(got.id)
    assert result["model"].get("accuracy") == 0.875
