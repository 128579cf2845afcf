"""Artifacts on object storage: ``s3://`` and ``gs://`` (anything fsspec reads), through one
code path.

- :func:`upload` copies a step's staged output to its URI with the object store client's own
  concurrent transfer, fingerprinting the same bytes on another thread meanwhile (the same sha256
  tree hash as a local artifact, :mod:`lineage.fingerprint`).
- :func:`remote_fingerprint` fingerprints what a URI holds now, streaming it.
- :func:`materialize` gives a remote artifact a local path through a content-addressed cache
  (``LINEAGE_CACHE``, default ``~/.cache/lineage``; at most ``LINEAGE_CACHE_SIZE`` bytes, default
  10G, least recently used evicted first), checked against the recorded fingerprint.

Credentials come from where the object store's own client looks (for S3: the AWS environment
variables and ``~/.aws`` files; ``AWS_ENDPOINT_URL`` for an S3-compatible server); lineage never
records or prints them. Every failure is an :class:`~lineage.errors.ObjectStoreError` naming the
URI and saying what to check.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import logging
import os
import re
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .errors import CacheFull, FingerprintError, InvalidInput, ObjectStoreError
from .fingerprint import Fingerprint, TreeDigest, fingerprint, tree_files
from .vocab import is_local

__all__ = ["is_remote", "filesystem", "upload", "remote_fingerprint", "materialize", "download",
           "cache_dir", "cache_limit", "remote_errors", "join", "ENV_CACHE", "ENV_CACHE_SIZE"]

log = logging.getLogger("lineage.objects")

ENV_CACHE = "LINEAGE_CACHE"
ENV_CACHE_SIZE = "LINEAGE_CACHE_SIZE"
#: Object stores lineage reads and writes (fsspec's protocol names).
SCHEMES = ("s3", "s3a", "gs", "gcs")
_BLOCK = 8 << 20          # bytes per read and per part written
WORKERS = 16              # objects of a prefix hashed at once (remote_fingerprint)


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names an object store lineage can read and write (s3://, gs://)."""
    text = str(uri)
    return not is_local(text) and text.split("://", 1)[0].lower() in SCHEMES


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts)])


def filesystem(uri: str) -> Tuple[Any, str]:
    """``(fsspec filesystem, path within it)`` for a remote URI."""
    scheme = str(uri).split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise InvalidInput(f"{uri!r} is not an object store URI lineage writes to (s3://, gs://)")
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with s3fs and gcsfs
        raise ObjectStoreError(f"{uri}: object storage needs fsspec: pip install 'lineage[s3]' or 'lineage[gcs]'") from None
    kwargs: Dict[str, Any] = {"use_listings_cache": False}   # another machine may have written since
    if scheme in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        # no retries on a dead endpoint: an unreachable server is one clear error, not minutes
        kwargs["config_kwargs"] = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}}
    protocol = "gcs" if scheme == "gs" else ("s3" if scheme == "s3a" else scheme)
    # One client per protocol, endpoint and identity (a changed AWS_* environment is a new client).
    key = (protocol, repr(sorted(kwargs.items())), os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_PROFILE"),
           os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))
    fs = _CLIENTS.get(key)
    if fs is None:
        try:
            fs = fsspec.filesystem(protocol, skip_instance_cache=True, **kwargs)
        except ImportError:
            extra = "s3" if scheme.startswith("s3") else "gcs"
            raise ObjectStoreError(f"{uri}: {scheme}:// needs its client: pip install 'lineage[{extra}]'") from None
        _CLIENTS[key] = fs
    return fs, fs._strip_protocol(str(uri))


_CLIENTS: Dict[Any, Any] = {}


@contextlib.contextmanager
def remote_errors(uri: str, action: str) -> Iterator[None]:
    """An object store's exceptions as one :class:`ObjectStoreError` line naming ``uri``."""
    try:
        yield
    except (ObjectStoreError, FingerprintError, InvalidInput):
        raise
    except FileNotFoundError as exc:
        text = str(exc)
        if "bucket" in text.lower() or "NoSuchBucket" in text:
            raise ObjectStoreError(f"{action} {uri}: the bucket does not exist") from None
        raise ObjectStoreError(f"{action} {uri}: no such object") from None
    except PermissionError:
        raise ObjectStoreError(f"{action} {uri}: access denied: check the credentials (for S3 the AWS_* "
                               f"variables or ~/.aws) and what they may read and write") from None
    except Exception as exc:  # botocore / aiohttp / google-auth errors, without importing them
        name = type(exc).__name__
        text = " ".join(str(exc).split())
        if "NoCredentials" in name or "credentials" in text.lower() and "unable to locate" in text.lower():
            reason = "no credentials found (for S3 set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or ~/.aws)"
        elif "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text:
            reason = "the credentials were refused (a wrong access key or secret)"
        elif "NoSuchBucket" in text:
            reason = "the bucket does not exist"
        elif "Connect" in name or "connect" in text.lower() or "EndpointConnection" in name:
            where = os.environ.get("AWS_ENDPOINT_URL") or "its endpoint"
            reason = f"cannot reach the object store at {where}: is it running, is AWS_ENDPOINT_URL right?"
        else:
            reason = f"{name}: {text[:200]}"
        raise ObjectStoreError(f"{action} {uri}: {reason}") from None


