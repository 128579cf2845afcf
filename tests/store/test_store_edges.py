"""Store edges (issue: truthful lineage, item 8), each on a real store: server URIs with a socket,
read-only that writes nothing, an oversize write that must not poison the connection, many
processes opening a fresh database, passwords kept out of logs and `ps` (each on MariaDB and on
PostgreSQL), WAL-aware copies, WAL stores on read-only media, and threads that forgot Run.bind."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lineage import Input, Lineage, Output, run, step
from lineage.errors import InvalidInput, LineageError, StoreUnavailable
from lineage.records import Artifact
from lineage.store import upgrade_store
from lineage.types import Dataset
from lineage.uris import parse_store_uri

def test_a_socket_uri_connects_and_a_host_beside_a_socket_is_refused(server):
    db = server.new_database()
    uri = server.socket_uri(db)
    lin = Lineage.open(uri)  # ML Metadata aborted the process here when given host and socket
    [a] = lin.store.put_artifacts([Artifact(None, "Dataset", "/via/socket")])
    assert Lineage.open(uri, readonly=True).artifact(a.id).uri == "/via/socket"
    with pytest.raises(InvalidInput, match="names both the host 'db.example' and a socket"):
        parse_store_uri(uri.replace("@localhost", "@db.example"))


def test_a_wrong_password_or_a_dead_server_is_one_line_saying_which(server):
    """MLMD's own error says "errno: , error:." after three lines of its C++ log on stderr."""
    from helpers import cli, free_port

    db = server.new_database()
    wrong = f"{server.scheme}://{server.user}:not-the-password@127.0.0.1:{server.port}/{db}"
    r = cli("ls", "runs", "--store", wrong)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "answers but refused the login: a wrong user or password" in r.stderr
    assert server.password_env in r.stderr
    assert "not-the-password" not in r.stderr and "errno: , error:" not in r.stderr
    dead = f"{server.scheme}://{server.user}@127.0.0.1:{free_port()}/{db}"
    r = cli("ls", "runs", "--store", dead)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "nothing answers at 127.0.0.1:" in r.stderr and "is the server running there?" in r.stderr


def test_read_only_never_creates_a_database(server):
    name = f"never_created_{os.getpid()}"
    with pytest.raises(LineageError):
        Lineage.open(server.uri(name), readonly=True)
    assert not server.database_exists(name)


def test_the_password_comes_from_the_environment_and_is_never_shown(server, monkeypatch):
    db = server.new_database()
    monkeypatch.setenv(server.password_env, server.password)
    lin = Lineage.open(server.uri(db, with_password=False))
    assert server.password not in lin.uri and server.password not in repr(lin.store)
    assert "Dataset" in lin.store.type_names("artifact")
    monkeypatch.delenv(server.password_env)
    with pytest.raises(StoreUnavailable, match=server.password_env):
        Lineage.open(server.uri(db, with_password=False))


@pytest.mark.mariadb
def test_an_oversize_write_does_not_poison_the_connection(mariadb):
    lin = Lineage.open(mariadb.uri(mariadb.new_database()))
    with pytest.raises(StoreUnavailable, match="max_allowed_packet"):
        lin.store.put_artifacts([Artifact(None, "Dataset", "/big", custom_properties={"blob": "x" * (20 << 20)})])
    [small] = lin.store.put_artifacts([Artifact(None, "Dataset", "/small")])
    assert [a.uri for a in lin.artifacts("Dataset")] == ["/small"] and small.id is not None


