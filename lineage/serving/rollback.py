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

import copy
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import LineageError, NotFound
from ..query import (inputs, near, producers, pushed_of, pushed_version, replay_steps, served_at, serving_history,
                     tainted, trace, verify)
from ..recorder import Recording
from ..records import Artifact, Execution
from ..store import Store
from ..values import describe
from ..vocab import is_blessed
from .client import ServerUnreachable, ServingClient
from .heads import gate_checks, is_module_part, served_model
from .config import (config_lock, default_config_path, model_entry, read_config, versions_on_disk, write_config,
                     write_text_atomic)

__all__ = ["RollbackFailed", "RollbackResult", "Check", "check_version", "gate", "rollback", "promote", "unpin"]


class RollbackFailed(LineageError):
    """The operation was refused or failed; config and server were left as they were."""


@dataclasses.dataclass(frozen=True)
class Check:
    name: str        # pushed | files | blessed | taint | heads (a module's part) | module (a head)
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
    changed: bool = True   # False: it already served as asked; nothing was changed or recorded


def _pushed(store: Store, model_name: str, version: int) -> Optional[Artifact]:
    found = pushed_of(store, model_name, version)
    return max(found, key=lambda a: a.id) if found else None


def check_version(store: Store, model_name: str, version: int) -> Tuple[Optional[Artifact], List[Check]]:
    """The PushedModel for ``version`` (if any) and every check, passed or not."""
    pushed = _pushed(store, model_name, version)
    if pushed is None:
        return None, [Check("pushed", False, f"version {version} was never pushed for {model_name}", False)]
    checks = [Check("pushed", True, f"a{pushed.id} {pushed.uri}", False)]
    report = verify(store, pushed)
    if report.missing:
        checks.append(Check("files", False, f"the files of version {version} are missing at {pushed.uri}", False))
    elif report.changed:
        checks.append(Check("files", False, f"the files of version {version} at {pushed.uri} changed since "
                                            f"they were pushed (fingerprint differs)", False))
    elif report.skipped:
        checks.append(Check("files", False, f"version {version} has no recorded fingerprint to verify", False))
    else:
        checks.append(Check("files", True, "fingerprint matches", False))
    push_execs = producers(store, pushed.id)
    blessings = [a for e in push_execs for a in inputs(store, e.id).get("blessing", [])]
    blessed = any(is_blessed(b.get("blessed")) for b in blessings)
    forced = any(bool(e.get("forced")) for e in push_execs)
    model = served_model(store, pushed)
    if is_module_part(model):   # a module's part has no evaluation of its own: the heads judge it
        checks.append(Check("blessed", True, "a module's served part: judged by the heads that call it", True))
    else:
        checks.append(Check("blessed", blessed, "blessed" if blessed else
                            ("it was force-pushed without a blessing" if forced else "it was not blessed"), True))
    checks += [Check(name, ok, detail, True) for name, ok, detail in gate_checks(store, model_name, model)]
    marks = tainted(store)
    if marks:
        up = {a.id for a in trace(store, [("artifact", pushed.id)], "UPSTREAM").artifacts()}
        bad = sorted(up & set(marks))
        checks.append(Check("taint", not bad, "; ".join(f"a{i} is tainted: {marks[i].reason}" for i in bad)
                            or "no tainted artifact upstream", True))
    else:
        checks.append(Check("taint", True, "no tainted artifact upstream", True))
    return pushed, checks


def _serving_now(store: Store, model_name: str) -> Optional[int]:
    try:
        return served_at(store, model_name, "now").version
    except NotFound:
        return None


def _previous_version(store: Store, model_name: str) -> int:
    """The version that served before the one serving now."""
    seq: List[int] = []
    for _, after in replay_steps(model_name, serving_history(store, model_name)):
        if after.version is not None and (not seq or seq[-1] != after.version):
            seq.append(after.version)
    if len(seq) < 2:
        raise RollbackFailed(f"{model_name} has no earlier serving version to go back to")
    return seq[-2]


def _recorded(store: Store, type_name: str, model_name: str, work: Callable[[Recording], Any], *,
              inputs: Sequence[Tuple[str, Optional[Artifact]]], params: Mapping[str, Any],
              annotations: Mapping[str, Any]) -> Recording:
    """Run ``work`` as a recorded ``type_name`` execution in the model's ServingEndpoint context:
    RUNNING before anything changes, COMPLETE with the work's result, or FAILED with the reason."""
    rec = Recording(store, type_name, inputs=[(k, a) for k, a in inputs if a is not None], params=params,
                    properties={"step": f"lineage.{type_name.lower()}"})
    with rec:
        rec.annotate(**annotations)
        rec.attach_context("ServingEndpoint", model_name, {"model_name": model_name})
        rec.record_intent()   # before the config changes: a crash leaves this for `lineage doctor`
        result = work(rec)
        rec.finish("COMPLETE", properties={"result": describe(result)})
    return rec


