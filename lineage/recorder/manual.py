"""``record()``: a step run that happened elsewhere, recorded in one MLMD call."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import InvalidInput
from ..fingerprint import fingerprint
from ..records import Artifact
from ..store import ArtifactRef
from ..vocab import check_execution_state, is_local
from .artifacts import resolve_artifact
from .current import as_store
from .recording import Recording
from .step import StepResult

__all__ = ["record", "items_of", "output_ref"]


def items_of(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def output_ref(type: str, key: str, item: Any) -> ArtifactRef:
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    if not isinstance(item, Artifact):
        raise InvalidInput(f"record({type}): output {key!r} must be an artifact such as Model.at(uri)")
    if item.id is not None:
        return item.id
    props = dict(item.properties)
    props.pop("external", None)
    if is_local(item.uri) and item.path.exists():
        fp = fingerprint(item.path)
        props.update(fingerprint=fp.digest, size_bytes=fp.size_bytes, file_count=fp.file_count)
    return Artifact(id=None, type=item.type, uri=item.uri, properties=props,
                    custom_properties=item.custom_properties)


def record(
    type: str,
    *,
    inputs: Optional[Mapping[str, Union[Any, Sequence[Any]]]] = None,
    outputs: Optional[Mapping[str, Union[Artifact, Sequence[Artifact]]]] = None,
    params: Optional[Mapping[str, Any]] = None,
    state: str = "COMPLETE",
    started_at: Optional[float] = None,
    ended_at: Optional[float] = None,
    properties: Optional[Mapping[str, Any]] = None,
    contexts: Sequence[Tuple[str, str]] = (),
    store: Any = None,
) -> StepResult:
    """Record a step run that happened elsewhere, in one MLMD call.

    ``inputs`` map argument names to artifacts (records, ids, or ``Type.at(uri)``; a list
    for several), ``outputs`` to new artifacts (``Model.at(uri)``), fingerprinted when they are
    local. ``started_at``/``ended_at`` are UNIX timestamps in seconds. The run context active
    here (if any) is attached, and every ``(type, name)`` in ``contexts`` (created if
    needed). Returns the execution and its stored outputs, by output name (the first of each).
    """
    if not isinstance(type, str) or not type:
        raise InvalidInput("record() needs the execution type as a non-empty string")
    try:
        state = check_execution_state(state)
    except InvalidInput:
        raise InvalidInput(f"record(): unknown state {state!r}") from None
    target = as_store(store)
    in_pairs: List[Tuple[str, Artifact]] = []
    for key, value in (inputs or {}).items():
        for item in items_of(value):
            in_pairs.append((key, resolve_artifact(target, item, None, what=f"record({type}): input {key!r}",
                                                        read_remote=False)))
    out_pairs = [(output_ref(type, key, item), key) for key, value in (outputs or {}).items() for item in items_of(value)]
    props: Dict[str, Any] = {"step": type, "started_at": started_at, "ended_at": ended_at, **(properties or {})}
    rec = Recording(target, type, inputs=in_pairs, params=params, properties=props,
                    context_ids=[target.put_context(ctype, cname, update=False).id for ctype, cname in contexts])
    execution, outs = rec.finish(state, outputs=out_pairs)
    result: Dict[str, Artifact] = {}
    for (_, key), art in zip(out_pairs, outs):
        result.setdefault(key, art)
    return StepResult(execution, result)
