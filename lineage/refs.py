"""References to recorded nodes, one grammar for every command and API.

=====================  =============================================================
``12``, ``a12``        artifact 12 (also ``artifact:12``, ``artifact/12``)
``e7``                 execution 7 (also ``execution:7``)
``c3``                 context 3 (also ``context:3``)
``reviews:2``          version 2 of the served model ``reviews`` (its PushedModel)
``reviews``            the version of ``reviews`` serving now
``pub/text/1``         the TF-Hub module recorded under that handle (its HubModule)
=====================  =============================================================

:func:`parse_ref` handles the node forms; :func:`is_served_spec` tells a served-model form
apart. Resolving a model name needs the store and lives in :mod:`lineage.query.resolve`.
"""

from __future__ import annotations

from typing import Any, Tuple, Union

from .errors import InvalidInput
from .records import Artifact, Context, Execution

__all__ = ["NodeRef", "parse_ref", "is_served_spec", "KINDS"]

NodeRef = Union[int, str, Artifact, Execution, Context]

#: Prefixes of node references and the kind each names.
KINDS = {"": "artifact", "a": "artifact", "artifact": "artifact", "e": "execution",
         "execution": "execution", "c": "context", "context": "context"}


def parse_ref(ref: Any) -> Tuple[str, int]:
    """``("artifact"|"execution"|"context", id)`` from a record, an int (artifact) or a string
    such as ``a12``, ``e7``, ``c3``, ``artifact:12``, ``execution/7`` or ``12``."""
    if isinstance(ref, (Artifact, Execution, Context)):
        if ref.id is None:
            raise InvalidInput(f"{ref.kind} {ref!r} is not recorded yet (it has no id)")
        return ref.kind, ref.id
    if isinstance(ref, bool):
        raise InvalidInput(f"not a node reference: {ref!r}")
    if isinstance(ref, int):
        if not 0 <= ref < 2**63:
            raise InvalidInput(f"{ref!r}: no artifact can have that id (ids are 0 to 2**63 - 1)")
        return "artifact", ref
    text = str(ref).strip().lower()
    for sep in (":", "/"):
        if sep in text:
            kind, _, num = text.partition(sep)
            break
    else:
        kind = text.rstrip("0123456789")
        num = text[len(kind):]
    if kind not in KINDS or not num.isdigit():
        raise InvalidInput(
            f"not a node reference: {ref!r}; use an artifact id (12 or a12), an execution "
            f"(e7 or execution:7) or a context (c3)"
        )
    if int(num) >= 2**63:   # ML Metadata's ids are 64-bit
        raise InvalidInput(f"{ref!r}: no {KINDS[kind]} can have id {num} (ids are below 2**63)")
    return KINDS[kind], int(num)


def is_served_spec(node: Any) -> bool:
    """``"reviews:2"`` names a served version; ``"artifact:12"`` / ``"e:7"`` are node refs."""
    return isinstance(node, str) and ":" in node and node.split(":", 1)[0].lower() not in KINDS
