"""``LineageGraph``: a networkx DiGraph of artifact and execution records, built from MLMD's
own bounded traversal (``get_lineage_subgraph``), never by loading the whole store.

Nodes are keyed ``"a<id>"`` (artifacts) and ``"e<id>"`` (executions) and carry ``kind``,
``id``, ``type`` and the frozen ``record``. Edges follow the data: an INPUT event is an edge
artifact -> execution, an OUTPUT event execution -> artifact; each edge carries ``event``
(INPUT/OUTPUT) and ``key`` (the argument name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

import networkx as nx

from .errors import InvalidInput
from .records import Artifact, Event, Execution

if TYPE_CHECKING:
    from .store import Store

__all__ = ["LineageGraph", "trace", "node_key", "ANNOTATION_TYPES"]

#: Execution types that annotate artifacts rather than transform them: left out of graphs.
ANNOTATION_TYPES = frozenset({"Taint", "Untaint"})
_MLMD_MAX_HOPS = 100


def node_key(kind: str, node_id: int) -> str:
    return f"{kind[0]}{node_id}"


class LineageGraph:
    """Artifacts and executions with the events between them."""

    def __init__(self, graph: nx.DiGraph, roots: Sequence[str], direction: str,
                 max_hops: Optional[int] = None) -> None:
        self.graph = graph
        self.roots = tuple(roots)
        self.direction = direction
        self.max_hops = max_hops

    def __repr__(self) -> str:
        return (f"<LineageGraph {self.direction} from {', '.join(self.roots)}: "
                f"{self.graph.number_of_nodes()} nodes, {self.graph.number_of_edges()} edges>")

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, item: object) -> bool:
        if isinstance(item, (Artifact, Execution)):
            item = node_key(item.kind, item.id)
        return item in self.graph

    def __iter__(self) -> Iterator[Union[Artifact, Execution]]:
        return (data["record"] for _, data in self.graph.nodes(data=True))

    def record(self, key: str) -> Union[Artifact, Execution]:
        return self.graph.nodes[key]["record"]

    def artifacts(self, types: Optional[Iterable[str]] = None) -> List[Artifact]:
        return self._records("artifact", types)

    def executions(self, types: Optional[Iterable[str]] = None) -> List[Execution]:
        return self._records("execution", types)

    def _records(self, kind: str, types: Optional[Iterable[str]]) -> list:
        wanted = set(types) if types else None
        out = [d["record"] for _, d in self.graph.nodes(data=True)
               if d["kind"] == kind and (wanted is None or d["type"] in wanted)]
        return sorted(out, key=lambda r: r.id)

    def edges(self) -> List[Tuple[str, str, str, Optional[str]]]:
        """``(source, target, event, key)`` for every edge, sorted."""
        return sorted((u, v, d["event"], d.get("key")) for u, v, d in self.graph.edges(data=True))

    def producers(self, artifact: Union[Artifact, str]) -> List[Execution]:
        key = artifact if isinstance(artifact, str) else node_key("artifact", artifact.id)
        return [self.record(k) for k in self.graph.predecessors(key)] if key in self.graph else []

    def consumers(self, artifact: Union[Artifact, str]) -> List[Execution]:
        key = artifact if isinstance(artifact, str) else node_key("artifact", artifact.id)
        return [self.record(k) for k in self.graph.successors(key)] if key in self.graph else []

    def inputs(self, execution: Union[Execution, str]) -> Dict[str, List[Artifact]]:
        key = execution if isinstance(execution, str) else node_key("execution", execution.id)
        out: Dict[str, List[Artifact]] = {}
        for u, _, d in self.graph.in_edges(key, data=True):
            out.setdefault(d.get("key") or "", []).append(self.record(u))
        return out

    def outputs(self, execution: Union[Execution, str]) -> Dict[str, List[Artifact]]:
        key = execution if isinstance(execution, str) else node_key("execution", execution.id)
        out: Dict[str, List[Artifact]] = {}
        for _, v, d in self.graph.out_edges(key, data=True):
            out.setdefault(d.get("key") or "", []).append(self.record(v))
        return out

    def topological(self) -> List[Union[Artifact, Execution]]:
        """Records in data-flow order (ties broken by creation), sources first."""
        order = nx.lexicographical_topological_sort(
            self.graph, key=lambda k: (self.graph.nodes[k]["record"].create_time_ms, k))
        return [self.record(k) for k in order]

    def sources(self) -> List[Artifact]:
        """Artifacts nothing in this graph produced (raw data, modules, external inputs)."""
        return [d["record"] for k, d in self.graph.nodes(data=True)
                if d["kind"] == "artifact" and self.graph.in_degree(k) == 0]

    def only(self, types: Iterable[str]) -> "LineageGraph":
        """The graph reduced to these node types (and the roots), paths through the rest
        contracted into direct edges (``event`` = ``PATH``)."""
        keep = {k for k, d in self.graph.nodes(data=True) if d["type"] in set(types)} | set(self.roots)
        g = nx.DiGraph()
        for k in keep:
            g.add_node(k, **self.graph.nodes[k])
        for k in keep:
            stack, seen = list(self.graph.successors(k)), set()
            while stack:
                n = stack.pop()
                if n in seen:
                    continue
                seen.add(n)
                if n in keep:
                    edge = self.graph.get_edge_data(k, n)
                    g.add_edge(k, n, **(edge if edge else {"event": "PATH", "key": None}))
                else:
                    stack.extend(self.graph.successors(n))
        return LineageGraph(g, self.roots, self.direction, self.max_hops)

    def union(self, other: "LineageGraph") -> "LineageGraph":
        g = nx.compose(self.graph, other.graph)
        roots = list(dict.fromkeys(self.roots + other.roots))
        return LineageGraph(g, roots, "BIDIRECTIONAL", self.max_hops)


def _build(arts: Iterable[Artifact], execs: Iterable[Execution], events: Iterable[Event]) -> nx.DiGraph:
    g = nx.DiGraph()
    for a in arts:
        g.add_node(node_key("artifact", a.id), kind="artifact", id=a.id, type=a.type, record=a)
    for e in execs:
        if e.type in ANNOTATION_TYPES:
            continue
        g.add_node(node_key("execution", e.id), kind="execution", id=e.id, type=e.type, record=e)
    for ev in events:
        a, e = node_key("artifact", ev.artifact_id), node_key("execution", ev.execution_id)
        if a not in g or e not in g:
            continue
        if ev.type in ("INPUT", "DECLARED_INPUT", "INTERNAL_INPUT"):
            g.add_edge(a, e, event="INPUT", key=ev.key)
        elif ev.type in ("OUTPUT", "DECLARED_OUTPUT", "INTERNAL_OUTPUT", "PENDING_OUTPUT"):
            g.add_edge(e, a, event="OUTPUT", key=ev.key)
    return g


def _at_distance(events: Iterable[Event], starts: Set[Tuple[str, int]], direction: str,
                 hops: int) -> Set[Tuple[str, int]]:
    """The nodes exactly ``hops`` edges from ``starts`` along ``direction`` (plain BFS over
    the events of one traversal call; no graph is built)."""
    nxt: Dict[Tuple[str, int], List[Tuple[str, int]]] = {}
    for ev in events:
        a, e = ("artifact", ev.artifact_id), ("execution", ev.execution_id)
        is_input = ev.type in ("INPUT", "DECLARED_INPUT", "INTERNAL_INPUT")
        src, dst = (a, e) if is_input else (e, a)  # data flows src -> dst
        if direction == "UPSTREAM":
            src, dst = dst, src
        nxt.setdefault(src, []).append(dst)
    seen, ring = set(starts), set(starts)
    for _ in range(hops):
        ring = {n for r in ring for n in nxt.get(r, ()) if n not in seen}
        seen |= ring
        if not ring:
            return set()
    return ring


def trace(store: "Store", roots: Sequence[Tuple[str, int]], direction: str = "UPSTREAM",
          max_hops: Optional[int] = None) -> LineageGraph:
    """Traverse from ``roots`` (``("artifact"|"execution", id)``) with MLMD's traversal.

    ``max_hops`` counts edges (artifact -> execution is one hop); ``None`` means as far as
    the lineage goes: MLMD stops each call at 100 hops, so the nodes at that depth become the
    starting nodes of the next call, until nothing new is found.
    """
    direction = direction.upper()
    if direction in ("BOTH", "BIDIRECTIONAL"):
        up = trace(store, roots, "UPSTREAM", max_hops)
        down = trace(store, roots, "DOWNSTREAM", max_hops)
        return up.union(down)
    if direction not in ("UPSTREAM", "DOWNSTREAM"):
        raise InvalidInput(f"direction must be upstream, downstream or both, not {direction!r}")
    if max_hops is not None and (not isinstance(max_hops, int) or max_hops < 0):
        raise InvalidInput(f"max_hops must be a whole number >= 0, not {max_hops!r}")
    root_keys = [node_key(k, i) for k, i in roots]
    arts: Dict[int, Artifact] = {}
    execs: Dict[int, Execution] = {}
    events: Dict[tuple, Event] = {}
    frontier: Set[Tuple[str, int]] = set(roots)
    remaining = max_hops
    while frontier:
        hops = _MLMD_MAX_HOPS if remaining is None else min(remaining, _MLMD_MAX_HOPS)
        a, e, ev = store.lineage_subgraph(
            artifact_ids=sorted(i for k, i in frontier if k == "artifact"),
            execution_ids=sorted(i for k, i in frontier if k == "execution"),
            direction=direction, max_hops=hops)
        new = [x for x in a if x.id not in arts] + [x for x in e if x.id not in execs]
        arts.update((x.id, x) for x in a)
        execs.update((x.id, x) for x in e)
        events.update(((x.artifact_id, x.execution_id, x.type), x) for x in ev)
        if remaining is not None:
            remaining -= hops
        if hops < _MLMD_MAX_HOPS or (remaining is not None and remaining <= 0) or not new:
            break
        # Nodes exactly `hops` away from this frontier may have more lineage beyond.
        frontier = _at_distance(ev, frontier, direction, hops)
    graph = _build(arts.values(), execs.values(), events.values())
    for kind, i in roots:  # a root with no lineage at all is still in its own graph
        key = node_key(kind, i)
        if key not in graph:
            rec = store.get_artifact(i) if kind == "artifact" else store.get_execution(i)
            graph.add_node(key, kind=kind, id=i, type=rec.type, record=rec)
    return LineageGraph(graph, root_keys, direction, max_hops)
