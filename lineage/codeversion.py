"""What code ran: git commit and dirty flag, Python and key package versions, user, host,
and a step's source hash. Captured once per run (git is asked once per repository)."""

from __future__ import annotations

import functools
import getpass
import hashlib
import inspect
import json
import platform
import socket
import subprocess
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, Optional

__all__ = ["code_version", "git_state", "clear_git_cache", "source_hash", "KEY_PACKAGES", "RUN_CONSTANTS"]

#: Distributions whose versions are recorded with every step (those installed).
KEY_PACKAGES = (
    "lineage", "ml-metadata", "tensorflow", "tf-keras", "tensorflow-transform",
    "tensorflow-model-analysis", "tensorflow-hub", "tensorflow-serving-api", "apache-beam",
    "tfx-bsl", "numpy",
)

#: What is the same for every step of a run: recorded once on the run, and on a step only where
#: its own differs (lineage.query.code gives an execution's, its run's filling in).
RUN_CONSTANTS = ("git_commit", "git_dirty", "python_version", "package_versions", "user", "host")


def _run_git(cwd: Path, *args: str) -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", *args], cwd=str(cwd), capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.lru_cache(maxsize=64)
def _git_state_cached(directory: str) -> Dict[str, Any]:
    cwd = Path(directory)
    commit = _run_git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return {}
    status = _run_git(cwd, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit.strip(), "git_dirty": bool(status and status.strip())}


def clear_git_cache() -> None:
    """Forget the git states read so far (a run starts with a fresh look)."""
    _git_state_cached.cache_clear()


def git_state(directory: Optional[Path] = None, *, fresh: bool = False) -> Dict[str, Any]:
    """``{"git_commit", "git_dirty"}`` for the repository holding ``directory`` (or {})."""
    directory = (directory or Path.cwd()).resolve()
    if not directory.is_dir():
        directory = directory.parent
    if fresh:
        _git_state_cached.cache_clear()
    return _git_state_cached(str(directory))


@functools.lru_cache(maxsize=1)
def _environment() -> Dict[str, Any]:
    from importlib import metadata   # here: a query reading RUN_CONSTANTS never needs it

    versions = {}
    for dist in KEY_PACKAGES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return {
        "python_version": platform.python_version(),
        "package_versions": json.dumps(versions, sort_keys=True),
        "user": user,
        "host": socket.gethostname(),
    }


def code_version(directory: Optional[Path] = None, *, fresh: bool = False) -> Dict[str, Any]:
    """Everything about the code and environment worth recording with a run."""
    out = dict(_environment())
    out.update(git_state(directory, fresh=fresh))
    return out


def source_hash(fn: Callable[..., Any]) -> str:
    """sha256 of a function's source (dedented); of its qualified name if it has none."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        text = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
