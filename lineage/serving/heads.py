"""Split models in the record: which module a head or a module's part was made from, which heads
call a module's served model, and the gate's checks for both sides.

A head (``split_model``) calls a module's served model (``export_module``, pushed under its own
name) on another server. Its answers equal the undivided model's only when the module version
that answers is the one the model was trained and evaluated with. So:

- changing what a **module** serves (push, rollback, promote, unpin) checks every head serving
  now that calls it: each must have been made from the same module (``heads`` check);
- changing what a **head** serves checks the module version serving now on its module's endpoint
  (``module`` check).

Both checks are overridable with ``force`` (recorded), like blessing and taint.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from ..errors import NotFound
from ..query import inputs, outputs, consumers, producers, pushed_of, served_at
from ..records import Artifact
from ..store import Store
from ..vocab import quote

__all__ = ["served_model", "source_module", "serving_part", "heads_calling", "module_problems", "head_problems",
           "gate_checks"]


def served_model(store: Store, pushed: Artifact) -> Optional[Artifact]:
    """The Model a PushedModel is a copy of (its Push's ``model`` input)."""
    for e in producers(store, pushed.id):
        found = inputs(store, e.id).get("model", [])
        if found:
            return found[0]
    return None


def serving_part(model: Optional[Artifact]) -> Optional[str]:
    """``"module"``, ``"head"``, or None for a model served whole."""
    return str(model.get("serving_part")) if model is not None and model.get("serving_part") else None


def source_module(store: Store, model: Artifact) -> Optional[Artifact]:
    """The HubModule a module's part was exported from, or a head's module part was."""
    part = model
    if serving_part(model) == "head":
        found = [a for e in producers(store, model.id) for a in inputs(store, e.id).get("module_part", [])]
        if not found:
            return None
        part = found[0]
    for e in producers(store, part.id):
        mods = inputs(store, e.id).get("module", [])
        if mods:
            return mods[0]
    return None


def _same(a: Optional[Artifact], b: Optional[Artifact]) -> bool:
    return a is not None and b is not None and (a.id == b.id or (bool(a.fingerprint) and a.fingerprint == b.fingerprint))


def _describe(module: Optional[Artifact]) -> str:
    if module is None:
        return "an unknown module"
    return f"{module.get('handle') or module.uri} (a{module.id})"


def heads_calling(store: Store, module_name: str) -> List[Tuple[str, int, Artifact]]:
    """``(head model name, version, head Model)`` of each head serving now whose remote part
    calls ``module_name``."""
    if not store.has_custom_property("remote_model"):
        return []
    heads = store.list_artifacts(filter_query=f"type = 'Model' AND custom_properties.remote_model.string_value = "
                                              f"{quote(module_name)}", limit=None)
    out = []
    for head in heads:
        for e in consumers(store, head.id):
            for pushed in outputs(store, e.id).get("pushed", []):
                name, version = pushed.get("model_name"), pushed.get("pushed_version")
                if name is None or version is None:
                    continue
                try:
                    now = served_at(store, str(name), "now").version
                except NotFound:
                    continue
                if now == int(version):
                    out.append((str(name), int(version), head))
    return sorted(set(out), key=lambda t: (t[0], t[1]))


def module_problems(store: Store, module_name: str, part: Artifact) -> List[str]:
    """Why serving ``part`` (a module's part) as ``module_name`` would change what heads answer:
    one sentence per head serving now that was made from another module."""
    mine = source_module(store, part)
    problems = []
    for name, version, head in heads_calling(store, module_name):
        theirs = source_module(store, head)
        if not _same(mine, theirs):
            problems.append(f"head {name}:{version} calls {module_name} and was made with {_describe(theirs)}, "
                            f"not {_describe(mine)}")
    return problems


def head_problems(store: Store, head: Artifact) -> List[str]:
    """Why serving ``head`` would answer otherwise than the model it was split from: the module
    version serving now on its remote model's endpoint was made from another module."""
    module_name = head.get("remote_model")
    if not module_name:
        return []
    try:
        now = served_at(store, str(module_name), "now").version
    except NotFound:
        return [f"its remote part calls {module_name}, which was never pushed: push the module's part first"]
    if now is None:
        return [f"its remote part calls {module_name}, which serves nothing now"]
    found = pushed_of(store, str(module_name), now)
    part = served_model(store, max(found, key=lambda a: a.id)) if found else None
    mine, theirs = source_module(store, head), source_module(store, part) if part is not None else None
    if not _same(mine, theirs):
        return [f"its remote part calls {module_name}, whose version {now} serving now was made from "
                f"{_describe(theirs)}; this head was made with {_describe(mine)}"]
    return []


def gate_checks(store: Store, model_name: str, model: Optional[Artifact]) -> List[Tuple[str, bool, str]]:
    """The gate's extra checks for serving ``model`` as ``model_name``: ``heads`` for a module's
    part, ``module`` for a head, as ``(name, ok, detail)``; none for a model served whole."""
    part = serving_part(model)
    if model is None or part is None:
        return []
    if part == "module":
        problems = module_problems(store, model_name, model)
        return [("heads", not problems, "; ".join(problems) or
                 "every head serving now that calls it was made with the same module")]
    problems = head_problems(store, model)
    return [("module", not problems, "; ".join(problems) or
             "the module version serving now is the one this head was made with")]


def is_module_part(model: Optional[Artifact]) -> bool:
    """Is ``model`` a module's served part (made by ``export_module``)?"""
    return serving_part(model) == "module"
