"""URIs: which MLMD backend a store URI opens and where its artifacts live; and how a path
given for an artifact is recorded (:func:`to_uri`).

=============================  ==================================================
``None`` / ``""``              the embedded default: ``./.lineage/metadata.sqlite``
``sqlite:///relative/x.db``    a SQLite file, relative to the working directory
``sqlite:////abs/x.db``        a SQLite file, absolute path (four slashes)
``/abs/x.db``, ``x.db``        a plain path is a SQLite file too
``mysql://user[:pw]@host[:port]/db[?socket=/run/mysqld.sock]``   MySQL / MariaDB
``postgresql://user[:pw]@host[:port]/db[?host=/run/postgresql]``  PostgreSQL
``memory://``                  an in-memory store (one process, gone on exit)
=============================  ==================================================

A server's password comes from the URI, or from ``LINEAGE_MYSQL_PASSWORD`` (MySQL) or
``LINEAGE_PG_PASSWORD`` (PostgreSQL); it is never printed (:meth:`StoreConfig.redacted`) and never
recorded.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import InvalidInput
from .vocab import is_local

__all__ = ["StoreConfig", "parse_store_uri", "to_uri", "DEFAULT_HOME", "ENV_STORE", "ENV_ARTIFACTS"]

ENV_STORE = "LINEAGE_STORE"
ENV_ARTIFACTS = "LINEAGE_ARTIFACTS"
ENV_MYSQL_PASSWORD = "LINEAGE_MYSQL_PASSWORD"
ENV_PG_PASSWORD = "LINEAGE_PG_PASSWORD"
#: backend -> (URI scheme, default port, password variable) of the database servers
SERVERS = {"mysql": ("mysql", 3306, ENV_MYSQL_PASSWORD), "postgresql": ("postgresql", 5432, ENV_PG_PASSWORD)}
DEFAULT_HOME = ".lineage"
_HELP = (
    "use sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "mysql://user@host:3306/database, postgresql://user@host:5432/database or memory://"
)


@dataclasses.dataclass(frozen=True)
class StoreConfig:
    backend: str  # sqlite | mysql | postgresql | memory
    path: Optional[Path] = None
    host: str = ""
    port: int = 3306
    database: str = ""
    user: str = ""
    password: str = dataclasses.field(default="", repr=False)
    socket: str = ""
    artifact_root: Path = Path(DEFAULT_HOME) / "artifacts"
    #: the object store outputs go to (``s3://bucket/prefix``), or "" for ``artifact_root``
    #: itself; with one, ``artifact_root`` is where steps stage outputs before the upload
    artifact_remote: str = ""

    def redacted(self) -> str:
        """The store's URI with no password in it, for messages and logs."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"  # absolute path: sqlite:////abs/x.db
        if self.backend == "memory":
            return "memory://"
        auth = self.user + (":***" if self.password else "")
        where = f"{self.host}:{self.port}" if self.host else "localhost"
        extra = f"?{'socket' if self.backend == 'mysql' else 'host'}={self.socket}" if self.socket else ""
        return f"{SERVERS[self.backend][0]}://{auth}@{where}/{self.database}{extra}"

    __str__ = redacted


def _artifact_roots(given: Optional[str], local_default: Path) -> dict:
    """``artifact_root`` (and ``artifact_remote``) for a given root (None: the default)."""
    if not given:
        return {"artifact_root": local_default}
    if not is_local(given):
        scheme = given.split("://", 1)[0].lower()
        if scheme not in ("s3", "s3a", "gs", "gcs"):
            raise InvalidInput(f"artifact root {given!r}: lineage writes artifacts to a folder, s3://bucket/prefix "
                               f"or gs://bucket/prefix, not {scheme}://")
        if not given.split("://", 1)[1].strip("/"):
            raise InvalidInput(f"artifact root {given!r} names no bucket: write {scheme}://bucket/prefix")
        return {"artifact_root": local_default.parent / "staging", "artifact_remote": given.rstrip("/")}
    return {"artifact_root": Path(given[len("file://"):] if given.startswith("file://") else given).absolute()}