# ----------------------------------------------------------------------- writing


def upload(local: Path, uri: str, *, progress: Optional[Callable[[int, int], None]] = None) -> Fingerprint:
    """Copy a local file or folder to ``uri`` and return its fingerprint. The bytes are hashed on
    one thread while the object store's own client sends them on another (a folder's files
    concurrently, large files in parts), so the fingerprint costs next to nothing on top of the
    upload. The staged files are lineage's own and no longer written to once a step returned."""
    local = Path(local)
    fs, root = filesystem(uri)
    if not local.exists():
        raise FingerprintError(f"nothing to upload at {local}: the file or directory does not exist")
    with remote_errors(uri, "uploading to"), ThreadPoolExecutor(max_workers=1) as hasher:
        digest = hasher.submit(fingerprint, local)
        if local.is_file():
            fs.put_file(str(local), root)
        else:
            files = tree_files(str(local))
            if files:
                fs.put([str(local / rel) for rel in files], [f"{root}/{rel}" for rel in files])
            if progress:
                progress(len(files), len(files))
        return digest.result()


# ----------------------------------------------------------------------- reading


def _objects(fs: Any, root: str, info: Optional[dict] = None) -> Optional[List[Tuple[str, int]]]:
    """``[(relative key, size)]`` of the objects under a prefix, sorted; None when ``root`` is
    one object."""
    info = info if info is not None else fs.info(root)
    if info.get("type") != "directory":
        return None
    found = fs.find(root, detail=True)
    prefix = root.rstrip("/") + "/"
    out = [(k[len(prefix):], int(v.get("size") or 0)) for k, v in found.items()
           if k.startswith(prefix) and v.get("type") != "directory" and not k.endswith("/")]
    return sorted(out)


def _hash_object(fs: Any, path: str) -> Tuple[bytes, int]:
    h = hashlib.sha256()
    size = 0
    with fs.open(path, "rb", block_size=_BLOCK) as f:
        while True:
            block = f.read(_BLOCK)
            if not block:
                break
            h.update(block)
            size += len(block)
    return h.digest(), size


def remote_fingerprint(uri: str) -> Fingerprint:
    """The fingerprint of what ``uri`` holds now (an object, or the objects under a prefix),
    streamed: the same value as :func:`lineage.fingerprint.fingerprint` of the same bytes on disk."""
    fs, root = filesystem(uri)
    with remote_errors(uri, "reading"):
        if not fs.exists(root):
            raise FingerprintError(f"nothing to fingerprint at {uri}: no such object or prefix")
        objects = _objects(fs, root)
        if objects is None:
            digest, size = _hash_object(fs, root)
            return Fingerprint("sha256:" + digest.hex(), size, 1)
        tree = TreeDigest()
        with ThreadPoolExecutor(max_workers=min(WORKERS, max(1, len(objects)))) as pool:
            for (rel, _), (digest, size) in zip(objects, pool.map(lambda o: _hash_object(fs, f"{root}/{o[0]}"),
                                                                  objects)):
                tree.add(rel, digest, size)
        return tree.result()


def _listing(uri: str) -> Tuple[Any, int]:
    """``(listing for download, total bytes)`` of an object or prefix: one listing."""
    fs, root = filesystem(uri)
    with remote_errors(uri, "reading"):
        info = fs.info(root)
        if info.get("type") != "directory":
            return None, int(info.get("size") or 0)
        objects = _objects(fs, root, info)
        return objects, sum(s for _, s in objects or [])


