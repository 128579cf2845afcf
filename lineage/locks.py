"""An exclusive lock between processes on this machine: ``flock`` on ``<path>.lock``."""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import Iterator, Union

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path: Union[str, Path]) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (created if needed) inside the ``with`` block."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(str(p) + ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
