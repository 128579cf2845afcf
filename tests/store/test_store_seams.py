"""The store's seams: a write that a concurrent writer aborted is retried; closing a store
releases every handle on its file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ml_metadata import errors as mlmd_errors

from lineage import Lineage
from lineage.errors import StoreBusy
from lineage.records import Artifact


class AbortedFirst:
    """The real MLMD ``put_artifacts``, aborted the way MLMD aborts a write that lost to a
    concurrent writer, the first ``n`` times (MLMD's own retries give up that way)."""

    def __init__(self, real, n: int) -> None:
        self.real, self.n, self.calls = real, n, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.n:
            raise mlmd_errors.AbortedError("Concurrent writes aborted after max number of retries")
        return self.real(*args, **kwargs)


def _uris(lin) -> list:
    return sorted(a.uri for a in lin.artifacts("Dataset", limit=None))


def test_an_aborted_write_is_retried_and_lands_once(lin):
    flaky = AbortedFirst(lin.store.mlmd.put_artifacts, n=2)
    lin.store.mlmd.put_artifacts = flaky
    [a] = lin.store.put_artifacts([Artifact(None, "Dataset", "/retried")])
    assert flaky.calls == 3
    assert _uris(lin) == ["/retried"] and lin.artifact(a.id).uri == "/retried"


def test_a_write_aborted_every_time_says_so_and_writes_nothing(lin):
    lin.store.write_retries = 2
    flaky = AbortedFirst(lin.store.mlmd.put_artifacts, n=5)
    lin.store.mlmd.put_artifacts = flaky
    with pytest.raises(StoreBusy, match="another writer.*MySQL/MariaDB"):
        lin.store.put_artifacts([Artifact(None, "Dataset", "/never")])
    assert flaky.calls == 2
    assert _uris(lin) == []


def _open_handles(path: Path) -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                n += 1
        except OSError:
            pass
    return n


def test_close_releases_the_direct_sqlite_reader(lin):
    path = lin.config.path
    [a] = lin.store.put_artifacts([Artifact(None, "Dataset", "/x")])
    lin.close()
    lin = Lineage.open(str(path))   # a fresh store object, which has read nothing yet
    before = _open_handles(path)
    assert lin.store.artifact_types([a.id]) == {a.id: "Dataset"}  # opens the read-only fast path
    assert _open_handles(path) == before + 1
    lin.close()
    import gc

    gc.collect()
    assert _open_handles(path) == 0
