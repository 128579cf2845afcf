"""Server leases: how long a model server's report of what it serves is true.

A process that records what a server serves (``lineage serve``, or ``lineage watch`` polling a
TF Serving fleet) is a ``ModelServer`` context. It renews a lease while it runs: every
``heartbeat_seconds`` it writes ``heartbeat_at``; its reports stay facts until
``lease_seconds`` (three heartbeats) after the last one. The rules, in :func:`report_status`:

- a server that stopped cleanly recorded END for every version itself: its reports stand;
- a watcher's poll holds for one lease after it was made, whether the watcher goes on or not
  (``lineage watch --once`` from cron included): then it is stale until the next poll;
- a process not seen for longer than its lease is *stale*: what it last reported is shown as
  "last reported by ..., not seen since", never as fact, until ``lineage doctor --fix`` records
  its versions END ("server lost");
- a newer process of the same kind on the same host and address *replaces* an older one (two
  servers cannot listen on one port): the older one's versions count as gone from then.

Observations recorded before leases existed (no ``server_instance``) are taken as they are.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Optional, Sequence

from ..owner import owner_host
from ..records import Context
from ..store import Store
from ..vocab import quote

__all__ = ["ServerLease", "leases_of", "leases_at", "lease_of", "all_leases", "DEFAULT_HEARTBEAT", "LEASE_BEATS"]

#: seconds between heartbeats (``LINEAGE_HEARTBEAT_SECONDS``), and how many missed ones end a lease
DEFAULT_HEARTBEAT = 10.0
LEASE_BEATS = 3


@dataclasses.dataclass(frozen=True)
class ServerLease:
    id: int
    name: str               # the ModelServer context: "<address>@<owner>", "watch <address>@<host>"
    address: str            # host:port, as observations name their server
    kind: str               # serve | watch
    owner: str              # host:pid:start of the reporting process
    started_at: float
    heartbeat_at: float
    lease_seconds: float
    ended_at: Optional[float] = None
    end_state: str = ""     # STOPPED | LOST | FAILED, "" while it runs

    @property
    def machine(self) -> str:
        return owner_host(self.owner) if self.owner else ""

    @property
    def expires_at(self) -> float:
        return self.heartbeat_at + self.lease_seconds

    def trusted_until(self) -> Optional[float]:
        """Until when its reports are facts (None: for good, because it recorded its own end)."""
        if self.end_state and self.kind == "serve":
            return None   # it recorded END for its versions (stopped), or doctor did (lost)
        return self.expires_at   # a watcher's poll holds for one lease, whether it goes on or not

    def live_at(self, t: float) -> bool:
        until = self.trusted_until()
        return until is None or t <= until

    @classmethod
    def of(cls, c: Context) -> "ServerLease":
        def num(key: str) -> float:
            v = c.properties.get(key)
            return float(v) if v is not None else 0.0

        ended = c.properties.get("ended_at")
        return cls(id=c.id, name=c.name, address=str(c.properties.get("address") or ""),
                   kind=str(c.properties.get("kind") or "serve"), owner=str(c.properties.get("owner") or ""),
                   started_at=num("started_at"), heartbeat_at=num("heartbeat_at"),
                   lease_seconds=num("lease_seconds") or DEFAULT_HEARTBEAT * LEASE_BEATS,
                   ended_at=float(ended) if ended is not None else None,
                   end_state=str(c.properties.get("end_state") or ""))

    def to_dict(self) -> Dict[str, object]:
        return dataclasses.asdict(self)


def all_leases(store: Store) -> List[ServerLease]:
    """Every ModelServer context of the store, oldest first."""
    if not store.has_type("context", "ModelServer"):
        return []
    return sorted((ServerLease.of(c) for c in store.list_contexts(filter_query="type = 'ModelServer'", limit=None)),
                  key=lambda x: (x.started_at, x.id))


def leases_of(store: Store, addresses: Iterable[str]) -> List[ServerLease]:
    """The ModelServer contexts that reported as any of ``addresses`` (every process, every
    kind), oldest first."""
    wanted = sorted(set(a for a in addresses if a))
    if not wanted or not store.has_type("context", "ModelServer"):
        return []
    out: List[ServerLease] = []
    for i in range(0, len(wanted), 50):
        names = ", ".join(quote(a) for a in wanted[i:i + 50])
        out += [ServerLease.of(c) for c in store.list_contexts(
            filter_query=f"type = 'ModelServer' AND properties.address.string_value IN ({names})", limit=None)]
    return sorted(out, key=lambda x: (x.started_at, x.id))


def lease_of(store: Store, name: str) -> Optional[ServerLease]:
    if not store.has_type("context", "ModelServer"):
        return None
    c = store.get_context_by_name("ModelServer", name)
    return ServerLease.of(c) if c is not None else None


def leases_at(leases: Sequence[ServerLease], t: float) -> Dict[str, str]:
    """Each lease's status at time ``t``: ``live``, ``stale`` (not seen for longer than its
    lease) or ``replaced`` (a newer process of its kind took its host and address)."""
    status: Dict[str, str] = {}
    by_place: Dict[tuple, List[ServerLease]] = {}
    for lease in leases:
        by_place.setdefault((lease.kind, lease.machine, lease.address), []).append(lease)
    for group in by_place.values():
        group.sort(key=lambda x: (x.started_at, x.id))
        for older, newer in zip(group, group[1:]):
            if newer.started_at <= t:
                status[older.name] = "replaced"
    for lease in leases:
        status.setdefault(lease.name, "live" if lease.live_at(t) else "stale")
    return status
