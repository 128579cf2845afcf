"""Opening an ML Metadata connection for a :class:`~lineage.uris.StoreConfig`, with the errors a
user can act on, and the lock that serialises schema creation between processes (SQLite)."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import random
import re
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from ..errors import InvalidInput, StoreError, StoreNeedsUpgrade, StoreNotFound, StoreUnavailable
from ..locks import file_lock
from ..uris import SERVERS, StoreConfig
from .errors import first_line, mlmd_version

__all__ = ["connect", "creation_lock", "RedactPasswords"]


class RedactPasswords(logging.Filter):
    """ML Metadata logs its whole ConnectionConfig at DEBUG (``-vv``), MySQL password included:
    the password never reaches a log."""

    _PASSWORD = re.compile(r'(password:\s*)"(?:[^"\\]|\\.)*"')

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "password" in text:
            record.msg, record.args = self._PASSWORD.sub(r'\1"***"', text), ()
        return True


logging.getLogger("absl").addFilter(RedactPasswords())


@contextlib.contextmanager
def creation_lock(config: StoreConfig, readonly: bool) -> Iterator[None]:
    """Serialise schema creation and type registration between processes (SQLite)."""
    if config.backend != "sqlite" or readonly:
        yield
        return
    assert config.path is not None
    try:
        lock = file_lock(config.path)
        lock.__enter__()
    except OSError as exc:   # /proc/x.db, /sys/x.db, a folder that cannot be made
        raise StoreUnavailable(f"cannot create a store at {config.path}: {exc.strerror or exc} "
                               f"({exc.filename or config.path}); give a path in a folder you can write to "
                               f"(--store sqlite:///PATH or LINEAGE_STORE)") from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def connection_config(cfg: StoreConfig, readonly: bool) -> pb.ConnectionConfig:
    conn = pb.ConnectionConfig()
    if cfg.backend == "memory":
        conn.fake_database.SetInParent()
    elif cfg.backend == "sqlite":
        path = cfg.path
        assert path is not None
        if readonly:
            if not path.exists():
                raise StoreNotFound(
                    f"no lineage store at {path}: record a run first "
                    f"(or `lineage init --store {cfg.redacted()}`), or pass --store"
                )
            conn.sqlite.connection_mode = 1  # READONLY
        else:
            if not path.exists():
                # WAL is stored in the file: readers stop blocking the writer and
                # put_execution gets faster (docs/architecture.md, "ML Metadata facts").
                with contextlib.closing(sqlite3.connect(str(path))) as db:
                    db.execute("PRAGMA journal_mode=WAL")
            conn.sqlite.connection_mode = 3  # READWRITE_OPENCREATE
        conn.sqlite.filename_uri = str(path)
    elif cfg.backend == "mysql":
        if cfg.socket:  # exactly one of host and socket, or ML Metadata aborts the process
            conn.mysql.socket = cfg.socket
        else:
            conn.mysql.host = cfg.host
            conn.mysql.port = cfg.port
        conn.mysql.database = cfg.database
        conn.mysql.user = cfg.user
        conn.mysql.password = cfg.password
        # Read-only writes nothing anywhere: it never creates a missing database either.
        conn.mysql.skip_db_creation = readonly
    elif cfg.backend == "postgresql":
        pg = conn.postgresql
        pg.host = cfg.socket or cfg.host   # libpq: a host that is a directory is a socket's
        pg.port = str(cfg.port)
        pg.dbname = cfg.database
        pg.user = cfg.user
        if cfg.password:
            pg.password = cfg.password
        pg.skip_db_creation = readonly
    else:
        raise InvalidInput(f"unknown store backend {cfg.backend!r}")
    conn.retry_options.max_num_retries = 10
    return conn


def connect(cfg: StoreConfig, *, readonly: bool = False, upgrade: bool = False) -> metadata_store.MetadataStore:
    """An open ``MetadataStore``; ``upgrade=True`` lets MLMD migrate an older schema.

    Processes opening a fresh MySQL/MariaDB database at the same moment race to create its
    tables (MLMD: "subset of tables", or an aborted transaction); the losers try again."""
    conn = connection_config(cfg, readonly)
    if cfg.backend == "sqlite" and readonly:
        try:
            return metadata_store.MetadataStore(conn)
        except (RuntimeError, mlmd_errors.StatusError) as exc:
            if "unable to open database file" not in str(exc):
                raise connect_error(cfg, exc) from None
            conn.sqlite.filename_uri = str(_snapshot(cfg))  # a WAL store on read-only media
            try:
                return metadata_store.MetadataStore(conn)
            except (RuntimeError, mlmd_errors.StatusError) as exc2:
                raise connect_error(cfg, exc2) from None
    attempts = 12 if cfg.backend in SERVERS else 1
    for attempt in range(attempts):
        try:
            with _native_log_quiet(cfg.backend != "sqlite"):
                return metadata_store.MetadataStore(conn, enable_upgrade_migration=upgrade)
        except (RuntimeError, mlmd_errors.StatusError) as exc:
            text = str(exc)
            racing = any(s in text for s in ("subset of tables", "retry connection", "concurrent connection",
                                             "Deadlock", "try restarting transaction",
                                             "already exists", "could not serialize", "deadlock detected")) \
                or isinstance(exc, (mlmd_errors.AbortedError, mlmd_errors.AlreadyExistsError))
            if not racing or attempt == attempts - 1:
                raise connect_error(cfg, exc) from None
            time.sleep(0.05 + random.random() * 0.25 * (attempt + 1))
    raise AssertionError("not reached")


def _snapshot(cfg: StoreConfig) -> Path:
    """A private copy of a SQLite store SQLite cannot open where it is (a WAL-mode file on a
    read-only mount: SQLite needs to create its -shm file beside it). Read with ``immutable``,
    which is exact when no -wal file holds unmerged writes; otherwise say how to read it."""
    path = cfg.path
    assert path is not None
    wal = Path(str(path) + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreUnavailable(
            f"cannot open {path} read-only: it is a WAL-mode SQLite store in a place SQLite cannot "
            f"write to, and {wal.name} still holds writes. Copy {path.name}, {wal.name} (and "
            f"{path.name}-shm) to a writable directory and open the copy there")
    snap = Path(tempfile.mkdtemp(prefix="lineage-ro-")) / path.name
    atexit.register(shutil.rmtree, snap.parent, True)
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)) as src, \
            contextlib.closing(sqlite3.connect(str(snap))) as dst:
        src.backup(dst)
    logging.getLogger("lineage.store").info("%s is on read-only media: reading a snapshot of it", path)
    return snap


@contextlib.contextmanager
def _native_log_quiet(on: bool) -> Iterator[None]:
    """MLMD's C++ side logs a failed server connection to the process's stderr (three lines of
    glog: "MySQL database was not initialized...") before Python sees the error, which lineage
    then says in one line of its own: hold that native output back unless debugging (-vv)
    (lineage.store also sets GLOG_minloglevel; this covers a process that loaded MLMD first)."""
    if not on or logging.getLogger("lineage").isEnabledFor(logging.DEBUG):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _server_reason(cfg: StoreConfig) -> str:
    """Why a database server refused us, as far as can be told without its client library
    (MLMD's error says "errno: , error:." with nothing filled in)."""
    host, port = cfg.host, cfg.port or SERVERS[cfg.backend][1]
    _, _, password_env = SERVERS[cfg.backend]
    if cfg.socket:
        where = Path(cfg.socket) / f".s.PGSQL.{port}" if cfg.backend == "postgresql" else Path(cfg.socket)
        return (f"nothing answers on the socket {where}" if not where.exists() else
                "the server refused the connection: a wrong user or password, or no such database")
    if not host:
        return "the server could not be reached"
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({exc.strerror or exc}): is the server running there?"
    return (f"the server at {host}:{port} answers but refused the login: a wrong user or password "
            f"(the URI's, or {password_env}), or a database that does not exist and was not created")


def _postgresql_says(cfg: StoreConfig) -> str:
    """What PostgreSQL itself answers this login, through psycopg (ML Metadata's error says only
    "PostgreSQL metadata source error"); "" when psycopg is absent or the login works."""
    try:
        import psycopg
    except ImportError:
        return ""
    try:
        psycopg.connect(host=cfg.socket or cfg.host, port=cfg.port, dbname=cfg.database, user=cfg.user,
                        password=cfg.password or None, connect_timeout=5).close()
    except psycopg.Error as exc:
        text = " ".join(str(exc).split())
        return text.split("FATAL:", 1)[-1].strip() if "FATAL:" in text else text
    return ""


def connect_error(cfg: StoreConfig, exc: BaseException) -> StoreError:
    text = first_line(exc)
    where = cfg.redacted()
    if "older than library version" in text:
        return StoreNeedsUpgrade(
            f"the store {where} was written by an older ML Metadata ({text.split(' is ')[0]}). "
            f"lineage will not migrate it silently. Upgrade a copy: "
            f"`lineage upgrade --store {where} --copy-to NEW.sqlite`, or upgrade it in place "
            f"after a backup: `lineage upgrade --store {where} --backup`."
        )
    if "newer than library version" in text or "greater than library" in text:
        return StoreNeedsUpgrade(
            f"the store {where} was written by a newer ML Metadata than this one "
            f"({mlmd_version()}): {text}. Upgrade lineage and ml-metadata to read it."
        )
    if cfg.backend == "sqlite":
        return StoreUnavailable(f"cannot open the SQLite store {where}: {text}")
    if cfg.backend == "postgresql" and "metadata source error" in text:
        told = _postgresql_says(cfg)
        if told and "does not exist" in told and "database" in told:
            return StoreNotFound(f"no lineage store at {where}: the database {cfg.database!r} does not exist "
                                 f"(a read-only open creates none): record a run first, or `lineage init --store {where}`")
        if told and ("password" in told or "role" in told or "permission denied" in told):
            return StoreUnavailable(f"cannot connect to {where}: {_server_reason(cfg)} (the server says: {told})")
    if "errno: , error:" in text or "mysql_real_connect failed" in text or "metadata source error" in text:
        return StoreUnavailable(f"cannot connect to {where}: {_server_reason(cfg)}")
    return StoreUnavailable(
        f"cannot connect to {where}: {text}. Is the server running, does the database "
        f"exist, and is the password right (set {SERVERS.get(cfg.backend, SERVERS['mysql'])[2]})?"
    )
