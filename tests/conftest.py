"""Shared fixtures: a fresh SQLite file store per test, and real MariaDB and PostgreSQL servers per
session (from the distribution's packages, on loopback, with temporary data directories)."""

from __future__ import annotations

import json
import itertools
import sys
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Optional
from pathlib import Path

import pytest

# Before anything imports TensorFlow: tf.Transform, TFMA and hub.KerasLayer need tf-keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Code snapshots depend on whether this checkout is dirty (a developer's is, a CI clone is not), and
# the tests count nodes and events exactly: snapshots are on only where a test asks for them
# (tests/recorder/test_rerun.py).
os.environ["LINEAGE_CODE_SNAPSHOTS"] = "0"

from lineage import Lineage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TFX_STORE = REPO / "tests" / "fixtures" / "tfx-chicago-taxi-metadata.db"


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'metadata.sqlite'}"


@pytest.fixture
def lin(sqlite_uri: str, tmp_path: Path):
    lineage = Lineage.open(sqlite_uri, artifact_root=str(tmp_path / "artifacts"))
    yield lineage
    lineage.close()


@pytest.fixture
def tfx_store(tmp_path: Path) -> Path:
    """A private copy of the TFX-written store (MLMD schema 4): tests never touch the original."""
    dest = tmp_path / "tfx" / "metadata.db"
    dest.parent.mkdir()
    shutil.copy2(TFX_STORE, dest)
    return dest


# ------------------------------------------------------------------------ MariaDB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _DatabaseServer:
    """What the MariaDB and PostgreSQL fixtures share: fresh databases, and URIs for them."""

    scheme = password_env = user = password = ""
    port = 0

    def _create(self, name: str) -> None:  # pragma: no cover - each server's own
        raise NotImplementedError

    def new_database(self) -> str:
        name = f"lineage_test_{os.getpid()}_{next(self._dbs)}"
        self._create(name)
        return name

    def uri(self, database: str, with_password: bool = True) -> str:
        auth = f"{self.user}:{self.password}" if with_password else self.user
        return f"{self.scheme}://{auth}@127.0.0.1:{self.port}/{database}"


