"""How Python values become recordable ones: what is not a plain JSON value is written as JSON
text with :func:`json_default`. (ML Metadata's own value protos are built in
:mod:`lineage.store.convert`.)"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["json_default", "jsonable", "to_json"]


def jsonable(value: Any) -> bool:
    """Whether ``json.dumps`` takes ``value`` as it is."""
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def json_default(obj: Any) -> Any:
    """``json.dumps``'s fallback: sets sorted, paths as text, anything else by its repr."""
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


def to_json(value: Any) -> str:
    """Canonical JSON text of a value (sorted keys, :func:`json_default` for the rest)."""
    return json.dumps(value, default=json_default, sort_keys=True)
