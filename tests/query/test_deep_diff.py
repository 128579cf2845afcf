"""diff explains why two models differ: their own fingerprints, and every upstream step's
parameters, inputs (by content) and code, Hub module versions, metrics and blessing, each named
by the step it belongs to."""

from __future__ import annotations

from lineage import Input, Output, record, run, step
from lineage.types import Dataset, Examples, Model, ModelBlessing, ModelEvaluation


@step
def clip(raw: Input[Dataset], out: Output[Dataset], limit: float = 5.0):
    out.path.write_text(f"{raw.path.read_text()} clipped at {limit}")


@step
def featurize(data: Input[Dataset], out: Output[Examples]):
    out.path.write_text(data.path.read_text().upper())


@step(type="Train")
def fit(feats: Input[Examples], model: Output[Model], lr: float = 0.1):
    model.path.write_text(f"{feats.path.read_text()} lr={lr}")


def _model(lin, raw, limit, lr=0.1, accuracy=0.9, blessed=True, tmp=None, n=0):
    with run("deep", store=lin):
        m = fit(featurize(clip(raw, limit=limit)), lr=lr)
        ev = tmp / f"ev{n}"
        ev.mkdir()
        record("Evaluate", inputs={"model": m}, outputs={
            "evaluation": ModelEvaluation.at(ev / "e", accuracy=accuracy),
            "blessing": ModelBlessing.at(ev / "b", blessed=blessed)}, store=lin)
    return m


def test_a_difference_two_steps_upstream_is_named_by_its_step(lin, tmp_path):
    src = tmp_path / "raw.csv"
    src.write_text("1,2,9")
    raw = Dataset.at(src)
    a = _model(lin, raw, 5.0, accuracy=0.879, tmp=tmp_path, n=1)
    b = _model(lin, raw, 3.0, accuracy=0.950, blessed=False, tmp=tmp_path, n=2)
    d = lin.diff(a, b)
    assert not d.same
    assert d.sections["step clip"]["param limit"] == (5.0, 3.0)
    assert d.sections["fingerprints"]["fingerprint"] == (a.fingerprint, b.fingerprint)
    assert "input data" in d.sections["step featurize"]  # its input's content changed
    assert d.sections["step Train"] == {"input feats": d.sections["step Train"]["input feats"]}
    assert d.sections["metrics"]["accuracy"] == (0.879, 0.950)
    assert d.sections["blessing"] == {"blessed": (True, False)}


def test_same_only_when_nothing_differs(lin, tmp_path):
    src = tmp_path / "raw.csv"
    src.write_text("1,2,9")
    a = _model(lin, Dataset.at(src), 5.0, tmp=tmp_path, n=1)
    b = _model(lin, Dataset.at(src), 5.0, tmp=tmp_path, n=2)
    assert a.fingerprint == b.fingerprint and a.id != b.id
    assert lin.diff(a, b).same, lin.diff(a, b).sections
    c = _model(lin, Dataset.at(src), 5.0, lr=0.2, tmp=tmp_path, n=3)
    d = lin.diff(a, c)
    assert not d.same and d.sections["step Train"]["param lr"] == (0.1, 0.2)
