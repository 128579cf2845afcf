"""Version-pinned rollback, label promotion and unpinning, checked against and recorded in lineage.

``rollback`` checks, before touching anything, that the target version was pushed for the
model, that its files are present with the recorded fingerprint, that it was blessed and that it
is not downstream of a tainted artifact (``force`` overrides the last two, and is recorded). It
then writes the model config atomically (``specific { versions: N }`` and label ``stable -> N``),
asks the server to reload (gRPC HandleReloadConfigRequest; the file poll is the fallback) and waits
until N is AVAILABLE. It records a ``Rollback`` execution in the model's ``ServingEndpoint``
context with the target and the previously serving PushedModel as inputs. On any failure the
previous config is restored (and reloaded), the execution is recorded FAILED with the reason, and
:class:`RollbackFailed` is raised.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..api import Lineage, use
from ..errors import LineageError, NotFound
from ..queries import _pushed_of, _pushed_version, serving_history, served_at, tainted, verify
from ..records import Artifact, Execution
from ..recorder import annotate, attach_context, current_execution_id, step
from ..types import Input, PushedModel
from .client import ServerUnreachable, ServingClient
from .config import (default_config_path, model_entry, read_config, versions_on_disk, write_config,
                     write_text_atomic)

__all__ = ["RollbackFailed", "RollbackResult", "Check", "check_version", "rollback", "promote", "unpin"]


class RollbackFailed(LineageError):
    """The operation was refused or failed; config and server were left as they were."""


@dataclasses.dataclass(frozen=True)
class Check:
    name: str        # pushed | files | blessed | taint
    ok: bool
    detail: str
    overridable: bool


@dataclasses.dataclass(frozen=True)
class RollbackResult:
    model_name: str
    version: int
    previous: Optional[int]
    execution: Optional[Execution]
    seconds: float  # command to target AVAILABLE
    forced: bool = False


def _pushed(lin: Lineage, model_name: str, version: int) -> Optional[Artifact]:
    found = [a for a in _pushed_of(lin.store, model_name) if _pushed_version(a) == version]
    return max(found, key=lambda a: a.id) if found else None


def check_version(lin: Lineage, model_name: str, version: int) -> Tuple[Optional[Artifact], List[Check]]:
    """The PushedModel for ``version`` (if any) and every check, passed or not."""
    pushed = _pushed(lin, model_name, version)
    if pushed is None:
        return None, [Check("pushed", False, f"version {version} was never pushed for {model_name}", False)]
    checks = [Check("pushed", True, f"a{pushed.id} {pushed.uri}", False)]
    report = verify(lin.store, pushed)
    if report.missing:
        checks.append(Check("files", False, f"the files of version {version} are missing at {pushed.uri}", False))
    elif report.changed:
        checks.append(Check("files", False, f"the files of version {version} at {pushed.uri} changed since "
                                            f"they were pushed (fingerprint differs)", False))
    elif report.skipped:
        checks.append(Check("files", False, f"version {version} has no recorded fingerprint to verify", False))
    else:
        checks.append(Check("files", True, "fingerprint matches", False))
    push_execs = lin.producers(pushed)
    blessings = [a for e in push_execs for a in lin.inputs(e).get("blessing", [])]
    blessed = any(bool(b.get("blessed")) and str(b.get("blessed")).lower() not in ("0", "false") for b in blessings)
    forced = any(bool(e.get("forced")) for e in push_execs)
    checks.append(Check("blessed", blessed, "blessed" if blessed else
                        ("it was force-pushed without a blessing" if forced else "it was not blessed"), True))
    marks = tainted(lin.store)
    if marks:
        up = {a.id for a in lin.upstream(pushed).artifacts()}
        bad = sorted(up & set(marks))
        checks.append(Check("taint", not bad, "; ".join(f"a{i} is tainted: {marks[i].reason}" for i in bad)
                            or "no tainted artifact upstream", True))
    else:
        checks.append(Check("taint", True, "no tainted artifact upstream", True))
    return pushed, checks


def _serving_now(lin: Lineage, model_name: str) -> Optional[int]:
    try:
        return served_at(lin.store, model_name, "now").version
    except NotFound:
        return None


def _previous_version(lin: Lineage, model_name: str) -> int:
    """The version that served before the one serving now."""
    from ..queries import replay_steps

    seq: List[int] = []
    for _, after in replay_steps(model_name, serving_history(lin.store, model_name)):
        if after.version is not None and (not seq or seq[-1] != after.version):
            seq.append(after.version)
    if len(seq) < 2:
        raise RollbackFailed(f"{model_name} has no earlier serving version to go back to")
    return seq[-2]


#: The work a recorded step below performs (set by its caller; not a parameter worth recording).
_work: contextvars.ContextVar[Callable[[], Any]] = contextvars.ContextVar("lineage_serving_work")


def _run(step_fn: Callable, lin: Lineage, work: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
    token = _work.set(work)
    try:
        with use(lin):
            return step_fn(*args, **kwargs)
    finally:
        _work.reset(token)


@step(type="Rollback")
def _rollback_step(target: Input[PushedModel] = None, previous: Input[PushedModel] = None, *,
                   model_name: str, version: int, force: bool):
    annotate(model_name=model_name, target_version=version, forced=bool(force))
    attach_context("ServingEndpoint", model_name, {"model_name": model_name})
    return _work.get()()


@step(type="Promote")
def _promote_step(target: Input[PushedModel] = None, *, model_name: str, version: int, label: str):
    annotate(model_name=model_name, target_version=version, label=label)
    attach_context("ServingEndpoint", model_name, {"model_name": model_name})
    return _work.get()()


@step(type="Unpin")
def _unpin_step(previous: Input[PushedModel] = None, *, model_name: str):
    annotate(model_name=model_name)
    attach_context("ServingEndpoint", model_name, {"model_name": model_name})
    return _work.get()()


class _Change:
    """A config change applied to file and server, undone on failure."""

    def __init__(self, config_path: Path, client: ServingClient, model_name: str) -> None:
        self.path = config_path
        self.client = client
        self.model_name = model_name
        self.before_text = config_path.read_text() if config_path.exists() else None
        self.before = read_config(config_path)

    def apply(self, edit: Callable[[Any], None], wait_for: Optional[int], timeout: float) -> float:
        t0 = time.monotonic()
        config = copy.deepcopy(self.before)
        entry = model_entry(config, self.model_name)
        if entry is None:
            raise RollbackFailed(f"{self.model_name} is not in the serving config {self.path}; push it first")
        edit(entry)
        write_config(self.path, config)
        try:
            try:
                self.client.reload_config(config)
            except ServerUnreachable:
                pass  # the server's file poll picks the new file up; status below says if it did
            if wait_for is not None:
                self.client.wait_available(self.model_name, wait_for, timeout)
            else:
                self.client.status(self.model_name)  # is anybody there?
        except BaseException as exc:
            self.restore()
            if isinstance(exc, LineageError):
                raise RollbackFailed(f"{exc}; the previous config was restored") from None
            raise
        return time.monotonic() - t0

    def restore(self) -> None:
        if self.before_text is None:
            self.path.unlink(missing_ok=True)
        else:
            write_text_atomic(self.path, self.before_text)  # byte for byte, comments included
        try:
            self.client.reload_config(self.before)
        except LineageError:
            pass  # unreachable: it never saw the new config either, or will re-read the file


def _client(server: Optional[str], rest: Optional[str], timeout: float) -> ServingClient:
    return ServingClient(server or "127.0.0.1:8500", rest if rest is not None else "http://127.0.0.1:8501",
                         timeout=min(timeout, 10.0))


def rollback(lin: Lineage, model_name: str, *, to: Optional[int] = None, previous: bool = False,
             last_good: bool = False, force: bool = False, config_path: Optional[str] = None,
             server: Optional[str] = None, rest: Optional[str] = None, timeout: float = 60.0) -> RollbackResult:
    """Pin ``model_name`` to version ``to`` (or the previous one, or the newest good one)."""
    if sum(bool(x) for x in (to is not None, previous, last_good)) != 1:
        raise RollbackFailed("say which version: to=N, previous=True or last_good=True (exactly one)")
    current = _serving_now(lin, model_name)
    if previous:
        to = _previous_version(lin, model_name)
    elif last_good:
        candidates = sorted({v for v in (_pushed_version(a) for a in _pushed_of(lin.store, model_name))
                             if v is not None}, reverse=True)
        for v in candidates:
            if all(c.ok for c in check_version(lin, model_name, v)[1]):
                to = v
                break
        else:
            raise RollbackFailed(f"no pushed version of {model_name} passes every check "
                                 f"(pushed, files, blessed, not tainted)")
    to = int(to)
    pushed, checks = check_version(lin, model_name, to)
    prev_pushed = _pushed(lin, model_name, current) if current is not None else None
    path = Path(config_path) if config_path else default_config_path(lin.artifact_root)
    client = _client(server, rest, timeout)
    timing: Dict[str, float] = {}

    def apply():
        failed = [c for c in checks if not c.ok and (not c.overridable or not force)]
        if failed:
            hint = " (--force overrides blessing and taint checks)" if all(c.overridable for c in failed) else ""
            raise RollbackFailed(f"refused to roll {model_name} back to version {to}: "
                                 + "; ".join(c.detail for c in failed) + hint)

        def edit(entry):
            entry.model_version_policy.Clear()
            entry.model_version_policy.specific.versions.append(to)
            for label in [k for k, v in entry.version_labels.items() if v != to]:
                del entry.version_labels[label]  # a label must point at a loaded version
            entry.version_labels["stable"] = to

        timing["execution"] = current_execution_id()
        timing["seconds"] = _Change(path, client, model_name).apply(edit, to, timeout)
        return {"version": to, "previous": current, "seconds": round(timing["seconds"], 3)}

    try:
        _run(_rollback_step, lin, apply, pushed, prev_pushed, model_name=model_name, version=to, force=force)
    finally:
        client.close()
    return RollbackResult(model_name, to, current, lin.execution(timing["execution"]),
                          timing.get("seconds", 0.0), force)


def promote(lin: Lineage, model_name: str, *, version: int, label: str = "canary",
            config_path: Optional[str] = None, server: Optional[str] = None, rest: Optional[str] = None,
            timeout: float = 60.0) -> RollbackResult:
    """Point ``label`` at ``version`` (loading it alongside if the policy pins others)."""
    if not label or not label.replace("-", "").replace("_", "").isalnum():
        raise RollbackFailed(f"label {label!r} must be letters, digits, '-' or '_'")
    pushed, checks = check_version(lin, model_name, int(version))
    path = Path(config_path) if config_path else default_config_path(lin.artifact_root)
    client = _client(server, rest, timeout)
    timing: Dict[str, float] = {}

    def apply():
        failed = [c for c in checks if not c.ok and c.name in ("pushed", "files")]
        if failed:
            raise RollbackFailed(f"refused to label {model_name} version {version} {label!r}: "
                                 + "; ".join(c.detail for c in failed))

        def edit(entry):
            policy = entry.model_version_policy
            if policy.WhichOneof("policy_choice") == "specific" and int(version) not in policy.specific.versions:
                policy.specific.versions.append(int(version))
            elif policy.WhichOneof("policy_choice") != "specific":
                # latest-N serves only the newest; keep it and add the labelled one
                newest = versions_on_disk(entry.base_path)[-1:] or []
                policy.Clear()
                policy.specific.versions.extend(sorted(set(newest + [int(version)])))
            entry.version_labels[label] = int(version)

        timing["execution"] = current_execution_id()
        timing["seconds"] = _Change(path, client, model_name).apply(edit, int(version), timeout)
        return {"version": int(version), "label": label}

    try:
        _run(_promote_step, lin, apply, pushed, model_name=model_name, version=int(version), label=label)
    finally:
        client.close()
    return RollbackResult(model_name, int(version), None, lin.execution(timing["execution"]),
                          timing.get("seconds", 0.0))


def unpin(lin: Lineage, model_name: str, *, config_path: Optional[str] = None, server: Optional[str] = None,
          rest: Optional[str] = None, timeout: float = 60.0) -> RollbackResult:
    """Serve the newest version again (policy latest 1; labels on other versions dropped)."""
    current = _serving_now(lin, model_name)
    prev_pushed = _pushed(lin, model_name, current) if current is not None else None
    path = Path(config_path) if config_path else default_config_path(lin.artifact_root)
    client = _client(server, rest, timeout)
    timing: Dict[str, float] = {}
    newest: List[int] = []

    def apply():
        def edit(entry):
            newest[:] = versions_on_disk(entry.base_path)[-1:]
            entry.model_version_policy.Clear()
            entry.model_version_policy.latest.num_versions = 1
            for label in [k for k, v in entry.version_labels.items() if [v] != newest]:
                del entry.version_labels[label]

        timing["execution"] = current_execution_id()
        change = _Change(path, client, model_name)
        timing["seconds"] = change.apply(edit, None, timeout)
        if newest:
            try:
                client.wait_available(model_name, newest[0], timeout)
            except LineageError as exc:
                change.restore()
                raise RollbackFailed(f"{exc}; the previous config was restored") from None
        return {"version": newest[0] if newest else None}

    try:
        _run(_unpin_step, lin, apply, prev_pushed, model_name=model_name)
    finally:
        client.close()
    return RollbackResult(model_name, newest[0] if newest else 0, current, lin.execution(timing["execution"]),
                          timing.get("seconds", 0.0))
