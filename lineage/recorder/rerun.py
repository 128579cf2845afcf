"""``lineage rerun``: execute a recorded run again from what was recorded, into a new run.

The same steps (found by their recorded ``module:qualname``, in the recorded order), the same
parameters (the exact values the record reads back, or ``--set Step.param=value``), the same
inputs (the recorded artifacts, checked against their fingerprints; what an earlier step of the
run made is what that step makes in the rerun). ``from_step`` reuses the recorded outputs of the
steps before it. A step marked ``@step(rerun=False)`` (a push, a module publish) is not called
again: its recorded outputs stand in.

Everything is checked before anything runs, and every problem is named at once: an input whose
content changed (or was removed by gc), a step whose source differs from the recorded source
hash (with the commit to check out when the run was recorded from a clean tree; the recorded
source snapshot is run instead when one was kept), a step that cannot be found, an unknown
``--set``. ``allow_code_change`` runs today's code anyway, and the new run records that.

The report compares each output's fingerprint with the original's: which steps reproduced bit
for bit and which did not (``lineage diff`` on the two runs says more).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import importlib.util
import json
import logging
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import LineageError, NotFound, InvalidInput
from ..objects import is_remote, materialize
from ..query.code import code_of
from ..query.verify import verify
from ..records import Artifact, Context, Execution
from ..store import Store
from ..types import ArtifactArg
from ..vocab import INPUT_EVENTS, OUTPUT_EVENTS, RUN_CONTEXT_TYPES, SOURCE_KEY, quote, type_leaf
from .runs import Run
from .step import Step

__all__ = ["RerunRefused", "RerunStep", "RerunReport", "rerun", "find_run", "parse_overrides"]

log = logging.getLogger("lineage")

#: custom properties of an execution that are not the step's parameters
_NOT_PARAMS = frozenset({"owner", "result", "cached_from", "closed_by", "beam_runner", "beam_job_id"})


class RerunRefused(LineageError):
    """A rerun that would not replay what was recorded (changed inputs or code, a step that
    cannot be found); the message lists every problem and what to do."""


@dataclasses.dataclass
class RerunStep:
    """One recorded execution and what the rerun did with it: ``ran`` (called again),
    ``reused`` (before ``--from``, or a ``rerun=False`` step: its recorded outputs stood in),
    ``skipped`` (not a @step: a rollback, a tag, TFX's), ``failed`` (raised; the rerun stopped),
    ``not run`` (after a failure)."""

    original: Execution
    action: str
    note: str = ""
    execution: Optional[Execution] = None
    #: output key -> (recorded fingerprint, the rerun's)
    outputs: Dict[str, Tuple[Optional[str], Optional[str]]] = dataclasses.field(default_factory=dict)

    @property
    def reproduced(self) -> Optional[bool]:
        """True when every output is bit for bit the recorded one; None when it did not run."""
        if self.action != "ran" or self.execution is None:
            return None
        return all(a is not None and a == b for a, b in self.outputs.values())

    def to_dict(self) -> Dict[str, Any]:
        return {"step": type_leaf(self.original.type), "original": self.original.ref, "action": self.action,
                "note": self.note, "execution": self.execution.ref if self.execution else None,
                "state": self.execution.state if self.execution else None, "reproduced": self.reproduced,
                "outputs": {k: {"recorded": a, "rerun": b, "same": a is not None and a == b}
                            for k, (a, b) in self.outputs.items()}}


@dataclasses.dataclass
class RerunReport:
    """What a rerun did: the new run, each recorded step's fate, and the reproducibility verdict."""

    original: str
    run: str
    steps: List[RerunStep]
    error: Optional[str] = None

    @property
    def ran(self) -> List[RerunStep]:
        return [s for s in self.steps if s.action == "ran"]

    @property
    def reproduced(self) -> List[RerunStep]:
        return [s for s in self.ran if s.reproduced]

    @property
    def differed(self) -> List[RerunStep]:
        return [s for s in self.ran if not s.reproduced]

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> Dict[str, Any]:
        return {"original": self.original, "run": self.run, "ok": self.ok, "error": self.error,
                "ran": len(self.ran), "reproduced": len(self.reproduced), "differed": len(self.differed),
                "steps": [s.to_dict() for s in self.steps]}


# ---------------------------------------------------------------------------- the run


def find_run(store: Store, run: Any) -> Context:
    """A recorded run by name, by context reference (``c12``), or by experiment name (its newest
    run that is not itself a rerun); :class:`NotFound` naming the runs there are."""
    if isinstance(run, Context):
        return run
    text = str(run).strip()
    if text[:1].lower() == "c" and text[1:].isdigit():
        found = store.get_contexts([int(text[1:])])
        if found and found[0].type in RUN_CONTEXT_TYPES:
            return found[0]
        raise NotFound(f"{text} is not a pipeline run")
    for t in RUN_CONTEXT_TYPES:
        if store.has_type("context", t):
            ctx = store.get_context_by_name(t, text)
            if ctx is not None:
                return ctx
    if store.has_type("context", "PipelineRun"):
        runs = store.list_contexts(filter_query=f"type = 'PipelineRun' AND properties.experiment.string_value = "
                                                f"{quote(text)}", limit=None, order_by="id", ascending=False)
        if runs:   # its newest run that is not itself a rerun
            return next((c for c in runs if not c.properties.get("rerun_of")), runs[0])
    names = [c.name for c in store.list_contexts(filter_query="type = 'PipelineRun'", limit=50)] \
        if store.has_type("context", "PipelineRun") else []
    raise NotFound(f"no run named {text!r} (nor an experiment of that name) in {store.config.redacted()}"
                   + (f"; runs: {', '.join(names[:10])}" if names else "; the store has no runs"))


def parse_overrides(items: Sequence[str]) -> Dict[str, Dict[str, str]]:
    """``["Train.learning_rate=0.05", ...]`` as ``{"Train": {"learning_rate": "0.05"}}`` (the
    values still text: each is read against the recorded value's type)."""
    out: Dict[str, Dict[str, str]] = {}
    for item in items:
        target, sep, value = str(item).partition("=")
        step_name, dot, param = target.strip().rpartition(".")
        if not sep or not dot or not step_name or not param:
            raise InvalidInput(f"--set {item!r}: write Step.param=value (a step type of the run, one of its "
                               f"parameters, and the value), e.g. --set Train.learning_rate=0.05")
        out.setdefault(step_name, {})[param] = value
    return out


def _value(text: str, recorded: Any, what: str) -> Any:
    """``text`` read as the type of the recorded value (JSON for numbers, booleans, lists)."""
    if isinstance(recorded, str) or recorded is None and not text[:1] in "-0123456789[{tfn":
        return text
    try:
        value = json.loads(text)
    except ValueError:
        if recorded is None:
            return text
        raise InvalidInput(f"--set {what}={text}: the recorded value is {recorded!r} "
                           f"({type(recorded).__name__}); give one of that type (JSON)") from None
    if isinstance(recorded, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


# ---------------------------------------------------------------------------- finding steps


@dataclasses.dataclass
class _Plan:
    execution: Execution
    action: str                      # "run" | "reuse" | "skip"
    note: str = ""
    step: Optional[Step] = None
    inputs: Dict[str, int] = dataclasses.field(default_factory=dict)
    outputs: Dict[str, int] = dataclasses.field(default_factory=dict)


_scripts: Dict[str, ModuleType] = {}


def _load_file(path: Path, name: str, script: bool) -> ModuleType:
    """Import the file at ``path`` as module ``name`` (a script: never as ``__main__``, so its
    pipeline does not run)."""
    key = f"{name}:{path}"
    if key in _scripts:
        return _scripts[key]
    if script and "__main__" not in path.read_text(errors="replace"):
        raise RerunRefused(f"{path} defines its steps and runs its pipeline as it is read (it has no "
                           f"`if __name__ == \"__main__\":`): put the pipeline under that line so the steps "
                           f"can be loaded without running it")
    spec = importlib.util.spec_from_file_location(name, str(path))
    if spec is None or spec.loader is None:
        raise RerunRefused(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise RerunRefused(f"loading {path} failed: {type(exc).__name__}: {exc}") from None
    _scripts[key] = module
    return module


def _attribute(module: ModuleType, qualname: str, where: str) -> Step:
    if "<locals>" in qualname:
        raise RerunRefused(f"step {qualname} in {where} is defined inside a function; a rerun can only "
                           f"reach steps defined at module level (or as class attributes)")
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise RerunRefused(f"{where} has no {qualname} now (renamed or removed since the run?)")
    if not isinstance(obj, Step):
        raise RerunRefused(f"{where}:{qualname} is no longer a @step")
    return obj


def _load_step(name: str, entry: Optional[str]) -> Step:
    module_name, _, qualname = name.partition(":")
    if not qualname:
        raise RerunRefused(f"step {name!r} is not a module:qualname (recorded by another tool?)")
    if module_name == "__main__":
        if not entry:
            raise RerunRefused(f"step {qualname} was defined in the script that ran, and the run recorded no "
                               f"script path (it was recorded before lineage kept one, or from a notebook)")
        return _attribute(_load_file(Path(entry), "_lineage_rerun_main", script=True), qualname, entry)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise RerunRefused(f"cannot import {module_name} (step {qualname}): {type(exc).__name__}: {exc}; run "
                           f"lineage rerun where the pipeline ran, or put its folder on PYTHONPATH") from None
    return _attribute(module, qualname, module_name)


def _load_snapshot(name: str, art: Artifact) -> Step:
    """The step as the recorded source snapshot defines it."""
    module_name, _, qualname = name.partition(":")
    path = materialize(art.uri, art.fingerprint, f"source snapshot {art.ref}") if is_remote(art.uri) else art.path
    digest = str(art.fingerprint or "").rpartition(":")[2][:12] or str(art.id)
    package = module_name.rpartition(".")[0] if module_name != "__main__" else ""
    if package:
        importlib.import_module(package)   # its relative imports resolve in the package
    return _attribute(_load_file(Path(path), f"{package + '.' if package else ''}_lineage_snapshot_{digest}",
                                 script=module_name == "__main__"), qualname, f"snapshot {art.ref}")


# ---------------------------------------------------------------------------- rerun


def _events(store: Store, ids: Sequence[int]) -> Tuple[Dict[int, Dict[str, int]], Dict[int, Dict[str, int]]]:
    ins: Dict[int, Dict[str, int]] = {i: {} for i in ids}
    outs: Dict[int, Dict[str, int]] = {i: {} for i in ids}
    for ev in store.events_of_executions(list(ids)):
        side = ins if ev.type in INPUT_EVENTS else outs if ev.type in OUTPUT_EVENTS else None
        if side is None:
            continue
        for key in ev.keys or (f"#{len(side[ev.execution_id])}",):   # one artifact may be bound to two arguments
            side[ev.execution_id][key] = ev.artifact_id
    return ins, outs


def _code_problem(store: Store, e: Execution, step: Step, snapshot: Optional[Artifact], why: str) -> str:
    recorded = e.properties.get("source_hash")
    text = (f"step {type_leaf(e.type)} ({e.ref}, {e.get('step')}): its source changed since the run "
            f"(recorded {str(recorded)[:19]}…, now {step.source_hash[:19]}…)")
    code = code_of(store, e)
    if why:
        text += f"; its source snapshot {snapshot.ref if snapshot else ''} could not be used ({why})"
    if code.get("git_commit") and code.get("git_dirty") is False:
        text += (f"; the run was recorded from a clean tree at commit {code['git_commit'][:12]}: "
                 f"`git checkout {code['git_commit'][:12]}` and rerun")
    elif code.get("git_commit"):
        text += f"; the run was recorded from a dirty tree at commit {code['git_commit'][:12]}"
    return text + "; or pass --allow-code-change to run today's code (the new run records it)"


def rerun(store: Store, run: Any, *, from_step: Optional[str] = None,
          overrides: Optional[Mapping[str, Mapping[str, str]]] = None, allow_code_change: bool = False,
          name: Optional[str] = None, progress: Optional[Callable[[str], None]] = None) -> RerunReport:
    """Execute recorded run ``run`` again into a new run (see the module docstring).

    Raises :class:`RerunRefused` (nothing run, nothing recorded) when it would not replay what
    was recorded. A step that raises stops the rerun: the report says which (``error``), the new
    run is recorded FAILED."""
    ctx = find_run(store, run)
    if ctx.type != "PipelineRun":
        raise RerunRefused(f"run {ctx.name!r} was recorded by TFX ({ctx.type}); lineage reruns the runs its "
                           f"@step recorded")
    executions = sorted(store.executions_in_context(ctx.id, limit=None), key=lambda e: e.id)
    if not executions:
        raise RerunRefused(f"run {ctx.name!r} recorded no steps: nothing to rerun")
    entry = ctx.properties.get("entry_point")
    if entry and Path(entry).is_file():
        folder = str(Path(entry).parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)     # as `python script.py` had it
    problems: List[str] = []
    plans = _plan(store, ctx, executions, from_step, entry, allow_code_change, problems)
    _check_inputs(store, plans, problems)
    given = _check_overrides(plans, overrides or {}, problems)
    if problems:
        raise RerunRefused(f"rerun of {ctx.name} refused, nothing was run or recorded:\n  - "
                           + "\n  - ".join(problems))
    new_name = name or f"{ctx.name}-rerun-{_dt.datetime.now(_dt.timezone.utc).strftime('%Y%m%dT%H%M%S')}-" \
                       f"{secrets.token_hex(2)}"
    flat = {f"{s}.{k}": v for s, d in given.items() for k, v in d.items()}
    report = RerunReport(ctx.name, new_name, [])
    new_run = Run(str(ctx.properties.get("pipeline") or "default"), ctx.properties.get("experiment"),
                  new_name, store)
    with new_run:
        store.put_context("PipelineRun", new_name, {
            "rerun_of": ctx.name, "rerun_from": from_step, "code_change_allowed": allow_code_change or None,
            "entry_point": entry,   # the original's script: a rerun of this rerun finds its steps there
            "rerun_overrides": json.dumps(flat, sort_keys=True) if flat else None})
        failed = _execute(store, plans, given, report, progress or (lambda _text: None))
        if failed is not None:
            new_run.finish(failed)
    return report


def _plan(store: Store, ctx: Context, executions: List[Execution], from_step: Optional[str],
          entry: Optional[str], allow_code_change: bool, problems: List[str]) -> List[_Plan]:
    """What to do with each recorded execution, the step to call for those that run again."""
    ins, outs = _events(store, [e.id for e in executions])
    start = 0
    if from_step:
        wanted = from_step.strip()
        hits = [i for i, e in enumerate(executions) if wanted in (type_leaf(e.type), e.type, e.ref, e.get("step"))]
        if not hits:
            raise InvalidInput(f"--from {from_step!r}: run {ctx.name} has no such step; its steps: "
                               + ", ".join(f"{type_leaf(e.type)} ({e.ref})" for e in executions))
        start = hits[0]
    plans: List[_Plan] = []
    for i, e in enumerate(executions):
        plan = _Plan(e, "run", inputs=ins[e.id], outputs=outs[e.id])
        plans.append(plan)
        if not e.get("step") or ":" not in str(e.get("step")):
            plan.action, plan.note = "skip", "not a @step (nothing to call)"
        elif i < start:
            plan.action, plan.note = "reuse", f"before --from {from_step}"
        else:
            try:
                plan.step = _load_step(str(e.get("step")), entry)
            except RerunRefused as exc:
                problems.append(str(exc))
                continue
            if not plan.step.rerun:
                plan.action, plan.note = "reuse", "@step(rerun=False): not repeated"
            else:
                _check_code(store, plan, allow_code_change, problems)
    return plans


def _check_code(store: Store, plan: _Plan, allow_code_change: bool, problems: List[str]) -> None:
    """The step's source must be the recorded one: today's, or the recorded snapshot's."""
    e, step = plan.execution, plan.step
    recorded = e.properties.get("source_hash")
    if step is None or not recorded or step.source_hash == recorded:
        return
    snap_id = plan.inputs.get(SOURCE_KEY)
    snap = store.get_artifact(snap_id) if snap_id is not None else None
    why = ""
    if snap is not None:
        try:
            candidate = _load_snapshot(str(e.get("step")), snap)
            if candidate.source_hash == recorded:
                plan.step, plan.note = candidate, f"ran its source snapshot {snap.ref}"
                return
            why = "it does not hold the recorded source either"
        except LineageError as exc:
            why = str(exc)
    if allow_code_change:
        plan.note = "today's code (--allow-code-change)"
    else:
        problems.append(_code_problem(store, e, step, snap, why))


def _check_inputs(store: Store, plans: List[_Plan], problems: List[str]) -> None:
    """Inputs made outside the steps that run again must still hold what they held."""
    produced = {aid for p in plans if p.action == "run" for aid in p.outputs.values()}
    users: Dict[int, List[str]] = {}
    for p in plans:
        if p.action == "run":
            for key, aid in p.inputs.items():
                if key != SOURCE_KEY and aid not in produced:
                    users.setdefault(aid, []).append(f"{type_leaf(p.execution.type)}.{key}")
    arts = {a.id: a for a in store.get_artifacts(sorted(users))} if users else {}
    for aid in sorted(users):
        art = arts.get(aid)
        if art is None:
            problems.append(f"input a{aid} is not in the store")
            continue
        report = verify(store, art)
        where = f"input {art.ref} ({art.type} {art.uri}, read by {', '.join(users[aid])})"
        if report.changed:
            problems.append(f"{where} changed since it was recorded: recorded {art.fingerprint}, now "
                            f"{report.changed[0][1]}; restore the recorded content to rerun")
        elif report.missing:
            problems.append(f"{where} is missing; restore it (recorded {art.fingerprint})")
        elif report.deleted:
            problems.append(f"{where} was {report.deleted[0][1]}: its content is gone, the run cannot be "
                            f"replayed from there")


def _check_overrides(plans: List[_Plan], overrides: Mapping[str, Mapping[str, str]],
                     problems: List[str]) -> Dict[str, Dict[str, Any]]:
    """``--set``: each must name a parameter of a step that runs again; values typed as recorded."""
    given: Dict[str, Dict[str, Any]] = {}
    running = [p for p in plans if p.action == "run" and p.step is not None]
    for step_name, params in overrides.items():
        targets = [p for p in running if step_name in (type_leaf(p.execution.type), p.execution.type)]
        if not targets:
            problems.append(f"--set {step_name}.…: no step {step_name} runs again in this rerun; steps that do: "
                            + ", ".join(sorted({type_leaf(p.execution.type) for p in running})))
            continue
        for param, text in params.items():
            assert targets[0].step is not None
            names = _parameter_names(targets[0].step)
            if param not in names:
                problems.append(f"--set {step_name}.{param}: {step_name} has no parameter {param!r}; its "
                                f"parameters: {', '.join(sorted(names)) or 'none'}")
                continue
            try:
                value = _value(text, targets[0].execution.params.get(param), f"{step_name}.{param}")
            except InvalidInput as exc:
                problems.append(str(exc))
                continue
            given.setdefault(type_leaf(targets[0].execution.type), {})[param] = value
    return given


def _execute(store: Store, plans: List[_Plan], given: Mapping[str, Mapping[str, Any]], report: RerunReport,
             say: Callable[[str], None]) -> Optional[BaseException]:
    """Call the steps in order, inside the new run; fill ``report``. Returns what a step raised."""
    made: Dict[int, Artifact] = {}    # recorded artifact id -> the rerun's artifact
    failed: Optional[BaseException] = None
    total = sum(1 for p in plans if p.action == "run")
    done = 0
    for plan in plans:
        e = plan.execution
        if plan.action != "run":
            report.steps.append(RerunStep(e, "reused" if plan.action == "reuse" else "skipped", plan.note))
            continue
        if failed is not None:
            report.steps.append(RerunStep(e, "not run", "an earlier step failed"))
            continue
        done += 1
        say(f"[{done}/{total}] {type_leaf(e.type)} (was {e.ref})")
        assert plan.step is not None
        args, kwargs = _arguments(store, plan, made, given.get(type_leaf(e.type), {}))
        try:
            _, new = plan.step.for_rerun(str(e.get("step"))).call_recorded(*args, **kwargs)
        except Exception as exc:
            failed = exc
            report.error = f"step {type_leaf(e.type)} failed: {type(exc).__name__}: {exc}"
            report.steps.append(RerunStep(e, "failed", report.error))
            continue
        report.steps.append(_compared(store, plan, new, made))
    return failed


def _compared(store: Store, plan: _Plan, new: Execution, made: Dict[int, Artifact]) -> RerunStep:
    """The rerun step with each output's recorded and new fingerprint (``made`` learns the new ones)."""
    e = plan.execution
    result = RerunStep(e, "ran", plan.note, new)
    _, new_outs = _events(store, [new.id])
    new_ids = {k: v for k, v in new_outs[new.id].items() if not k.startswith("lineage:")}
    old_ids = {k: v for k, v in plan.outputs.items() if not k.startswith("lineage:")}
    arts = {a.id: a for a in store.get_artifacts(sorted({*new_ids.values(), *old_ids.values()}))}
    for key in sorted(set(new_ids) | set(old_ids)):
        old, now = arts.get(old_ids.get(key, -1)), arts.get(new_ids.get(key, -1))
        result.outputs[key] = (old.fingerprint if old else None, now.fingerprint if now else None)
        if old is not None and now is not None:
            made[old.id] = now
    if not old_ids and not new_ids:   # a step that only returns: its returned value
        result.outputs["(returned)"] = (e.properties.get("result"), new.properties.get("result"))
    return result


def _parameter_names(step: Step) -> set:
    specs = step.artifact_args
    return {n for n, p in step.signature.parameters.items()
            if n not in specs and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _arguments(store: Store, plan: _Plan, made: Mapping[int, Artifact],
               given: Mapping[str, Any]) -> Tuple[List[Any], Dict[str, Any]]:
    """The call's arguments: recorded inputs (or what the rerun made in their place), recorded
    parameters (or ``--set`` ones); outputs are allocated by the step as always."""
    step, e = plan.step, plan.execution
    assert step is not None
    specs: Mapping[str, ArtifactArg] = step.artifact_args
    params = {k: v for k, v in e.params.items() if k not in _NOT_PARAMS}
    params.update(given)
    recorded_inputs = {k: v for k, v in plan.inputs.items() if k != SOURCE_KEY}
    stored = {a.id: a for a in store.get_artifacts(sorted(recorded_inputs.values()))}

    def artifact(aid: int) -> Artifact:
        return made.get(aid) or stored[aid]

    args: List[Any] = []
    kwargs: Dict[str, Any] = {}
    named = set()
    for pname, p in step.signature.parameters.items():
        spec = specs.get(pname)
        if spec is not None:
            named.add(pname)
            if spec.direction == "output" or pname not in recorded_inputs:
                continue          # allocated by the step / an optional input not given
            value: Any = artifact(recorded_inputs[pname])
        elif p.kind == p.VAR_POSITIONAL:
            args.extend(params.get(pname) or ())
            named.add(pname)
            continue
        elif p.kind == p.VAR_KEYWORD:
            continue
        else:
            named.add(pname)
            if pname in recorded_inputs:     # a path parameter recorded as an input (paths_as_inputs)
                path = artifact(recorded_inputs[pname]).path
                value = path if isinstance(p.annotation, type) and issubclass(p.annotation, Path) else str(path)
            elif pname in params:
                value = params[pname]
            else:
                continue                # not recorded: its default
        if p.kind == p.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[pname] = value
    if any(p.kind == p.VAR_KEYWORD for p in step.signature.parameters.values()):
        kwargs.update({k: v for k, v in params.items() if k not in named})
    return args, kwargs

