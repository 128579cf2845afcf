"""``@step`` and ``record()``: every run of a step becomes an MLMD execution.

A call of a decorated step:

1. binds the arguments: ``Input[T]`` ones are resolved to stored artifacts (registering and
   fingerprinting external data on first use), ``Output[T]`` ones are allocated by the recorder,
   every other argument is a parameter;
2. with ``cache=True``, looks for a COMPLETE execution of the same step type with the same
   cache key (source hash, parameters, input fingerprints) whose outputs still verify on disk;
   on a hit it records a CACHED execution linked to those outputs and returns them;
3. writes the execution RUNNING (with its INPUT events and contexts) before the body runs;
4. runs the body; on return fingerprints the outputs and writes the OUTPUT events, properties
   and COMPLETE state in one MLMD call; on an exception writes FAILED with the error's type and
   message and re-raises the exception unchanged.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import inspect
import json
import logging
import secrets
import time
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .api import Lineage, current_lineage
from .codeversion import code_version, source_hash
from .errors import FingerprintError, InvalidInput, LineageError
from .fingerprint import fingerprint
from .records import Artifact, Context, Execution
from .runs import current_run
from .store import _json_default, _quote
from .types import ArtifactArg, OutputArtifact

__all__ = ["step", "Step", "StepResult", "record", "attach_context", "annotate"]

log = logging.getLogger("lineage")


def _now() -> float:
    return round(time.time(), 3)


class StepResult(MappingABC):
    """The outputs of a recorded step run, by argument name (also as attributes).

    ``execution`` is the recorded execution; ``value`` what the step body returned.
    """

    def __init__(self, execution: Execution, outputs: Mapping[str, Artifact], value: Any = None):
        self.execution = execution
        self._outputs = dict(outputs)
        self.value = value

    def __getitem__(self, key: str) -> Artifact:
        return self._outputs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)

    def __getattr__(self, key: str) -> Artifact:
        try:
            return self.__dict__["_outputs"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self) -> str:
        outs = ", ".join(f"{k}=a{v.id}" for k, v in self._outputs.items())
        return f"StepResult(e{self.execution.id} {self.execution.state}: {outs})"


def _params_json(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=_json_default)


def _cache_key(type_name: str, src: str, params: Mapping[str, Any],
               inputs: Sequence[Tuple[str, Artifact]]) -> str:
    doc = {
        "type": type_name,
        "source": src,
        "params": _params_json(params),
        "inputs": sorted((key, a.fingerprint or f"id:{a.id}") for key, a in inputs),
    }
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _error_props(exc: BaseException) -> Dict[str, Any]:
    return {"error_type": type(exc).__name__, "error_message": str(exc)[:4000],
            "ended_at": _now()}


class Step:
    """A decorated step. Call it like the function; see the module docstring."""

    def __init__(self, fn: Callable[..., Any], *, name: Optional[str] = None,
                 type: Optional[str] = None, cache: bool = False) -> None:
        if not callable(fn):
            raise InvalidInput(f"@step decorates a function, not {fn!r}")
        self.fn = fn
        functools.update_wrapper(self, fn)
        self.name = name or f"{fn.__module__}:{fn.__qualname__}"
        self.type_name = type or fn.__name__
        self.cache = cache
        self._signature: Optional[inspect.Signature] = None
        self._source_hash: Optional[str] = None
        self._is_async = inspect.iscoroutinefunction(fn)

    def __repr__(self) -> str:
        return f"<step {self.type_name} ({self.name})>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    # ------------------------------------------------------------------ analysis

    @property
    def signature(self) -> inspect.Signature:
        if self._signature is None:
            from . import types as _types

            # Names the annotations may use without importing them where the step is defined
            # (a step defined inside a function whose imports are local, say).
            known = {n: getattr(_types, n) for n in _types.__all__}
            known.update(_types.ArtifactType.declared())
            try:
                self._signature = inspect.signature(self.fn, eval_str=True, locals=known)
            except (NameError, TypeError) as exc:
                raise InvalidInput(
                    f"step {self.type_name}: cannot evaluate its annotations ({exc}); import "
                    f"Input/Output and the artifact types where the step is defined"
                ) from None
        return self._signature

    @property
    def artifact_args(self) -> Dict[str, ArtifactArg]:
        return {name: p.annotation for name, p in self.signature.parameters.items()
                if isinstance(p.annotation, ArtifactArg)}

    @property
    def source_hash(self) -> str:
        if self._source_hash is None:
            self._source_hash = source_hash(self.fn)
        return self._source_hash

    # ------------------------------------------------------------------- calling

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = _Call(self, args, kwargs)
        hit = call.begin()
        if hit is not None:
            return hit
        if self._is_async:
            return self._call_async(call)
        token = _active_call.set(call)
        try:
            value = self.fn(*call.args, **call.kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            _active_call.reset(token)
        return call.complete(value)

    async def _call_async(self, call: "_Call") -> Any:
        token = _active_call.set(call)
        try:
            value = await self.fn(*call.args, **call.kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            _active_call.reset(token)
        return call.complete(value)


_active_call: "contextvars.ContextVar[Optional[_Call]]" = contextvars.ContextVar(
    "lineage_step_call", default=None)


def current_execution_id() -> Optional[int]:
    """From inside a @step body: the id of the execution being recorded."""
    call = _active_call.get()
    return call.execution_id if call is not None else None


def annotate(**properties: Any) -> None:
    """From inside a @step body: record these properties on this execution (declared
    properties of its type, or custom ones), with its final state."""
    call = _active_call.get()
    if call is None:
        raise InvalidInput("annotate() is called from inside a @step body")
    call.annotations.update(properties)


def attach_context(type: str, name: str, properties: Optional[Mapping[str, Any]] = None) -> Context:
    """From inside a step body: also associate this execution (and attribute its artifacts)
    with the context ``type``/``name``, created if needed (e.g. a model's ServingEndpoint)."""
    call = _active_call.get()
    if call is None:
        raise InvalidInput("attach_context() is called from inside a @step body")
    ctx = call.lineage.store.put_context(type, name, properties or {}, update=bool(properties))
    if ctx.id not in call.context_ids:
        call.context_ids.append(ctx.id)
    return ctx


class _Call:
    """The state of one call of a step, from binding to the final write."""

    def __init__(self, step: Step, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        self.step = step
        sig = step.signature
        specs = step.artifact_args
        try:
            bound = sig.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"step {step.type_name}: {exc}") from None
        for name, spec in specs.items():
            if spec.direction == "output" and name in bound.arguments:
                raise InvalidInput(
                    f"step {step.type_name}: output {name!r} is allocated by lineage; "
                    f"do not pass it"
                )
        bound.apply_defaults()
        missing = [n for n, p in sig.parameters.items()
                   if n not in bound.arguments and n not in specs
                   and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        missing += [n for n, s in specs.items() if s.direction == "input" and n not in bound.arguments]
        if missing:
            raise InvalidInput(f"step {step.type_name}: missing argument(s) {', '.join(missing)}")
        self.bound = bound
        self.specs = specs
        self.run = current_run()
        self.lineage: Lineage = self.run.lineage if self.run else current_lineage()
        self.execution_id: Optional[int] = None
        self.outputs: Dict[str, OutputArtifact] = {}
        self.annotations: Dict[str, Any] = {}

    # The body gets the resolved arguments, through the bound signature.
    @property
    def args(self) -> tuple:
        return self.bound.args

    @property
    def kwargs(self) -> Dict[str, Any]:
        return self.bound.kwargs

    def begin(self) -> Optional[Any]:
        step, lin = self.step, self.lineage
        inputs: List[Tuple[str, Artifact]] = []
        params: Dict[str, Any] = {}
        for name, value in self.bound.arguments.items():
            spec = self.specs.get(name)
            kind = step.signature.parameters[name].kind
            if spec is None:
                if kind == inspect.Parameter.VAR_KEYWORD:
                    params.update(value)
                elif kind == inspect.Parameter.VAR_POSITIONAL:
                    if value:
                        params[name] = list(value)
                else:
                    params[name] = value
            elif spec.direction == "input":
                if value is None:
                    continue  # an optional input that was not given
                art = lin.resolve_artifact(value, spec.type_name,
                                           what=f"step {step.type_name}: input {name!r}")
                inputs.append((name, art))
                self.bound.arguments[name] = art
        self.inputs = inputs
        self.params = params
        code = dict(self.run.code) if self.run else code_version()
        try:
            code.update(_git_for(step.fn))
        except Exception:  # git trouble never stops a step
            pass
        self.context_ids = list(self.run.context_ids) if self.run else []
        self.properties: Dict[str, Any] = {
            "step": step.name, "source_hash": step.source_hash,
            "cache_key": _cache_key(step.type_name, step.source_hash, params, inputs),
            "started_at": _now(), **code,
        }
        if step.cache:
            hit = self._cached()
            if hit is not None:
                return hit
        execution, _ = lin.store.write_execution(
            type=step.type_name, state="RUNNING", properties=self.properties, params=params,
            inputs=[(a.id, k) for k, a in inputs], context_ids=self.context_ids, reread=False,
        )
        self.execution_id = execution.id
        parent = Path(lin.artifact_root) / step.type_name / str(execution.id)
        if parent.exists() and any(parent.iterdir()):
            # Left by another store sharing this artifact root (or a deleted store file):
            # never write into it.
            parent = parent.with_name(f"{execution.id}-{secrets.token_hex(4)}")
        self.output_dir = parent
        for name, spec in self.specs.items():
            if spec.direction != "output":
                continue
            parent.mkdir(parents=True, exist_ok=True)
            out = OutputArtifact(spec.type_name, str(parent / name), name)
            self.outputs[name] = out
            self.bound.arguments[name] = out
        log.info("step %s started as execution %s", step.type_name, execution.id)
        return None

    def _cached(self) -> Optional[Any]:
        """A CACHED execution reusing a previous COMPLETE one's verified outputs, or None."""
        store = self.lineage.store
        if ("execution", self.step.type_name) not in store._types:
            return None
        q = (f"type = {_quote(self.step.type_name)} AND last_known_state = COMPLETE AND "
             f"properties.cache_key.string_value = {_quote(self.properties['cache_key'])}")
        wanted = {n for n, s in self.specs.items() if s.direction == "output"}
        for cand in store.list_executions(filter_query=q, limit=5):
            events = [e for e in store.events_of_executions([cand.id]) if e.type == "OUTPUT"]
            by_key = {e.key: e.artifact_id for e in events}
            if set(by_key) != wanted:
                continue
            arts = {a.id: a for a in store.get_artifacts(by_key.values())}
            if not all(_verifies(arts.get(i)) for i in by_key.values()):
                log.info("cache: outputs of execution %s no longer verify", cand.id)
                continue
            props = dict(self.properties, cached_from=cand.id, ended_at=_now())
            execution, outs = store.write_execution(
                type=self.step.type_name, state="CACHED", properties=props, params=self.params,
                inputs=[(a.id, k) for k, a in self.inputs],
                outputs=[(i, k) for k, i in by_key.items()], context_ids=self.context_ids,
            )
            log.info("step %s: cache hit, reused execution %s", self.step.type_name, cand.id)
            outputs = {k: a for (k, _), a in zip(by_key.items(), outs)}
            return self._result(execution, outputs, None)
        return None

    def fail(self, exc: BaseException) -> None:
        if self.execution_id is None:
            return
        state = "CANCELED" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "FAILED"
        try:
            self.lineage.store.write_execution(
                type=self.step.type_name, state=state, execution_id=self.execution_id,
                properties={**self.annotations, **_error_props(exc)}, context_ids=self.context_ids,
            )
        except Exception:
            log.warning("could not record execution %s as %s", self.execution_id, state,
                        exc_info=log.isEnabledFor(logging.DEBUG))

    def complete(self, value: Any) -> Any:
        step = self.step
        new_outputs: List[Tuple[Artifact, str]] = []
        try:
            for name, out in self.outputs.items():
                try:
                    fp = fingerprint(out.path)
                except FingerprintError:
                    raise FingerprintError(
                        f"step {step.type_name} returned without writing its output {name!r} at "
                        f"{out.uri}: write a file or create a directory at {name}.path"
                    ) from None
                props = dict(out.properties)
                props.update(fingerprint=fp.digest, size_bytes=fp.size_bytes,
                             file_count=fp.file_count)
                new_outputs.append((Artifact(id=None, type=out.type, uri=out.uri,
                                             properties=props), name))
        except LineageError as exc:
            self.fail(exc)
            raise
        props: Dict[str, Any] = dict(self.annotations, ended_at=_now())
        if value is not None:
            props["result"] = json.dumps(value, default=_json_default, sort_keys=True)
        execution, outs = self.lineage.store.write_execution(
            type=step.type_name, state="COMPLETE", execution_id=self.execution_id,
            properties=props, outputs=new_outputs, context_ids=self.context_ids,
            reread=len(new_outputs) > 1,  # only a StepResult hands the execution out
        )
        for out in self.outputs.values():  # an output the body moved elsewhere (out.uri = ...)
            parent = self.output_dir
            try:
                if not Path(out.uri).is_relative_to(parent) and parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()
            except OSError:
                pass
        log.info("step %s complete (execution %s)", step.type_name, execution.id)
        outputs = {name: art for (_, name), art in zip(new_outputs, outs)}
        return self._result(execution, outputs, value)

    def _result(self, execution: Execution, outputs: Dict[str, Artifact], value: Any) -> Any:
        if not self.outputs and not outputs:
            return value
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return StepResult(execution, outputs, value)


def _verifies(art: Optional[Artifact]) -> bool:
    if art is None or not art.fingerprint:
        return False
    try:
        return fingerprint(art.path).digest == art.fingerprint
    except FingerprintError:
        return False


def _git_for(fn: Callable[..., Any]) -> Dict[str, Any]:
    from .codeversion import git_state

    try:
        src = inspect.getsourcefile(fn)
    except TypeError:
        src = None
    return git_state(Path(src).parent) if src else {}


def step(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
         type: Optional[str] = None, cache: bool = False) -> Any:
    """Record every call of the decorated function. ``@step`` and ``@step(...)`` both work.

    ``type`` is the MLMD execution type (default: the function's name), ``name`` the step
    name recorded with it (default: ``module:qualname``), ``cache=True`` reuses a previous
    identical run whose outputs still verify.
    """
    if fn is None:
        return lambda f: Step(f, name=name, type=type, cache=cache)
    return Step(fn, name=name, type=type, cache=cache)


def record(
    type: str,
    *,
    inputs: Optional[Mapping[str, Union[Any, Sequence[Any]]]] = None,
    outputs: Optional[Mapping[str, Union[Artifact, Sequence[Artifact]]]] = None,
    params: Optional[Mapping[str, Any]] = None,
    state: str = "COMPLETE",
    started_at: Optional[float] = None,
    ended_at: Optional[float] = None,
    properties: Optional[Mapping[str, Any]] = None,
    contexts: Sequence[Tuple[str, str]] = (),
    store: Union[Lineage, str, None] = None,
) -> StepResult:
    """Record a step run that happened elsewhere, in one MLMD call.

    ``inputs`` map argument names to artifacts (records, ids, or ``Type.at(uri)``; a list
    for several), ``outputs`` to new artifacts (``Model.at(uri)``), fingerprinted when they are
    local. ``started_at``/``ended_at`` are UNIX timestamps in seconds. The run context active
    here (if any) is attached, and every ``(type, name)`` in ``contexts`` (created if
    needed). Returns the execution and its stored outputs.
    """
    if not isinstance(type, str) or not type:
        raise InvalidInput("record() needs the execution type as a non-empty string")
    state = state.upper()
    if state not in ("COMPLETE", "FAILED", "RUNNING", "CACHED", "CANCELED", "NEW"):
        raise InvalidInput(f"record(): unknown state {state!r}")
    active = current_run()
    lin = store if isinstance(store, Lineage) else (
        Lineage.open(store) if store else (active.lineage if active else current_lineage()))
    in_pairs: List[Tuple[int, str]] = []
    for key, value in (inputs or {}).items():
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            art = lin.resolve_artifact(item, None, what=f"record({type}): input {key!r}")
            in_pairs.append((art.id, key))
    out_pairs: List[Tuple[Any, str]] = []
    for key, value in (outputs or {}).items():
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(item, int):
                out_pairs.append((item, key))
                continue
            if not isinstance(item, Artifact):
                raise InvalidInput(
                    f"record({type}): output {key!r} must be an artifact such as Model.at(uri)"
                )
            if item.id is not None:
                out_pairs.append((item.id, key))
                continue
            props = dict(item.properties)
            props.pop("external", None)
            if "://" not in item.uri and item.path.exists():
                fp = fingerprint(item.path)
                props.update(fingerprint=fp.digest, size_bytes=fp.size_bytes,
                             file_count=fp.file_count)
            out_pairs.append((Artifact(id=None, type=item.type, uri=item.uri, properties=props,
                                       custom_properties=item.custom_properties), key))
    props = dict(code_version() if active is None else active.code)
    props.update({"step": type, "started_at": started_at, "ended_at": ended_at})
    props.update(properties or {})
    context_ids = list(active.context_ids) if active else []
    for ctype, cname in contexts:
        context_ids.append(lin.store.put_context(ctype, cname, update=False).id)
    execution, outs = lin.store.write_execution(
        type=type, state=state, properties=props, params=dict(params or {}),
        inputs=in_pairs, outputs=out_pairs, context_ids=context_ids,
    )
    result: Dict[str, Artifact] = {}
    for (_, key), art in zip(out_pairs, outs):
        result.setdefault(key, art)
    return StepResult(execution, result)
