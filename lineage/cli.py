"""The ``lineage`` command.

Readable tables by default, ``--json`` for scripts; errors are one line on stderr (exit 1),
with tracebacks only under ``-vv``. The store comes from ``--store``, else ``$LINEAGE_STORE``,
else ``./.lineage/metadata.sqlite``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .api import Lineage
from .errors import LineageError
from .records import Artifact, Context, Execution, utc_from_s

__all__ = ["main"]


# ------------------------------------------------------------------------ output


def _when(dt: Optional[_dt.datetime]) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else ""


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table; columns sized to their contents."""
    cells = [[_short(r.get(c, "")) if r.get(c) is not None else "" for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _artifact_row(a: Artifact) -> Dict[str, Any]:
    fp = a.fingerprint or ""
    return {"id": a.id, "type": a.type, "state": a.state, "uri": a.uri,
            "fingerprint": fp[:19] if fp else "", "created": _when(a.created)}


def _execution_row(e: Execution) -> Dict[str, Any]:
    d = e.duration_s
    return {"id": e.id, "type": e.type, "state": e.state, "started": _when(e.started),
            "duration": f"{d:.2f}s" if d is not None else "", "error": e.error or ""}


def _run_row(c: Context) -> Dict[str, Any]:
    p = c.properties
    dur = p["ended_at"] - p["started_at"] if p.get("ended_at") and p.get("started_at") else None
    return {"id": c.id, "name": c.name, "pipeline": p.get("pipeline", ""), "experiment": p.get("experiment", ""),
            "state": p.get("state", ""), "started": _when(utc_from_s(p.get("started_at")) or c.created),
            "duration": f"{dur:.2f}s" if dur is not None else ""}


def record_dict(node: Any) -> Dict[str, Any]:
    """A JSON-ready dict of an artifact, execution or context record."""
    d: Dict[str, Any] = {"kind": node.kind, "id": node.id, "type": node.type}
    if isinstance(node, Artifact):
        d.update(uri=node.uri, state=node.state)
    elif isinstance(node, Execution):
        d.update(state=node.state)
    if node.name:
        d["name"] = node.name
    d["properties"] = dict(node.properties)
    d["custom_properties"] = dict(node.custom_properties)
    d["created"] = _when(node.created) or None
    return d


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(text)


# ---------------------------------------------------------------------- commands


def cmd_init(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    lin.artifact_root.mkdir(parents=True, exist_ok=True)
    info = {"store": lin.uri, "artifact_root": str(lin.artifact_root),
            "schema_version": lin.store.registry.version}
    _emit(args, info, f"lineage store ready: {lin.uri}\nartifacts under: {lin.artifact_root}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    if args.what == "artifacts":
        rows = lin.artifacts(args.type, limit=args.limit)
        data = [record_dict(a) for a in rows]
        text = table([_artifact_row(a) for a in rows], ["id", "type", "state", "fingerprint", "created", "uri"])
    elif args.what == "executions":
        rows = lin.executions(args.type, state=args.state, limit=args.limit)
        data = [record_dict(e) for e in rows]
        text = table([_execution_row(e) for e in rows], ["id", "type", "state", "started", "duration", "error"])
    else:
        rows = lin.runs(args.type, limit=args.limit)
        data = [record_dict(c) for c in rows]
        text = table([_run_row(c) for c in rows], ["id", "name", "pipeline", "experiment", "state", "started", "duration"])
    if not rows and not args.json:
        text = f"no {args.what} in {lin.uri}" + (" of that type" if args.type else "")
    _emit(args, data, text)
    return 0


def _props_lines(title: str, props: Dict[str, Any]) -> List[str]:
    if not props:
        return []
    lines = [f"{title}:"]
    width = max(len(k) for k in props)
    for k in sorted(props):
        lines.append(f"  {k.ljust(width)}  {_short(props[k], 100)}")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    node = lin.node(args.ref)
    data = record_dict(node)
    lines = [f"{node.kind} {node.id}: {node.type}" + (f" {node.name!r}" if node.name else "")]
    if isinstance(node, Artifact):
        lines += [f"uri:      {node.uri}", f"state:    {node.state}", f"created:  {_when(node.created)}"]
        producers = lin.producers(node)
        consumers = lin.consumers(node)
        data["produced_by"] = [e.id for e in producers]
        data["consumed_by"] = [e.id for e in consumers]
        lines += _props_lines("properties", dict(node.properties))
        lines += _props_lines("custom properties", dict(node.custom_properties))
        lines.append("produced by: " + (", ".join(f"e{e.id} {e.type} ({e.state})" for e in producers) or "-"))
        lines.append("consumed by: " + (", ".join(f"e{e.id} {e.type} ({e.state})" for e in consumers) or "-"))
    elif isinstance(node, Execution):
        lines += [f"state:    {node.state}", f"started:  {_when(node.started)}"]
        if node.duration_s is not None:
            lines.append(f"duration: {node.duration_s:.3f}s")
        if node.error:
            lines.append(f"error:    {node.error}")
        ins, outs = lin.inputs(node), lin.outputs(node)
        data["inputs"] = {k: [a.id for a in v] for k, v in ins.items()}
        data["outputs"] = {k: [a.id for a in v] for k, v in outs.items()}
        lines += _props_lines("parameters", dict(node.params))
        lines += _props_lines("properties", {k: v for k, v in node.properties.items()
                                             if k not in ("error_type", "error_message")})
        for title, group in (("inputs", ins), ("outputs", outs)):
            lines.append(f"{title}:")
            for key, arts in sorted(group.items()):
                for a in arts:
                    lines.append(f"  {key}: a{a.id} {a.type} {a.uri}")
            if not group:
                lines.append("  -")
        ctxs = lin.contexts(node)
        data["contexts"] = [{"id": c.id, "type": c.type, "name": c.name} for c in ctxs]
        lines.append("contexts: " + (", ".join(f"{c.type} {c.name!r}" for c in ctxs) or "-"))
    else:
        lines += _props_lines("properties", dict(node.properties))
        steps = lin.store.executions_in_context(node.id, limit=200)
        data["executions"] = [e.id for e in steps]
        lines.append("executions:")
        lines += [f"  e{e.id} {e.type} {e.state}" for e in steps] or ["  -"]
    _emit(args, data, "\n".join(lines))
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from .store import upgrade_store
    from .uri import parse_store_uri

    done = upgrade_store(parse_store_uri(args.store), copy_to=args.copy_to, backup=args.backup)
    text = f"upgraded: {done['upgraded']}"
    if "backup" in done:
        text += f"\nbackup:   {done['backup']}"
    _emit(args, done, text)
    return 0


# ----------------------------------------------------------------------- parsing


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: options may stand before or after the command without one hiding the other.
    common.add_argument("--store", default=argparse.SUPPRESS, metavar="URI",
                        help="store URI (default: $LINEAGE_STORE or ./.lineage/metadata.sqlite)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="log progress (-v) or debug details and tracebacks (-vv)")

    parser = argparse.ArgumentParser(
        prog="lineage", parents=[common],
        description="Experiment and artifact lineage for TensorFlow pipelines, on ML Metadata.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("init", parents=[common], help="create the store (and artifact root)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("ls", parents=[common], help="list artifacts, executions or runs")
    p.add_argument("what", choices=["artifacts", "executions", "runs"])
    p.add_argument("--type", default=None,
                   help="only this type (for runs: only this pipeline)")
    p.add_argument("--state", default=None, help="executions only: RUNNING, COMPLETE, FAILED, ...")
    p.add_argument("--limit", type=int, default=50, help="at most this many, newest first (50)")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("show", parents=[common], help="one artifact, execution or context in detail")
    p.add_argument("ref", help="12 or a12 (artifact), e7 (execution), c3 (context)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("upgrade", parents=[common],
                       help="migrate a store written by an older ML Metadata (explicitly)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--copy-to", type=Path, metavar="FILE", help="upgrade a copy, leave the original")
    g.add_argument("--backup", action="store_true", help="back the file up, then upgrade in place")
    p.set_defaults(func=cmd_upgrade)
    return parser


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("lineage").setLevel(level)


def main(argv: Optional[Iterable[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    for name, default in (("store", None), ("json", False), ("verbose", 0)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.command == "ls" and args.limit is not None and args.limit <= 0:
        parser.error("--limit must be a positive number")
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except LineageError as exc:
        if args.verbose >= 2:
            raise
        print(f"lineage: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lineage: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
