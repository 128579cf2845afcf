"""A lineage graph as a person can read it: columns by depth from the focus, sibling fan-out
grouped (``x249 Ingest``, expandable), and the marks a drawing needs (focus, FAILED, CACHED,
tainted). Pure data: the explorer draws it with Cytoscape.js, tests check it against the graph.

Rules (each checked by a property test against the :class:`LineageGraph` it comes from):

- every graph node is stood for by exactly one view node, and each view node's ``members`` are
  the graph nodes it stands for;
- a view edge joins two view nodes when at least one graph edge joins their members, and
  ``count`` says how many;
- a group holds nodes of one kind, type, depth and marks, at least ``min_group`` of them; the
  focus is never grouped;
- depth is the signed number of hops from the focus: downstream positive, upstream negative
  (along the data flow first, then sideways for nodes that are neither).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ..store import Store
from .graph import LineageGraph, Shape

__all__ = ["GraphView", "ViewNode", "view_of", "MIN_GROUP", "SHOWN_PER_CLICK"]

MIN_GROUP = 6  # this many siblings of one type and depth are drawn as one node
SHOWN_PER_CLICK = 40  # members an expanded group draws; a click on "more" draws as many again
X_STEP, Y_STEP = 190.0, 64.0
#: at most this many nodes one above the other; more wrap into sub-columns SUB_STEP apart
MAX_ROWS, SUB_STEP = 12, 150.0


@dataclasses.dataclass(frozen=True)
class ViewNode:
    id: str  # the graph key ("a12", "e7") or a group id ("g3:execution:Ingest:")
    kind: str  # "artifact" | "execution"
    type: str
    label: str
    members: Tuple[str, ...]
    depth: int
    marks: Tuple[str, ...]  # of "focus", "failed", "cached", "tainted"
    group: bool = False
    x: float = 0.0
    y: float = 0.0


@dataclasses.dataclass
class GraphView:
    nodes: List[ViewNode]
    edges: List[Tuple[str, str, int]]  # (source view id, target view id, graph edges it stands for)
    graph_nodes: int
    graph_edges: int

    def node(self, view_id: str) -> ViewNode:
        for n in self.nodes:
            if n.id == view_id:
                return n
        raise KeyError(view_id)

    def holder(self) -> Dict[str, str]:
        """graph key -> the id of the view node that stands for it."""
        return {m: n.id for n in self.nodes for m in n.members}


def _depths(g: Shape, focus: Sequence[str]) -> Dict[str, int]:
    depth: Dict[str, int] = {}
    for sign, step in ((1, g.succ), (-1, g.pred)):
        seen = {f: 0 for f in focus}
        todo = deque(focus)
        while todo:
            k = todo.popleft()
            for n in step.get(k, ()):
                if n not in seen:
                    seen[n] = seen[k] + 1
                    todo.append(n)
        for k, d in seen.items():
            if k not in depth or (d and abs(depth[k]) > d):
                depth[k] = sign * d
    # nodes neither upstream nor downstream of the focus (other inputs of a downstream step):
    # one column before / after the neighbour that reaches them first
    todo = deque(sorted(depth, key=lambda k: abs(depth[k])))
    while todo:
        k = todo.popleft()
        for n in g.succ.get(k, ()):
            if n not in depth:
                depth[n] = depth[k] + 1
                todo.append(n)
        for n in g.pred.get(k, ()):
            if n not in depth:
                depth[n] = depth[k] - 1
                todo.append(n)
    for k in g.nodes:  # unreachable from the focus (a graph of several roots): their own column
        depth.setdefault(k, 0)
    return depth


def _below(g: Shape, keys: Iterable[str]) -> Set[str]:
    """``keys`` in ``g`` and everything downstream of them."""
    out = {k for k in keys if k in g.nodes}
    todo = deque(out)
    while todo:
        for n in g.succ.get(todo.popleft(), ()):
            if n not in out:
                out.add(n)
                todo.append(n)
    return out


def _marks(g: Shape, key: str, focus: Iterable[str], hot: Iterable[str]) -> Tuple[str, ...]:
    d = g.nodes[key]
    state = d["record"].state if d.get("record") is not None else d.get("state")
    out = []
    if key in focus:
        out.append("focus")
    if d["kind"] == "execution" and state == "FAILED":
        out.append("failed")
    if d["kind"] == "execution" and state == "CACHED":
        out.append("cached")
    if key in hot:
        out.append("tainted")
    return tuple(out)


def _records(g: Shape, keys: Iterable[str], store: Optional[Store]) -> Dict[str, object]:
    """The records of ``keys``: from the graph, else read in one batch per kind (a sketch)."""
    out = {k: g.nodes[k].get("record") for k in keys}
    missing = [k for k, r in out.items() if r is None]
    if missing:
        if store is None:
            raise ValueError("a sketched graph needs the store to label the nodes it draws one by one")
        out.update({f"a{a.id}": a for a in store.get_artifacts([int(k[1:]) for k in missing if k[0] == "a"])})
        out.update({f"e{e.id}": e for e in store.get_executions([int(k[1:]) for k in missing if k[0] == "e"])})
    return out


def _group_id(bucket: Tuple) -> str:
    """A group's id from its (depth, kind, type, marks): stable across redraws, so an expanded
    group stays expanded."""
    depth, kind, type_name, marks = bucket
    return f"g{depth}:{kind}:{type_name}:{','.join(marks)}"


def view_of(graph: Union[LineageGraph, Shape], *, tainted: Iterable[int] = (), min_group: int = MIN_GROUP,
            expanded: Optional[Mapping[str, int]] = None, store: Optional[Store] = None) -> GraphView:
    """The readable view of ``graph`` (focused on its roots): a :class:`LineageGraph` or the
    :class:`Shape` of one. ``tainted`` are artifact ids (marked with everything downstream of
    them); ``expanded`` maps a group id to how many of its members to draw one by one (the rest
    stay grouped as "x N more"). A sketch or shape needs ``store``: the records of the nodes drawn
    one by one are read from it."""
    from .export import label_of

    g = graph if isinstance(graph, Shape) else Shape.of(graph)
    expanded = dict(expanded or {})
    focus = [r for r in g.roots if r in g.nodes]
    hot = _below(g, [f"a{i}" for i in tainted])
    depth = _depths(g, focus)
    buckets: Dict[Tuple, List[str]] = {}
    for k, d in g.nodes.items():
        marks = _marks(g, k, focus, hot)
        buckets.setdefault((depth[k], d["kind"], d["type"], marks), []).append(k)

    split: List[Tuple[Tuple, List[str], List[str]]] = []
    for bucket, keys in buckets.items():
        keys.sort(key=lambda k: -g.nodes[k]["id"])  # newest first
        gid = _group_id(bucket)
        if len(keys) < min_group or "focus" in bucket[3]:
            split.append((bucket, keys, []))
        else:
            shown = max(0, expanded.get(gid, 0))
            split.append((bucket, keys[:shown], keys[shown:]))
    records = _records(g, [k for _, singles, _ in split for k in singles], store)
    nodes: List[ViewNode] = []
    for (dep, kind, type_name, marks), singles, rest in split:
        gid = _group_id((dep, kind, type_name, marks))
        for k in singles:
            nodes.append(ViewNode(k, kind, type_name, label_of(records[k]).replace("\n", " "), (k,), dep, marks))
        if rest:
            short = type_name.rsplit(".", 1)[-1]
            label = f"x{len(rest)} more {short}" if singles else f"x{len(rest)} {short}"
            nodes.append(ViewNode(gid, kind, type_name, label, tuple(rest), dep, marks, group=True))

    holder = {m: n.id for n in nodes for m in n.members}
    counts: Dict[Tuple[str, str], int] = {}
    for u, v in g.edges:
        e = (holder[u], holder[v])
        counts[e] = counts.get(e, 0) + 1
    edges = sorted((u, v, c) for (u, v), c in counts.items())
    return GraphView(_layout(nodes, edges), edges, len(g.nodes), len(g.edges))


def _layout(nodes: List[ViewNode], edges: List[Tuple[str, str, int]]) -> List[ViewNode]:
    """Columns by depth; within a column, nodes ordered by the mean row of their neighbours in
    the column nearer the focus (fewer crossings), then by type and newest first."""
    by_depth: Dict[int, List[ViewNode]] = {}
    for n in nodes:
        by_depth.setdefault(n.depth, []).append(n)
    nbrs: Dict[str, List[str]] = {}
    for u, v, _ in edges:
        nbrs.setdefault(u, []).append(v)
        nbrs.setdefault(v, []).append(u)
    row: Dict[str, float] = {}
    placed: List[ViewNode] = []
    col_of = {n.id: n.depth for n in nodes}
    # a depth with more than MAX_ROWS nodes (an opened group's 40 members) is a grid of
    # sub-columns, and the depths after it move right to make room
    subcols = {d: -(-len(v) // MAX_ROWS) for d, v in by_depth.items()}
    left_of: Dict[int, float] = {}
    x = 0.0
    for d in sorted(by_depth):
        left_of[d] = x
        x += X_STEP + (subcols[d] - 1) * SUB_STEP
    for d in sorted(by_depth, key=lambda d: (abs(d), d < 0)):
        inner = d - 1 if d > 0 else d + 1

        def rank(n: ViewNode, inner: int = inner) -> Tuple:
            near = [row[m] for m in nbrs.get(n.id, []) if m in row and m in col_of and col_of[m] == inner]
            mean = sum(near) / len(near) if near else 0.0
            newest = -int(n.id[1:]) if not n.group else 0
            return (mean, "focus" not in n.marks, n.kind, n.type, n.group, newest)

        column = sorted(by_depth[d], key=rank)
        rows = min(len(column), MAX_ROWS)
        top = -(rows - 1) / 2.0
        for i, n in enumerate(column):
            row[n.id] = top + i % MAX_ROWS
            placed.append(dataclasses.replace(n, x=left_of[d] + (i // MAX_ROWS) * SUB_STEP, y=row[n.id] * Y_STEP))
    return placed
