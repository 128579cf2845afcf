"""What a query is about, in the reference grammar of :mod:`lineage.refs`: a node reference,
``MODEL:VERSION`` (a served version's PushedModel), or a bare model name (the version serving
now, from the serving history)."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput, NotFound
from ..records import Artifact
from ..refs import is_served_spec, parse_ref
from ..store import Store
from .resolve import lookup, pushed_of, pushed_version
from .serving import served_at

__all__ = ["as_artifact", "resolve_served"]


def as_artifact(store: Store, node: Any) -> Artifact:
    if is_served_spec(node):
        return resolve_served(store, node)
    if isinstance(node, Artifact) and node.id is None:
        return lookup(store, node)
    try:
        kind, node_id = parse_ref(node)
    except InvalidInput:
        if isinstance(node, str) and node.strip() and not node.strip()[0].isdigit():
            return resolve_served(store, node.strip())  # a model name: the version serving now
        raise
    if kind != "artifact":
        raise InvalidInput(f"{node!r} is not an artifact")
    return store.get_artifact(node_id)


def resolve_served(store: Store, spec: str) -> Artifact:
    """The PushedModel for ``"model:version"`` (``"model"`` alone: the one serving now)."""
    name, _, version = str(spec).partition(":")
    if not name:
        raise InvalidInput(f"{spec!r}: write MODEL:VERSION, e.g. reviews:2")
    if version:
        if not version.isdigit():
            raise InvalidInput(f"{spec!r}: the version must be a number, e.g. {name}:2")
        wanted = int(version)
    else:
        state = served_at(store, name, "now")
        if state.version is None:
            raise NotFound(f"model {name!r} has no version serving")
        wanted = state.version
    for a in pushed_of(store, name):
        if pushed_version(a) == wanted:
            return a
    raise NotFound(f"model {name!r} has no pushed version {wanted} in {store.config.redacted()}")
