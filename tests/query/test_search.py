"""Search (`lineage search`, `Lineage.search`, the explorer's box): a thing by part of its name,
on every backend."""

from __future__ import annotations

from helpers import cli, record_pipeline, record_push


def test_search_finds_references_models_runs_experiments_types_tags_and_uris(any_lin, tmp_path):
    lin = any_lin
    raw, module1, _, m1, ev1 = record_pipeline(lin, tmp_path, run_name="nightly-1")
    _, _, _, m2, ev2 = record_pipeline(lin, tmp_path, module_version=2, base=m1, raw=raw, run_name="nightly-2")
    p1 = record_push(lin, m1, ev1.blessing, 1, at=1000.0)
    lin.tag("nightly-2", {"team": "vision"})
    lin.tag(m2, {"stage": "candidate"})

    def found(text):
        return [(h.kind, h.ref) for h in lin.search(text)]

    assert found("reviews:1")[0] == ("node", p1.ref)                  # a reference typed whole comes first
    assert ("model", "reviews") in found("review")
    assert [r for k, r in found("nightly") if k == "run"] == ["nightly-2", "nightly-1"]   # newest first
    assert ("type", "ModelBlessing") in found("Blessing") and found("Model")[0] == ("type", "Model")
    assert ("tag", "run:nightly-2") in found("vision") and ("tag", m2.ref) in found("candid")
    assert found("me/text/1") == [("node", module1.ref)]                # a module handle typed whole
    assert ("artifact", module1.ref) in found("hub/me/text")           # part of its URI
    hit = next(h for h in lin.search("vision") if h.kind == "tag")
    assert (hit.page, dict(hit.params)) == ("runs", {"run": "nightly-2"})
    assert lin.search("   ") == [] and lin.search("no-such-thing-anywhere") == []


def test_the_search_command(lin, tmp_path):
    record_pipeline(lin, tmp_path, run_name="nightly-1")
    out = cli("--store", lin.uri, "search", "nightly")
    assert out.returncode == 0, out.stderr
    assert "run       nightly-1" in out.stdout
    out = cli("--store", lin.uri, "search", "zzz-none")
    assert out.returncode == 0 and "is named by 'zzz-none'" in out.stdout
