"""An exclusive lock between processes on this machine: ``flock`` on ``<path>.lock``. The holder
writes who it is into the lock file, so a process that has to wait can say for whom."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

from .errors import LineageError

__all__ = ["file_lock", "LockTimeout"]


class LockTimeout(LineageError):
    """Another process held the lock for longer than the caller would wait."""


@contextlib.contextmanager
def file_lock(path: Union[str, Path], *, timeout: Optional[float] = None,
              on_wait: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (created if needed) inside the ``with`` block.
    If another process holds it: ``on_wait(holder)`` is called once, then the lock is waited for
    (``timeout`` seconds at most, then :class:`LockTimeout` naming the holder; None: for ever)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(str(p) + ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(lock)
            if on_wait is not None:
                on_wait(holder)
            _wait(lock, timeout, f"{p} is being changed by {holder}")
        try:
            lock.seek(0)
            lock.truncate()
            lock.write(f"pid {os.getpid()} ({' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200]})")
            lock.flush()
            yield
        finally:
            lock.seek(0)
            lock.truncate()
            lock.flush()
            fcntl.flock(lock, fcntl.LOCK_UN)


def _holder(lock) -> str:
    try:
        lock.seek(0)
        return lock.read().strip() or "another process"
    except OSError:
        return "another process"


def _wait(lock, timeout: Optional[float], what: str) -> None:
    if timeout is None:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{what} for more than {timeout:g} s; nothing was changed (try again when "
                                  f"it is done)") from None
            time.sleep(0.05)
