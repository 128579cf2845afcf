"""The SQLite backend's reads: read-only SQL over MLMD's own tables for the questions MLMD's API
answers slowly (type names of many artifacts, counts per type, endpoint histories, a runs table,
traversal). Each overrides the :class:`~lineage.store.mlmd_reads.MlmdReads` method of the same
name, and gives the same answer (tests compare them); used when the file's MLMD schema is the one
this code was checked against (10), else the MLMD API answers."""

from __future__ import annotations

import sqlite3
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ..records import Artifact, Context, Event, Execution
from ..values import EXACT_KEY, exact_entries, from_tree
from ..vocab import INPUT_EVENTS, RUN_CONTEXT_TYPES, OUTPUT_EVENTS
from .convert import ART_STATE, EVENT_TYPE, EXEC_STATE, PlainProps
from .mlmd_reads import MlmdReads

__all__ = ["SqliteReads", "CHECKED_SCHEMA_VERSION"]

CHECKED_SCHEMA_VERSION = 10


def _prop_cols(t: str) -> str:
    """An MLMD property row of table alias ``t``: name, is_custom, its value typed by SQLite
    (int, double or string), and the boolean column apart (it holds 0/1)."""
    return (f"{t}.name, {t}.is_custom_property, COALESCE({t}.int_value, {t}.double_value, {t}.string_value), "
            f"{t}.bool_value")


def _props_by_owner(rows: Any, keep: Any = None) -> Dict[int, Dict[str, Any]]:
    """``{owner id: {name: value}}`` of (owner, :func:`_prop_cols`) rows; a custom property wins
    over a declared one of the same name."""
    out: Dict[int, Dict[str, Any]] = {}
    for owner, name, custom, value, b in rows:
        if keep is not None and owner not in keep:
            continue
        d = out.get(owner)
        if d is None:
            d = out[owner] = {}
        if custom or name not in d:
            d[name] = (b == 1) if b is not None else value
    return out


def _exact(props: Dict[str, Any]) -> Dict[str, Any]:
    """The exact values of ``lineage:exact`` put back over what the columns hold."""
    raw = props.pop(EXACT_KEY, None)
    if raw:
        entries = exact_entries(raw)
        for side in ("p", "c"):
            for k, tree in entries[side].items():
                props[k] = from_tree(tree)
    return props


def _like(text: str) -> str:
    """The LIKE pattern of text containing ``text`` (its own % and _ match anything, as in MLMD's
    filter queries on every backend)."""
    return "%" + text + "%"


#: an ``IN`` over ids bound as one parameter, a JSON array (:func:`_ids`): the statement's text
#: is the same whatever the ids, so SQLite compiles it once and sqlite3 keeps it prepared (its
#: last 128 statements), where ids written into the text made every read compile a new statement
IDS = "(SELECT value FROM json_each(?))"


def _ids(ids: Iterable[int]) -> Tuple[str]:
    """The parameter of :data:`IDS`: these ids (ints) as a JSON array."""
    return ("[" + ",".join(map(str, ids)) + "]",)


#: how ML Metadata writes a STRUCT value into string_value (read back through its API)
_STRUCT_PREFIX = "mlmd-struct::"
#: MLMD's Type.type_kind column
_TYPE_KIND = {"execution": 0, "artifact": 1, "context": 2}


