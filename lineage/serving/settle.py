"""Settle a serving change its process left RUNNING (killed, or the machine went down): did it
take effect? Push, rollback, promote and unpin record their intent (model, version, paths) before
the change becomes visible, so ``lineage doctor --fix`` can look at the world and close each one
COMPLETE (the version's files are in place, the config says what the change wrote) or FAILED."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import LineageError
from ..fingerprint import fingerprint
from ..records import Artifact, Execution
from ..vocab import type_leaf
from .config import model_entry, read_config

__all__ = ["settle"]

Verdict = Tuple[str, str, List[Tuple[Artifact, str]]]   # (state, why, outputs)


def settle(execution: Execution) -> Optional[Verdict]:
    """``(state, reason, outputs)`` for an abandoned Push / Rollback / Promote / Unpin, or None
    for other executions (and for serving changes recorded without their intent)."""
    kind = type_leaf(execution.type)
    name = execution.get("model_name")
    if kind == "Push":
        return _push(execution, name)
    if kind in ("Rollback", "Promote", "Unpin") and execution.get("config_path"):
        return _config_change(execution, kind, name)
    return None


def _push(e: Execution, name: Optional[str]) -> Optional[Verdict]:
    path, version = e.get("serving_path"), e.get("target_version")
    if not path or version is None:
        return None
    folder = Path(path)
    if not (folder / "saved_model.pb").exists() and not (folder / "saved_model.pbtxt").exists():
        return "FAILED", f"version {version} never appeared at {folder}", []
    fp = fingerprint(folder)
    pushed = Artifact(id=None, type="PushedModel", uri=str(folder), properties={
        "model_name": name, "pushed_version": int(version), "serving_path": str(folder),
        "fingerprint": fp.digest, "size_bytes": fp.size_bytes, "file_count": fp.file_count})
    return "COMPLETE", f"version {version} is in place at {folder}", [(pushed, "pushed")]


def _config_change(e: Execution, kind: str, name: Optional[str]) -> Verdict:
    path = Path(e.get("config_path"))
    try:
        entry = model_entry(read_config(path), name) if path.exists() else None
    except LineageError as exc:
        return "FAILED", f"the model config {path} cannot be read: {exc}", []
    if entry is None:
        return "FAILED", f"{name} is not in the model config {path}", []
    if _took_effect(kind, entry, e):
        return "COMPLETE", f"the model config {path} says what the {kind.lower()} wrote", []
    return "FAILED", f"the model config {path} does not show the {kind.lower()}", []


def _took_effect(kind: str, entry: Any, e: Execution) -> bool:
    policy = entry.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    labels: Dict[str, int] = dict(entry.version_labels)
    target = e.get("target_version")
    if kind == "Rollback":
        return choice == "specific" and list(policy.specific.versions) == [target] and labels.get("stable") == target
    if kind == "Promote":
        return choice == "specific" and target in policy.specific.versions and labels.get(e.get("label")) == target
    return choice in (None, "latest")   # Unpin: back to the newest