class MariaDB(_DatabaseServer):
    """A throwaway MariaDB server on 127.0.0.1 with a temporary data directory."""

    user = "lineage"
    password = "s3cret-test-pw"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lineage-mariadb-"))
        self.datadir = self.dir / "data"
        self.socket = self.dir / "mysqld.sock"
        self.port = _free_port()
        self.proc = None
        self._dbs = itertools.count(1)

    def start(self) -> None:
        as_root = os.geteuid() == 0
        user_args = ["--user=mysql"] if as_root else []
        os.chmod(self.dir, 0o755)
        if as_root:
            shutil.chown(self.dir, "mysql", "mysql")
        log = self.dir / "install.log"
        with open(log, "w") as out:
            rc = subprocess.call(
                ["mariadb-install-db", *user_args, f"--datadir={self.datadir}",
                 "--auth-root-authentication-method=socket", "--skip-test-db"],
                stdout=out, stderr=subprocess.STDOUT,
            )
        if rc != 0:
            raise RuntimeError(f"mariadb-install-db failed: {log.read_text()[-2000:]}")
        self.proc = subprocess.Popen(
            ["mariadbd", *user_args, f"--datadir={self.datadir}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--skip-log-bin",
             f"--pid-file={self.dir / 'mysqld.pid'}", "--innodb-buffer-pool-size=64M",
             "--innodb-flush-log-at-trx-commit=2"],
            stdout=open(self.dir / "server.log", "w"), stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited: " + (self.dir / "server.log").read_text()[-2000:])
            if self._sql("SELECT 1", check=False) == 0:
                break
            time.sleep(0.25)
        else:
            raise RuntimeError("mariadbd did not start within 60 s")
        self._sql(
            f"CREATE USER '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}';"
            f"GRANT ALL ON *.* TO '{self.user}'@'127.0.0.1';"
        )

    def _sql(self, sql: str, check: bool = True) -> int:
        cmd = ["mariadb", f"--socket={self.socket}", "-uroot", "-e", sql]
        rc = subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if check and rc != 0:
            raise RuntimeError(f"SQL failed: {sql}")
        return rc

    def _create(self, name: str) -> None:
        self._sql(f"CREATE DATABASE {name}")

    scheme, password_env = "mysql", "LINEAGE_MYSQL_PASSWORD"

    def socket_uri(self, database: str) -> str:
        """The database over the server's local socket, as its administrator (no password)."""
        return f"mysql://root@localhost/{database}?socket={self.socket}"

    def database_exists(self, name: str) -> bool:
        return self._sql(f"USE {name}", check=False) == 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _missing(message: str) -> None:
    """A server the tests need is not installed: skipped here, a failure in CI."""
    if os.environ.get("CI"):
        pytest.fail(message + " -- and CI must run them")
    pytest.skip(message)


def _running(server):
    """A fixture's body: the server started for the session, stopped after (or if it fails to start)."""
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb():
    if shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None:
        message = ("MariaDB is not installed (no mariadbd on PATH): the MariaDB store tests are "
                   "skipped; `apt-get install -y mariadb-server` runs them")
        _missing(message)
    yield from _running(MariaDB())


# ------------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server programs (initdb, pg_ctl are not on PATH)."""
    found = shutil.which("pg_ctl")
    if found and (Path(found).resolve().parent / "initdb").exists():
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return versions[-1].parent if versions else None


class PostgreSQL(_DatabaseServer):
    """A throwaway PostgreSQL server on 127.0.0.1 with a temporary data directory, run as the
    ``postgres`` user when the tests run as root (PostgreSQL refuses to run as root)."""

    user = "lineage"
    password = "pg-s3cret-test-pw"

    def __init__(self, bindir: Path) -> None:
        self.bin = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="lineage-pg-"))
        self.datadir = self.dir / "data"
        self.socket = self.dir   # the directory holding .s.PGSQL.<port>
        self.port = _free_port()
        self._dbs = itertools.count(1)
        self.as_root = os.geteuid() == 0

    def _run(self, *cmd: str, check: bool = True) -> int:
        argv = [str(self.bin / cmd[0]), *cmd[1:]]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        with open(self.dir / "commands.log", "a") as log:
            rc = subprocess.call(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        if check and rc != 0:
            raise RuntimeError(f"{cmd[0]} failed: {(self.dir / 'commands.log').read_text()[-2000:]}")
        return rc

    def start(self) -> None:
        os.chmod(self.dir, 0o755)
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.datadir), "-A", "scram-sha-256", "--auth-local=trust",
                  "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C")
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.dir / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.socket} -c listen_addresses=127.0.0.1 -c fsync=off "
                        f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                  "start")
        self.sql(f"CREATE USER {self.user} PASSWORD '{self.password}' CREATEDB")

    def sql(self, sql: str, check: bool = True) -> int:
        return self._run("psql", "-h", str(self.socket), "-p", str(self.port), "-U", "postgres",
                         "-v", "ON_ERROR_STOP=1", "-c", sql, check=check)

    def database_exists(self, name: str) -> bool:
        out = subprocess.run(
            (["runuser", "-u", "postgres", "--"] if self.as_root else []) +
            [str(self.bin / "psql"), "-h", str(self.socket), "-p", str(self.port), "-U", "postgres", "-tAc",
             f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            capture_output=True, text=True, cwd=self.dir)
        return out.stdout.strip() == "1"

    def _create(self, name: str) -> None:
        self.sql(f"CREATE DATABASE {name} OWNER {self.user}")

    scheme, password_env = "postgresql", "LINEAGE_PG_PASSWORD"

    def socket_uri(self, database: str) -> str:
        """The database over the server's local socket, as its administrator (no password)."""
        return f"postgresql://postgres@localhost:{self.port}/{database}?host={self.socket}"

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgresql():
    bindir = _pg_bin()
    if bindir is None:
        message = ("PostgreSQL is not installed (no pg_ctl): the PostgreSQL store tests are skipped; "
                   "`apt-get install -y postgresql` runs them")
        _missing(message)
    yield from _running(PostgreSQL(bindir))


SERVER_BACKENDS = [pytest.param("mariadb", marks=pytest.mark.mariadb),
                   pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=SERVER_BACKENDS)
def server(request):
    """Each database server in turn (MariaDB, PostgreSQL): ``.uri(.new_database())``."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["sqlite", *SERVER_BACKENDS])
def store_uri(request, tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file, a MariaDB database, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'metadata.sqlite'}"
    server = request.getfixturevalue(request.param)
    return server.uri(server.new_database())


@pytest.fixture
def any_lin(store_uri: str, tmp_path: Path):
    """A Lineage on each backend in turn."""
    lineage = Lineage.open(store_uri, artifact_root=str(tmp_path / "artifacts"))
    yield lineage
    lineage.close()


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """The example pipeline, end to end, on the first 600 reviews (once per test session)."""
    from helpers import run_example_pipeline

    home = tmp_path_factory.mktemp("example")
    return Lineage.open(run_example_pipeline(home), readonly=True), home


# ----------------------------------------------------------------- a clean exit

_EXIT_STATUS = {"status": 0}


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """TensorFlow can segfault while the interpreter tears down after tf.Transform and Keras
    have run (garbage-collected tf.functions, tensorflow/tensorflow#59242), turning a green run
    into exit 139. Everything is reported by now: leave without the teardown, same status."""
    if "tensorflow" in sys.modules and not os.environ.get("LINEAGE_TEST_SOFT_EXIT"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS["status"])


# ------------------------------------------------------------------- object storage


class S3Server:
    """moto's S3 server (``moto[server]``, the one s3fs's own tests use) on a free loopback port,
    in its own process. ``env`` is what a client needs (endpoint, dummy credentials)."""

    def __init__(self, auth_after: Optional[int] = None) -> None:
        #: with a number: moto checks IAM permissions after that many requests (the first ones
        #: set up users and policies; see :meth:`reader`)
        self.auth_after = auth_after
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "lineage-test",
                    "AWS_SECRET_ACCESS_KEY": "lineage-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}
        self.proc = None
        self._buckets = itertools.count(1)

    def start(self) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="lineage-moto-", suffix=".log", delete=False)
        env = dict(os.environ)
        if self.auth_after is not None:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(self.auth_after)
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moto's server exited: " + Path(self.log.name).read_text()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto's server did not start within 30 s")

    def client(self, env: Optional[dict] = None):
        import boto3
        env = env or self.env
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

    def reader(self, name: str = "reader") -> dict:
        """An IAM user that may list and read every bucket and write nothing (3 requests), as the
        AWS environment a client of it sets."""
        import boto3
        iam = boto3.client("iam", endpoint_url=self.endpoint, aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="read-only", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {**self.env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def new_bucket(self) -> str:
        name = f"lineage-test-{os.getpid()}-{next(self._buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "", env: Optional[dict] = None) -> dict:
        """``{key: bytes}`` of what the bucket holds, read with boto3 directly (as ``env``'s
        credentials say, by default the server's)."""
        c = self.client(env)
        out = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                out[o["Key"]] = c.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def s3_iam_server():
    """A moto S3 server of its own that checks IAM permissions once a bucket, a user, its policy
    and its key are made (:meth:`S3Server.reader` makes the last three)."""
    server = S3Server(auth_after=4)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc}: the object storage tests need lineage[s3,test] -- and CI must run them")
        pytest.skip(f"{exc}: the object storage tests need lineage[s3,test]")
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path):
    """A fresh bucket on the S3 server, this process's AWS environment pointing at it, and a
    private object cache. Yields the server; ``s3.bucket`` is the bucket's name."""
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LINEAGE_CACHE", str(tmp_path / "cache"))
    import fsspec
    fsspec.config.conf.clear()
    s3_server.bucket = s3_server.new_bucket()
    yield s3_server
