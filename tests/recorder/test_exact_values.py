"""Values read back exactly as recorded (issue: rounded floats, NaN, types), on SQLite and
MariaDB, checked through what a user reads: records, find, diff, the CLI listing."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from lineage import Input, Output, record, run, step
from lineage.errors import InvalidInput
from lineage.types import Dataset, Model

TINY = {"lr": 1e-7, "eps": 1e-8, "metric": 1.234e-9, "acc": 0.9566666666666667, "big": 123456789.12345679,
        "huge": 2.0 ** 60 + 0.0, "neg": -2.5e-9, "vast": 1.5e300, "neg_vast": -2e200}


@step
def fit(data: Input[Dataset], model: Output[Model], **hparams):
    model.path.write_text(json.dumps(sorted(hparams)))


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "data.csv"
    p.write_text("x\n1\n")
    return Dataset.at(p)


def test_floats_round_trip_bit_for_bit(any_lin, data):
    with run("exact", store=any_lin):
        fit(data, **TINY)
    ex = any_lin.executions("fit")[0]
    for k, v in TINY.items():
        got = ex.params[k]
        assert type(got) is float and got.hex() == v.hex(), (k, got, v)


def test_find_compares_exact_values_numerically(any_lin, data):
    with run("exact", store=any_lin):
        for lr in (1e-7, 2e-7, 0.0, 0.5):
            fit(data, lr=lr)
    def lrs(where):
        return sorted(e.params["lr"] for e in any_lin.find("fit", where, kind="execution"))
    assert lrs("lr > 0") == [1e-7, 2e-7, 0.5]
    assert lrs("lr = 1e-7") == [1e-7]
    assert lrs("lr < 1.5e-7") == [0.0, 1e-7]
    assert lrs("lr >= 2e-7 and lr < 0.4") == [2e-7]
    assert lrs("lr in (0, 2e-7)") == [0.0, 2e-7]
    assert lrs("lr != 0") == [1e-7, 2e-7, 0.5]
    with run("vast", store=any_lin):
        for lr in (1e200, 3e300):
            fit(data, lr=lr)
    assert lrs("lr > 1e250") == [3e300]   # past the columns' 1e65 cap (MariaDB)
    assert lrs("lr > 1e65") == [1e200, 3e300]


def test_diff_sees_a_difference_below_six_decimals(lin, tmp_path):
    models = []
    for i, lr in enumerate((1e-7, 2e-7)):
        (tmp_path / f"m{i}").mkdir()
        models.append(record("Train", params={"lr": lr}, outputs={"model": Model.at(tmp_path / f"m{i}")},
                             store=lin).model)
    d = lin.diff(models[0], models[1])
    assert not d.same and d.sections["parameters"]["lr"] == (1e-7, 2e-7)


def test_nan_and_inf_are_recorded_faithfully(any_lin, data):
    @step
    def diverge(data: Input[Dataset], model: Output[Model]):
        model.path.write_text("x")
        model.properties.update(loss=float("nan"), grad=float("inf"))
        from lineage import annotate
        annotate(final_loss=float("nan"), best=-float("inf"))

    with run("nan", store=any_lin):
        m = diverge(data)
        fit(data, opts={"clip": float("nan"), "depth": 3})
    ex = any_lin.executions("diverge")[0]
    assert ex.state == "COMPLETE"
    assert math.isnan(ex.get("final_loss"))
    assert ex.get("best") == -math.inf
    stored = any_lin.artifact(m.id)
    assert math.isnan(stored.get("loss")) and stored.get("grad") == math.inf
    opts = any_lin.executions("fit")[0].params["opts"]
    assert math.isnan(opts["clip"]) and opts["depth"] == 3 and type(opts["depth"]) is int
    assert [a.id for a in any_lin.find("Model", "grad > 1e300")] == [m.id]


def test_listing_executions_with_nan_in_a_dict_parameter_works(lin, data, tmp_path):
    with run("nan", store=lin):
        fit(data, opts={"clip": float("nan")})
    out = subprocess.run([sys.executable, "-m", "lineage.cli", "ls", "executions", "--store", lin.uri],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "fit" in out.stdout


@pytest.mark.parametrize("value", [
    [1, "two", [3.5]], {"a": 1, "b": {"c": [1, 2]}}, None, 2**31, -(2**31) - 1, 2**70, "nul\x00inside",
    b"\x00\xffbytes", (1, (2, 3)), Path("/some/where"), {"tags": {"a", "b"}}, frozenset({1, 2}),
    {"n": None}, "", 0.1 + 0.2, True,
])
def test_parameters_read_back_equal_in_type_and_value(any_lin, data, value):
    with run("types", store=any_lin):
        fit(data, p=value)
    got = any_lin.executions("fit")[0].params["p"]
    assert got == value and type(got) is type(value)
    if isinstance(value, dict) and "a" in value:
        assert type(got["a"]) is int


@pytest.mark.parametrize("value, says", [
    (object(), "parameter 'p' is a object"),
    ({1: "x"}, "dictionary keys must be strings"),
    (lambda: 1, "is a function"),
])
def test_unrecordable_parameters_are_refused_before_anything_is_written(lin, data, value, says):
    with pytest.raises(InvalidInput, match=says):
        with run("refused", store=lin):
            fit(data, p=value)
    assert lin.executions("fit") == []


def test_a_cyclic_parameter_is_refused(lin, data):
    cyclic = {"a": 1}
    cyclic["self"] = cyclic
    with pytest.raises(InvalidInput, match="refers to itself"):
        with run("cyclic", store=lin):
            fit(data, p=cyclic)
    assert lin.executions("fit") == []


def test_equal_values_give_a_cache_hit(lin, data):
    @step(cache=True)
    def prep(data: Input[Dataset], out: Output[Dataset], k):
        out.path.write_text(str(k))

    with run("cache", store=lin):
        first = prep(data, k=5)
        second = prep(data, k=5.0)
    assert second.id == first.id
    assert sorted(e.state for e in lin.executions("prep")) == ["CACHED", "COMPLETE"]
