"""``lineage gc``: remove the files of artifacts nothing protects (:mod:`lineage.query.retention`
says which), and mark those artifacts DELETED. Rows stay: the graph stays whole.

The removal is recorded as a ``GarbageCollect`` execution, written RUNNING (with its owner)
before anything changes. Each planned artifact is first marked ``MARKED_FOR_DELETION`` with
``deleted_by`` naming that execution, then its files go, then it is marked ``DELETED``. A gc killed
on the way leaves artifacts MARKED_FOR_DELETION: ``lineage doctor`` reports them and ``--fix``
settles each by what is on disk or in the bucket (files gone: DELETED; files there: LIVE again),
while the abandoned GarbageCollect execution is closed FAILED like any other.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from ..errors import LineageError
from ..objects import filesystem, is_remote, remote_errors
from ..owner import owner_alive
from ..query.health import Finding
from ..query.retention import GcPlan, plan_gc, served_ancestry, tainted_ever
from ..records import Artifact, Execution
from ..store import Store
from ..vocab import local_path
from .recording import Recording
from .repair import Closer

__all__ = ["gc", "gc_closers"]


def _remove(uri: str) -> None:
    """Remove an artifact's files (a file or a folder, local or on object storage); gone is fine."""
    if is_remote(uri):
        fs, key = filesystem(uri)
        with remote_errors(uri, "deleting"):
            if fs.exists(key):
                fs.rm(key, recursive=True)
        return
    path = Path(local_path(uri))
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError as exc:
        raise LineageError(f"gc: could not remove {path}: {exc.strerror or exc}; nothing after it was removed "
                           f"(the artifacts removed so far are recorded DELETED)") from None


def _exists(uri: str) -> bool:
    if is_remote(uri):
        fs, key = filesystem(uri)
        with remote_errors(uri, "checking"):
            return bool(fs.exists(key))
    return Path(local_path(uri)).exists()


def gc(store: Store, *, keep_days: float = 30, keep_runs: int = 0, dry_run: bool = False,
       progress: Optional[Callable[[int, int], None]] = None) -> Tuple[GcPlan, Optional[Execution]]:
    """Plan (see :func:`lineage.query.retention.plan_gc`) and, unless ``dry_run``, remove.
    Returns the plan and the ``GarbageCollect`` execution (None when nothing was removed)."""
    plan = plan_gc(store, keep_days=keep_days, keep_runs=keep_runs)
    if dry_run or not plan.removable:
        return plan, None
    ids = [r.artifact.id for r in plan.removable]
    rec = Recording(store, "GarbageCollect", properties={
        "step": "lineage.gc", "keep_days": float(keep_days), "keep_runs": keep_runs, "planned": json.dumps(ids)},
                    in_run=False)
    eid = rec.start()
    store.set_artifact_states(ids, "MARKED_FOR_DELETION", {"deleted_by": eid})
    # What became protected since the plan (an old model pushed, an artifact tainted meanwhile)
    # goes back to LIVE: checked again once the marks are written.
    now_protected = (served_ancestry(store) | tainted_ever(store)) & set(ids)
    if now_protected:
        store.set_artifact_states(sorted(now_protected), "LIVE", {"deleted_by": None})
    again = set(ids) - now_protected
    removed: List[Artifact] = []
    freed = 0
    try:
        for n, r in enumerate(plan.removable, 1):
            if r.artifact.id in again:
                _remove(r.artifact.uri)
                removed.append(r.artifact)
                freed += r.size_bytes
            if progress:
                progress(n, len(plan.removable))
    except LineageError as exc:
        done = {a.id for a in removed}
        store.set_artifact_states(sorted(done), "DELETED", {"deleted_by": eid})
        store.set_artifact_states(sorted(again - done), "LIVE", {"deleted_by": None})
        rec.fail(exc)
        raise
    store.set_artifact_states([a.id for a in removed], "DELETED", {"deleted_by": eid})
    execution, _ = rec.finish("COMPLETE", properties={
        "removed": json.dumps([a.id for a in removed]), "freed_bytes": float(freed)}, reread=False)
    return plan, execution


def gc_closers(store: Store) -> Tuple[List[Finding], List[Closer]]:
    """Artifacts a killed gc left MARKED_FOR_DELETION, and ``doctor --fix``'s settling of each."""
    findings: List[Finding] = []
    closers: List[Closer] = []
    marked = store.list_artifacts(filter_query="state = MARKED_FOR_DELETION", limit=None)
    gcs = {e.id: e for e in store.get_executions(sorted({int(a.custom_properties.get("deleted_by") or 0)
                                                         for a in marked} - {0}))}
    for a in marked:
        by = int(a.custom_properties.get("deleted_by") or 0)
        run = gcs.get(by)
        if run is not None and run.state == "RUNNING" and owner_alive(str(run.get("owner") or "")) is not False:
            findings.append(Finding("unfinished-gc", a.ref, f"being deleted by gc e{by}, still running "
                                    f"({run.get('owner')})", False))
            continue
        findings.append(Finding("unfinished-gc", a.ref, f"marked for deletion by gc e{by} which never finished; "
                                f"--fix marks it DELETED if its files are gone, else LIVE again", True))
        closers.append((a.ref, "SETTLED", functools.partial(_settle_one, store, a)))
    return findings, closers


def _settle_one(store: Store, artifact: Artifact, doctor_id: int) -> None:
    gone = not _exists(artifact.uri)
    store.set_artifact_states([artifact.id], "DELETED" if gone else "LIVE",
                              {"deleted_by": artifact.custom_properties.get("deleted_by") if gone else None,
                               "settled_by": doctor_id})
