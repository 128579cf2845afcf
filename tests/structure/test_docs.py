"""The README and the docs site tell the truth: every page's Python examples run (each page on its
own, in a fresh folder), the public API list, the architecture diagram and the performance figures
match the code and bench/RESULTS.md, and every docs page is in the site's navigation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lineage
from lineage import Lineage

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README] + sorted(DOCS.glob("*.md"))


def _python_blocks(page: Path):
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


def _run_page(page: Path, folder: Path) -> None:
    script = folder / f"{page.stem}_examples.py"
    script.write_text("\n".join(_python_blocks(page)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    out = subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, f"{page.relative_to(ROOT)}: {out.stderr}"


@pytest.mark.parametrize("page", [p for p in PAGES if _python_blocks(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_each_pages_python_examples_run_on_their_own(page, tmp_path):
    _run_page(page, tmp_path)


def test_the_recording_page_records_what_it_says(tmp_path):
    _run_page(DOCS / "recording.md", tmp_path)
    default = Lineage.open(str(tmp_path / ".lineage" / "metadata.sqlite"), readonly=True)
    [cleaned_run] = default.executions("clean")
    assert cleaned_run.state == "COMPLETE" and cleaned_run.params["min_len"] == 5
    assert {e.type for e in default.executions(limit=None)} == {"clean", "Train", "Push", "Clean"}
    [bulk_clean] = default.executions("Clean")  # record_many's: its Train read what it wrote
    [made] = [ev.artifact_id for ev in default.events(f"e{bulk_clean.id}") if ev.type == "OUTPUT"]
    readers = {ev.execution_id for ev in default.events(f"a{made}") if ev.type == "INPUT"}
    assert [default.execution(i).params["lr"] for i in readers] == [0.1]


def test_the_stores_and_experiments_pages_record_what_they_say(tmp_path):
    (tmp_path / "stores").mkdir()
    _run_page(DOCS / "stores.md", tmp_path / "stores")
    other = Lineage.open(str(tmp_path / "stores" / "experiments.db"), readonly=True)
    assert [e.params["min_len"] for e in other.executions("clean")] == [1]
    (tmp_path / "experiments").mkdir()
    _run_page(DOCS / "experiments.md", tmp_path / "experiments")
    sweep = Lineage.open(str(tmp_path / "experiments" / "sweep.db"), readonly=True)
    table = sweep.runs_frame(sort="metrics.loss")
    assert table["run"].tolist() == ["lr-1", "lr-0"]
    assert table["metrics.loss"].tolist() == [1 / (1 + 0.3 * 3), 1 / (1 + 0.1 * 3)]
    assert table["tags.stage"].tolist()[0] == "candidate" and [n.text for n in sweep.notes("lr-1")] == ["best loss so far"]
    assert "training with lr=0.3" in sweep.step_log(sweep.executions("Fit")[0].id)


def test_the_readme_stays_a_first_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 160
    assert "scripts/example" in text and "scripts/test" in text
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).exists(), link


def test_no_page_is_left_with_a_placeholder():
    for page in PAGES:
        found = re.findall(r"\b[A-Z]+_TIME\b|\bTODO\b|\bTBD\b", page.read_text())
        assert not found, f"{page.relative_to(ROOT)}: {found}"


def test_every_page_is_in_the_sites_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in DOCS.glob("*.md"):
        assert f" {page.name}" in nav, f"{page.name} is not in mkdocs.yml's nav"


def test_public_api_matches_the_reference_page():
    text = (DOCS / "reference.md").read_text()
    block = text.split("<!-- public-api -->")[1].split("<!-- /public-api -->")[0]
    documented = re.findall(r"`([A-Za-z_]+)`", block)
    assert sorted(documented) == sorted(lineage.__all__)
    for name in lineage.__all__:
        assert hasattr(lineage, name), name


def test_architecture_page_names_every_module():
    """The layer diagram lists each package's modules; a module added or removed shows."""
    block = (DOCS / "architecture.md").read_text().split("\n## ")[0]
    pkg = ROOT / "lineage"
    missing = []
    folders = (pkg, pkg / "store", pkg / "query", pkg / "recorder", pkg / "serving", pkg / "serving" / "server")
    assert all(f.is_dir() for f in folders), [str(f) for f in folders if not f.is_dir()]
    for folder in folders:
        for module in sorted(folder.glob("*.py")):
            name = module.stem
            if name in ("__init__", "api", "cli", "synthetic"):
                continue
            if not re.search(rf"\b{re.escape(name)}\b", block):
                missing.append(str(module.relative_to(ROOT)))
    assert not missing, f"modules missing from docs/architecture.md's diagram: {missing}"


def _results_block(text: str) -> str:
    return text.split("<!-- results -->", 1)[1].split("<!-- /results -->", 1)[0]


def test_the_performance_figures_are_those_bench_run_all_wrote():
    """No number without its command: the performance page's figures are bench/RESULTS.md's
    summary, word for word, and every row names the command that measured it."""
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    block = _results_block((DOCS / "performance.md").read_text())
    assert block == _results_block(results)
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| metric")
            and not line.startswith("| ---")]
    assert len(rows) >= 10
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[-1].startswith(".venv/bin/python bench/"), row
        assert (ROOT / cells[-1].split()[1]).exists(), row


def test_no_benchmark_figure_in_a_docstring():
    """Figures go stale in code: bench/RESULTS.md holds them."""
    found = []
    for folder in ("lineage", "app", "components"):
        for path in (ROOT / folder).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\b\d+(\.\d+)? ?ms\b|\b\d+(\.\d+)?x (faster|slower)\b", line) and "f\"" not in line \
                        and "log." not in line and "print(" not in line:
                    found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, found
