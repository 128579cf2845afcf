"""Store URIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage.errors import InvalidInput
from lineage.uris import parse_store_uri


def test_default_is_the_embedded_sqlite_store(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LINEAGE_STORE", raising=False)
    monkeypatch.delenv("LINEAGE_ARTIFACTS", raising=False)
    c = parse_store_uri()
    assert c.backend == "sqlite"
    assert c.path == tmp_path / ".lineage" / "metadata.sqlite"
    assert c.artifact_root == tmp_path / ".lineage" / "artifacts"


def test_environment_selects_the_store(monkeypatch, tmp_path):
    monkeypatch.setenv("LINEAGE_STORE", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("LINEAGE_ARTIFACTS", str(tmp_path / "arts"))
    c = parse_store_uri()
    assert c.path == tmp_path / "x.db" and c.artifact_root == tmp_path / "arts"


@pytest.mark.parametrize("uri,expected", [
    ("sqlite:///rel/x.db", "rel/x.db"),
    ("sqlite:////abs/x.db", "/abs/x.db"),
    ("plain.db", "plain.db"),
    ("/abs/plain.db", "/abs/plain.db"),
])
def test_sqlite_forms(uri, expected, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    c = parse_store_uri(uri)
    assert c.backend == "sqlite" and c.path == Path(expected).absolute()
    assert c.artifact_root == c.path.parent / "artifacts"
    assert parse_store_uri(c.redacted()).path == c.path


def test_mysql_uri_and_password_never_shown(monkeypatch):
    monkeypatch.delenv("LINEAGE_MYSQL_PASSWORD", raising=False)
    c = parse_store_uri("mysql://ml:p%40ss@db.example:3307/meta")
    assert (c.backend, c.host, c.port, c.database, c.user, c.password) == (
        "mysql", "db.example", 3307, "meta", "ml", "p@ss")
    assert "p@ss" not in repr(c) and "p@ss" not in c.redacted() and "p%40ss" not in c.redacted()
    assert c.redacted() == "mysql://ml:***@db.example:3307/meta"
    monkeypatch.setenv("LINEAGE_MYSQL_PASSWORD", "fromenv")
    assert parse_store_uri("mysql://ml@h/meta").password == "fromenv"
    assert parse_store_uri("mysql://ml@/meta?socket=/run/m.sock").socket == "/run/m.sock"


def test_postgresql_uri_and_password_never_shown(monkeypatch):
    monkeypatch.delenv("LINEAGE_PG_PASSWORD", raising=False)
    c = parse_store_uri("postgresql://ml:p%40ss@db.example:5433/meta")
    assert (c.backend, c.host, c.port, c.database, c.user, c.password) == (
        "postgresql", "db.example", 5433, "meta", "ml", "p@ss")
    assert "p@ss" not in repr(c) and "p@ss" not in c.redacted()
    assert c.redacted() == "postgresql://ml:***@db.example:5433/meta"
    assert parse_store_uri("postgres://ml@h/meta").port == 5432   # libpq's short scheme too
    monkeypatch.setenv("LINEAGE_PG_PASSWORD", "fromenv")
    assert parse_store_uri("postgresql://ml@h/meta").password == "fromenv"
    sock = parse_store_uri("postgresql://ml@localhost/meta?host=/run/postgresql")
    assert sock.socket == "/run/postgresql" and sock.redacted().endswith("/meta?host=/run/postgresql")
    assert parse_store_uri(sock.redacted()).socket == "/run/postgresql"


@pytest.mark.parametrize("uri,message", [
    ("postgres://x", "names no database"),
    ("postgresql://u@db.example/m?host=/run/pg", "names both the host 'db.example' and a socket"),
    ("redis://x/y", "unknown store URI scheme 'redis'"),
    ("mysql://u:secret@host", "names no database"),
    ("mysql://u:secret@host:abc/db", "port that is not a number"),
    ("sqlite://", "names no file"),
])
def test_bad_uris_are_clear(uri, message):
    with pytest.raises(InvalidInput, match=message) as info:
        parse_store_uri(uri)
    assert "secret" not in str(info.value)


def test_memory_store():
    from lineage import Lineage

    lin = Lineage.open("memory://")
    assert "Dataset" in lin.store.type_names("artifact")
