"""The MLMD types lineage declares, loaded from ``schemas/*.yaml``, plus the user's own.

A :class:`TypeSpec` is a type as data: kind (artifact / execution / context), name, and
property types. :data:`REGISTRY` holds every type this process knows; the store registers
them (idempotently, additively) and refuses a conflicting change with a clear error.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional

from .errors import InvalidInput

__all__ = ["TypeSpec", "Registry", "REGISTRY", "PROPERTY_TYPES", "schema_dir", "load_schema"]

#: MLMD property types lineage uses, by the names the YAML files use.
PROPERTY_TYPES = ("INT", "DOUBLE", "STRING", "BOOLEAN", "STRUCT")
_PY_TO_PROPERTY = {int: "INT", float: "DOUBLE", str: "STRING", bool: "BOOLEAN", dict: "STRUCT"}

KINDS = ("artifact", "execution", "context")


@dataclasses.dataclass(frozen=True)
class TypeSpec:
    kind: str  # artifact | execution | context
    name: str
    properties: Mapping[str, str]
    description: str = ""


def _normalise_properties(name: str, props: Optional[Mapping]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for key, ptype in (props or {}).items():
        if isinstance(ptype, type):
            if ptype not in _PY_TO_PROPERTY:
                raise InvalidInput(
                    f"type {name!r}: property {key!r} has Python type {ptype.__name__}; "
                    f"use one of int, float, str, bool, dict"
                )
            ptype = _PY_TO_PROPERTY[ptype]
        ptype = str(ptype).upper()
        if ptype not in PROPERTY_TYPES:
            raise InvalidInput(
                f"type {name!r}: property {key!r} has type {ptype!r}; "
                f"use one of {', '.join(PROPERTY_TYPES)}"
            )
        out[str(key)] = ptype
    return out


def schema_dir() -> Path:
    """Where the bundled YAML schemas live (the repository's ``schemas/``)."""
    here = Path(__file__).resolve().parent.parent / "schemas"
    if here.is_dir():
        return here
    from importlib import resources  # installed as a wheel: schemas/ is package data

    return Path(str(resources.files("lineage.schemas")))


@functools.lru_cache(maxsize=None)
def load_schema(path: Optional[str] = None) -> "tuple[int, tuple[TypeSpec, ...]]":
    """Read one schema file: its version and its types (base properties folded in)."""
    import yaml

    file = Path(path) if path else schema_dir() / "lineage.yaml"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, several times faster at every start
    doc = yaml.load(file.read_text(), Loader=loader)
    version = int(doc.get("version", 0))
    specs = []
    for kind in KINDS:
        base = _normalise_properties(f"{kind}_base", doc.get(f"{kind}_base"))
        for name, body in (doc.get(f"{kind}_types") or {}).items():
            body = body or {}
            props = dict(base)
            props.update(_normalise_properties(name, body.get("properties")))
            specs.append(TypeSpec(kind, name, props, body.get("description", "")))
    return version, tuple(specs)


class Registry:
    """Every type known to this process: the bundled schema plus user declarations."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loaded = False

    def _load(self) -> None:
        """Read the bundled schema on first use: a command that only reads never parses YAML."""
        with self._lock:
            if self._loaded:
                return
            self._version, builtin = load_schema()
            self._specs: Dict[tuple, TypeSpec] = {(s.kind, s.name): s for s in builtin}
            self._base = {
                kind: dict(self._specs[(kind, first)].properties)
                for kind, first in (("artifact", "Dataset"), ("execution", "Ingest"))
            }
            self._builtin = frozenset(self._specs)
            self._loaded = True

    @property
    def version(self) -> int:
        """The bundled schema's version."""
        if not self._loaded:
            self._load()
        return self._version

    def base_properties(self, kind: str) -> Dict[str, str]:
        if not self._loaded:
            self._load()
        return dict(self._base.get(kind, {}))

    def get(self, kind: str, name: str) -> Optional[TypeSpec]:
        if not self._loaded:
            self._load()
        return self._specs.get((kind, name))

    def builtin(self) -> Iterable[TypeSpec]:
        if not self._loaded:
            self._load()
        return [self._specs[k] for k in sorted(self._builtin)]

    def declare(
        self, kind: str, name: str, properties: Optional[Mapping] = None, description: str = ""
    ) -> TypeSpec:
        """Declare (or extend) a type. Artifact and execution types get the base properties.

        Re-declaring with the same property types is a no-op; changing a property's type is
        an :class:`InvalidInput` here, and a :class:`SchemaConflict` against a store.
        """
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {KINDS}, not {kind!r}")
        if not name or not isinstance(name, str):
            raise InvalidInput("a type needs a non-empty string name")
        props = self.base_properties(kind)
        props.update(_normalise_properties(name, properties))
        with self._lock:
            old = self._specs.get((kind, name))
            if old is not None:
                for key, ptype in props.items():
                    if key in old.properties and old.properties[key] != ptype:
                        raise InvalidInput(
                            f"{kind} type {name!r} already declares property {key!r} as "
                            f"{old.properties[key]}, not {ptype}; use a new property name"
                        )
                merged = dict(old.properties)
                merged.update(props)
                props = merged
                description = description or old.description
            spec = TypeSpec(kind, name, props, description)
            self._specs[(kind, name)] = spec
        return spec

    def execution_type(self, name: str) -> TypeSpec:
        """The spec for an execution type, declaring it (base properties only) if new."""
        return self.get("execution", name) or self.declare("execution", name)


REGISTRY = Registry()
