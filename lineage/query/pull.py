"""``lineage pull``: the exact bytes of a recorded artifact, wherever it lives (this disk, or
s3:// / gs:// through the local cache), copied to a destination and checked against the recorded
fingerprint before it is put in place."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Optional

from ..errors import FingerprintError, InvalidInput
from ..fingerprint import fingerprint
from ..objects import copy_out, is_remote
from ..records import Artifact
from ..store import Store
from .subject import resolve_node

__all__ = ["pull"]


def pull(store: Store, ref: Any, dest: Optional[Any] = None, *, force: bool = False) -> Path:
    """Copy artifact ``ref``'s recorded bytes to ``dest`` (see :meth:`lineage.Lineage.pull`)."""
    art = resolve_node(store, ref)
    if not isinstance(art, Artifact):
        raise InvalidInput(f"{ref}: pull takes an artifact (a12, a type:id or a module handle), not a {art.kind}")
    what = f"a{art.id} ({art.type} at {art.uri})"
    recorded = art.fingerprint
    if not recorded or not str(recorded).startswith("sha256:"):
        raise InvalidInput(f"{what} has no recorded fingerprint: lineage cannot tell its bytes from others; "
                           f"copy it yourself")
    name = art.uri.rstrip("/").rsplit("/", 1)[-1] or f"a{art.id}"
    target = Path(dest if dest is not None else name).expanduser().absolute()
    if target.exists() and not force:
        raise InvalidInput(f"{target} already exists: choose another destination, or pass --force to replace it")
    if not is_remote(art.uri):
        if not art.path.exists():
            raise FingerprintError(f"{what} is gone from this disk and from everywhere lineage can reach "
                                   f"(recorded {recorded})")
    src = art.path     # an object store's: the cache's copy, already checked against the record
    tmp = target.with_name(f".{target.name}.pull-{secrets.token_hex(4)}")
    try:
        copy_out(src, tmp)
        got = fingerprint(tmp)
        if got.digest != recorded:
            raise FingerprintError(f"{what} changed after it was recorded (recorded {recorded}, now {got.digest}): "
                                   f"its recorded bytes are not there any more; nothing was written to {target}")
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()
    return target
