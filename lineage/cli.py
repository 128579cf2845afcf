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
import os
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


def _art_line(a: Artifact) -> str:
    fp = (a.fingerprint or "")[:19]
    extra = a.get("pushed_version") or a.get("version")
    ver = f" v{extra}" if extra is not None else ""
    return f"a{a.id} {a.type}{ver} {a.uri}" + (f" ({fp})" if fp else "")


def cmd_trace(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    types = [t for t in (args.types or "").split(",") if t] or None
    graph = lin.lineage(args.node, args.command, args.hops, types)
    data = None
    if args.json:
        from .export import to_node_link

        data = to_node_link(graph)
    lines = [f"{args.command} of {args.node}: {len(graph)} nodes"]
    for rec in graph.topological():
        if isinstance(rec, Artifact):
            lines.append(f"  {_art_line(rec)}")
        else:
            lines.append(f"  e{rec.id} {rec.type} {rec.state}")
    _emit(args, data, "\n".join(lines))
    return 0


def cmd_provenance(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    p = lin.provenance(args.target)
    lines = [f"provenance of a{p.target.id} {p.target.type} {p.target.uri}"]
    if p.pushed is not None:
        lines.append(f"served as:   {p.pushed.get('model_name') or '?'} version "
                     f"{p.pushed.get('pushed_version')} (pushed {_when(p.pushed_at)})")
    if p.model is not None:
        lines.append(f"model:       {_art_line(p.model)}")
    lines.append(f"trained:     {_when(p.trained_at)} by {p.ran_by or '?'}")
    sections = [("data", [_art_line(a) for a in p.datasets]),
                ("examples", [_art_line(a) for a in p.examples]),
                ("transform", [f"e{e.id} {e.type} {e.state} fn={e.get('preprocessing_fn') or e.get('module_file') or '-'} "
                               f"source={str(e.get('module_source_hash') or e.get('checksum_md5') or '-')[:19]}"
                               for e in p.transforms]),
                ("hub modules", [f"a{a.id} {a.get('handle') or a.uri} version {a.get('version')}"
                                 for a in p.hub_modules]),
                ("training", [f"e{e.id} {e.type} {e.state}" for e in p.training])]
    for title, items in sections:
        lines.append(f"{title}:")
        lines += [f"  {i}" for i in items] or ["  -"]
    lines += _props_lines("parameters", p.parameters) or ["parameters: -"]
    lines += _props_lines("code version", p.code_version) or ["code version: -"]
    lines += _props_lines("metrics", p.metrics) or ["metrics: -"]
    lines.append(f"blessed:     {p.blessed if p.blessed is not None else '-'}")
    lines.append("steps: " + " -> ".join(f"{e.type.rsplit('.', 1)[-1]}(e{e.id})" for e in p.steps))
    _emit(args, p.to_dict(), "\n".join(lines))
    return 0


def cmd_impact(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    if args.artifact is None and not args.tainted:
        raise LineageError("name an artifact, or pass --tainted for everything downstream of a taint")
    imp = lin.impact(args.artifact, tainted_only=args.tainted)
    lines = ["impact of " + (", ".join(f"a{a.id} {a.type}" for a in imp.sources) or "no tainted artifacts")]
    lines.append(f"models ({len(imp.models)}): " + (", ".join(f"a{a.id}" for a in imp.models) or "-"))
    lines.append(f"evaluations ({len(imp.evaluations)}): " + (", ".join(f"a{a.id}" for a in imp.evaluations) or "-"))
    lines.append(f"pushed versions ({len(imp.pushed)}):")
    for p in imp.pushed:
        now = {True: "SERVING NOW", False: "not serving", None: "serving unknown"}[p.serving_now]
        lines.append(f"  {p.model_name}:{p.version} (a{p.pushed.id}) {now}")
    if not imp.pushed:
        lines.append("  -")
    _emit(args, imp.to_dict(), "\n".join(lines))
    return 1 if args.fail_if_serving and imp.serving_affected else 0


def cmd_history(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    events = lin.serving_history(args.model)
    state = lin.served_at(args.model, args.at or "now")
    rows = [{"when": _when(e.when), "action": e.action, "version": e.version, "label": e.label or "",
             "state": e.state, "execution": f"e{e.execution.id}", "user": e.user or "",
             "forced": "forced" if e.forced else ""} for e in events]
    text = table(rows, ["when", "action", "version", "label", "state", "execution", "user", "forced"])
    at = f"at {args.at}" if args.at else "now"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(state.labels.items())) or "-"
    text += (f"\nserving {at}: version {state.version}" + (" (pinned)" if state.pinned else "")
             + f"; labels: {labels}")
    data = {"events": rows, "state": state.to_dict()}
    _emit(args, data, text)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    d = lin.diff(args.a, args.b)
    lines = [f"diff {d.a} .. {d.b}" + (": no differences" if d.same else "")]
    for section, changes in d.sections.items():
        if not changes:
            continue
        lines.append(f"{section}:")
        for key, (va, vb) in changes.items():
            lines.append(f"  {key}: {_short(va, 50)} -> {_short(vb, 50)}")
    _emit(args, d.to_dict(), "\n".join(lines))
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    kind = "execution" if args.executions else "artifact"
    rows = lin.find(args.type, args.where, kind=kind, context=args.context, since=args.since,
                    until=args.until, limit=args.limit)
    if kind == "artifact":
        text = table([_artifact_row(a) for a in rows], ["id", "type", "state", "fingerprint", "created", "uri"])
    else:
        text = table([_execution_row(e) for e in rows], ["id", "type", "state", "started", "duration", "error"])
    _emit(args, [record_dict(r) for r in rows], text if rows else f"no {kind}s match")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    def show(n: int) -> None:
        print(f"\rverified {n} artifacts", end="", file=sys.stderr, flush=True)

    progress = show if args.verbose or (sys.stderr.isatty() and args.node is None) else None
    report = lin.verify(args.node, progress=progress)
    if progress:
        print(file=sys.stderr)
    lines = [f"checked {report.checked}: {len(report.ok)} ok, {len(report.missing)} missing, "
             f"{len(report.changed)} changed, {len(report.skipped)} without a local fingerprint"]
    lines += [f"  MISSING a{a.id} {a.type} {a.uri}" for a in report.missing]
    lines += [f"  CHANGED a{a.id} {a.type} {a.uri} (recorded {a.fingerprint[:19]}, now {now[:19]})"
              for a, now in report.changed]
    _emit(args, report.to_dict(), "\n".join(lines))
    return 0 if report.clean else 1


def cmd_taint(args: argparse.Namespace) -> int:
    if args.list:
        lin = Lineage.open(args.store, readonly=True)
        marks = lin.tainted()
        rows = [{"artifact": f"a{k}", "reason": t.reason, "when": _when(t.when), "user": t.user or "",
                 "execution": f"e{t.execution.id}"} for k, t in sorted(marks.items())]
        _emit(args, rows, table(rows, ["artifact", "reason", "when", "user", "execution"])
              if rows else "no tainted artifacts")
        return 0
    if not args.artifact or not args.reason:
        raise LineageError("usage: lineage taint ARTIFACT --reason TEXT (or --list)")
    lin = Lineage.open(args.store)
    fn = lin.untaint if args.command == "untaint" else lin.taint
    ex = fn(args.artifact, args.reason)
    verb = "untainted" if args.command == "untaint" else "tainted"
    _emit(args, record_dict(ex), f"{verb} {args.artifact} (recorded as e{ex.id})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from . import export

    lin = Lineage.open(args.store, readonly=True)
    direction = {"up": "upstream", "down": "downstream"}.get(args.direction, args.direction)
    graph = lin.lineage(args.node, direction, args.hops)
    if args.format == "dot":
        text = export.to_dot(graph, tainted=lin.tainted())
    elif args.format == "json":
        text = json.dumps(export.to_node_link(graph), indent=2, default=str)
    elif args.format == "graphml":
        text = export.to_graphml(graph)
    else:
        text = json.dumps(export.to_openlineage(graph, namespace=args.namespace), indent=2)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {len(graph)} nodes as {args.format} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _serving_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    return {"config_path": args.config, "server": args.server, "rest": args.rest, "timeout": args.timeout}


def cmd_rollback(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    res = lin.rollback(args.model, to=args.to, previous=args.previous, last_good=args.last_good,
                       force=args.force, **_serving_kwargs(args))
    text = (f"{args.model}: now serving version {res.version} (was {res.previous}); pinned, label stable -> "
            f"{res.version}; took {res.seconds:.2f}s" + (" (forced)" if res.forced else "")
            + (f"; recorded as e{res.execution.id}" if res.execution else ""))
    _emit(args, dataclasses_asdict(res), text)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    res = lin.promote(args.model, version=args.version, label=args.label, **_serving_kwargs(args))
    _emit(args, dataclasses_asdict(res), f"{args.model}: label {args.label} -> version {res.version}"
          + (f"; recorded as e{res.execution.id}" if res.execution else ""))
    return 0


def cmd_unpin(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    res = lin.unpin(args.model, **_serving_kwargs(args))
    _emit(args, dataclasses_asdict(res), f"{args.model}: serving the latest version ({res.version}) again"
          + (f"; recorded as e{res.execution.id}" if res.execution else ""))
    return 0


def dataclasses_asdict(res: Any) -> Dict[str, Any]:
    return {"model_name": res.model_name, "version": res.version, "previous": res.previous,
            "execution": res.execution.id if res.execution else None, "seconds": round(res.seconds, 3),
            "forced": getattr(res, "forced", False)}


def cmd_serve(args: argparse.Namespace) -> int:
    from .serving.config import default_config_path
    from components.server import serve_forever  # TensorFlow: only when a server starts
    from .uri import parse_store_uri

    config = args.config or str(default_config_path(parse_store_uri(args.store).artifact_root))
    if not Path(config).exists():
        raise LineageError(f"no model config at {config}: push a model first (the push step writes "
                           f"it), or pass --config with a TF Serving model config file")
    serve_forever(config, args.grpc_port, args.rest_port, host=args.host, poll_seconds=args.poll,
                  batch_size=args.batch_size, batch_timeout_ms=args.batch_timeout_ms)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from .uri import parse_store_uri

    app = Path(__file__).resolve().parent.parent / "app" / "explorer.py"
    if not app.exists():
        import importlib.util

        spec = importlib.util.find_spec("app")
        app = Path(list(spec.submodule_search_locations)[0]) / "explorer.py" if spec else app
    config = parse_store_uri(args.store)
    if config.backend == "sqlite" and not config.path.exists():
        raise LineageError(f"no lineage store at {config.path}: record a run first, or pass --store")
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
           "--server.address", args.host, "--server.port", str(args.port),
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer", "--"]
    if args.store:
        cmd += ["--store", args.store]
    print(f"lineage explorer on http://{args.host}:{args.port} (store {config.redacted()}; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    # Become the Streamlit server (no child left behind when this process is stopped).
    os.execv(sys.executable, [sys.executable] + cmd[1:])
    return 0  # not reached


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

    for name, what in (("upstream", "what a node came from"), ("downstream", "what was made from a node")):
        p = sub.add_parser(name, parents=[common], help=what)
        p.add_argument("node", help="a12, e7, or MODEL:VERSION")
        p.add_argument("--hops", type=int, default=None, help="at most this many hops (edges)")
        p.add_argument("--types", default=None, help="only these node types, comma-separated")
        p.set_defaults(func=cmd_trace)

    p = sub.add_parser("provenance", parents=[common],
                       help="data, transform, modules, parameters, code and evaluation behind a model")
    p.add_argument("target", help="a model or pushed model (a12), MODEL:VERSION, or MODEL (serving now)")
    p.set_defaults(func=cmd_provenance)

    p = sub.add_parser("impact", parents=[common],
                       help="models, evaluations and served versions downstream of an artifact")
    p.add_argument("artifact", nargs="?", default=None)
    p.add_argument("--tainted", action="store_true", help="everything downstream of any taint")
    p.add_argument("--fail-if-serving", action="store_true",
                   help="exit 1 when an affected version is serving now")
    p.set_defaults(func=cmd_impact)

    p = sub.add_parser("history", parents=[common], help="pushes, rollbacks and promotions of a model")
    p.add_argument("model")
    p.add_argument("--at", default=None, metavar="WHEN", help="which version served then (ISO time)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("diff", parents=[common], help="what differs between two models or runs")
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("find", parents=[common], help="artifacts or executions by property, time, context")
    p.add_argument("--type", default=None)
    p.add_argument("--where", default=None, metavar="FILTER",
                   help="e.g. \"lr > 0.05 and optimizer = 'adam'\"")
    p.add_argument("--executions", action="store_true", help="find executions instead of artifacts")
    p.add_argument("--context", default=None, help="a context name, or TYPE:NAME")
    p.add_argument("--since", default=None, metavar="WHEN")
    p.add_argument("--until", default=None, metavar="WHEN")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_find)

    p = sub.add_parser("verify", parents=[common],
                       help="re-fingerprint artifacts on disk; exit 1 if any are missing or changed")
    p.add_argument("node", nargs="?", default=None, help="an artifact, an execution (its outputs); default all")
    p.set_defaults(func=cmd_verify)

    for name, what in (("taint", "mark an artifact bad (recorded, nothing deleted)"),
                       ("untaint", "lift a taint (recorded)")):
        p = sub.add_parser(name, parents=[common], help=what)
        p.add_argument("artifact", nargs="?", default=None)
        p.add_argument("--reason", default=None)
        p.add_argument("--list", action="store_true", help="list tainted artifacts")
        p.set_defaults(func=cmd_taint)

    p = sub.add_parser("export", parents=[common], help="the graph around a node as DOT, JSON, GraphML or OpenLineage")
    p.add_argument("node", help="a12, e7, or MODEL:VERSION")
    p.add_argument("--format", choices=["dot", "json", "graphml", "openlineage"], default="dot")
    p.add_argument("--direction", choices=["up", "down", "both", "upstream", "downstream"], default="up")
    p.add_argument("--hops", type=int, default=None)
    p.add_argument("--namespace", default="lineage", help="OpenLineage job namespace")
    p.add_argument("-o", "--output", default=None, metavar="FILE")
    p.set_defaults(func=cmd_export)

    serving = argparse.ArgumentParser(add_help=False)
    serving.add_argument("--config", default=None, metavar="FILE",
                         help="TF Serving model config (default: <store home>/serving/models.config)")
    serving.add_argument("--server", default="127.0.0.1:8500", metavar="HOST:PORT", help="gRPC ModelService")
    serving.add_argument("--rest", default="http://127.0.0.1:8501", metavar="URL", help="REST API (status fallback)")
    serving.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for AVAILABLE (60)")

    p = sub.add_parser("rollback", parents=[common, serving],
                       help="pin a served model to a checked earlier version (recorded)")
    p.add_argument("model")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--to", type=int, metavar="N")
    g.add_argument("--previous", action="store_true", help="the version that served before this one")
    g.add_argument("--last-good", action="store_true", help="the newest version passing every check")
    p.add_argument("--force", action="store_true", help="override the blessing and taint checks (recorded)")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("promote", parents=[common, serving], help="point a version label at a version (recorded)")
    p.add_argument("model")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--label", default="canary", help="canary (default) or stable")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("unpin", parents=[common, serving], help="serve the latest version again (recorded)")
    p.add_argument("model")
    p.set_defaults(func=cmd_unpin)

    p = sub.add_parser("serve", parents=[common],
                       help="the local TF-Serving-compatible server (gRPC + REST) for the model config")
    p.add_argument("--config", default=None, metavar="FILE")
    p.add_argument("--grpc-port", type=int, default=8500)
    p.add_argument("--rest-port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="config file poll interval")
    p.add_argument("--batch-size", type=int, default=0, metavar="ROWS",
                   help="batch concurrent predict requests up to this many rows (default 0: off)")
    p.add_argument("--batch-timeout-ms", type=float, default=2.0, metavar="MS",
                   help="how long a request waits for others to batch with (2)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("ui", parents=[common], help="the Streamlit lineage explorer (read-only)")
    p.add_argument("--port", type=int, default=8502)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.set_defaults(func=cmd_ui)

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
    if getattr(args, "limit", None) is not None and args.limit <= 0:
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
