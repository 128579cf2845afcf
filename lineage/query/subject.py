"""What a query is about, in the reference grammar of :mod:`lineage.refs`: a node reference,
``MODEL:VERSION`` (a served version's PushedModel), or a bare model name (the version serving
now, from the serving history)."""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Optional, Union

from ..errors import InvalidInput, NotFound
from ..records import Artifact, Context, Execution
from ..refs import is_served_spec, parse_ref
from ..store import Store
from ..vocab import quote
from .resolve import lookup, pushed_of, pushed_version
from .serving import served_at

__all__ = ["as_artifact", "resolve_served", "resolve_node", "near", "check_type", "check_context"]


def resolve_node(store: Store, ref: Any) -> Union[Artifact, Execution, Context]:
    """Any reference of the grammar in :mod:`lineage.refs` as its record: a record, ``12`` /
    ``a12`` / ``e7`` / ``c3``, ``MODEL:VERSION``, a run name, a bare model name (the version
    serving now), or a module handle ``publisher/name/version`` (the HubModule recorded under it). An unknown name is a NotFound naming the near matches."""
    if isinstance(ref, Artifact) and ref.id is None:
        return lookup(store, ref)
    if isinstance(ref, (Artifact, Execution, Context)):
        return ref
    try:
        kind, node_id = parse_ref(ref)
    except InvalidInput:
        text = str(ref).strip() if isinstance(ref, str) else ""
        if not text:
            raise
        if is_served_spec(text):
            return resolve_served(store, text)
        return _named(store, text)
    if kind == "artifact":
        return store.get_artifact(node_id)
    return store.get_execution(node_id) if kind == "execution" else store.get_context(node_id)


def module_by_handle(store: Store, handle: str) -> Optional[Artifact]:
    """The newest HubModule recorded under ``handle`` (publisher/name/version), or None."""
    if "/" not in handle or not store.has_type("artifact", "HubModule"):
        return None
    found = store.list_artifacts(filter_query=f"type = 'HubModule' AND properties.handle.string_value = "
                                              f"{quote(handle)}", limit=1, order_by="id", ascending=False)
    return found[0] if found else None


def _named(store: Store, name: str) -> Union[Artifact, Context]:
    module = module_by_handle(store, name)   # a module handle: publisher/name/version
    if module is not None:
        return module
    run = store.get_context_by_name("PipelineRun", name) if store.has_type("context", "PipelineRun") else None
    model = store.get_context_by_name("ServingEndpoint", name) \
        if store.has_type("context", "ServingEndpoint") else None
    if run is not None and model is not None:
        raise InvalidInput(f"{name!r} is both a run (c{run.id}) and a served model: write c{run.id} for "
                           f"the run, or {name}:VERSION for a version of the model")
    if run is not None:
        return run
    if model is not None or (run is None and pushed_of(store, name)):   # ours, or TFX's Pusher destination
        return resolve_served(store, name)
    names = [c.name for t in ("PipelineRun", "ServingEndpoint") if store.has_type("context", t)
             for c in store.list_contexts(filter_query=f"type = '{t}'", limit=2000)]
    raise NotFound(f"{name!r} is not a node reference (a12, e7, c3), a run, a served model or a module handle in "
                   f"{store.config.redacted()}" + near(name, names))


def near(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x' or 'y'?"`` for the closest candidates, or ``""``."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""


def check_type(store: Store, kind: str, name: Optional[str]) -> None:
    """An InvalidInput naming the near matches when no ``kind`` type ``name`` is in the store or
    declared (a declared type nothing has used yet is fine: it simply has no nodes)."""
    if not name or store.has_type(kind, name) or store.registry.get(kind, name) is not None:
        return
    known = store.type_names(kind) + [s.name for s in store.registry.builtin() if s.kind == kind]
    raise InvalidInput(f"unknown {kind} type {name!r} in {store.config.redacted()}" + near(name, known))


def check_context(store: Store, context: str) -> None:
    """NotFound naming the near matches when no context is called ``context`` (``NAME`` or
    ``TYPE:NAME``)."""
    ctype, _, cname = str(context).rpartition(":")
    if ctype:
        if store.has_type("context", ctype) and store.get_context_by_name(ctype, cname) is not None:
            return
    elif store.list_contexts(filter_query=f"name = {quote(cname)}", limit=1):
        return
    names = [c.name for c in store.list_contexts(limit=5000)]
    raise NotFound(f"no context named {context!r} in {store.config.redacted()}" + near(cname, names))


def as_artifact(store: Store, node: Any) -> Artifact:
    """The artifact a reference names (a node reference, ``MODEL:VERSION``, a model name)."""
    found = resolve_node(store, node)
    if not isinstance(found, Artifact):
        raise InvalidInput(f"{node!r} is {'a run' if isinstance(found, Context) else 'an execution'} "
                           f"({found.ref}), not an artifact: name a model, a served version "
                           f"(MODEL:VERSION) or an artifact (a12)")
    return found


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
    one = pushed_of(store, name, wanted)
    if one:
        return one[0]
    pushed = pushed_of(store, name)
    if not pushed:
        models = [c.name for c in store.list_contexts(filter_query="type = 'ServingEndpoint'", limit=2000)] \
            if store.has_type("context", "ServingEndpoint") else []
        raise NotFound(f"no model named {name!r} was pushed to {store.config.redacted()}" + near(name, models))
    versions = sorted(v for v in (pushed_version(a) for a in pushed) if v is not None)
    raise NotFound(f"model {name!r} has no pushed version {wanted} in {store.config.redacted()} "
                   f"(pushed: {', '.join(map(str, versions))})")
