"""The example pipeline (the main job, `scripts/example`) records what it says it records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lineage import Lineage

REPO = Path(__file__).resolve().parents[2]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo_pipeline.py"


def test_demo_pipeline_records_a_run_and_caches_ingest_the_second_time(tmp_path):
    uri = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    for smoothing in ("1.0", "0.5"):
        out = subprocess.run([sys.executable, str(EXAMPLE), "--store", uri, "--smoothing", smoothing],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "Recorded run 'reviews-demo-" in out.stdout and "blessed=True" in out.stdout
    lin = Lineage.open(uri, readonly=True)
    first, second = sorted(lin.runs("reviews-demo"), key=lambda c: c.id)
    steps1 = [(e.type, e.state) for e in lin.run_steps(first)]
    steps2 = [(e.type, e.state) for e in lin.run_steps(second)]
    assert steps1 == [("Ingest", "COMPLETE"), ("Train", "COMPLETE"), ("Evaluate", "COMPLETE")]
    assert steps2 == [("Ingest", "CACHED"), ("Train", "COMPLETE"), ("Evaluate", "COMPLETE")]
    ingest1, train1, eval1 = lin.run_steps(first)
    ingest2, train2, _ = lin.run_steps(second)
    # the cached ingest hands the same Examples to the second training run
    examples = lin.outputs(ingest1)["examples"][0]
    assert lin.outputs(ingest2)["examples"][0].id == examples.id
    assert lin.inputs(train2)["examples"][0].id == examples.id
    assert examples.properties["split_names"] == '["eval", "train"]'
    assert examples.properties["row_count"] == 3000
    assert lin.inputs(ingest1)["raw"][0].uri.endswith("examples/data/reviews.csv")
    assert train1.params["smoothing"] == 1.0 and train2.params["smoothing"] == 0.5
    blessing = lin.outputs(eval1)["blessing"][0]
    assert blessing.type == "ModelBlessing" and blessing.properties["blessed"] is True
    evaluation = lin.outputs(eval1)["evaluation"][0]
    assert 0.7 <= evaluation.custom_properties["accuracy"] <= 1.0


def test_example_help_prints_help_and_exits_zero():
    out = subprocess.run([sys.executable, str(REPO / "examples" / "reviews_pipeline.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage: reviews_pipeline.py" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
