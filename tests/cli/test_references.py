"""Unknown names are errors with near matches, and one reference grammar works everywhere:
``reviews`` (serving now), ``reviews:2``, ``a12``, ``e7``, ``c3``, a run name."""

from __future__ import annotations

import json

import pytest

from lineage import Input, Output, run, step
from lineage.errors import InvalidInput, NotFound
from lineage.serving.rollback import RollbackFailed
from lineage.types import Dataset, Model

from helpers import cli


@pytest.fixture
def served(lin, tmp_path):
    from helpers import record_pipeline, record_push

    raw, module, _, m1, ev1 = record_pipeline(lin, tmp_path, run_name="r1")
    p1 = record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    return lin, raw, m1, p1


@pytest.mark.parametrize("args, says", [
    (["ls", "artifacts", "--type", "Modle"], ("unknown artifact type 'Modle'", "did you mean 'Model'")),
    (["ls", "executions", "--type", "Trian"], ("unknown execution type 'Trian'", "did you mean 'Train'")),
    (["ls", "runs", "--type", "reviwes"], "no context named 'Pipeline:reviwes'"),
    (["find", "--type", "NoSuchType"], "unknown artifact type 'NoSuchType'"),
    (["find", "--type", "Model", "--context", "r9"], "no context named 'r9'"),
    (["find", "--type", "Model", "--where", "lrr > 0"], "has a property 'lrr'"),
    (["show", "nosuchrun"], "is not a node reference (a12, e7, c3), a run, a served model or a module handle"),
    (["provenance", "reviws"], "did you mean 'reviews'?"),
    (["provenance", "reviews:9"], "has no pushed version 9"),
    (["upstream", "a999"], "artifact 999 does not exist"),
])
def test_unknown_names_are_errors_naming_what_is_unknown(served, args, says):
    lin = served[0]
    r = cli(*args, "--store", lin.uri)
    for part in (says if isinstance(says, tuple) else (says,)):
        assert r.returncode == 1 and part in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_a_failed_operation_on_an_unknown_model_creates_nothing(served, tmp_path):
    lin = served[0]
    before = {c.name for c in lin.contexts_of_type("ServingEndpoint")}
    for op in (lambda: lin.rollback("nosuchmodel", to=1, config_path=str(tmp_path / "m.config")),
               lambda: lin.promote("nosuchmodel", version=1, config_path=str(tmp_path / "m.config")),
               lambda: lin.unpin("nosuchmodel", config_path=str(tmp_path / "m.config"))):
        with pytest.raises(RollbackFailed, match="no model named 'nosuchmodel' was pushed"):
            op()
    assert {c.name for c in lin.contexts_of_type("ServingEndpoint")} == before
    assert lin.executions("Rollback") == [] and lin.executions("Promote") == [] and lin.executions("Unpin") == []
    assert not (tmp_path / "m.config").exists()


@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_every_command_takes_every_reference_form(served):
    lin, raw, m1, p1 = served
    run_ctx = lin.store.get_context_by_name("PipelineRun", "r1")
    for ref in ("reviews", "reviews:1", p1.ref, str(p1.id)):
        for command in (["upstream", ref], ["export", ref, "--format", "json"], ["provenance", ref],
                        ["show", ref], ["verify", ref]):
            r = cli(*command, "--store", lin.uri)
            assert r.returncode in (0, 1) and "error" not in r.stderr, (command, r.stderr)
    r = cli("show", "r1", "--store", lin.uri, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["ref"] == f"c{run_ctx.id}"
    r = cli("show", run_ctx.ref, "--store", lin.uri, "--json")
    assert json.loads(r.stdout)["name"] == "r1"
    assert lin.node("reviews").id == p1.id and lin.node("r1").id == run_ctx.id
    assert lin.upstream("reviews").roots == (p1.ref,)


def test_a_step_input_takes_an_artifact_reference(lin, tmp_path):
    src = tmp_path / "d.csv"
    src.write_text("x\n")
    stored = lin.register(Dataset.at(src))

    @step
    def use(data: Input[Dataset], out: Output[Model]):
        out.path.write_text(data.path.read_text())

    with run("refs", store=lin):
        for ref in (stored.id, stored.ref, f"artifact:{stored.id}"):
            use(ref)
    assert all(lin.inputs(e)["data"][0].id == stored.id for e in lin.executions("use", limit=None))
    with pytest.raises(NotFound, match="artifact 999"):
        with run("refs", store=lin):
            use("a999")


def test_ambiguous_name_says_how_to_choose(served):
    lin, *_ = served
    with run("pipe", name="reviews", store=lin):
        pass
    with pytest.raises(InvalidInput, match="both a run .* and a served model"):
        lin.node("reviews")
