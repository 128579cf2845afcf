"""The only module that imports ML Metadata.

:class:`Store` wraps one ``MetadataStore`` connection: it registers types, converts between
MLMD protos and lineage's frozen records, serialises calls from several threads, retries writes
that a concurrent writer aborted, and translates every MLMD error into a :class:`LineageError`
whose message says what to do (see :func:`_translated`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from google.protobuf import json_format, struct_pb2
from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from .errors import (
    AlreadyExists,
    InvalidInput,
    LineageError,
    NotFound,
    ReadOnlyStore,
    SchemaConflict,
    StoreBusy,
    StoreError,
    StoreNeedsUpgrade,
    StoreNotFound,
    StoreUnavailable,
)
from .records import Artifact, Context, Event, Execution, ReadOnlyMapping
from .schema import REGISTRY, Registry, TypeSpec
from .uri import StoreConfig

__all__ = ["Store", "upgrade_store", "ArtifactRef", "mlmd_version"]

log = logging.getLogger("lineage.store")

#: An artifact to link to an execution: an existing artifact's id, or a new record (id None).
ArtifactRef = Union[int, Artifact]

_PTYPE = {
    "INT": pb.INT, "DOUBLE": pb.DOUBLE, "STRING": pb.STRING,
    "BOOLEAN": pb.BOOLEAN, "STRUCT": pb.STRUCT,
}
_PTYPE_NAME = {v: k for k, v in _PTYPE.items()}
_PTYPE_NAME[pb.PROTO] = "PROTO"
_PTYPE_NAME[pb.UNKNOWN] = "UNKNOWN"
_EXEC_STATE = pb.Execution.State
_ART_STATE = pb.Artifact.State
_EVENT_TYPE = pb.Event.Type
_WRITE_RETRIES = 4
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_MAX_STARTING_NODES = 100
_MAX_HOPS = 100  # MLMD's own cap per get_lineage_subgraph call


def mlmd_version() -> str:
    from ml_metadata import __version__

    return __version__


# --------------------------------------------------------------------------- errors


@contextlib.contextmanager
def _translated(action: str, store: str = "") -> Iterator[None]:
    """Map MLMD's errors to lineage's, with what went wrong and what to do."""
    where = f" in {store}" if store else ""
    try:
        yield
    except LineageError:
        raise
    except mlmd_errors.NotFoundError as exc:
        raise NotFound(f"{action}: not found{where} ({_first_line(exc)})") from None
    except mlmd_errors.InvalidArgumentError as exc:
        raise InvalidInput(f"{action}: ML Metadata refused the request: {_first_line(exc)}") from None
    except mlmd_errors.AbortedError as exc:
        raise StoreBusy(
            f"{action}: the store{where} stayed locked by another writer ({_first_line(exc)}). "
            "Retry, run fewer writers at once, or use a MySQL/MariaDB store for many writers."
        ) from None
    except mlmd_errors.AlreadyExistsError as exc:
        raise AlreadyExists(f"{action}: already exists{where}: {_first_line(exc)}") from None
    except mlmd_errors.FailedPreconditionError as exc:
        raise SchemaConflict(f"{action}: the store{where} refused it: {_first_line(exc)}") from None
    except (mlmd_errors.UnavailableError, mlmd_errors.InternalError, mlmd_errors.UnknownError) as exc:
        raise StoreUnavailable(f"{action}: the store{where} failed: {_first_line(exc)}") from None
    except mlmd_errors.StatusError as exc:
        raise StoreError(f"{action}{where}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ------------------------------------------------------------------ value conversion


def _to_value(value: Any, ptype: Optional[str] = None) -> pb.Value:
    """A Python value as an MLMD ``Value``; what MLMD cannot hold becomes JSON text."""
    v = pb.Value()
    if ptype == "STRUCT" or (ptype is None and isinstance(value, dict) and _jsonable(value)):
        s = struct_pb2.Struct()
        s.update(value if isinstance(value, dict) else {"value": value})
        v.struct_value.CopyFrom(s)
    elif isinstance(value, bool):
        if ptype in (None, "BOOLEAN"):
            v.bool_value = value
        else:
            _coerce(v, value, ptype)
    elif isinstance(value, int) and ptype in (None, "INT"):
        if _INT32_MIN <= value <= _INT32_MAX:
            v.int_value = value
        elif ptype is None and abs(value) <= 2**53:
            v.double_value = float(value)  # exact; MySQL's int_value column is 32-bit
        elif ptype is None:
            v.string_value = json.dumps(value)
        else:
            raise InvalidInput(
                f"value {value} does not fit an INT property: ML Metadata's MySQL schema holds "
                f"32-bit integers. Declare the property as DOUBLE (exact up to 2**53)."
            )
    elif isinstance(value, float) and ptype in (None, "DOUBLE"):
        v.double_value = value
    elif isinstance(value, str) and ptype in (None, "STRING"):
        v.string_value = value
    elif ptype is None or ptype == "STRING":
        v.string_value = json.dumps(value, default=_json_default, sort_keys=True)
    else:
        _coerce(v, value, ptype)
    return v


def _coerce(v: pb.Value, value: Any, ptype: str) -> None:
    try:
        if ptype == "INT":
            return _coerce_int(v, int(value))
        elif ptype == "DOUBLE":
            v.double_value = float(value)
        elif ptype == "BOOLEAN":
            v.bool_value = bool(value)
        else:
            v.string_value = str(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"value {value!r} cannot be stored as a {ptype} property") from None


def _coerce_int(v: pb.Value, value: int) -> None:
    v.CopyFrom(_to_value(value, "INT"))


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


def _from_value(v: pb.Value) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "struct_value":
        return json_format.MessageToDict(v.struct_value)
    if which == "proto_value":
        return v.proto_value.type_url
    return getattr(v, which)


class _LazyProps(ReadOnlyMapping):
    """A proto's property map, converted value by value when read (a graph of 30k nodes
    is built without converting properties nobody looks at). Holds the message, so records
    stay picklable."""

    __slots__ = ("_msg", "_field", "_cache")

    def __init__(self, msg: Any, field: str) -> None:
        self._msg = msg
        self._field = field
        self._cache: Optional[Dict[str, Any]] = None

    def _all(self) -> Dict[str, Any]:
        if self._cache is None:
            self._cache = {k: _from_value(v) for k, v in getattr(self._msg, self._field).items()}
        return self._cache

    def __getitem__(self, key: str) -> Any:
        if self._cache is not None:
            return self._cache[key]
        m = getattr(self._msg, self._field)
        if key not in m:
            raise KeyError(key)
        return _from_value(m[key])

    def __contains__(self, key: object) -> bool:
        return key in getattr(self._msg, self._field)

    def __iter__(self):
        return iter(self._all())

    def __len__(self) -> int:
        return len(getattr(self._msg, self._field))

    def __repr__(self) -> str:
        return repr(self._all())

    def __getstate__(self):
        return {"msg": self._msg.SerializeToString(), "type": type(self._msg), "field": self._field}

    def __setstate__(self, state) -> None:
        self._msg = state["type"].FromString(state["msg"])
        self._field = state["field"]
        self._cache = None


def _copy(msg: Any) -> Any:
    """A copy of a proto the store keeps and mutates, for a record to hold."""
    out = type(msg)()
    out.CopyFrom(msg)
    return out


def _props(msg: Any, field: str) -> Mapping[str, Any]:
    return _LazyProps(msg, field) if len(getattr(msg, field)) else {}


# ---------------------------------------------------------------- record conversion


def _artifact(a: pb.Artifact) -> Artifact:
    return Artifact(
        id=a.id, type=a.type, uri=a.uri, state=_ART_STATE.Name(a.state),
        properties=_props(a, "properties"), custom_properties=_props(a, "custom_properties"),
        name=a.name or None, create_time_ms=a.create_time_since_epoch,
        update_time_ms=a.last_update_time_since_epoch,
    )


def _execution(e: pb.Execution) -> Execution:
    return Execution(
        id=e.id, type=e.type, state=_EXEC_STATE.Name(e.last_known_state),
        properties=_props(e, "properties"), custom_properties=_props(e, "custom_properties"),
        name=e.name or None, create_time_ms=e.create_time_since_epoch,
        update_time_ms=e.last_update_time_since_epoch,
    )


def _context(c: pb.Context) -> Context:
    return Context(
        id=c.id, type=c.type, name=c.name,
        properties=_props(c, "properties"), custom_properties=_props(c, "custom_properties"),
        create_time_ms=c.create_time_since_epoch, update_time_ms=c.last_update_time_since_epoch,
    )


def _event(e: pb.Event) -> Event:
    path = tuple(s.key if s.HasField("key") else s.index for s in e.path.steps)
    return Event(e.artifact_id, e.execution_id, _EVENT_TYPE.Name(e.type), path,
                 e.milliseconds_since_epoch)


def _list_options(limit: Optional[int], filter_query: Optional[str], order_by: str,
                  ascending: bool) -> metadata_store.ListOptions:
    field = {
        "create_time": metadata_store.OrderByField.CREATE_TIME,
        "update_time": metadata_store.OrderByField.UPDATE_TIME,
        "id": metadata_store.OrderByField.ID,
    }[order_by]
    return metadata_store.ListOptions(
        limit=limit, order_by=field, is_asc=ascending, filter_query=filter_query or None
    )


def _quote(text: str) -> str:
    """A string literal for an MLMD filter query."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---------------------------------------------------------------------- the store


