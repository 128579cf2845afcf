"""Traversal through ML Metadata: its own bounded ``get_lineage_subgraph`` (chunked past its
100 starting nodes), an events-only variant for reachability, and indexed producer look-ups."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from ..errors import InvalidInput
from ..records import Artifact, Event, Execution
from .reads import Reads
from .convert import EVENT_TYPE, artifact_record, event_record, execution_record, pb

__all__ = ["Traversal", "MAX_HOPS", "MAX_STARTING_NODES"]

MAX_STARTING_NODES = 100
MAX_HOPS = 100  # MLMD's own cap per get_lineage_subgraph call


class Traversal(Reads):
    """Lineage traversal calls (the graph logic above them is :mod:`lineage.query.graph`)."""

    def traversal_cap(self) -> int:
        """The most hops one :meth:`traversal_edges` call walks (MLMD's cap)."""
        return MAX_HOPS

    def traversal_edges(self, *, artifact_ids: Sequence[int] = (), execution_ids: Sequence[int] = (),
                        direction: str = "DOWNSTREAM", max_hops: int = MAX_HOPS
                        ) -> List[Tuple[int, int, bool]]:
        """MLMD's traversal, events only: ``(artifact_id, execution_id, is_input)`` tuples.

        No node details are read (the Python client would read every node otherwise): the
        fast path for questions that need the reachable set, not the records.
        """
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
        return out


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
            q = f"events_0.artifact_id IN ({chunk}) AND events_0.type IN (OUTPUT, DECLARED_OUTPUT)"
            for e in self.list_executions(filter_query=q, limit=None, order_by="id"):
                out[e.id] = e
        return list(out.values())

    def lineage_subgraph(
        self,
        *,
        artifact_ids: Sequence[int] = (),
        execution_ids: Sequence[int] = (),
        direction: str = "UPSTREAM",
        max_hops: int = MAX_HOPS,
    ) -> Tuple[List[Artifact], List[Execution], List[Event]]:
        """MLMD's own bounded traversal from up to any number of starting nodes.

        MLMD takes at most 100 starting nodes and 100 hops per call; this chunks the starting
        nodes. Hops count edges: artifact -> execution is one hop. Returns the nodes with their
        details and the events between them.
        """
        if max_hops < 0 or max_hops > MAX_HOPS:
            raise InvalidInput(f"max_hops must be between 0 and {MAX_HOPS}, not {max_hops}")
        dir_value = pb.LineageSubgraphQueryOptions.Direction.Value(direction)
        arts: Dict[int, pb.Artifact] = {}
        execs: Dict[int, pb.Execution] = {}
        events: Dict[tuple, pb.Event] = {}
        starts = [("artifact", list(artifact_ids[i:i + MAX_STARTING_NODES]))
                  for i in range(0, len(artifact_ids), MAX_STARTING_NODES)]
        starts += [("execution", list(execution_ids[i:i + MAX_STARTING_NODES]))
                   for i in range(0, len(execution_ids), MAX_STARTING_NODES)]
        for kind, ids in starts:
            opts = pb.LineageSubgraphQueryOptions(max_num_hops=max_hops, direction=dir_value)
            nodes = opts.starting_artifacts if kind == "artifact" else opts.starting_executions
            nodes.filter_query = f"id IN ({', '.join(str(int(i)) for i in ids)})"
            graph = self._call("tracing lineage", self.mlmd.get_lineage_subgraph, opts,
                               ["artifacts", "executions", "events"])
            for a in graph.artifacts:
                arts[a.id] = a
            for e in graph.executions:
                execs[e.id] = e
            for ev in graph.events:
                events[(ev.artifact_id, ev.execution_id, ev.type)] = ev
        return ([artifact_record(a) for a in arts.values()], [execution_record(e) for e in execs.values()],
                [event_record(e) for e in events.values()])

