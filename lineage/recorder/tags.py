"""Tags and notes after the fact: on a run, an artifact or an execution.

Every change is a ``Tag`` (or ``Note``) execution holding who, when, the key, the old and the new
value: nothing is overwritten in a way that loses history. The current value of a tag is also
the target's custom property ``tags.<key>``, so ``find`` filters on it
(``lineage find Model --where "tags.stage = prod"``) and the runs table shows it.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional, Tuple

from ..codeversion import code_version
from ..errors import InvalidInput
from ..records import Artifact, Context, Execution
from ..store import Store
from ..query.experiments import node_label, run_or_node
from .recording import now

__all__ = ["tag", "note", "TAG_PREFIX"]

TAG_PREFIX = "tags."
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,99}")


def _target(store: Store, target: Any) -> Tuple[Any, str]:
    """The node a tag or note is about, and its kind for the store (artifact, execution, context)."""
    node = run_or_node(store, target)
    if not isinstance(node, (Artifact, Execution, Context)):
        raise InvalidInput(f"{target!r} names no run, artifact or execution")
    return node, node.kind


def _who() -> Dict[str, Any]:
    code = code_version()
    stamp = now()
    return {"user": code.get("user"), "host": code.get("host"), "started_at": stamp, "ended_at": stamp,
            "step": "lineage.tag"}


def tag(store: Store, target: Any, values: Mapping[str, Optional[Any]]) -> Dict[str, Execution]:
    """Set tags on ``target`` (a run name, ``a12``, ``e7``, ``c3``, a record); a value of None
    removes the tag. One ``Tag`` execution per key that changes (a value set again unchanged
    records nothing). Returns them by key."""
    if not values:
        raise InvalidInput("tag what? give key=value pairs (key=  with no value removes a tag)")
    for key in values:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise InvalidInput(f"tag key {key!r}: use letters, digits, _ . - (starting with a letter or _), "
                               f"at most 100 characters")
    node, kind = _target(store, target)
    label = node_label(node)
    out: Dict[str, Execution] = {}
    for key, value in values.items():
        new = None if value is None else str(value)
        old = node.custom_properties.get(TAG_PREFIX + key)
        old = None if old is None else str(old)
        if new == old:
            continue
        props: Dict[str, Any] = {**_who(), "target": label, "key": key, "value": new or "",
                                 "removed": new is None}
        if old is not None:
            props["old_value"] = old
        out[key] = store.write_annotation(type="Tag", properties=props, target_kind=kind, target_id=node.id,
                                          target_custom={TAG_PREFIX + key: new})
    return out


def note(store: Store, target: Any, text: str) -> Execution:
    """Add a note to a run (or any node): a ``Note`` execution; notes are never edited."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("a note needs some text")
    node, kind = _target(store, target)
    props = {**_who(), "step": "lineage.note", "target": node_label(node), "text": text[:20_000]}
    return store.write_annotation(type="Note", properties=props, target_kind=kind, target_id=node.id)
