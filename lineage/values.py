"""The value rules: what a property or parameter may hold, and how it reads back exactly.

Whatever is accepted reads back equal, in type and value; anything else is refused with an
:class:`InvalidInput` naming it, before anything is written.

========================  ===============================================================
accepted                  how ML Metadata holds it (what ``find`` compares)
========================  ===============================================================
``bool``, ``str``         bool / string column
``int``                   int column (32-bit on MySQL); past that a double (exact to 2**53)
                          or JSON text
``float``                 double column (capped at +-1e65); NaN has none
``None``                  nothing in a column
``list``, ``dict`` (str   canonical JSON text in the string column
keys), ``tuple``, sets,
``bytes``, paths
========================  ===============================================================

ML Metadata 1.16 writes doubles into its SQL with 6 decimals and SQLite reads them back with 15
significant digits (:func:`stored_double`): ``1e-7`` comes back as ``0.0``. Whenever a column
cannot hold a value exactly, the exact value is also kept in the node's custom property
``lineage:exact`` (a JSON tree, see :func:`to_tree`), and reading a record puts it back. Columns
keep what they can, so ``find`` narrows with them and then compares exact values.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from .errors import InvalidInput

__all__ = ["EXACT_KEY", "to_tree", "from_tree", "stored_double", "column_value", "to_json", "cache_form",
           "FLOAT_MAX"]

#: The custom property that keeps exact values the columns cannot hold.
EXACT_KEY = "lineage:exact"
#: The largest magnitude a double column holds on every backend: MariaDB caps the decimal text
#: ML Metadata writes at 1e65 (SQLite reads the largest double back as inf).
FLOAT_MAX = 1e65
_TAG = "\x00"  # tagged objects in a tree: {"\x00t": [...]} is a tuple, "\x00b" bytes, "\x00p" a path,
#                "\x00f" a non-finite float, "\x00s" a set, "\x00z" a frozenset


def stored_double(value: float) -> float:
    """What ML Metadata 1.16 gives back for a double it stored: capped at +-1e65 (MariaDB), 6
    decimals on the way in, 15 significant digits on the way out of SQLite. Monotonic, so
    ranges over it still narrow."""
    capped = max(-FLOAT_MAX, min(FLOAT_MAX, value))
    return float(format(float(f"{capped:.6f}"), ".15g"))


def _fits(value: float) -> bool:
    if value == 0.0 and math.copysign(1.0, value) < 0:
        return False   # -0.0: the column would read back 0.0 (and equal it), so it is kept exactly too
    return abs(value) <= FLOAT_MAX and stored_double(value) == value and float(f"{value:.6f}") == value


def to_tree(value: Any, what: str, _seen: Optional[set] = None) -> Any:
    """``value`` as a JSON tree that reads back equal (:func:`from_tree`), or InvalidInput."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {_TAG + "f": repr(value)}
    if isinstance(value, bytes):
        return {_TAG + "b": base64.b64encode(value).decode()}
    if isinstance(value, os.PathLike):
        return {_TAG + "p": os.fspath(value)}
    if isinstance(value, (set, frozenset)):
        items = sorted((to_tree(v, f"{what} item", _seen) for v in value), key=lambda t: json.dumps(t, sort_keys=True))
        return {_TAG + ("s" if isinstance(value, set) else "z"): items}
    if isinstance(value, (list, tuple, dict)):
        seen = set() if _seen is None else _seen
        if id(value) in seen:
            raise InvalidInput(f"{what} refers to itself (a cyclic value cannot be recorded)")
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                for k in value:
                    if not isinstance(k, str) or k.startswith(_TAG):
                        raise InvalidInput(f"{what} has the key {k!r}: dictionary keys must be strings "
                                           f"(not starting with a NUL character)")
                return {k: to_tree(v, f"{what}[{k!r}]", seen) for k, v in value.items()}
            items = [to_tree(v, f"{what}[{i}]", seen) for i, v in enumerate(value)]
            return items if isinstance(value, list) else {_TAG + "t": items}
        finally:
            seen.discard(id(value))
    raise InvalidInput(
        f"{what} is a {type(value).__name__}, which lineage cannot record so that it reads back "
        f"equal; pass a number, string, bool, None, bytes, a path, or a list/tuple/set/dict of those"
    )