class Store:
    """One connection to an MLMD store, safe to share between threads.

    ``readonly=True`` never writes (no type registration either), and for SQLite opens the
    file read-only; this is how queries open stores that other tools wrote.
    """

    def __init__(self, config: StoreConfig, *, readonly: bool = False,
                 registry: Registry = REGISTRY) -> None:
        self.config = config
        self.readonly = readonly
        self.registry = registry
        self._lock = threading.RLock()
        self._types: Dict[Tuple[str, str], Any] = {}  # (kind, name) -> MLMD type proto
        self._contexts: Dict[int, pb.Context] = {}
        self._running: Dict[int, pb.Execution] = {}  # written RUNNING by this process
        with self._creation_lock():
            self._mlmd = self._connect()
            if not readonly:
                self.ensure_schema()

    # ---------------------------------------------------------------- connecting

    def __repr__(self) -> str:
        return f"Store({self.config.redacted()!r}, readonly={self.readonly})"

    @contextlib.contextmanager
    def _creation_lock(self) -> Iterator[None]:
        """Serialise schema creation and type registration between processes (SQLite)."""
        if self.config.backend != "sqlite" or self.readonly:
            yield
            return
        path = self.config.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(str(path) + ".lock", "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _connect(self, upgrade: bool = False) -> metadata_store.MetadataStore:
        cfg = self.config
        conn = pb.ConnectionConfig()
        if cfg.backend == "memory":
            conn.fake_database.SetInParent()
        elif cfg.backend == "sqlite":
            path = cfg.path
            if self.readonly:
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
        try:
            return metadata_store.MetadataStore(conn, enable_upgrade_migration=upgrade)
        except (RuntimeError, mlmd_errors.StatusError) as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: BaseException) -> StoreError:
        text = _first_line(exc)
        where = self.config.redacted()
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
        if self.config.backend == "sqlite":
            return StoreUnavailable(f"cannot open the SQLite store {where}: {text}")
        return StoreUnavailable(
            f"cannot connect to {where}: {text}. Is the server running, does the database "
            f"exist, and is the password right (set LINEAGE_MYSQL_PASSWORD)?"
        )

    def close(self) -> None:
        with self._lock:
            self._mlmd = None  # the C++ store closes its connection when collected

    @property
    def mlmd(self) -> metadata_store.MetadataStore:
        if self._mlmd is None:
            raise StoreError(f"the store {self.config.redacted()} was closed")
        return self._mlmd

    def _call(self, action: str, fn, *args, **kwargs):
        with self._lock, _translated(action, self.config.redacted()):
            return fn(*args, **kwargs)

    def _list(self, action: str, fn, *args, **kwargs) -> list:
        """A read returning a list; MLMD answers some empty ones with NotFound."""
        with self._lock, _translated(action, self.config.redacted()):
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
        for attempt in range(_WRITE_RETRIES):
            try:
                with self._lock:
                    return fn(*args, **kwargs)
            except mlmd_errors.AbortedError:
                if attempt == _WRITE_RETRIES - 1:
                    with _translated(action, self.config.redacted()):
                        raise
                time.sleep(0.05 * (2 ** attempt))
            except mlmd_errors.StatusError:
                with _translated(action, self.config.redacted()):
                    raise

    # ------------------------------------------------------------------- types

    def ensure_schema(self) -> None:
        """Register every built-in type (idempotent, additive), then the schema version."""
        self._load_types()
        for spec in self.registry.builtin():
            self.ensure_type(spec)
        self._record_schema_version()

    def _load_types(self) -> None:
        with self._lock, _translated("reading types", self.config.redacted()):
            for kind, getter in (("artifact", self.mlmd.get_artifact_types),
                                 ("execution", self.mlmd.get_execution_types),
                                 ("context", self.mlmd.get_context_types)):
                for t in getter():
                    self._types[(kind, t.name)] = t

    def type_names(self, kind: str) -> List[str]:
        """Names of the types of one kind in the store."""
        self._load_types()
        return sorted(name for (k, name) in self._types if k == kind)

    def type_properties(self, kind: str, name: str) -> Dict[str, str]:
        t = self._types.get((kind, name))
        if t is None:
            self._load_types()
            t = self._types.get((kind, name))
        if t is None:
            return {}
        return {k: _PTYPE_NAME.get(v, "UNKNOWN") for k, v in t.properties.items()}

    def ensure_type(self, spec: TypeSpec) -> int:
        """The type id of ``spec``, registering the type or its new properties if needed.

        A property whose stored type differs from the declared one is a
        :class:`SchemaConflict` that names both; nothing is changed then.
        """
        key = (spec.kind, spec.name)
        stored = self._types.get(key)
        if stored is not None and all(p in stored.properties for p in spec.properties):
            self._check_conflict(spec, stored)
            return stored.id
        if stored is None:
            self._load_types()  # another process may have registered it meanwhile
            stored = self._types.get(key)
            if stored is not None and all(p in stored.properties for p in spec.properties):
                self._check_conflict(spec, stored)
                return stored.id
        if stored is not None:
            self._check_conflict(spec, stored)
        if self.readonly:
            if stored is not None:
                return stored.id
            raise ReadOnlyStore(
                f"the store {self.config.redacted()} was opened read-only and has no "
                f"{spec.kind} type {spec.name!r} yet"
            )
        proto_cls, put = {
            "artifact": (pb.ArtifactType, self.mlmd.put_artifact_type),
            "execution": (pb.ExecutionType, self.mlmd.put_execution_type),
            "context": (pb.ContextType, self.mlmd.put_context_type),
        }[spec.kind]
        proto = proto_cls(name=spec.name)
        if spec.description:
            proto.description = spec.description
        for prop, ptype in spec.properties.items():
            proto.properties[prop] = _PTYPE[ptype]
        for attempt in range(3):
            try:
                type_id = self._write(
                    f"registering {spec.kind} type {spec.name}", put, proto,
                    can_add_fields=True, can_omit_fields=True,
                )
                break
            except AlreadyExists:
                # A concurrent registration won the race: use it if it covers the spec.
                self._load_types()
                stored = self._types.get(key)
                if stored is not None:
                    self._check_conflict(spec, stored)
                    if all(p in stored.properties for p in spec.properties):
                        return stored.id
                if attempt == 2:
                    raise
        proto.id = type_id
        if stored is not None:
            for prop, ptype in stored.properties.items():
                proto.properties[prop] = ptype
        self._types[key] = proto
        return type_id

    def _check_conflict(self, spec: TypeSpec, stored: Any) -> None:
        for prop, ptype in spec.properties.items():
            have = stored.properties.get(prop)
            if have is not None and have != _PTYPE[ptype]:
                raise SchemaConflict(
                    f"{spec.kind} type {spec.name!r} in {self.config.redacted()} stores property "
                    f"{prop!r} as {_PTYPE_NAME.get(have, have)}, but it is declared as {ptype}. "
                    f"MLMD cannot change a property's type: declare a new property name "
                    f"(or a new type name) instead."
                )

    def _type_id(self, kind: str, name: str) -> int:
        spec = self.registry.get(kind, name)
        if spec is None:
            if kind == "execution":
                spec = self.registry.execution_type(name)
            else:
                stored = self._types.get((kind, name))
                if stored is None:
                    self._load_types()
                    stored = self._types.get((kind, name))
                if stored is not None:
                    return stored.id
                raise InvalidInput(
                    f"unknown {kind} type {name!r}: declare it first "
                    f"(lineage.types.declare_artifact_type / a subclass of ArtifactType)"
                )
        return self.ensure_type(spec)

    def _declared(self, kind: str, name: str) -> Dict[str, str]:
        spec = self.registry.get(kind, name)
        declared = dict(spec.properties) if spec else {}
        t = self._types.get((kind, name))
        if t is not None:
            for k, v in t.properties.items():
                declared.setdefault(k, _PTYPE_NAME.get(v, "STRING"))
        return declared

    def _record_schema_version(self) -> None:
        version = self.registry.version
        existing = self.get_context_by_name("LineageStore", "store")
        if existing is not None:
            stored = existing.properties.get("schema_version") or 0
            if stored > version:
                raise SchemaConflict(
                    f"the store {self.config.redacted()} was written by a newer lineage "
                    f"(schema version {stored}; this one knows {version}). Upgrade lineage."
                )
            if stored == version:
                return
        self.put_context("LineageStore", "store", {"schema_version": version})

    # ---------------------------------------------------------------- builders

    def _fill(self, proto: Any, kind: str, type_name: str, properties: Mapping[str, Any],
              custom: Mapping[str, Any]) -> None:
        declared = self._declared(kind, type_name)
        for k, v in properties.items():
            if v is None:
                continue
            if k in declared:
                proto.properties[k].CopyFrom(_to_value(v, declared[k]))
            else:
                proto.custom_properties[k].CopyFrom(_to_value(v))
        for k, v in custom.items():
            if v is None:
                continue
            proto.custom_properties[k].CopyFrom(_to_value(v))

    def _new_artifact(self, a: Artifact) -> pb.Artifact:
        proto = pb.Artifact(type_id=self._type_id("artifact", a.type), uri=a.uri)
        if a.name:
            proto.name = a.name
        proto.state = _ART_STATE.Value(a.state or "LIVE")
        self._fill(proto, "artifact", a.type, a.properties, a.custom_properties)
        return proto

    # ---------------------------------------------------------------- contexts

    def get_context_by_name(self, type_name: str, name: str) -> Optional[Context]:
        proto = self._call(f"reading {type_name} context {name!r}",
                           self.mlmd.get_context_by_type_and_name, type_name, name)
        if proto is None:
            return None
        self._contexts[proto.id] = proto
        return _context(_copy(proto))

    def put_context(self, type_name: str, name: str, properties: Mapping[str, Any] = {},
                    *, update: bool = True) -> Context:
        """Create the context, or (``update=True``) set the given properties on it."""
        type_id = self._type_id("context", type_name)
        for _ in range(3):
            existing = self._call(f"reading {type_name} context {name!r}",
                                  self.mlmd.get_context_by_type_and_name, type_name, name)
            proto = existing if existing is not None else pb.Context(type_id=type_id, name=name)
            if existing is not None and not update:
                self._contexts[proto.id] = proto
                return _context(_copy(proto))
            self._fill(proto, "context", type_name, properties, {})
            try:
                [cid] = self._write(f"writing {type_name} context {name!r}",
                                    self.mlmd.put_contexts, [proto])
            except AlreadyExists:
                continue  # created by a concurrent writer: read it and update that one
            proto.id = cid
            proto.type = type_name
            self._contexts[cid] = proto
            return _context(_copy(proto))
        raise StoreBusy(f"could not create the {type_name} context {name!r}: it kept changing")

    def link_contexts(self, parent_id: int, child_id: int) -> None:
        """Record ``parent_id`` as a parent context of ``child_id`` (idempotent)."""
        link = pb.ParentContext(parent_id=parent_id, child_id=child_id)
        try:
            self._write("linking contexts", self.mlmd.put_parent_contexts, [link])
        except AlreadyExists:
            pass  # already linked

    def _context_protos(self, ids: Sequence[int]) -> List[pb.Context]:
        missing = [i for i in ids if i not in self._contexts]
        if missing:
            for c in self._list("reading contexts", self.mlmd.get_contexts_by_id, missing):
                self._contexts[c.id] = c
        out = []
        for i in ids:
            if i not in self._contexts:
                raise NotFound(f"context {i} does not exist in {self.config.redacted()}")
            out.append(self._contexts[i])
        return out

    # --------------------------------------------------------------- executions

    def write_execution(
        self,
        *,
        type: str,
        state: str,
        execution_id: Optional[int] = None,
        properties: Mapping[str, Any] = {},
        params: Mapping[str, Any] = {},
        inputs: Sequence[Tuple[ArtifactRef, str]] = (),
        outputs: Sequence[Tuple[ArtifactRef, str]] = (),
        context_ids: Sequence[int] = (),
        reread: bool = True,
    ) -> Tuple[Execution, List[Artifact]]:
        """Create or update one execution with its events and contexts in ONE MLMD call.

        ``inputs``/``outputs`` pair an artifact (existing id, or a new record) with the
        argument name recorded as the event path. Existing artifacts are passed to MLMD as
        stored, read just before the write (a stub would wipe their uri and properties).
        Returns the execution (read back when ``reread``, else as written, without server
        timestamps) and the output artifacts as stored.
        """
        action = f"recording a {type} execution"
        with self._lock:
            if execution_id is not None:
                proto = self._running.pop(execution_id, None)
                if proto is None:
                    found = self._list(action, self.mlmd.get_executions_by_id, [execution_id])
                    if not found:
                        raise NotFound(f"execution {execution_id} does not exist")
                    proto = found[0]
            else:
                proto = pb.Execution(type_id=self._type_id("execution", type))
            proto.last_known_state = _EXEC_STATE.Value(state)
            self._fill(proto, "execution", type, properties, params)

            existing_ids = [a for a, _ in list(inputs) + list(outputs) if isinstance(a, int)]
            stored: Dict[int, pb.Artifact] = {}
            if existing_ids:
                for a in self._list(action, self.mlmd.get_artifacts_by_id, existing_ids):
                    stored[a.id] = a
                missing = sorted(set(existing_ids) - set(stored))
                if missing:
                    raise NotFound(
                        f"{action}: artifact(s) {missing} do not exist in {self.config.redacted()}"
                    )
            pairs = []
            by_ref: Dict[Tuple[int, int], pb.Event] = {}
            for refs, etype in ((inputs, _EVENT_TYPE.INPUT), (outputs, _EVENT_TYPE.OUTPUT)):
                for ref, key in refs:
                    if isinstance(ref, int) and (ref, etype) in by_ref:
                        # One artifact bound to two arguments: MLMD keeps one event per
                        # (artifact, execution, type), so its path names both.
                        by_ref[(ref, etype)].path.steps.add().key = key
                        continue
                    art = stored[ref] if isinstance(ref, int) else self._new_artifact(ref)
                    event = pb.Event(type=etype)
                    event.path.steps.add().key = key
                    if isinstance(ref, int):
                        by_ref[(ref, etype)] = event
                    pairs.append((art, event))
            contexts = self._context_protos(list(context_ids))
            exec_id, art_ids, _ = self._write(
                action, self.mlmd.put_execution, proto, pairs, contexts,
                reuse_context_if_already_exist=True,
            )
            proto.id = exec_id
            proto.type = type
            if state in ("RUNNING", "NEW"):
                self._running[exec_id] = proto  # the terminal update needs no read
        n_inputs = len([1 for _, ev in pairs if ev.type == _EVENT_TYPE.INPUT])
        out_ids = art_ids[n_inputs:]
        outs = self.get_artifacts(out_ids) if out_ids else []
        execution = self.get_execution(exec_id) if reread else _execution(_copy(proto))
        return execution, outs

    def put_subgraph(
        self,
        *,
        executions: Sequence[Tuple[str, str, Mapping[str, Any], Mapping[str, Any]]],
        artifacts: Sequence[ArtifactRef],
        edges: Sequence[Tuple[int, int, str, str]],
        context_ids: Sequence[int] = (),
    ) -> Tuple[List[int], List[int]]:
        """Record many executions, artifacts and events in ONE transaction (bulk import).

        ``executions`` are ``(type, state, properties, params)``; ``artifacts`` new records
        or existing ids; ``edges`` ``(execution index, artifact index, "INPUT"|"OUTPUT", key)``.
        Every node is attributed/associated to every context in ``context_ids``. Returns the
        execution ids and artifact ids, in order.
        """
        with self._lock:
            exec_protos = []
            for type_name, state, props, params in executions:
                proto = pb.Execution(type_id=self._type_id("execution", type_name),
                                     last_known_state=_EXEC_STATE.Value(state))
                self._fill(proto, "execution", type_name, props, params)
                exec_protos.append(proto)
            existing = [a for a in artifacts if isinstance(a, int)]
            stored = {a.id: a for a in self._list("bulk import", self.mlmd.get_artifacts_by_id,
                                                  existing)} if existing else {}
            if len(stored) != len(set(existing)):
                raise NotFound(f"bulk import: artifact(s) {sorted(set(existing) - set(stored))} do not exist")
            art_protos = [stored[a] if isinstance(a, int) else self._new_artifact(a) for a in artifacts]
            event_edges = []
            for ei, ai, etype, key in edges:
                event = pb.Event(type=_EVENT_TYPE.Value(etype))
                event.path.steps.add().key = key
                event_edges.append((ei, ai, event))
            contexts = self._context_protos(list(context_ids))
            exec_ids, art_ids, _ = self._write(
                "bulk import", self.mlmd.put_lineage_subgraph, exec_protos, art_protos, contexts,
                event_edges, reuse_context_if_already_exist=True,
                reuse_artifact_if_already_exist_by_external_id=False)
        return list(exec_ids), list(art_ids)

    def put_artifacts(self, artifacts: Sequence[Artifact]) -> List[Artifact]:
        """Record artifacts that no execution produced (external data)."""
        protos = [self._new_artifact(a) for a in artifacts]
        ids = self._write("recording artifacts", self.mlmd.put_artifacts, protos)
        return self.get_artifacts(ids)

    # -------------------------------------------------------------------- reads

    def get_artifacts(self, ids: Iterable[int]) -> List[Artifact]:
        ids = list(ids)
        found = {a.id: a for a in self._list("reading artifacts", self.mlmd.get_artifacts_by_id, ids)}
        return [_artifact(found[i]) for i in ids if i in found]

    def get_artifact(self, artifact_id: int) -> Artifact:
        got = self.get_artifacts([artifact_id])
        if not got:
            raise NotFound(f"artifact {artifact_id} does not exist in {self.config.redacted()}")
        return got[0]

    def get_executions(self, ids: Iterable[int]) -> List[Execution]:
        ids = list(ids)
        found = {e.id: e for e in self._list("reading executions", self.mlmd.get_executions_by_id, ids)}
        return [_execution(found[i]) for i in ids if i in found]

    def get_execution(self, execution_id: int) -> Execution:
        got = self.get_executions([execution_id])
        if not got:
            raise NotFound(f"execution {execution_id} does not exist in {self.config.redacted()}")
        return got[0]

    def get_contexts(self, ids: Iterable[int]) -> List[Context]:
        ids = list(ids)
        found = {c.id: c for c in self._list("reading contexts", self.mlmd.get_contexts_by_id, ids)}
        return [_context(found[i]) for i in ids if i in found]

    def get_context(self, context_id: int) -> Context:
        got = self.get_contexts([context_id])
        if not got:
            raise NotFound(f"context {context_id} does not exist in {self.config.redacted()}")
        return got[0]

    def list_artifacts(self, *, filter_query: Optional[str] = None, limit: Optional[int] = 100,
                       order_by: str = "create_time", ascending: bool = False) -> List[Artifact]:
        opts = _list_options(limit, filter_query, order_by, ascending)
        return [_artifact(a) for a in self._list("listing artifacts", self.mlmd.get_artifacts,
                                                 list_options=opts)]

    def list_executions(self, *, filter_query: Optional[str] = None, limit: Optional[int] = 100,
                        order_by: str = "create_time", ascending: bool = False) -> List[Execution]:
        opts = _list_options(limit, filter_query, order_by, ascending)
        return [_execution(e) for e in self._list("listing executions", self.mlmd.get_executions,
                                                  list_options=opts)]

    def list_contexts(self, *, filter_query: Optional[str] = None, limit: Optional[int] = 100,
                      order_by: str = "create_time", ascending: bool = False) -> List[Context]:
        opts = _list_options(limit, filter_query, order_by, ascending)
        return [_context(c) for c in self._list("listing contexts", self.mlmd.get_contexts,
                                                list_options=opts)]

    def events_of_executions(self, ids: Sequence[int]) -> List[Event]:
        if not ids:
            return []
        return [_event(e) for e in self._list("reading events",
                                              self.mlmd.get_events_by_execution_ids, list(ids))]

    def events_of_artifacts(self, ids: Sequence[int]) -> List[Event]:
        if not ids:
            return []
        return [_event(e) for e in self._list("reading events",
                                              self.mlmd.get_events_by_artifact_ids, list(ids))]

    def contexts_of_execution(self, execution_id: int) -> List[Context]:
        return [_context(c) for c in self._list("reading contexts", self.mlmd.get_contexts_by_execution, execution_id)]

    def contexts_of_artifact(self, artifact_id: int) -> List[Context]:
        return [_context(c) for c in self._list("reading contexts", self.mlmd.get_contexts_by_artifact, artifact_id)]

    def executions_in_context(self, context_id: int, *, limit: Optional[int] = 100,
                              ascending: bool = True) -> List[Execution]:
        # Always page: without ListOptions this MLMD call is quadratic (MLMD_NOTES).
        opts = _list_options(limit or 100_000, None, "id", ascending)
        return [_execution(e) for e in self._list("reading a context's executions", self.mlmd.get_executions_by_context,
            context_id, list_options=opts)]

    def artifacts_in_context(self, context_id: int, *, limit: Optional[int] = 100,
                             ascending: bool = True) -> List[Artifact]:
        opts = _list_options(limit or 100_000, None, "id", ascending)
        return [_artifact(a) for a in self._list("reading a context's artifacts", self.mlmd.get_artifacts_by_context,
            context_id, list_options=opts)]

    def parent_contexts(self, context_id: int) -> List[Context]:
        return [_context(c) for c in self._list("reading parent contexts", self.mlmd.get_parent_contexts_by_context, context_id)]

    def traversal_edges(self, *, artifact_ids: Sequence[int] = (), execution_ids: Sequence[int] = (),
                        direction: str = "DOWNSTREAM", max_hops: int = _MAX_HOPS
                        ) -> List[Tuple[int, int, bool]]:
        """MLMD's traversal, events only: ``(artifact_id, execution_id, is_input)`` tuples.

        No node details are read (the Python client would read every node otherwise): the
        fast path for questions that need the reachable set, not the records.
        """
        dir_value = pb.LineageSubgraphQueryOptions.Direction.Value(direction)
        inputs = {_EVENT_TYPE.INPUT, _EVENT_TYPE.DECLARED_INPUT, _EVENT_TYPE.INTERNAL_INPUT}
        out: List[Tuple[int, int, bool]] = []
        for kind, ids in (("artifact", list(artifact_ids)), ("execution", list(execution_ids))):
            for i in range(0, len(ids), _MAX_STARTING_NODES):
                opts = pb.LineageSubgraphQueryOptions(max_num_hops=max_hops, direction=dir_value)
                nodes = opts.starting_artifacts if kind == "artifact" else opts.starting_executions
                nodes.filter_query = "id IN (" + ", ".join(str(int(x)) for x in ids[i:i + _MAX_STARTING_NODES]) + ")"
                graph = self._call("tracing lineage", self.mlmd.get_lineage_subgraph, opts, ["events"])
                out.extend((e.artifact_id, e.execution_id, e.type in inputs) for e in graph.events)
        return out

    def artifact_types(self, artifact_ids: Sequence[int]) -> Dict[int, str]:
        """``{artifact id: type name}``, without reading the artifacts' properties.

        On SQLite this reads MLMD's ``Artifact`` table directly (read-only, schema version
        checked); elsewhere it falls back to reading the artifacts through MLMD.
        """
        ids = sorted(set(int(i) for i in artifact_ids))
        if not ids:
            return {}
        db = self._sql_reader()
        if db is None:
            return {a.id: a.type for a in self.get_artifacts(ids)}
        names = {t.id: t.name for (k, _), t in self._types.items() if k == "artifact"}
        out: Dict[int, str] = {}
        with self._lock:
            for i in range(0, len(ids), 20000):
                chunk = ",".join(str(x) for x in ids[i:i + 20000])
                for aid, tid in db.execute(f"SELECT id, type_id FROM Artifact WHERE id IN ({chunk})"):
                    if tid not in names:
                        self._load_types()
                        names = {t.id: t.name for (k, _), t in self._types.items() if k == "artifact"}
                    out[aid] = names.get(tid, "?")
        return out

    def counts(self, cap: int = 10_000) -> Dict[str, Dict[str, int]]:
        """``{"artifact"|"execution": {type: count}}`` and execution ``{"state": {STATE: n}}``.

        One GROUP BY on SQLite; elsewhere counted through MLMD up to ``cap`` per type (a count
        equal to ``cap`` means "at least")."""
        self._load_types()
        db = self._sql_reader()
        out: Dict[str, Dict[str, int]] = {"artifact": {}, "execution": {}, "state": {}}
        names = {(k, t.id): n for (k, n), t in self._types.items()}
        if db is not None:
            with self._lock:
                for kind, table in (("artifact", "Artifact"), ("execution", "Execution")):
                    for tid, n in db.execute(f"SELECT type_id, COUNT(*) FROM {table} GROUP BY type_id"):
                        out[kind][names.get((kind, tid), f"type {tid}")] = n
                for state, n in db.execute("SELECT last_known_state, COUNT(*) FROM Execution GROUP BY last_known_state"):
                    out["state"][_EXEC_STATE.Name(state) if state is not None else "UNKNOWN"] = n
            return out
        for kind in ("artifact", "execution"):
            lister = self.list_artifacts if kind == "artifact" else self.list_executions
            for name in self.type_names(kind):
                n = len(lister(filter_query=f"type = {_quote(name)}", limit=cap))
                if n:
                    out[kind][name] = n
        for state in ("RUNNING", "COMPLETE", "FAILED", "CACHED", "CANCELED"):
            n = len(self.list_executions(filter_query=f"last_known_state = {state}", limit=cap))
            if n:
                out["state"][state] = n
        return out

    def _sql_reader(self) -> Optional[sqlite3.Connection]:
        """A read-only sqlite3 connection to this store's file when its MLMD schema is the one
        this code was checked against (10); None otherwise."""
        if self.config.backend != "sqlite":
            return None
        if not hasattr(self, "_sql"):
            self._sql = None
            try:
                db = sqlite3.connect(f"file:{self.config.path}?mode=ro", uri=True,
                                     check_same_thread=False)
                (version,) = db.execute("SELECT schema_version FROM MLMDEnv").fetchone()
                if version == 10:
                    self._sql = db
                    if not self._types:
                        self._load_types()
                else:
                    db.close()
            except sqlite3.Error:
                self._sql = None
        return self._sql

    def executions_producing(self, artifact_ids: Sequence[int]) -> List[Execution]:
        """The executions with an OUTPUT event to any of these artifacts.

        A filter query joins Event on the artifact ids and the event type, so a shared
        artifact with thousands of consumers costs no more than any other (MLMD's traversal
        reads every event of every node it passes).
        """
        out: Dict[int, Execution] = {}
        ids = sorted(set(int(i) for i in artifact_ids))
        for i in range(0, len(ids), 500):
            chunk = ", ".join(str(x) for x in ids[i:i + 500])
            q = f"events_0.artifact_id IN ({chunk}) AND events_0.type IN (OUTPUT, DECLARED_OUTPUT)"
            for e in self.list_executions(filter_query=q, limit=None, order_by="id"):
                out[e.id] = e
        return list(out.values())

    def lineage_subgraph(
        self,
        *,
        artifact_ids: Sequence[int] = (),
        execution_ids: Sequence[int] = (),
        direction: str = "UPSTREAM",
        max_hops: int = _MAX_HOPS,
    ) -> Tuple[List[Artifact], List[Execution], List[Event]]:
        """MLMD's own bounded traversal from up to any number of starting nodes.

        MLMD takes at most 100 starting nodes and 100 hops per call; this chunks the starting
        nodes. Hops count edges: artifact -> execution is one hop. Returns the nodes with their
        details and the events between them.
        """
        if max_hops < 0 or max_hops > _MAX_HOPS:
            raise InvalidInput(f"max_hops must be between 0 and {_MAX_HOPS}, not {max_hops}")
        dir_value = pb.LineageSubgraphQueryOptions.Direction.Value(direction)
        arts: Dict[int, pb.Artifact] = {}
        execs: Dict[int, pb.Execution] = {}
        events: Dict[tuple, pb.Event] = {}
        starts = [("artifact", list(artifact_ids[i:i + _MAX_STARTING_NODES]))
                  for i in range(0, len(artifact_ids), _MAX_STARTING_NODES)]
        starts += [("execution", list(execution_ids[i:i + _MAX_STARTING_NODES]))
                   for i in range(0, len(execution_ids), _MAX_STARTING_NODES)]
        for kind, ids in starts:
            opts = pb.LineageSubgraphQueryOptions(max_num_hops=max_hops, direction=dir_value)
            nodes = opts.starting_artifacts if kind == "artifact" else opts.starting_executions
            nodes.filter_query = f"id IN ({', '.join(str(int(i)) for i in ids)})"
            graph = self._call("tracing lineage", self.mlmd.get_lineage_subgraph, opts,
                               ["artifacts", "executions", "events"])
            for a in graph.artifacts:
                arts[a.id] = a
            for e in graph.executions:
                execs[e.id] = e
            for ev in graph.events:
                events[(ev.artifact_id, ev.execution_id, ev.type)] = ev
        return ([_artifact(a) for a in arts.values()], [_execution(e) for e in execs.values()],
                [_event(e) for e in events.values()])

    def find_artifact(self, type_name: str, uri: str, fingerprint: str) -> Optional[Artifact]:
        """The newest LIVE artifact of this type at this URI with this fingerprint, if any."""
        if ("artifact", type_name) not in self._types:
            self._load_types()
            if ("artifact", type_name) not in self._types:
                return None
        q = (f"type = {_quote(type_name)} AND uri = {_quote(uri)} AND "
             f"properties.fingerprint.string_value = {_quote(fingerprint)}")
        found = self.list_artifacts(filter_query=q, limit=1)
        return found[0] if found else None


