"""Conversion between ML Metadata's protos and lineage's frozen records and values."""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional

from google.protobuf import json_format, struct_pb2
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from ..errors import InvalidInput
from ..records import Artifact, Context, Event, Execution, ReadOnlyMapping
from ..values import json_default, jsonable

__all__ = ["pb", "PTYPE", "PTYPE_NAME", "EXEC_STATE", "ART_STATE", "EVENT_TYPE", "to_value",
           "from_value", "copy_proto", "artifact_record", "execution_record", "context_record",
           "event_record", "list_options", "INT32_MIN", "INT32_MAX"]

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


def to_value(value: Any, ptype: Optional[str] = None) -> pb.Value:
    """A Python value as an MLMD ``Value``; what MLMD cannot hold becomes JSON text."""
    v = pb.Value()
    if ptype == "STRUCT" or (ptype is None and isinstance(value, dict) and jsonable(value)):
        s = struct_pb2.Struct()
        s.update(value if isinstance(value, dict) else {"value": value})
        v.struct_value.CopyFrom(s)
    elif isinstance(value, bool):
        if ptype in (None, "BOOLEAN"):
            v.bool_value = value
        else:
            _coerce(v, value, ptype)
    elif isinstance(value, int) and ptype in (None, "INT"):
        if INT32_MIN <= value <= INT32_MAX:
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
        v.string_value = json.dumps(value, default=json_default, sort_keys=True)
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
    v.CopyFrom(to_value(value, "INT"))



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
            self._cache = {k: from_value(v) for k, v in getattr(self._msg, self._field).items()}
        return self._cache

    def __getitem__(self, key: str) -> Any:
        if self._cache is not None:
            return self._cache[key]
        m = getattr(self._msg, self._field)
        if key not in m:
            raise KeyError(key)
        return from_value(m[key])

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


def copy_proto(msg: Any) -> Any:
    """A copy of a proto the store keeps and mutates, for a record to hold."""
    out = type(msg)()
    out.CopyFrom(msg)
    return out


def _props(msg: Any, field: str) -> Mapping[str, Any]:
    return _LazyProps(msg, field) if len(getattr(msg, field)) else {}


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