class SqliteReads(MlmdReads):
    """Direct read-only SQL on a SQLite store's file."""

    #: (executions of the asked types) x (endpoints) up to which :meth:`_endpoint_rows` probes
    #: each execution against each endpoint, rather than reading each endpoint's associations
    #: (docs/performance.md says what each way cost)
    few_endpoint_probes = 10_000

    _sql: Optional[sqlite3.Connection]

    def artifact_types(self, artifact_ids: Sequence[int]) -> Dict[int, str]:
        """``{artifact id: type name}``, from MLMD's ``Artifact`` table without reading the
        artifacts' properties."""
        ids = sorted(set(int(i) for i in artifact_ids))
        db = self._sql_reader()
        if db is None or not ids:
            return super().artifact_types(ids)
        rows: List[Any] = []
        with self._lock:
            for i in range(0, len(ids), 20000):
                rows += db.execute(f"SELECT id, type_id FROM Artifact WHERE id IN {IDS}",
                                   _ids(ids[i:i + 20000])).fetchall()
        names = self._type_names_by_id("artifact", {tid for _, tid in rows})
        return {aid: names.get(tid, "?") for aid, tid in rows}

    def get_artifacts(self, ids: Iterable[int]) -> List[Artifact]:
        """Artifacts by id, read in SQL from MLMD's Artifact and ArtifactProperty tables (the same
        records ML Metadata's GetArtifactsByID gives, without its conversion to protos and back)."""
        got = self._records("artifact", ids)
        self._known_artifacts.update(a.id for a in got)
        return got

    def get_executions(self, ids: Iterable[int]) -> List[Execution]:
        """Executions by id, read in SQL (see :meth:`get_artifacts`)."""
        return self._records("execution", ids)

    def get_contexts(self, ids: Iterable[int]) -> List[Context]:
        """Contexts by id, read in SQL (see :meth:`get_artifacts`)."""
        return self._records("context", ids)

    def _records(self, kind: str, ids: Iterable[int]) -> List[Any]:
        """Records of ``kind`` by id, in the order asked: read in SQL, else by ML Metadata's API."""
        ids = [int(i) for i in ids]
        got = self._nodes_sql(kind, ids)
        if got is None:
            return getattr(super(), f"get_{kind}s")(ids)
        return [got[i] for i in ids if i in got]

    def _nodes_sql(self, kind: str, ids: List[int]) -> Optional[Dict[int, Any]]:
        """``{id: record}`` of the artifacts, executions or contexts among ``ids``; None when SQL cannot
        answer (no SQL reader, or text SQLite cannot decode). Nodes holding values the columns do
        not spell plainly (STRUCT and PROTO properties) are read through ML Metadata's API."""
        db = self._sql_reader()
        if db is None or not ids:
            return None
        art = kind == "artifact"
        table, owner, extra = {"artifact": ("Artifact", "artifact_id", ", uri, state"),
                               "execution": ("Execution", "execution_id", ", last_known_state"),
                               "context": ("Context", "context_id", "")}[kind]
        unique = sorted(set(ids))
        rows: List[Any] = []
        props: List[Any] = []
        with self._lock:
            try:
                for i in range(0, len(unique), 20000):
                    chunk = _ids(unique[i:i + 20000])
                    rows += db.execute(f"SELECT id, type_id, name, create_time_since_epoch, "
                                       f"last_update_time_since_epoch{extra} FROM {table} WHERE id IN {IDS}", chunk).fetchall()
                    props += db.execute(f"SELECT {owner}, name, is_custom_property, int_value, double_value, string_value, "
                                        f"bool_value, proto_value IS NOT NULL FROM {table}Property "
                                        f"WHERE {owner} IN {IDS}", chunk).fetchall()
            except sqlite3.OperationalError:
                return None
        declared: Dict[int, Dict[str, Any]] = {}
        custom: Dict[int, Dict[str, Any]] = {}
        odd: Set[int] = set()
        for oid, name, is_custom, i, d, text, b, has_proto in props:
            if has_proto or (text is not None and text.startswith(_STRUCT_PREFIX)):
                odd.add(oid)
                continue
            value = (b == 1) if b is not None else i if i is not None else d if d is not None else text
            (custom if is_custom else declared).setdefault(oid, {})[name] = value
        names = self._type_names_by_id(kind, {r[1] for r in rows})
        out: Dict[int, Any] = {}
        for row in rows:
            oid, tid, name, created, updated = row[:5]
            if oid in odd or tid not in names:
                odd.add(oid)
                continue
            p, c = declared.get(oid, {}), custom.get(oid, {})
            raw = c.pop(EXACT_KEY, None)
            if raw:
                entries = exact_entries(raw)
                p.update((k, from_tree(tree)) for k, tree in entries["p"].items())
                c.update((k, from_tree(tree)) for k, tree in entries["c"].items())
            pmap, cmap = PlainProps(p), PlainProps(c)   # records keep them without copying
            if kind == "context":
                out[oid] = Context(id=oid, type=names[tid], name=name or "", properties=pmap, custom_properties=cmap,
                                   create_time_ms=created or 0, update_time_ms=updated or 0)
                continue
            try:
                state = (ART_STATE if art else EXEC_STATE).Name(row[-1] or 0)
            except ValueError:
                odd.add(oid)
                continue
            if art:
                out[oid] = Artifact(id=oid, type=names[tid], uri=row[5] or "", state=state, properties=pmap,
                                    custom_properties=cmap, name=name or None, create_time_ms=created or 0,
                                    update_time_ms=updated or 0)
            else:
                out[oid] = Execution(id=oid, type=names[tid], state=state, properties=pmap, custom_properties=cmap,
                                     name=name or None, create_time_ms=created or 0, update_time_ms=updated or 0)
        if odd:
            out.update((n.id, n) for n in getattr(super(), f"get_{kind}s")(sorted(odd)))
        return out

    def events_of_executions(self, ids: Sequence[int]) -> List[Event]:
        """The events of these executions, read in SQL (MLMD's Event and EventPath tables)."""
        got = self._events_sql("execution_id", ids)
        return super().events_of_executions(ids) if got is None else got

    def events_of_artifacts(self, ids: Sequence[int]) -> List[Event]:
        """The events of these artifacts, read in SQL (see :meth:`events_of_executions`)."""
        got = self._events_sql("artifact_id", ids)
        return super().events_of_artifacts(ids) if got is None else got

    def _events_sql(self, column: str, ids: Sequence[int]) -> Optional[List[Event]]:
        """Events whose ``column`` is among ``ids``, by that id, with their paths in the order
        written; None when SQL cannot answer (then ML Metadata's API does)."""
        db = self._sql_reader()
        unique = sorted(set(int(i) for i in ids))
        if db is None or not unique:
            return None
        rows: List[Any] = []
        paths: Dict[int, List[Any]] = {}
        with self._lock:
            try:
                for i in range(0, len(unique), 20000):
                    rows += db.execute(f"SELECT id, artifact_id, execution_id, type, milliseconds_since_epoch FROM Event "
                                       f"WHERE {column} IN {IDS}", _ids(unique[i:i + 20000])).fetchall()
                # as ML Metadata gives them: by the asked column's id, then as written
                rows.sort(key=(lambda r: (r[1], r[0])) if column == "artifact_id" else (lambda r: (r[2], r[0])))
                event_ids = [r[0] for r in rows]
                for i in range(0, len(event_ids), 20000):
                    for eid, is_index, index, key in db.execute(
                            f"SELECT event_id, is_index_step, step_index, step_key FROM EventPath "
                            f"WHERE event_id IN {IDS} ORDER BY rowid", _ids(event_ids[i:i + 20000])):
                        paths.setdefault(eid, []).append(index if is_index else key)
            except sqlite3.OperationalError:
                return None
        try:
            return [Event(a, e, EVENT_TYPE.Name(t), tuple(paths.get(i, ())), ms or 0) for i, a, e, t, ms in rows]
        except ValueError:   # an event type this ML Metadata does not name
            return None

    def _type_names_by_id(self, kind: str, type_ids: Set[int]) -> Dict[int, str]:
        """``{type id: name}`` of ``kind``'s types, re-read once when one of ``type_ids`` is not
        among them (a type registered since they were read)."""
        names = {t.id: t.name for (k, _), t in self._types.items() if k == kind}
        if not type_ids <= names.keys():
            self._load_types()
            names = {t.id: t.name for (k, _), t in self._types.items() if k == kind}
        return names

    def _type_absent(self, kind: str, name: str) -> bool:
        """No ``kind`` type ``name`` in MLMD's Type table (one indexed lookup; a query asking for
        a type the store does not have, such as RemoteAnswer, then does not re-read every type)."""
        db = self._sql_reader()
        if db is None:
            return super()._type_absent(kind, name)
        with self._lock:
            row = db.execute("SELECT 1 FROM Type WHERE name = ? AND type_kind = ? LIMIT 1",
                             (name, _TYPE_KIND[kind])).fetchone()
        return row is None

    def execution_ids_of_types(self, type_names: Sequence[str]) -> List[int]:
        """Ids of every execution of these types, ascending, from the (type, name) index of MLMD's
        Execution table (its filter query joins the Type table and pages)."""
        db = self._sql_reader()
        if db is None:
            return super().execution_ids_of_types(type_names)
        ids = [self._types[("execution", n)].id for n in type_names if self.has_type("execution", n)]
        if not ids:
            return []
        with self._lock:
            return [i for (i,) in db.execute(f"SELECT id FROM Execution WHERE type_id IN {IDS} ORDER BY id", _ids(ids))]

    def stored_times(self, kind: str, ids: Sequence[int]) -> Dict[int, Tuple[int, int]]:
        """``{id: (create_time_since_epoch, last_update_time_since_epoch)}`` of artifacts or
        executions, straight from MLMD's table (what a write leaves unknown)."""
        db = self._sql_reader()
        if db is None or not ids:
            return super().stored_times(kind, ids)
        table = "Artifact" if kind == "artifact" else "Execution"
        with self._lock:
            rows = db.execute(f"SELECT id, create_time_since_epoch, last_update_time_since_epoch FROM {table} "
                              f"WHERE id IN {IDS}", _ids(int(i) for i in ids)).fetchall()
        return {i: (c, u) for i, c, u in rows}

    def execution_types(self, execution_ids: Sequence[int]) -> Dict[int, Tuple[str, str]]:
        """``{execution id: (type name, state)}``, from MLMD's ``Execution`` table without
        reading properties."""
        ids = sorted(set(int(i) for i in execution_ids))
        db = self._sql_reader()
        if db is None or not ids:
            return super().execution_types(ids)
        rows: List[Any] = []
        with self._lock:
            for i in range(0, len(ids), 20000):
                rows += db.execute(f"SELECT id, type_id, last_known_state FROM Execution WHERE id IN {IDS}",
                                   _ids(ids[i:i + 20000])).fetchall()
        names = self._type_names_by_id("execution", {tid for _, tid, _ in rows})
        return {eid: (names.get(tid, "?"), EXEC_STATE.Name(state) if state is not None else "UNKNOWN")
                for eid, tid, state in rows}

    def executions_in_context(self, context_id: int, *, limit: Optional[int] = 100,
                              ascending: bool = True) -> List[Any]:
        """A page of a context's executions by id: the ids from MLMD's Association table (its
        unique index on context and execution), then the records by id, on SQLite; MLMD's paged
        call elsewhere (it sorts the whole context first; bench/bench_scale.py measures both)."""
        return self._page_of_context(context_id, "execution", limit, ascending)

    def artifacts_in_context(self, context_id: int, *, limit: Optional[int] = 100,
                             ascending: bool = True) -> List[Any]:
        """A page of a context's artifacts by id (see :meth:`executions_in_context`)."""
        return self._page_of_context(context_id, "artifact", limit, ascending)

    def _page_of_context(self, context_id: int, kind: str, limit: Optional[int], ascending: bool) -> List[Any]:
        db = self._sql_reader()
        if db is None:
            base = super().executions_in_context if kind == "execution" else super().artifacts_in_context
            return base(context_id, limit=limit, ascending=ascending)
        table, column = ("Association", "execution_id") if kind == "execution" else ("Attribution", "artifact_id")
        with self._lock:
            ids = [r[0] for r in db.execute(
                f"SELECT {column} FROM {table} WHERE context_id = ? ORDER BY {column} {'ASC' if ascending else 'DESC'} "
                f"LIMIT ?", (int(context_id), int(limit or 100_000)))]
        return self.get_executions(ids) if kind == "execution" else self.get_artifacts(ids)

    def contexts_named_like(self, type_name: str, text: str, limit: int = 10) -> List[Any]:
        """Newest first by id: one indexed-type scan of names (MLMD's filter joins and sorts first)."""
        db = self._sql_reader()
        t = self._types.get(("context", type_name)) if db is not None else None
        if db is None or t is None:
            return super().contexts_named_like(type_name, text, limit)
        with self._lock:
            ids = [r[0] for r in db.execute("SELECT id FROM Context WHERE type_id = ? AND name LIKE ? "
                                            "ORDER BY id DESC LIMIT ?", (t.id, _like(text), int(limit)))]
        found = {c.id: c for c in self.get_contexts(ids)}
        return [found[i] for i in ids if i in found]

    def artifacts_with_uri_like(self, text: str, limit: int = 10) -> List[Any]:
        """Newest first by id: the table read backwards until ``limit`` match (all of it when none do)."""
        db = self._sql_reader()
        if db is None:
            return super().artifacts_with_uri_like(text, limit)
        with self._lock:
            ids = [r[0] for r in db.execute("SELECT id FROM Artifact WHERE uri LIKE ? "
                                            "ORDER BY id DESC LIMIT ?", (_like(text), int(limit)))]
        found = {a.id: a for a in self.get_artifacts(ids)}
        return [found[i] for i in ids if i in found]

    def contexts_of_executions(self, ids: Sequence[int]) -> Dict[int, List[Any]]:
        """``{execution id: its contexts}`` from one read of MLMD's Association table, on SQLite
        (it has no index by execution: MLMD's call per execution scans it); one MLMD call per
        execution elsewhere."""
        db = self._sql_reader()
        ids = list(dict.fromkeys(int(i) for i in ids))
        if db is None or not ids:
            return super().contexts_of_executions(ids)
        with self._lock:
            rows = db.execute(f"SELECT execution_id, context_id FROM Association "
                              f"WHERE execution_id IN {IDS} ORDER BY id", _ids(ids)).fetchall()
        by_id = {c.id: c for c in self.get_contexts(sorted({c for _, c in rows}))}
        out: Dict[int, List[Any]] = {i: [] for i in ids}
        for e, c in rows:
            if c in by_id:
                out[e].append(by_id[c])
        return out

    def run_contexts_of(self, execution_ids: Sequence[int], type_name: str = "PipelineRun") -> Dict[int, Any]:
        """``{execution id: its run context}`` on SQLite without scanning MLMD's Association table
        (it has no index by execution): a step's run began shortly before it, so the newest run
        contexts created before the step are probed through the (context, execution) index, the
        runs already found first; an execution not found so (a run resumed much later) falls back
        to the scan. Every pair found is an Association row, as MLMD's API would give. Answers
        (a run or none) are kept until an association is added: the explorer asks about the same
        shared steps, such as a module's publication, again and again."""
        db = self._sql_reader()
        ids = list(dict.fromkeys(int(i) for i in execution_ids))
        if db is None or not ids:
            return super().run_contexts_of(ids, type_name)
        if not self.has_type("context", type_name):
            return {}
        t = self._types[("context", type_name)]
        known = self._association_cache(("run_contexts_of", type_name))
        found = {eid: known[eid] for eid in ids if known.get(eid) is not None}
        asked = [eid for eid in ids if eid not in known]
        if asked:
            found.update(self._probe_runs(db, asked, t.id))
            known.update((eid, found.get(eid)) for eid in asked)
        contexts = {c.id: c for c in self.get_contexts(sorted(set(found.values())))}
        return {eid: contexts[cid] for eid, cid in found.items() if cid in contexts}

    def _association_cache(self, key: Any) -> Dict[Any, Any]:
        """A dict for answers that hold while no association is added: emptied when the largest
        Association id differs from when it was filled (ML Metadata never deletes an association;
        SQLite's data_version cannot say, as this connection reads the WAL without the shared
        index, see :meth:`_sql_reader`)."""
        db = self._sql_reader()
        with self._lock:
            (top,) = db.execute("SELECT MAX(id) FROM Association").fetchone()
            caches: Optional[Tuple[Any, Dict[Any, Dict[Any, Any]]]] = getattr(self, "_answers", None)
            if caches is None or caches[0] != top or sum(map(len, caches[1].values())) > 100_000:
                caches = (top, {})   # new associations, or enough remembered
                self._answers = caches
            return caches[1].setdefault(key, {})

    def _probe_runs(self, db: sqlite3.Connection, ids: List[int], t_id: int) -> Dict[int, int]:
        """``{execution id: run context id}`` of :meth:`run_contexts_of` (see there); ``t_id``
        is the run context type's id."""
        found: Dict[int, int] = {}
        with self._lock:
            created = dict(db.execute(f"SELECT id, create_time_since_epoch FROM Execution WHERE id IN {IDS}",
                                      _ids(ids)).fetchall())
            (top,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM Context").fetchone()

            def linked(cid: int, eid: int) -> bool:
                return db.execute("SELECT 1 FROM Association WHERE context_id = ? AND execution_id = ?",
                                  (cid, eid)).fetchone() is not None

            def newest_before(when: int) -> int:   # the last context id created at or before `when`
                lo, hi = 1, top
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    row = db.execute("SELECT create_time_since_epoch FROM Context WHERE id <= ? ORDER BY id DESC "
                                     "LIMIT 1", (mid,)).fetchone()
                    if row is not None and row[0] <= when:
                        lo = mid
                    else:
                        hi = mid - 1
                return lo

            for eid in ids:
                if eid not in created:
                    continue
                hit = next((c for c in dict.fromkeys(found.values()) if linked(c, eid)), None)
                if hit is None:
                    # `+type_id`: walk the rowids down, not the type index (every run of the store)
                    rows = db.execute("SELECT id FROM Context WHERE id <= ? AND +type_id = ? ORDER BY id DESC LIMIT 64",
                                      (newest_before(created[eid]), t_id)).fetchall()
                    hit = next((cid for (cid,) in rows if linked(cid, eid)), None)
                if hit is not None:
                    found[eid] = hit
            rest = [i for i in ids if i in created and i not in found]
            if rest:   # not among the newest runs before it: MLMD's table, scanned once for all of them
                for eid, cid in db.execute(
                        f"SELECT a.execution_id, a.context_id FROM Association a JOIN Context c ON c.id = a.context_id "
                        f"WHERE a.execution_id IN {IDS} AND c.type_id = ? ORDER BY a.id",
                        _ids(rest) + (t_id,)).fetchall():
                    found.setdefault(eid, cid)
        return found

    def executions_producing(self, artifact_ids: Sequence[int]) -> List[Any]:
        """The executions with an OUTPUT event to any of these artifacts: their ids from the
        Event table's artifact index, then the records by id, on SQLite (MLMD's filter query
        joins Event on every hop); the filter query elsewhere."""
        db = self._sql_reader()
        ids = sorted(set(int(i) for i in artifact_ids))
        if db is None:
            return super().executions_producing(ids)
        outputs = ",".join(str(EVENT_TYPE.Value(t)) for t in OUTPUT_EVENTS)
        found: Set[int] = set()
        with self._lock:
            for i in range(0, len(ids), 20000):
                found.update(r[0] for r in db.execute(
                    f"SELECT execution_id FROM Event WHERE artifact_id IN {IDS} AND type IN ({outputs})",
                    _ids(ids[i:i + 20000])))
        return self.get_executions(sorted(found))

    def traversal_cap(self) -> int:
        """The most hops one :meth:`traversal_edges` call walks: MLMD's 100, none in SQL."""
        return 1_000_000 if self._sql_reader() is not None else super().traversal_cap()

    def _endpoint_rows(self, type_names: Sequence[str], names: Sequence[str], state: Optional[str],
                       newest_only: bool) -> List[Tuple[str, int]]:
        """``(endpoint name, execution id)`` of the executions of ``type_names`` (in ``state``)
        associated with these ServingEndpoint contexts, or only the newest per endpoint. Few such
        executions for the endpoints asked (observations, rollbacks; fewer than
        :attr:`few_endpoint_probes` pairs): found by MLMD's (type, name) index, then checked
        against each context's association index. Many (pushes): each context's associations
        read newest first."""
        db = self._sql_reader()
        assert db is not None
        if not names:
            return []
        tids = [self._types[("execution", n)].id for n in dict.fromkeys(type_names) if self.has_type("execution", n)]
        se = self._types[("context", "ServingEndpoint")] if self.has_type("context", "ServingEndpoint") else None
        if not tids or se is None:
            return []
        where_state = f" AND e.last_known_state = {EXEC_STATE.Value(state)}" if state else ""
        in_types = ",".join(map(str, tids))
        out: List[Tuple[str, int]] = []
        with self._lock:
            cap = self.few_endpoint_probes // len(names) + 1
            (few,) = db.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM Execution WHERE type_id IN ({in_types}) "
                                f"LIMIT {cap})").fetchone()
            if few < cap:   # few executions times the endpoints: probing each is cheaper
                rows = db.execute(
                    "SELECT c.name, e.id FROM Execution e CROSS JOIN Context c CROSS JOIN Association a "
                    f"WHERE e.type_id IN ({in_types}){where_state} AND c.type_id = ? "
                    f"AND c.name IN ({','.join('?' * len(names))}) AND a.context_id = c.id AND a.execution_id = e.id "
                    "ORDER BY e.id", [se.id, *names]).fetchall()
                if not newest_only:
                    return [(n, i) for n, i in rows]
                newest: Dict[str, int] = {}
                for n, i in rows:
                    newest[n] = i
                return list(newest.items())
            for name in names:
                found = db.execute(
                    "SELECT a.execution_id FROM Context c CROSS JOIN Association a CROSS JOIN Execution e "
                    f"WHERE c.type_id = ? AND c.name = ? AND a.context_id = c.id AND e.id = a.execution_id "
                    f"AND e.type_id IN ({in_types}){where_state} ORDER BY a.execution_id DESC"
                    + (" LIMIT 1" if newest_only else ""), (se.id, name)).fetchall()
                out += [(name, i) for (i,) in found]
        return out

    def endpoints_with(self, type_name: str, names: Sequence[str]) -> Set[str]:
        """Which of these ServingEndpoint contexts hold an execution of ``type_name``."""
        if self._sql_reader() is None:
            return super().endpoints_with(type_name, names)
        return {n for n, _ in self._endpoint_rows([type_name], names, None, newest_only=True)}

    def newest_in_endpoints(self, type_name: str, names: Sequence[str], state: str = "COMPLETE") -> Dict[str, int]:
        """``{endpoint name: id of its newest execution of type_name in state}``."""
        if self._sql_reader() is None:
            return super().newest_in_endpoints(type_name, names, state)
        return dict(self._endpoint_rows([type_name], names, state, newest_only=True))

    def executions_in_endpoints(self, type_names: Sequence[str], names: Sequence[str],
                                state: str = "COMPLETE") -> List[int]:
        """The ids of every execution of ``type_names`` in ``state`` in these endpoints, ascending."""
        if self._sql_reader() is None:
            return super().executions_in_endpoints(type_names, names, state)
        return sorted({i for _, i in self._endpoint_rows(type_names, names, state, newest_only=False)})

    def traversal_edges(self, *, artifact_ids: Sequence[int] = (), execution_ids: Sequence[int] = (),
                        direction: str = "DOWNSTREAM", max_hops: int = 100) -> List[Tuple[int, int, bool]]:
        """MLMD's traversal, events only (see :meth:`Traversal.traversal_edges`), in SQL on SQLite,
        a query per level: the same nodes and events as ``get_lineage_subgraph`` (a property test
        compares them), without its 100-node limit per call."""
        db = self._sql_reader()
        arts = sorted({int(i) for i in artifact_ids})
        execs = sorted({int(i) for i in execution_ids})
        if db is None or direction not in ("DOWNSTREAM", "UPSTREAM") or not (arts or execs):
            return super().traversal_edges(artifact_ids=artifact_ids, execution_ids=execution_ids,
                                           direction=direction, max_hops=max_hops)
        inputs = ",".join(str(EVENT_TYPE.Value(t)) for t in INPUT_EVENTS)
        outputs = ",".join(str(EVENT_TYPE.Value(t)) for t in OUTPUT_EVENTS)
        # downstream: artifact -> the executions it is an input of -> their outputs; upstream: reversed
        from_art, from_exec = (inputs, outputs) if direction == "DOWNSTREAM" else (outputs, inputs)
        hops = int(max_hops)
        input_set = {EVENT_TYPE.Value(t) for t in INPUT_EVENTS}
        out: Dict[Tuple[int, int, bool], None] = {}
        # Breadth first, a level per query and kind: each level's events are read by the indexed
        # artifact_id / execution_id columns, and give both the edges and the next level (a
        # recursive CTE would read the events twice and sort the whole walk to drop repeats).
        with self._lock:
            known_a = {i for (i,) in db.execute(f"SELECT id FROM Artifact WHERE id IN {IDS}", _ids(arts))} if arts else set()
            known_e = {i for (i,) in db.execute(f"SELECT id FROM Execution WHERE id IN {IDS}", _ids(execs))} if execs else set()
            level_a, level_e = sorted(known_a), sorted(known_e)
            depth = 0
            while (level_a or level_e) and depth < hops:
                next_a: List[int] = []
                next_e: List[int] = []
                for level, column, types, seen, grow in ((level_a, "artifact_id", from_art, known_e, next_e),
                                                         (level_e, "execution_id", from_exec, known_a, next_a)):
                    for i in range(0, len(level), 20000):
                        rows = db.execute(f"SELECT artifact_id, execution_id, type FROM Event "
                                          f"WHERE {column} IN {IDS} AND type IN ({types})",
                                          _ids(level[i:i + 20000])).fetchall()
                        out.update(dict.fromkeys((a, e, t in input_set) for a, e, t in rows))
                        found = {r[1] for r in rows} if column == "artifact_id" else {r[0] for r in rows}
                        found -= seen
                        seen |= found
                        grow.extend(found)
                level_a, level_e = sorted(next_a), sorted(next_e)
                depth += 1
        return list(out)

    def run_table(self, run_ids: Optional[Sequence[int]] = None, *, pipeline: Optional[str] = None,
                  experiment: Optional[str] = None, limit: Optional[int] = None,
                  skip_types: Sequence[str] = (), metrics_type: str = "Metrics") -> Dict[int, Dict[str, Any]]:
        """The runs table (see :meth:`MlmdReads.run_table`) in a fixed number of reads whatever
        the number of runs: every run's rows read at once, then the chosen ones kept."""
        db = self._sql_reader()
        if db is None:
            return super().run_table(run_ids, pipeline=pipeline, experiment=experiment, limit=limit,
                                     skip_types=skip_types, metrics_type=metrics_type)
        table = self._run_table_sql(db, run_ids, skip_types, metrics_type)
        if run_ids is not None:
            return table

        def chosen(p: Dict[str, Any]) -> bool:
            return (not pipeline or (p.get("pipeline") or p.get("pipeline_name")) == pipeline) and \
                (not experiment or p.get("experiment") == experiment)
        return dict([(cid, t) for cid, t in table.items() if chosen(t["properties"])][:limit])

    def _run_table_sql(self, db: sqlite3.Connection, run_ids: Optional[Sequence[int]], skip_types: Sequence[str],
                       metrics_type: str) -> Dict[int, Dict[str, Any]]:
        self._load_types()
        names = {(k, t.id): n for (k, n), t in self._types.items()}
        metrics_tid = next((t.id for (k, n), t in self._types.items() if k == "artifact" and n == metrics_type), -1)
        if run_ids is not None and len(run_ids) <= 5000:
            ctx_where = "IN (" + (",".join(str(int(i)) for i in run_ids) or "-1") + ")"
        else:
            tids = sorted(t.id for (k, n), t in self._types.items() if k == "context" and n in RUN_CONTEXT_TYPES)
            ctx_where = f"IN (SELECT id FROM Context WHERE type_id IN ({','.join(map(str, tids)) or '-1'}))"
        wanted = None if run_ids is None else set(int(i) for i in run_ids)
        out: Dict[int, Dict[str, Any]] = {}
        with self._lock:
            for cid, name, tid, created in db.execute(
                    f"SELECT id, name, type_id, create_time_since_epoch FROM Context WHERE id {ctx_where} ORDER BY id DESC"):
                if wanted is None or cid in wanted:
                    out[cid] = {"name": name, "type": names.get(("context", tid), "?"), "create_ms": created,
                                "properties": {}, "steps": [], "metrics": {}}
            props = _props_by_owner(db.execute(f"SELECT p.context_id, {_prop_cols('p')} FROM ContextProperty p "
                                               f"WHERE p.context_id {ctx_where}"), out)
            for cid, p in props.items():
                out[cid]["properties"] = _exact(p)
            steps: Dict[int, Tuple[int, str, str]] = {}
            state_names = {v: k for k, v in EXEC_STATE.items()}
            skip = set(skip_types)
            for cid, eid, tid, state in db.execute(
                    f"SELECT a.context_id, e.id, e.type_id, e.last_known_state FROM Association a "
                    f"JOIN Execution e ON e.id = a.execution_id WHERE a.context_id {ctx_where}"):
                if cid not in out:
                    continue
                name = names.get(("execution", tid))
                if name is None:
                    self._load_types()
                    names = {(k, t.id): n for (k, n), t in self._types.items()}
                    name = names.get(("execution", tid), "?")
                if name not in skip:
                    steps[eid] = (cid, name, state_names.get(state, "UNKNOWN"))
            # driven from the runs' associations (CROSS JOIN keeps SQLite to that order)
            params = _props_by_owner(db.execute(
                f"SELECT p.execution_id, {_prop_cols('p')} FROM Association x "
                f"CROSS JOIN ExecutionProperty p ON p.execution_id = x.execution_id "
                f"WHERE x.context_id {ctx_where} AND p.is_custom_property = 1"), steps)
            last = _props_by_owner(db.execute(
                    f"SELECT ev.execution_id, {_prop_cols('ap')} FROM Association x "
                    f"CROSS JOIN Event ev ON ev.execution_id = x.execution_id "
                    f"CROSS JOIN Artifact ar ON ar.id = ev.artifact_id "
                    f"CROSS JOIN ArtifactProperty ap ON ap.artifact_id = ar.id "
                    f"WHERE x.context_id {ctx_where} AND ev.type = {EVENT_TYPE.Value('OUTPUT')} "
                    f"AND ar.type_id = {metrics_tid} AND ap.is_custom_property = 1"), steps)
        for eid in sorted(steps):
            cid, name, state = steps[eid]
            row = out[cid]
            row["steps"].append((eid, name, state, _exact(params[eid]) if eid in params else {}))
            if eid in last:
                row["metrics"].update(_exact(last[eid]))
        return out

    def has_custom_property(self, name: str) -> bool:
        """Whether any artifact has a custom property ``name``: one indexed read."""
        db = self._sql_reader()
        if db is None:
            return super().has_custom_property(name)
        with self._lock:
            row = db.execute("SELECT 1 FROM ArtifactProperty WHERE name = ? AND is_custom_property = 1 LIMIT 1",
                             (name,)).fetchone()
        return row is not None

    def cached_executions(self, execution_ids: Sequence[int]) -> Set[int]:
        """Which of these executions are CACHED: one indexed read per 20,000 ids."""
        db = self._sql_reader()
        if db is None:
            return super().cached_executions(execution_ids)
        ids = sorted(set(int(i) for i in execution_ids))
        out: Set[int] = set()
        for i in range(0, len(ids), 20000):
            with self._lock:
                out.update(r[0] for r in db.execute(
                    f"SELECT id FROM Execution WHERE id IN {IDS} AND last_known_state = "
                    f"{EXEC_STATE.Value('CACHED')}", _ids(ids[i:i + 20000])))
        return out

    def counts(self, cap: int = 10_000) -> Dict[str, Dict[str, int]]:
        """``{"artifact"|"execution": {type: count}}`` and ``{"state": {STATE: n}}``: one GROUP
        BY each, exact (no cap)."""
        db = self._sql_reader()
        if db is None:
            return super().counts(cap)
        self._load_types()
        out: Dict[str, Dict[str, int]] = {"artifact": {}, "execution": {}, "state": {}}
        names = {(k, t.id): n for (k, n), t in self._types.items()}
        with self._lock:
            for kind, table in (("artifact", "Artifact"), ("execution", "Execution")):
                for tid, n in db.execute(f"SELECT type_id, COUNT(*) FROM {table} GROUP BY type_id"):
                    out[kind][names.get((kind, tid), f"type {tid}")] = n
            for state, n in db.execute("SELECT last_known_state, COUNT(*) FROM Execution GROUP BY last_known_state"):
                out["state"][EXEC_STATE.Name(state) if state is not None else "UNKNOWN"] = n
        return out

    def _sql_reader(self) -> Optional[sqlite3.Connection]:
        """A read-only sqlite3 connection to this store's file when its MLMD schema is the one
        this code was checked against (10); None otherwise.

        ``readonly_shm``: ML Metadata links its own copy of SQLite, and POSIX locks do not tell
        two copies in one process apart, so a connection opening the WAL index normally would find
        it unused, take it as the first and truncate it under ML Metadata's mapping (a SIGBUS in
        ML Metadata, seen when a step in one thread wrote while another opened this reader). With
        the index read-only SQLite never writes it: beside another process's writer it maps the
        index as usual; beside this process's own ML Metadata it reads the WAL directly."""
        if self.config.backend != "sqlite":
            return None
        if not hasattr(self, "_sql"):
            self._sql = None
            try:
                db = sqlite3.connect(f"file:{self.config.path}?mode=ro&readonly_shm=1", uri=True,
                                     check_same_thread=False)
                (version,) = db.execute("SELECT schema_version FROM MLMDEnv").fetchone()
                db.execute(f"SELECT 1 WHERE 1 IN {IDS}", _ids([1])).fetchall()   # json_each, which IDS needs
                if version == CHECKED_SCHEMA_VERSION:
                    self._sql = db
                    if not self._types:
                        self._load_types()
                else:
                    db.close()
            except sqlite3.Error:
                self._sql = None
        return self._sql


    def close(self) -> None:
        # ML Metadata's connection first: closing this one (another copy of SQLite) drops its
        # POSIX locks on the file (sqlite.org/howtocorrupt.html, 2.2.1)
        super().close()
        self._close_sql_reader(reopen=False)

    def _close_sql_reader(self, reopen: bool = True) -> None:
        """Close the SQL reader; with ``reopen`` the next fast read opens it again."""
        with self._lock:
            db = getattr(self, "_sql", None)
            if reopen:
                self.__dict__.pop("_sql", None)
            else:
                self._sql = None
            if db is not None:
                db.close()
