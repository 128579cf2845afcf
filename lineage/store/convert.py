"""Conversion between ML Metadata's protos and lineage's frozen records and values."""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Tuple

from google.protobuf import json_format, struct_pb2
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from ..errors import InvalidInput
from ..records import Artifact, Context, Event, Execution, ReadOnlyMapping
from ..values import EXACT_KEY, FLOAT_MAX, column_value, double_is_exact, exact_entries, from_tree, to_tree

__all__ = ["pb", "PTYPE", "PTYPE_NAME", "EXEC_STATE", "ART_STATE", "EVENT_TYPE", "to_value", "encode",
           "from_value", "copy_proto", "artifact_record", "execution_record", "context_record",
           "event_record", "list_options", "INT32_MIN", "INT32_MAX", "PlainProps"]

PTYPE = {
    "INT": pb.INT, "DOUBLE": pb.DOUBLE, "STRING": pb.STRING,
    "BOOLEAN": pb.BOOLEAN, "STRUCT": pb.STRUCT,
}
PTYPE_NAME = {v: k for k, v in PTYPE.items()}
PTYPE_NAME[pb.PROTO] = "PROTO"
PTYPE_NAME[pb.UNKNOWN] = "UNKNOWN"
EXEC_STATE = pb.Execution.State
ART_STATE = pb.Artifact.State
EVENT_TYPE = pb.Event.Type
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# ------------------------------------------------------------------ value conversion


def _scalar(column: Any) -> pb.Value:
    v = pb.Value()
    if isinstance(column, bool):
        v.bool_value = column
    elif isinstance(column, int):
        v.int_value = column
    elif isinstance(column, float):
        v.double_value = column
    else:
        v.string_value = column
    return v


def _declared_column(value: Any, ptype: str, what: str) -> Tuple[Any, bool]:
    """``(column, exact)`` for a property declared as ``ptype`` (values are coerced to it)."""
    try:
        if ptype == "INT":
            number = int(value)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if INT32_MIN <= number <= INT32_MAX:
                return number, True
        if ptype == "DOUBLE":
            real = float(value)
            if math.isnan(real):
                return None, False
            if math.isinf(real):
                return math.copysign(FLOAT_MAX, real), False
            return max(-FLOAT_MAX, min(FLOAT_MAX, real)), double_is_exact(real)
        if ptype == "BOOLEAN":
            if not isinstance(value, (bool, int)):
                raise ValueError(value)
            return bool(value), True
    except (TypeError, ValueError):
        raise InvalidInput(f"{what}: {value!r} cannot be stored as a {ptype} property") from None
    if ptype == "INT":
        raise InvalidInput(f"{what}: {value} does not fit an INT property (ML Metadata's MySQL schema "
                           f"holds 32-bit integers); declare it DOUBLE (exact up to 2**53)")
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", ""), "\x00" not in text


def encode(value: Any, ptype: Optional[str] = None, what: str = "value") -> Tuple[Optional[pb.Value], bool, Any]:
    """``(MLMD value or None for no column, whether the exact tree must be kept beside it, tree)``.

    Undeclared properties follow :mod:`lineage.values`; declared ones are coerced to their type
    (``STRUCT`` ones become a protobuf Struct). Raises InvalidInput, before anything is written,
    for what cannot be recorded."""
    tree = to_tree(value, what)
    if ptype == "STRUCT":
        if not isinstance(value, dict):
            raise InvalidInput(f"{what}: a STRUCT property takes a dict, not {type(value).__name__}")
        v = pb.Value()
        s = struct_pb2.Struct()
        s.update(tree)
        v.struct_value.CopyFrom(s)
        return v, True, tree
    if ptype is None:
        column, _, exact = column_value(value, what)
    else:
        column, exact = _declared_column(value, ptype, what)
    return (None if column is None else _scalar(column)), not exact, tree


def to_value(value: Any, ptype: Optional[str] = None) -> pb.Value:
    """The MLMD ``Value`` a Python value is written as (empty when it has no column)."""
    v, _, _ = encode(value, ptype)
    return v if v is not None else pb.Value()


def from_value(v: pb.Value) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "struct_value":
        return json_format.MessageToDict(v.struct_value)
    if which == "proto_value":
        return v.proto_value.type_url
    return getattr(v, which)


