"""Traversal through ML Metadata, events only: its own bounded ``get_lineage_subgraph`` (chunked
past its 100 starting nodes) downstream, indexed producer look-ups upstream. The walk above it
(past the hop cap, cache hits, the graphs) is :mod:`lineage.query.traversal`."""

from __future__ import annotations

from typing import Dict, List, Sequence, Set, Tuple

from ..records import Event, Execution
from ..vocab import INPUT_EVENTS, OUTPUT_EVENTS
from .reads import Reads
from .convert import EVENT_TYPE, pb

__all__ = ["Traversal", "MAX_HOPS", "MAX_STARTING_NODES"]

MAX_STARTING_NODES = 100
MAX_HOPS = 100  # MLMD's own cap per get_lineage_subgraph call
#: the output event types ML Metadata 1.16's filter language can name (it refuses PENDING_OUTPUT,
#: an output TFX has not written yet: such a producer is not found upstream off SQLite)
FILTERABLE_OUTPUTS = ", ".join(t for t in OUTPUT_EVENTS if t != "PENDING_OUTPUT")


class Traversal(Reads):
    """Lineage traversal calls (the walk above them is :mod:`lineage.query.traversal`)."""

    def traversal_cap(self) -> int:
        """The most hops one :meth:`traversal_edges` call walks (MLMD's cap)."""
        return MAX_HOPS

    def traversal_edges(self, *, artifact_ids: Sequence[int] = (), execution_ids: Sequence[int] = (),
                        direction: str = "DOWNSTREAM", max_hops: int = MAX_HOPS
                        ) -> List[Tuple[int, int, bool]]:
        """The events met walking ``max_hops`` edges from these nodes along ``direction``, as
        ``(artifact_id, execution_id, is_input)``: the same events as ML Metadata's own traversal
        (:meth:`mlmd_traversal_edges`; property tests compare them), no node details read.

        Downstream it is ML Metadata's traversal. Upstream goes a level at a time through indexed
        look-ups: an artifact's producers by a filter query joining Event on the artifact and the
        event type, an execution's inputs from its own events. A shared artifact with thousands
        of consumers then costs no more than any other (ML Metadata's traversal reads every event
        of every node it passes).
        """
        if direction != "UPSTREAM":
            return self.mlmd_traversal_edges(artifact_ids=artifact_ids, execution_ids=execution_ids,
                                             direction=direction, max_hops=max_hops)
        level_a, level_e = sorted(set(int(i) for i in artifact_ids)), sorted(set(int(i) for i in execution_ids))
        seen_a, seen_e = set(level_a), set(level_e)
        events_of: Dict[int, List[Event]] = {}
        out: Dict[Tuple[int, int, bool], None] = {}

        def read_events(ids: Sequence[int]) -> None:
            for ev in self.events_of_executions(sorted(i for i in set(ids) if i not in events_of)):
                events_of.setdefault(ev.execution_id, []).append(ev)

        depth = 0
        while (level_a or level_e) and depth < max_hops:
            next_a: Set[int] = set()
            next_e: Set[int] = set()
            if level_a:
                producers = [e.id for e in self.executions_producing(level_a)]
                read_events(producers)
                wanted = set(level_a)
                for eid in producers:
                    for ev in events_of.get(eid, ()):
                        if ev.type in OUTPUT_EVENTS and ev.artifact_id in wanted:
                            out[(ev.artifact_id, eid, False)] = None
                            if eid not in seen_e:
                                next_e.add(eid)
            if level_e:
                read_events(level_e)
                for eid in level_e:
                    for ev in events_of.get(eid, ()):
                        if ev.type in INPUT_EVENTS:
                            out[(ev.artifact_id, eid, True)] = None
                            if ev.artifact_id not in seen_a:
                                next_a.add(ev.artifact_id)
            seen_a |= next_a
            seen_e |= next_e
            level_a, level_e = sorted(next_a), sorted(next_e)
            depth += 1
        return list(out)

    def mlmd_traversal_edges(self, *, artifact_ids: Sequence[int] = (), execution_ids: Sequence[int] = (),
                             direction: str = "DOWNSTREAM", max_hops: int = MAX_HOPS
                             ) -> List[Tuple[int, int, bool]]:
        """ML Metadata's own ``get_lineage_subgraph``, events only: ``(artifact_id, execution_id,
        is_input)`` tuples, the starting nodes chunked by 100. The reference every faster path is
        tested against."""
        dir_value = pb.LineageSubgraphQueryOptions.Direction.Value(direction)
        inputs = {EVENT_TYPE.INPUT, EVENT_TYPE.DECLARED_INPUT, EVENT_TYPE.INTERNAL_INPUT}
        out: List[Tuple[int, int, bool]] = []
        for kind, ids in (("artifact", list(artifact_ids)), ("execution", list(execution_ids))):
            for i in range(0, len(ids), MAX_STARTING_NODES):
                opts = pb.LineageSubgraphQueryOptions(max_num_hops=max_hops, direction=dir_value)
                nodes = opts.starting_artifacts if kind == "artifact" else opts.starting_executions
                nodes.filter_query = "id IN (" + ", ".join(str(int(x)) for x in ids[i:i + MAX_STARTING_NODES]) + ")"
                graph = self._call("tracing lineage", self.mlmd.get_lineage_subgraph, opts, ["events"])
                out.extend((e.artifact_id, e.execution_id, e.type in inputs) for e in graph.events)
        return list(dict.fromkeys(out))   # each event once (chunks and the two kinds overlap)


    def executions_producing(self, artifact_ids: Sequence[int]) -> List[Execution]:
        """The executions with an OUTPUT event to any of these artifacts.

        A filter query joins Event on the artifact ids and the event type, so a shared
        artifact with thousands of consumers costs no more than any other (MLMD's traversal
        reads every event of every node it passes).
        """
        out: Dict[int, Execution] = {}
        ids = sorted(set(int(i) for i in artifact_ids))
        for i in range(0, len(ids), 500):
            chunk = ", ".join(str(x) for x in ids[i:i + 500])
            q = f"events_0.artifact_id IN ({chunk}) AND events_0.type IN ({FILTERABLE_OUTPUTS})"
            for e in self.list_executions(filter_query=q, limit=None, order_by="id"):
                out[e.id] = e
        return list(out.values())
