"""``lineage tune``: the indexes ML Metadata's schema lacks, added to a store on request and
removed with ``--undo``.

ML Metadata indexes events by (artifact, execution, type), attributions by (context, artifact)
and associations by (context, execution). Asking for an artifact's producer therefore reads every
event of the artifact (a Hub module that every run reads has one per run), and an artifact's or
an execution's contexts scan the whole table. The three indexes below answer those questions
directly. They are lineage's, named ``lineage_*``; ML Metadata neither knows nor minds them (it
reads and writes through them as through its own; tested by writing through raw MLMD after
tuning). Each backend class says how it reaches its database's DDL (:class:`Tuning`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from typing import Any, Callable, Iterator, List, Sequence, Tuple

from ..errors import InvalidInput, StoreUnavailable
from .connect import connect

__all__ = ["Index", "INDEXES", "Tuning", "SqliteTuning", "MySQLTuning", "PostgreSQLTuning", "NoTuning"]


@dataclasses.dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: Tuple[str, ...]
    why: str

    def describe(self) -> str:
        return f"{self.name} on {self.table}({', '.join(self.columns)}): {self.why}"


INDEXES: Tuple[Index, ...] = (
    Index("lineage_event_artifact_type", "Event", ("artifact_id", "type"),
          "an artifact's producer without reading every event of its consumers"),
    Index("lineage_attribution_artifact", "Attribution", ("artifact_id",), "an artifact's contexts"),
    Index("lineage_association_execution", "Association", ("execution_id",), "an execution's contexts (its run)"),
)

#: a DDL session: run(sql, params) -> rows
Run = Callable[..., List[Tuple[Any, ...]]]


class Tuning:
    """What ``lineage tune`` needs of a backend: a DDL session (:meth:`_ddl`) and its dialect's
    statements. The store's own methods :meth:`tuned_indexes` and :meth:`tune` are the same for
    every backend."""

    def _ddl(self) -> "contextlib.AbstractContextManager[Run]":
        raise InvalidInput(f"lineage cannot tune a {getattr(self, 'backend', '?')} store (SQLite, MySQL/MariaDB "
                           f"and PostgreSQL only)")

    def _existing(self, run: Run) -> List[str]:
        raise NotImplementedError

    def _create(self, run: Run, index: Index) -> None:
        raise NotImplementedError

    def _drop(self, run: Run, index: Index) -> None:
        raise NotImplementedError

    def tuned_indexes(self) -> List[str]:
        """The ``lineage_*`` indexes the store holds."""
        with self._ddl() as run:
            return sorted(self._existing(run))

    def tune(self, *, undo: bool = False) -> List[Index]:
        """Add the missing :data:`INDEXES` (``undo``: remove those present); returns what changed."""
        if getattr(self, "readonly", False):
            raise InvalidInput("tuning changes the store's indexes: open it writable")
        changed: List[Index] = []
        with self._ddl() as run:
            present = set(self._existing(run))
            for index in INDEXES:
                if undo and index.name in present:
                    self._drop(run, index)
                    changed.append(index)
                elif not undo and index.name not in present:
                    self._create(run, index)
                    changed.append(index)
        return changed


class SqliteTuning(Tuning):
    """SQLite: DDL through Python's sqlite3 on the store's file."""

    @contextlib.contextmanager
    def _ddl(self) -> Iterator[Run]:
        # Alone on the file in this process: ML Metadata links its own copy of SQLite, and two
        # copies in one process do not see each other's POSIX locks (sqlite.org/howtocorrupt.html,
        # 2.2.1): a connection opened beside ML Metadata's took itself for the only one, and its
        # close removed the WAL ML Metadata was writing, whose later writes went unseen. So ML
        # Metadata's connection and the SQL reader close first, and ML Metadata reconnects after.
        path = self.config.path  # type: ignore[attr-defined]
        with self._lock:  # type: ignore[attr-defined]
            was_open = self._mlmd is not None  # type: ignore[has-type]
            self._mlmd = None   # ML Metadata's connection closes when its store is collected
            self._close_sql_reader()  # type: ignore[attr-defined]
            db = sqlite3.connect(str(path), timeout=60, isolation_level=None)
            try:
                yield lambda sql, params=(): db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"tuning {self.config.redacted()}: {exc}") from None  # type: ignore[attr-defined]
            finally:
                db.close()
                if was_open:
                    self._mlmd = connect(self.config, readonly=self.readonly)  # type: ignore[attr-defined]

    def _existing(self, run: Run) -> List[str]:
        return [r[0] for r in run("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'lineage\\_%' "
                                  "ESCAPE '\\'")]

    def _create(self, run: Run, index: Index) -> None:
        run(f"CREATE INDEX IF NOT EXISTS `{index.name}` ON `{index.table}` ({_cols(index.columns, '`')})")

    def _drop(self, run: Run, index: Index) -> None:
        run(f"DROP INDEX IF EXISTS `{index.name}`")


class MySQLTuning(Tuning):
    """MySQL / MariaDB: DDL through PyMySQL (``pip install 'lineage[mysql]'``)."""

    @contextlib.contextmanager
    def _ddl(self) -> Iterator[Run]:
        cfg = self.config  # type: ignore[attr-defined]
        try:
            import pymysql
        except ImportError:
            raise StoreUnavailable(f"tuning the MySQL store {cfg.redacted()} needs PyMySQL: "
                                   f"pip install 'lineage[mysql]'") from None
        where = {"unix_socket": cfg.socket} if cfg.socket else {"host": cfg.host, "port": cfg.port}
        try:
            db = pymysql.connect(user=cfg.user, password=cfg.password or "", database=cfg.database,
                                 connect_timeout=10, autocommit=True, **where)
        except pymysql.Error as exc:
            raise StoreUnavailable(f"cannot connect to {cfg.redacted()} to tune it: {_first_line(exc)}") from None

        def run(sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
            with db.cursor() as cur:
                cur.execute(sql, params or None)
                return list(cur.fetchall())

        try:
            yield run
        except pymysql.Error as exc:
            raise StoreUnavailable(f"tuning {cfg.redacted()}: {_first_line(exc)}") from None
        finally:
            db.close()

    def _existing(self, run: Run) -> List[str]:
        return sorted({r[0] for r in run(
            "SELECT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() "
            "AND index_name LIKE 'lineage\\_%%'")})

    def _create(self, run: Run, index: Index) -> None:
        run(f"CREATE INDEX `{index.name}` ON `{index.table}` ({_cols(index.columns, '`')})")

    def _drop(self, run: Run, index: Index) -> None:
        run(f"DROP INDEX `{index.name}` ON `{index.table}`")


class PostgreSQLTuning(Tuning):
    """PostgreSQL: DDL through psycopg, the connection the type lock uses."""

    @contextlib.contextmanager
    def _ddl(self) -> Iterator[Run]:
        import psycopg

        conn = self._advisory_connection()  # type: ignore[attr-defined]

        def run(sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
            cur = conn.execute(sql, params or None)
            return list(cur.fetchall()) if cur.description else []

        try:
            yield run
        except psycopg.Error as exc:
            raise StoreUnavailable(f"tuning {self.config.redacted()}: {_first_line(exc)}") from None  # type: ignore[attr-defined]

    def _existing(self, run: Run) -> List[str]:
        return [r[0] for r in run("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                                  "AND indexname LIKE 'lineage\\_%%'")]

    def _create(self, run: Run, index: Index) -> None:
        # ML Metadata creates its tables unquoted: PostgreSQL folds their names to lower case
        run(f"CREATE INDEX IF NOT EXISTS {index.name} ON {index.table.lower()} ({_cols(index.columns, '')})")

    def _drop(self, run: Run, index: Index) -> None:
        run(f"DROP INDEX IF EXISTS {index.name}")


class NoTuning(Tuning):
    """ML Metadata's in-memory store: nothing outlives the process, nothing to tune."""

    def tuned_indexes(self) -> List[str]:
        return []

    def tune(self, *, undo: bool = False) -> List[Index]:
        raise InvalidInput("a memory:// store lives in one process: there is nothing to tune; tune a "
                           "SQLite, MySQL or PostgreSQL store")


def _cols(columns: Sequence[str], quote: str) -> str:
    return ", ".join(f"{quote}{c}{quote}" for c in columns)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
