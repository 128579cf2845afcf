"""Opening an ML Metadata connection for a :class:`~lineage.uris.StoreConfig`, with the errors a
user can act on, and the lock that serialises schema creation between processes (SQLite)."""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from typing import Iterator

from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from ..errors import InvalidInput, StoreError, StoreNeedsUpgrade, StoreNotFound, StoreUnavailable
from ..uris import StoreConfig
from .errors import first_line, mlmd_version

__all__ = ["connect", "creation_lock"]


@contextlib.contextmanager
def creation_lock(config: StoreConfig, readonly: bool) -> Iterator[None]:
    """Serialise schema creation and type registration between processes (SQLite)."""
    if config.backend != "sqlite" or readonly:
        yield
        return
    path = config.path
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a+") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


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
                # put_execution gets about 2x faster (see MLMD_NOTES).
                with contextlib.closing(sqlite3.connect(str(path))) as db:
                    db.execute("PRAGMA journal_mode=WAL")
            conn.sqlite.connection_mode = 3  # READWRITE_OPENCREATE
        conn.sqlite.filename_uri = str(path)
    elif cfg.backend == "mysql":
        conn.mysql.host = cfg.host
        conn.mysql.port = cfg.port
        conn.mysql.database = cfg.database
        conn.mysql.user = cfg.user
        conn.mysql.password = cfg.password
        if cfg.socket:
            conn.mysql.socket = cfg.socket
    else:
        raise InvalidInput(f"unknown store backend {cfg.backend!r}")
    conn.retry_options.max_num_retries = 10
    return conn


def connect(cfg: StoreConfig, *, readonly: bool = False, upgrade: bool = False) -> metadata_store.MetadataStore:
    """An open ``MetadataStore``; ``upgrade=True`` lets MLMD migrate an older schema."""
    conn = connection_config(cfg, readonly)
    try:
        return metadata_store.MetadataStore(conn, enable_upgrade_migration=upgrade)
    except (RuntimeError, mlmd_errors.StatusError) as exc:
        raise connect_error(cfg, exc) from None


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
    return StoreUnavailable(
        f"cannot connect to {where}: {text}. Is the server running, does the database "
        f"exist, and is the password right (set LINEAGE_MYSQL_PASSWORD)?"
    )
