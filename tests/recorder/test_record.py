"""``record()``: what ran elsewhere, recorded with its inputs and outputs as given."""

from __future__ import annotations

from lineage import record
from lineage.types import Dataset, Model


def test_record_labels_outputs_when_one_artifact_is_given_under_two_keys(lin, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "c").write_text("c")
    model = record("Train", outputs={"model": Model.at(tmp_path / "m")}, store=lin).model
    other = record("Make", outputs={"other": Dataset.at(tmp_path / "c")}, store=lin).other
    res = record("Export", inputs={"model": model},
                 outputs={"best": model.id, "latest": model.id, "side": other.id}, store=lin)
    assert {k: a.id for k, a in res.items()} == {"best": model.id, "latest": model.id, "side": other.id}
    outs = lin.outputs(res.execution)
    assert {k: [a.id for a in v] for k, v in outs.items()} == {"best": [model.id], "latest": [model.id],
                                                               "side": [other.id]}
