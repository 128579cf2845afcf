"""The questions every backend answers, through ML Metadata's API: what the query layer asks
the store beyond plain node reads (type names of many nodes, counts, endpoint histories, a
runs table). Each is a method of the backend class chosen when the store opens
(:mod:`lineage.store.backends`); a backend with a faster way (SQL on SQLite's file, see
:mod:`lineage.store.sqlite`) overrides the method. Nothing here answers "not supported": every
method gives the full answer on every backend."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from ..records import Context
from ..vocab import EXECUTION_STATES, RUN_CONTEXT_TYPES, quote
from .traversal import Traversal
from .typesync import TypeSync

__all__ = ["MlmdReads"]

_CHUNK = 500   # ids per filter query (MLMD builds one SQL statement of them)


def _chunks(ids: Sequence[int]) -> List[str]:
    return [",".join(str(int(x)) for x in ids[i:i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


class MlmdReads(TypeSync, Traversal):
    """Aggregate reads through ML Metadata's API (any backend)."""

    def run_contexts_of(self, execution_ids: Sequence[int], type_name: str = "PipelineRun") -> Dict[int, Context]:
        """``{execution id: its run context}`` (the first ``type_name`` context it is associated
        with) for the executions that have one."""
        out: Dict[int, Context] = {}
        for eid, contexts in self.contexts_of_executions(execution_ids).items():
            run = next((c for c in contexts if c.type == type_name), None)
            if run is not None:
                out[eid] = run
        return out

    def artifact_types(self, artifact_ids: Sequence[int]) -> Dict[int, str]:
        """``{artifact id: type name}``."""
        ids = sorted(set(int(i) for i in artifact_ids))
        return {a.id: a.type for a in self.get_artifacts(ids)} if ids else {}

    def execution_types(self, execution_ids: Sequence[int]) -> Dict[int, Tuple[str, str]]:
        """``{execution id: (type name, state)}``."""
        ids = sorted(set(int(i) for i in execution_ids))
        return {e.id: (e.type, e.state) for e in self.get_executions(ids)} if ids else {}

    def execution_ids_of_types(self, type_names: Sequence[str]) -> List[int]:
        """Ids of every execution of these types, ascending (ML Metadata's filter, paged by id)."""
        ids: List[int] = []
        for name in type_names:
            if not self.has_type("execution", name):
                continue
            last = 0
            while True:
                batch = self.list_executions(filter_query=f"type = '{name}' AND id > {last}", limit=1000,
                                             order_by="id", ascending=True)
                ids += [e.id for e in batch]
                if len(batch) < 1000:
                    break
                last = batch[-1].id
        return sorted(ids)

    def stored_times(self, kind: str, ids: Sequence[int]) -> Dict[int, Tuple[int, int]]:
        """``{id: (create_time_since_epoch, last_update_time_since_epoch)}`` of artifacts or
        executions as the store holds them (what a write leaves unknown)."""
        if not ids:
            return {}
        reader = self.get_artifacts if kind == "artifact" else self.get_executions
        return {r.id: (r.create_time_ms, r.update_time_ms) for r in reader([int(i) for i in ids])}

    def _run_contexts(self, pipeline: Optional[str], experiment: Optional[str], limit: Optional[int]) -> List[Any]:
        clauses = []
        for t in [t for t in RUN_CONTEXT_TYPES if self.has_type("context", t)]:
            parts = [f"type = {quote(t)}"]
            if pipeline:
                parts.append(f"properties.{'pipeline' if t == 'PipelineRun' else 'pipeline_name'}.string_value = "
                             f"{quote(pipeline)}")
            if experiment:
                if t != "PipelineRun":
                    continue
                parts.append(f"properties.experiment.string_value = {quote(experiment)}")
            clauses.append("(" + " AND ".join(parts) + ")")
        if not clauses:
            return []
        return self.list_contexts(filter_query=" OR ".join(clauses), limit=limit, order_by="id")

    def contexts_named_like(self, type_name: str, text: str, limit: int = 10) -> List[Any]:
        """Contexts of ``type_name`` whose name contains ``text``, newest first (search)."""
        if not self.has_type("context", type_name):
            return []
        return self.list_contexts(filter_query=f"type = {quote(type_name)} AND name LIKE {quote('%' + text + '%')}",
                                  limit=limit, order_by="id", ascending=False)

    def artifacts_with_uri_like(self, text: str, limit: int = 10) -> List[Any]:
        """Artifacts whose URI contains ``text``, newest first (search)."""
        return self.list_artifacts(filter_query=f"uri LIKE {quote('%' + text + '%')}", limit=limit,
                                   order_by="id", ascending=False)

    def has_custom_property(self, name: str) -> bool:
        """Whether any artifact has a string custom property ``name``."""
        return bool(self.list_artifacts(
            filter_query=f"custom_properties.{name}.string_value LIKE '%'", limit=1))

    def cached_executions(self, execution_ids: Sequence[int]) -> Set[int]:
        """Which of these executions are CACHED (cache hits: they reused outputs, made none)."""
        out: Set[int] = set()
        for chunk in _chunks(sorted(set(int(i) for i in execution_ids))):
            out.update(e.id for e in self.list_executions(
                filter_query=f"id IN ({chunk}) AND last_known_state = CACHED", limit=None))
        return out

    def counts(self, cap: int = 10_000) -> Dict[str, Dict[str, int]]:
        """``{"artifact"|"execution": {type: count}}`` and execution ``{"state": {STATE: n}}``,
        each counted up to ``cap`` (a count equal to ``cap`` means "at least"; SQLite counts
        exactly)."""
        self._load_types()
        out: Dict[str, Dict[str, int]] = {"artifact": {}, "execution": {}, "state": {}}
        for kind in ("artifact", "execution"):
            lister = self.list_artifacts if kind == "artifact" else self.list_executions
            for name in self.type_names(kind):
                n = len(lister(filter_query=f"type = {quote(name)}", limit=cap))
                if n:
                    out[kind][name] = n
        for state in EXECUTION_STATES[2:]:  # RUNNING onwards
            n = len(self.list_executions(filter_query=f"last_known_state = {state}", limit=cap))
            if n:
                out["state"][state] = n
        return out

    # ------------------------------------------------------------ serving endpoints

    def _in_endpoints(self, type_names: Sequence[str], names: Sequence[str], state: Optional[str],
                      limit: Optional[int] = None, ascending: bool = True) -> List[Any]:
        if not names or not type_names:
            return []
        in_names = ", ".join(quote(n) for n in names)
        q = (f"contexts_a.type = 'ServingEndpoint' AND contexts_a.name IN ({in_names}) "
             f"AND type IN ({', '.join(quote(t) for t in type_names)})")
        if state:
            q += f" AND last_known_state = {state}"
        return self.list_executions(filter_query=q, limit=limit, order_by="id", ascending=ascending)

    def _endpoint_of(self, executions: Sequence[Any], names: Sequence[str]) -> Dict[int, str]:
        """``{execution id: endpoint name}`` of executions read from these endpoints."""
        wanted = set(names)
        out: Dict[int, str] = {}
        for eid, ctxs in self.contexts_of_executions([e.id for e in executions]).items():
            for c in ctxs:
                if c.type == "ServingEndpoint" and c.name in wanted:
                    out[eid] = c.name
        return out

    def endpoints_with(self, type_name: str, names: Sequence[str]) -> Set[str]:
        """Which of these ServingEndpoint contexts hold an execution of ``type_name``."""
        found: Set[str] = set()
        for name in sorted(set(names)):
            if self._in_endpoints([type_name], [name], None, limit=1):
                found.add(name)
        return found

    def newest_in_endpoints(self, type_name: str, names: Sequence[str], state: str = "COMPLETE") -> Dict[str, int]:
        """``{endpoint name: id of its newest execution of type_name in state}`` for these
        ServingEndpoint contexts."""
        out: Dict[str, int] = {}
        for name in sorted(set(names)):
            newest = self._in_endpoints([type_name], [name], state, limit=1, ascending=False)
            if newest:
                out[name] = newest[0].id
        return out

    def executions_in_endpoints(self, type_names: Sequence[str], names: Sequence[str],
                                state: str = "COMPLETE") -> List[int]:
        """The ids of every execution of ``type_names`` in ``state`` in these ServingEndpoint
        contexts, ascending."""
        return sorted({e.id for e in self._in_endpoints(type_names, sorted(set(names)), state)})

    # ------------------------------------------------------------------ runs table

    def run_table(self, run_ids: Optional[Sequence[int]] = None, *, pipeline: Optional[str] = None,
                  experiment: Optional[str] = None, limit: Optional[int] = None,
                  skip_types: Sequence[str] = (), metrics_type: str = "Metrics") -> Dict[int, Dict[str, Any]]:
        """What a runs table needs of these run contexts (None: every run context of
        ``pipeline`` and ``experiment``, the ``limit`` newest), newest first: ``{context id:
        {"name", "type", "create_ms", "properties": {...}, "steps": [(execution id, type, state,
        {custom property: value})], "metrics": {name: last value}}}``, steps in id order, metrics
        from the ``metrics_type`` outputs of the steps (a later step's value wins); executions of
        ``skip_types`` left out."""
        if run_ids is None:
            run_ids = [c.id for c in self._run_contexts(pipeline, experiment, limit)]
        ids = sorted(set(int(i) for i in run_ids))
        out: Dict[int, Dict[str, Any]] = {}
        owner: Dict[int, int] = {}
        for ctx in sorted(self.get_contexts(ids), key=lambda c: -c.id):
            row = out[ctx.id] = {"name": ctx.name, "type": ctx.type, "create_ms": ctx.create_time_ms,
                                 "properties": {**ctx.properties, **ctx.custom_properties}, "steps": [], "metrics": {}}
            for e in self.executions_in_context(ctx.id, limit=None):
                if e.type in skip_types:
                    continue
                row["steps"].append((e.id, e.type, e.state, dict(e.custom_properties)))
                owner[e.id] = ctx.id
        exec_ids = sorted(owner)
        made: Dict[int, List[int]] = {}
        for i in range(0, len(exec_ids), _CHUNK):
            for ev in self.events_of_executions(exec_ids[i:i + _CHUNK]):
                if ev.type == "OUTPUT":
                    made.setdefault(ev.execution_id, []).append(ev.artifact_id)
        art_ids = sorted({a for v in made.values() for a in v})
        arts = {}
        for i in range(0, len(art_ids), _CHUNK):
            arts.update({a.id: a for a in self.get_artifacts(art_ids[i:i + _CHUNK]) if a.type == metrics_type})
        for eid in exec_ids:
            for aid in made.get(eid, []):
                if aid in arts:
                    out[owner[eid]]["metrics"].update(arts[aid].custom_properties)
        return out
