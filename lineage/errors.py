"""The one exception hierarchy of lineage.

Every error a user can meet is a :class:`LineageError`; its message says what was wrong and
what to do about it. Errors raised by ML Metadata are translated in one place
(:mod:`lineage.store`) so no MLMD or protobuf traceback reaches a user.
"""

from __future__ import annotations

__all__ = [
    "LineageError",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "StoreNeedsUpgrade",
    "StoreBusy",
    "ReadOnlyStore",
    "SchemaConflict",
    "AlreadyExists",
    "NotFound",
    "InvalidInput",
    "FingerprintError",
]


class LineageError(Exception):
    """Base class of every error lineage raises on purpose."""


class StoreError(LineageError):
    """The metadata store could not be opened, read or written."""


class StoreNotFound(StoreError, FileNotFoundError):
    """A store that was asked for read-only does not exist."""


class StoreUnavailable(StoreError, ConnectionError):
    """The store's backend could not be reached (server down, bad credentials, bad path)."""


class StoreNeedsUpgrade(StoreError):
    """The store was written by an older ML Metadata schema and must be upgraded explicitly."""


class StoreBusy(StoreError):
    """Another writer held the store for longer than the retries allow."""


class ReadOnlyStore(StoreError):
    """A write was attempted on a store opened read-only."""


class SchemaConflict(StoreError):
    """A type in the store disagrees with the type lineage (or the user) declares."""


class AlreadyExists(StoreError):
    """Something with that name (unique in MLMD) is already recorded."""


class NotFound(LineageError, LookupError):
    """An artifact, execution, context or type that was asked for does not exist."""


class InvalidInput(LineageError, ValueError):
    """An argument was not acceptable; the message says which and how to fix it."""


class FingerprintError(LineageError):
    """An artifact's URI could not be fingerprinted (missing or unreadable)."""


class ObjectStoreError(LineageError, OSError):
    """An object store (s3://, gs://) could not be reached, refused the credentials or the
    request, or holds no such bucket or object; the message names the URI."""


class CacheFull(ObjectStoreError):
    """An artifact is larger than the local cache may hold (``LINEAGE_CACHE_SIZE``)."""
