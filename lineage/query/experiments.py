"""Experiments: the runs table, metric histories, step logs, tags and notes, read back.

``runs_frame`` gives one row per run, like MLflow's ``search_runs``: ``run``, ``pipeline``,
``experiment``, ``state``, ``start``, ``duration_s``, ``user``, ``git_commit``, ``steps``, then
``params.<Step>.<name>`` for every parameter of its steps, ``metrics.<name>`` for the last value
of every metric its steps logged, and ``tags.<key>`` for its tags. It reads the store a fixed
number of times whatever the number of runs on SQLite (one read per run elsewhere).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import json
import operator
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..errors import InvalidInput, NotFound
from ..records import Context, Execution
from ..store import Store
from ..values import EXACT_KEY
from ..vocab import ANNOTATION_TYPES, LOG_KEY, METRICS_KEY, RUN_CONTEXT_TYPES, quote
from .filters import Clause, parse_filter
from .subject import resolve_node

__all__ = ["compared_columns", "FIRST_COLUMNS", "runs_frame", "run_rows", "filter_rows", "sort_rows", "step_log", "metric_history", "tag_history",
           "notes", "TagChange", "Note", "RUN_COLUMNS"]

RUN_COLUMNS = ("run", "pipeline", "experiment", "state", "start", "duration_s", "user", "git_commit", "steps")
_SKIP = tuple(ANNOTATION_TYPES | {"Tag", "Note", "ServingObservation", "RemoteAnswer"})
_TAG = "tags."


def run_rows(store: Store, *, experiment: Optional[str] = None, pipeline: Optional[str] = None,
             limit: Optional[int] = None) -> List[Dict[str, Any]]:
    """The runs table as a list of dicts, newest run first (see the module docstring)."""
    picked = list(store.run_table(None, pipeline=pipeline, experiment=experiment, limit=limit,
                                  skip_types=_SKIP).items())
    if not picked and (experiment or pipeline) and store.has_type("context", "PipelineRun"):
        from .subject import check_context
        if experiment:
            check_context(store, f"Experiment:{experiment}")  # an unknown name: says so, with near ones
        if pipeline:
            check_context(store, f"Pipeline:{pipeline}")
    rows = []
    for cid, got in picked:
        p = got["properties"]
        start, end = p.get("started_at"), p.get("ended_at")
        if not isinstance(start, (int, float)) and got["create_ms"]:
            start = got["create_ms"] / 1000
        steps = got["steps"]
        row: Dict[str, Any] = {
            "run": got["name"], "pipeline": p.get("pipeline") or p.get("pipeline_name"),
            "experiment": p.get("experiment"),
            "state": p.get("state") or _state_of(steps),
            "start": _dt.datetime.fromtimestamp(start, _dt.timezone.utc) if isinstance(start, (int, float)) else None,
            "duration_s": (end - start) if isinstance(start, (int, float)) and isinstance(end, (int, float)) else None,
            "user": p.get("user"), "git_commit": p.get("git_commit"), "steps": len(steps),
        }
        for _, type_name, _, params in steps:
            for k, v in params.items():
                if k != EXACT_KEY and not k.startswith(_TAG):
                    row[f"params.{type_name}.{k}"] = v
        for k, v in got["metrics"].items():
            if k != EXACT_KEY and isinstance(v, (int, float)) and not isinstance(v, bool):
                row[f"metrics.{k}"] = v
        for k, v in p.items():
            if k.startswith(_TAG) and v is not None:
                row[k] = v
        rows.append(row)
    return rows


def _state_of(steps: Sequence[Any]) -> Optional[str]:
    """A run's state from its steps, for runs that record none (TFX's)."""
    states = {s[2] for s in steps}
    if not states:
        return None
    for s in ("RUNNING", "FAILED", "CANCELED"):
        if s in states:
            return s
    return "COMPLETE"


def _column(columns: Sequence[str], field: str) -> str:
    """The column a filter or sort field names: itself, or the one ``metrics.F`` /
    ``params.*.F`` / ``tags.F`` column it is short for."""
    if field in columns:
        return field
    short = [c for c in columns if c in (f"metrics.{field}", f"tags.{field}") or
             (c.startswith("params.") and c.split(".", 2)[-1] == field)]
    if len(short) == 1:
        return short[0]
    if len(short) > 1:
        raise InvalidInput(f"{field!r} could be {' or '.join(short)}: write the whole column name")
    by_last = {c.rsplit(".", 1)[-1]: c for c in columns}
    close = difflib.get_close_matches(field, list(columns), n=3, cutoff=0.5) or \
        [by_last[n] for n in difflib.get_close_matches(field, list(by_last), n=3, cutoff=0.5)]
    hint = "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""
    raise InvalidInput(f"no run has a column {field!r}{hint} (columns: run, state, params.STEP.NAME, "
                       f"metrics.NAME, tags.KEY, ...)")


_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
        ">=": operator.ge}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _compare(value: Any, c: Clause) -> bool:
    """Whether one cell satisfies a clause: numbers compare as numbers, anything else as text
    (true/false as the filter language writes them); a missing value matches only ``!=``."""
    if value is None:
        return c.op == "!="
    if isinstance(value, _dt.datetime):
        value = value.timestamp()
    want = c.values
    if not (_number(value) and all(_number(w) for w in want)):
        def text(v: Any) -> str:
            return ("true" if v else "false") if isinstance(v, bool) else str(v)
        value, want = text(value), tuple(text(w) for w in want)
    if c.op == "~":
        pattern = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in str(want[0]))
        return re.fullmatch(pattern, str(value), re.S) is not None
    if c.op == "in":
        return value in want
    try:
        return bool(_OPS[c.op](value, want[0]))
    except TypeError:
        return False


def filter_rows(rows: List[Dict[str, Any]], where: Optional[str]) -> List[Dict[str, Any]]:
    """The rows matching ``where`` (the ``find`` filter language over the table's columns:
    ``metrics.accuracy > 0.8 and params.Train.lr = 0.01 and tags.team = nlp``)."""
    if not where or not where.strip():
        return rows
    clauses = parse_filter(where)
    columns = sorted({k for r in rows for k in r} | set(RUN_COLUMNS))
    resolved = [dataclasses.replace(c, field=_column(columns, c.field)) for c in clauses]
    return [r for r in rows if all(_compare(r.get(c.field), c) for c in resolved)]


def sort_rows(rows: List[Dict[str, Any]], sort: Optional[str]) -> List[Dict[str, Any]]:
    """Sorted by ``sort`` (``COLUMN``, ``COLUMN desc``, or ``-COLUMN``); runs without a value last."""
    if not sort or not sort.strip():
        return rows
    text = sort.strip()
    desc = text.startswith("-") or text.lower().endswith(" desc")
    text = text.lstrip("-")
    text = re.sub(r"\s+(desc|asc)$", "", text, flags=re.I)
    columns = sorted({k for r in rows for k in r} | set(RUN_COLUMNS))
    col = _column(columns, text)
    have = [r for r in rows if r.get(col) is not None]
    rest = [r for r in rows if r.get(col) is None]

    def key(r: Dict[str, Any]) -> Any:
        v = r[col]
        return (0, v) if isinstance(v, (int, float, _dt.datetime)) and not isinstance(v, bool) else (1, str(v))
    return sorted(have, key=key, reverse=desc) + rest


#: always shown first, in this order, when present
FIRST_COLUMNS = ("run", "state", "start", "duration_s")
_NEVER_BY_DEFAULT = ("pipeline", "git_commit")


def compared_columns(rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> List[str]:
    """The columns a person compares runs on, in order: run, state, start and duration; the
    experiment when it differs; the metrics; then the parameters, tags and other columns whose
    value differs between the rows (with one row: those it has). Constants are left out: they
    compare nothing (the CLI's and the explorer's default)."""
    def varies(c: str) -> bool:
        values = {repr(r.get(c)) for r in rows}
        return len(values) > 1 or (len(rows) == 1 and rows[0].get(c) not in (None, ""))

    def rank(c: str) -> int:
        return -1 if c == "experiment" else 0 if c.startswith("metrics.") else 1 if c.startswith("params.") else 2

    columns = list(columns)
    wanted = [c for c in FIRST_COLUMNS if c in columns]
    wanted += sorted((c for c in columns if c not in FIRST_COLUMNS and c not in _NEVER_BY_DEFAULT
                      and (c.startswith("metrics.") or varies(c))),
                     key=lambda c: (rank(c), columns.index(c)))
    return wanted


def runs_frame(store: Store, *, experiment: Optional[str] = None, pipeline: Optional[str] = None,
               where: Optional[str] = None, sort: Optional[str] = None, limit: Optional[int] = None) -> Any:
    """The runs table as a pandas DataFrame (see the module docstring)."""
    import pandas as pd

    rows = sort_rows(filter_rows(run_rows(store, experiment=experiment, pipeline=pipeline), where), sort)
    if limit is not None:
        rows = rows[:limit]
    fixed = list(RUN_COLUMNS)
    extra = sorted({k for r in rows for k in r if k not in RUN_COLUMNS},
                   key=lambda c: ({"params": 0, "metrics": 1, "tags": 2}.get(c.split(".")[0], 3), c))
    return pd.DataFrame(rows, columns=fixed + extra)


# --------------------------------------------------------------------- histories and logs


def _execution(store: Store, node: Any) -> Execution:
    if isinstance(node, int) and not isinstance(node, bool):
        node = f"e{node}"  # a bare number here is an execution id
    found = resolve_node(store, node)
    if not isinstance(found, Execution):
        raise InvalidInput(f"{node!r} is not an execution: logs and histories belong to step runs (e12)")
    return found


def _kept_output(store: Store, execution: Execution, key: str) -> Optional[Any]:
    for ev in store.events_of_executions([execution.id]):
        if ev.type == "OUTPUT" and ev.key == key:
            return store.get_artifact(ev.artifact_id)
    return None


def step_log(store: Store, execution: Any) -> Optional[str]:
    """What a step printed and logged (and its traceback), or None when it kept no log."""
    e = _execution(store, execution)
    art = _kept_output(store, e, LOG_KEY)
    if art is None:
        return None
    try:
        return Path(art.uri).read_text(errors="replace")
    except OSError as exc:
        raise NotFound(f"the log of e{e.id} was at {art.uri} but cannot be read ({exc.strerror})") from None


def metric_history(store: Store, node: Any, metrics: Optional[Sequence[str]] = None,
                   missing: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """Every logged value of a step run's metrics (or of all steps of a run), oldest first:
    ``{"execution", "step_type", "metric", "step", "value", "time"}``. A history file that
    cannot be read is an error naming it, or (with a ``missing`` list) added to that list and
    left out."""
    found = run_or_node(store, node)
    if isinstance(found, Execution):
        executions = [found]
    elif isinstance(found, Context):
        executions = [e for e in store.executions_in_context(found.id, limit=None) if e.type not in _SKIP]
    else:
        raise InvalidInput(f"{node!r} is an artifact: ask for the history of a run or a step run (e12)")
    ids = [e.id for e in executions]
    types = {e.id: e.type for e in executions}
    out: List[Dict[str, Any]] = []
    events = [ev for i in range(0, len(ids), 500) for ev in store.events_of_executions(ids[i:i + 500])
              if ev.type == "OUTPUT" and ev.key == METRICS_KEY]
    arts = {a.id: a for a in store.get_artifacts(sorted({ev.artifact_id for ev in events}))} if events else {}
    for ev in sorted(events, key=lambda ev: ev.execution_id):
        art = arts[ev.artifact_id]
        try:
            cols = read_metrics_file(art.uri)
        except InvalidInput as exc:
            if missing is None:
                raise NotFound(f"the metric history of e{ev.execution_id} (a{art.id}) cannot be read: {exc}") from None
            missing.append(art.uri)
            continue
        for m, st, v, t in zip(cols["metric"], cols["step"], cols["value"], cols["time"]):
            if metrics and m not in metrics:
                continue
            out.append({"execution": ev.execution_id, "step_type": types[ev.execution_id], "metric": m,
                        "step": st, "value": v, "time": t})
    return out


# --------------------------------------------------------------------------- tags, notes


@dataclasses.dataclass(frozen=True)
class TagChange:
    key: str
    value: Optional[str]       # None: removed
    old_value: Optional[str]
    user: Optional[str]
    at: Optional[float]
    execution: int

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Note:
    text: str
    user: Optional[str]
    at: Optional[float]
    execution: int

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def run_or_node(store: Store, ref: Any) -> Any:
    """A run by its name (TFX's hold ':' and '.'), else any node reference."""
    if isinstance(ref, str) and ref.strip():
        for t in RUN_CONTEXT_TYPES:
            if store.has_type("context", t):
                ctx = store.get_context_by_name(t, ref.strip())
                if ctx is not None:
                    return ctx
    return resolve_node(store, ref)


def node_label(node: Any) -> str:
    """How a tag or note names its target: ``a12``, ``e7``, ``c3``."""
    return {"artifact": "a", "execution": "e", "context": "c"}[node.kind] + str(node.id)


def _label(store: Store, node: Any) -> str:
    return node_label(run_or_node(store, node))


def _annotations(store: Store, type_name: str, node: Any) -> List[Execution]:
    label = _label(store, node)
    if not store.has_type("execution", type_name):
        return []
    found = store.list_executions(filter_query=f"type = {quote(type_name)} AND "
                                               f"properties.target.string_value = {quote(label)}", limit=None)
    return sorted(found, key=lambda e: e.id)


def tag_history(store: Store, node: Any) -> List[TagChange]:
    """Every tag change of a run or node, oldest first (who, when, old and new value)."""
    return [TagChange(e.properties.get("key", ""), None if e.properties.get("removed") else e.properties.get("value"),
                      e.properties.get("old_value"), e.properties.get("user"), e.properties.get("started_at"), e.id)
            for e in _annotations(store, "Tag", node)]


def notes(store: Store, node: Any) -> List[Note]:
    """The notes on a run or node, oldest first."""
    return [Note(e.properties.get("text", ""), e.properties.get("user"), e.properties.get("started_at"), e.id)
            for e in _annotations(store, "Note", node)]


def tags_of(store: Store, node: Any) -> Dict[str, Any]:
    """The current tags of a run or node."""
    found = run_or_node(store, node)
    return {k[len(_TAG):]: v for k, v in found.custom_properties.items() if k.startswith(_TAG) and v is not None}


__all__ += ["tags_of", "read_metrics_file", "run_or_node", "node_label"]


def read_metrics_file(path: Any) -> Dict[str, List[Any]]:
    """The columns of a ``Metrics`` artifact's file."""
    try:
        cols = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read metric histories from {path}: {exc}") from None
    if not isinstance(cols, dict) or not all(k in cols for k in ("metric", "step", "value", "time")):
        raise InvalidInput(f"{path} is not a lineage metrics file (columns metric, step, value, time)")
    return cols
