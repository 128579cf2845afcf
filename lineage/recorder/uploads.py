"""What a step killed while uploading its outputs leaves on the object store: folders under the
artifact root that no recorded artifact points into. ``lineage doctor`` reports them once they
are older than ``LINEAGE_UPLOAD_GRACE`` seconds (default 3600: a step still uploading is not
touched), ``--fix`` deletes them. Nothing recorded is ever deleted."""

from __future__ import annotations

import functools
import os
from typing import List, Tuple

from ..objects import age_of_folder, filesystem, remote_errors
from ..query.health import Finding
from ..store import Store
from ..vocab import quote
from .repair import Closer

__all__ = ["leftover_uploads", "upload_closers"]


def leftover_uploads(store: Store, grace: float = -1) -> List[Tuple[str, int]]:
    """``(folder URI, bytes)`` of each step output folder under the store's object-store root
    that no recorded artifact points into, named more than ``grace`` seconds ago."""
    root = store.config.artifact_remote
    if not root:
        return []
    if grace < 0:
        grace = float(os.environ.get("LINEAGE_UPLOAD_GRACE", "3600"))
    scheme = root.split("://", 1)[0]
    fs, base = filesystem(root)
    candidates: List[Tuple[str, str]] = []
    with remote_errors(root, "listing"):
        if not fs.exists(base):
            return []
        for type_dir in fs.ls(base, detail=False):
            if not fs.isdir(type_dir):
                continue
            for folder in fs.ls(type_dir, detail=False):
                age = age_of_folder(folder.rstrip("/").rsplit("/", 1)[-1])
                if age is not None and age >= grace:
                    candidates.append((f"{scheme}://{folder.rstrip('/')}", folder))
    if not candidates:
        return []
    recorded = {a.uri for a in store.list_artifacts(filter_query=f"uri LIKE {quote(root + '/%')}", limit=None)}
    out = []
    for uri, path in candidates:
        if not any(u == uri or u.startswith(uri + "/") for u in recorded):
            with remote_errors(uri, "listing"):
                out.append((uri, int(fs.du(path))))
    return out


def _delete(uri: str, doctor_id: int) -> None:
    fs, path = filesystem(uri)
    with remote_errors(uri, "deleting"):
        fs.rm(path, recursive=True)


def upload_closers(store: Store) -> Tuple[List[Finding], List[Closer]]:
    """Findings for unfinished uploads, and ``doctor --fix``'s deletion of each."""
    findings: List[Finding] = []
    closers: List[Closer] = []
    for uri, size in leftover_uploads(store):
        findings.append(Finding("unfinished-upload", uri, f"{size} bytes no recorded artifact points to (a step "
                                f"stopped while uploading); --fix deletes them", True))
        closers.append((uri, "DELETED", functools.partial(_delete, uri)))
    return findings, closers
