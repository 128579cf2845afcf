"""Code snapshots: a step's source file kept as a ``SourceSnapshot`` artifact when git cannot give
it back (the working tree is dirty, or not a git repository), so ``lineage rerun`` can run the
code that ran.

Content-addressed: ``<artifact root>/_code/<sha256>/<file name>`` (or the same under the object
store root), written and registered once per content; every step run from that file links it as
an input under the key ``lineage:source``. A file unchanged since this process last looked costs
a ``stat``. ``LINEAGE_CODE_SNAPSHOTS=0`` turns snapshots off.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from ..errors import LineageError
from ..objects import join, upload
from ..records import Artifact
from ..store import Store
from .artifacts import register

__all__ = ["snapshot", "enabled", "SNAPSHOT_DIR"]

log = logging.getLogger("lineage")

#: the folder under the artifact root that holds snapshots
SNAPSHOT_DIR = "_code"

_known: Dict[Tuple[int, str, int, int], Artifact] = {}
_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get("LINEAGE_CODE_SNAPSHOTS", "1").strip().lower() not in ("0", "false", "no", "off")


def snapshot(store: Store, fn: Callable[..., Any], git: Mapping[str, Any]) -> Optional[Artifact]:
    """The ``SourceSnapshot`` of the file defining ``fn``, recorded once per content, when ``git``
    (the step's git state) cannot give the code back: no commit, or a dirty tree. Else None.
    Never raises: a snapshot that cannot be kept is logged and the step goes on without it."""
    if (git.get("git_commit") and git.get("git_dirty") is False) or not enabled():
        return None
    try:
        src = inspect.getsourcefile(fn)
        if not src:
            return None
        st = os.stat(src)
    except (TypeError, OSError):
        return None
    key = (id(store), src, st.st_mtime_ns, st.st_size)
    hit = _known.get(key)
    if hit is not None:
        return hit
    try:
        art = _keep(store, Path(src))
    except (OSError, LineageError) as exc:
        log.warning("could not keep a snapshot of %s (%s); the step is recorded without it", src, exc)
        return None
    with _lock:
        if len(_known) >= 4096:
            _known.clear()
        _known[key] = art
    return art


def _keep(store: Store, src: Path) -> Artifact:
    data = src.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    rel = f"{SNAPSHOT_DIR}/{digest}/{src.name}"
    local = Path(store.config.artifact_root) / rel
    if not (local.is_file() and local.stat().st_size == len(data)):
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{src.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, local)   # atomic: a reader never sees half a file
    props = {"source_path": str(src.resolve())}
    remote = store.config.artifact_remote
    if not remote:
        return register(store, Artifact(id=None, type="SourceSnapshot", uri=str(local), properties=props))
    uri = join(remote, rel)
    fp = upload(local, uri)
    return register(store, Artifact(id=None, type="SourceSnapshot", uri=uri, properties={
        **props, "fingerprint": fp.digest, "size_bytes": fp.size_bytes, "file_count": fp.file_count}),
        read_remote=False)