class _Change:
    """A config change applied to file and server, undone on failure. Made and applied while
    :func:`_locked` holds the config lock."""

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
        self.written_text = self.path.read_text()
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
            why = self._load_error(wait_for) if isinstance(exc, LineageError) else ""
            restored = self.restore()
            if isinstance(exc, LineageError):
                raise RollbackFailed(f"{exc}{why}; {restored}") from None
            raise
        return time.monotonic() - t0

    def _load_error(self, version: Optional[int]) -> str:
        """Why ``version`` is not available, as the server reports it ("" if it does not say)."""
        if version is None:
            return ""
        try:
            errors = [e for v, _, e in self.client.status(self.model_name, version) if v == version and e]
        except LineageError:
            return ""
        return f" (the server could not load {self.model_name} version {version}: {errors[0]})" if errors else ""

    def restore(self) -> str:
        """Put the config back as it was, unless it changed since this change wrote it (then it
        is someone else's now, and stays). Says which."""
        now = self.path.read_text() if self.path.exists() else None
        if getattr(self, "written_text", None) is not None and now != self.written_text:
            return f"{self.path} was changed by someone else since, and was left as it is"
        if self.before_text is None:
            self.path.unlink(missing_ok=True)
        else:
            write_text_atomic(self.path, self.before_text)  # byte for byte, comments included
        try:
            self.client.reload_config(self.before)
        except LineageError:
            pass  # unreachable: it never saw the new config either, or will re-read the file
        return "the previous config was restored"


def _locked(path: Path, timeout: float) -> ContextManager[None]:
    """The config lock, waited for up to ``timeout`` seconds, saying on stderr whom it waits for."""
    def waiting(holder: str) -> None:
        print(f"lineage: waiting for another change of {path} to finish ({holder})", file=sys.stderr, flush=True)

    return config_lock(path, timeout=timeout, on_wait=waiting)


def _client(server: Optional[str], rest: Optional[str], timeout: float) -> ServingClient:
    return ServingClient(server or "127.0.0.1:8500", rest if rest is not None else "http://127.0.0.1:8501",
                         timeout=min(timeout, 10.0))


def _check_version_number(version: Any) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31:
        raise RollbackFailed(f"version {version!r} is not a version number (1 to {2**31 - 1}); nothing was changed")
    return version


def _known_model(store: Store, model_name: str) -> None:
    """Refuse, before anything is recorded or changed, a model nothing was ever pushed as."""
    if pushed_of(store, model_name):
        return
    names = [c.name for c in store.list_contexts(filter_query="type = 'ServingEndpoint'", limit=2000)] \
        if store.has_type("context", "ServingEndpoint") else []
    raise RollbackFailed(f"no model named {model_name!r} was pushed to {store.config.redacted()}; "
                         f"nothing was changed" + near(model_name, names))


def _same_serving_root(store: Store, model_name: str, path: Path) -> None:
    """Refuse, before anything is recorded or changed, a change made through a model config that
    serves ``model_name`` from another folder than the one recorded with its endpoint (another
    machine's config, or a copy): its versions there are not the store's."""
    ctx = store.get_context_by_name("ServingEndpoint", model_name) \
        if store.has_type("context", "ServingEndpoint") else None
    recorded = ctx.properties.get("serving_root") if ctx is not None else None
    if not recorded or not path.exists():
        return
    try:
        entry = model_entry(read_config(path), model_name)
    except LineageError:
        return
    if entry is None:
        return
    here = str(Path(entry.base_path).absolute().parent)
    if here != recorded:
        raise RollbackFailed(
            f"{path} serves {model_name} from {entry.base_path}, but the store records its versions under "
            f"{recorded}/{model_name}: run this on the machine that serves them (or pass --config of that "
            f"server's model config); nothing was changed")


def _config_path(store: Store, config_path: Optional[str]) -> Path:
    return Path(config_path) if config_path else default_config_path(store.config.artifact_root)


