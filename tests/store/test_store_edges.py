"""Store edges (issue: truthful lineage, item 8), each on a real store: MySQL URIs with a socket,
read-only that writes nothing, an oversize write that must not poison the connection, many
processes opening a fresh MariaDB database, passwords kept out of logs and `ps`, WAL-aware
copies, WAL stores on read-only media, and threads that forgot Run.bind."""

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

pytestmark = pytest.mark.mariadb


def _database_exists(mariadb, name: str) -> bool:
    return mariadb._sql(f"USE {name}", check=False) == 0


def test_a_socket_uri_connects_and_a_host_beside_a_socket_is_refused(mariadb):
    db = mariadb.new_database()
    uri = f"mysql://root@localhost/{db}?socket={mariadb.socket}"
    lin = Lineage.open(uri)  # ML Metadata aborted the process here when given host and socket
    [a] = lin.store.put_artifacts([Artifact(None, "Dataset", "/via/socket")])
    assert Lineage.open(uri, readonly=True).artifact(a.id).uri == "/via/socket"
    with pytest.raises(InvalidInput, match="names both the host 'db.example' and a socket"):
        parse_store_uri(f"mysql://root@db.example/{db}?socket={mariadb.socket}")


def test_a_wrong_password_or_a_dead_server_is_one_line_saying_which(mariadb):
    """MLMD's own error says "errno: , error:." after three lines of its C++ log on stderr."""
    from helpers import cli, free_port

    db = mariadb.new_database()
    wrong = f"mysql://{mariadb.user}:not-the-password@127.0.0.1:{mariadb.port}/{db}"
    r = cli("ls", "runs", "--store", wrong)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "answers but refused the login: a wrong user or password" in r.stderr
    assert "not-the-password" not in r.stderr and "errno: , error:" not in r.stderr
    dead = f"mysql://{mariadb.user}@127.0.0.1:{free_port()}/{db}"
    r = cli("ls", "runs", "--store", dead)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "nothing answers at 127.0.0.1:" in r.stderr and "is the server running there?" in r.stderr


def test_read_only_never_creates_a_database(mariadb):
    name = f"never_created_{os.getpid()}"
    with pytest.raises(LineageError):
        Lineage.open(mariadb.uri(name), readonly=True)
    assert not _database_exists(mariadb, name)


def test_an_oversize_write_does_not_poison_the_connection(mariadb):
    lin = Lineage.open(mariadb.uri(mariadb.new_database()))
    with pytest.raises(StoreUnavailable, match="max_allowed_packet"):
        lin.store.put_artifacts([Artifact(None, "Dataset", "/big", custom_properties={"blob": "x" * (20 << 20)})])
    [small] = lin.store.put_artifacts([Artifact(None, "Dataset", "/small")])
    assert [a.uri for a in lin.artifacts("Dataset")] == ["/small"] and small.id is not None


def test_many_processes_open_a_fresh_database_at_once(mariadb, tmp_path):
    uri = mariadb.uri(mariadb.new_database())
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
    assert len(Lineage.open(uri, readonly=True).artifacts("Dataset", limit=None)) == 12


def test_debug_logs_and_ps_never_show_the_password(mariadb, tmp_path):
    uri = mariadb.uri(mariadb.new_database())
    Lineage.open(uri)
    r = subprocess.run([sys.executable, "-m", "lineage.cli", "-vv", "ls", "artifacts", "--store", uri],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ConnectionConfig" in r.stderr   # the log line is there...
    assert mariadb.password not in r.stdout + r.stderr              # ...without the password
    port = _free_port()
    ui = subprocess.Popen([sys.executable, "-m", "lineage.cli", "ui", "--store", uri, "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        cmdline = Path(f"/proc/{ui.pid}/cmdline").read_bytes().decode(errors="replace")
        assert "explorer.py" in cmdline and mariadb.password not in cmdline   # the explorer's server
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