def parse_store_uri(uri: Optional[str] = None, *, artifact_root: Optional[str] = None) -> StoreConfig:
    """Turn a store URI (or ``$LINEAGE_STORE``, or the default) into a :class:`StoreConfig`."""
    if uri is None or uri == "":
        uri = os.environ.get(ENV_STORE, "")
    art_env = str(artifact_root) if artifact_root else os.environ.get(ENV_ARTIFACTS)
    if not uri:
        home = Path(DEFAULT_HOME).absolute()
        return StoreConfig("sqlite", path=home / "metadata.sqlite", **_artifact_roots(art_env, home / "artifacts"))
    uri = str(uri)
    default_root = _artifact_roots(art_env, Path(DEFAULT_HOME).absolute() / "artifacts")
    if uri.startswith("memory:"):
        return StoreConfig("memory", **default_root)
    if "://" not in uri:
        return _sqlite(uri, art_env)
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("sqlite", "file"):
        # sqlite:///rel.db -> "/rel.db" after the netloc; strip one slash (SQLAlchemy rule).
        path = uri.split("://", 1)[1]
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise InvalidInput(f"store URI {uri!r} names no file; {_HELP}")
        return _sqlite(path, art_env)
    if scheme in ("mysql", "mariadb", "mysql+pymysql"):
        return _server("mysql", uri, parts, default_root)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        return _server("postgresql", uri, parts, default_root)
    raise InvalidInput(f"unknown store URI scheme {scheme!r} in {_redact(uri)!r}; {_HELP}")


def _server(backend: str, uri: str, parts, default_root: dict) -> StoreConfig:
    """A MySQL/MariaDB or PostgreSQL store URI. A local socket is ``?socket=PATH`` (MySQL) or
    ``?host=DIRECTORY`` (PostgreSQL, libpq's spelling; ``?socket=`` is accepted too)."""
    scheme, default_port, password_env = SERVERS[backend]
    query = parse_qs(parts.query)
    socket = (query.get("socket") or query.get("host") or [""])[0] if backend == "postgresql" else \
        (query.get("socket") or [""])[0]
    if not parts.hostname and not socket:
        raise InvalidInput(f"store URI {_redact(uri)!r} names no host; {_HELP}")
    database = parts.path.lstrip("/")
    if not database:
        raise InvalidInput(f"store URI {_redact(uri)!r} names no database; {_HELP}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise InvalidInput(f"store URI {_redact(uri)!r} has a port that is not a number") from None
    if socket and parts.hostname not in (None, "", "localhost"):
        raise InvalidInput(f"store URI {_redact(uri)!r} names both the host {parts.hostname!r} and a "
                           f"socket: a socket is on this machine, write {scheme}://user@localhost/db?"
                           f"{'socket' if backend == 'mysql' else 'host'}=...")
    password = unquote(parts.password) if parts.password else os.environ.get(password_env, "")
    user = unquote(parts.username or "")
    if not user and backend == "postgresql":
        user = getpass.getuser()   # libpq's default (ML Metadata aborts the process without one)
    return StoreConfig(backend, host=parts.hostname or "", port=port, database=database,
                       user=user, password=password, socket=socket, **default_root)


def _sqlite(path: str, art_env: Optional[str]) -> StoreConfig:
    p = Path(path).expanduser().absolute()
    return StoreConfig("sqlite", path=p, **_artifact_roots(art_env, p.parent / "artifacts"))


def _redact(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password:
        return uri.replace(":" + parts.password + "@", ":***@", 1)
    return uri


def to_uri(location: object) -> str:
    """How a location is recorded: remote URIs (gs://, hdfs://, https://) as given, local paths
    (plain or ``file://``) made absolute."""
    text = os.fspath(location) if isinstance(location, os.PathLike) else str(location)
    if not is_local(text):
        return text
    if text.startswith("file://"):
        text = text[len("file://"):]
    return str(Path(text).expanduser().absolute())