def from_tree(tree: Any) -> Any:
    """The value a tree from :func:`to_tree` stands for."""
    if isinstance(tree, list):
        return [from_tree(v) for v in tree]
    if isinstance(tree, dict):
        if len(tree) == 1:
            (key, payload), = tree.items()
            if key == _TAG + "t":
                return tuple(from_tree(v) for v in payload)
            if key == _TAG + "b":
                return base64.b64decode(payload)
            if key == _TAG + "p":
                return Path(payload)
            if key == _TAG + "f":
                return float(payload)
            if key == _TAG + "s":
                return {_hashable(from_tree(v)) for v in payload}
            if key == _TAG + "z":
                return frozenset(_hashable(from_tree(v)) for v in payload)
        return {k: from_tree(v) for k, v in tree.items()}
    return tree


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def column_value(value: Any, what: str) -> Tuple[Any, Any, bool]:
    """``(column, tree, exact)`` for an undeclared property: the scalar to write in an MLMD column
    (None: no column), the value's tree, and whether the column alone reads back equal."""
    tree = to_tree(value, what)
    if value is None:
        return None, tree, False
    if isinstance(value, bool):
        return value, tree, True
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return value, tree, True
        if abs(value) <= 2**53:
            return float(value), tree, False  # exact in the double column; the tree says "int"
        return to_json(value), tree, False
    if isinstance(value, float):
        if math.isnan(value):
            return None, tree, False
        if math.isinf(value):
            return math.copysign(FLOAT_MAX, value), tree, False
        return max(-FLOAT_MAX, min(FLOAT_MAX, value)), tree, _fits(value)
    if isinstance(value, str):
        return value.replace("\x00", ""), tree, "\x00" not in value
    return json.dumps(tree, sort_keys=True, ensure_ascii=False), tree, False


def double_is_exact(value: float) -> bool:
    """Whether a double column holds ``value`` exactly (see :func:`stored_double`)."""
    return math.isfinite(value) and _fits(value)


def to_json(value: Any) -> str:
    """Canonical JSON text of a value (sorted keys; tuples, bytes and paths tagged)."""
    return json.dumps(to_tree(value, "value"), sort_keys=True, ensure_ascii=False)


def describe(value: Any) -> str:
    """JSON text of anything a step returned (what cannot be recorded exactly is shown by its
    repr): a description, never read back as a value."""
    def default(obj: Any) -> Any:
        if isinstance(obj, (set, frozenset)):
            return sorted(obj, key=repr)
        if isinstance(obj, os.PathLike):
            return os.fspath(obj)
        return repr(obj)

    return json.dumps(value, default=default, sort_keys=True)


def cache_form(value: Any, what: str) -> Any:
    """A value's tree as the cache key sees it: numbers equal in Python are equal here
    (``5 == 5.0``). InvalidInput for what cannot be recorded."""
    def norm(tree: Any) -> Any:
        if isinstance(tree, float) and tree.is_integer():
            return int(tree)
        if isinstance(tree, dict):
            return {k: norm(v) for k, v in tree.items()}
        if isinstance(tree, list):
            return [norm(v) for v in tree]
        return tree

    return norm(to_tree(value, what))


def exact_entries(raw: Optional[str]) -> Dict[str, Dict[str, Any]]:
    """The ``lineage:exact`` property's content: ``{"p": {name: tree}, "c": {name: tree}}``."""
    if not raw:
        return {"p": {}, "c": {}}
    if raw.startswith("b64:"):   # written so on PostgreSQL (see lineage.store.backends.PostgreSQLText)
        raw = base64.b64decode(raw[4:]).decode("utf-8")
    doc = json.loads(raw)
    return {"p": dict(doc.get("p", {})), "c": dict(doc.get("c", {}))}


__all__ += ["double_is_exact", "exact_entries", "describe", "plain"]


def plain(value: Any) -> Any:
    """A value in standard JSON: NaN and infinities as the strings "NaN", "Infinity" and
    "-Infinity", bytes as {"b64": ...}, sets as sorted lists, tuples as lists, times in ISO 8601,
    paths and anything else as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (str, int, float)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return plain(value.to_dict())
    return str(value)
