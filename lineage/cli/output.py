"""How the CLI prints: plain-text tables by default, JSON with ``--json``."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from typing import Any, Dict, List, Optional, Sequence

from ..records import Artifact, Context, Execution, utc_from_s
from ..values import plain


class _LazyLineage:
    """``lineage.api.Lineage``, imported when a command first opens a store: the parser (and
    ``lineage --help``) never loads ML Metadata or the query layer."""

    def __getattr__(self, name: str) -> Any:
        from ..api import Lineage as real

        return getattr(real, name)


Lineage: Any = _LazyLineage()

__all__ = ["plain", "dumps", "when", "short", "table", "artifact_row", "execution_row", "run_row", "record_dict", "emit",
           "props_lines", "art_line", "taint_lines"]


def when(dt: Optional[_dt.datetime]) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else ""


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table; columns sized to their contents."""
    cells = [[short(r.get(c, "")) if r.get(c) is not None else "" for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def artifact_row(a: Artifact) -> Dict[str, Any]:
    fp = a.fingerprint or ""
    return {"id": a.id, "type": a.type, "state": a.state, "uri": a.uri,
            "fingerprint": fp[:19] if fp else "", "created": when(a.created)}


def execution_row(e: Execution) -> Dict[str, Any]:
    d = e.duration_s
    return {"id": e.id, "type": e.type, "state": e.state, "started": when(e.started),
            "duration": f"{d:.2f}s" if d is not None else "", "error": e.error or ""}


def run_row(c: Context) -> Dict[str, Any]:
    p = c.properties
    dur = p["ended_at"] - p["started_at"] if p.get("ended_at") and p.get("started_at") else None
    return {"id": c.id, "name": c.name, "pipeline": p.get("pipeline", ""), "experiment": p.get("experiment", ""),
            "state": p.get("state", ""), "started": when(utc_from_s(p.get("started_at")) or c.created),
            "duration": f"{dur:.2f}s" if dur is not None else ""}


def record_dict(node: Any) -> Dict[str, Any]:
    """A JSON-ready dict of an artifact, execution or context record."""
    return node.to_dict()


def dumps(data: Any) -> str:
    return json.dumps(plain(data), indent=2, allow_nan=False, ensure_ascii=False)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        sys.stdout.write(dumps(data) + "\n")
    else:
        print(text)


def props_lines(title: str, props: Dict[str, Any]) -> List[str]:
    if not props:
        return []
    lines = [f"{title}:"]
    width = max(len(k) for k in props)
    for k in sorted(props):
        lines.append(f"  {k.ljust(width)}  {short(props[k], 100)}")
    return lines


def taint_lines(artifact_id: int, taints: Sequence[Any]) -> List[str]:
    """``TAINTED`` lines for an artifact that is tainted or made from tainted artifacts."""
    lines = []
    for t in taints:
        who = f" ({t.user}, {when(t.when)})" if t.user else f" ({when(t.when)})"
        if t.artifact_id == artifact_id:
            lines.append(f"TAINTED:     {t.reason}{who}")
        else:
            lines.append(f"TAINTED:     made from tainted a{t.artifact_id}: {t.reason}{who}")
    return lines


def art_line(a: Artifact) -> str:
    fp = (a.fingerprint or "")[:19]
    extra = a.get("pushed_version") or a.get("version")
    ver = f" v{extra}" if extra is not None else ""
    return f"a{a.id} {a.type}{ver} {a.uri}" + (f" ({fp})" if fp else "")
