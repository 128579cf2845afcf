"""Query commands: ``upstream``/``downstream``, ``provenance``, ``impact``, ``history``, ``diff``,
``find``, ``verify``, ``taint``/``untaint``, ``export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

from ..errors import LineageError
from ..records import Artifact
from ..vocab import is_blessed
from .output import Lineage, art_line, taint_lines, artifact_row, emit, execution_row, props_lines, record_dict, short, table, when

__all__ = ["register"]


def cmd_trace(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    types = [t for t in (args.types or "").split(",") if t] or None
    graph = lin.lineage(args.node, args.command, args.hops, types)
    data = None
    if args.json:
        from ..query import export

        data = export.to_node_link(graph)
    lines = [f"{args.command} of {args.node}: {len(graph)} nodes"]
    for rec in graph.topological():
        if isinstance(rec, Artifact):
            lines.append(f"  {art_line(rec)}")
        else:
            lines.append(f"  e{rec.id} {rec.type} {rec.state}")
    emit(args, data, "\n".join(lines))
    return 0


def cmd_provenance(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    p = lin.provenance(args.target)
    lines = [f"provenance of a{p.target.id} {p.target.type} {p.target.uri}"]
    lines += taint_lines(p.target.id, p.tainted)
    if p.pushed is not None:
        lines.append(f"served as:   {p.pushed.get('model_name') or '?'} version "
                     f"{p.pushed.get('pushed_version')} (pushed {when(p.pushed_at)})")
    if p.model is not None:
        lines.append(f"model:       {art_line(p.model)}")
        if p.model.get("remote_model"):
            lines.append(f"remote part: {p.model.get('remote_wanted') or p.model.get('remote_model')} on "
                         f"{p.model.get('remote_server') or '?'} (a head; split from {p.model.get('split_from') or '?'})"
                         + (f", answered by {', '.join(p.remote)}" if p.remote else ""))
    lines.append(f"trained:     {when(p.trained_at)} by {p.ran_by or '?'}")
    for base in p.base_models:
        served = f", served as {p.served_as[base.id]}" if base.id in p.served_as else ""
        lines.append(f"warm start:  a{base.id} {base.type}{served} (the training started from it)")
    sections = [("data", [art_line(a) for a in p.datasets]),
                ("examples", [art_line(a) for a in p.examples]),
                ("transform", [f"e{e.id} {e.type} {e.state} fn={e.get('preprocessing_fn') or e.get('module_file') or '-'} "
                               f"source={str(e.get('module_source_hash') or e.get('checksum_md5') or '-')[:19]}"
                               for e in p.transforms]),
                ("hub modules", [f"a{a.id} {a.get('handle') or a.uri} version {a.get('version')}"
                                 for a in p.hub_modules]),
                ("training", [f"e{e.id} {e.type} {e.state}" + (" read " + ", ".join(
                    f"a{a.id} {a.get('handle') or a.type}" for a in p.training_inputs[e.id])
                    if p.training_inputs.get(e.id) else "") for e in p.training])]
    for title, items in sections:
        lines.append(f"{title}:")
        lines += [f"  {i}" for i in items] or ["  -"]
    lines += props_lines("parameters", p.parameters) or ["parameters: -"]
    lines += props_lines("code version", p.code_version) or ["code version: -"]
    lines += props_lines("metrics", p.metrics) or ["metrics: -"]
    lines.append(f"blessed:     {p.blessed if p.blessed is not None else '-'}")
    lines.append("steps: " + " -> ".join(f"{e.type.rsplit('.', 1)[-1]}(e{e.id})" for e in p.steps))
    emit(args, p.to_dict(), "\n".join(lines))
    return 0


def _utc(t: Any) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "?"


def cmd_impact(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    if args.artifact is None and not args.tainted:
        raise LineageError("name an artifact, or pass --tainted for everything downstream of a taint")
    imp = lin.impact(args.artifact, tainted_only=args.tainted)
    lines = ["impact of " + (", ".join(f"a{a.id} {a.type}" for a in imp.sources) or "no tainted artifacts")]
    marks = lin.tainted() if imp.sources else {}
    for a in imp.sources:   # why anyone is asking: the reason it was marked
        if a.id in marks:
            lines += [line.replace("TAINTED:    ", f"TAINTED a{a.id}:") for line in taint_lines(a.id, [marks[a.id]])]
    lines.append(f"models ({len(imp.models)}): " + (", ".join(f"a{a.id}" for a in imp.models) or "-"))
    lines.append(f"evaluations ({len(imp.evaluations)}): " + (", ".join(f"a{a.id}" for a in imp.evaluations) or "-"))
    verdicts = {True: "blessed", False: "not blessed", None: "no verdict"}
    lines.append(f"blessings ({len(imp.blessings)}): " + (", ".join(
        f"a{a.id} {verdicts[is_blessed(a.get('blessed'))]}" for a in imp.blessings) or "-"))
    lines.append(f"pushed versions ({len(imp.pushed)}):")
    for p in imp.pushed:
        now = {True: "SERVING NOW", False: "not serving", None: "serving unknown"}[p.serving_now]
        lines.append(f"  {p.model_name}:{p.version} (a{p.pushed.id}) {now}")
    if not imp.pushed:
        lines.append("  -")
    if imp.web_models:
        lines.append(f"web models ({len(imp.web_models)}):")
        lines += [f"  a{a.id} {a.get('source') or ''} {a.uri}" for a in imp.web_models]
    if imp.answers:
        lines.append("answers they gave (request logs):")
        for t in imp.answers:
            lines.append(f"  {t.sampled:,} sampled answers from {t.model}:{t.version} between {_utc(t.first)} and "
                         f"{_utc(t.last)} (about {round(t.estimated):,} given)")
    emit(args, imp.to_dict(), "\n".join(lines))
    return 1 if args.fail_if_serving and imp.serving_affected else 0


def cmd_history(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    events = lin.serving_history(args.model)
    state = lin.served_at(args.model, args.at or "now")
    rows = [{"when": when(e.when), "action": e.action, "version": e.version, "label": e.label or "",
             "state": e.observed or (("answered by " if e.remote_role == "module" else "answered ") + e.remote
                                     if e.action == "remote" and e.remote else e.state),
             "execution": e.execution.ref, "by": e.server or e.user or "",
             "forced": "forced" if e.forced else ""} for e in events]
    json_rows = [{**r, "when": e.when.isoformat(), "forced": e.forced, "label": e.label, "user": e.user,
                  "server": e.server, "remote": e.remote, "remote_role": e.remote_role} for r, e in zip(rows, events)]
    text = table(rows, ["when", "action", "version", "label", "state", "execution", "by", "forced"])
    at = f"at {args.at}" if args.at else "now"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(state.labels.items())) or "-"
    text += (f"\nserving {at}: " + state.describe()
             + (" (pinned)" if state.pinned else "")
             + f"; labels: {labels} " + ("(as servers reported)" if state.source == "observed"
                                          else "(from the recorded changes)"))
    data: Dict[str, Any] = {"events": json_rows, "state": state.to_dict()}
    if not args.check:
        emit(args, data, text)
        return 0
    problems = _check_serving(lin, args)
    data["check"] = {"agrees": not problems, "problems": problems}
    text += "\ncheck: " + ("the store agrees with the server and its config" if not problems
                           else "DISAGREES\n  " + "\n  ".join(problems))
    emit(args, data, text)
    return 1 if problems else 0


def _check_serving(lin: Lineage, args: argparse.Namespace) -> List[str]:
    from ..serving.client import ServingClient
    from ..serving.config import default_config_path
    from ..serving.observe import check

    server = args.server
    if server is None:   # the server that reported what serves, as it recorded its own address
        state = lin.served_at(args.model, "now")
        reporters = [e.server for e in lin.serving_history(args.model) if e.action == "observed" and e.server]
        server = state.reported_by or (reporters[-1] if reporters else "127.0.0.1:8500")
    client = ServingClient(server, None, timeout=10.0)
    try:
        config = Path(args.config) if args.config else default_config_path(lin.artifact_root)
        return check(lin.store, args.model, client, config)
    finally:
        client.close()


def cmd_diff(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    d = lin.diff(args.a, args.b)
    lines = [f"diff {d.a} .. {d.b}" + (": no differences" if d.same else "")]
    for section, changes in d.sections.items():
        if not changes:
            continue
        lines.append(f"{section}:")
        for key, (va, vb) in changes.items():
            lines.append(f"  {key}: {short(va, 50)} -> {short(vb, 50)}")
    emit(args, d.to_dict(), "\n".join(lines))
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    if args.kind and args.executions and args.kind != "execution":
        raise LineageError("--executions and --kind artifact say different things: give one")
    kind = "execution" if args.executions else (args.kind or "artifact")
    rows = lin.find(args.type, args.where, kind=kind, context=args.context, since=args.since,
                    until=args.until, limit=args.limit)
    if kind == "artifact":
        text = table([artifact_row(a) for a in rows], ["id", "type", "state", "fingerprint", "created", "uri"])
    else:
        text = table([execution_row(e) for e in rows], ["id", "type", "state", "started", "duration", "error"])
    emit(args, [record_dict(r) for r in rows], text if rows else f"no {kind}s match")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    if not args.text.strip():
        raise LineageError("search for what? give part of a name, a reference (a12, reviews:2), a URI or a tag")
    hits = lin.search(args.text, limit=args.limit)
    emit(args, [h.to_dict() for h in hits],
         table([{"kind": h.kind, "ref": h.ref, "what": h.label} for h in hits], ["kind", "ref", "what"])
         if hits else f"nothing in {lin.uri} is named by {args.text!r}")
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
             f"{len(report.changed)} changed, {len(report.skipped)} without a fingerprint lineage can check"]
    lines += [f"  MISSING a{a.id} {a.type} {a.uri}" for a in report.missing]
    lines += [f"  CHANGED a{a.id} {a.type} {a.uri} (recorded {a.fingerprint[:19]}, now {now[:19]})"
              for a, now in report.changed]
    lines += [f"  {why} a{a.id} {a.type} {a.uri}" for a, why in report.deleted]
    emit(args, report.to_dict(), "\n".join(lines))
    return 0 if report.clean else 1


def cmd_pull(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    art = lin.node(args.artifact)
    dest = lin.pull(art, args.dest, force=args.force)
    info = {"artifact": art.ref, "uri": getattr(art, "uri", None), "dest": str(dest),
            "fingerprint": getattr(art, "fingerprint", None), "size_bytes": art.get("size_bytes")}
    emit(args, info, f"{info['artifact']} -> {dest} ({info['fingerprint']}: the recorded bytes)")
    return 0


def cmd_taint(args: argparse.Namespace) -> int:
    if args.list:
        lin = Lineage.open(args.store, readonly=True)
        marks = lin.tainted()
        rows = [{"artifact": f"a{k}", "reason": t.reason, "when": when(t.when), "user": t.user or "",
                 "execution": t.execution.ref} for k, t in sorted(marks.items())]
        json_rows = [{**r, "when": t.when.isoformat() if t.when else None, "user": t.user}
                     for r, (_, t) in zip(rows, sorted(marks.items()))]
        emit(args, json_rows, table(rows, ["artifact", "reason", "when", "user", "execution"])
             if rows else "no tainted artifacts")
        return 0
    if not args.artifact or not args.reason:
        raise LineageError("usage: lineage taint ARTIFACT --reason TEXT (or --list)")
    lin = Lineage.open(args.store)
    fn = lin.untaint if args.command == "untaint" else lin.taint
    ex = fn(args.artifact, args.reason)
    verb = "untainted" if args.command == "untaint" else "tainted"
    emit(args, record_dict(ex), f"{verb} {args.artifact} (recorded as e{ex.id})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..query import export

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




def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add these commands to the ``lineage`` parser."""
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
    p.add_argument("--check", action="store_true",
                   help="compare the answer with the live server and its model config; exit 1 if they differ")
    p.add_argument("--server", default=None, metavar="HOST:PORT",
                   help="for --check: gRPC ModelService (default: the address the serving server recorded, "
                        "else 127.0.0.1:8500)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="for --check: the model config (default: <store home>/serving/models.config)")
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
    p.add_argument("--kind", choices=("artifact", "execution"), default=None,
                   help="what to find: artifact (default) or execution (the same as --executions)")
    p.add_argument("--context", default=None, help="a context name, or TYPE:NAME")
    p.add_argument("--since", default=None, metavar="WHEN")
    p.add_argument("--until", default=None, metavar="WHEN")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_find)

    p = sub.add_parser("search", parents=[common],
                       help="find by part of a name: served models, runs, experiments, types, tags, URIs, references")
    p.add_argument("text")
    p.add_argument("--limit", type=int, default=10, help="at most this many of each kind (10)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("pull", parents=[common],
                       help="restore a recorded artifact's exact bytes (local or s3:// / gs://), checked")
    p.add_argument("artifact", help="a12, TYPE:ID, or a module handle")
    p.add_argument("dest", nargs="?", default=None, help="where to put it (default: its name, here)")
    p.add_argument("--force", action="store_true", help="replace DEST if it exists")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("verify", parents=[common],
                       help="re-fingerprint artifacts on disk or object storage; exit 1 if any are missing or changed")
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
