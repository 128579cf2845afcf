"""Store commands: ``init``, ``ls``, ``show``, ``upgrade``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List

from ..records import Artifact, Execution
from ..uris import parse_store_uri
from .output import Lineage, taint_lines, artifact_row, emit, execution_row, props_lines, record_dict, run_row, table, when

__all__ = ["register"]


def cmd_init(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    lin.artifact_root.mkdir(parents=True, exist_ok=True)
    remote = lin.config.artifact_remote
    info = {"store": lin.uri, "artifact_root": remote or str(lin.artifact_root),
            "staging": str(lin.artifact_root) if remote else None, "schema_version": lin.registry_version}
    where = f"{remote} (staged in {lin.artifact_root})" if remote else str(lin.artifact_root)
    emit(args, info, f"lineage store ready: {lin.uri}\nartifacts under: {where}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    rows: list
    if args.what == "artifacts":
        rows = lin.artifacts(args.type, limit=args.limit)
        data = [record_dict(a) for a in rows]
        text = table([artifact_row(a) for a in rows], ["id", "type", "state", "fingerprint", "created", "uri"])
    elif args.what == "executions":
        rows = lin.executions(args.type, state=args.state, limit=args.limit)
        data = [record_dict(e) for e in rows]
        text = table([execution_row(e) for e in rows], ["id", "type", "state", "started", "duration", "error"])
    else:
        rows = lin.runs(args.type, limit=args.limit)
        data = [record_dict(c) for c in rows]
        text = table([run_row(c) for c in rows], ["id", "name", "pipeline", "experiment", "state", "started", "duration"])
    if not rows and not args.json:
        text = f"no {args.what} in {lin.uri}" + (" of that type" if args.type else "")
    emit(args, data, text)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    node = lin.node(args.ref)
    data = record_dict(node)
    lines = [f"{node.kind} {node.id}: {node.type}" + (f" {node.name!r}" if node.name else "")]
    if isinstance(node, Artifact):
        lines += [f"uri:      {node.uri}", f"state:    {node.state}", f"created:  {when(node.created)}"]
        taints = lin.taints_of(node)
        lines += taint_lines(node.id, taints)
        data["tainted"] = [t.to_dict() for t in taints]
        producers = lin.producers(node)
        consumers = lin.consumers(node)
        data["produced_by"] = [e.summary() for e in producers]
        data["consumed_by"] = [e.summary() for e in consumers]
        lines += props_lines("properties", dict(node.properties))
        lines += props_lines("custom properties", dict(node.custom_properties))
        lines.append("produced by: " + (", ".join(f"e{e.id} {e.type} ({e.state})" for e in producers) or "-"))
        lines.append("consumed by: " + (", ".join(f"e{e.id} {e.type} ({e.state})" for e in consumers) or "-"))
    elif isinstance(node, Execution):
        lines += [f"state:    {node.state}", f"started:  {when(node.started)}"]
        if node.duration_s is not None:
            lines.append(f"duration: {node.duration_s:.3f}s")
        if node.error:
            lines.append(f"error:    {node.error}")
        ins, outs = lin.inputs(node), lin.outputs(node)
        data["inputs"] = {k: [a.summary() for a in v] for k, v in ins.items()}
        data["outputs"] = {k: [a.summary() for a in v] for k, v in outs.items()}
        lines += props_lines("parameters", dict(node.params))
        lines += props_lines("properties", {k: v for k, v in node.properties.items()
                                             if k not in ("error_type", "error_message")})
        from ..codeversion import RUN_CONSTANTS
        from ..query.code import code_of

        own = {k for k in RUN_CONSTANTS if node.properties.get(k) is not None}
        from_run = {k: v for k, v in code_of(lin.store, node).items() if k not in own}
        if from_run:   # a step records these only where they differ from its run's
            data["code_from_run"] = from_run
            lines += props_lines("code (its run's)", from_run)
        for title, group in (("inputs", ins), ("outputs", outs)):
            lines.append(f"{title}:")
            for key, arts in sorted(group.items()):
                for a in arts:
                    lines.append(f"  {key}: a{a.id} {a.type} {a.uri}")
            if not group:
                lines.append("  -")
        ctxs = lin.contexts(node)
        data["contexts"] = [c.summary() for c in ctxs]
        lines.append("contexts: " + (", ".join(f"{c.type} {c.name!r}" for c in ctxs) or "-"))
    else:
        lines += props_lines("properties", dict(node.properties))
        steps = lin.context_executions(node, limit=200)
        data["executions"] = [e.summary() for e in steps]
        lines.append("executions:")
        lines += [f"  e{e.id} {e.type} {e.state}" for e in steps] or ["  -"]
    emit(args, data, "\n".join(lines))
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    done = _upgrade_store(parse_store_uri(args.store), copy_to=args.copy_to, backup=args.backup)
    text = f"upgraded: {done['upgraded']}"
    if "backup" in done:
        text += f"\nbackup:   {done['backup']}"
    emit(args, done, text)
    return 0




def cmd_doctor(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=not args.fix)
    report, doctor = lin.doctor(fix=args.fix, check_files=not args.no_files)
    rows = [{"kind": f.kind, "ref": f.ref, "detail": f.detail, "fix": "yes" if f.fixable else ""}
            for f in report.findings]
    text = table(rows, ["kind", "ref", "detail", "fix"]) if rows else f"{lin.uri}: nothing inconsistent found"
    fixed = [f for f in report.findings if f.fixable] if doctor is not None else []
    if doctor is not None:   # what became of each, as the Doctor execution records it: "e12 COMPLETE, c3 FAILED"
        outcomes: Dict[str, List[str]] = {}
        for item in str(doctor.get("closed") or "").split(", "):
            ref, _, state = item.rpartition(" ")
            outcomes.setdefault(state, []).append(ref)
        text += "\nclosed " + "; ".join(f"{', '.join(refs)} as {state}" for state, refs in outcomes.items()) \
            + f" (recorded as e{doctor.id})"
    elif any(f.fixable for f in report.findings):
        text += ("\n`lineage doctor --fix` settles the rows marked fix (recorded): a serving change that took effect "
                 "COMPLETE, other abandoned rows FAILED, a lost server's versions END, an unfinished log RECOVERED")
    data = {**report.to_dict(), "fixed": [f.ref for f in fixed],
            "doctor_execution": f"e{doctor.id}" if doctor is not None else None}
    emit(args, data, text)
    return 1 if len(report.findings) > len(fixed) else 0


def cmd_tune(args: argparse.Namespace) -> int:
    from ..store.tune import INDEXES

    lin = Lineage.open(args.store)
    names, execution = lin.tune(undo=args.undo)
    present = lin.store.tuned_indexes()
    by_name = {i.name: i for i in INDEXES}
    if names:
        verb = "removed" if args.undo else "added"
        text = "\n".join([f"{verb} {len(names)} index(es) on {lin.uri} (recorded as e{execution.id}):"]
                         + [f"  {by_name[n].describe()}" for n in names])
    else:
        text = (f"{lin.uri}: no lineage index to remove" if args.undo
                else f"{lin.uri}: already tuned ({', '.join(present)})")
    if not args.undo and names:
        text += "\n`lineage tune --undo` removes them (before `lineage upgrade`, say)"
    emit(args, {"changed": names, "action": "remove" if args.undo else "add", "indexes": present,
                "execution": f"e{execution.id}" if execution is not None else None}, text)
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=args.dry_run)

    def show(n: int, total: int) -> None:
        print(f"\rremoved {n}/{total}", end="", file=sys.stderr, flush=True)

    progress = show if args.verbose or sys.stderr.isatty() else None
    if progress:
        print("planning: every LIVE artifact against what protects it (served ancestry, taints, tags, "
              "the window)...", file=sys.stderr, flush=True)
    plan, execution = lin.gc(keep_days=args.keep_days, keep_runs=args.keep_runs, dry_run=args.dry_run,
                             progress=progress)
    if progress and execution is not None:
        print(file=sys.stderr)
    rows = [{"artifact": r.artifact.ref, "type": r.artifact.type, "size": _size(r.size_bytes), "why": r.why,
             "uri": r.artifact.uri} for r in plan.removable]
    verb = "would remove" if args.dry_run else "removed"
    head = (f"{verb} {len(plan.removable)} artifact(s), {_size(plan.size_bytes)}"
            + (f" (recorded as e{execution.id})" if execution is not None else "") if plan.removable
            else f"nothing to remove in {lin.uri}")
    kept = "; ".join(f"{n} {why}" for why, n in sorted(plan.protected.items(), key=lambda kv: -kv[1]))
    text = "\n".join(([table(rows, ["artifact", "type", "size", "why", "uri"])] if rows else [])
                     + [head, f"kept {plan.checked - len(plan.removable)} of {plan.checked} LIVE: {kept}"
                        if plan.checked else "no LIVE artifacts"])
    emit(args, {**plan.to_dict(), "dry_run": args.dry_run,
                "execution": f"e{execution.id}" if execution is not None else None}, text)
    return 0


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add these commands to the ``lineage`` parser."""
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

    p = sub.add_parser("doctor", parents=[common],
                       help="what is inconsistent: abandoned RUNNING rows, missing files, unknown served versions")
    p.add_argument("--fix", action="store_true", help="close abandoned RUNNING executions and runs (recorded)")
    p.add_argument("--no-files", action="store_true", help="skip re-checking every recorded file on disk")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("gc", parents=[common],
                       help="remove the files of artifacts nothing protects (never what served, tainted or tagged keep)")
    p.add_argument("--keep-days", type=float, default=30, metavar="N",
                   help="keep everything newer than N days (30)")
    p.add_argument("--keep-runs", type=int, default=0, metavar="N", help="keep the artifacts of the newest N runs")
    p.add_argument("--dry-run", action="store_true", help="list what would go, with sizes and why; change nothing")
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser("tune", parents=[common],
                       help="add the indexes ML Metadata lacks (an artifact's producer and contexts); opt-in, recorded")
    p.add_argument("--undo", action="store_true", help="remove them again (recorded)")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("upgrade", parents=[common],
                       help="migrate a store written by an older ML Metadata (explicitly)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--copy-to", type=Path, metavar="FILE", help="upgrade a copy, leave the original")
    g.add_argument("--backup", action="store_true", help="back the file up, then upgrade in place")
    p.set_defaults(func=cmd_upgrade)


def _upgrade_store(*args: Any, **kwargs: Any) -> Any:
    from ..store import upgrade_store  # ML Metadata: only when upgrading

    return upgrade_store(*args, **kwargs)
