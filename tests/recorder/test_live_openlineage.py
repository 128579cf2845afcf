"""Live OpenLineage events: a loopback HTTP receiver gets what OpenLineage's own client posts
(OPENLINEAGE_URL), and every event is validated against the official JSON schemas
(tests/fixtures/openlineage)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from lineage import Input, Output, run, step, use
from lineage.recorder import live
from lineage.types import Dataset, Model

SCHEMAS = Path(__file__).resolve().parent.parent / "fixtures" / "openlineage"


def _validators():
    docs = {p.stem: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
    registry = Registry().with_resources([(d["$id"], Resource.from_contents(d)) for d in docs.values()])
    return {name: Draft202012Validator(doc, registry=registry) for name, doc in docs.items()}


VALIDATORS = _validators()


def check_schema(event: dict) -> None:
    VALIDATORS["OpenLineage"].validate(event)
    facets = event["run"].get("facets", {})
    if "parent" in facets:
        VALIDATORS["ParentRunFacet"].validate({"parent": facets["parent"]})
    if "errorMessage" in facets:
        VALIDATORS["ErrorMessageRunFacet"].validate({"errorMessage": facets["errorMessage"]})
    for d in event.get("inputs", []) + event.get("outputs", []):
        if "version" in d.get("facets", {}):
            VALIDATORS["DatasetVersionDatasetFacet"].validate({"version": d["facets"]["version"]})
        if "outputStatistics" in d.get("outputFacets", {}):
            VALIDATORS["OutputStatisticsOutputDatasetFacet"].validate(
                {"outputStatistics": d["outputFacets"]["outputStatistics"]})


class Receiver:
    def __init__(self) -> None:
        self.events: list = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):   # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch, tmp_path):
    r = Receiver()
    monkeypatch.setenv("OPENLINEAGE_URL", r.url)
    monkeypatch.chdir(tmp_path)     # .lineage/openlineage.json lands here
    yield r
    r.stop()


@step(type="Train")
def train(data: Input[Dataset], model: Output[Model], epochs: int = 1):
    model.path.write_text(data.path.read_text() * epochs)


@step(type="Evaluate")
def evaluate(model: Input[Model], fail: bool = False):
    if fail:
        raise ValueError("metric below threshold")


def _events(receiver):
    assert live.flush(10), "the events were not handed over in 10 s"
    return [body for _, body in receiver.events]


def test_steps_send_start_and_complete_with_parent_and_dataset_facets(lin, tmp_path, receiver):
    raw = tmp_path / "rows.csv"
    raw.write_text("a,b\n")
    with run(pipeline="reviews", name="r1", store=lin):
        model = train(Dataset.at(raw), epochs=2)
        with pytest.raises(ValueError):
            evaluate(model, fail=True)
    events = _events(receiver)
    assert {path for path, _ in receiver.events} == {"/api/v1/lineage"}
    for ev in events:
        check_schema(ev)
    kinds = [(e["job"]["name"], e["eventType"]) for e in events]
    assert kinds == [("reviews.Train", "START"), ("reviews.Train", "COMPLETE"),
                     ("reviews.Evaluate", "START"), ("reviews.Evaluate", "FAIL")]
    start, complete, _, failed = events
    assert start["run"]["runId"] == complete["run"]["runId"] != failed["run"]["runId"]
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert len(parents) == 1                                      # one pipeline run joins the steps
    assert {e["run"]["facets"]["parent"]["job"]["name"] for e in events} == {"reviews"}
    [inp] = complete["inputs"]
    assert inp["namespace"] == "file" and inp["name"] == str(raw.resolve())
    [data] = lin.inputs(lin.producers(model)[0])["data"]
    assert inp["facets"]["version"]["datasetVersion"] == data.fingerprint
    [out] = complete["outputs"]
    assert out["name"] == model.uri and out["facets"]["version"]["datasetVersion"] == model.fingerprint
    stats = out["outputFacets"]["outputStatistics"]
    assert stats["size"] == 8 and stats["fileCount"] == 1                # "a,b\n" twice
    assert "metric below threshold" in failed["run"]["facets"]["errorMessage"]["message"]


def test_a_receiver_that_is_down_never_fails_a_step_and_doctor_says_so(lin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    config = tmp_path / "ol" / "openlineage.yml"                     # the client's own configuration file
    config.parent.mkdir()
    config.write_text("transport:\n  type: http\n  url: http://127.0.0.1:9\n  retry:\n    total: 0\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))            # nothing answers at port 9
    raw = tmp_path / "rows.csv"
    raw.write_text("x\n")
    with use(lin):
        model = train(Dataset.at(raw))
    assert lin.producers(model)[0].state == "COMPLETE"
    live.flush(30)
    told = live.failures()
    assert told["undelivered"] == 2 and told["last_error"]
    report, _ = lin.doctor(check_files=False)
    [finding] = [f for f in report.findings if f.kind == "openlineage-undelivered"]
    assert "2 OpenLineage event(s) not delivered" in finding.detail


def test_no_configuration_no_events(lin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not live.enabled()
    r = Receiver()
    try:
        raw = tmp_path / "rows.csv"
        raw.write_text("x\n")
        with use(lin):
            train(Dataset.at(raw))
        live.flush(5)
        assert r.events == []
        monkeypatch.setenv("OPENLINEAGE_URL", r.url)
        monkeypatch.setenv("LINEAGE_OPENLINEAGE", "0")                # off on purpose
        assert not live.enabled()
    finally:
        r.stop()


def test_ctrl_c_in_a_step_is_an_abort(lin, tmp_path, receiver):
    @step(type="Wait")
    def wait():
        raise KeyboardInterrupt

    with use(lin):
        with pytest.raises(KeyboardInterrupt):
            wait()
    events = _events(receiver)
    for ev in events:
        check_schema(ev)
    assert [e["eventType"] for e in events] == ["START", "ABORT"]
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"]
    assert lin.executions("Wait")[0].state == "CANCELED"


def test_a_process_that_ends_right_after_its_step_still_sends_its_events(tmp_path, receiver):
    """The events are built and sent by a sender process; at exit the pipeline's process waits
    (LINEAGE_OPENLINEAGE_FLUSH) until that process has sent them."""
    import subprocess
    import sys

    script = tmp_path / "pipeline.py"
    script.write_text(
        "from lineage import Input, Output, run, step\n"
        "from lineage.types import Dataset, Model\n\n"
        "@step(type='Train')\n"
        "def train(data: Input[Dataset], model: Output[Model]):\n"
        "    model.path.write_text(data.path.read_text())\n\n"
        "if __name__ == '__main__':\n"
        f"    open({str(tmp_path / 'in.csv')!r}, 'w').write('a\\n')\n"
        f"    with run(pipeline='exit', store='sqlite:///{tmp_path / 'm.sqlite'}'):\n"
        f"        train(Dataset.at({str(tmp_path / 'in.csv')!r}))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""                      # quiet
    kinds = [e["eventType"] for _, e in receiver.events]
    assert kinds == ["START", "COMPLETE"]
    for _, e in receiver.events:
        check_schema(e)
    assert not (tmp_path / ".lineage" / "openlineage.json").exists()   # nothing undelivered
