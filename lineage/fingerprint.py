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

__all__ = ["Fingerprint", "fingerprint", "tree_files", "TreeDigest"]

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


class TreeDigest:
    """A directory's fingerprint from its files' digests, given in sorted path order (the same
    for a folder on disk and the objects under a prefix in a bucket)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.size = 0
        self.count = 0

    def add(self, rel: str, file_digest: bytes, size: int) -> None:
        encoded = rel.encode("utf-8", "surrogateescape")
        # Length-prefix the name so ("ab", "c") and ("a", "bc") cannot collide.
        self._h.update(len(encoded).to_bytes(8, "big"))
        self._h.update(encoded)
        self._h.update(file_digest)
        self.size += size
        self.count += 1

    def result(self) -> Fingerprint:
        return Fingerprint("sha256:" + self._h.hexdigest(), self.size, self.count)


def tree_files(root: str) -> list:
    """The regular files under a directory, as sorted paths relative to it (``/`` separators)."""
    files = []
    for base, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            full = os.path.join(base, name)
            if os.path.isfile(full):
                files.append(Path(full).relative_to(root).as_posix())
    files.sort()
    return files


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
        tree = TreeDigest()
        for rel in tree_files(p):
            fh = hashlib.sha256()
            size = _hash_file(fh, os.path.join(p, rel))
            tree.add(rel, fh.digest(), size)
        return tree.result()
    except OSError as exc:
        raise FingerprintError(f"cannot read {p!r} to fingerprint it: {exc.strerror or exc}") from None
