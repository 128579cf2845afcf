"""Provenance and impact respect time and cache hits, checked against an independent reference.

Random pipelines (new data files, copies of them, cached featurize and train steps, taints) run
as real ``@step`` calls on a real SQLite store. A reference model, written here without lineage,
tracks what each step call truly made and from what (a cache hit makes nothing), and predicts
each call's outcome (a cache hit returns the earlier output, unless that was made from tainted
data). Then for every artifact: provenance (upstream) is exactly what it was made from, impact
(downstream) exactly what was made from it afterwards.

The semantics under test (docs/queries.md, "Time and cache hits"): a cache hit is a reuse, not a
production; provenance of X follows what actually produced X; impact of A holds only what was
made from A afterwards.
"""

from __future__ import annotations

import pytest

import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Set

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage import Input, Lineage, Output, run, step
from lineage.types import Dataset, Examples, Model


@step(cache=True)
def featurize(raw: Input[Dataset], feats: Output[Examples], scale: int = 1):
    feats.path.write_text(f"feats({raw.path.read_text()},{scale})")


@step(cache=True)
def fit(feats: Input[Examples], model: Output[Model], lr: int = 1):
    model.path.write_text(f"model({feats.path.read_text()},{lr})")


class Reference:
    """What truly happened, kept without lineage: each artifact's content and true parents."""

    def __init__(self) -> None:
        self.content: Dict[int, str] = {}
        self.parents: Dict[int, Set[int]] = {}
        self.kind: Dict[int, str] = {}
        self.made: Dict[tuple, List[int]] = {}  # (step, input content, param) -> outputs, oldest first
        self.tainted: Set[int] = set()

    def add(self, aid: int, content: str, kind: str, parents: Set[int]) -> None:
        self.content[aid], self.kind[aid], self.parents[aid] = content, kind, set(parents)

    def ancestors(self, aid: int) -> Set[int]:
        out: Set[int] = set()
        stack = list(self.parents[aid])
        while stack:
            p = stack.pop()
            if p not in out:
                out.add(p)
                stack.extend(self.parents[p])
        return out

    def reusable(self, key: tuple):
        """The output a cache hit returns: the newest earlier one not made from tainted data."""
        for out in reversed(self.made.get(key, [])):
            if not ((self.ancestors(out) | {out}) & self.tainted):
                return out
        return None


OPS = st.lists(st.one_of(
    st.tuples(st.just("new"), st.integers(0, 2)),
    st.tuples(st.just("copy"), st.integers(0, 50)),
    st.tuples(st.just("featurize"), st.integers(0, 50), st.integers(1, 2)),
    st.tuples(st.just("fit"), st.integers(0, 50), st.integers(1, 2)),
    st.tuples(st.just("taint"), st.integers(0, 50)),
), min_size=3, max_size=14)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_provenance_and_impact_match_the_reference(ops):
    home = Path(tempfile.mkdtemp(prefix="lineage-prop-"))
    lin = Lineage.open(f"sqlite:///{home / 'metadata.sqlite'}", artifact_root=str(home / "artifacts"))
    ref = Reference()
    try:
        raws: List[int] = []
        with run("prop", store=lin):
            for n, op in enumerate(ops):
                _apply(lin, ref, raws, home, n, op)
        _check(lin, ref)
    finally:
        lin.close()
        shutil.rmtree(home, ignore_errors=True)


def _apply(lin: Lineage, ref: Reference, raws: List[int], home: Path, n: int, op: tuple) -> None:
    kind = op[0]
    of_kind = {"featurize": "raw", "fit": "feats"}
    if kind == "new" or (kind == "copy" and not raws):
        path = home / f"raw-{n}.csv"
        path.write_text(f"raw-{op[1] if kind == 'new' else 0}")
        a = lin.register(Dataset.at(path))
        ref.add(a.id, path.read_text(), "raw", set())
        raws.append(a.id)
    elif kind == "copy":
        src = lin.artifact(raws[op[1] % len(raws)])
        path = home / f"copy-{n}.csv"
        shutil.copy(src.path, path)
        a = lin.register(Dataset.at(path))
        ref.add(a.id, path.read_text(), "raw", set())  # a copy made outside lineage: no parents
        raws.append(a.id)
    elif kind in of_kind:
        inputs = sorted(i for i, k in ref.kind.items() if k == of_kind[kind])
        if not inputs:
            return
        src = inputs[op[1] % len(inputs)]
        key = (kind, ref.content[src], op[2])
        expected = ref.reusable(key)
        fn = featurize if kind == "featurize" else fit
        out = fn(lin.artifact(src), **({"scale": op[2]} if kind == "featurize" else {"lr": op[2]}))
        if expected is not None:
            assert out.id == expected, f"{kind} on a{src} should have reused a{expected}"
        else:
            assert out.id not in ref.content, f"{kind} on a{src} should have made a new artifact"
            ref.add(out.id, Path(out.uri).read_text(), "feats" if kind == "featurize" else "model", {src})
            ref.made.setdefault(key, []).append(out.id)
    elif kind == "taint" and ref.content:
        target = sorted(ref.content)[op[1] % len(ref.content)]
        if target not in ref.tainted:
            lin.taint(lin.artifact(target), "property test")
            ref.tainted.add(target)


def _check(lin: Lineage, ref: Reference) -> None:
    for aid in ref.content:
        up = {a.id for a in lin.upstream(lin.artifact(aid)).artifacts()} - {aid}
        assert up == ref.ancestors(aid), f"provenance of a{aid}"
        down = {a.id for a in lin.downstream(lin.artifact(aid)).artifacts()} - {aid}
        truth = {x for x in ref.content if aid in ref.ancestors(x)}
        assert down == truth, f"impact of a{aid}"
        models = {a.id for a in lin.impact(lin.artifact(aid)).models}
        assert models == {x for x in truth if ref.kind[x] == "model"}, f"models made from a{aid}"
    if ref.tainted:
        hit = {a.id for a in lin.impact(tainted_only=True).models}
        assert hit == {x for x in ref.content if ref.kind[x] == "model" and x not in ref.tainted
                       and ref.ancestors(x) & ref.tainted}
