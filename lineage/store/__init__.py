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
``sqlite``          read-only SQL fast paths on a SQLite file
``writes``          contexts, executions with events, bulk subgraphs
``upgrade``         explicit schema migration
==================  ===========================================================================
"""

from __future__ import annotations

from .errors import mlmd_version
from .sqlite import SqliteReads
from .traversal import MAX_HOPS, Traversal
from .upgrade import upgrade_store
from .writes import ArtifactRef, Writes

__all__ = ["Store", "upgrade_store", "ArtifactRef", "mlmd_version", "MAX_HOPS"]


class Store(Writes, SqliteReads, Traversal):
    """One connection to an MLMD store, safe to share between threads.

    ``readonly=True`` never writes (no type registration either), and for SQLite opens the
    file read-only; this is how queries open stores that other tools wrote.
    """