# ------------------------------------------------------------------------ upgrade


def upgrade_store(config: StoreConfig, *, copy_to: Optional[Path] = None,
                  backup: bool = False) -> Dict[str, str]:
    """Migrate an older MLMD schema, explicitly: on a copy, or in place after a backup.

    Returns what was done (``upgraded``, and ``backup`` where one was made). MySQL stores are
    migrated in place only; back them up with ``mysqldump`` first and pass ``backup=True`` to
    confirm it was done.
    """
    done: Dict[str, str] = {}
    if config.backend == "sqlite":
        src = config.path
        if not src.exists():
            raise StoreNotFound(f"no store at {src}")
        if copy_to is not None:
            copy_to = Path(copy_to).absolute()
            if copy_to.exists():
                raise InvalidInput(f"{copy_to} already exists: choose a new file for the copy")
            copy_to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy_to)
            target = copy_to
        elif backup:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            bak = src.with_name(f"{src.name}.bak-{stamp}")
            shutil.copy2(src, bak)
            done["backup"] = str(bak)
            target = src
        else:
            raise InvalidInput(
                "an upgrade rewrites the store: pass copy_to=NEW (--copy-to NEW) to upgrade a "
                "copy, or backup=True (--backup) to upgrade in place after a backup"
            )
        import dataclasses

        config = dataclasses.replace(config, path=target)
    elif config.backend == "mysql":
        if not backup:
            raise InvalidInput(
                "back the MySQL database up first (mysqldump), then confirm with --backup"
            )
    else:
        raise InvalidInput("an in-memory store never needs an upgrade")
    store = Store.__new__(Store)
    store.config, store.readonly = config, False
    store._lock = threading.RLock()
    store._mlmd = store._connect(upgrade=True)
    done["upgraded"] = config.redacted()
    return done