class _LazyProps(ReadOnlyMapping):
    """A proto's property map, converted value by value when read (a graph of 30k nodes is built
    without converting properties nobody looks at), with the exact values of ``lineage:exact``
    put back over what the columns hold. Holds the message, so records stay picklable."""

    __slots__ = ("_msg", "_field", "_cache", "_exact")

    def __init__(self, msg: Any, field: str) -> None:
        self._msg = msg
        self._field = field
        self._cache: Optional[Dict[str, Any]] = None
        self._exact: Optional[Dict[str, Any]] = None

    def _overlay(self) -> Dict[str, Any]:
        if self._exact is None:
            raw = self._msg.custom_properties[EXACT_KEY].string_value \
                if EXACT_KEY in self._msg.custom_properties else None
            self._exact = exact_entries(raw)["p" if self._field == "properties" else "c"]
        return self._exact

    def _all(self) -> Dict[str, Any]:
        if self._cache is None:
            self._cache = {k: self[k] for k in self._keys()}
        return self._cache

    def _keys(self) -> list:
        m = getattr(self._msg, self._field)
        keys = [k for k in m if k != EXACT_KEY]
        return keys + [k for k in self._overlay() if k not in m]

    def __getitem__(self, key: str) -> Any:
        if self._cache is not None:
            return self._cache[key]
        exact = self._overlay()
        if key in exact:
            return from_tree(exact[key])
        m = getattr(self._msg, self._field)
        if key not in m or key == EXACT_KEY:
            raise KeyError(key)
        return from_value(m[key])

    def __contains__(self, key: object) -> bool:
        return key != EXACT_KEY and (key in getattr(self._msg, self._field) or key in self._overlay())

    def __iter__(self):
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return repr(self._all())

    def __getstate__(self):
        return {"msg": self._msg.SerializeToString(), "type": type(self._msg), "field": self._field}

    def __setstate__(self, state) -> None:
        self._msg = state["type"].FromString(state["msg"])
        self._field = state["field"]
        self._cache = None
        self._exact = None


class PlainProps(ReadOnlyMapping):
    """A property map already converted (read in SQL): read-only, kept by records without a
    copy, and picklable like :class:`_LazyProps`."""

    __slots__ = ("_d",)

    def __init__(self, values: Dict[str, Any]) -> None:
        self._d = values

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return repr(self._d)

    def __getstate__(self):
        return self._d

    def __setstate__(self, state) -> None:
        self._d = state


def copy_proto(msg: Any) -> Any:
    """A copy of a proto the store keeps and mutates, for a record to hold."""
    out = type(msg)()
    out.CopyFrom(msg)
    return out


def _props(msg: Any, field: str) -> Mapping[str, Any]:
    return _LazyProps(msg, field) if len(getattr(msg, field)) or EXACT_KEY in msg.custom_properties else {}


# ---------------------------------------------------------------- record conversion


def artifact_record(a: pb.Artifact) -> Artifact:
    return Artifact(
        id=a.id, type=a.type, uri=a.uri, state=ART_STATE.Name(a.state),
        properties=_props(a, "properties"), custom_properties=_props(a, "custom_properties"),
        name=a.name or None, create_time_ms=a.create_time_since_epoch,
        update_time_ms=a.last_update_time_since_epoch,
    )


def execution_record(e: pb.Execution) -> Execution:
    return Execution(
        id=e.id, type=e.type, state=EXEC_STATE.Name(e.last_known_state),
        properties=_props(e, "properties"), custom_properties=_props(e, "custom_properties"),
        name=e.name or None, create_time_ms=e.create_time_since_epoch,
        update_time_ms=e.last_update_time_since_epoch,
    )


def context_record(c: pb.Context) -> Context:
    return Context(
        id=c.id, type=c.type, name=c.name,
        properties=_props(c, "properties"), custom_properties=_props(c, "custom_properties"),
        create_time_ms=c.create_time_since_epoch, update_time_ms=c.last_update_time_since_epoch,
    )


def event_record(e: pb.Event) -> Event:
    path = tuple(s.key if s.HasField("key") else s.index for s in e.path.steps)
    return Event(e.artifact_id, e.execution_id, EVENT_TYPE.Name(e.type), path,
                 e.milliseconds_since_epoch)


def list_options(limit: Optional[int], filter_query: Optional[str], order_by: str,
                 ascending: bool) -> metadata_store.ListOptions:
    field = {
        "create_time": metadata_store.OrderByField.CREATE_TIME,
        "update_time": metadata_store.OrderByField.UPDATE_TIME,
        "id": metadata_store.OrderByField.ID,
    }[order_by]
    return metadata_store.ListOptions(
        limit=limit, order_by=field, is_asc=ascending, filter_query=filter_query or None
    )


