"""``@step``: every call of a decorated function becomes an MLMD execution.

A call of a decorated step:

1. binds the arguments: ``Input[T]`` ones are resolved to stored artifacts (registering and
   fingerprinting external data on first use), ``Output[T]`` ones are allocated by the recorder,
   every other argument is a parameter;
2. with ``cache=True``, looks for a COMPLETE execution of the same step type with the same
   cache key (source hash, parameters, input fingerprints) whose outputs still verify on disk;
   on a hit it records a CACHED execution linked to those outputs and returns them;
3. runs the body, what it prints and logs captured (:mod:`lineage.recorder.capture`). Once the
   body has run for ``$LINEAGE_RUNNING_AFTER`` seconds (1 by default) the execution is written
   RUNNING with its INPUT events and contexts, so a long step is visible and a killed one leaves
   a trace; a step that ends sooner is written once, whole;
4. on return fingerprints the outputs and writes the execution with its OUTPUT events,
   properties and COMPLETE state in one MLMD call; on an exception writes FAILED with the
   error's type and message and re-raises the exception unchanged. Either way, what lineage
   keeps of the run goes in the same call: the metric histories the body logged (``Metrics``,
   :mod:`lineage.recorder.metrics`) and, when it
   failed (or with ``capture=True``), its log and traceback (``StepLog``).

All of it goes through :class:`lineage.recorder.recording.Recording`. Sync and async steps share
the binding and the writes; only the call of the body differs.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import inspect
import json
import logging
import numbers
import os
import secrets
import shutil
import time
import traceback
import types
import typing
import uuid
import warnings
import weakref
from collections.abc import Mapping as MappingABC
from pathlib import Path, PurePath
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..codeversion import git_state, source_hash
from ..errors import FingerprintError, InvalidInput, LineageError
from ..fingerprint import fingerprint
from ..objects import join, upload
from ..query import tainted, trace
from ..records import Artifact, Execution
from ..store import Store
from ..types import ArtifactArg, ArtifactType, OutputArtifact, annotation_names
from ..values import cache_form, describe
from ..vocab import LOG_KEY, METRICS_KEY, SOURCE_KEY, is_local, quote
from ..schema import REGISTRY
from ..uris import to_uri
from .artifacts import resolve_artifact
from .capture import Capture, capture_mode, capturing
from .current import active_run, current_store
from . import live
from .recording import Recording, now, running_after
from .snapshots import snapshot

__all__ = ["step", "Step", "StepResult", "LineageWarning", "check_parameter"]

log = logging.getLogger("lineage")


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


def cache_key(type_name: str, src: str, params: Mapping[str, Any],
              inputs: Sequence[Tuple[str, Artifact]]) -> str:
    """What makes two calls of a step the same: its type, source, parameters and inputs' content."""
    doc = {
        "type": type_name,
        "source": src,
        # equal values are equal here (5 and 5.0), as they are once recorded and compared
        "params": {k: cache_form(v, f"step {type_name}: parameter {k!r}") for k, v in params.items()},
        "inputs": sorted((key, a.fingerprint or f"id:{a.id}") for key, a in inputs),
    }
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class Step:
    """A decorated step. Call it like the function; see the module docstring."""

    def __init__(self, fn: Callable[..., Any], *, name: Optional[str] = None,
                 type: Optional[str] = None, cache: bool = False, capture: Any = None,
                 paths_as_inputs: Optional[bool] = None, rerun: bool = True) -> None:
        if not callable(fn):
            raise InvalidInput(f"@step decorates a function, not {fn!r}")
        self.fn = fn
        functools.update_wrapper(self, fn)
        self.name = name or f"{fn.__module__}:{fn.__qualname__}"
        self.type_name = type or fn.__name__
        self.cache = cache
        self.capture = capture  # True/"always", False/"off", "failed", None: $LINEAGE_CAPTURE (default failed)
        if capture is not None:
            capture_mode(capture)  # a bad value is refused here, not at the first call
        self._signature: Optional[inspect.Signature] = None
        self._source_hash: Optional[str] = None
        self._src_dir: Optional[Path] = None
        self._git: Optional[Tuple[Any, Dict[str, Any]]] = None  # (the run it was asked in, weakly; state)
        self._is_async = inspect.iscoroutinefunction(fn)
        # a parameter naming an existing file: recorded as an input (True), or warned about once
        self.paths_as_inputs = paths_as_inputs
        #: False: ``lineage rerun`` does not call it again (its effect is outside the record: a
        #: push to serving, a module publish); its recorded outputs stand in for the rerun's
        self.rerun = rerun
        self._warned: set = set()

    def __repr__(self) -> str:
        return f"<step {self.type_name} ({self.name})>"

    def for_rerun(self, name: str) -> "Step":
        """This step as ``lineage rerun`` calls it: recorded under ``name`` (the original's, even
        when loaded from a snapshot or a script), never answered from the cache."""
        again = copy.copy(self)
        again.name, again.cache, again._git, again._warned = name, False, None, set()
        return again

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    # ------------------------------------------------------------------ analysis

    @property
    def signature(self) -> inspect.Signature:
        if self._signature is None:
            # Names the annotations may use without importing them where the step is defined
            # (a step defined inside a function whose imports are local, say).
            known = {**annotation_names(), **ArtifactType.declared()}
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

    def git(self) -> Dict[str, Any]:
        """The git state of the repository holding the step's source (asked once per run)."""
        run = active_run()
        if run is not None and self._git is not None and self._git[0]() is run:
            return self._git[1]
        state = self._git_now()
        self._git = (weakref.ref(run), state) if run is not None else None  # the run is not kept alive
        return state

    def _git_now(self) -> Dict[str, Any]:
        if self._src_dir is None:
            try:
                src = inspect.getsourcefile(self.fn)
            except TypeError:
                src = None
            self._src_dir = Path(src).parent.resolve() if src else Path()
        try:
            return git_state(self._src_dir) if self._src_dir != Path() else {}
        except Exception:  # git trouble never stops a step
            return {}

    # ------------------------------------------------------------------- calling

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._is_async:
            return self._call_async(args, kwargs)
        call = _Call(self, args, kwargs)
        hit = call.begin()
        if hit is not None:
            return hit
        with call.running():
            value = self.fn(*call.args, **call.kwargs)
        return call.complete(value)

    async def _call_async(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        call = _Call(self, args, kwargs)
        hit = call.begin()
        if hit is not None:
            return hit
        with call.running():
            value = await self.fn(*call.args, **call.kwargs)
        return call.complete(value)

    def call_recorded(self, *args: Any, **kwargs: Any) -> Tuple[Any, Execution]:
        """Call it (an async step runs to its end here) and return what the call returns with the
        execution it recorded (``lineage rerun`` needs the execution of a one-output step too)."""
        call = _Call(self, args, kwargs)
        hit = call.begin()
        if hit is None:
            with call.running():
                value = self.fn(*call.args, **call.kwargs)
                if self._is_async:
                    import asyncio

                    value = asyncio.run(value)
            hit = call.complete(value)
        execution = call.recording.execution
        assert execution is not None  # begin() or complete() wrote it
        return hit, execution


class _Call:
    """One call of a step, from binding to the final write."""

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
        self.store: Store = current_store()
        self.outputs: Dict[str, OutputArtifact] = {}
        self.output_dir = Path()
        self.capture: Optional[Capture] = None
        self.capture_mode = "off"

    # The body gets the resolved arguments, through the bound signature.
    @property
    def args(self) -> tuple:
        return self.bound.args

    @property
    def kwargs(self) -> Dict[str, Any]:
        return self.bound.kwargs

    def _split_arguments(self) -> Tuple[List[Tuple[str, Artifact]], Dict[str, Any]]:
        """Resolve the inputs to stored artifacts; everything else not an output is a parameter
        (checked against a scalar annotation; a path to an existing file is an input when the
        step asks for that, else warned about once)."""
        step = self.step
        inputs: List[Tuple[str, Artifact]] = []
        params: Dict[str, Any] = {}
        for name, value in self.bound.arguments.items():
            spec = self.specs.get(name)
            parameter = step.signature.parameters[name]
            kind = parameter.kind
            if spec is None:
                if kind == inspect.Parameter.VAR_KEYWORD:
                    params.update(value)
                elif kind == inspect.Parameter.VAR_POSITIONAL:
                    if value:
                        params[name] = list(value)
                else:
                    check_parameter(step.type_name, name, parameter.annotation, value)
                    path = _existing_path(parameter.annotation, value)
                    if path is not None and self._path_as_input(name, path):
                        art = resolve_artifact(self.store, Artifact(id=None, type="Dataset", uri=to_uri(path),
                                                                    properties={"external": True}), "Dataset",
                                               what=f"step {step.type_name}: parameter {name!r}")
                        inputs.append((name, art))   # the body still gets the path it was given
                        continue
                    params[name] = value
            elif spec.direction == "input" and value is not None:  # None: an optional input not given
                art = resolve_artifact(self.store, value, spec.type_name,
                                       what=f"step {step.type_name}: input {name!r}")
                inputs.append((name, art))
                self.bound.arguments[name] = art
        return inputs, params

    def _path_as_input(self, name: str, path: Path) -> bool:
        """Whether parameter ``name``'s existing ``path`` is recorded as an input; when not, the
        lost lineage is said once per step and parameter."""
        step = self.step
        wanted = step.paths_as_inputs if step.paths_as_inputs is not None else \
            os.environ.get("LINEAGE_PATHS_AS_INPUTS", "") not in ("", "0", "false", "no")
        if wanted:
            return True
        if name not in step._warned:
            step._warned.add(name)
            warnings.warn(f"step {step.type_name}: parameter {name!r} names an existing "
                          f"{'folder' if path.is_dir() else 'file'} ({path}) but is recorded as a plain value: it "
                          f"gets no fingerprint and no input event, so provenance will not show it. Annotate it "
                          f"Input[Dataset] (the body then gets an artifact with .path), or record such paths as "
                          f"inputs with @step(paths_as_inputs=True) or LINEAGE_PATHS_AS_INPUTS=1",
                          LineageWarning, stacklevel=5)
        return False

    def begin(self) -> Optional[Any]:
        """Record the start (or a cache hit, whose result is returned)."""
        step = self.step
        inputs, params = self._split_arguments()
        self.recording = Recording(self.store, step.type_name, inputs=inputs, params=params, properties={
            "step": step.name, "source_hash": step.source_hash,
            "cache_key": cache_key(step.type_name, step.source_hash, params, inputs), "started_at": now(),
        }, lean=True)
        git = step.git()
        self.recording.properties.update(git)
        snap = snapshot(self.store, step.fn, git)   # the code, when git cannot give it back
        if snap is not None:
            self.recording.inputs.append((SOURCE_KEY, snap))
        if step.cache:
            hit = self._cached()
            if hit is not None:
                return hit
        self.recording.defer_start(running_after())
        self._live_start(inputs)
        # Named before the execution has an id (it is written once, when the step ends): the
        # start time, to the second, and a random part. Never an existing folder (another store
        # may share this artifact root).
        parent = Path(self.store.config.artifact_root) / step.type_name / _folder_name()
        while parent.exists():
            parent = parent.with_name(_folder_name())
        self.output_dir = parent
        for name, spec in self.specs.items():
            if spec.direction != "output":
                continue
            parent.mkdir(parents=True, exist_ok=True)
            out = OutputArtifact(spec.type_name, str(parent / name), name)
            self.outputs[name] = out
            self.bound.arguments[name] = out
        return None

    # ------------------------------------------------------------- live OpenLineage events

    _live: Optional[Tuple[str, str, Any, List[Tuple[str, Any, Any, Any]]]] = None

    def _live_start(self, inputs: Sequence[Tuple[str, Artifact]]) -> None:
        """START, when an OpenLineage client is configured (:mod:`lineage.recorder.live`)."""
        if not live.enabled():
            return
        run = self.recording.run
        job = f"{run.pipeline}.{self.step.type_name}" if run is not None else self.step.type_name
        ins = [(a.uri, a.fingerprint, a.get("size_bytes"), a.get("file_count")) for _, a in inputs]
        self._live = (str(uuid.uuid4()), job, live.parent_of(run, self.store.config.redacted()), ins)
        live.step_started(*self._live)

    def _live_end(self, state: str, outputs: Sequence[Artifact] = (), error: Optional[BaseException] = None) -> None:
        if self._live is None:
            return
        run_id, job, parent, ins = self._live
        self._live = None
        outs = [(a.uri, a.fingerprint, a.get("size_bytes"), a.get("file_count")) for a in outputs]
        live.step_ended(state, run_id, job, parent, ins, outs, error)

    def _live_failed(self, exc: BaseException) -> None:
        self._live_end("ABORT" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "FAIL", error=exc)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Around the body: the recording is active (``annotate`` reaches it); an exception is
        recorded (FAILED, or CANCELED for Ctrl-C) and raised unchanged."""
        self.capture_mode = capture_mode(self.step.capture)
        self.recording.activate()
        try:
            if self.capture_mode != "off":
                with capturing() as self.capture:
                    yield
            else:
                yield
        except BaseException as exc:
            self.recording.deactivate()
            self.recording.fail(exc, outputs=self._kept(exc))
            self._live_failed(exc)
            self._unstage()
            raise
        self.recording.deactivate()

    def _kept(self, exc: Optional[BaseException] = None) -> List[Tuple[Any, str]]:
        """What lineage itself keeps of the body's run, as outputs: its metric histories
        (``Metrics``) and its output and traceback (``StepLog``). Never raises: a file that
        cannot be written is logged and left out."""
        out: List[Tuple[Any, str]] = []
        rec, parent = self.recording, self.output_dir
        try:
            if rec.metrics:
                path = parent / "_metrics.json"
                rec.metrics.write(path)
                out.append((self._published(_file_artifact("Metrics", path, {
                    "metric_names": json.dumps(rec.metrics.names()), "points": len(rec.metrics.points)},
                    custom=rec.metrics.last())), METRICS_KEY))
            tb = _traceback(exc) if exc is not None else ""
            cap = self.capture
            if self.capture_mode != "off" and (tb or (cap is not None and not cap.empty
                                                       and self.capture_mode == "always")):
                text = cap.text() if cap is not None else ""
                if tb:
                    text += ("" if not text or text.endswith("\n") else "\n") + tb
                path = parent / "_log.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                data = text.encode("utf-8", "replace")
                path.write_bytes(data)
                counts = cap.counts if cap is not None else {"stdout": 0, "stderr": 0, "log": 0}
                props = {"stdout_bytes": counts["stdout"], "stderr_bytes": counts["stderr"],
                         "log_records": counts["log"], "dropped_bytes": cap.dropped if cap is not None else 0,
                         "has_traceback": bool(tb)}
                # what is zero or false is left out: fewer rows to write (absent reads as 0 / false)
                out.append((self._published(Artifact(id=None, type="StepLog", uri=str(path), properties={
                    **{k: v for k, v in props.items() if v}, "size_bytes": len(data),
                    "fingerprint": "sha256:" + hashlib.sha256(data).hexdigest()})), LOG_KEY))
        except (OSError, LineageError) as err:
            log.warning("step %s: could not keep its log or metrics (%s)", self.step.type_name, err)
        return out

    def _cached(self) -> Optional[Any]:
        """A CACHED execution reusing a previous COMPLETE one's verified outputs, or None."""
        store, rec = self.store, self.recording
        if not store.has_type("execution", self.step.type_name):
            return None
        q = (f"type = {quote(self.step.type_name)} AND last_known_state = COMPLETE AND "
             f"properties.cache_key.string_value = {quote(rec.properties['cache_key'])}")
        wanted = {n for n, s in self.specs.items() if s.direction == "output"}
        marks = tainted(store)
        for cand in store.list_executions(filter_query=q, limit=None):
            events = [e for e in store.events_of_executions([cand.id]) if e.type == "OUTPUT"]
            by_key = {e.key: e.artifact_id for e in events if not e.key.startswith("lineage:")}
            kept = [(e.artifact_id, e.key) for e in events if e.key == METRICS_KEY]
            if set(by_key) != wanted:
                continue
            arts = {a.id: a for a in store.get_artifacts(by_key.values())}
            if not all(_verifies(arts.get(i)) for i in by_key.values()):
                log.info("cache: outputs of execution %s no longer verify", cand.id)
                continue
            if marks:
                made_from = {a.id for a in trace(store, [("artifact", i) for i in by_key.values()],
                                                 "UPSTREAM").artifacts()}
                bad = sorted(made_from & set(marks))
                if bad:
                    log.warning("step %s: not reusing execution %s: it was made from tainted %s",
                                self.step.type_name, cand.id, ", ".join(f"a{i}" for i in bad))
                    continue
            execution, outs = rec.finish("CACHED", outputs=[(i, k) for k, i in by_key.items()], also_outputs=kept,
                                         properties={"cached_from": cand.id})
            log.info("step %s: cache hit, reused execution %s", self.step.type_name, cand.id)
            return self._result(execution, dict(zip(by_key, outs)), None)
        return None

    def _new_outputs(self) -> List[Tuple[Artifact, str]]:
        step = self.step
        new_outputs: List[Tuple[Artifact, str]] = []
        for name, out in self.outputs.items():
            uri = out.uri
            try:
                if self._staged(out.uri):
                    uri = self._remote_uri(Path(out.uri))
                    fp = upload(Path(out.uri), uri)   # fingerprinted from the bytes sent
                else:
                    fp = fingerprint(out.path)
            except FingerprintError:
                raise FingerprintError(
                    f"step {step.type_name} returned without writing its output {name!r} at "
                    f"{out.uri}: write a file or create a directory at {name}.path"
                ) from None
            props = dict(out.properties)
            if out.type == "Model":  # the last value of each logged metric, unless the body set it
                base = REGISTRY.base_properties("artifact")
                for metric, last in self.recording.metrics.last().items():
                    if metric not in base:
                        props.setdefault(metric, last)
            props.update(fingerprint=fp.digest, size_bytes=fp.size_bytes, file_count=fp.file_count)
            new_outputs.append((Artifact(id=None, type=out.type, uri=uri, properties=props), name))
        return new_outputs

    def _staged(self, uri: str) -> bool:
        """Whether an output at ``uri`` is staged here for the object store the artifact root is."""
        return bool(self.store.config.artifact_remote) and is_local(uri) and \
            Path(uri).is_relative_to(self.output_dir)

    def _remote_uri(self, staged: Path) -> str:
        """Where a staged output goes: the same place under the object-store root."""
        rel = staged.relative_to(Path(self.store.config.artifact_root)).as_posix()
        return join(self.store.config.artifact_remote, rel)

    def _published(self, art: Artifact) -> Artifact:
        """A kept artifact (metrics, log) uploaded like the outputs when the root is remote."""
        if not self._staged(art.uri):
            return art
        uri = self._remote_uri(Path(art.uri))
        fp = upload(Path(art.uri), uri)
        return dataclasses.replace(art, uri=uri, properties={
            **art.properties, "fingerprint": fp.digest, "size_bytes": fp.size_bytes})

    def _warn_returned_artifacts(self, value: Any) -> None:
        """A body that returns ``Model.at(...)`` made an artifact nobody records (outputs are the
        ``Output[T]`` arguments): said once per step, as lost lineage is."""
        values = value if isinstance(value, (tuple, list)) else (value,)
        loose = [v for v in values if isinstance(v, Artifact) and v.id is None]
        step = self.step
        if loose and "<return>" not in step._warned:
            step._warned.add("<return>")
            what = ", ".join(f"{a.type} {a.uri}" for a in loose)
            warnings.warn(f"step {step.type_name} returned an artifact that is not recorded ({what}): outputs are "
                          f"the arguments annotated Output[T], which lineage allocates and records. Declare one, "
                          f"e.g. `model: Output[{loose[0].type}]`, and write to its .path",
                          LineageWarning, stacklevel=4)

    def _unstage(self) -> None:
        """The staged copies, once what they held is recorded on the object store."""
        root, staged = Path(self.store.config.artifact_root), self.output_dir
        if self.store.config.artifact_remote and staged != root and staged.is_relative_to(root) \
                and staged.is_absolute():
            shutil.rmtree(staged, ignore_errors=True)

    def complete(self, value: Any) -> Any:
        self._warn_returned_artifacts(value)
        try:
            new_outputs = self._new_outputs()
        except LineageError as exc:
            self.recording.fail(exc)
            self._live_failed(exc)
            raise
        props: Dict[str, Any] = {}
        if value is not None:
            props["result"] = describe(value)
        kept = self._kept()
        try:
            execution, outs = self.recording.finish(
                "COMPLETE", outputs=new_outputs, also_outputs=kept, properties=props,
                reread=len(new_outputs) > 1,  # only a StepResult hands the execution out
            )
        except BaseException as exc:  # an output property the store refused, say: FAILED, with why
            self.recording.fail(exc)
            self._live_failed(exc)
            raise
        self._live_end("COMPLETE", outs)
        self._unstage()
        for out in self.outputs.values():  # an output the body moved elsewhere (out.uri = ...)
            parent = self.output_dir
            try:
                if not Path(out.uri).is_relative_to(parent) and parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()
            except OSError:
                pass
        outputs = {name: art for (_, name), art in zip(new_outputs, outs)}  # not the kept ones
        return self._result(execution, outputs, value)

    def _result(self, execution: Execution, outputs: Dict[str, Artifact], value: Any) -> Any:
        if not self.outputs and not outputs:
            return value
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return StepResult(execution, outputs, value)


def _folder_name() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)


