"""Metric histories (log_metric) and captured step logs: what a step run leaves in the store,
read back through raw ML Metadata and from the files on disk."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

import lineage
from lineage import Input, Output, log_metric, log_metrics, step
from lineage.errors import InvalidInput
from lineage.fingerprint import fingerprint
from lineage.types import Dataset, Model


def _raw(lin):
    cfg = pb.ConnectionConfig()
    cfg.sqlite.filename_uri = str(lin.store.config.path)
    return metadata_store.MetadataStore(cfg)


def _outputs_by_key(raw, execution_id):
    """{event key: raw MLMD artifact} of one execution's OUTPUT events, straight from MLMD."""
    events = [e for e in raw.get_events_by_execution_ids([execution_id]) if e.type == pb.Event.OUTPUT]
    arts = {a.id: a for a in raw.get_artifacts_by_id([e.artifact_id for e in events])}
    return {e.path.steps[0].key: arts[e.artifact_id] for e in events}


@step(type="Fit")
def fit(data: Input[Dataset], model: Output[Model], epochs: int = 3):
    print("fitting", data.path.name)
    for epoch in range(1, epochs + 1):
        log_metrics({"loss": 1 / (epoch + 2), "accuracy": 0.5 + epoch / 7}, step=epoch)
    log_metric("lr_final", 0.1)  # no step: 0
    model.path.write_text("weights")


