"""The explorer's vendored JavaScript is exactly the pinned npm release (nobody edits it by hand)
and ships with the package: the files the component serves are package data."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_vendored_javascript_is_the_pinned_release():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "vendor-js"), "--check"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "cytoscape.min.js: cytoscape 3.35.0, sha256 ok" in out.stdout
    head = (ROOT / "app" / "graph_component" / "cytoscape.min.js").read_text()[:600]
    assert "Permission is hereby granted, free of charge" in head   # its MIT notice travels with it
    assert "tf.min.js: @tensorflow/tfjs 4.20.0, sha256 ok" in out.stdout
    head = (ROOT / "components" / "web_assets" / "tf.min.js").read_text()[:600]
    assert "Licensed under the Apache License, Version 2.0" in head


def test_the_component_files_are_package_data():
    import glob

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "lineage.app.graph_component" in tool["packages"]
    folder = ROOT / tool["package-dir"]["lineage.app.graph_component"]
    data = tool["package-data"]["lineage.app.graph_component"]
    served = {Path(p).name for pattern in data for p in glob.glob(str(folder / pattern))}
    assert {"index.html", "graph.js", "cytoscape.min.js", "vendored.json"} <= served
    html = (ROOT / "app" / "graph_component" / "index.html").read_text()
    assert all(f'src="{name}"' in html for name in ("cytoscape.min.js", "graph.js"))