def _verifies(art: Optional[Artifact]) -> bool:
    if art is None or not art.fingerprint:
        return False
    try:
        return fingerprint(art.path).digest == art.fingerprint
    except FingerprintError:
        return False


def _traceback(exc: BaseException) -> str:
    """The full traceback, without lineage's own frames above the step body."""
    tb = exc.__traceback__
    here = str(Path(__file__).parent)
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename.startswith(here):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _file_artifact(type_name: str, path: Path, properties: Mapping[str, Any],
                   custom: Optional[Mapping[str, Any]] = None) -> Artifact:
    fp = fingerprint(path)
    return Artifact(id=None, type=type_name, uri=str(path), properties={
        **properties, "fingerprint": fp.digest, "size_bytes": fp.size_bytes, "file_count": fp.file_count},
        custom_properties=dict(custom or {}))


def step(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
         type: Optional[str] = None, cache: bool = False, capture: Any = None,
         paths_as_inputs: Optional[bool] = None, rerun: bool = True) -> Any:
    """Record every call of the decorated function. ``@step`` and ``@step(...)`` both work.

    ``type`` is the MLMD execution type (default: the function's name), ``name`` the step
    name recorded with it (default: ``module:qualname``), ``cache=True`` reuses a previous
    identical run whose outputs still verify. ``capture`` says when what the body prints and logs
    (and its traceback) is kept as a ``StepLog``: ``"failed"`` (the default, or
    ``$LINEAGE_CAPTURE``), ``"always"`` (or True), ``"off"`` (or False). A parameter that is not
    an ``Input`` but names an existing file or folder (annotated ``Path``, or unannotated and
    given a path) is recorded as a plain value and warned about once; ``paths_as_inputs=True`` (or
    ``$LINEAGE_PATHS_AS_INPUTS=1``) records it as an input ``Dataset`` instead (fingerprinted, in
    provenance), the body still getting the path. A parameter annotated ``int``, ``float``,
    ``bool`` or ``str`` given another type is refused before anything runs or is recorded.
    ``rerun=False`` marks a step whose effect lies outside the record (a push to serving, a module
    publish): ``lineage rerun`` does not call it again, its recorded outputs stand in.
    """
    options = dict(name=name, type=type, cache=cache, capture=capture, paths_as_inputs=paths_as_inputs, rerun=rerun)
    if fn is None:
        return lambda f: Step(f, **options)
    return Step(fn, **options)


