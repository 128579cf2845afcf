"""The architecture, checked: every import in lineage (function-level ones included) points down
the stack, no import cycle, no private name imported from another module, TensorFlow only in the
components and the model server, ML Metadata only in the store. See docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The installed package: the repository folders behind each import name.
ROOTS = {"lineage": REPO / "lineage", "lineage.components": REPO / "components", "lineage.app": REPO / "app"}

#: Layers, bottom first. A module may import modules of its own layer or below, never above.
LAYERS: List[Tuple[str, ...]] = [
    ("lineage.errors", "lineage.version", "lineage.vocab", "lineage.values", "lineage.records",
     "lineage.refs", "lineage.uris", "lineage.fingerprint", "lineage.objects", "lineage.codeversion", "lineage.owner", "lineage.layout", "lineage.locks", "lineage.schema",
     "lineage.types", "lineage.statistics"),
    ("lineage.store",),
    ("lineage.query",),
    ("lineage.recorder",),
    ("lineage.serving",),
    ("lineage.api",),
    ("lineage.cli", "lineage.synthetic", "lineage.components", "lineage.app", "lineage"),
]
TENSORFLOW = ("tensorflow", "tensorflow_hub", "tensorflow_transform", "tensorflow_model_analysis",
              "tensorflow_metadata", "tensorflow_serving.apis", "tfx_bsl", "apache_beam", "tf_keras", "keras")
TF_ALLOWED = ("lineage.components", "lineage.serving.server")
MLMD_ALLOWED = ("lineage.store",)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def modules() -> Dict[str, Path]:
    """Every module of the installed package, by import name."""
    out: Dict[str, Path] = {}
    for root_name, root in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([root_name, *parts])
            if root_name == "lineage" and parts and parts[0] in ("components", "app"):
                continue
            out[name] = path
    return out


def _is_package(name: str, mods: Dict[str, Path]) -> bool:
    return mods[name].name == "__init__.py"


def imports(name: str, path: Path, mods: Dict[str, Path]) -> Iterator[Tuple[str, List[str], int]]:
    """``(module imported, names taken from it, line)`` for every import statement, at any depth."""
    package = name if _is_package(name, mods) else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [a.name for a in node.names], node.lineno


def layer_of(name: str) -> int:
    best, layer = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if _within(name, p) and len(p) > best:
                best, layer = len(p), i
    assert layer >= 0, f"{name} belongs to no layer: add it to LAYERS (and to docs/architecture.md's diagram)"
    return layer


def internal_edges() -> Dict[str, Set[Tuple[str, int]]]:
    """Module -> the package modules it imports (``from pkg import mod`` counts as pkg.mod)."""
    mods = modules()
    edges: Dict[str, Set[Tuple[str, int]]] = {}
    for name, path in mods.items():
        out: Set[Tuple[str, int]] = set()
        for target, names, line in imports(name, path, mods):
            if not _within(target, "lineage"):
                continue
            for n in names or [""]:
                sub = f"{target}.{n}" if n else target
                out.add((sub if sub in mods else target, line))
        edges[name] = {(t, line) for t, line in out if t in mods and t != name}
    return edges


def test_every_module_sits_in_a_layer_and_imports_point_down():
    wrong = []
    for name, targets in internal_edges().items():
        for target, line in targets:
            if target == "lineage":
                if name != "lineage" and layer_of(name) < len(LAYERS) - 1:
                    wrong.append(f"{name}:{line} imports the top-level package lineage")
                continue
            if layer_of(target) > layer_of(name):
                wrong.append(f"{name}:{line} imports {target}, a layer above it")
    assert not wrong, "imports pointing up the stack:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle():
    edges = {n: {t for t, _ in ts if t != "lineage"} for n, ts in internal_edges().items()}
    state: Dict[str, int] = {}
    stack: List[str] = []
    cycles: List[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_name_crosses_a_module_line():
    mods = modules()
    wrong = []
    for name, path in mods.items():
        for target, names, line in imports(name, path, mods):
            if not _within(target, "lineage") and target not in ("components", "app"):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [p for p in target.split(".") if p.startswith("_") and not p.startswith("__")]
            if private:
                wrong.append(f"{name}:{line} imports {', '.join(private)} from {target}")
    assert not wrong, "private names imported from another module:\n" + "\n".join(wrong)


@pytest.mark.parametrize("what, banned, allowed", [
    ("TensorFlow", TENSORFLOW, TF_ALLOWED),
    ("ML Metadata", ("ml_metadata",), MLMD_ALLOWED),
])
def test_heavy_dependencies_stay_in_their_place(what, banned, allowed):
    mods = modules()
    wrong = []
    for name, path in mods.items():
        if any(_within(name, a) for a in allowed):
            continue
        for target, _, line in imports(name, path, mods):
            if any(_within(target, b) for b in banned):
                wrong.append(f"{name}:{line} imports {target}")
    assert not wrong, f"{what} imported outside {', '.join(allowed)}:\n" + "\n".join(wrong)


def test_one_top_level_import_name():
    """The distribution installs `lineage` only: no top-level `components`, `app` or `schemas`."""
    import tomllib

    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {p.split(".")[0] for p in setup["packages"]} == {"lineage"}
    assert setup["package-dir"] == {"lineage": "lineage", "lineage.components": "components",
                                    "lineage.app": "app", "lineage.app.graph_component": "app/graph_component",
                                    "lineage.components.web_assets": "components/web_assets",
                                    "lineage.schemas": "schemas"}
    for stray in ("components", "app", "schemas"):
        for name, path in modules().items():
            for target, _, line in imports(name, path, modules()):
                assert target.split(".")[0] != stray, f"{name}:{line} imports the top-level {stray}"


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    """The checker itself: an import inside a function, relative to the package, is found."""
    mods = {"lineage.query.x": tmp_path / "x.py"}
    mods["lineage.query.x"].write_text("def f():\n    from ..api import Lineage\n    from . import graph\n")
    found = {(t, tuple(n)) for t, n, _ in imports("lineage.query.x", mods["lineage.query.x"], mods)}
    assert found == {("lineage.api", ("Lineage",)), ("lineage.query", ("graph",))}
    assert layer_of("lineage.api") > layer_of("lineage.query.x")
