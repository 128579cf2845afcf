"""Frozen records: what lineage hands out instead of MLMD protos.

Only :mod:`lineage.store` converts between these and ML Metadata's protobuf messages.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional

from .vocab import local_path

__all__ = ["Artifact", "Execution", "Context", "Event", "ReadOnlyMapping", "utc_from_ms", "utc_from_s", "iso"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def utc_from_ms(ms: Optional[int]) -> Optional[_dt.datetime]:
    """An aware UTC datetime from MLMD's milliseconds since the epoch (None for 0/None)."""
    if not ms:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000.0, tz=_dt.timezone.utc)


def iso(dt: Optional[_dt.datetime]) -> Optional[str]:
    """ISO 8601 with the zone (``2026-11-26T10:00:00.123000+00:00``), or None."""
    return dt.isoformat() if dt else None


def utc_from_s(seconds: Optional[float]) -> Optional[_dt.datetime]:
    """An aware UTC datetime from a UNIX time in seconds (None for 0/None)."""
    if not seconds:
        return None
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)


class ReadOnlyMapping(Mapping):
    """Base of read-only mappings that records keep as they are (no copy), such as the
    store's lazily converted property maps."""


def _frozen(mapping: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
    if isinstance(mapping, (ReadOnlyMapping, MappingProxyType)):
        return mapping
    if not mapping:
        return _EMPTY
    return MappingProxyType(dict(mapping))


class _Node:
    """Shared behaviour of artifact and execution records."""

    kind: str = ""
    id: Optional[int]
    type: str
    properties: Mapping[str, Any]
    custom_properties: Mapping[str, Any]
    create_time_ms: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", _frozen(self.properties))
        object.__setattr__(self, "custom_properties", _frozen(self.custom_properties))

    def __hash__(self) -> int:  # mappings are not hashable; identity is (kind, id)
        return hash((self.kind, self.id, self.type))

    def get(self, key: str, default: Any = None) -> Any:
        """A property by name: declared properties first, then custom properties."""
        if key in self.properties:
            return self.properties[key]
        return self.custom_properties.get(key, default)

    @property
    def created(self) -> Optional[_dt.datetime]:
        return utc_from_ms(self.create_time_ms)

    @property
    def ref(self) -> str:
        """Short reference used by the CLI: ``a12`` for artifact 12, ``e7`` for execution 7."""
        return f"{self.kind[0]}{self.id}"

    def to_dict(self) -> Dict[str, Any]:
        """The record in lineage's one JSON shape: its reference as a string, times in ISO 8601
        with their zone, property values as recorded (see :mod:`lineage.cli.output` for how
        values JSON cannot hold are written)."""
        d: Dict[str, Any] = {"ref": self.ref, "kind": self.kind, "type": self.type}
        for attr in ("uri", "state", "name"):
            value = getattr(self, attr, None)
            if value is not None:
                d[attr] = value
        d["properties"] = dict(self.properties)
        d["custom_properties"] = dict(self.custom_properties)
        d["created"] = iso(self.created)
        return d

    def summary(self) -> Dict[str, Any]:
        """The short form nested in reports: reference, type, and URI or state."""
        d: Dict[str, Any] = {"ref": self.ref, "type": self.type}
        for attr in ("uri", "state", "name"):
            value = getattr(self, attr, None)
            if value is not None:
                d[attr] = value
        return d


@dataclasses.dataclass(frozen=True, eq=True)
class Artifact(_Node):
    """An artifact as recorded (or, with ``id=None``, about to be recorded).

    ``properties`` are the type's declared properties (fingerprint, ...);
    ``custom_properties`` anything else recorded on it.
    """

    id: Optional[int]
    type: str
    uri: str
    state: str = "LIVE"
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    custom_properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    name: Optional[str] = None
    create_time_ms: int = 0
    update_time_ms: int = 0

    kind = "artifact"

    __hash__ = _Node.__hash__

    @property
    def fingerprint(self) -> Optional[str]:
        return self.properties.get("fingerprint") or self.custom_properties.get("fingerprint")

    @property
    def path(self) -> Path:
        """The local path behind ``uri`` (``file://`` stripped). For an artifact on object
        storage (s3://, gs://): a local copy of exactly the recorded bytes, from the cache or
        downloaded into it on first use and checked against the recorded fingerprint
        (:func:`lineage.objects.materialize`)."""
        cached = self.__dict__.get("_local")
        if cached is not None:
            return cached
        from .objects import is_remote, materialize

        if not is_remote(self.uri):
            return Path(local_path(self.uri))
        what = f"artifact {self.ref} ({self.type})" if self.id is not None else f"{self.type} {self.uri}"
        path = materialize(self.uri, self.fingerprint, what)
        object.__setattr__(self, "_local", path)
        return path


@dataclasses.dataclass(frozen=True, eq=True)
class Execution(_Node):
    """One run of a step. ``params`` are the step's parameters (MLMD custom properties)."""

    id: Optional[int]
    type: str
    state: str = "UNKNOWN"
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    custom_properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    name: Optional[str] = None
    create_time_ms: int = 0
    update_time_ms: int = 0

    kind = "execution"

    __hash__ = _Node.__hash__

    @property
    def params(self) -> Mapping[str, Any]:
        return self.custom_properties

    @property
    def duration_s(self) -> Optional[float]:
        start, end = self.properties.get("started_at"), self.properties.get("ended_at")
        if start and end:
            return end - start
        return None

    @property
    def started(self) -> Optional[_dt.datetime]:
        """When the step started (recorded), else when the execution was created."""
        start = self.properties.get("started_at")
        return utc_from_s(start) if start else self.created

    @property
    def error(self) -> Optional[str]:
        etype = self.properties.get("error_type")
        if not etype:
            return None
        return f"{etype}: {self.properties.get('error_message', '')}"


@dataclasses.dataclass(frozen=True, eq=True)
class Context(_Node):
    """A grouping: a Pipeline, a PipelineRun, an Experiment, a ServingEndpoint, ..."""

    id: Optional[int]
    type: str
    name: str
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    custom_properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    create_time_ms: int = 0
    update_time_ms: int = 0

    kind = "context"

    __hash__ = _Node.__hash__


@dataclasses.dataclass(frozen=True)
class Event:
    """An edge: execution ``execution_id`` read (INPUT) or wrote (OUTPUT) ``artifact_id``."""

    artifact_id: int
    execution_id: int
    type: str  # INPUT, OUTPUT, DECLARED_INPUT, ...
    path: tuple = ()
    time_ms: int = 0

    @property
    def keys(self) -> tuple:
        """Every argument name on the path (an artifact bound to two arguments has two)."""
        return tuple(s for s in self.path if isinstance(s, str))

    @property
    def key(self) -> Optional[str]:
        """The argument name the artifact was bound to (the first string step of the path)."""
        for step in self.path:
            if isinstance(step, str):
                return step
        return None
