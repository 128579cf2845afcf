"""Taint is visible wherever it matters: show and provenance of a tainted artifact or of
anything made from one say so; impact's text lists blessings; a cache=True step does not reuse
a result made from a tainted input."""

from __future__ import annotations

import pytest

import json

from lineage import Input, Output, run, step
from lineage.types import Dataset, Examples

from helpers import cli


@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_show_and_provenance_say_tainted(lin, tmp_path):
    from helpers import record_pipeline, record_push

    raw, module, examples, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    lin.taint(raw, "labels leaked from the test set")

    r = cli("show", raw.ref, "--store", lin.uri)
    assert "TAINTED:     labels leaked from the test set" in r.stdout
    r = cli("show", m1.ref, "--store", lin.uri, "--json")
    assert [t["artifact"] for t in json.loads(r.stdout)["tainted"]] == [raw.ref]
    r = cli("show", m1.ref, "--store", lin.uri)
    assert f"TAINTED:     made from tainted {raw.ref}: labels leaked" in r.stdout
    r = cli("provenance", "reviews:1", "--store", lin.uri)
    assert f"made from tainted {raw.ref}" in r.stdout
    r = cli("show", module.ref, "--store", lin.uri)
    assert "TAINTED" not in r.stdout
    r = cli("impact", raw.ref, "--store", lin.uri)
    assert f"blessings (1): a{ev1.blessing.id} blessed" in r.stdout
    lin.untaint(raw, "false alarm")
    assert "TAINTED" not in cli("provenance", "reviews:1", "--store", lin.uri).stdout


def test_cache_does_not_reuse_a_result_made_from_tainted_data(lin, tmp_path):
    src = tmp_path / "d.csv"
    src.write_text("x\n")

    @step(cache=True)
    def feats(raw: Input[Dataset], out: Output[Examples]):
        out.path.write_text(raw.path.read_text() * 2)

    with run("taint-cache", store=lin):
        first = feats(Dataset.at(src))
        lin.taint(first, "written by a buggy version")
        second = feats(Dataset.at(src))
        third = feats(Dataset.at(src))
    assert second.id != first.id          # not reused: it is tainted
    assert third.id == second.id          # the clean result is reused
    assert [e.state for e in sorted(lin.executions("feats"), key=lambda e: e.id)] == ["COMPLETE", "COMPLETE", "CACHED"]
