"""Who is running a step: this process, named so that another process can later tell whether it
is still alive (``host:pid:start``, the start being the process's start time in clock ticks
since boot, from ``/proc``). A RUNNING execution or run carries its owner; ``lineage doctor``
finds the ones whose owner is gone."""

from __future__ import annotations

import functools
import os
import socket
from typing import Optional

__all__ = ["this_owner", "owner_alive", "owner_host"]


def _start_ticks(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # the command may hold spaces and parentheses: fields follow the last ')'
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


@functools.lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def this_owner() -> str:
    """``host:pid:start`` of this process (start is empty where /proc is not there)."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_ticks(pid) or ''}"


def owner_host(owner: str) -> str:
    return owner.rsplit(":", 2)[0]


def owner_alive(owner: str) -> Optional[bool]:
    """True if the owning process still runs, False if it is gone, None if that cannot be told
    from here (another host)."""
    try:
        host, pid_text, start = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return None
    if host != _host():
        return None
    now = _start_ticks(pid)
    if now is None:
        return False
    return not start or now == start
