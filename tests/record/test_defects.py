"""Defects found in review, each checked through what the store holds afterwards."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from lineage import Input, Output, record, step, use
from lineage.types import Dataset, Model

REPO = Path(__file__).resolve().parents[2]


def test_an_async_step_with_cache_returns_the_cached_output_when_awaited(lin, tmp_path):
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n1,2\n")

    @step(cache=True)
    async def clean(src: Input[Dataset], out: Output[Dataset]):
        await asyncio.sleep(0)
        out.path.write_text(src.path.read_text().upper())

    with use(lin):
        first = asyncio.run(clean(Dataset.at(raw)))
        second = asyncio.run(clean(Dataset.at(raw)))
    assert second.id == first.id and Path(second.uri).read_text() == "A,B\n1,2\n"
    states = [e.state for e in lin.executions("clean", limit=None)]
    assert sorted(states) == ["CACHED", "COMPLETE"]


def test_record_labels_outputs_when_one_artifact_is_given_under_two_keys(lin, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "c").write_text("c")
    model = record("Train", outputs={"model": Model.at(tmp_path / "m")}, store=lin).model
    other = record("Make", outputs={"other": Dataset.at(tmp_path / "c")}, store=lin).other
    res = record("Export", inputs={"model": model},
                 outputs={"best": model.id, "latest": model.id, "side": other.id}, store=lin)
    assert {k: a.id for k, a in res.items()} == {"best": model.id, "latest": model.id, "side": other.id}
    outs = lin.outputs(res.execution)
    assert {k: [a.id for a in v] for k, v in outs.items()} == {"best": [model.id], "latest": [model.id],
                                                               "side": [other.id]}


def test_example_help_prints_help_and_exits_zero():
    out = subprocess.run([sys.executable, str(REPO / "examples" / "reviews_pipeline.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage: reviews_pipeline.py" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
