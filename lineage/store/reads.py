"""Reads through ML Metadata's API, as lineage records. Lists are always paged (MLMD's
unpaged context reads are quadratic); some empty answers MLMD gives as NotFound are empty lists."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence

from ..errors import NotFound
from ..records import Artifact, Context, Event, Execution
from .base import StoreBase
from .convert import artifact_record, context_record, copy_proto, event_record, execution_record, list_options

__all__ = ["Reads"]


class Reads(StoreBase):
    """Nodes by id, filtered lists, events and context membership."""

    def get_artifacts(self, ids: Iterable[int]) -> List[Artifact]:
        ids = list(ids)
        found = {a.id: a for a in self._list("reading artifacts", self.mlmd.get_artifacts_by_id, ids)}
        self._known_artifacts.update(found)
        return [artifact_record(found[i]) for i in ids if i in found]

    def get_artifact(self, artifact_id: int) -> Artifact:
        got = self.get_artifacts([artifact_id])
        if not got:
            raise NotFound(f"artifact {artifact_id} does not exist in {self.config.redacted()}")
        return got[0]

    def get_executions(self, ids: Iterable[int]) -> List[Execution]:
        ids = list(ids)
        found = {e.id: e for e in self._list("reading executions", self.mlmd.get_executions_by_id, ids)}
        return [execution_record(found[i]) for i in ids if i in found]

    def get_execution(self, execution_id: int) -> Execution:
        got = self.get_executions([execution_id])
        if not got:
            raise NotFound(f"execution {execution_id} does not exist in {self.config.redacted()}")
        return got[0]

    def get_contexts(self, ids: Iterable[int]) -> List[Context]:
        ids = list(ids)
        found = {c.id: c for c in self._list("reading contexts", self.mlmd.get_contexts_by_id, ids)}
        return [context_record(found[i]) for i in ids if i in found]

    def get_context(self, context_id: int) -> Context:
        got = self.get_contexts([context_id])
        if not got:
            raise NotFound(f"context {context_id} does not exist in {self.config.redacted()}")
        return got[0]

    def list_artifacts(self, *, filter_query: Optional[str] = None, limit: Optional[int] = 100,
                       order_by: str = "create_time", ascending: bool = False) -> List[Artifact]:
        opts = list_options(limit, filter_query, order_by, ascending)
        return [artifact_record(a) for a in self._list("listing artifacts", self.mlmd.get_artifacts,
                                                 list_options=opts)]

    def list_executions(self, *, filter_query: Optional[str] = None, limit: Optional[int] = 100,
                        order_by: str = "create_time", ascending: bool = False) -> List[Execution]:
        opts = list_options(limit, filter_query, order_by, ascending)
        return [execution_record(e) for e in self._list("listing executions", self.mlmd.get_executions,
                                                  list_options=opts)]

    def list_contexts(self, *, filter_query: Optional[str] = None, limit: Optional[int] = 100,
                      order_by: str = "create_time", ascending: bool = False) -> List[Context]:
        opts = list_options(limit, filter_query, order_by, ascending)
        return [context_record(c) for c in self._list("listing contexts", self.mlmd.get_contexts,
                                                list_options=opts)]

    def events_of_executions(self, ids: Sequence[int]) -> List[Event]:
        if not ids:
            return []
        return [event_record(e) for e in self._list("reading events",
                                              self.mlmd.get_events_by_execution_ids, list(ids))]

    def events_of_artifacts(self, ids: Sequence[int]) -> List[Event]:
        if not ids:
            return []
        return [event_record(e) for e in self._list("reading events",
                                              self.mlmd.get_events_by_artifact_ids, list(ids))]

    def contexts_of_execution(self, execution_id: int) -> List[Context]:
        return [context_record(c) for c in self._list("reading contexts", self.mlmd.get_contexts_by_execution, execution_id)]

    def contexts_of_executions(self, ids: Sequence[int]) -> Dict[int, List[Context]]:
        """``{execution id: its contexts}`` for many executions (one MLMD call each here)."""
        return {int(i): self.contexts_of_execution(int(i)) for i in dict.fromkeys(ids)}

    def contexts_of_artifact(self, artifact_id: int) -> List[Context]:
        return [context_record(c) for c in self._list("reading contexts", self.mlmd.get_contexts_by_artifact, artifact_id)]

    def executions_in_context(self, context_id: int, *, limit: Optional[int] = 100,
                              ascending: bool = True) -> List[Execution]:
        # Always page: without ListOptions this MLMD call is quadratic (docs/architecture.md, "ML Metadata facts").
        opts = list_options(limit or 100_000, None, "id", ascending)
        return [execution_record(e) for e in self._list("reading a context's executions", self.mlmd.get_executions_by_context,
            context_id, list_options=opts)]

    def artifacts_in_context(self, context_id: int, *, limit: Optional[int] = 100,
                             ascending: bool = True) -> List[Artifact]:
        opts = list_options(limit or 100_000, None, "id", ascending)
        return [artifact_record(a) for a in self._list("reading a context's artifacts", self.mlmd.get_artifacts_by_context,
            context_id, list_options=opts)]

    def parent_contexts(self, context_id: int) -> List[Context]:
        return [context_record(c) for c in self._list("reading parent contexts", self.mlmd.get_parent_contexts_by_context, context_id)]


    def get_context_by_name(self, type_name: str, name: str) -> Optional[Context]:
        proto = self._call(f"reading {type_name} context {name!r}",
                           self.mlmd.get_context_by_type_and_name, type_name, name)
        if proto is None:
            return None
        self._contexts[proto.id] = proto
        return context_record(copy_proto(proto))

