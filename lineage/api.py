"""``Lineage``: a handle on one store, with the artifact root beside it.

``Lineage.open()`` is the entry point for Python users; the recorder, the queries, the CLI
and the explorer all go through it. The *current* store (what ``@step`` writes to) is the
active run's, else the one set with :func:`use`, else the default from ``$LINEAGE_STORE``
(the embedded ``./.lineage/metadata.sqlite`` when unset).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union

from .errors import InvalidInput, NotFound
from .fingerprint import fingerprint
from .records import Artifact, Context, Event, Execution
from .store import Store, _quote
from .uri import StoreConfig, parse_store_uri

if TYPE_CHECKING:
    from .graph import LineageGraph
    from .queries import Diff, Impact, Provenance, ServingEvent, ServingState, TaintRecord, VerifyReport
    from .serving.rollback import RollbackResult

__all__ = ["Lineage", "use", "current_lineage", "NodeRef", "parse_ref"]

log = logging.getLogger("lineage")

_current: contextvars.ContextVar[Optional["Lineage"]] = contextvars.ContextVar(
    "lineage_store", default=None
)
_defaults: Dict[tuple, "Lineage"] = {}
_defaults_lock = threading.Lock()

NodeRef = Union[int, str, Artifact, Execution]


def parse_ref(ref: NodeRef) -> tuple:
    """``("artifact"|"execution"|"context", id)`` from a record, an int (artifact) or a string
    such as ``a12``, ``e7``, ``c3``, ``artifact:12``, ``execution/7`` or ``12``."""
    if isinstance(ref, (Artifact, Execution, Context)):
        if ref.id is None:
            raise InvalidInput(f"{ref.kind} {ref!r} is not recorded yet (it has no id)")
        return ref.kind, ref.id
    if isinstance(ref, bool):
        raise InvalidInput(f"not a node reference: {ref!r}")
    if isinstance(ref, int):
        return "artifact", ref
    text = str(ref).strip().lower()
    for sep in (":", "/"):
        if sep in text:
            kind, _, num = text.partition(sep)
            break
    else:
        kind = text.rstrip("0123456789")
        num = text[len(kind):]
    kinds = {"": "artifact", "a": "artifact", "artifact": "artifact", "e": "execution",
             "execution": "execution", "c": "context", "context": "context"}
    if kind not in kinds or not num.isdigit():
        raise InvalidInput(
            f"not a node reference: {ref!r}; use an artifact id (12 or a12), an execution "
            f"(e7 or execution:7) or a context (c3)"
        )
    return kinds[kind], int(num)


class Lineage:
    """A lineage store: recorded artifacts, executions and contexts, and where artifacts live."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.config: StoreConfig = store.config
        self.artifact_root: Path = store.config.artifact_root

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, uri: Optional[str] = None, *, readonly: bool = False,
             artifact_root: Optional[str] = None) -> "Lineage":
        """Open (creating if needed, unless ``readonly``) the store at ``uri``.

        ``uri`` defaults to ``$LINEAGE_STORE``, else ``./.lineage/metadata.sqlite``; see
        :mod:`lineage.uri` for the forms. ``readonly=True`` writes nothing (no type
        registration either), as queries on stores written by other tools should.
        """
        config = parse_store_uri(uri, artifact_root=artifact_root)
        return cls(Store(config, readonly=readonly))

    @property
    def uri(self) -> str:
        """The store's URI without any password."""
        return self.config.redacted()

    def __repr__(self) -> str:
        return f"Lineage({self.uri!r})"

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Lineage":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------- reading

    def artifact(self, artifact_id: int) -> Artifact:
        return self.store.get_artifact(int(artifact_id))

    def execution(self, execution_id: int) -> Execution:
        return self.store.get_execution(int(execution_id))

    def context(self, context_id: int) -> Context:
        return self.store.get_context(int(context_id))

    def node(self, ref: NodeRef) -> Union[Artifact, Execution, Context]:
        kind, node_id = parse_ref(ref)
        return {"artifact": self.artifact, "execution": self.execution,
                "context": self.context}[kind](node_id)

    def artifacts(self, type: Optional[str] = None, *, limit: Optional[int] = 100,
                  filter_query: Optional[str] = None) -> List[Artifact]:
        """Newest first. ``filter_query`` is an MLMD filter (see the README's ``find``)."""
        return self.store.list_artifacts(filter_query=_and(_type_clause(type), filter_query),
                                         limit=limit)

    def executions(self, type: Optional[str] = None, *, state: Optional[str] = None,
                   limit: Optional[int] = 100, filter_query: Optional[str] = None) -> List[Execution]:
        """Newest first, optionally of one type and state (RUNNING, COMPLETE, FAILED, ...)."""
        state_clause = None
        if state:
            state = state.upper()
            if state not in ("NEW", "RUNNING", "COMPLETE", "FAILED", "CACHED", "CANCELED"):
                raise InvalidInput(
                    f"unknown execution state {state!r}; use RUNNING, COMPLETE, FAILED, "
                    f"CACHED or CANCELED"
                )
            state_clause = f"last_known_state = {state}"
        return self.store.list_executions(
            filter_query=_and(_type_clause(type), state_clause, filter_query), limit=limit)

    def runs(self, pipeline: Optional[str] = None, *, limit: Optional[int] = 100) -> List[Context]:
        """PipelineRun contexts, newest first."""
        clause = "type = 'PipelineRun'"
        if pipeline:
            clause += f" AND properties.pipeline.string_value = {_quote(pipeline)}"
        return self.store.list_contexts(filter_query=clause, limit=limit)

    def run_steps(self, run: Union[Context, str], *, limit: int = 1000) -> List[Execution]:
        """The executions of a run, in the order they were recorded."""
        ctx = run if isinstance(run, Context) else self.store.get_context_by_name("PipelineRun", run)
        if ctx is None:
            raise NotFound(f"no run named {run!r} in {self.uri}")
        return self.store.executions_in_context(ctx.id, limit=limit)

    def events(self, node: NodeRef) -> List[Event]:
        """The INPUT/OUTPUT events of an execution or an artifact."""
        kind, node_id = parse_ref(node)
        if kind == "execution":
            return self.store.events_of_executions([node_id])
        if kind == "artifact":
            return self.store.events_of_artifacts([node_id])
        raise InvalidInput("contexts have no events; ask for their executions instead")

    def inputs(self, execution: NodeRef) -> Dict[str, List[Artifact]]:
        return self._io(execution, "INPUT")

    def outputs(self, execution: NodeRef) -> Dict[str, List[Artifact]]:
        return self._io(execution, "OUTPUT")

    def _io(self, execution: NodeRef, event_type: str) -> Dict[str, List[Artifact]]:
        kind, node_id = parse_ref(execution)
        if kind != "execution":
            raise InvalidInput(f"{execution!r} is not an execution")
        events = [e for e in self.store.events_of_executions([node_id]) if e.type == event_type]
        arts = {a.id: a for a in self.store.get_artifacts(sorted({e.artifact_id for e in events}))}
        out: Dict[str, List[Artifact]] = {}
        for e in events:
            if e.artifact_id in arts:
                for key in e.keys or ("",):
                    out.setdefault(key, []).append(arts[e.artifact_id])
        return out

    def producers(self, artifact: NodeRef) -> List[Execution]:
        return self._linked(artifact, ("OUTPUT", "DECLARED_OUTPUT"))

    def consumers(self, artifact: NodeRef) -> List[Execution]:
        return self._linked(artifact, ("INPUT", "DECLARED_INPUT"))

    def _linked(self, artifact: NodeRef, types: Sequence[str]) -> List[Execution]:
        kind, node_id = parse_ref(artifact)
        if kind != "artifact":
            raise InvalidInput(f"{artifact!r} is not an artifact")
        ids = sorted({e.execution_id for e in self.store.events_of_artifacts([node_id])
                      if e.type in types})
        return self.store.get_executions(ids)

    def contexts(self, node: NodeRef) -> List[Context]:
        kind, node_id = parse_ref(node)
        if kind == "execution":
            return self.store.contexts_of_execution(node_id)
        if kind == "artifact":
            return self.store.contexts_of_artifact(node_id)
        return self.store.parent_contexts(node_id)

    # ------------------------------------------------------------------- lineage

    def upstream(self, node: NodeRef, max_hops: Optional[int] = None,
                 types: Optional[Sequence[str]] = None) -> "LineageGraph":
        """What ``node`` came from: a :class:`LineageGraph` from MLMD's bounded traversal.

        ``max_hops`` counts edges (artifact -> execution is one hop); ``types`` keeps only
        those node types (and the start), contracting the paths between them.
        """
        return self.lineage(node, "upstream", max_hops, types)

    def downstream(self, node: NodeRef, max_hops: Optional[int] = None,
                   types: Optional[Sequence[str]] = None) -> "LineageGraph":
        """What was made from ``node`` (see :meth:`upstream`)."""
        return self.lineage(node, "downstream", max_hops, types)

    def lineage(self, node: NodeRef, direction: str = "both", max_hops: Optional[int] = None,
                types: Optional[Sequence[str]] = None) -> "LineageGraph":
        from .graph import trace
        from .queries import _as_artifact, _is_served_spec

        if _is_served_spec(node):
            roots = [("artifact", _as_artifact(self.store, node).id)]
        elif isinstance(node, Artifact) and node.id is None:
            roots = [("artifact", self.lookup(node).id)]
        else:
            kind, node_id = parse_ref(node)
            if kind == "context":
                raise InvalidInput("a context has no lineage of its own; start from an artifact "
                                   "or an execution")
            roots = [(kind, node_id)]
        graph = trace(self.store, roots, direction, max_hops)
        return graph.only(types) if types else graph

    def provenance(self, target: Any) -> "Provenance":
        """Where a model or served version (``"reviews:2"``, or ``"reviews"`` for the one
        serving now) came from: data, transform, Hub modules, parameters, code, evaluation."""
        from .queries import provenance

        return provenance(self.store, target)

    def impact(self, artifact: Any = None, *, tainted_only: bool = False,
               max_hops: Optional[int] = None) -> "Impact":
        """Every downstream model, evaluation and pushed version, and whether it serves now.
        ``tainted_only=True`` without an artifact: everything downstream of any taint."""
        from .queries import impact

        return impact(self.store, [] if artifact is None else artifact, tainted_only=tainted_only,
                      max_hops=max_hops)

    def serving_history(self, model_name: str) -> List["ServingEvent"]:
        from .queries import serving_history

        return serving_history(self.store, model_name)

    def served_at(self, model_name: str, when: Any = "now") -> "ServingState":
        from .queries import served_at

        return served_at(self.store, model_name, when)

    def diff(self, a: Any, b: Any) -> "Diff":
        from .queries import diff

        return diff(self.store, a, b)

    def find(self, type: Optional[str] = None, where: Any = None, *, kind: str = "artifact",
             context: Optional[str] = None, since: Any = None, until: Any = None,
             limit: Optional[int] = 100) -> list:
        """Artifacts (or executions, ``kind="execution"``) by type, property filter
        (``"lr > 0.05 and optimizer = 'adam'"``), context, and creation time."""
        from .queries import find

        return find(self.store, kind=kind, type=type, where=where, context=context,
                    since=since, until=until, limit=limit)

    def verify(self, node: Any = None, *, progress: Any = None) -> "VerifyReport":
        """Re-fingerprint artifacts on disk (one, an execution's outputs, or all LIVE ones)."""
        from .queries import verify

        return verify(self.store, node, progress=progress)

    def taint(self, artifact: Any, reason: str) -> Execution:
        from .queries import taint

        return taint(self.store, artifact, reason)

    def untaint(self, artifact: Any, reason: str) -> Execution:
        from .queries import untaint

        return untaint(self.store, artifact, reason)

    def tainted(self) -> Dict[int, "TaintRecord"]:
        from .queries import tainted

        return tainted(self.store)

    # ------------------------------------------------------------------- serving

    def rollback(self, model_name: str, *, to: Optional[int] = None, previous: bool = False,
                 last_good: bool = False, force: bool = False, **server: Any) -> "RollbackResult":
        """Pin ``model_name`` to a checked earlier version (see :mod:`lineage.serving.rollback`).
        ``server`` takes ``config_path``, ``server`` (gRPC host:port), ``rest`` (URL), ``timeout``."""
        from .serving.rollback import rollback

        return rollback(self, model_name, to=to, previous=previous, last_good=last_good, force=force, **server)

    def promote(self, model_name: str, *, version: int, label: str = "canary", **server: Any) -> "RollbackResult":
        """Point a version label (``canary``, ``stable``) at ``version``."""
        from .serving.rollback import promote

        return promote(self, model_name, version=version, label=label, **server)

    def unpin(self, model_name: str, **server: Any) -> "RollbackResult":
        """Serve the newest pushed version again."""
        from .serving.rollback import unpin

        return unpin(self, model_name, **server)

    # ------------------------------------------------------------------- writing

    def lookup(self, artifact: Artifact) -> Artifact:
        """The stored artifact for an unrecorded reference such as ``Dataset.at(path)``: same
        type, URI and (for local data) content. Writes nothing."""
        if artifact.id is not None:
            return artifact
        local = "://" not in artifact.uri or artifact.uri.startswith("file://")
        found = None
        if artifact.type in self.store.type_names("artifact"):
            if local and artifact.path.exists():
                found = self.store.find_artifact(artifact.type, artifact.uri,
                                                 fingerprint(artifact.path).digest)
            elif not local:
                clause = f"type = {_quote(artifact.type)} AND uri = {_quote(artifact.uri)}"
                hits = self.store.list_artifacts(filter_query=clause, limit=1)
                found = hits[0] if hits else None
        if found is None:
            raise NotFound(
                f"no {artifact.type} at {artifact.uri} with its current content is recorded in "
                f"{self.uri}; use it in a step first (or lin.register() it)"
            )
        return found

    def register(self, artifact: Artifact) -> Artifact:
        """Record data that no step produced (``Dataset.at(...)``), fingerprinted.

        The same content at the same URI maps to the same stored artifact, so re-running a
        pipeline on unchanged data does not multiply nodes; changed content is a new artifact.
        """
        if artifact.id is not None:
            return artifact
        props = dict(artifact.properties)
        local = "://" not in artifact.uri or artifact.uri.startswith("file://")
        if local:
            fp = fingerprint(artifact.path)
            props.update(fingerprint=fp.digest, size_bytes=fp.size_bytes, file_count=fp.file_count)
            found = self.store.find_artifact(artifact.type, artifact.uri, fp.digest)
        else:
            clause = f"type = {_quote(artifact.type)} AND uri = {_quote(artifact.uri)}"
            hits = self.store.list_artifacts(filter_query=clause, limit=1) \
                if artifact.type in self.store.type_names("artifact") else []
            found = hits[0] if hits else None
        if found is not None:
            return found
        new = Artifact(id=None, type=artifact.type, uri=artifact.uri, state=artifact.state,
                       properties=props, custom_properties=artifact.custom_properties,
                       name=artifact.name)
        return self.store.put_artifacts([new])[0]

    def resolve_artifact(self, value: Any, type_name: Optional[str] = None,
                         *, what: str = "input") -> Artifact:
        """An input given as a record, an id or a URI, as a stored artifact."""
        if isinstance(value, Artifact):
            art = value if value.id is not None else self.register(value)
        elif isinstance(value, bool):
            raise InvalidInput(f"{what}: {value!r} is not an artifact, id or URI")
        elif isinstance(value, int):
            art = self.artifact(value)
        elif isinstance(value, (str, Path)) or hasattr(value, "__fspath__"):
            if type_name is None:
                raise InvalidInput(f"{what}: a URI needs an artifact type, e.g. Dataset.at(uri)")
            from .types import _uri

            art = self.register(Artifact(id=None, type=type_name, uri=_uri(value),
                                         properties={"external": True}))
        else:
            raise InvalidInput(
                f"{what}: expected an artifact (a recorded artifact, Type.at(uri), an artifact "
                f"id or a path), got {type(value).__name__}"
            )
        if type_name is not None and art.type != type_name:
            raise InvalidInput(
                f"{what} expects a {type_name}, but artifact {art.id} is a {art.type}"
            )
        return art


def _type_clause(type_name: Optional[str]) -> Optional[str]:
    return f"type = {_quote(type_name)}" if type_name else None


def _and(*clauses: Optional[str]) -> Optional[str]:
    parts = [f"({c})" if " OR " in c.upper() else c for c in clauses if c]
    return " AND ".join(parts) if parts else None


@contextlib.contextmanager
def use(store: Union["Lineage", str, None]) -> Iterator["Lineage"]:
    """Make ``store`` (a Lineage or a URI) the current store inside the ``with`` block."""
    lin = store if isinstance(store, Lineage) else Lineage.open(store)
    token = _current.set(lin)
    try:
        yield lin
    finally:
        _current.reset(token)


def current_lineage() -> "Lineage":
    """The store ``@step`` writes to now (see the module docstring for the order)."""
    from .runs import current_run

    active = current_run()
    if active is not None:
        return active.lineage
    lin = _current.get()
    if lin is not None:
        return lin
    config = parse_store_uri(None)
    key = (config.redacted(), str(config.artifact_root))
    with _defaults_lock:
        lin = _defaults.get(key)
        if lin is None:
            lin = Lineage(Store(config))
            _defaults[key] = lin
    return lin
