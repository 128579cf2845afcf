"""Verify: re-fingerprint recorded artifacts, on disk or on object storage (streamed); report the
missing and the changed."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..errors import FingerprintError
from ..fingerprint import fingerprint
from ..objects import is_remote, remote_fingerprint
from ..records import Artifact, Execution
from ..store import Store
from ..vocab import is_local
from .subject import resolve_node

__all__ = ["VerifyReport", "verify"]


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    checked: int
    ok: List[Artifact]
    missing: List[Artifact]
    changed: List[Tuple[Artifact, str]]  # (artifact, fingerprint now)
    skipped: List[Artifact]               # no fingerprint recorded, or neither local nor s3:// / gs://
    #: removed by ``lineage gc`` on purpose (not missing): (artifact, "deleted by gc (e123)")
    deleted: List[Tuple[Artifact, str]] = dataclasses.field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.missing and not self.changed

    def to_dict(self) -> Dict[str, Any]:
        return {"checked": self.checked, "ok": len(self.ok),
                "missing": [a.summary() for a in self.missing],
                "changed": [{**a.summary(), "recorded": a.fingerprint, "now": now}
                            for a, now in self.changed],
                "skipped": len(self.skipped), "clean": self.clean,
                "deleted": [{**a.summary(), "why": why} for a, why in self.deleted]}


def verify(store: Store, node: Any = None, *, page: int = 1000,
           progress: Optional[Callable[[int], None]] = None) -> VerifyReport:
    """Re-fingerprint artifacts on disk and report the missing and changed ones.

    ``node`` is an artifact, an execution (its outputs) or ``None`` (every LIVE artifact,
    paged). ``progress(n)`` is called with the number checked so far.
    """
    if node is None:
        def pages():
            last = 0
            while True:
                batch = store.list_artifacts(filter_query=f"id > {last} AND state = LIVE", limit=page,
                                             order_by="id", ascending=True)
                if not batch:
                    return
                yield batch
                last = batch[-1].id
        batches: Iterable[List[Artifact]] = pages()
    else:
        found = resolve_node(store, node)
        if isinstance(found, Artifact):
            batches = [[found]]
        elif isinstance(found, Execution):
            evs = [e for e in store.events_of_executions([found.id]) if e.type == "OUTPUT"]
            batches = [store.get_artifacts(sorted({e.artifact_id for e in evs}))]
        else:
            batches = [store.artifacts_in_context(found.id, limit=100_000)]
    ok, missing, changed, skipped = [], [], [], []
    deleted: List[Tuple[Artifact, str]] = []
    checked = 0
    for batch in batches:
        for a in batch:
            checked += 1
            if a.state in ("DELETED", "MARKED_FOR_DELETION"):
                by = a.custom_properties.get("deleted_by")
                deleted.append((a, (f"deleted by gc (e{by})" if by else "deleted") if a.state == "DELETED"
                                else f"being deleted by gc (e{by})"))
                continue
            remote = is_remote(a.uri)
            if not a.fingerprint or not str(a.fingerprint).startswith("sha256:") or not (remote or is_local(a.uri)):
                skipped.append(a)
                continue
            try:
                now = (remote_fingerprint(a.uri) if remote else fingerprint(a.path)).digest
            except FingerprintError:
                missing.append(a)
                continue
            (ok.append(a) if now == a.fingerprint else changed.append((a, now)))
        if progress:
            progress(checked)
    return VerifyReport(checked, ok, missing, changed, skipped, deleted)
