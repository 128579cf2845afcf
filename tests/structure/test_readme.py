"""The README tells the truth: its public API list and its Python snippets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import lineage
from lineage import Lineage

README = Path(__file__).resolve().parents[2] / "README.md"


def test_public_api_matches_the_readme():
    text = README.read_text()
    block = text.split("<!-- public-api -->")[1].split("<!-- /public-api -->")[0]
    documented = re.findall(r"`([A-Za-z_]+)`", block)
    assert sorted(documented) == sorted(lineage.__all__)
    for name in lineage.__all__:
        assert hasattr(lineage, name), name


def test_readme_python_snippets_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 4
    script = tmp_path / "readme_snippets.py"
    script.write_text("\n".join(blocks))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    default = Lineage.open(str(tmp_path / ".lineage" / "metadata.sqlite"), readonly=True)
    [cleaned_run] = default.executions("clean")
    assert cleaned_run.state == "COMPLETE" and cleaned_run.params["min_len"] == 5
    assert {e.type for e in default.executions(limit=None)} == {"clean", "Train", "Push", "Clean"}
    [bulk_clean] = default.executions("Clean")  # record_many's: its Train read what it wrote
    [made] = [ev.artifact_id for ev in default.events(f"e{bulk_clean.id}") if ev.type == "OUTPUT"]
    readers = {ev.execution_id for ev in default.events(f"a{made}") if ev.type == "INPUT"}
    assert [default.execution(i).params["lr"] for i in readers] == [0.1]
    other = Lineage.open(str(tmp_path / "experiments.db"), readonly=True)
    assert [e.params["min_len"] for e in other.executions("clean")] == [1]
    sweep = Lineage.open(str(tmp_path / "sweep.db"), readonly=True)
    table = sweep.runs_frame(sort="metrics.loss")
    assert table["run"].tolist() == ["lr-1", "lr-0"]
    assert table["metrics.loss"].tolist() == [1 / (1 + 0.3 * 3), 1 / (1 + 0.1 * 3)]
    assert table["tags.stage"].tolist()[0] == "candidate" and [n.text for n in sweep.notes("lr-1")] == ["best loss so far"]
    assert "training with lr=0.3" in sweep.step_log(sweep.executions("Fit")[0].id)


def test_architecture_section_names_every_module():
    """The README's layer diagram lists each package's modules; a module added or removed shows."""
    block = README.read_text().split("## Architecture")[1].split("\n## ")[0]
    pkg = README.parent / "lineage"
    missing = []
    folders = (pkg, pkg / "store", pkg / "query", pkg / "recorder", pkg / "serving", pkg / "serving" / "server")
    assert all(f.is_dir() for f in folders), [str(f) for f in folders if not f.is_dir()]
    for folder in folders:
        for module in sorted(folder.glob("*.py")):
            name = module.stem
            if name in ("__init__", "api", "cli", "synthetic"):
                continue
            if not re.search(rf"\b{re.escape(name)}\b", block):
                missing.append(str(module.relative_to(README.parent)))
    assert not missing, f"modules missing from the README's Architecture section: {missing}"


def _results_block(text: str) -> str:
    return text.split("<!-- results -->", 1)[1].split("<!-- /results -->", 1)[0]


def test_the_performance_figures_are_those_bench_run_all_wrote():
    """No number without its command: the README's figures are bench/RESULTS.md's summary, word
    for word, and every row names the command that measured it."""
    results = (README.parent / "bench" / "RESULTS.md").read_text()
    block = _results_block(README.read_text())
    assert block == _results_block(results)
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| metric")
            and not line.startswith("| ---")]
    assert len(rows) >= 10
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[-1].startswith(".venv/bin/python bench/"), row
        assert (README.parent / cells[-1].split()[1]).exists(), row