def gate(checks: List[Check], force: bool) -> List[Check]:
    """The one gate every change of what serves passes (push, rollback, promote, unpin): the
    checks that fail it. Pushed and files always count; blessing and taint unless ``force``."""
    return [c for c in checks if not c.ok and (not c.overridable or not force)]


def _refuse(failed: List[Check], what: str, force_hint: bool) -> None:
    if failed:
        names = " and ".join(dict.fromkeys(c.name for c in failed))
        hint = f" (--force overrides the {names} check{'s' if ' and ' in names else ''}, recorded as forced)" \
            if force_hint and all(c.overridable for c in failed) else ""
        raise RollbackFailed(f"refused to {what}: " + "; ".join(c.detail for c in failed) + hint)


def rollback(store: Store, model_name: str, *, to: Optional[int] = None, previous: bool = False,
             last_good: bool = False, force: bool = False, config_path: Optional[str] = None,
             server: Optional[str] = None, rest: Optional[str] = None, timeout: float = 60.0) -> RollbackResult:
    """Pin ``model_name`` to version ``to`` (or the previous one, or the newest good one)."""
    if sum(bool(x) for x in (to is not None, previous, last_good)) != 1:
        raise RollbackFailed("say which version: to=N, previous=True or last_good=True (exactly one)")
    _known_model(store, model_name)
    path = _config_path(store, config_path)
    _same_serving_root(store, model_name, path)
    with _locked(path, timeout):   # from reading what serves to the server having the new config
        return _rollback(store, model_name, to, previous, last_good, force, path, server, rest, timeout)


def _rollback(store: Store, model_name: str, to: Optional[int], previous: bool, last_good: bool, force: bool,
              path: Path, server: Optional[str], rest: Optional[str], timeout: float) -> RollbackResult:
    current = _serving_now(store, model_name)
    if previous:
        to = _previous_version(store, model_name)
    elif last_good:
        to = _last_good(store, model_name)
    assert to is not None
    target = _check_version_number(to)
    if last_good and target == current:
        return RollbackResult(model_name, target, current, None, 0.0, force, changed=False)
    if target == current and _pins(path, model_name, target):
        return RollbackResult(model_name, target, current, None, 0.0, force, changed=False)
    pushed, checks = check_version(store, model_name, target)
    prev_pushed = _pushed(store, model_name, current) if current is not None else None
    client = _client(server, rest, timeout)
    seconds = 0.0

    def edit(entry: Any) -> None:
        entry.model_version_policy.Clear()
        entry.model_version_policy.specific.versions.append(target)
        for label in [k for k, v in entry.version_labels.items() if v != target]:
            del entry.version_labels[label]  # a label must point at a loaded version
        entry.version_labels["stable"] = target

    def work(rec: Recording) -> Dict[str, Any]:
        nonlocal seconds
        _refuse(gate(checks, force), f"roll {model_name} back to version {target}", True)
        seconds = _Change(path, client, model_name).apply(edit, target, timeout)
        return {"version": target, "previous": current, "seconds": round(seconds, 3)}

    try:
        rec = _recorded(store, "Rollback", model_name, work, inputs=[("target", pushed), ("previous", prev_pushed)],
                        params={"model_name": model_name, "version": target, "force": force},
                        annotations={"model_name": model_name, "target_version": target, "forced": bool(force),
                                     "config_path": str(path)})
    finally:
        client.close()
    return RollbackResult(model_name, target, current, rec.execution, seconds, force)


def _pins(path: Path, model_name: str, version: int) -> bool:
    """Whether the model config already says what a rollback to ``version`` would write."""
    try:
        entry = model_entry(read_config(path), model_name) if path.exists() else None
    except LineageError:
        return False
    policy = entry.model_version_policy if entry is not None else None
    return (policy is not None and policy.WhichOneof("policy_choice") == "specific"
            and list(policy.specific.versions) == [version] and dict(entry.version_labels) == {"stable": version})


def _last_good(store: Store, model_name: str) -> int:
    """The newest pushed version that passes every check."""
    candidates = sorted({v for v in (pushed_version(a) for a in pushed_of(store, model_name))
                         if v is not None}, reverse=True)
    for v in candidates:
        if all(c.ok for c in check_version(store, model_name, v)[1]):
            return v
    raise RollbackFailed(f"no pushed version of {model_name} passes every check "
                         f"(pushed, files, blessed, not tainted)")


