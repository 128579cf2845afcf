"""Experiment commands: ``runs``, ``metrics``, ``logs``, ``tag``, ``note``, ``rerun``."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import sys
from typing import Any, Dict, List, Tuple

from ..errors import InvalidInput
from .output import Lineage, emit, table, when

__all__ = ["register"]


def _cell(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN: pandas' empty cell
        return None
    return value


def cmd_runs(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    frame = lin.runs_frame(args.experiment, args.pipeline, where=args.where, sort=args.sort, limit=args.limit)
    if args.columns:
        wanted = [c.strip() for c in args.columns.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in frame.columns]
        if unknown:
            raise InvalidInput(f"no column {', '.join(map(repr, unknown))}; columns: {', '.join(frame.columns)}")
        frame = frame[wanted]
    if args.csv:
        sys.stdout.write(frame.to_csv(index=False))
        return 0
    rows: List[Dict[str, Any]] = [{k: _cell(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
    shown = []
    for r in rows:
        s = dict(r)
        if "start" in s and s["start"]:
            s["start"] = when(_dt.datetime.fromisoformat(s["start"]))
        if s.get("duration_s") is not None:
            s["duration_s"] = f"{s['duration_s']:.1f}"
        for k, v in s.items():
            if isinstance(v, float):
                s[k] = f"{v:.6g}"
        shown.append(s)
    if args.columns or args.all_columns:
        cols = [c for c in frame.columns if c not in ("pipeline", "git_commit") or args.columns]
        note = ""
    else:
        cols, left = default_columns(shown, list(frame.columns), shutil.get_terminal_size((160, 24)).columns)
        note = (f"\n({left} more column{'s' if left != 1 else ''}: constant across these runs or past the "
                f"terminal's width; --all-columns, --columns A,B or --csv show them)") if left else ""
    emit(args, rows, table(shown, cols) + note if rows else "no runs match")
    return 0


def default_columns(rows: List[Dict[str, Any]], columns: List[str], width: int) -> Tuple[List[str], int]:
    """:func:`lineage.query.experiments.compared_columns` that fit ``width``. Returns them and how
    many were left out."""
    from ..query.experiments import FIRST_COLUMNS, compared_columns   # not at `lineage --help`

    wanted = compared_columns(rows, columns)
    shown: List[str] = []
    used = 0
    for c in wanted:
        w = max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) + 2
        if shown and used + w > width and c not in FIRST_COLUMNS:
            continue
        shown.append(c)
        used += w
    return shown, len([c for c in columns if c not in ("pipeline", "git_commit")]) - len(shown)


def cmd_metrics(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    metrics = [m.strip() for m in args.metric.split(",")] if args.metric else None
    frame = lin.metric_history(args.node, metrics)
    rows = frame.to_dict(orient="records")
    shown = [{**r, "execution": f"e{r['execution']}", "value": repr(r["value"]),
              "time": when(_dt.datetime.fromtimestamp(r["time"], _dt.timezone.utc))} for r in rows]
    emit(args, rows, table(shown, ["execution", "step_type", "metric", "step", "value", "time"])
         if rows else f"{args.node} logged no metrics (log_metric inside a @step body records them)")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    text = lin.step_log(args.execution)
    if args.json:
        emit(args, {"execution": args.execution, "log": text}, "")
        return 0
    if text is None:
        print(f"{args.execution} kept no log (it printed and logged nothing, or ran with capture off)",
              file=sys.stderr)
        return 0
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def _pairs(items: List[str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InvalidInput(f"{item!r}: write tags as key=value (key= removes the tag)")
        out[key.strip()] = value if value != "" else None
    return out


def cmd_tag(args: argparse.Namespace) -> int:
    if args.pairs:
        lin = Lineage.open(args.store)
        changed = lin.tag(args.target, _pairs(args.pairs))
        lines = [f"{k}: {'removed' if e.properties.get('removed') else e.properties.get('value')} (e{e.id})"
                 for k, e in changed.items()] or ["nothing changed (the tags already had those values)"]
        emit(args, {k: e.to_dict() for k, e in changed.items()}, "\n".join(lines))
        return 0
    lin = Lineage.open(args.store, readonly=True)
    history = lin.tag_history(args.target)
    rows = [{"at": when(_dt.datetime.fromtimestamp(h.at, _dt.timezone.utc)) if h.at else "", "user": h.user,
             "key": h.key, "old": h.old_value, "new": h.value if h.value is not None else "(removed)",
             "execution": f"e{h.execution}"} for h in history]
    current = lin.tags(args.target)
    text = "\n".join([", ".join(f"{k}={v}" for k, v in sorted(current.items())) or "no tags", "",
                      table(rows, ["at", "user", "key", "old", "new", "execution"]) if rows else "no tag changes"])
    emit(args, {"tags": current, "history": [h.to_dict() for h in history]}, text)
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    if args.text:
        lin = Lineage.open(args.store)
        e = lin.note(args.target, args.text)
        emit(args, e.to_dict(), f"noted (e{e.id})")
        return 0
    lin = Lineage.open(args.store, readonly=True)
    found = lin.notes(args.target)
    text = "\n\n".join(f"{when(_dt.datetime.fromtimestamp(n.at, _dt.timezone.utc)) if n.at else ''}  {n.user or ''}"
                       f"  (e{n.execution})\n{n.text}" for n in found)
    emit(args, [n.to_dict() for n in found], text or "no notes")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    def say(text: str) -> None:   # progress on stderr (stdout stays the report, --json too)
        print(text, file=sys.stderr, flush=True)

    report = lin.rerun(args.run, from_step=args.from_step, set=args.set or (), allow_code_change=args.allow_code_change,
                       name=args.name, progress=say)
    rows = []
    for s in report.steps:
        if s.action == "ran":
            differ = [k for k, (a, b) in s.outputs.items() if a is None or a != b]
            result = "reproduced bit for bit" if not differ else "differs: " + ", ".join(differ)
        else:
            result = s.action + (f": {s.note}" if s.note else "")
        rows.append({"step": s.original.type, "was": s.original.ref,
                     "now": s.execution.ref if s.execution else "-", "result": result})
    lines = [f"rerun of {report.original} recorded as run {report.run}:",
             table(rows, ["step", "was", "now", "result"]),
             f"{len(report.ran)} step(s) ran: {len(report.reproduced)} reproduced bit for bit, "
             f"{len(report.differed)} differ"
             + (f"; {report.error}" if report.error else "")
             + f". `lineage diff {report.original} {report.run}` compares the two runs."]
    emit(args, report.to_dict(), "\n".join(lines))
    status = 1 if not report.ok or (args.strict and report.differed) else 0
    if "tensorflow" in sys.modules:
        # TensorFlow can segfault while the interpreter tears down after tf.Transform and Keras
        # ran (tensorflow/tensorflow#59242); everything is recorded and printed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add these commands to the ``lineage`` parser."""
    p = sub.add_parser("runs", parents=[common],
                       help="one row per run: parameters, final metrics, tags (like MLflow's search_runs)")
    p.add_argument("--experiment", default=None)
    p.add_argument("--pipeline", default=None)
    p.add_argument("--where", default=None, metavar="FILTER",
                   help="e.g. \"metrics.accuracy > 0.8 and params.Train.learning_rate = 0.01 and tags.team = nlp\"")
    p.add_argument("--sort", default=None, metavar="COLUMN",
                   help="order by a column: accuracy, 'accuracy desc' or --sort=-accuracy (default: newest first)")
    p.add_argument("--columns", default=None, help="only these columns, comma-separated")
    p.add_argument("--all-columns", action="store_true",
                   help="every column (by default: run, state, start, duration, the metrics, then what varies, "
                        "as many as fit the terminal)")
    p.add_argument("--csv", action="store_true", help="CSV (every column)")
    p.add_argument("--limit", type=int, default=None)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("metrics", parents=[common], help="the metric histories a run or step run logged")
    p.add_argument("node", help="a run name or a step run (e12)")
    p.add_argument("--metric", default=None, help="only these metrics, comma-separated")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("logs", parents=[common], help="what a step run printed and logged, and its traceback")
    p.add_argument("execution", help="a step run: e12")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("tag", parents=[common],
                       help="tag a run, artifact or execution (key=value; key= removes); no pairs: show its tags and their history")
    p.add_argument("target", help="a run name, a12, e7 or c3")
    p.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_tag)

    p = sub.add_parser("note", parents=[common], help="add a note to a run (no text: list its notes)")
    p.add_argument("target", help="a run name, a12, e7 or c3")
    p.add_argument("text", nargs="?", default=None)
    p.set_defaults(func=cmd_note)

    p = sub.add_parser("rerun", parents=[common],
                       help="execute a recorded run again (same steps, parameters, checked inputs) into a new run, "
                            "and report which steps reproduced bit for bit")
    p.add_argument("run", help="a run name, its context (c12), or an experiment (its newest run that is not a rerun)")
    p.add_argument("--from", dest="from_step", default=None, metavar="STEP",
                   help="start at this step (type, e12 or module:qualname); earlier steps' recorded outputs are reused")
    p.add_argument("--set", action="append", metavar="STEP.PARAM=VALUE",
                   help="run with this parameter changed (recorded on the new run); repeatable")
    p.add_argument("--allow-code-change", action="store_true",
                   help="run today's code where a step's source differs from the recorded one (recorded)")
    p.add_argument("--name", default=None, help="the new run's name (default: <run>-rerun-<time>)")
    p.add_argument("--strict", action="store_true", help="exit 1 unless every step that ran reproduced bit for bit")
    p.set_defaults(func=cmd_rerun)

