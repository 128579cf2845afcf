"""Every subcommand, given bad arguments, answers as the docs say: one line on stderr, exit 1 for
an error in what was asked (exit 2 for a command line that does not parse), and nothing changed in
the store. Real CLI processes on a real SQLite store."""

from __future__ import annotations

import pytest

from helpers import cli
from lineage import record, use
from lineage.cli import build_parser
from lineage.types import Dataset

BAD = {
    "init": (["--store", "sqlite:////proc/x.db"], 1, "cannot create a store at /proc/x.db"),
    "ls": (["bogus"], 2, "invalid choice: 'bogus'"),
    "show": (["a99999"], 1, "artifact 99999 does not exist"),
    "doctor": (["--bogus"], 2, "unrecognized arguments: --bogus"),
    "upgrade": (["--copy-to"], 2, "expected one argument"),
    "tune": (["--store", "memory://"], 1, "memory:// store lives in one process"),
    "gc": (["--keep-days", "-3"], 1, "keep_days (--keep-days) must be a number of days >= 0, not -3"),
    "upstream": (["a99999"], 1, "does not exist"),
    "downstream": (["a99999999999999999999"], 1, "is not a node reference"),
    "provenance": (["nosuchmodel"], 1, "'nosuchmodel' is not a node reference"),
    "impact": (["e99999"], 1, "does not exist"),
    "history": (["nosuchmodel"], 1, "no serving endpoint 'nosuchmodel'"),
    "diff": (["a99999", "a1"], 1, "does not exist"),
    "find": (["--type", "Datset"], 1, "did you mean 'Dataset'?"),
    "search": (["  "], 1, "search for what?"),
    "verify": (["a99999"], 1, "does not exist"),
    "pull": (["e1"], 1, "pull takes an artifact"),
    "taint": (["a99999", "--reason", "bad"], 1, "does not exist"),
    "untaint": (["a1"], 1, "--reason"),
    "export": (["a1", "--format", "pdf"], 2, "invalid choice: 'pdf'"),
    "runs": (["--limit", "0"], 2, "--limit must be a positive number"),
    "metrics": (["nosuchrun"], 1, "'nosuchrun'"),
    "logs": (["e99999"], 1, "does not exist"),
    "tag": (["a99999", "stage=prod"], 1, "does not exist"),
    "note": (["nosuchrun", "a note"], 1, "'nosuchrun'"),
    "rerun": (["nosuchrun"], 1, "no run named 'nosuchrun'"),
    "rollback": (["nosuchmodel", "--to", "1"], 1, "no model named 'nosuchmodel' was pushed"),
    "promote": (["nosuchmodel", "--version", "1"], 1, "no model named 'nosuchmodel' was pushed"),
    "unpin": (["nosuchmodel"], 1, "no model named 'nosuchmodel' was pushed"),
    "push": (["/nonexistent", "--model", "m"], 1, "/nonexistent is not a directory"),
    "serve": (["--grpc-port", "99999"], 2, "99999 is not a port"),
    "predictions": (["nosuchmodel", "--since", "yesterday-ish"], 1, "not a time: 'yesterday-ish'"),
    "ingest-logs": (["m", "/nonexistent"], 1, "/nonexistent is not a directory"),
    "watch": (["--server", "127.0.0.1:1", "--model", "m", "--once"], 1, "did not answer"),
    "ui": (["--port", "http"], 2, "'http'"),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from lineage import Lineage

    tmp = tmp_path_factory.mktemp("bad-arguments")
    lin = Lineage.open(f"sqlite:///{tmp / 'metadata.sqlite'}")
    (tmp / "raw.csv").write_text("a\n")
    with use(lin):
        record("Clean", inputs={"raw": Dataset.at(tmp / "raw.csv")}, outputs={"out": Dataset.at(tmp / "raw.csv")})
    yield lin
    lin.close()


def test_every_subcommand_is_covered():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(BAD), "a new subcommand needs its bad-arguments case here"


@pytest.mark.parametrize("command", sorted(BAD))
def test_bad_arguments_are_one_line_and_change_nothing(store, command):
    args, code, says = BAD[command]
    before = store.counts()
    r = cli(command, *args, env={"LINEAGE_STORE": store.uri})
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("lineage: error: "), r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert store.counts() == before


def test_serve_refuses_a_bad_remote_before_it_starts(tmp_path):
    """`lineage serve --remote MODEL=HOST:PORT` (where heads call a module model): a malformed one is
    one line naming it, exit 1, and no server starts."""
    from helpers import cli

    config = tmp_path / "models.config"
    config.write_text("model_config_list {}\n")
    for bad, said in (("review-text-encoder", "is not MODEL=HOST:PORT"),
                      ("review-text-encoder=localhost", "is not HOST:PORT")):
        out = cli("serve", "--config", str(config), "--grpc-port", "0", "--rest-port", "0", "--remote", bad,
                  "--no-record")
        assert out.returncode == 1, out.stderr
        assert said in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
