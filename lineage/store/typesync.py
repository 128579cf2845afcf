"""Type sync: the built-in types of ``schemas/`` and user declarations registered in a store
(idempotent, additive; a changed property type is a :class:`SchemaConflict`), and typed property
maps filled from Python values."""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, List, Mapping

from ..errors import AlreadyExists, InvalidInput, ReadOnlyStore, SchemaConflict
from ..records import Artifact
from ..schema import TypeSpec
from ..values import EXACT_KEY, exact_entries
from .reads import Reads
from .convert import ART_STATE, PTYPE, PTYPE_NAME, encode, pb
from .errors import translated

__all__ = ["TypeSync"]

_ENCODED: Dict[Any, Any] = {}  # (class, value, declared type) -> what encode() made of it


def _encode(value: Any, ptype: Any, what: str) -> Any:
    """:func:`encode`, remembered for scalar values (the same code version, user and host are on
    every step): the MLMD value it returns is only ever copied from, never changed."""
    cls = value.__class__
    if cls not in (str, int, float, bool) or (cls is str and len(value) > 4096):
        return encode(value, ptype, what)
    key = (cls, value.hex() if cls is float else value, ptype)  # hex: -0.0 is not 0.0
    hit = _ENCODED.get(key)
    if hit is None:
        hit = encode(value, ptype, what)
        if len(_ENCODED) >= 4096:
            _ENCODED.clear()
        _ENCODED[key] = hit
    return hit


