"""Writes: contexts, one execution with its events and contexts in one MLMD call, bulk
subgraphs in one transaction, external artifacts; and the schema version record."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import AlreadyExists, NotFound, SchemaConflict, StoreBusy
from ..records import Artifact, Context, Execution
from ..vocab import quote
from .convert import ART_STATE, EVENT_TYPE, EXEC_STATE, artifact_record, context_record, copy_proto, execution_record, pb
from .typesync import TypeSync

__all__ = ["Writes", "ArtifactRef"]

#: An artifact to link to an execution: an existing artifact's id, or a new record (id None).
ArtifactRef = Union[int, Artifact]


class Writes(TypeSync):
    """Everything that changes the store."""

    def ensure_schema(self) -> None:
        """Register every built-in type (idempotent, additive), then the schema version."""
        self._load_types()
        specs = list(self.registry.builtin())
        if all(self._covering(spec, reload=False) is not None for spec in specs):
            self._record_schema_version()
            return
        with self.type_lock():
            for spec in specs:
                self.ensure_type(spec)
            self._record_schema_version()

    def _record_schema_version(self) -> None:
        version = self.registry.version
        existing = self.get_context_by_name("LineageStore", "store")
        if existing is not None:
            stored = existing.properties.get("schema_version") or 0
            if stored > version:
                raise SchemaConflict(
                    f"the store {self.config.redacted()} was written by a newer lineage "
                    f"(schema version {stored}; this one knows {version}). Upgrade lineage."
                )
            if stored == version:
                return
        self.put_context("LineageStore", "store", {"schema_version": version})

    def put_context(self, type_name: str, name: str, properties: Mapping[str, Any] = {},
                    *, update: bool = True) -> Context:
        """Create the context, or (``update=True``) set the given properties on it."""
        type_id = self._type_id("context", type_name)
        for _ in range(3):
            existing = self._call(f"reading {type_name} context {name!r}",
                                  self.mlmd.get_context_by_type_and_name, type_name, name)
            proto = existing if existing is not None else pb.Context(type_id=type_id, name=name)
            if existing is not None and not update:
                self._contexts[proto.id] = proto
                return context_record(copy_proto(proto))
            self._fill(proto, "context", type_name, properties, {})
            try:
                [cid] = self._write(f"writing {type_name} context {name!r}",
                                    self.mlmd.put_contexts, [proto])
            except AlreadyExists:
                continue  # created by a concurrent writer: read it and update that one
            proto.id = cid
            proto.type = type_name
            self._contexts[cid] = proto
            return context_record(copy_proto(proto))
        raise StoreBusy(f"could not create the {type_name} context {name!r}: it kept changing")

    def link_contexts(self, parent_id: int, child_id: int) -> None:
        """Record ``parent_id`` as a parent context of ``child_id`` (idempotent)."""
        link = pb.ParentContext(parent_id=parent_id, child_id=child_id)
        try:
            self._write("linking contexts", self.mlmd.put_parent_contexts, [link])
        except AlreadyExists:
            pass  # already linked

    def _context_protos(self, ids: Sequence[int]) -> List[pb.Context]:
        missing = [i for i in ids if i not in self._contexts]
        if missing:
            for c in self._list("reading contexts", self.mlmd.get_contexts_by_id, missing):
                self._contexts[c.id] = c
        out = []
        for i in ids:
            if i not in self._contexts:
                raise NotFound(f"context {i} does not exist in {self.config.redacted()}")
            out.append(self._contexts[i])
        return out

    # --------------------------------------------------------------- executions

    def write_execution(
        self,
        *,
        type: str,
        state: str,
        execution_id: Optional[int] = None,
        properties: Mapping[str, Any] = {},
        params: Mapping[str, Any] = {},
        inputs: Sequence[Tuple[ArtifactRef, str]] = (),
        outputs: Sequence[Tuple[ArtifactRef, str]] = (),
        context_ids: Sequence[int] = (),
        reread: bool = True,
        also_outputs: Sequence[Tuple[ArtifactRef, str]] = (),
    ) -> Tuple[Execution, List[Artifact]]:
        """Create or update one execution with its events and contexts in ONE MLMD call.
        ``also_outputs`` are written like ``outputs`` but not read back nor returned.

        ``inputs``/``outputs`` pair an artifact (existing id, or a new record) with the
        argument name recorded as the event path. Existing artifacts are linked by id and
        left as they are.
        Returns the execution and the output artifacts (with MLMD's timestamps when ``reread``,
        else as written, without them).
        """
        action = f"recording a {type} execution"
        with self._lock:
            if execution_id is not None:
                proto = self._running.pop(execution_id, None)
                if proto is None:
                    found = self._list(action, self.mlmd.get_executions_by_id, [execution_id])
                    if not found:
                        raise NotFound(f"execution {execution_id} does not exist")
                    proto = found[0]
            else:
                proto = pb.Execution(type_id=self._type_id("execution", type))
            proto.last_known_state = EXEC_STATE.Value(state)
            self._fill(proto, "execution", type, properties, params)

            pairs, out_index = self._event_pairs(action, inputs, list(outputs) + list(also_outputs))
            out_index = out_index[:len(outputs)]
            contexts = self._context_protos(list(context_ids))
            # Contexts go by id: MLMD checks each exists and neither reads its properties nor
            # its type (they are this store's, see _context_protos).
            exec_id, art_ids, _ = self._write(
                action, self.mlmd.put_execution, proto, pairs, [pb.Context(id=c.id) for c in contexts],
                force_reuse_context=True,
            )
            self._known_artifacts.update(art_ids)
            proto.id = exec_id
            proto.type = type
            if state in ("RUNNING", "NEW"):
                self._running[exec_id] = proto  # the terminal update needs no read
        out_ids = [art_ids[i] for i in out_index]
        new_outs = [ref for ref, _ in outputs if not isinstance(ref, int)]
        times = (self._times("artifact", out_ids) if reread else {}) \
            if out_ids and len(new_outs) == len(outputs) else None
        if times is not None:
            # New artifacts are what was written plus their ids (and, when ``reread``, MLMD's times).
            outs = []
            for ref, i, index in zip(new_outs, out_ids, out_index):
                art = copy_proto(pairs[index][0])
                art.id, art.type = i, ref.type
                if i in times:
                    art.create_time_since_epoch, art.last_update_time_since_epoch = times[i]
                outs.append(artifact_record(art))
        else:
            by_id = {a.id: a for a in self.get_artifacts(sorted(set(out_ids)))} if out_ids else {}
            outs = [by_id[i] for i in out_ids]
        written = copy_proto(proto)
        if reread:
            times = self._times("execution", [exec_id])
            if exec_id not in times:
                return self.get_execution(exec_id), outs
            written.create_time_since_epoch, written.last_update_time_since_epoch = times[exec_id]
        return execution_record(written), outs

    def _times(self, kind: str, ids: Sequence[int]) -> Dict[int, Tuple[int, int]]:
        """MLMD's create and update times of what was just written."""
        return self.stored_times(kind, ids)  # type: ignore[attr-defined]  # MlmdReads, in Store

    def _event_pairs(self, action: str, inputs: Sequence[Tuple[ArtifactRef, str]],
                     outputs: Sequence[Tuple[ArtifactRef, str]]) -> Tuple[List[Tuple[Any, Any]], List[int]]:
        """``(artifact proto, event)`` pairs for MLMD, and for each requested output the index of
        its pair (an artifact bound to two arguments shares one pair). An existing artifact is
        linked by its id alone (no artifact in its pair: MLMD neither reads nor rewrites it);
        one this store has not seen is first checked to exist."""
        self.check_artifacts_exist(action, [a for a, _ in list(inputs) + list(outputs) if isinstance(a, int)])
        pairs: List[Tuple[Any, Any]] = []
        out_index: List[int] = []
        by_ref: Dict[Tuple[int, int], int] = {}
        for refs, etype in ((inputs, EVENT_TYPE.INPUT), (outputs, EVENT_TYPE.OUTPUT)):
            for ref, key in refs:
                if isinstance(ref, int) and (ref, etype) in by_ref:
                    # One artifact bound to two arguments: MLMD keeps one event per
                    # (artifact, execution, type), so its path names both.
                    index = by_ref[(ref, etype)]
                    pairs[index][1].path.steps.add().key = key
                else:
                    event = pb.Event(type=etype)
                    event.path.steps.add().key = key
                    index = len(pairs)
                    if isinstance(ref, int):
                        by_ref[(ref, etype)] = index
                        event.artifact_id = ref
                        pairs.append((None, event))
                    else:
                        pairs.append((self.new_artifact_proto(ref), event))
                if etype == EVENT_TYPE.OUTPUT:
                    out_index.append(index)
        return pairs, out_index

    def check_artifacts_exist(self, action: str, ids: Sequence[int]) -> None:
        """NotFound naming the ids among ``ids`` the store does not hold. Artifacts are never
        removed from an MLMD store (retired ones change state), so an id this store object has
        read or written once is not read again."""
        unseen = sorted(set(ids) - self._known_artifacts)
        if unseen:
            self._stored_artifacts(action, unseen)

    def _stored_artifacts(self, action: str, ids: Sequence[int]) -> List[pb.Artifact]:
        """The artifacts ``ids`` as MLMD stores them; NotFound naming any it does not hold."""
        protos = self._list(action, self.mlmd.get_artifacts_by_id, list(ids)) if ids else []
        self._known_artifacts.update(a.id for a in protos)
        missing = sorted(set(ids) - {a.id for a in protos})
        if missing:
            raise NotFound(f"{action}: artifact(s) {missing} do not exist in {self.config.redacted()}")
        return protos

    def put_subgraph(
        self,
        *,
        executions: Sequence[Tuple[str, str, Mapping[str, Any], Mapping[str, Any]]],
        artifacts: Sequence[ArtifactRef],
        edges: Sequence[Tuple[int, int, str, str]],
        context_ids: Sequence[int] = (),
    ) -> Tuple[List[int], List[int]]:
        """Record many executions, artifacts and events in ONE transaction (bulk import).

        ``executions`` are ``(type, state, properties, params)``; ``artifacts`` new records
        or existing ids; ``edges`` ``(execution index, artifact index, "INPUT"|"OUTPUT", key)``.
        Every node is attributed/associated to every context in ``context_ids``. Returns the
        execution ids and artifact ids, in order.
        """
        with self._lock:
            exec_protos = []
            for type_name, state, props, params in executions:
                proto = pb.Execution(type_id=self._type_id("execution", type_name),
                                     last_known_state=EXEC_STATE.Value(state))
                self._fill(proto, "execution", type_name, props, params)
                exec_protos.append(proto)
            existing = sorted({a for a in artifacts if isinstance(a, int)})
            stored = {a.id: a for a in self._stored_artifacts("bulk import", existing)}
            art_protos = [stored[a] if isinstance(a, int) else self.new_artifact_proto(a) for a in artifacts]
            event_edges = []
            merged: Dict[Tuple[int, int, str], Any] = {}
            for ei, ai, etype, key in edges:
                event = merged.get((ei, ai, etype))
                if event is not None:  # one artifact bound to two arguments: one event, both names
                    event.path.steps.add().key = key
                    continue
                event = merged[(ei, ai, etype)] = pb.Event(type=EVENT_TYPE.Value(etype))
                event.path.steps.add().key = key
                event_edges.append((ei, ai, event))
            contexts = self._context_protos(list(context_ids))
            exec_ids, art_ids, _ = self._write(
                "bulk import", self.mlmd.put_lineage_subgraph, exec_protos, art_protos, contexts,
                event_edges, reuse_context_if_already_exist=True,
                reuse_artifact_if_already_exist_by_external_id=False)
        return list(exec_ids), list(art_ids)

    def write_annotation(self, *, type: str, properties: Mapping[str, Any], target_kind: str,
                         target_id: int, target_custom: Mapping[str, Any] = {}) -> Execution:
        """Record an annotation execution (a ``Tag``, a ``Note``) and set ``target_custom``
        custom properties on its target (None removes one). For an artifact or an execution
        both are written in ONE transaction; for a context the annotation is written first, then
        the context (MLMD would otherwise associate the annotation with the run as a step)."""
        action = f"recording a {type}"
        with self._lock:
            proto = pb.Execution(type_id=self._type_id("execution", type),
                                 last_known_state=EXEC_STATE.Value("COMPLETE"))
            self._fill(proto, "execution", type, properties, {})
            if target_kind == "artifact":
                [target] = self._list(action, self.mlmd.get_artifacts_by_id, [target_id]) or [None]
            elif target_kind == "execution":
                [target] = self._list(action, self.mlmd.get_executions_by_id, [target_id]) or [None]
            else:
                [target] = self._list(action, self.mlmd.get_contexts_by_id, [target_id]) or [None]
            if target is None:
                raise NotFound(f"{target_kind} {target_id} does not exist in {self.config.redacted()}")
            if target_custom:
                self._fill(target, target_kind, target.type, {}, target_custom)
            if target_kind == "artifact":
                exec_ids, _, _ = self._write(action, self.mlmd.put_lineage_subgraph, [proto], [target], [], [])
            elif target_kind == "execution":
                exec_ids = self._write(action, self.mlmd.put_executions, [proto, target])
            else:
                exec_ids = self._write(action, self.mlmd.put_executions, [proto])
                if target_custom:
                    self._write(action, self.mlmd.put_contexts, [target])
                    self._contexts.pop(target_id, None)
        return self.get_execution(exec_ids[0])

    def set_artifact_states(self, ids: Sequence[int], state: str, custom: Mapping[str, Any] = {}) -> None:
        """Set ``state`` (``LIVE``, ``MARKED_FOR_DELETION``, ``DELETED``...) and ``custom``
        properties (None removes one) on artifacts, in one write; uri, properties and events stay."""
        ids = sorted(set(int(i) for i in ids))
        if not ids:
            return
        action = f"marking {len(ids)} artifact(s) {state}"
        with self._lock:
            protos = self._stored_artifacts(action, ids)
            for proto in protos:
                proto.state = ART_STATE.Value(state)
                for k in [k for k, v in custom.items() if v is None]:   # None removes it
                    if k in proto.custom_properties:
                        del proto.custom_properties[k]
                self._fill(proto, "artifact", proto.type, {}, {k: v for k, v in custom.items() if v is not None})
            self._write(action, self.mlmd.put_artifacts, protos)

    def put_artifacts(self, artifacts: Sequence[Artifact]) -> List[Artifact]:
        """Record artifacts that no execution produced (external data)."""
        protos = [self.new_artifact_proto(a) for a in artifacts]
        ids = self._write("recording artifacts", self.mlmd.put_artifacts, protos)
        return self.get_artifacts(ids)

    # -------------------------------------------------------------------- reads

    def find_artifact(self, type_name: str, uri: str, fingerprint: str) -> Optional[Artifact]:
        """The newest LIVE artifact of this type at this URI with this fingerprint, if any."""
        if ("artifact", type_name) not in self._types:
            self._load_types()
            if ("artifact", type_name) not in self._types:
                return None
        q = (f"type = {quote(type_name)} AND uri = {quote(uri)} AND "
             f"properties.fingerprint.string_value = {quote(fingerprint)}")
        found = self.list_artifacts(filter_query=q, limit=1)
        return found[0] if found else None