class LineageWarning(UserWarning):
    """Lineage that would be lost silently (a path recorded as a plain value, ...)."""


_SCALARS = {int: "int", float: "float", bool: "bool", str: "str"}


def _scalar_annotation(annotation: Any) -> Tuple[Optional[type], bool]:
    """``(int|float|bool|str, optional)`` for such an annotation (``Optional[int]`` too), else ``(None, _)``."""
    if annotation in _SCALARS:
        return annotation, False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        other = args[0] if args[1] is type(None) else args[1]
        if other in _SCALARS:
            return other, True
    return None, False


def check_parameter(step_type: str, name: str, annotation: Any, value: Any) -> None:
    """Refuse a value that is not of a parameter's scalar annotation (``int``, ``float``, ``bool``,
    ``str``, or ``Optional`` of one), before anything runs or is recorded: an int annotation
    takes integers (numpy's too), a float one any real number, never a bool for either."""
    if isinstance(value, Artifact):   # an artifact passed where no Input[T] was declared
        what = " ".join(x for x in (f"a{value.id}" if value.id else "", value.type, value.uri) if x)
        raise InvalidInput(f"step {step_type}: parameter {name!r} was given an artifact ({what}) but is not "
                           f"declared an input; annotate it Input[{value.type}] (from lineage import Input) "
                           f"so that it is recorded as one (nothing was run or recorded)")
    kind, optional = _scalar_annotation(annotation)
    if kind is None or (value is None and optional):
        return
    ok = {int: isinstance(value, numbers.Integral) and not isinstance(value, bool),
          float: isinstance(value, numbers.Real) and not isinstance(value, bool),
          bool: isinstance(value, bool),
          str: isinstance(value, str)}[kind]
    if not ok:
        raise InvalidInput(f"step {step_type}: parameter {name!r} is annotated {_SCALARS[kind]} but was given "
                           f"{value!r} ({type(value).__name__}); pass {'an' if kind is int else 'a'} "
                           f"{_SCALARS[kind]}, or change the annotation (nothing was run or recorded)")


def _existing_path(annotation: Any, value: Any) -> Optional[Path]:
    """The existing file or folder a plain parameter names: one annotated ``Path`` (or
    ``os.PathLike``), or unannotated and given a ``Path`` or a string that looks like a path."""
    path_annotation = isinstance(annotation, type) and issubclass(annotation, (PurePath, os.PathLike))
    if not path_annotation and annotation is not inspect.Parameter.empty:
        return None
    if isinstance(value, (PurePath, os.PathLike)):
        text = os.fspath(value)
    elif isinstance(value, str) and (path_annotation or os.sep in value or Path(value).suffix):
        text = value
    else:
        return None
    if not isinstance(text, str) or not text:
        return None
    try:
        path = Path(text)
        return path if path.exists() else None
    except (OSError, ValueError):
        return None