class TypeSync(Reads):
    """Registering and reading types; building protos of new nodes."""

    def _load_types(self) -> None:
        with self._lock, translated("reading types", self.config.redacted()):
            for kind, getter in (("artifact", self.mlmd.get_artifact_types),
                                 ("execution", self.mlmd.get_execution_types),
                                 ("context", self.mlmd.get_context_types)):
                for t in getter():
                    self._types[(kind, t.name)] = t
            self._declared_memo.clear()

    def has_type(self, kind: str, name: str) -> bool:
        """Whether the store holds a ``kind`` type called ``name`` (re-reads types once, unless
        the store can tell at once that it has no such type)."""
        if (kind, name) not in self._types:
            if self._type_absent(kind, name):
                return False
            self._load_types()
        return (kind, name) in self._types

    def _type_absent(self, kind: str, name: str) -> bool:
        """True when the store is known to hold no such type without reading every type (SQL
        stores answer from their Type table); False when unknown."""
        return False

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
        return {k: PTYPE_NAME.get(v, "UNKNOWN") for k, v in t.properties.items()}

    def ensure_type(self, spec: TypeSpec) -> int:
        """The type id of ``spec``, registering the type or its new properties if needed.

        A property whose stored type differs from the declared one is a
        :class:`SchemaConflict` that names both; nothing is changed then.
        """
        key = (spec.kind, spec.name)
        stored = self._covering(spec)
        if stored is not None:
            return stored.id
        stored = self._types.get(key)
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
            proto.properties[prop] = PTYPE[ptype]
        for attempt in range(3):
            try:
                with self.type_lock():
                    covering = self._covering(spec)  # registered while this process waited
                    if covering is not None:
                        return covering.id
                    type_id = self._write(
                        f"registering {spec.kind} type {spec.name}", put, proto,
                        can_add_fields=True, can_omit_fields=True,
                    )
                break
            except AlreadyExists:
                # A concurrent registration won the race: use it if it covers the spec.
                self._load_types()
                covering = self._covering(spec, reload=False)
                if covering is not None:
                    return covering.id
                if attempt == 2:
                    raise
        proto.id = type_id
        if stored is not None:
            for prop, ptype in stored.properties.items():
                proto.properties[prop] = ptype
        self._types[key] = proto
        return type_id

    def _covering(self, spec: TypeSpec, reload: bool = True) -> Any:
        """The stored type if it already has every property of ``spec`` (types re-read once when
        it is unknown: another process may have registered it), else None. A property stored with
        another type is a :class:`SchemaConflict`."""
        stored = self._types.get((spec.kind, spec.name))
        if stored is None and reload:
            self._load_types()
            stored = self._types.get((spec.kind, spec.name))
        if stored is None:
            return None
        self._check_conflict(spec, stored)
        return stored if all(p in stored.properties for p in spec.properties) else None

    def _check_conflict(self, spec: TypeSpec, stored: Any) -> None:
        for prop, ptype in spec.properties.items():
            have = stored.properties.get(prop)
            if have is not None and have != PTYPE[ptype]:
                raise SchemaConflict(
                    f"{spec.kind} type {spec.name!r} in {self.config.redacted()} stores property "
                    f"{prop!r} as {PTYPE_NAME.get(have, have)}, but it is declared as {ptype}. "
                    f"MLMD cannot change a property's type: declare a new property name "
                    f"(or a new type name) instead."
                )

    def _type_id(self, kind: str, name: str) -> int:
        spec = self.registry.get(kind, name)
        if spec is not None:
            hit = self._ensured.get((kind, name))
            if hit is not None and hit[0] is spec:  # this declaration is registered already
                return hit[1]
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
        type_id = self.ensure_type(spec)
        self._ensured[(kind, name)] = (spec, type_id)
        return type_id

    def _declared(self, kind: str, name: str) -> Dict[str, str]:
        spec = self.registry.get(kind, name)
        t = self._types.get((kind, name))
        memo = (spec, id(t), len(t.properties) if t is not None else -1)
        hit = self._declared_memo.get((kind, name))
        if hit is not None and hit[0] == memo:
            return hit[1]
        declared = dict(spec.properties) if spec else {}
        if t is not None:
            for k, v in t.properties.items():
                declared.setdefault(k, PTYPE_NAME.get(v, "STRING"))
        self._declared_memo[(kind, name)] = (memo, declared)
        return declared

    def _fill(self, proto: Any, kind: str, type_name: str, properties: Mapping[str, Any],
              custom: Mapping[str, Any]) -> None:
        """Set properties (declared ones typed as declared) and custom ones (parameters) on
        ``proto``. Every value is checked first, so a refused one changes nothing; what no column
        holds exactly is kept in ``lineage:exact`` (see :mod:`lineage.values`). A None property
        is left unset; a None parameter is recorded as None."""
        declared = self._declared(kind, type_name)
        planned = []
        for k, v in properties.items():
            if v is not None:
                side = "p" if k in declared else "c"
                planned.append((side, k, _encode(v, declared.get(k), f"{kind} {type_name}: property {k!r}")))
        for k, v in custom.items():
            planned.append(("c", k, _encode(v, None, f"{kind} {type_name}: parameter {k!r}")))
        if any(k == EXACT_KEY for _, k, _ in planned):
            raise InvalidInput(f"{kind} {type_name}: {EXACT_KEY!r} is lineage's own property name")
        if not planned:
            return
        exact = exact_entries(proto.custom_properties[EXACT_KEY].string_value
                              if EXACT_KEY in proto.custom_properties else None)
        for side, k, (value, keep, tree) in planned:
            if value is not None and value.WhichOneof("value") == "string_value" \
                    and not self.column_text_ok(value.string_value):
                value = pb.Value(string_value=self.column_text(value.string_value))
                keep = True
            target = proto.properties if side == "p" else proto.custom_properties
            if value is None:
                if k in target:
                    del target[k]
            else:
                target[k].CopyFrom(value)
            if keep:
                exact[side][k] = tree
            else:
                exact[side].pop(k, None)
        if exact["p"] or exact["c"]:
            text = json.dumps(exact, sort_keys=True, ensure_ascii=False)
            if not self.column_text_ok(text):
                text = "b64:" + base64.b64encode(text.encode("utf-8")).decode("ascii")
            proto.custom_properties[EXACT_KEY].string_value = text
        elif EXACT_KEY in proto.custom_properties:
            del proto.custom_properties[EXACT_KEY]

    def new_artifact_proto(self, a: Artifact) -> pb.Artifact:
        proto = pb.Artifact(type_id=self._type_id("artifact", a.type), uri=a.uri)
        if a.name:
            proto.name = a.name
        proto.state = ART_STATE.Value(a.state or "LIVE")
        self._fill(proto, "artifact", a.type, a.properties, a.custom_properties)
        return proto
