"""The runs table, tags and notes: checked against a reference read straight from ML Metadata."""

from __future__ import annotations

import datetime as _dt
import json

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

import lineage
from lineage import Lineage, log_metric, run, step
from lineage.errors import InvalidInput, NotFound
from lineage.synthetic import generate

from tests.helpers import cli, record_pipeline


def _raw(lin):
    cfg = pb.ConnectionConfig()
    cfg.sqlite.filename_uri = str(lin.store.config.path)
    return metadata_store.MetadataStore(cfg)


def _value(v):
    which = v.WhichOneof("value")
    return None if which is None else getattr(v, which)


def _exact_custom(lin, kind, node_id):
    """A node's custom properties as lineage gives them back (exact values, not the rounded
    column): read one node at a time through the MLMD API, not through the runs table's SQL."""
    node = lin.artifact(node_id) if kind == "artifact" else lin.execution(node_id)
    return dict(node.custom_properties)


def reference_rows(lin):
    """The runs table built from raw MLMD calls, one context at a time."""
    raw = _raw(lin)
    rows = {}
    for ctx in raw.get_contexts_by_type("PipelineRun"):
        p = {k: _value(v) for k, v in ctx.properties.items()}
        row = {"run": ctx.name, "pipeline": p.get("pipeline"), "experiment": p.get("experiment"),
               "state": p.get("state"), "user": p.get("user"),
               "steps": 0}
        execs = sorted(raw.get_executions_by_context(ctx.id), key=lambda e: e.id)
        for e in execs:
            tname = raw.get_execution_types_by_id([e.type_id])[0].name
            if tname in ("Tag", "Note", "Taint", "Untaint", "ServingObservation"):
                continue
            row["steps"] += 1
            for k, v in _exact_custom(lin, "execution", e.id).items():
                if k != "lineage:exact":
                    row[f"params.{tname}.{k}"] = v
            for ev in raw.get_events_by_execution_ids([e.id]):
                if ev.type != pb.Event.OUTPUT:
                    continue
                [art] = raw.get_artifacts_by_id([ev.artifact_id])
                if raw.get_artifact_types_by_id([art.type_id])[0].name == "Metrics":
                    for k, v in _exact_custom(lin, "artifact", art.id).items():
                        row[f"metrics.{k}"] = v
        for k, v in ctx.custom_properties.items():
            if k.startswith("tags."):
                row[k] = _value(v)
        rows[ctx.name] = row
    return rows


def _compare(frame, reference):
    got = {r["run"]: r for r in frame.to_dict(orient="records")}
    assert set(got) == set(reference)
    for name, want in reference.items():
        have = {k: v for k, v in got[name].items() if not (isinstance(v, float) and v != v) and v is not None}
        for k, v in want.items():
            if v is None:
                continue
            assert have.get(k) == v, (name, k, have.get(k), v)   # exactly: no rounding
        extra = set(have) - set(want) - {"start", "duration_s", "git_commit"}
        assert not extra, (name, extra)


def test_the_runs_table_equals_raw_mlmd_and_the_mlmd_fallback(lin):
    generate(lin, runs=40, hot_runs=10, seed=5)
    frame = lin.runs_frame()
    assert len(frame) == 40
    assert frame.columns[:9].tolist() == ["run", "pipeline", "experiment", "state", "start", "duration_s",
                                          "user", "git_commit", "steps"]
    assert {"params.Train.lr", "params.Train.epochs", "metrics.accuracy", "metrics.loss"} <= set(frame.columns)
    _compare(frame, reference_rows(lin))
    # the same answer through MLMD's API (what other backends use)
    ids = [c.id for c in lin.runs(limit=None)]
    sql = lin.store.run_table(ids, skip_types=())
    db, lin.store._sql = lin.store._sql_reader(), None
    try:
        mlmd = lin.store.run_table(ids, skip_types=())
    finally:
        lin.store._sql = db
    assert {k: (v["name"], v["steps"], v["metrics"]) for k, v in sql.items()} == \
        {k: (v["name"], v["steps"], v["metrics"]) for k, v in mlmd.items()}


def test_the_runs_table_reads_the_store_a_fixed_number_of_times(tmp_path):
    counts = {}
    for n in (10, 60):
        lin = Lineage.open(f"sqlite:///{tmp_path / f's{n}.sqlite'}", artifact_root=str(tmp_path / f"a{n}"))
        generate(lin, runs=n, seed=1)
        calls = []
        store = lin.store
        for name in ("_list", "_call"):
            orig = getattr(store, name)
            setattr(store, name, (lambda orig: lambda *a, **k: (calls.append(a[0]), orig(*a, **k))[1])(orig))
        db = store._sql_reader()
        db.set_trace_callback(lambda sql: calls.append(sql[:40]))
        assert len(lin.runs_frame()) == n
        db.set_trace_callback(None)
        counts[n] = len(calls)
        lin.close()
    assert counts[10] == counts[60], counts