def test_a_metric_history_is_a_metrics_output_read_back_exactly(lin, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    with lineage.use(lin):
        model = fit(Dataset.at(data), epochs=4)
    [execution] = lin.executions("Fit")
    outs = _outputs_by_key(_raw(lin), execution.id)
    assert set(outs) == {"model", "lineage:metrics"}     # it printed, but succeeded: no log by default
    cols = json.loads(Path(outs["lineage:metrics"].uri).read_text())
    assert cols["metric"] == ["loss", "accuracy"] * 4 + ["lr_final"]
    assert cols["step"] == [1, 1, 2, 2, 3, 3, 4, 4, 0]
    assert cols["value"][::2][:4] == [1 / 3, 1 / 4, 1 / 5, 1 / 6]            # exact, not rounded
    assert cols["value"][1::2][:4] == [0.5 + e / 7 for e in range(1, 5)]
    assert all(isinstance(t, float) for t in cols["time"])
    metrics = lin.artifact(outs["lineage:metrics"].id)
    assert metrics.type == "Metrics" and metrics.properties["points"] == 9
    assert json.loads(metrics.properties["metric_names"]) == ["loss", "accuracy", "lr_final"]
    assert metrics.fingerprint.startswith("sha256:")
    # the last values: on the Metrics artifact and the Model, exactly
    for art in (metrics, model):
        assert art.custom_properties["loss"] == 1 / 6
        assert art.custom_properties["accuracy"] == 0.5 + 4 / 7
    # find sees them (exact comparison on the stored value)
    assert [a.id for a in lin.find("Model", f"accuracy = {0.5 + 4 / 7!r}")] == [model.id]
    assert lin.find("Model", "accuracy > 1.08") == []


def test_a_failing_step_keeps_its_output_log_records_and_traceback(lin):
    @step(type="Explode")
    def explode(n: int):
        print("starting with", n)
        logging.getLogger("user.code").warning("about to divide by %s", n)
        log_metric("progress", 0.5)
        return 1 / n

    with lineage.use(lin), pytest.raises(ZeroDivisionError):
        explode(0)
    [execution] = lin.executions("Explode")
    assert execution.state == "FAILED"
    assert execution.properties["error_type"] == "ZeroDivisionError"
    outs = _outputs_by_key(_raw(lin), execution.id)
    assert set(outs) == {"lineage:metrics", "lineage:log"}
    text = Path(outs["lineage:log"].uri).read_text()
    assert "starting with 0\n" in text
    assert "WARNING user.code: about to divide by 0" in text
    assert "Traceback (most recent call last):" in text and "ZeroDivisionError: division by zero" in text
    assert text.index("starting with") < text.index("about to divide") < text.index("Traceback")
    log = lin.artifact(outs["lineage:log"].id)
    assert log.type == "StepLog"
    assert log.properties["has_traceback"] is True and log.properties["log_records"] == 1
    assert log.properties["stdout_bytes"] == len("starting with 0\n") and log.properties.get("dropped_bytes", 0) == 0
    assert fingerprint(log.uri).digest == log.fingerprint          # verifies like any output
    assert lin.artifact(outs["lineage:metrics"].id).custom_properties["progress"] == 0.5
    # the Python API and the CLI print it
    assert lin.step_log(execution.id) == text


def test_which_steps_keep_a_log(lin, monkeypatch):
    def loud(n: int):
        print("printed", n)
        if n < 0:
            raise ValueError("negative")

    quiet = step(type="Quiet", capture=True)(lambda: 1)
    default = step(type="Default")(loud)
    always = step(type="Always", capture=True)(loud)
    off = step(type="Off", capture=False)(loud)
    with lineage.use(lin):
        quiet()                        # printed nothing: no log even when always
        default(1)                     # succeeded: no log by default
        always(2)
        for fn in (default, off):
            with pytest.raises(ValueError):
                fn(-1)
        monkeypatch.setenv("LINEAGE_CAPTURE", "always")
        step(type="FromEnv")(loud)(3)
        monkeypatch.setenv("LINEAGE_CAPTURE", "off")
        with pytest.raises(ValueError):
            step(type="EnvOff")(loud)(-1)
    kept = {}
    for t in ("Quiet", "Default", "Always", "Off", "FromEnv", "EnvOff"):
        for e in lin.executions(t):
            kept[(t, e.state)] = lin.step_log(e.id)
    assert kept[("Quiet", "COMPLETE")] is None and kept[("Default", "COMPLETE")] is None
    assert kept[("Always", "COMPLETE")] == "printed 2\n" and kept[("FromEnv", "COMPLETE")] == "printed 3\n"
    assert kept[("Default", "FAILED")].startswith("printed -1\nTraceback")
    assert kept[("Off", "FAILED")] is None and kept[("EnvOff", "FAILED")] is None
    with pytest.raises(InvalidInput, match="use failed"):
        step(capture="sometimes")(loud)


def test_a_long_log_is_capped_and_says_what_it_dropped(lin, monkeypatch):
    monkeypatch.setenv("LINEAGE_LOG_MAX_BYTES", "4096")

    @step(type="Chatty", capture=True)
    def chatty():
        for i in range(1000):
            print(f"line {i:04d}")   # 10 bytes each: 10,000 bytes

    with lineage.use(lin):
        chatty()
    [log] = lin.artifacts("StepLog")
    text = Path(log.uri).read_text()
    kept = [l for l in text.splitlines() if l.startswith("line ")]
    assert kept[0] == "line 0000" and kept[-1] == "line 0999"   # the start and the end
    assert log.properties["stdout_bytes"] == 10_000
    assert log.properties["dropped_bytes"] == 10_000 - 10 * len(kept)
    assert f"lineage dropped {int(log.properties['dropped_bytes'])} bytes" in text


def test_concurrent_steps_in_threads_keep_only_their_own_output(lin):
    @step(type="Worker", capture="always")
    def worker(name: str):
        for i in range(200):
            print(f"{name} {i}")

    with lineage.use(lin):
        threads = [threading.Thread(target=lin_bound(lin, worker), args=(n,)) for n in ("alpha", "beta")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    logs = {}
    for e in lin.executions("Worker"):
        text = lin.step_log(e.id)
        logs[e.properties.get("result") or e.id] = text
    texts = list(logs.values())
    assert len(texts) == 2
    for text in texts:
        names = {line.split()[0] for line in text.splitlines()}
        assert len(names) == 1 and len(text.splitlines()) == 200


def lin_bound(lin, fn):
    def target(*args):
        with lineage.use(lin):
            fn(*args)
    return target


def test_a_cache_hit_reuses_the_metrics_and_keeps_no_new_log(lin, tmp_path):
    calls = []

    @step(type="CachedFit", cache=True)
    def cfit(data: Input[Dataset], model: Output[Model], lr: float = 0.1):
        calls.append(lr)
        print("training")
        log_metric("loss", 0.25)
        model.path.write_text(str(lr))

    data = tmp_path / "d.csv"
    data.write_text("x\n")
    with lineage.use(lin):
        first = cfit(Dataset.at(data))
        second = cfit(Dataset.at(data))
    assert calls == [0.1] and first.id == second.id
    original, cached = sorted(lin.executions("CachedFit"), key=lambda e: e.id)
    assert cached.state == "CACHED"
    raw = _raw(lin)
    a, b = _outputs_by_key(raw, original.id), _outputs_by_key(raw, cached.id)
    assert set(b) == {"model", "lineage:metrics"}
    assert b["lineage:metrics"].id == a["lineage:metrics"].id and b["model"].id == a["model"].id


def test_bad_metric_values_are_refused_before_anything_is_logged(lin):
    @step(type="BadMetric")
    def bad(which: str):
        if which == "name":
            log_metric("", 1.0)
        elif which == "value":
            log_metrics({"ok": 1.0, "bad": "high"})
        else:
            log_metric("x", 1.0, step=1.5)

    with lineage.use(lin):
        for which, words in (("name", "non-empty string"), ("value", "takes a number"), ("step", "whole number")):
            with pytest.raises(InvalidInput, match=words):
                bad(which)
    # log_metrics is all or nothing: "ok" was not logged either
    assert all(m.custom_properties.get("ok") is None for m in lin.artifacts("Metrics"))
    with pytest.raises(InvalidInput, match="from inside a @step body"):
        log_metric("loss", 1.0)
