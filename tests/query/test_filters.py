"""The ``find`` filter language: parsing (unit), and its translation run against a real store,
checked by what comes back."""

from __future__ import annotations

import pytest

from lineage.errors import InvalidInput
from lineage.query.filters import Clause, parse_filter
from lineage.records import Artifact
from lineage.types import Dataset


@pytest.mark.parametrize("text, clauses", [
    ("", []),
    ("lr > 0.05", [Clause("lr", ">", (0.05,))]),
    ("lr >= 1e-3 and optimizer = 'adam'", [Clause("lr", ">=", (0.001,)), Clause("optimizer", "=", ("adam",))]),
    ("uri ~ '%reviews%' AND state = LIVE", [Clause("uri", "~", ("%reviews%",)), Clause("state", "=", ("LIVE",))]),
    ("model_name in ('reviews', \"cuisine\")", [Clause("model_name", "in", ("reviews", "cuisine"))]),
    ("epochs != -3", [Clause("epochs", "!=", (-3,))]),
    ("blessed = true", [Clause("blessed", "=", (True,))]),
    ("name = 'it\\'s'", [Clause("name", "=", ("it's",))]),
])
def test_parse_filter(text, clauses):
    assert parse_filter(text) == clauses


@pytest.mark.parametrize("text, says", [
    ("lr > 1 or lr < 0", "`or` is not supported"),
    ("lr >", "needs a value"),
    ("lr", "needs an operator"),
    ("> 1", "expected a field name"),
    ("lr > 1 and", "nothing after the last `and`"),
    ("x in 1", "`in` takes a list"),
    ("x in (1, 2", "not closed"),
    ("lr ! 3", "cannot read"),
])
def test_malformed_filters_name_the_problem(text, says):
    with pytest.raises(InvalidInput) as err:
        parse_filter(text)
    assert says in str(err.value)


def test_an_integer_in_a_filter_matches_float_properties(lin):
    """`lr = 2` and `lr > 1` match a property stored as the double 2.0, and `epochs = 3` an int."""
    a, b, c = lin.store.put_artifacts([
        Artifact(None, "Dataset", "/f/a", custom_properties={"lr": 2.0, "epochs": 3}),
        Artifact(None, "Dataset", "/f/b", custom_properties={"lr": 0.5, "epochs": 4}),
        Artifact(None, "Dataset", "/f/c", custom_properties={"lr": 2.5}),
    ])
    assert [x.id for x in lin.find("Dataset", "lr = 2")] == [a.id]
    assert sorted(x.id for x in lin.find("Dataset", "lr > 1")) == [a.id, c.id]
    assert sorted(x.id for x in lin.find("Dataset", {"lr": 2})) == [a.id]
    assert [x.id for x in lin.find("Dataset", "epochs = 3")] == [a.id]
    assert [x.id for x in lin.find("Dataset", "epochs in (4, 5)")] == [b.id]


def test_filters_on_attributes_and_states(lin, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    stored = lin.register(Dataset.at(data))
    assert [x.id for x in lin.find("Dataset", f"uri ~ '%{data.name}'")] == [stored.id]
    assert [x.id for x in lin.find(where="state = LIVE and type = 'Dataset'")] == [stored.id]
    with pytest.raises(InvalidInput, match="unknown artifact state"):
        lin.find(where="state = SHINY")
    with pytest.raises(InvalidInput, match="whole numbers"):
        lin.find(where="id = 'a'")