def test_where_sort_and_experiment_pick_the_runs_a_user_asked_for(lin, tmp_path):
    generate(lin, runs=30, seed=2)
    all_rows = lin.runs_frame().to_dict(orient="records")
    good = lin.runs_frame(where="metrics.accuracy > 0.8 and params.Train.lr = 0.01", sort="-accuracy")
    want = sorted([r for r in all_rows if r.get("metrics.accuracy", 0) > 0.8 and r.get("params.Train.lr") == 0.01],
                  key=lambda r: -r["metrics.accuracy"])
    assert good["run"].tolist() == [r["run"] for r in want] and len(want) > 0
    base = lin.runs_frame("baseline")
    assert set(base["experiment"]) == {"baseline"}
    assert len(base) == sum(r["experiment"] == "baseline" for r in all_rows)
    # short names, and errors that say what to write
    assert lin.runs_frame(where="lr = 0.01")["run"].tolist() == \
        lin.runs_frame(where="params.Train.lr = 0.01")["run"].tolist()
    with pytest.raises(InvalidInput, match="did you mean 'metrics.accuracy'"):
        lin.runs_frame(where="acuracy > 0.5")
    with pytest.raises(NotFound, match="no context named 'Experiment:basline'"):
        lin.runs_frame("basline")


def test_tags_and_notes_keep_their_whole_history(lin, tmp_path):
    raw, module, examples, model, ev = record_pipeline(lin, tmp_path, run_name="run-a")
    record_pipeline(lin, tmp_path, run_name="run-b", raw=raw)
    lin.tag("run-a", team="nlp", stage="dev")
    lin.tag("run-a", stage="prod")
    lin.tag("run-a", team=None)                 # removed
    lin.tag("run-a", stage="prod")              # unchanged: nothing recorded
    lin.tag(model, stage="candidate")
    lin.note("run-a", "lr too high? loss diverged after epoch 3")
    lin.note("run-a", "rerun with lr=0.003")
    assert lin.tags("run-a") == {"stage": "prod"}
    history = [(h.key, h.old_value, h.value) for h in lin.tag_history("run-a")]
    assert history == [("team", None, "nlp"), ("stage", None, "dev"), ("stage", "dev", "prod"), ("team", "nlp", None)]
    assert all(h.user and h.at for h in lin.tag_history("run-a"))
    assert [n.text for n in lin.notes("run-a")] == ["lr too high? loss diverged after epoch 3", "rerun with lr=0.003"]
    # the raw store holds one Tag execution per change, each naming its target
    raw_tags = _raw(lin).get_executions_by_type("Tag")
    assert len(raw_tags) == 5
    # the runs table shows current tags; find filters on them; the run's steps are unchanged
    rows = {r["run"]: r for r in lin.runs_frame().to_dict(orient="records")}
    assert rows["run-a"]["tags.stage"] == "prod" and rows["run-a"]["steps"] == 4
    assert [a.id for a in lin.find("Model", "tags.stage = candidate")] == [model.id]
    assert lin.runs_frame(where="tags.stage = prod")["run"].tolist() == ["run-a"]
    with pytest.raises(InvalidInput, match="tag key"):
        lin.tag("run-a", **{"bad key": "x"})
    with pytest.raises(NotFound):
        lin.tag("no-such-run", a="b")


@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_the_cli_prints_runs_metrics_logs_tags_and_notes(lin, tmp_path):
    @step(type="Fit", capture=True)
    def fit(lr: float):
        print("epoch lines")
        for e in range(1, 4):
            log_metric("loss", lr / e, step=e)

    with lineage.use(lin):
        for i, lr in enumerate((0.1, 0.3)):
            with run("cli-pipe", experiment="sweep", name=f"sweep-{i}"):
                fit(lr)
    store = ["--store", lin.uri]
    out = cli("runs", "--sort=-loss", "--json", *store)
    rows = json.loads(out.stdout)
    assert [r["run"] for r in rows] == ["sweep-1", "sweep-0"]
    assert rows[0]["metrics.loss"] == 0.3 / 3 and rows[0]["params.Fit.lr"] == 0.3
    csv = cli("runs", "--csv", "--where", "lr = 0.1", *store).stdout.splitlines()
    assert csv[0].startswith("run,pipeline,experiment") and len(csv) == 2 and csv[1].startswith("sweep-0,")
    text = cli("metrics", "sweep-1", *store).stdout
    assert "loss" in text and repr(0.3 / 2) in text
    [e] = [x for x in lin.executions("Fit") if x.custom_properties["lr"] == 0.3]
    assert cli("logs", f"e{e.id}", *store).stdout == "epoch lines\n"
    assert "stage: prod" in cli("tag", "sweep-1", "stage=prod", *store).stdout
    shown = cli("tag", "sweep-1", *store).stdout
    assert shown.startswith("stage=prod") and "stage       prod  e" in shown
    cli("note", "sweep-1", "best so far", *store)
    assert "best so far" in cli("note", "sweep-1", *store).stdout
    bad = cli("tag", "sweep-1", "novalue", *store)
    assert bad.returncode == 1 and "key=value" in bad.stderr and "Traceback" not in bad.stderr
    _ = _dt
