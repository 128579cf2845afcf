"""Recording data no step produced (``Dataset.at(path)``, ``Dataset.at("s3://...")``) and resolving a
step's inputs. Local and object-store data are fingerprinted (the latter streamed, never cached).

The same content at the same URI maps to the same stored artifact, so re-running a pipeline on
unchanged data does not multiply nodes; changed content is a new artifact.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Optional, Tuple

from ..errors import InvalidInput
from ..fingerprint import fingerprint
from ..objects import is_remote, remote_fingerprint
from ..records import Artifact
from ..refs import parse_ref
from ..store import Store
from ..uris import to_uri
from ..vocab import is_local, quote

__all__ = ["register", "resolve_artifact"]

_ARTIFACT_REF = re.compile(r"(a|artifact[:/])\d+")


def _file_signature(path: Path) -> Optional[Tuple[int, int, int, int, int]]:
    """What changes when a regular file's content may have: device, inode, size, mtime and
    ctime in ns (None for a directory or anything else: those are fingerprinted every time)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def register(store: Store, artifact: Artifact, *, read_remote: bool = True) -> Artifact:
    """The stored artifact for ``artifact``: recorded (fingerprinted when local) unless the same
    content at the same URI is recorded already.

    A local file this store registered before in this process, unchanged on disk since (same
    inode, size, modification and change times), maps to the same artifact without being read
    or looked up again: passing ``Dataset.at(path)`` to every step call costs a ``stat``. Data on
    an object store (s3://, gs://) is fingerprinted by streaming it, unless ``read_remote=False``
    (``record()`` of what ran elsewhere: recorded as given)."""
    if artifact.id is not None:
        return artifact
    props = dict(artifact.properties)
    local = is_local(artifact.uri)
    key = (artifact.type, artifact.uri)
    sig = _file_signature(artifact.path) if local else None
    if sig is not None:
        hit = store.registered.get(key)
        if hit is not None and hit[0] == sig:
            return hit[1]
    stored = _register(store, artifact, props, local, read_remote)
    if sig is not None and stored.fingerprint:
        if len(store.registered) >= 10_000:
            store.registered.clear()
        store.registered[key] = (sig, stored)
    return stored


def _register(store: Store, artifact: Artifact, props: dict, local: bool, read_remote: bool) -> Artifact:
    if local or (read_remote and is_remote(artifact.uri)):
        fp = fingerprint(artifact.path) if local else remote_fingerprint(artifact.uri)  # streamed, not cached
        props.update(fingerprint=fp.digest, size_bytes=fp.size_bytes, file_count=fp.file_count)
        found = store.find_artifact(artifact.type, artifact.uri, fp.digest)
    else:
        clause = f"type = {quote(artifact.type)} AND uri = {quote(artifact.uri)}"
        hits = store.list_artifacts(filter_query=clause, limit=1) \
            if store.has_type("artifact", artifact.type) else []
        found = hits[0] if hits else None
    if found is not None:
        return found
    new = Artifact(id=None, type=artifact.type, uri=artifact.uri, state=artifact.state,
                   properties=props, custom_properties=artifact.custom_properties,
                   name=artifact.name)
    return store.put_artifacts([new])[0]


def resolve_artifact(store: Store, value: Any, type_name: Optional[str] = None,
                     *, what: str = "input", read_remote: bool = True) -> Artifact:
    """An input given as a record, an id or a URI, as a stored artifact."""
    if isinstance(value, Artifact):
        art = value if value.id is not None else register(store, value, read_remote=read_remote)
    elif isinstance(value, bool):
        raise InvalidInput(f"{what}: {value!r} is not an artifact, id or URI")
    elif isinstance(value, int):
        art = store.get_artifact(value)
    elif isinstance(value, str) and _ARTIFACT_REF.fullmatch(value.strip().lower()) and not Path(value).exists():
        art = store.get_artifact(parse_ref(value)[1])  # "a12": a reference, as everywhere else
    elif isinstance(value, (str, Path)) or hasattr(value, "__fspath__"):
        if type_name is None:
            raise InvalidInput(f"{what}: a URI needs an artifact type, e.g. Dataset.at(uri)")
        art = register(store, Artifact(id=None, type=type_name, uri=to_uri(value),
                                       properties={"external": True}), read_remote=read_remote)
    else:
        raise InvalidInput(
            f"{what}: expected an artifact (a recorded artifact, Type.at(uri), an artifact "
            f"id or a path), got {type(value).__name__}"
        )
    if type_name is not None and art.type != type_name:
        raise InvalidInput(
            f"{what} expects a {type_name}, but artifact {art.id} is a {art.type}"
        )
    return art