def test_many_processes_open_a_fresh_database_at_once(server, tmp_path):
    uri = server.uri(server.new_database())
    code = textwrap.dedent(f"""
        import sys
        from lineage import Lineage
        from lineage.records import Artifact
        lin = Lineage.open({uri!r})
        lin.store.put_artifacts([Artifact(None, "Dataset", "/p/" + sys.argv[1])])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], stderr=subprocess.PIPE, text=True)
             for i in range(12)]
    errors = [p.stderr.read() for p in procs if p.wait(180) != 0]
    assert errors == []
    lin = Lineage.open(uri, readonly=True)
    assert len(lin.artifacts("Dataset", limit=None)) == 12
    for get in (lin.store.mlmd.get_artifact_types, lin.store.mlmd.get_execution_types,
                lin.store.mlmd.get_context_types):   # each type once (MLMD alone made two on PostgreSQL)
        names = [t.name for t in get()]
        assert names and len(names) == len(set(names))


@pytest.mark.postgresql
def test_text_with_a_backslash_on_postgresql_is_exact_or_refused(postgresql):
    """ML Metadata's PostgreSQL escaping breaks a statement holding a backslash, and its filters
    pass quotes unescaped: parameters keep a backslash exactly and find them, a URI with one is
    refused in one line, a filter with a quote is refused, and nothing else changes."""
    lin = Lineage.open(postgresql.uri(postgresql.new_database()))
    with run("bs", store=lin):
        @step
        def fit(path: str, pattern: str = r"C:\data\x.csv", quote: str = "it's\\'; DROP TABLE type; --") -> float:
            return 1.0
        fit("p")
    [ex] = lin.executions("fit")
    assert ex.params["pattern"] == r"C:\data\x.csv" and ex.params["quote"] == "it's\\'; DROP TABLE type; --"
    before = len(lin.artifacts(limit=None))
    with pytest.raises(InvalidInput, match="holds a backslash.*PostgreSQL"):
        lin.store.put_artifacts([Artifact(None, "Dataset", "C:\\data\\raw.csv")])
    assert len(lin.artifacts(limit=None)) == before
    found = lin.find("fit", "pattern = 'C:\\\\data\\\\x.csv'", kind="execution")  # find's own escaping
    assert [e.id for e in found] == [ex.id]
    with pytest.raises(InvalidInput, match="a filter value with a quote cannot be searched on PostgreSQL"):
        lin.find("fit", "quote = \"it's\"", kind="execution")   # ML Metadata would send it unescaped


def test_debug_logs_and_ps_never_show_the_password(server, tmp_path):
    uri = server.uri(server.new_database())
    Lineage.open(uri)
    r = subprocess.run([sys.executable, "-m", "lineage.cli", "-vv", "ls", "artifacts", "--store", uri],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ConnectionConfig" in r.stderr   # the log line is there...
    assert server.password not in r.stdout + r.stderr              # ...without the password
    port = _free_port()
    ui = subprocess.Popen([sys.executable, "-m", "lineage.cli", "ui", "--store", uri, "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        cmdline = Path(f"/proc/{ui.pid}/cmdline").read_bytes().decode(errors="replace")
        assert "explorer.py" in cmdline and server.password not in cmdline   # the explorer's server
    finally:
        ui.terminate()
        ui.wait(30)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("how", ["copy_to", "backup"])
def test_upgrade_copies_include_what_the_wal_file_holds(tmp_path, how):
    src = tmp_path / "live.sqlite"
    lin = Lineage.open(f"sqlite:///{src}")  # stays open: its writes sit in live.sqlite-wal
    lin.store.put_artifacts([Artifact(None, "Dataset", f"/w/{i}") for i in range(17)])
    assert Path(str(src) + "-wal").stat().st_size > 0
    if how == "copy_to":
        done = upgrade_store(parse_store_uri(str(src)), copy_to=tmp_path / "copy.sqlite")
        copy = tmp_path / "copy.sqlite"
    else:
        done = upgrade_store(parse_store_uri(str(src)), backup=True)
        copy = Path(done["backup"])
    assert len(Lineage.open(str(copy), readonly=True).artifacts("Dataset", limit=None)) == 17


def test_a_wal_store_on_a_read_only_mount_is_readable(tmp_path):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root to make a read-only bind mount")
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    lin = Lineage.open(f"sqlite:///{src / 'm.sqlite'}")
    lin.store.put_artifacts([Artifact(None, "Dataset", "/on/read-only/media")])
    lin.close()
    script = (f"mount --bind {src} {ro} && mount -o remount,bind,ro {ro} && touch {ro}/probe 2>/dev/null; "
              f"{sys.executable} -m lineage.cli ls artifacts --store {ro / 'm.sqlite'}")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    if "Operation not permitted" in r.stderr or "permission denied" in r.stderr.lower():
        pytest.skip(f"cannot mount here: {r.stderr.strip()[:200]}")
    assert r.returncode == 0, r.stderr
    assert "/on/read-only/media" in r.stdout
    assert not (src / "probe").exists()   # it really was read-only


def test_a_thread_without_bind_warns_before_writing_elsewhere(lin, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)                   # the default store would be ./.lineage here
    src = tmp_path / "d.csv"
    src.write_text("x")

    @step
    def touch(data: Input[Dataset], out: Output[Dataset]):
        out.path.write_text("t")

    with caplog.at_level(logging.WARNING, logger="lineage"):
        with run("threads", store=lin):
            t = threading.Thread(target=lambda: touch(Dataset.at(src)), name="unbound")
            t.start()
            t.join()
    warned = [r.getMessage() for r in caplog.records if "unbound" in r.getMessage()]
    assert warned and "run.bind" in warned[0] and lin.uri in warned[0]
