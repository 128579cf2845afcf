"""``Lineage``: a handle on one store, with the artifact root beside it; the facade Python users,
the CLI, the explorer and the components go through. It calls down only: reads to
:mod:`lineage.query`, writes to :mod:`lineage.recorder`, serving changes to
:mod:`lineage.serving.rollback`.

The *current* store (what ``@step`` writes to) is the active run's, else the one set with
:func:`use`, else the default from ``$LINEAGE_STORE`` (the embedded
``./.lineage/metadata.sqlite`` when unset).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import query
from .errors import InvalidInput, NotFound
from .records import Artifact, Context, Event, Execution
from .refs import NodeRef
from .store import Store
from .uris import StoreConfig, parse_store_uri
from .vocab import RUN_CONTEXT_TYPES, check_execution_state, quote

if TYPE_CHECKING:
    from . import recorder as recorder_types
    from .query import (Diff, HealthReport, Impact, LineageGraph, Provenance, Shape, ServingEvent, ServingState,
                        TaintRecord, VerifyReport)
    from .query.view import GraphView
    from .serving.rollback import RollbackResult

__all__ = ["Lineage", "use", "current_lineage"]


def _recorder() -> Any:
    """:mod:`lineage.recorder`, imported when a write first needs it: a query (``lineage
    provenance``, the explorer) does not pay for the recording machinery."""
    from . import recorder
    return recorder


def _serving_changes() -> Any:
    """:mod:`lineage.serving.rollback`, imported when a serving change is first asked for."""
    from .serving import rollback
    return rollback


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
        :mod:`lineage.uris` for the forms. ``readonly=True`` writes nothing (no type
        registration either), as queries on stores written by other tools should.
        """
        config = parse_store_uri(uri, artifact_root=artifact_root)
        return cls(Store(config, readonly=readonly))

    @property
    def uri(self) -> str:
        """The store's URI without any password."""
        return self.config.redacted()

    @property
    def registry_version(self) -> int:
        """The version of the type schema this store was opened with."""
        return self.store.registry.version

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
        """Any reference: a record, 12 / a12, e7, c3, ``MODEL:VERSION``, a run name, or a model
        name (the version serving now)."""
        return query.resolve_node(self.store, ref)

    def artifacts(self, type: Optional[str] = None, *, limit: Optional[int] = 100,
                  filter_query: Optional[str] = None) -> List[Artifact]:
        """Newest first. ``filter_query`` is an MLMD filter (see docs/queries.md, ``find``)."""
        query.check_type(self.store, "artifact", type)
        return self.store.list_artifacts(filter_query=_and(_type_clause(type), filter_query),
                                         limit=limit)

    def executions(self, type: Optional[str] = None, *, state: Optional[str] = None,
                   limit: Optional[int] = 100, filter_query: Optional[str] = None) -> List[Execution]:
        """Newest first, optionally of one type and state (RUNNING, COMPLETE, FAILED, ...)."""
        query.check_type(self.store, "execution", type)
        state_clause = f"last_known_state = {check_execution_state(state)}" if state else None
        return self.store.list_executions(
            filter_query=_and(_type_clause(type), state_clause, filter_query), limit=limit)

    def contexts_of_type(self, type: str, *, limit: Optional[int] = 100) -> List[Context]:
        """Contexts of one type (``ServingEndpoint``, ``PipelineRun``, ...), newest first."""
        if not self.store.has_type("context", type):
            return []
        return self.store.list_contexts(filter_query=_type_clause(type), limit=limit)

    def runs(self, pipeline: Optional[str] = None, *, limit: Optional[int] = 100) -> List[Context]:
        """Pipeline run contexts, newest first: ours (PipelineRun) and TFX's (``run`` /
        ``pipeline_run``, in stores TFX wrote)."""
        types = [t for t in RUN_CONTEXT_TYPES if self.store.has_type("context", t)]
        if not types:
            return []
        if pipeline:
            if "PipelineRun" in types:
                query.check_context(self.store, f"Pipeline:{pipeline}")
            clause = " OR ".join(f"(type = {quote(t)} AND properties.{'pipeline' if t == 'PipelineRun' else 'pipeline_name'}"
                                 f".string_value = {quote(pipeline)})" for t in types)
        else:
            clause = " OR ".join(f"type = {quote(t)}" for t in types)
        return self.store.list_contexts(filter_query=clause, limit=limit)

    def run_steps(self, run: Union[Context, str], *, limit: int = 1000) -> List[Execution]:
        """The executions of a run, in the order they were recorded."""
        ctx = run if isinstance(run, Context) else next(
            (c for c in (self.store.get_context_by_name(t, run) for t in RUN_CONTEXT_TYPES
                         if self.store.has_type("context", t)) if c is not None), None)
        if ctx is None:
            names = [c.name for c in self.runs(limit=2000)]
            raise NotFound(f"no run named {run!r} in {self.uri}" + query.near(str(run), names))
        return self.context_executions(ctx, limit=limit)

    def context_executions(self, context: Union[Context, int], *, limit: int = 1000) -> List[Execution]:
        """The executions of any context, oldest first."""
        cid = context.id if isinstance(context, Context) else int(context)
        return self.store.executions_in_context(cid, limit=limit)

    # ------------------------------------------------------------ prediction logs

    def prediction_logs(self, model_name: str, *, since: Any = None, until: Any = None,
                        version: Optional[int] = None) -> List[Artifact]:
        """The request log files (PredictionLogs) of a served model, oldest first."""
        return query.predictions.prediction_logs(self.store, model_name, since=since, until=until, version=version)

    def predictions(self, model_name: str, *, since: Any = None, until: Any = None,
                    version: Optional[int] = None) -> List[Any]:
        """Per version: the sampled answers logged, the estimated answers given (over the sampling
        rate), first and last time (:class:`lineage.query.predictions.VersionTraffic`)."""
        return query.predictions.summarize(self.prediction_logs(model_name, since=since, until=until,
                                                                version=version))

    def serving_skew(self, model_name: str, *, version: Optional[int] = None, since: Any = None,
                     until: Any = None, threshold: float = 0.1) -> Dict[str, Any]:
        """Training/serving skew per feature: the logged requests' inputs beside the statistics
        ingest recorded for the data that version was trained on."""
        return query.predictions.serving_skew(self.store, model_name, version=version, since=since, until=until,
                                              threshold=threshold)

    def ingest_logs(self, model_name: str, directory: Union[str, Path]) -> List[Tuple[str, str]]:
        """Record the request log files a TF Serving fleet wrote for ``model_name`` (imports
        TensorFlow Serving's protos)."""
        from .serving.server.predlog import ingest

        return ingest(self.store, model_name, str(directory))

    # ---------------------------------------------------------------- experiments

    def runs_frame(self, experiment: Optional[str] = None, pipeline: Optional[str] = None, *,
                   where: Optional[str] = None, sort: Optional[str] = None, limit: Optional[int] = None) -> Any:
        """One row per run, as a pandas DataFrame (like MLflow's ``search_runs``): name, state,
        start, duration, user, git commit, ``params.<Step>.<name>``, ``metrics.<name>`` (last
        values), ``tags.<key>``. ``where`` filters on those columns (``metrics.accuracy > 0.8``),
        ``sort`` orders by one (``-metrics.accuracy`` or ``accuracy desc``)."""
        return query.experiments.runs_frame(self.store, experiment=experiment, pipeline=pipeline,
                                            where=where, sort=sort, limit=limit)

    def metric_history(self, node: NodeRef, metrics: Optional[Sequence[str]] = None, *,
                       missing: Optional[List[str]] = None) -> Any:
        """Every value a step run (``e12``) or a whole run (its name) logged with ``log_metric``,
        as a DataFrame: execution, step_type, metric, step, value, time. A history file that is
        gone is an error, or, given a ``missing`` list, noted there and left out."""
        import pandas as pd

        rows = query.experiments.metric_history(self.store, node, metrics, missing)
        return pd.DataFrame(rows, columns=["execution", "step_type", "metric", "step", "value", "time"])

    def step_log(self, execution: NodeRef) -> Optional[str]:
        """What a step run printed and logged, with its traceback if it failed (None: nothing)."""
        return query.experiments.step_log(self.store, execution)

    def tag(self, target: NodeRef, values: Optional[Dict[str, Any]] = None, **more: Any) -> Dict[str, Execution]:
        """Tag a run (by name), an artifact or an execution: ``lin.tag("run-7", stage="prod")``;
        a value of None removes the tag. Every change is recorded (who, when, old, new)."""
        return _recorder().tags.tag(self.store, target, {**(values or {}), **more})

    def note(self, target: NodeRef, text: str) -> Execution:
        """Add a note to a run (or any node); notes are kept, never edited."""
        return _recorder().tags.note(self.store, target, text)

    def tags(self, target: NodeRef) -> Dict[str, Any]:
        """The current tags of a run or node."""
        return query.experiments.tags_of(self.store, target)

    def tag_history(self, target: NodeRef) -> List[Any]:
        """Every tag change of a run or node, oldest first."""
        return query.experiments.tag_history(self.store, target)

    def notes(self, target: NodeRef) -> List[Any]:
        """The notes of a run or node, oldest first."""
        return query.experiments.notes(self.store, target)

    def counts(self) -> Dict[str, Dict[str, int]]:
        """How many artifacts and executions of each type, and executions in each state."""
        return self.store.counts()

    def events(self, node: NodeRef) -> List[Event]:
        """The INPUT/OUTPUT events of an execution or an artifact."""
        found = query.resolve_node(self.store, node)
        if isinstance(found, Execution):
            return self.store.events_of_executions([found.id])
        if isinstance(found, Artifact):
            return self.store.events_of_artifacts([found.id])
        raise InvalidInput("contexts have no events; ask for their executions instead")

    def inputs(self, execution: NodeRef) -> Dict[str, List[Artifact]]:
        return query.inputs(self.store, self._id(execution, "execution"))

    def outputs(self, execution: NodeRef) -> Dict[str, List[Artifact]]:
        return query.outputs(self.store, self._id(execution, "execution"))

    def producers(self, artifact: NodeRef) -> List[Execution]:
        return query.producers(self.store, self._id(artifact, "artifact"))

    def consumers(self, artifact: NodeRef, *, newest: Optional[int] = None) -> List[Execution]:
        """The executions that read ``artifact``, oldest first; ``newest=N``: only the last N."""
        return query.consumers(self.store, self._id(artifact, "artifact"), newest)

    def _id(self, ref: NodeRef, want: str) -> int:
        found = query.resolve_node(self.store, ref)
        if found.kind != want:
            raise InvalidInput(f"{ref!r} is not an {want} but {found.ref}")
        return found.id

    def contexts(self, node: NodeRef) -> List[Context]:
        found = query.resolve_node(self.store, node)
        if isinstance(found, Execution):
            return self.store.contexts_of_execution(found.id)
        if isinstance(found, Artifact):
            return self.store.contexts_of_artifact(found.id)
        return self.store.parent_contexts(found.id)

    def contexts_of_executions(self, executions: Sequence[Execution]) -> Dict[int, List[Context]]:
        """``{execution id: its contexts}`` for many executions at once (on SQLite one read of
        MLMD's Association table, which has no index by execution)."""
        return self.store.contexts_of_executions([e.id for e in executions])

    def code_of(self, execution: Any) -> Dict[str, Any]:
        """What ran ``execution`` (an Execution or a ref like ``"e12"``): git commit and dirty
        flag, Python and package versions, user and host; its own where it recorded them, else
        its run's (a step inside a run records only what differs from the run's)."""
        from .query.code import code_of
        node = execution if isinstance(execution, Execution) else self.node(execution)
        if not isinstance(node, Execution):
            raise InvalidInput(f"code_of takes an execution (e12), not {node.kind} {node.id}")
        return code_of(self.store, node)

    def type_names(self, kind: str) -> List[str]:
        """The names of the ``artifact``, ``execution`` or ``context`` types the store holds."""
        return self.store.type_names(kind)

    # ------------------------------------------------------------------- lineage

    def upstream(self, node: NodeRef, max_hops: Optional[int] = None,
                 types: Optional[Sequence[str]] = None) -> LineageGraph:
        """What ``node`` came from: a :class:`LineageGraph` from MLMD's bounded traversal.

        ``max_hops`` counts edges (artifact -> execution is one hop); ``types`` keeps only
        those node types (and the start), contracting the paths between them.
        """
        return self.lineage(node, "upstream", max_hops, types)

    def downstream(self, node: NodeRef, max_hops: Optional[int] = None,
                   types: Optional[Sequence[str]] = None) -> LineageGraph:
        """What was made from ``node`` (see :meth:`upstream`)."""
        return self.lineage(node, "downstream", max_hops, types)

    def lineage(self, node: NodeRef, direction: str = "both", max_hops: Optional[int] = None,
                types: Optional[Sequence[str]] = None) -> LineageGraph:
        graph = query.trace(self.store, [self._lineage_root(node)], direction, max_hops)
        return graph.only(types) if types else graph

    def sketch(self, node: NodeRef, direction: str = "both", max_hops: Optional[int] = None) -> LineageGraph:
        """The shape of :meth:`lineage` (same nodes and edges; type and state, no properties):
        for drawing large neighbourhoods."""
        return query.sketch(self.store, [self._lineage_root(node)], direction, max_hops)

    def shape(self, node: NodeRef, direction: str = "both", max_hops: Optional[int] = None) -> Shape:
        """:meth:`sketch` in plain dicts, without networkx (for :meth:`view`, as the explorer's
        graph page draws it: no networkx import; bench/bench_shape.py compares the two)."""
        return query.shape(self.store, [self._lineage_root(node)], direction, max_hops)

    def _lineage_root(self, node: NodeRef) -> Tuple[str, int]:
        found = query.resolve_node(self.store, node)
        if isinstance(found, Context):
            raise InvalidInput(f"{node!r} is a context ({found.ref}): a context has no lineage of its own; "
                               f"start from an artifact, an execution or a served model")
        return found.kind, found.id

    def view(self, graph: Union[LineageGraph, Shape], *, expanded: Optional[Dict[str, int]] = None,
             min_group: Optional[int] = None, tainted: Optional[Sequence[int]] = None) -> "GraphView":
        """``graph`` (from :meth:`lineage`, :meth:`sketch` or :meth:`shape`) as the explorer draws it: sibling
        fan-out grouped, columns by depth, taints marked (:mod:`lineage.query.view`; ``tainted``
        artifact ids when already known, else :meth:`tainted`)."""
        from .query.view import MIN_GROUP, view_of

        return view_of(graph, tainted=self.tainted() if tainted is None else tainted, expanded=expanded,
                       min_group=MIN_GROUP if min_group is None else min_group, store=self.store)

    def provenance(self, target: Any) -> Provenance:
        """Where a model or served version (``"reviews:2"``, or ``"reviews"`` for the one
        serving now) came from: data, transform, Hub modules, parameters, code, evaluation."""
        return query.provenance(self.store, target)

    def verdicts(self, target: Any) -> "query.Verdicts":
        """Blessed or not, what upstream is tainted, and the evaluation's metrics of a model or
        served version: :meth:`provenance`'s verdicts without the rest (cheaper, for many versions)."""
        return query.verdicts(self.store, target)

    def impact(self, artifact: Any = None, *, tainted_only: bool = False,
               max_hops: Optional[int] = None) -> Impact:
        """Every downstream model, evaluation and pushed version, and whether it serves now.
        ``tainted_only=True`` without an artifact: everything downstream of any taint."""
        return query.impact(self.store, [] if artifact is None else artifact, tainted_only=tainted_only,
                            max_hops=max_hops)

    def serving_history(self, model_name: str) -> List[ServingEvent]:
        return query.serving_history(self.store, model_name)

    def served_at(self, model_name: str, when: Any = "now") -> ServingState:
        return query.served_at(self.store, model_name, when)

    def state_of(self, model_name: str, history: Sequence[ServingEvent], until: Optional[float] = None) -> ServingState:
        """The serving state ``history`` (from :meth:`serving_history`) adds up to at ``until``
        (None: now), read with the reporting servers' leases: what :meth:`served_at` answers,
        without reading the history again."""
        return query.observed_state(query.replay(model_name, history, until), history, until,
                                    query.leases_for(self.store, history))

    def serving_now(self, model_names: Union[str, Sequence[str]]) -> Dict[str, Optional[int]]:
        """The version serving now of each model (None where nothing serves); one model's name
        alone is taken as that one model."""
        return query.serving_now(self.store, [model_names] if isinstance(model_names, str) else model_names)

    def serving_graph(self, model_names: Optional[Sequence[str]] = None) -> "query.ServingGraph":
        """Which server serves which version of each served model now (``model_names``: every
        endpoint), and which module version answers each head serving now (distributed serving)."""
        return query.serving_graph(self.store, list(model_names) if model_names is not None else self.serving_endpoints())

    def serving_endpoints(self, *, limit: int = 500) -> List[str]:
        """Every served model name: ServingEndpoint contexts (ours), then the destinations TFX's
        Pusher wrote to (``<serving_dir>/<model>/<version>``)."""
        return query.endpoint_names(self.store, limit)

    def last_serving_change(self, model_name: str) -> Optional[Execution]:
        """The newest completed push, rollback, promote or unpin of ``model_name``."""
        return query.last_change(self.store, model_name)

    def diff(self, a: Any, b: Any) -> Diff:
        return query.diff(self.store, a, b)

    def find(self, type: Optional[str] = None, where: Any = None, *, kind: str = "artifact",
             context: Optional[str] = None, since: Any = None, until: Any = None,
             limit: Optional[int] = 100) -> list:
        """Artifacts (or executions, ``kind="execution"``) by type, property filter
        (``"lr > 0.05 and optimizer = 'adam'"``), context, and creation time."""
        return query.find(self.store, kind=kind, type=type, where=where, context=context,
                          since=since, until=until, limit=limit)

    def verify(self, node: Any = None, *, progress: Any = None) -> VerifyReport:
        """Re-fingerprint artifacts on disk or on object storage (one, an execution's outputs, or
        all LIVE ones)."""
        return query.verify(self.store, node, progress=progress)

    def pull(self, ref: Any, dest: Any = None, *, force: bool = False) -> Path:
        """Restore the exact bytes of a recorded artifact (local or on object storage) at ``dest``
        (default: its file or folder name, here), checked against its recorded fingerprint;
        returns ``dest``. An existing ``dest`` is replaced only with ``force``."""
        return query.pull(self.store, ref, dest, force=force)

    def taint(self, artifact: Any, reason: str) -> Execution:
        return _recorder().taint(self.store, artifact, reason)

    def untaint(self, artifact: Any, reason: str) -> Execution:
        return _recorder().untaint(self.store, artifact, reason)

    def tainted(self) -> Dict[int, TaintRecord]:
        return query.tainted(self.store)

    def taints_of(self, artifact: NodeRef) -> List[TaintRecord]:
        """The taints on an artifact and on anything it was made from (its own first)."""
        return query.tainted_upstream(self.store, self._id(artifact, "artifact"))

    def gc(self, *, keep_days: float = 30, keep_runs: int = 0, dry_run: bool = False,
           progress: Any = None) -> Tuple[Any, Optional[Execution]]:
        """Remove the files of artifacts nothing protects and mark them DELETED (rows stay).
        Protected, always: the ancestry of every version that ever served, anything ever tainted,
        anything tagged ``keep`` (or in a run tagged ``keep``), anything newer than ``keep_days``,
        the artifacts of the newest ``keep_runs`` runs, the inputs of running steps; and only files
        lineage wrote (under the artifact root) are ever touched. ``dry_run`` changes nothing.
        Returns the plan (:class:`lineage.query.retention.GcPlan`: what goes, with sizes and why,
        and what each protection keeps) and the ``GarbageCollect`` execution (None if nothing went)."""
        from .recorder.gc import gc

        return gc(self.store, keep_days=keep_days, keep_runs=keep_runs, dry_run=dry_run, progress=progress)

    def search(self, text: str, *, limit: int = 10) -> List[Any]:
        """Things named by (part of) ``text``: a reference typed whole first, then served model
        names, runs, experiments, artifact types, tags and artifact URIs
        (:class:`lineage.query.search.Hit`: kind, label, ref, and the explorer page to open)."""
        from .query.search import search

        return search(self.store, text, limit=limit)

    def rerun(self, run: Any, *, from_step: Optional[str] = None, set: Any = (),
              allow_code_change: bool = False, name: Optional[str] = None, progress: Any = None) -> Any:
        """Execute recorded run ``run`` (a name, ``c12``, or an experiment: its newest run not itself a rerun) again into
        a new run linked to it (``rerun_of``): the recorded steps in the recorded order, their exact
        parameters (``set``: ``["Train.learning_rate=0.05"]`` or ``{"Train": {"learning_rate": 0.05}}``
        changes some), the recorded inputs checked against their fingerprints. ``from_step`` reuses the
        recorded outputs of the steps before it. Refused (:class:`lineage.recorder.rerun.RerunRefused`,
        nothing run) when an input changed or a step's source differs from the recorded one and no
        source snapshot holds it, unless ``allow_code_change``. Returns the
        :class:`lineage.recorder.rerun.RerunReport`: which steps reproduced bit for bit."""
        from .recorder.rerun import parse_overrides, rerun

        if isinstance(set, Mapping):
            overrides = {str(k): {str(p): v if isinstance(v, str) else json.dumps(v) for p, v in d.items()}
                         for k, d in set.items()}
        else:
            overrides = parse_overrides(list(set))
        return rerun(self.store, run, from_step=from_step, overrides=overrides, allow_code_change=allow_code_change,
                     name=name, progress=progress)

    def tune(self, *, undo: bool = False) -> Tuple[List[str], Optional[Execution]]:
        """Add the indexes ML Metadata's schema lacks (:mod:`lineage.store.tune`: an artifact's
        producer, an artifact's and an execution's contexts) to this store; ``undo=True`` removes
        them. Returns the index names changed and the ``Tune`` execution recording the change
        (None when nothing changed). Opt-in: lineage never changes a store's indexes by itself."""
        import json

        from .recorder.recording import Recording

        changed = self.store.tune(undo=undo)
        if not changed:
            return [], None
        names = [i.name for i in changed]
        rec = Recording(self.store, "Tune", properties={
            "step": "lineage.tune", "action": "remove" if undo else "add", "indexes": json.dumps(names)}, in_run=False)
        execution, _ = rec.finish("COMPLETE")   # written once, whole
        return names, execution

    def doctor(self, *, fix: bool = False, check_files: bool = True) -> Tuple[HealthReport, Optional[Execution]]:
        """What is inconsistent (abandoned RUNNING executions and runs, missing files, unknown
        served versions, lost model servers, request logs a crashed server left unfinished); with
        ``fix=True`` they are closed, recorded as a ``Doctor`` execution (returned, its ``closed``
        property saying what became of each): a serving change that took effect (its version's
        files are in place, the model config says what it wrote) COMPLETE, other abandoned rows
        FAILED, a lost server's versions END ("server lost"), an unfinished log RECOVERED, what a
        step killed mid-upload left in the object store DELETED, an artifact a killed gc left
        marked for deletion DELETED (files gone) or LIVE (files there)."""
        import dataclasses

        from .recorder.gc import gc_closers
        from .recorder.uploads import upload_closers
        from .serving.health import serving_closers
        from .serving.settle import settle

        report = query.check_health(self.store, check_files=check_files)
        findings, closers = serving_closers(self.store, report.servers)
        upload_findings, upload_fixes = upload_closers(self.store)
        gc_findings, gc_fixes = gc_closers(self.store)
        closers = closers + upload_fixes + gc_fixes
        report = dataclasses.replace(report, findings=report.findings + findings + upload_findings + gc_findings
                                     + _openlineage_findings())
        return report, (_recorder().repair(self.store, report, settle, closers) if fix else None)

    # ------------------------------------------------------------------- serving

    def rollback(self, model_name: str, *, to: Optional[int] = None, previous: bool = False,
                 last_good: bool = False, force: bool = False, **server: Any) -> RollbackResult:
        """Pin ``model_name`` to a checked earlier version (see :mod:`lineage.serving.rollback`).
        ``server`` takes ``config_path``, ``server`` (gRPC host:port), ``rest`` (URL), ``timeout``."""
        return _serving_changes().rollback(self.store, model_name, to=to, previous=previous,
                                        last_good=last_good, force=force, **server)

    def promote(self, model_name: str, *, version: int, label: str = "canary", force: bool = False,
                **server: Any) -> RollbackResult:
        """Point a version label (``canary``, ``stable``) at ``version``, after a rollback's checks."""
        return _serving_changes().promote(self.store, model_name, version=version, label=label, force=force, **server)

    def unpin(self, model_name: str, *, force: bool = False, **server: Any) -> RollbackResult:
        """Serve the newest pushed version again, after a rollback's checks of that version."""
        return _serving_changes().unpin(self.store, model_name, force=force, **server)

    # ------------------------------------------------------------------- writing

    def lookup(self, artifact: Artifact) -> Artifact:
        """The stored artifact for an unrecorded reference such as ``Dataset.at(path)``: same
        type, URI and (for local data) content. Writes nothing."""
        return query.lookup(self.store, artifact)

    def register(self, artifact: Artifact) -> Artifact:
        """Record data that no step produced (``Dataset.at(...)``), fingerprinted.

        The same content at the same URI maps to the same stored artifact, so re-running a
        pipeline on unchanged data does not multiply nodes; changed content is a new artifact.
        """
        return _recorder().register(self.store, artifact)

    def record_many(self, steps: Any, *, batch: int = 500, contexts: Any = (),
                    progress: Any = None) -> List["recorder_types.Recorded"]:
        """Record many step runs, ``batch`` per MLMD transaction (see :func:`lineage.record_many`)."""
        return _recorder().record_many(steps, batch=batch, contexts=contexts, store=self.store, progress=progress)

    def resolve_artifact(self, value: Any, type_name: Optional[str] = None,
                         *, what: str = "input") -> Artifact:
        """An input given as a record, an id or a URI, as a stored artifact."""
        return _recorder().resolve_artifact(self.store, value, type_name, what=what)


