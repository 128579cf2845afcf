"""Look-ups every query shares: times, unrecorded ``Type.at(path)`` references, and the
PushedModel artifacts of a served model (by name and version)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, List, Optional

from ..errors import InvalidInput, NotFound
from ..fingerprint import fingerprint
from ..records import Artifact, Execution
from ..store import Store
from ..vocab import is_local, quote

__all__ = ["parse_when", "event_time", "lookup", "pushed_version", "model_name_of", "pushed_of"]


def parse_when(when: Any) -> float:
    """UNIX seconds from a datetime (naive = UTC), an ISO string, or a number of seconds."""
    if isinstance(when, bool):
        raise InvalidInput(f"not a time: {when!r}")
    if isinstance(when, (int, float)):
        return float(when)
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        return when.timestamp()
    if isinstance(when, _dt.date):
        return _dt.datetime(when.year, when.month, when.day, tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(when, str):
        text = when.strip()
        if text.lower() == "now":
            return _dt.datetime.now(_dt.timezone.utc).timestamp()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return parse_when(_dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise InvalidInput(
                f"not a time: {when!r}; use ISO 8601 (2026-11-26T10:00:00Z), 'now', or UNIX seconds"
            ) from None
    raise InvalidInput(f"not a time: {when!r}")


def event_time(e: Execution) -> float:
    return e.properties.get("ended_at") or e.properties.get("started_at") or e.create_time_ms / 1000



def lookup(store: Store, artifact: Artifact) -> Artifact:
    """The stored artifact for an unrecorded reference such as ``Dataset.at(path)``: same
    type, URI and (for local data) content. Writes nothing."""
    if artifact.id is not None:
        return artifact
    found = None
    if store.has_type("artifact", artifact.type):
        if is_local(artifact.uri):
            if artifact.path.exists():
                found = store.find_artifact(artifact.type, artifact.uri, fingerprint(artifact.path).digest)
        else:
            clause = f"type = {quote(artifact.type)} AND uri = {quote(artifact.uri)}"
            hits = store.list_artifacts(filter_query=clause, limit=1)
            found = hits[0] if hits else None
    if found is None:
        raise NotFound(
            f"no {artifact.type} at {artifact.uri} with its current content is recorded in "
            f"{store.config.redacted()}; use it in a step first (or lin.register() it)"
        )
    return found


def pushed_version(a: Artifact) -> Optional[int]:
    v = a.get("pushed_version")
    try:
        return int(v) if v is not None and v != "" else None
    except (TypeError, ValueError):
        return None


def model_name_of(a: Artifact) -> Optional[str]:
    name = a.get("model_name")
    if name:
        return str(name)
    dest = a.get("pushed_destination")  # TFX: <serving_dir>/<model>/<version>
    if dest:
        parts = Path(str(dest)).parts
        return parts[-2] if len(parts) >= 2 else None
    return None


def pushed_of(store: Store, model_name: str, version: Optional[int] = None) -> List[Artifact]:
    """The PushedModel artifacts of one served model (of one ``version`` if given): ours carry
    ``model_name``; TFX's Pusher writes only its destination (``<serving_dir>/<model>/<version>``)."""
    if not store.has_type("artifact", "PushedModel"):
        return []
    q = f"type = 'PushedModel' AND properties.model_name.string_value = {quote(model_name)}"
    if version is not None:   # one version: the filter names it (a model pushed 700 times reads one row)
        try:
            found = store.list_artifacts(filter_query=f"{q} AND properties.pushed_version.int_value = {int(version)}",
                                         limit=10_000)
        except InvalidInput:
            found = []
        if found:
            return found
    try:
        found = store.list_artifacts(filter_query=q, limit=10_000)
    except InvalidInput:  # a foreign store whose PushedModel type has no model_name property
        found = []
    if version is not None:
        found = [a for a in found if pushed_version(a) == int(version)]
    if found or not store.has_custom_property("pushed_destination"):
        return found
    tfx = "type = 'PushedModel' AND custom_properties.pushed_destination.string_value LIKE '%'"
    return [a for a in store.list_artifacts(filter_query=tfx, limit=10_000)
            if a.get("model_name") is None and model_name_of(a) == model_name
            and (version is None or pushed_version(a) == int(version))]
