"""One class per database behind ML Metadata, chosen once when a store opens
(:meth:`lineage.store.Store.__new__`): the MLMD API answers everything on every backend
(:class:`~lineage.store.mlmd_reads.MlmdReads`); a backend class overrides what it does better or
must do differently. A new backend is a new class here and a line in :data:`BACKENDS`.

==============  =======================================================================
``sqlite``      SQL reads on the file (:mod:`lineage.store.sqlite`)
``mysql``       the MLMD API
``postgresql``  the MLMD API; text with a backslash kept out of MLMD's SQL (see below)
``memory``      the MLMD API
==============  =======================================================================
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from google.protobuf.message import Message

from ..errors import InvalidInput, StoreUnavailable

__all__ = ["PostgreSQLText", "PostgreSQLTypeLock", "text_fields"]


def text_fields(obj: Any, where: str = "") -> Iterator[tuple]:
    """``(field path, text)`` of every string in protos, lists and tuples of them."""
    if isinstance(obj, str):
        yield where or "text", obj
    elif isinstance(obj, Message):
        for field, value in obj.ListFields():
            name = f"{where}.{field.name}" if where else field.name
            if field.type == field.TYPE_STRING:
                items = value if field.label == field.LABEL_REPEATED else [value]
                for v in items:
                    yield name, v
            elif field.type == field.TYPE_MESSAGE:
                if field.message_type.GetOptions().map_entry:
                    for k, v in value.items():
                        yield f"{name}[{k!r}]", k
                        if isinstance(v, Message):
                            yield from text_fields(v, f"{name}[{k!r}]")
                        elif isinstance(v, str):
                            yield f"{name}[{k!r}]", v
                else:
                    items = value if field.label == field.LABEL_REPEATED else [value]
                    for v in items:
                        yield from text_fields(v, name)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from text_fields(item, where)


class PostgreSQLText:
    """ML Metadata 1.16 writes text into PostgreSQL's SQL through ``PQescapeLiteral`` and then
    strips the first and last character of the result, assuming it is ``'...'``; for text with a
    backslash libpq returns `` E'...'``, so the statement ML Metadata sends is broken (a syntax
    error) or, for crafted text, a different statement (google/ml-metadata,
    ``postgresql_metadata_source.cc``, ``EscapeString``). On PostgreSQL lineage therefore never
    hands ML Metadata text with a backslash: a property's column holds it with U+FF3C in place of
    each backslash and ``lineage:exact`` keeps the exact value (base64, see
    :func:`lineage.values.exact_entries`); a URI, name or filter with a backslash is refused."""

    STAND_IN = "\uff3c"

    @staticmethod
    def column_text_ok(text: str) -> bool:
        return "\\" not in text

    def column_text(self, text: str) -> str:
        return text.replace("\\", self.STAND_IN)

    def check_text(self, action: str, args: Any) -> None:
        for opts in _filters(args):
            opts.filter_query = self.postgresql_filter(action, opts.filter_query)
        for field, text in text_fields(list(args)):
            if "\\" in text and not field.endswith("filter_query"):
                raise InvalidInput(
                    f"{action}: {field} {text[:80]!r} holds a backslash, which ML Metadata 1.16 cannot write "
                    f"to PostgreSQL safely (its text escaping breaks the statement); use '/' instead")

    def postgresql_filter(self, action: str, query: str) -> str:
        """ML Metadata 1.16 puts a filter's string literals into PostgreSQL's SQL as they are, not
        escaped: a quote in one ends the string early. A backslash (written ``\\\\`` in a filter)
        is matched as the columns hold it (U+FF3C); a quote is refused."""
        if "\\" not in query:
            return query
        query = query.replace("\\\\", self.STAND_IN)
        if "\\" in query:
            raise InvalidInput(f"{action}: a filter value with a quote cannot be searched on PostgreSQL "
                               f"(ML Metadata 1.16 passes it to the database unescaped); search with ~ on a "
                               f"part of the value without the quote")
        return query


def _filters(args: Any) -> Iterator[Any]:
    """The list options (MLMD's ``ListOptions``, or its proto) among a call's arguments."""
    if isinstance(args, (list, tuple)):
        for a in args:
            yield from _filters(a)
    elif isinstance(getattr(args, "filter_query", None), str) and args.filter_query:
        yield args


class PostgreSQLTypeLock:
    """ML Metadata 1.16 registers a type on PostgreSQL by looking it up and inserting it, with no
    lock, and its Type table's unique key includes the (NULL) version, which PostgreSQL does not
    compare: two processes opening a fresh store at once each create every type (seen here: 24
    types twice after 12 processes opened one database), and the store then answers lookups by
    name with either. lineage registers types on PostgreSQL under an advisory lock of the
    database, held through its own connection (psycopg), so they are registered once."""

    LOCK_KEY = 0x6C696E65  # "line": one key per database; advisory locks are per database
    _pg = None
    _type_lock_depth = 0

    def _advisory_connection(self) -> Any:
        if self._pg is None or self._pg.closed:
            try:
                import psycopg
            except ImportError:
                raise StoreUnavailable(
                    f"writing to the PostgreSQL store {self.config.redacted()} needs psycopg: "  # type: ignore[attr-defined]
                    f"pip install 'lineage[postgresql]'") from None
            cfg = self.config  # type: ignore[attr-defined]
            try:
                self._pg = psycopg.connect(host=cfg.socket or cfg.host, port=cfg.port, dbname=cfg.database,
                                           user=cfg.user, password=cfg.password or None, autocommit=True,
                                           connect_timeout=10, application_name="lineage type lock")
            except psycopg.Error as exc:
                raise StoreUnavailable(f"cannot connect to {cfg.redacted()} for its type lock: "
                                       f"{str(exc).strip().splitlines()[0]}") from None
        return self._pg

    @contextlib.contextmanager
    def type_lock(self) -> Iterator[None]:
        with self._lock:  # type: ignore[attr-defined]
            if self._type_lock_depth:
                self._type_lock_depth += 1
                try:
                    yield
                finally:
                    self._type_lock_depth -= 1
                return
            conn = self._advisory_connection()
            conn.execute("SELECT pg_advisory_lock(%s)", (self.LOCK_KEY,))
            self._type_lock_depth = 1
            try:
                yield
            finally:
                self._type_lock_depth = 0
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self.LOCK_KEY,))
                except Exception:  # the session is gone: so is its lock
                    conn.close()

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        super().close()  # type: ignore[misc]