def _hash_local(path: Path) -> Tuple[bytes, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            if not block:
                return h.digest(), size
            h.update(block)
            size += len(block)


def download(uri: str, dest: Path, listing: Any = False) -> Fingerprint:
    """Copy an object, or the objects under a prefix, to ``dest`` (a file or a new folder), with
    the object store client's own concurrent transfer, and fingerprint what was written. A
    folder comes down in a few batches (largest objects first), each batch's files hashed from
    the page cache while the next batch downloads, so only the last batch's hashing adds to the
    transfer (hashing each file as its bytes arrived measured slower:
    bench/bench_object_storage.py)."""
    fs, root = filesystem(uri)
    dest = Path(dest)
    with remote_errors(uri, "downloading"):
        objects = _objects(fs, root) if listing is False else listing   # (a caller's listing: no second one)
        if objects is None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(root, str(dest))
            digest, size = _hash_local(dest)
            return Fingerprint("sha256:" + digest.hex(), size, 1)
        rels = [rel for rel, _ in objects]
        for parent in {(dest / rel).parent for rel in rels} | {dest}:
            parent.mkdir(parents=True, exist_ok=True)
        hashed = {}
        with ThreadPoolExecutor(max_workers=min(4, max(1, len(rels)))) as pool:
            for batch in _batches(objects, _DOWNLOAD_BATCHES):
                fs.get([f"{root}/{r}" for r in batch], [str(dest / r) for r in batch])
                hashed.update({r: pool.submit(_hash_local, dest / r) for r in batch})
            tree = TreeDigest()
            for rel in rels:   # in the listing's (sorted) order
                digest, size = hashed[rel].result()
                tree.add(rel, digest, size)
    return tree.result()


#: batches a folder is downloaded in (see :func:`download`)
_DOWNLOAD_BATCHES = 4


def _batches(objects: List[Tuple[str, int]], parts: int) -> List[List[str]]:
    """The objects' names in about ``parts`` batches of similar size, the largest objects first."""
    total = sum(size for _, size in objects) or 1
    batches: List[List[str]] = [[]]
    filled = 0
    for rel, size in sorted(objects, key=lambda o: -o[1]):
        if batches[-1] and filled >= total / parts * len(batches):
            batches.append([])
        batches[-1].append(rel)
        filled += size
    return batches


# ------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "lineage").expanduser().absolute()


def cache_limit() -> int:
    """``LINEAGE_CACHE_SIZE`` in bytes (``500M``, ``10G``, or a number); 10 GiB by default."""
    text = (os.environ.get(ENV_CACHE_SIZE) or "10G").strip().upper()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)I?B?", text)
    if not m:
        raise InvalidInput(f"{ENV_CACHE_SIZE}={text!r} is not a size: write e.g. 500M, 10G or a number of bytes")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2) or " "))


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _make_room(objects: Path, need: int, limit: int, what: str) -> None:
    """Evict the least recently used entries until ``need`` more bytes fit under ``limit``."""
    if need > limit:
        raise CacheFull(f"{what} is {need} bytes, more than the cache may hold ({limit} bytes in "
                        f"{cache_dir()}): raise {ENV_CACHE_SIZE}, or `lineage pull` it to a folder of your own")
    entries = []
    for entry in objects.glob("*/*"):
        if entry.is_dir():
            entries.append((entry.stat().st_mtime, entry, _tree_size(entry)))
    used = sum(size for _, _, size in entries)
    for _, entry, size in sorted(entries):
        if used + need <= limit:
            break
        shutil.rmtree(entry, ignore_errors=True)
        used -= size
        log.info("cache: evicted %s (%d bytes)", entry.name, size)


def materialize(uri: str, recorded: Optional[str], what: str) -> Path:
    """A local path holding exactly what ``uri`` held when it was recorded: from the cache when
    there, else downloaded into it and checked against the ``recorded`` fingerprint (a mismatch
    is an error naming ``what``; nothing wrong is kept). Without a recorded fingerprint the
    download is kept under its URI's hash, unchecked."""
    root = cache_dir()
    objects = root / "objects"
    name = uri.rstrip("/").rsplit("/", 1)[-1] or "object"
    key = recorded.split(":", 1)[1] if recorded and recorded.startswith("sha256:") else \
        "uri-" + hashlib.sha256(uri.encode()).hexdigest()
    entry = objects / key[:2] / key
    if (entry / ".complete").exists():
        os.utime(entry)  # most recently used
        return entry / name
    limit = cache_limit()
    listing, size = _listing(uri)
    objects.mkdir(parents=True, exist_ok=True)
    _make_room(objects, size, limit, what)
    tmp = root / "tmp" / f"{key[:16]}-{secrets.token_hex(4)}"
    try:
        got = download(uri, tmp / name, listing)
        if recorded and got.digest != recorded:
            raise FingerprintError(f"{what}: the bytes at {uri} are not the ones recorded (recorded {recorded}, "
                           f"now {got.digest}): it was changed after it was recorded; nothing was used")
        (tmp / ".complete").write_text(uri)
        entry.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, entry)
        except OSError:  # another process put it there first: theirs is the same bytes
            if not (entry / ".complete").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry / name


def copy_out(src: Path, dest: Path) -> None:
    """Copy a file or folder to ``dest`` (which must not exist)."""
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def age_of_folder(name: str) -> Optional[float]:
    """Seconds since a step's output folder was named (``YYYYmmddTHHMMSS-xxxxxxxx``), or None."""
    m = re.match(r"(\d{8}T\d{6})-[0-9a-f]{8}$", name)
    if not m:
        return None
    return time.time() - calendar.timegm(time.strptime(m.group(1), "%Y%m%dT%H%M%S"))