def _type_clause(type_name: Optional[str]) -> Optional[str]:
    return f"type = {quote(type_name)}" if type_name else None


def _and(*clauses: Optional[str]) -> Optional[str]:
    parts = [f"({c})" if " OR " in c.upper() else c for c in clauses if c]
    return " AND ".join(parts) if parts else None


def _openlineage_findings() -> List[Any]:
    """Live OpenLineage events this working directory's processes could not deliver."""
    from .query.health import Finding
    from .recorder.live import FAILURES_FILE, failures

    told = failures()
    if not told.get("undelivered"):
        return []
    return [Finding("openlineage-undelivered", FAILURES_FILE,
                    f"{told['undelivered']} OpenLineage event(s) not delivered, the last at {told.get('last_at')}: "
                    f"{told.get('last_error')} (the steps were recorded; delete .lineage/{FAILURES_FILE} once "
                    f"the endpoint is fixed)", False)]


@contextlib.contextmanager
def use(store: Union[Lineage, str, None]) -> Iterator[Lineage]:
    """Make ``store`` (a Lineage or a URI) the current store inside the ``with`` block."""
    lin = store if isinstance(store, Lineage) else Lineage.open(store)
    with _recorder().use_store(lin.store):
        yield lin


def current_lineage() -> Lineage:
    """The store ``@step`` writes to now (see the module docstring for the order)."""
    return Lineage(_recorder().current_store())
