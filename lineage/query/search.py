"""Search: find a thing by (part of) its name, the way people remember it.

One box, answered from the store: a reference typed whole (``a12``, ``e7``, ``reviews:2``) first,
then served model names, run names, experiments, artifact types, tags (key or value) and artifact
URIs containing the text. Each hit names where to look at it (an explorer page and its URL
parameters). Every source is one indexed or bounded query (``LIKE`` on a name or URI, types and
endpoints from memory), so it stays fast on large stores (bench/bench_search.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Tuple

from ..errors import InvalidInput, LineageError
from ..records import Artifact, Context, Execution
from ..refs import is_served_spec, parse_ref
from ..store import Store
from ..vocab import quote
from .serving import endpoint_names
from .subject import module_by_handle, resolve_node

__all__ = ["Hit", "search", "KINDS"]

#: the kinds of hits, in the order they are listed
KINDS = ("node", "model", "run", "experiment", "type", "tag", "artifact")


@dataclasses.dataclass(frozen=True)
class Hit:
    """One thing found: its kind, what to show, its reference, and where to open it."""

    kind: str
    label: str
    ref: str
    page: str
    params: Tuple[Tuple[str, str], ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "ref": self.ref, "page": self.page,
                "params": dict(self.params)}


def _node_hit(node: Any) -> Hit:
    if isinstance(node, Artifact):
        label = f"{node.ref} {node.type} {node.uri}"
        if node.get("model_name") and node.get("pushed_version") is not None:
            label = f"{node.get('model_name')}:{node.get('pushed_version')} ({node.ref} {node.type})"
        return Hit("node", label, node.ref, "artifacts", (("artifact", str(node.id)),))
    if isinstance(node, Execution):
        return Hit("node", f"{node.ref} {node.type} {node.state}", node.ref, "graph", (("node", node.ref),))
    assert isinstance(node, Context)
    if node.type == "PipelineRun":
        return Hit("node", f"run {node.name}", node.ref, "runs", (("run", node.name),))
    return Hit("node", f"{node.ref} {node.type} {node.name}", node.ref, "artifacts", ())


def _exact(store: Store, text: str) -> Any:
    """What ``text`` names when typed whole (a12, e7, c3, MODEL:VERSION, a run, a served model, a
    module handle), else None; only exact look-ups (no near-match suggestions)."""
    try:
        parse_ref(text)
    except InvalidInput:
        if is_served_spec(text):
            pass
        elif "/" in text:
            return module_by_handle(store, text)
        else:   # a run's name (a served model's name is the "model" hit: its Serving page)
            return store.get_context_by_name("PipelineRun", text) if store.has_type("context", "PipelineRun") else None
    try:
        return resolve_node(store, text)
    except (LineageError, ValueError):
        return None


def search(store: Store, text: str, *, limit: int = 10) -> List[Hit]:
    """What ``text`` names or is part of: at most ``limit`` hits of each kind, kinds in
    :data:`KINDS` order. Empty text finds nothing."""
    text = (text or "").strip()
    if not text:
        return []
    hits: List[Hit] = []
    node = _exact(store, text)    # a reference typed whole: what it names comes first
    if node is not None:
        hits.append(_node_hit(node))
    low = text.lower()
    def first_exact(names: List[str]) -> List[str]:   # the name typed whole first, then shorter ones
        return sorted(names, key=lambda n: (n.lower() != low, len(n)))

    if store.has_type("context", "ServingEndpoint"):   # ours: one indexed scan of their names
        named = [c.name for c in store.contexts_named_like("ServingEndpoint", text, 200)]
    else:                                               # a store TFX wrote: its Pusher destinations
        named = [m for m in endpoint_names(store, 2000) if low in m.lower()]
    models = first_exact(named)[:limit]
    hits += [Hit("model", f"model {m}", m, "serving", (("model", m),)) for m in models]
    for ctype, kind, page, param in (("PipelineRun", "run", "runs", "run"),
                                     ("Experiment", "experiment", "experiments", "experiment")):
        found = store.contexts_named_like(ctype, text, limit)
        hits += [Hit(kind, f"{kind} {c.name}", c.name, page, ((param, c.name),)) for c in found]
    types = first_exact([t for t in store.type_names("artifact") if low in t.lower()])[:limit]
    hits += [Hit("type", f"artifact type {t}", t, "artifacts", (("type", t),)) for t in types]
    hits += _tags(store, text, limit)
    if store.type_names("artifact"):
        hits += [Hit("artifact", f"{a.ref} {a.type} {a.uri}", a.ref, "artifacts", (("artifact", str(a.id)),))
                 for a in store.artifacts_with_uri_like(text, limit)]
    unique: Dict[Tuple[str, Tuple[Tuple[str, str], ...]], Hit] = {}
    for h in hits:   # one hit per place to open (a run typed whole is the reference and a run)
        unique.setdefault((h.page, h.params), h)
    return list(unique.values())


def _tags(store: Store, text: str, limit: int) -> List[Hit]:
    """Tags whose key or value holds ``text``: the newest change of each (target, key) that
    still sets it."""
    if not store.has_type("execution", "Tag"):
        return []
    like = quote(f"%{text}%")
    found = store.list_executions(
        filter_query=f"type = 'Tag' AND (properties.key.string_value LIKE {like} OR "
                     f"properties.value.string_value LIKE {like})", limit=limit * 5, order_by="id", ascending=False)
    out: List[Hit] = []
    seen = set()
    context_ids = [int(t[1:]) for t in (str(e.get("target") or "") for e in found) if t[:1] == "c" and t[1:].isdigit()]
    runs = {f"c{c.id}": c.name for c in store.get_contexts(sorted(set(context_ids)))
            if c.type == "PipelineRun"} if context_ids else {}
    for e in found:
        target, key = str(e.get("target") or ""), str(e.get("key") or "")
        if (target, key) in seen or e.get("removed"):
            continue
        seen.add((target, key))
        target = f"run:{runs[target]}" if target in runs else target
        label = f"tag {key}={e.get('value')} on {target}"
        if target.startswith("run:"):
            out.append(Hit("tag", label, target, "runs", (("run", target[4:]),)))
        elif target.startswith("a") and target[1:].isdigit():
            out.append(Hit("tag", label, target, "artifacts", (("artifact", target[1:]),)))
        else:
            out.append(Hit("tag", label, target, "graph", (("node", target),)))
        if len(out) >= limit:
            break
    return out
