"""The explorer's shared fixtures: a small recorded store with the example's shape (two runs,
two pushes, a rollback, a taint, text that looks like code)."""

from __future__ import annotations

import pytest

from explorer_helpers import SCRIPT, Beacon, served_browser
from helpers import record_pipeline, record_push, record_serving_op
from lineage import Lineage, record, run, step
from lineage.types import Dataset


def pytest_collection_modifyitems(config, items):
    """Every test under tests/app drives the explorer in a browser: marked `ui` (scripts/test --fast
    leaves them out)."""
    for item in items:
        if "/tests/app/" in str(item.fspath):
            item.add_marker(pytest.mark.ui)


@pytest.fixture(scope="module")
def beacon():
    b = Beacon()
    yield b
    b.server.shutdown()


@pytest.fixture(scope="module")
def store(tmp_path_factory, beacon):
    tmp = tmp_path_factory.mktemp("explorer")
    lin = Lineage.open(f"sqlite:///{tmp / 'metadata.sqlite'}")
    raw, module, examples, m1, ev1 = record_pipeline(lin, tmp, run_name="run-1")
    _, module2, _, m2, ev2 = record_pipeline(lin, tmp, module_version=2, lr=0.05, base=m1, raw=raw,
                                             run_name="run-2", baseline=m1)
    p1 = record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    p2 = record_push(lin, m2, ev2.blessing, 2, at=2000.0)
    record_serving_op(lin, "Rollback", p1, at=3000.0)
    lin.taint(module2, "vocabulary leaked from the test set")
    odd = record("Note", outputs={"note": Dataset.at(tmp / "note.txt", comment=SCRIPT)}, store=lin).note

    @step
    def boom():
        raise ValueError(beacon.payload())

    with pytest.raises(ValueError):
        with run("payload", name="payload-run", store=lin):
            boom()
    return {"uri": lin.uri, "lin": lin, "raw": raw, "module2": module2, "m1": m1, "m2": m2, "odd": odd,
            "p1": p1, "p2": p2}


@pytest.fixture(scope="module")
def browser_page(store):
    """``lineage ui`` on the shared store and a Chromium page on it: ``(page, base URL)`` (a test
    module on another store defines its own)."""
    with served_browser(store["uri"]) as (page, base):
        yield page, base
