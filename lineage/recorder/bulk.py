"""``record_many()``: many step runs recorded in batches, each batch one MLMD transaction
(``put_lineage_subgraph``), for imports, backfills and pipelines that produce thousands of steps.

Each entry is what :func:`lineage.record` takes, as a mapping::

    record_many([
        {"type": "Clean", "inputs": {"raw": Dataset.at("raw.csv")},
         "outputs": {"cleaned": Dataset.at("clean/0.csv")}, "params": {"min_len": 3}},
        {"type": "Train", "inputs": {"data": Dataset.at("clean/0.csv")},   # the output above
         "outputs": {"model": Model.at("models/0")}, "params": {"lr": 0.1}},
    ])

An input that is an output of an earlier entry of the same call (the same type and URI, not yet
recorded) links to that output, so a whole pipeline can be written in one call. Every entry's
shape, state and inputs are checked before anything is written (external data is registered
then); each batch is one transaction, its values checked before it is written, so a failure
leaves the batches before it recorded, nothing of its own, and says which entries are which.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ..errors import InvalidInput, LineageError, NotFound
from ..records import Artifact
from ..vocab import check_execution_state
from .artifacts import resolve_artifact
from .current import active_run, as_store
from .manual import items_of, output_ref
from .recording import now

__all__ = ["record_many", "Recorded"]

_KEYS = {"type", "inputs", "outputs", "params", "state", "started_at", "ended_at", "properties"}


class Recorded(NamedTuple):
    """One recorded entry: its execution id and its outputs' artifact ids by name (the first of
    each name)."""

    execution_id: int
    outputs: Dict[str, int]


# an input or output of a batch: ("id", artifact id) or ("new", index in the call's new outputs)
_Ref = Tuple[str, int]


def record_many(steps: Iterable[Mapping[str, Any]], *, batch: int = 500, contexts: Sequence[Tuple[str, str]] = (),
                store: Any = None, progress: Optional[Callable[[int, int], None]] = None) -> List[Recorded]:
    """Record many step runs that happened elsewhere, ``batch`` executions per MLMD transaction.

    Entries take :func:`lineage.record`'s keyword arguments (``type`` required; ``inputs``,
    ``outputs``, ``params``, ``state``, ``started_at``, ``ended_at``, ``properties``). The active
    run's contexts and every ``(type, name)`` of ``contexts`` are attached to all of them. What
    is recorded is what the entries say: the steps ran elsewhere, so unlike ``record()`` no code
    version of this process is added to each (the run context has it; give a step's own in its
    ``properties``: ``git_commit``, ``python_version``...).
    ``progress(done, total)`` is called after each batch. Returns one :class:`Recorded` per entry,
    in order.
    """
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise InvalidInput(f"record_many(batch={batch!r}): give the number of executions per transaction, >= 1")
    target = as_store(store)
    run = active_run()
    run = run if run is not None and run.store is target else None
    context_ids = list(run.context_ids) if run is not None else []
    for ctype, cname in contexts:
        cid = target.put_context(ctype, cname, update=False).id
        if cid not in context_ids:
            context_ids.append(cid)
    plan = _Plan(target)
    for n, entry in enumerate(steps):  # 1. every entry checked, before anything is written
        plan.add(n, entry)
    plan.check_ids()
    results: List[Recorded] = []
    for start in range(0, len(plan.entries), batch):  # 2. a batch per transaction
        results += plan.write(start, plan.entries[start:start + batch], context_ids)
        if progress is not None:
            progress(len(results), len(plan.entries))
    return results


class _Plan:
    """The entries of one call, checked and resolved, and the ids of what was written so far."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.entries: List[Tuple[str, str, Dict[str, Any], Dict[str, Any], List[Tuple[_Ref, str]],
                                 List[Tuple[_Ref, str]]]] = []
        self.new_outputs: List[Artifact] = []           # outputs of this call, in order
        self.by_uri: Dict[Tuple[str, str], int] = {}    # (type, uri) -> index in new_outputs
        self.registered: Dict[Tuple[str, str], int] = {}  # external data, resolved once per call
        self.stored: Dict[int, int] = {}                # index in new_outputs -> artifact id, once written

    def add(self, n: int, entry: Any) -> None:
        what = f"record_many: entry {n}"
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{what} is a {type(entry).__name__}; give a dict of record()'s arguments")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise InvalidInput(f"{what}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
        type_name = entry.get("type")
        if not isinstance(type_name, str) or not type_name:
            raise InvalidInput(f"{what} needs 'type', the execution type, as a non-empty string")
        what = f"record_many: entry {n} ({type_name})"
        try:
            state = check_execution_state(entry.get("state", "COMPLETE"))
        except InvalidInput:
            raise InvalidInput(f"{what}: unknown state {entry.get('state')!r}") from None
        ins = [(_input_ref(self.store, item, self.by_uri, self.registered, f"{what}: input {key!r}"), key)
               for key, value in (entry.get("inputs") or {}).items() for item in items_of(value)]
        outs: List[Tuple[_Ref, str]] = []
        for key, value in (entry.get("outputs") or {}).items():
            for item in items_of(value):
                ref = output_ref(type_name, key, item)
                if isinstance(ref, int):
                    outs.append((("id", ref), key))
                    continue
                self.by_uri[(ref.type, ref.uri)] = len(self.new_outputs)
                outs.append((("new", len(self.new_outputs)), key))
                self.new_outputs.append(ref)
        props = {"step": type_name, "started_at": entry.get("started_at"),
                 "ended_at": entry.get("ended_at"), **(entry.get("properties") or {})}
        if props["ended_at"] is None and state != "RUNNING":
            props["ended_at"] = now()
        self.entries.append((type_name, state, props, dict(entry.get("params") or {}), ins, outs))

    def check_ids(self) -> None:
        known = sorted({ref[1] for *_, ins, outs in self.entries for ref, _ in ins + outs if ref[0] == "id"})
        missing = sorted(set(known) - {a.id for a in self.store.get_artifacts(known)}) if known else []
        if missing:
            raise NotFound(f"record_many: artifact(s) {', '.join(f'a{i}' for i in missing)} do not exist in "
                           f"{self.store.config.redacted()}; nothing was recorded")

    def write(self, start: int, chunk: Sequence[Any], context_ids: Sequence[int]) -> List[Recorded]:
        artifacts: List[Union[int, Artifact]] = []
        slot: Dict[_Ref, int] = {}
        edges: List[Tuple[int, int, str, str]] = []

        def place(ref: _Ref) -> int:
            if ref not in slot:
                kind, i = ref
                if kind == "new" and i in self.stored:  # written by an earlier batch
                    slot[ref] = place(("id", self.stored[i]))
                else:
                    slot[ref] = len(artifacts)
                    artifacts.append(self.new_outputs[i] if kind == "new" else i)
            return slot[ref]

        for ei, (_, _, _, _, ins, outs) in enumerate(chunk):
            edges += [(ei, place(ref), "INPUT", key) for ref, key in ins]
            edges += [(ei, place(ref), "OUTPUT", key) for ref, key in outs]
        try:
            exec_ids, art_ids = self.store.put_subgraph(
                executions=[(t, s, p, params) for t, s, p, params, _, _ in chunk],
                artifacts=artifacts, edges=edges, context_ids=context_ids)
        except LineageError as exc:
            done = f"entries 0-{start - 1} were recorded" if start else "nothing was recorded"
            raise type(exc)(f"record_many: {done}; entries {start}-{start + len(chunk) - 1} were not: {exc}") from None
        for ref, index in slot.items():
            if ref[0] == "new":
                self.stored[ref[1]] = art_ids[index]
        out = []
        for eid, (_, _, _, _, _, outs) in zip(exec_ids, chunk):
            named: Dict[str, int] = {}
            for ref, key in outs:
                named.setdefault(key, art_ids[slot[ref]])
            out.append(Recorded(eid, named))
        return out


def _input_ref(store: Any, item: Any, by_uri: Mapping[Tuple[str, str], int],
               registered: Dict[Tuple[str, str], int], what: str) -> _Ref:
    if isinstance(item, Artifact) and item.id is None:
        key = (item.type, item.uri)
        if key in by_uri:  # an output of an earlier entry of this call
            return ("new", by_uri[key])
        if key not in registered:
            registered[key] = resolve_artifact(store, item, None, what=what, read_remote=False).id  # type: ignore[assignment]
        return ("id", registered[key])
    if isinstance(item, Artifact):
        return ("id", int(item.id))  # type: ignore[arg-type]
    if isinstance(item, int) and not isinstance(item, bool):
        return ("id", item)  # checked by the write: an unknown id writes nothing of its batch
    return ("id", int(resolve_artifact(store, item, None, what=what, read_remote=False).id))  # type: ignore[arg-type]
