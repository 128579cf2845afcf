"""Content fingerprints: sha256 over a file, or over a directory tree.

A directory's fingerprint covers every regular file's path relative to the root (with ``/``
separators) and its content, in sorted path order, so it does not depend on the order the file
system lists entries, on timestamps or on permissions. Files are streamed in 1 MiB blocks and
never sit in memory whole. Symbolic links are followed for files; directories are walked as
they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Union

from .errors import FingerprintError
from .vocab import local_path

__all__ = ["Fingerprint", "fingerprint"]

_BLOCK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    digest: str  # "sha256:<hex>"
    size_bytes: int
    file_count: int

    def __str__(self) -> str:
        return self.digest


def _hash_file(h: "hashlib._Hash", path: str) -> int:
    size = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            if not block:
                return size
            size += len(block)
            h.update(block)


def fingerprint(path: Union[str, os.PathLike]) -> Fingerprint:
    """sha256 over a file or a directory tree. Raises :class:`FingerprintError` if missing."""
    p = local_path(os.fspath(path))
    if not os.path.exists(p):
        raise FingerprintError(
            f"nothing to fingerprint at {p!r}: the file or directory does not exist "
            f"(was it moved or deleted, or did the step not write it?)"
        )
    try:
        if os.path.isfile(p):
            h = hashlib.sha256()
            size = _hash_file(h, p)
            return Fingerprint("sha256:" + h.hexdigest(), size, 1)
        files = []
        for root, dirs, names in os.walk(p):
            dirs.sort()
            for name in names:
                full = os.path.join(root, name)
                if os.path.isfile(full):
                    files.append(Path(full).relative_to(p).as_posix())
        files.sort()
        h = hashlib.sha256()
        total = 0
        for rel in files:
            encoded = rel.encode("utf-8", "surrogateescape")
            # Length-prefix the name so ("ab", "c") and ("a", "bc") cannot collide.
            h.update(len(encoded).to_bytes(8, "big"))
            h.update(encoded)
            fh = hashlib.sha256()
            total += _hash_file(fh, os.path.join(p, rel))
            h.update(fh.digest())
        return Fingerprint("sha256:" + h.hexdigest(), total, len(files))
    except OSError as exc:
        raise FingerprintError(f"cannot read {p!r} to fingerprint it: {exc.strerror or exc}") from None
