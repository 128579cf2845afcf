"""SQLite fast paths: read-only SQL over MLMD's own tables for questions MLMD's API answers
slowly (type names of many artifacts, counts per type). Used only when the file's MLMD schema is
the one this code was checked against (10); everything falls back to the MLMD API."""

from __future__ import annotations

import sqlite3
from typing import Dict, List, Optional, Sequence, Set, Tuple

from ..vocab import EXECUTION_STATES, INPUT_EVENTS, OUTPUT_EVENTS, quote
from .convert import EVENT_TYPE, EXEC_STATE
from .typesync import TypeSync

__all__ = ["SqliteReads", "CHECKED_SCHEMA_VERSION"]

CHECKED_SCHEMA_VERSION = 10


class SqliteReads(TypeSync):
    """Direct read-only SQL on a SQLite store's file."""

    _sql: Optional[sqlite3.Connection]

    def artifact_types(self, artifact_ids: Sequence[int]) -> Dict[int, str]:
        """``{artifact id: type name}``, without reading the artifacts' properties.

        On SQLite this reads MLMD's ``Artifact`` table directly (read-only, schema version
        checked); elsewhere it falls back to reading the artifacts through MLMD.
        """
        ids = sorted(set(int(i) for i in artifact_ids))
        if not ids:
            return {}
        db = self._sql_reader()
        if db is None:
            return {a.id: a.type for a in self.get_artifacts(ids)}
        names = {t.id: t.name for (k, _), t in self._types.items() if k == "artifact"}
        out: Dict[int, str] = {}
        with self._lock:
            for i in range(0, len(ids), 20000):
                chunk = ",".join(str(x) for x in ids[i:i + 20000])
                for aid, tid in db.execute(f"SELECT id, type_id FROM Artifact WHERE id IN ({chunk})"):
                    if tid not in names:
                        self._load_types()
                        names = {t.id: t.name for (k, _), t in self._types.items() if k == "artifact"}
                    out[aid] = names.get(tid, "?")
        return out

    def execution_types(self, execution_ids: Sequence[int]) -> Dict[int, Tuple[str, str]]:
        """``{execution id: (type name, state)}``, without reading properties: MLMD's
        ``Execution`` table on SQLite (read-only, schema checked), else through MLMD."""
        ids = sorted(set(int(i) for i in execution_ids))
        if not ids:
            return {}
        db = self._sql_reader()
        if db is None:
            return {e.id: (e.type, e.state) for e in self.get_executions(ids)}
        names = {t.id: t.name for (k, _), t in self._types.items() if k == "execution"}
        out: Dict[int, Tuple[str, str]] = {}
        with self._lock:
            for i in range(0, len(ids), 20000):
                chunk = ",".join(str(x) for x in ids[i:i + 20000])
                for eid, tid, state in db.execute(
                        f"SELECT id, type_id, last_known_state FROM Execution WHERE id IN ({chunk})"):
                    if tid not in names:
                        self._load_types()
                        names = {t.id: t.name for (k, _), t in self._types.items() if k == "execution"}
                    out[eid] = (names.get(tid, "?"), EXEC_STATE.Name(state) if state is not None else "UNKNOWN")
        return out

    def traversal_edges(self, *, artifact_ids: Sequence[int] = (), execution_ids: Sequence[int] = (),
                        direction: str = "DOWNSTREAM", max_hops: int = 100) -> List[Tuple[int, int, bool]]:
        """MLMD's traversal, events only (see :meth:`Traversal.traversal_edges`), as one recursive
        SQL query on SQLite: the same nodes and events as ``get_lineage_subgraph`` (a property
        test compares them), without its 100-node limit per call."""
        db = self._sql_reader()
        arts = sorted({int(i) for i in artifact_ids})
        execs = sorted({int(i) for i in execution_ids})
        if db is None or direction not in ("DOWNSTREAM", "UPSTREAM") or not (arts or execs):
            return super().traversal_edges(artifact_ids=artifact_ids, execution_ids=execution_ids,  # type: ignore[misc]
                                           direction=direction, max_hops=max_hops)
        inputs = ",".join(str(EVENT_TYPE.Value(t)) for t in INPUT_EVENTS)
        outputs = ",".join(str(EVENT_TYPE.Value(t)) for t in OUTPUT_EVENTS)
        # downstream: artifact -> the executions it is an input of -> their outputs; upstream: reversed
        from_art, from_exec = (inputs, outputs) if direction == "DOWNSTREAM" else (outputs, inputs)
        hops = int(max_hops)
        starts = [f"SELECT 0, id, 0 FROM Artifact WHERE id IN ({','.join(map(str, arts))})"] if arts else []
        starts += [f"SELECT 1, id, 0 FROM Execution WHERE id IN ({','.join(map(str, execs))})"] if execs else []
        walk = f"""WITH RECURSIVE walk(k, id, d) AS ({' UNION '.join(starts)}
            UNION SELECT 1, ev.execution_id, w.d + 1 FROM walk w JOIN Event ev ON ev.artifact_id = w.id
                  WHERE w.k = 0 AND ev.type IN ({from_art}) AND w.d < {hops}
            UNION SELECT 0, ev.artifact_id, w.d + 1 FROM walk w JOIN Event ev ON ev.execution_id = w.id
                  WHERE w.k = 1 AND ev.type IN ({from_exec}) AND w.d < {hops})
            SELECT k, id, MIN(d) FROM walk GROUP BY k, id"""
        input_set = {EVENT_TYPE.Value(t) for t in INPUT_EVENTS}
        out: Dict[Tuple[int, int, bool], None] = {}
        with self._lock:
            nodes = db.execute(walk).fetchall()
            # the events MLMD returns: those it walked, from a node fewer than max_hops away
            inner = {k: [i for kk, i, d in nodes if kk == k and d < hops] for k in (0, 1)}
            for k, column, types in ((0, "artifact_id", from_art), (1, "execution_id", from_exec)):
                for i in range(0, len(inner[k]), 20000):
                    chunk = ",".join(str(x) for x in inner[k][i:i + 20000])
                    for aid, eid, t in db.execute(f"SELECT artifact_id, execution_id, type FROM Event "
                                                  f"WHERE {column} IN ({chunk}) AND type IN ({types})"):
                        out[(aid, eid, t in input_set)] = None
        return list(out)

    def has_custom_property(self, name: str) -> Optional[bool]:
        """Whether any artifact has a custom property ``name``: one indexed read on SQLite,
        None (not known) elsewhere."""
        db = self._sql_reader()
        if db is None:
            return None
        with self._lock:
            row = db.execute("SELECT 1 FROM ArtifactProperty WHERE name = ? AND is_custom_property = 1 LIMIT 1",
                             (name,)).fetchone()
        return row is not None

    def cached_executions(self, execution_ids: Sequence[int]) -> Set[int]:
        """Which of these executions are CACHED (cache hits: they reused outputs, made none).
        One indexed read on SQLite; a filter query per 500 ids elsewhere."""
        ids = sorted(set(int(i) for i in execution_ids))
        out: Set[int] = set()
        db = self._sql_reader()
        for i in range(0, len(ids), 20000 if db is not None else 500):
            chunk = ",".join(str(x) for x in ids[i:i + (20000 if db is not None else 500)])
            if db is not None:
                with self._lock:
                    out.update(r[0] for r in db.execute(
                        f"SELECT id FROM Execution WHERE id IN ({chunk}) AND last_known_state = "
                        f"{EXEC_STATE.Value('CACHED')}"))
            else:
                out.update(e.id for e in self.list_executions(
                    filter_query=f"id IN ({chunk}) AND last_known_state = CACHED", limit=None))
        return out

    def counts(self, cap: int = 10_000) -> Dict[str, Dict[str, int]]:
        """``{"artifact"|"execution": {type: count}}`` and execution ``{"state": {STATE: n}}``.

        One GROUP BY on SQLite; elsewhere counted through MLMD up to ``cap`` per type (a count
        equal to ``cap`` means "at least")."""
        self._load_types()
        db = self._sql_reader()
        out: Dict[str, Dict[str, int]] = {"artifact": {}, "execution": {}, "state": {}}
        names = {(k, t.id): n for (k, n), t in self._types.items()}
        if db is not None:
            with self._lock:
                for kind, table in (("artifact", "Artifact"), ("execution", "Execution")):
                    for tid, n in db.execute(f"SELECT type_id, COUNT(*) FROM {table} GROUP BY type_id"):
                        out[kind][names.get((kind, tid), f"type {tid}")] = n
                for state, n in db.execute("SELECT last_known_state, COUNT(*) FROM Execution GROUP BY last_known_state"):
                    out["state"][EXEC_STATE.Name(state) if state is not None else "UNKNOWN"] = n
            return out
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

    def _sql_reader(self) -> Optional[sqlite3.Connection]:
        """A read-only sqlite3 connection to this store's file when its MLMD schema is the one
        this code was checked against (10); None otherwise."""
        if self.config.backend != "sqlite":
            return None
        if not hasattr(self, "_sql"):
            self._sql = None
            try:
                db = sqlite3.connect(f"file:{self.config.path}?mode=ro", uri=True,
                                     check_same_thread=False)
                (version,) = db.execute("SELECT schema_version FROM MLMDEnv").fetchone()
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
        with self._lock:
            db = getattr(self, "_sql", None)
            self._sql = None
            if db is not None:
                db.close()
        super().close()
