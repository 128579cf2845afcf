"""The store: the ONLY package that imports ML Metadata.

:class:`Store` wraps one ``MetadataStore`` connection. Its parts, one job each:

==================  ===========================================================================
``base``            connection shared between threads, error mapping, write retries
``connect``         opening MLMD for a store URI; the SQLite creation lock
``errors``          ML Metadata's errors as :class:`lineage.errors.LineageError` with advice
``convert``         protos <-> frozen records and Python values
``reads``           nodes, lists (paged), events, context membership
``typesync``        type registration (idempotent, additive) and typed property maps
``traversal``       MLMD's bounded lineage traversal and producer look-ups
``mlmd_reads``      aggregate reads (counts, endpoint histories, runs table) through MLMD's API
``sqlite``          the same reads in SQL on a SQLite file
``backends``        one class per database, chosen when the store opens
``writes``          contexts, executions with events, bulk subgraphs
``tune``            the indexes MLMD's schema lacks, added and removed on request
``upgrade``         explicit schema migration
==================  ===========================================================================
"""

from __future__ import annotations

import os

# ML Metadata's C++ side logs every failed SQL statement at ERROR to the process's stderr (on
# PostgreSQL: each duplicate key of a concurrent writer lineage retries). lineage says what went
# wrong in its own words; GLOG_minloglevel=0 in the environment shows ML Metadata's log again.
# (glog reads it once, when ML Metadata's library loads: set before any import of it.)
os.environ.setdefault("GLOG_minloglevel", "3")

from typing import Any, Dict, Type  # noqa: E402

from ..uris import StoreConfig  # noqa: E402
from .backends import PostgreSQLText, PostgreSQLTypeLock  # noqa: E402
from .errors import mlmd_version  # noqa: E402
from .mlmd_reads import MlmdReads  # noqa: E402
from .sqlite import SqliteReads  # noqa: E402
from .traversal import MAX_HOPS  # noqa: E402
from .upgrade import upgrade_store  # noqa: E402
from .tune import MySQLTuning, NoTuning, PostgreSQLTuning, SqliteTuning, Tuning  # noqa: E402
from .writes import ArtifactRef, Writes  # noqa: E402

__all__ = ["Store", "SqliteStore", "MySQLStore", "PostgreSQLStore", "MemoryStore", "BACKENDS",
           "upgrade_store", "ArtifactRef", "mlmd_version", "MAX_HOPS"]


class Store(Tuning, Writes, MlmdReads):
    """One connection to an MLMD store, safe to share between threads.

    ``readonly=True`` never writes (no type registration either), and for SQLite opens the
    file read-only; this is how queries open stores that other tools wrote.

    ``Store(config)`` gives the class of the config's backend (:data:`BACKENDS`): every reading
    method answers on every backend, through MLMD's API unless the backend has a faster way.
    """

    backend = "mlmd"

    def __new__(cls, config: StoreConfig, *args: Any, **kwargs: Any) -> "Store":
        if cls is Store:
            cls = BACKENDS.get(config.backend, Store)
        return super().__new__(cls)


class SqliteStore(SqliteTuning, SqliteReads, Store):
    """A SQLite file: reads in SQL on the file where that is faster (:mod:`lineage.store.sqlite`)."""

    backend = "sqlite"


class MySQLStore(MySQLTuning, Store):
    """MySQL or MariaDB through MLMD's API."""

    backend = "mysql"


class PostgreSQLStore(PostgreSQLTuning, PostgreSQLTypeLock, PostgreSQLText, Store):
    """PostgreSQL through MLMD's API: types registered under an advisory lock, text with a
    backslash kept out of MLMD's SQL."""

    backend = "postgresql"

    @staticmethod
    def transient(exc: BaseException) -> bool:
        """PostgreSQL's own words for a write a concurrent one aborted (ML Metadata reports them
        as INTERNAL, not ABORTED as on MySQL): retried like an aborted write."""
        text = str(exc)
        return type(exc).__name__ == "AbortedError" or any(
            s in text for s in ("could not serialize access", "deadlock detected"))


class MemoryStore(NoTuning, Store):
    """MLMD's in-memory store (one process)."""

    backend = "memory"


#: store backend (:attr:`lineage.uris.StoreConfig.backend`) -> its class
BACKENDS: Dict[str, Type[Store]] = {"sqlite": SqliteStore, "mysql": MySQLStore, "postgresql": PostgreSQLStore,
                                    "memory": MemoryStore}
