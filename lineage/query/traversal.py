"""The one traversal every query and the explorer use: :func:`walk`, from some artifacts and
executions along the data (``UPSTREAM``, ``DOWNSTREAM`` or both), at most ``max_hops`` edges.

It reads events only (``(artifact_id, execution_id, is_input)``, through
:meth:`lineage.store.Store.traversal_edges`: SQL a level per query on SQLite, ML Metadata's own
traversal or its indexed producer look-ups elsewhere), continues past ML Metadata's 100-hop cap
from the nodes at that depth, and leaves out what was reached only through a cache hit's
outputs (a CACHED execution reused them: it made nothing, so nothing was made from its inputs,
and it is not their producer). The graph representations built on it (records read once, or
only types and states) are in :mod:`lineage.query.graph`.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ..errors import InvalidInput
from ..store import MAX_HOPS, Store

__all__ = ["Walk", "walk", "check_direction", "Edge", "Root"]

Edge = Tuple[int, int, bool]   # (artifact_id, execution_id, is_input): an event, along the data
Root = Tuple[str, int]         # ("artifact" | "execution", id)


def check_direction(direction: str, max_hops: Optional[int] = None) -> str:
    """``UPSTREAM``, ``DOWNSTREAM`` or ``BIDIRECTIONAL`` (``both`` too, any case), and a hop limit
    that is a whole number >= 0 or None; anything else is refused with what is accepted."""
    d = str(direction).upper()
    d = "BIDIRECTIONAL" if d == "BOTH" else d
    if d not in ("UPSTREAM", "DOWNSTREAM", "BIDIRECTIONAL"):
        raise InvalidInput(f"direction must be upstream, downstream or both, not {direction!r}")
    if max_hops is not None and (isinstance(max_hops, bool) or not isinstance(max_hops, int) or max_hops < 0):
        raise InvalidInput(f"max_hops must be a whole number >= 0, not {max_hops!r}")
    return d


@dataclasses.dataclass(frozen=True)
class Walk:
    """What :func:`walk` reached: artifact and execution ids (the roots included) and the events
    between them, each once, in the order found."""

    roots: Tuple[Root, ...]
    direction: str
    max_hops: Optional[int]
    artifacts: Set[int]
    executions: Set[int]
    edges: List[Edge]

    def __len__(self) -> int:
        return len(self.artifacts) + len(self.executions)


def walk(store: Store, roots: Sequence[Root], direction: str = "DOWNSTREAM",
         max_hops: Optional[int] = None) -> Walk:
    """Every artifact and execution within ``max_hops`` edges of ``roots`` along ``direction``
    (None: as far as the lineage goes), and the events between them. See the module's text."""
    d = check_direction(direction, max_hops)
    roots = tuple((k, int(i)) for k, i in roots)
    if d == "BIDIRECTIONAL":
        up, down = walk(store, roots, "UPSTREAM", max_hops), walk(store, roots, "DOWNSTREAM", max_hops)
        return Walk(roots, d, max_hops, up.artifacts | down.artifacts, up.executions | down.executions,
                    list(dict.fromkeys(up.edges + down.edges)))
    arts = {i for k, i in roots if k == "artifact"}
    execs = {i for k, i in roots if k == "execution"}
    edges: Dict[Edge, None] = {}
    frontier: Set[Root] = set(roots)
    remaining = max_hops
    cap = store.traversal_cap()
    while frontier:
        hops = cap if remaining is None else min(remaining, cap)
        got = store.traversal_edges(
            artifact_ids=sorted(i for k, i in frontier if k == "artifact"),
            execution_ids=sorted(i for k, i in frontier if k == "execution"),
            direction=d, max_hops=hops)
        before = len(arts) + len(execs)
        arts.update(a for a, _, _ in got)
        execs.update(e for _, e, _ in got)
        edges.update(dict.fromkeys(got))
        if remaining is not None:
            remaining -= hops
        if cap > MAX_HOPS or hops < cap or (remaining is not None and remaining <= 0) \
                or len(arts) + len(execs) == before:
            break
        # the nodes exactly `hops` away may have more lineage beyond ML Metadata's cap
        _, _, ring_a, ring_e = _bfs(got, frontier, d, hops)
        frontier = {("artifact", a) for a in ring_a} | {("execution", e) for e in ring_e}
    cached = store.cached_executions(sorted(execs))
    if not cached:
        return Walk(roots, d, max_hops, arts, execs, list(edges))
    # a cache hit's outputs were reused, not made: drop those events and walk again in memory
    kept = [(a, e, is_input) for a, e, is_input in edges if is_input or e not in cached]
    arts, execs, _, _ = _bfs(kept, roots, d, max_hops)
    return Walk(roots, d, max_hops, arts, execs, [(a, e, i) for a, e, i in kept if a in arts and e in execs])


def _bfs(edges: Iterable[Edge], starts: Iterable[Root], direction: str,
         max_hops: Optional[int]) -> Tuple[Set[int], Set[int], Set[int], Set[int]]:
    """Breadth first over ``edges`` along ``direction``, at most ``max_hops`` (None: all the
    way): ``(all artifacts, all executions, last ring's artifacts, last ring's executions)``."""
    a2e: Dict[int, List[int]] = {}   # artifact -> the next executions along `direction`
    e2a: Dict[int, List[int]] = {}
    down = direction != "UPSTREAM"
    for aid, eid, is_input in edges:
        if is_input == down:
            a2e.setdefault(aid, []).append(eid)
        else:
            e2a.setdefault(eid, []).append(aid)
    starts = list(starts)
    ring_a = {i for k, i in starts if k == "artifact"}
    ring_e = {i for k, i in starts if k == "execution"}
    seen_a, seen_e = set(ring_a), set(ring_e)
    hops = 0
    while (ring_a or ring_e) and (max_hops is None or hops < max_hops):
        hops += 1
        next_e = {e for a in ring_a for e in a2e.get(a, ())} - seen_e
        next_a = {a for e in ring_e for a in e2a.get(e, ())} - seen_a
        seen_e |= next_e
        seen_a |= next_a
        ring_a, ring_e = next_a, next_e
    return seen_a, seen_e, ring_a, ring_e
