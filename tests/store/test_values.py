"""Value conversion between Python and ML Metadata, as a unit, and through a real store: what a
property is written as, and what reads back."""

from __future__ import annotations

import pytest

from lineage.errors import InvalidInput
from lineage.records import Artifact
from lineage.store.convert import to_value


@pytest.mark.parametrize("value, column", [
    (True, "bool_value"), (7, "int_value"), (-(2**31), "int_value"), (2**31, "double_value"),
    (0.25, "double_value"), ("text", "string_value"), ({"a": 1, "b": [1, 2]}, "string_value"),
])
def test_python_values_pick_their_mlmd_column(value, column):
    assert to_value(value).WhichOneof("value") == column


def test_declared_types_coerce_or_refuse():
    assert to_value(3, "DOUBLE").double_value == 3.0
    assert to_value("4", "INT").int_value == 4
    assert to_value(1, "BOOLEAN").bool_value is True
    with pytest.raises(InvalidInput, match="32-bit integers.*declare it DOUBLE"):
        to_value(2**33, "INT")
    with pytest.raises(InvalidInput, match="'many' cannot be stored as a INT"):
        to_value("many", "INT")


def test_round_trip_through_a_store(lin):
    props = {"flag": False, "n": 12, "big": 2**40, "x": 0.125, "s": "héllo", "d": {"k": "v", "n": 2.5}}
    [a] = lin.store.put_artifacts([Artifact(None, "Dataset", "/values", custom_properties=props)])
    back = lin.artifact(a.id).custom_properties
    assert back["flag"] is False and back["n"] == 12 and back["s"] == "héllo"
    assert back["big"] == 2**40 and back["x"] == 0.125 and back["d"] == {"k": "v", "n": 2.5}
