"""One machine-readable schema for --json: references as strings (a12, e7, c3), times in ISO 8601
with a zone, booleans as booleans, nested records as objects, errors as a JSON object on stderr
with a non-zero exit; `export --format json` loads with networkx's own node_link_graph."""

from __future__ import annotations

import datetime as dt
import json
import re

import networkx as nx
import pytest

from helpers import cli

REF = re.compile(r"^[aec]\d+$")
TIME_KEYS = {"created", "when", "since", "started", "trained_at", "pushed_at"}
REF_KEYS = {"ref", "execution", "artifact", "doctor_execution"}


def walk(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}")
            yield f"{path}.{k}", k, v
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


def check_schema(doc):
    for path, key, value in walk(doc):
        if key in REF_KEYS and value is not None and "properties" not in path:
            assert isinstance(value, str) and REF.match(value), (path, value)
        if key in TIME_KEYS and value is not None and "properties" not in path:
            parsed = dt.datetime.fromisoformat(value)
            assert parsed.tzinfo is not None, (path, value)
        if key in ("id", "mlmd_id") and "properties" not in path and path.count(".") <= 2 and key == "id":
            assert not isinstance(value, int), (path, value)  # references are strings
        if key in ("forced", "blessed", "serving_now", "pinned", "same", "clean", "healthy") and value is not None:
            assert isinstance(value, bool), (path, value)


@pytest.fixture
def served(lin, tmp_path):
    from helpers import served_store

    lin, raw, module, m1, m2 = served_store(lin, tmp_path)
    lin.taint(module, "leak")
    return lin, raw, module, m1, m2


@pytest.mark.slow   # several seconds: left out of scripts/test --fast
def test_every_command_speaks_one_schema(served):
    lin, raw, module, m1, m2 = served
    commands = [["ls", "artifacts"], ["ls", "executions"], ["ls", "runs"], ["show", m1.ref], ["show", "r1"],
                ["show", "e1"], ["provenance", "reviews:2"], ["impact", module.ref], ["history", "reviews"],
                ["diff", m1.ref, m2.ref], ["find", "--type", "Model"], ["verify", raw.ref],
                ["taint", "--list"], ["upstream", "reviews:1"], ["doctor", "--no-files"]]
    for command in commands:
        r = cli(*command, "--store", lin.uri, "--json")
        assert r.returncode in (0, 1), (command, r.stderr)
        doc = json.loads(r.stdout)
        check_schema(doc)
    impact = json.loads(cli("impact", module.ref, "--store", lin.uri, "--json").stdout)
    assert all(isinstance(e, dict) and REF.match(e["ref"]) for e in impact["evaluations"])
    assert all(isinstance(b["blessed"], bool) for b in impact["blessings"])
    history = json.loads(cli("history", "reviews", "--store", lin.uri, "--json").stdout)
    assert [e["forced"] for e in history["events"]] == [False, False, False]
    assert history["state"]["execution"].startswith("e")


def test_errors_are_json_on_stderr_with_a_non_zero_exit(served):
    lin = served[0]
    r = cli("show", "a999", "--store", lin.uri, "--json")
    assert r.returncode == 1 and r.stdout == ""
    err = json.loads(r.stderr)["error"]
    assert err["type"] == "NotFound" and "999" in err["message"]


def test_export_json_loads_with_networkx_defaults(served):
    lin, raw, module, m1, m2 = served
    r = cli("export", "reviews:2", "--format", "json", "--store", lin.uri)
    assert r.returncode == 0, r.stderr
    g = nx.node_link_graph(json.loads(r.stdout))
    assert m2.ref in g and raw.ref in g and nx.has_path(g, raw.ref, m2.ref)


def test_values_json_cannot_hold_are_spelled_out(lin, tmp_path):
    from lineage import record
    from lineage.types import Dataset

    (tmp_path / "d").write_text("x")
    record("Odd", outputs={"d": Dataset.at(tmp_path / "d")}, params={"nan": float("nan"), "b": b"\x00",
                                                                     "s": {1, 2}}, store=lin)
    r = cli("ls", "executions", "--type", "Odd", "--store", lin.uri, "--json")
    [e] = json.loads(r.stdout)
    assert e["custom_properties"]["nan"] == "NaN" and e["custom_properties"]["b"] == {"b64": "AA=="}
    assert e["custom_properties"]["s"] == [1, 2]
