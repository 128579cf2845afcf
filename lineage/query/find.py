"""Find: artifacts or executions by type, property filter, context and creation time."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from ..errors import InvalidInput
from ..store import Store
from ..vocab import quote
from .filters import Clause, matches, numeric, parse_filter, to_mlmd
from .resolve import parse_when
from .subject import check_context, check_type

__all__ = ["find"]


def find(store: Store, *, kind: str = "artifact", type: Optional[str] = None,
         where: Union[str, Mapping[str, Any], None] = None, context: Optional[str] = None,
         since: Any = None, until: Any = None, limit: Optional[int] = 100) -> list:
    """Artifacts (or executions) by type, property values, state, time and context.

    ``where`` is the small filter language of :mod:`lineage.filters` (or a dict of
    property = value); ``context`` a context name, or ``Type:name`` (``PipelineRun:nightly``).
    """
    if kind not in ("artifact", "execution"):
        raise InvalidInput("kind must be 'artifact' or 'execution'")
    check_type(store, kind, type)
    if context:
        check_context(store, context)
    if isinstance(where, Mapping):
        clauses = [Clause(k, "=", (v,)) for k, v in where.items()]
    else:
        clauses = parse_filter(where or "")
    query = to_mlmd(clauses, kind, store, type)
    extra = []
    if context:
        ctype, _, cname = str(context).rpartition(":")
        extra.append(f"contexts_c.name = {quote(cname)}")
        if ctype:
            extra.append(f"contexts_c.type = {quote(ctype)}")
    if since is not None:
        extra.append(f"create_time_since_epoch >= {int(parse_when(since) * 1000)}")
    if until is not None:
        extra.append(f"create_time_since_epoch <= {int(parse_when(until) * 1000)}")
    full = " AND ".join([q for q in [query] if q] + extra) or None
    lister = store.list_artifacts if kind == "artifact" else store.list_executions
    if not any(numeric(c) for c in clauses):
        return lister(filter_query=full, limit=limit)
    # Numbers: ML Metadata narrowed on rounded columns; the exact values decide. Ask for more
    # until enough match or nothing more comes.
    page = None if limit is None else max(4 * limit, 100)
    while True:
        got = lister(filter_query=full, limit=page)
        found = [r for r in got if matches(r, clauses)]
        if page is None or len(got) < page or len(found) >= (limit or 0):
            return found[:limit] if limit is not None else found
        page *= 4