def promote(store: Store, model_name: str, *, version: int, label: str = "canary", force: bool = False,
            config_path: Optional[str] = None, server: Optional[str] = None, rest: Optional[str] = None,
            timeout: float = 60.0) -> RollbackResult:
    """Point ``label`` at ``version`` (loading it alongside if the policy pins others), after the
    same checks as a rollback (``force`` overrides blessing and taint, and is recorded)."""
    if not label or not label.replace("-", "").replace("_", "").isalnum():
        raise RollbackFailed(f"label {label!r} must be letters, digits, '-' or '_'")
    _known_model(store, model_name)
    target = _check_version_number(version)
    path = _config_path(store, config_path)
    _same_serving_root(store, model_name, path)
    with _locked(path, timeout):
        return _promote(store, model_name, target, label, force, path, server, rest, timeout)


def _promote(store: Store, model_name: str, target: int, label: str, force: bool, path: Path,
             server: Optional[str], rest: Optional[str], timeout: float) -> RollbackResult:
    pushed, checks = check_version(store, model_name, target)
    client = _client(server, rest, timeout)
    seconds = 0.0

    def edit(entry: Any) -> None:
        policy = entry.model_version_policy
        if policy.WhichOneof("policy_choice") == "specific" and target not in policy.specific.versions:
            policy.specific.versions.append(target)
        elif policy.WhichOneof("policy_choice") != "specific":
            # latest-N serves only the newest; keep it and add the labelled one
            newest = versions_on_disk(entry.base_path)[-1:] or []
            policy.Clear()
            policy.specific.versions.extend(sorted(set(newest + [target])))
        entry.version_labels[label] = target

    def work(rec: Recording) -> Dict[str, Any]:
        nonlocal seconds
        _refuse(gate(checks, force), f"label {model_name} version {target} {label!r}", True)
        seconds = _Change(path, client, model_name).apply(edit, target, timeout)
        return {"version": target, "label": label}

    try:
        rec = _recorded(store, "Promote", model_name, work, inputs=[("target", pushed)],
                        params={"model_name": model_name, "version": target, "label": label, "force": force},
                        annotations={"model_name": model_name, "target_version": target, "label": label,
                                     "forced": bool(force), "config_path": str(path)})
    finally:
        client.close()
    return RollbackResult(model_name, target, None, rec.execution, seconds, force)


def unpin(store: Store, model_name: str, *, force: bool = False, config_path: Optional[str] = None,
          server: Optional[str] = None, rest: Optional[str] = None, timeout: float = 60.0) -> RollbackResult:
    """Serve the newest version again (policy latest 1; labels on other versions dropped), after
    the same checks of that version as a rollback (``force`` overrides blessing and taint)."""
    _known_model(store, model_name)
    path = _config_path(store, config_path)
    _same_serving_root(store, model_name, path)
    with _locked(path, timeout):
        return _unpin(store, model_name, force, path, server, rest, timeout)


def _unpin(store: Store, model_name: str, force: bool, path: Path, server: Optional[str], rest: Optional[str],
           timeout: float) -> RollbackResult:
    current = _serving_now(store, model_name)
    prev_pushed = _pushed(store, model_name, current) if current is not None else None
    client = _client(server, rest, timeout)
    seconds = 0.0
    newest: List[int] = []

    def edit(entry: Any) -> None:
        newest[:] = versions_on_disk(entry.base_path)[-1:]
        entry.model_version_policy.Clear()
        entry.model_version_policy.latest.num_versions = 1
        for label in [k for k, v in entry.version_labels.items() if [v] != newest]:
            del entry.version_labels[label]

    def work(rec: Recording) -> Dict[str, Any]:
        nonlocal seconds
        entry = model_entry(read_config(path), model_name)
        on_disk = versions_on_disk(entry.base_path)[-1:] if entry is not None else []
        if on_disk:   # the version unpin returns to passes the same gate as any other change
            _refuse(gate(check_version(store, model_name, on_disk[0])[1], force),
                    f"unpin {model_name} (back to version {on_disk[0]})", True)
        change = _Change(path, client, model_name)
        seconds = change.apply(edit, None, timeout)
        if newest:
            try:
                client.wait_available(model_name, newest[0], timeout)
            except LineageError as exc:
                raise RollbackFailed(f"{exc}; {change.restore()}") from None
        return {"version": newest[0] if newest else None}

    try:
        rec = _recorded(store, "Unpin", model_name, work, inputs=[("previous", prev_pushed)],
                        params={"model_name": model_name, "force": force},
                        annotations={"model_name": model_name, "forced": bool(force), "config_path": str(path)})
    finally:
        client.close()
    return RollbackResult(model_name, newest[0] if newest else 0, current, rec.execution, seconds, force)
