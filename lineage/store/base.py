"""The part of :class:`~lineage.store.Store` every other part builds on: one MLMD connection
shared between threads (calls serialised by a lock), error mapping on every call, and writes
retried when a concurrent writer aborted them."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, ContextManager, Dict, Optional, Set, Tuple

from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store

from ..errors import ReadOnlyStore, StoreError
from ..schema import REGISTRY, Registry
from ..uris import StoreConfig
from .connect import connect, creation_lock
from .convert import pb
from .errors import translated

__all__ = ["StoreBase", "WRITE_RETRIES"]

WRITE_RETRIES = 4


class StoreBase:
    """Connection, lock, error mapping and write retries (see :class:`lineage.store.Store`)."""

    def __init__(self, config: StoreConfig, *, readonly: bool = False,
                 registry: Registry = REGISTRY) -> None:
        self.config = config
        self.readonly = readonly
        self.registry = registry
        self._lock = threading.RLock()
        self._types: Dict[Tuple[str, str], Any] = {}  # (kind, name) -> MLMD type proto
        self._contexts: Dict[int, pb.Context] = {}
        self._known_artifacts: Set[int] = set()  # ids this object read or wrote (never removed)
        self._running: Dict[int, pb.Execution] = {}  # written RUNNING by this process
        self._ensured: Dict[Tuple[str, str], Tuple[Any, int]] = {}  # (kind, name) -> (spec registered, type id)
        self._declared_memo: Dict[Tuple[str, str], Tuple[Any, Dict[str, str]]] = {}
        #: (type, uri) -> (file signature, stored artifact): files registered by this process
        self.registered: Dict[Tuple[str, str], Tuple[Any, Any]] = {}
        self._mlmd: Optional[metadata_store.MetadataStore] = None
        #: Attempts at a write that a concurrent writer aborted (MLMD retried each already).
        self.write_retries = WRITE_RETRIES
        with creation_lock(config, readonly):
            self._mlmd = connect(config, readonly=readonly)
            if not readonly:
                self.ensure_schema()

    # What a backend may need to do differently with text (see lineage.store.backends).
    @staticmethod
    def column_text_ok(text: str) -> bool:
        """Whether ML Metadata writes this text into a property column as it is."""
        return True

    def column_text(self, text: str) -> str:
        """What a column holds for text it cannot hold as it is (``lineage:exact`` keeps it)."""
        return text

    def check_text(self, action: str, args: Any) -> None:
        """Refuse, before ML Metadata sees it, text this backend cannot be given."""

    @staticmethod
    def transient(exc: BaseException) -> bool:
        """Whether a failed write is worth retrying: a concurrent writer aborted it."""
        return isinstance(exc, mlmd_errors.AbortedError)

    def type_lock(self) -> ContextManager[None]:
        """Held around type registration, between processes and machines, where ML Metadata's
        own registration is not safe from concurrent writers (PostgreSQL); nothing elsewhere."""
        return contextlib.nullcontext()

    def ensure_schema(self) -> None:  # pragma: no cover - defined by TypeSync
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"Store({self.config.redacted()!r}, readonly={self.readonly})"

    def close(self) -> None:
        with self._lock:
            self._mlmd = None  # the C++ store closes its connection when collected

    def _reconnect(self) -> None:
        with self._lock:
            if self._mlmd is not None:
                self._mlmd = None
                self._mlmd = connect(self.config, readonly=self.readonly)

    @property
    def mlmd(self) -> metadata_store.MetadataStore:
        if self._mlmd is None:
            raise StoreError(f"the store {self.config.redacted()} was closed")
        return self._mlmd

    def _call(self, action: str, fn, *args, **kwargs):
        self.check_text(action, (args, tuple(kwargs.values())))
        with self._lock, translated(action, self.config.redacted()):
            return fn(*args, **kwargs)

    def _list(self, action: str, fn, *args, **kwargs) -> list:
        """A read returning a list; MLMD answers some empty ones with NotFound."""
        self.check_text(action, (args, tuple(kwargs.values())))
        with self._lock, translated(action, self.config.redacted()):
            try:
                return list(fn(*args, **kwargs))
            except mlmd_errors.NotFoundError:
                return []

    def _write(self, action: str, fn, *args, **kwargs):
        """A write, retried when a concurrent writer aborted it (MLMD retried already)."""
        if self.readonly:
            raise ReadOnlyStore(
                f"{action}: the store {self.config.redacted()} was opened read-only"
            )
        self.check_text(action, (args, tuple(kwargs.values())))
        for attempt in range(self.write_retries):
            try:
                with self._lock:
                    return fn(*args, **kwargs)
            except mlmd_errors.StatusError as exc:
                if self.transient(exc):
                    if attempt == self.write_retries - 1:
                        with translated(action, self.config.redacted()):
                            raise
                    time.sleep(0.05 * (2 ** attempt))
                    continue
                if not isinstance(exc, (mlmd_errors.InvalidArgumentError, mlmd_errors.AlreadyExistsError,
                                        mlmd_errors.NotFoundError)):
                    # The server may have left the failed transaction open on this connection
                    # (MariaDB after a packet over max_allowed_packet): every later call would
                    # fail with "Transaction already open". Start afresh.
                    self._reconnect()
                with translated(action, self.config.redacted()):
                    raise

