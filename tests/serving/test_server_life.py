"""Serving truth for a model server's whole life, tried as an operator would: `lineage serve` in its
own process on 127.0.0.1, stopped with real signals (SIGTERM, SIGHUP, SIGKILL, SIGSTOP/SIGCONT),
a port really in use, the CLI in processes of its own, and the store read back with the API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import cli, free_port
from lineage import Lineage, record, use
from lineage.components import push
from lineage.serving.config import model_entry, read_config, write_config
from lineage.types import Model, ModelBlessing
from toy_models import build_toy

pytestmark = pytest.mark.slow

HEARTBEAT = 0.5   # seconds: leases of 1.5 s, so a lost server goes stale within the test


class Served:
    """A store with toy versions pushed as `toy` (version k answers k * x), and `lineage serve`
    processes started on it."""

    def __init__(self, tmp: Path, versions: int) -> None:
        self.tmp = tmp
        self.uri = f"sqlite:///{tmp / 'metadata.sqlite'}"
        self.lin = Lineage.open(self.uri)
        self.serving = tmp / "serving"
        self.config = self.serving / "models.config"
        self.env = {"LINEAGE_STORE": self.uri, "LINEAGE_HEARTBEAT_SECONDS": str(HEARTBEAT)}
        for k in range(1, versions + 1):
            src = build_toy(tmp / "trained" / f"k{k}", float(k))
            with use(self.lin):
                m = record("Train", outputs={"model": Model.at(src)}).model
                b = record("Evaluate", inputs={"model": m},
                           outputs={"blessing": ModelBlessing.at(tmp / "bless" / f"k{k}", blessed=True)}).blessing
            push(m, b, model_name="toy", serving_root=self.serving, config_path=self.config, store=self.lin)

    def log_requests(self) -> Path:
        """Give `toy` a logging_config at rate 1.0 (files under tmp/logs/toy.*)."""
        config = read_config(self.config)
        entry = model_entry(config, "toy")
        entry.logging_config.log_collector_config.type = "tfrecord"
        entry.logging_config.log_collector_config.filename_prefix = str(self.tmp / "logs" / "toy")
        entry.logging_config.sampling_config.sampling_rate = 1.0
        write_config(self.config, config)
        return self.tmp / "logs"

    def pin(self, version: int) -> None:
        """Edit the model config by hand (as an operator would with the server down)."""
        config = read_config(self.config)
        entry = model_entry(config, "toy")
        entry.model_version_policy.Clear()
        entry.model_version_policy.specific.versions.append(version)
        write_config(self.config, config)

    def start(self, grpc_port: int = 0, rest_port: int = 0, wait: bool = True) -> "Server":
        grpc_port, rest_port = grpc_port or free_port(), rest_port or free_port()
        exe = str(Path(sys.executable).parent / "lineage")
        env = {**{k: v for k, v in os.environ.items() if k != "LINEAGE_STORE"}, **self.env}
        proc = subprocess.Popen([exe, "serve", "--config", str(self.config), "--grpc-port", str(grpc_port),
                                 "--rest-port", str(rest_port), "--poll", "0.2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        server = Server(proc, grpc_port, rest_port)
        if wait:
            server.wait_ready()
        return server

    def cli(self, *args: str):
        return cli(*args, env=self.env)

    def state(self):
        with Lineage.open(self.uri) as lin:
            return lin.served_at("toy", "now")


class Server:
    def __init__(self, proc: subprocess.Popen, grpc_port: int, rest_port: int) -> None:
        self.proc, self.grpc_port, self.rest_port = proc, grpc_port, rest_port
        self.address = f"127.0.0.1:{grpc_port}"
        self.base = f"http://127.0.0.1:{rest_port}"

    def wait_ready(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read()
            try:
                if _http("GET", f"{self.base}/v1/models/toy")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("the server did not start")

    def predict(self, x: float = 1.0) -> float:
        return _http("POST", f"{self.base}/v1/models/toy:predict", {"instances": [x]})[1]["predictions"][0]["k"]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)


def _http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _until(fn, what, seconds=60.0):
    end = time.monotonic() + seconds
    while not fn():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def _serving(served: Served, version: int):
    """Whether a server reported ``version`` serving (not the recorded changes' answer)."""
    def check() -> bool:
        state = served.state()
        return state.source == "observed" and state.version == version
    return check


def _observed(served: Served):
    with Lineage.open(served.uri) as lin:
        return [(e.version, e.observed, e.server) for e in lin.serving_history("toy") if e.action == "observed"]


@pytest.fixture
def served(tmp_path):
    return Served(tmp_path, 3)


# --------------------------------------------------------------- 1. a server that never served


def test_a_server_that_cannot_listen_records_nothing_and_says_so_in_one_line(served):
    a = served.start()
    try:
        _until(_serving(served, 3), "version 3 observed")
        r = served.cli("rollback", "toy", "--to", "1", "--server", a.address, "--rest", a.base,
                       "--config", str(served.config), "--timeout", "30")
        assert r.returncode == 0, r.stderr
        _until(lambda: _observed(served)[-1:] == [(3, "END", a.address)], "version 3 unloaded, recorded")
        before = _observed(served)
        # a second server on the first one's gRPC port, then on its REST port
        for grpc_port, rest_port, busy in ((a.grpc_port, 0, a.grpc_port), (0, a.rest_port, a.rest_port)):
            b = served.start(grpc_port, rest_port, wait=False)
            out, err = b.proc.communicate(timeout=120)
            assert b.proc.returncode == 1
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("lineage: error: cannot serve on 127.0.0.1"), err
            assert str(busy) in lines[0] and "Traceback" not in err
        # nothing of them is in the store: what serves is what the live server says
        assert _observed(served) == before
        state = served.state()
        assert (state.version, state.stale, state.reported_by) == (1, False, a.address)
        assert a.predict() == 1.0
        with Lineage.open(served.uri) as lin:
            assert [x.address for x in _leases(lin)] == [a.address]
            report, _ = lin.doctor(check_files=False)
            assert not [f for f in report.findings if "server" in f.kind], report.findings
    finally:
        a.kill()


def _leases(lin):
    from lineage.query import all_leases

    return all_leases(lin.store)


# --------------------------------------------------------------- 2. SIGTERM, SIGHUP: graceful stop


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_server_gracefully_and_it_records_its_end(served, sig):
    logs = served.log_requests()
    a = served.start()
    _until(_serving(served, 3), "version 3 observed")
    for i in range(20):
        assert a.predict(float(i)) == 3.0
    answers, failures = [], []

    def traffic():   # requests keep coming while the server is told to stop
        while len(answers) < 500:
            try:
                status, body = _http("POST", f"{a.base}/v1/models/toy:predict", {"instances": [1.0]})
                (answers if status == 200 and body["predictions"][0]["k"] == 3.0 else failures).append(status)
            except OSError:   # refused: a request the stopping server never took
                return
            except ValueError as exc:   # an answer cut short: an accepted request that failed
                failures.append(repr(exc))

    workers = [threading.Thread(target=traffic) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    a.signal(sig)
    a.proc.wait(30)
    took = time.monotonic() - t0
    for w in workers:
        w.join(30)
    assert a.proc.returncode == 0, a.proc.stderr.read()
    assert failures == [] and answers
    assert took < 10, took
    # every version it had loaded ended, and it says so; nothing serves
    assert _observed(served)[-2:] == [(3, "UNLOADING", a.address), (3, "END", a.address)]
    state = served.state()
    assert (state.version, state.source, state.stale) == (None, "observed", False)
    with Lineage.open(served.uri) as lin:
        [lease] = _leases(lin)
        assert (lease.end_state, lease.address) == ("STOPPED", a.address)
        # the request log was closed and recorded: 20 + every answered request, none lost
        files = sorted(logs.glob("toy.*"))
        assert files and all(f.name.endswith(".tfrecord") for f in files), files
        recorded = lin.prediction_logs("toy")
        assert sum(int(x.properties["request_count"]) for x in recorded) == 20 + len(answers)


# ------------------------------------------------------- 3. leases: a killed server, a restart, doctor


def test_a_killed_server_is_replaced_by_its_restart_then_goes_stale_and_doctor_ends_it(served):
    a = served.start()
    _until(_serving(served, 3), "version 3 observed")
    a.kill()   # SIGKILL: no UNLOADING, no END, no end of lease
    served.pin(2)
    b = served.start(a.grpc_port)   # the operator restarts it on the same port, pinned to 2
    _until(_serving(served, 2), "version 2 observed")
    state = served.state()
    assert (state.version, state.available, state.stale) == (2, (2,), False)   # not 3: that process is gone
    assert b.predict() == 2.0
    r = served.cli("history", "toy")
    assert "serving now: version 2" in r.stdout and "not seen" not in r.stdout
    b.kill()
    time.sleep(3 * HEARTBEAT + 0.5)   # its lease runs out
    state = served.state()
    assert (state.version, state.stale, state.reported_by) == (2, True, b.address)
    r = served.cli("history", "toy")
    assert r.returncode == 0
    assert f"serving now: version 2, last reported by {b.address} " in r.stdout
    assert "s ago, server not seen since" in r.stdout
    # doctor lists both lost servers; --fix ends what they reported
    r = served.cli("doctor", "--no-files", "--json")
    assert r.returncode == 1
    lost = [f for f in json.loads(r.stdout)["findings"] if f["kind"] == "lost-server"]
    assert len(lost) == 2 and all("its process is gone" in f["detail"] for f in lost), r.stdout
    r = served.cli("doctor", "--no-files", "--fix")
    assert r.returncode == 0, r.stdout + r.stderr
    assert " as LOST (recorded as e" in r.stdout
    ended = [(v, s) for v, s, srv in _observed(served) if srv == b.address][-1:]
    assert ended == [(2, "END")]
    state = served.state()
    assert (state.version, state.stale) == (None, False)   # the truth: nothing serves
    with Lineage.open(served.uri) as lin:
        assert {x.end_state for x in _leases(lin)} == {"LOST"}
        ends = [e for e in lin.serving_history("toy") if e.observed == "END" and e.server == b.address]
        assert "server lost" in ends[-1].execution.properties["error_message"]
    assert served.cli("doctor", "--no-files").returncode == 0


def test_a_watchers_report_holds_for_one_lease(served, tmp_path):
    from lineage.serving.server import ModelServer

    server = ModelServer(str(served.config), grpc_port=0, rest_port=0, poll_seconds=0).start()
    target = f"127.0.0.1:{server.grpc_port}"
    try:
        r = served.cli("watch", "--server", target, "--once", "--interval", "0.5")
        assert r.returncode == 0, r.stderr
        state = served.state()
        assert (state.version, state.stale) == (3, False)
        time.sleep(2)   # 3 intervals of 0.5 s: the poll no longer holds
        state = served.state()
        assert (state.version, state.stale, state.reported_by) == (3, True, target)
        r = served.cli("watch", "--server", target, "--once", "--interval", "0.5")   # the next poll renews it
        assert r.returncode == 0 and served.state().stale is False
        with Lineage.open(served.uri) as lin:
            [lease] = _leases(lin)
            assert (lease.kind, lease.address, lease.end_state) == ("watch", target, "STOPPED")
            report, _ = lin.doctor(check_files=False)
            assert not [f for f in report.findings if "server" in f.kind]   # a watcher that ended is not lost
    finally:
        server.stop()


# ------------------------------------------------------------ 4. concurrent changes are serialized


def test_two_rollbacks_at_once_happen_one_after_the_other(tmp_path):
    served = Served(tmp_path, 4)
    a = served.start()
    try:
        _until(_serving(served, 4), "version 4 observed")
        common = ["--server", a.address, "--rest", a.base, "--config", str(served.config)]
        exe = str(Path(sys.executable).parent / "lineage")
        env = {**{k: v for k, v in os.environ.items() if k != "LINEAGE_STORE"}, **served.env}
        a.signal(signal.SIGSTOP)
        try:
            first = subprocess.Popen([exe, "rollback", "toy", "--to", "3", "--timeout", "40", *common],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            time.sleep(2)
            second = subprocess.Popen([exe, "rollback", "toy", "--to", "2", "--timeout", "60", *common],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            time.sleep(4)
        finally:
            a.signal(signal.SIGCONT)
        out1, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
        assert first.returncode == 0, err1
        assert second.returncode == 0, err2
        assert "waiting for another change of" in err2 and "rollback toy --to 3" in err2
        # the history is the sequence of configs the server was given, and the server ends on the last
        with Lineage.open(served.uri) as lin:
            changes = [(e.action, e.version, e.state) for e in lin.serving_history("toy")
                       if e.action == "rollback"]
        assert changes == [("rollback", 3, "COMPLETE"), ("rollback", 2, "COMPLETE")]
        assert a.predict() == 2.0
        entry = model_entry(read_config(served.config), "toy")
        assert list(entry.model_version_policy.specific.versions) == [2]
        _until(_serving(served, 2), "version 2 observed")
        r = served.cli("history", "toy", "--check", "--config", str(served.config))   # 5: the recorded address
        assert r.returncode == 0, r.stdout + r.stderr
        assert "agrees" in r.stdout
    finally:
        a.kill()


def test_rollback_to_the_last_good_version_already_serving_changes_nothing(served):
    a = served.start()
    try:
        _until(_serving(served, 3), "version 3 observed")
        with Lineage.open(served.uri) as lin:
            before = len(lin.serving_history("toy"))
        config_before = served.config.read_text()
        r = served.cli("rollback", "toy", "--last-good", "--server", a.address, "--rest", a.base,
                       "--config", str(served.config))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == ("toy: version 3 is already serving (the newest version passing every check); "
                                    "nothing changed")
        with Lineage.open(served.uri) as lin:
            assert len(lin.serving_history("toy")) == before
            assert not [e for e in lin.serving_history("toy") if e.action == "rollback"]
        assert served.config.read_text() == config_before
    finally:
        a.kill()


# ------------------------------------------------------------- 6. request logs a crash left open


def _logged(server: Server, n: int, logs: Path) -> Path:
    for i in range(n):
        server.predict(float(i))
    part = []
    _until(lambda: (part.__setitem__(slice(None), sorted(logs.glob("toy.*.tfrecord.part")))
                    or (part and part[0].stat().st_size > 0 and _records(part[0]) == n)), f"{n} records on disk")
    return part[0]


def _records(path: Path) -> int:
    from lineage.serving.server.predlog import read_records

    n = 0
    try:
        for _ in read_records(str(path)):
            n += 1
    except ValueError:
        pass
    return n


def test_a_crashed_servers_request_logs_are_recovered_by_doctor_and_by_the_next_start(served):
    logs = served.log_requests()
    a = served.start()
    part = _logged(a, 12, logs)
    a.kill()
    with part.open("ab") as f:   # a record cut in the middle by the crash
        f.write(b"\x40\x00\x00\x00\x00\x00\x00\x00abc")
    r = served.cli("doctor", "--no-files", "--json")
    found = [f for f in json.loads(r.stdout)["findings"] if f["kind"] == "unfinished-request-log"]
    assert [f["ref"] for f in found] == [str(part)]
    r = served.cli("doctor", "--no-files", "--fix")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{part} as RECOVERED" in r.stdout
    final = Path(str(part)[:-len(".part")])
    assert final.exists() and not part.exists() and _records(final) == 12
    with Lineage.open(served.uri) as lin:
        [logged] = [x for x in lin.prediction_logs("toy") if x.uri.endswith(final.name)]
        assert (logged.properties["request_count"], logged.properties["lost_bytes"]) == (12, 11)

    b = served.start()
    part = _logged(b, 5, logs)
    b.kill()
    c = served.start()   # the next start closes and records what its predecessor left
    try:
        final = Path(str(part)[:-len(".part")])
        _until(lambda: final.exists(), "the .part closed")
        with Lineage.open(served.uri) as lin:
            _until(lambda: [x for x in lin.prediction_logs("toy") if x.uri.endswith(final.name)], "recorded")
            [logged] = [x for x in lin.prediction_logs("toy") if x.uri.endswith(final.name)]
            assert logged.properties["request_count"] == 5 and "lost_bytes" not in logged.properties
    finally:
        c.kill()


def test_ingest_logs_skips_a_corrupt_file_and_goes_on(served, tmp_path):
    logs = served.log_requests()
    a = served.start()
    _logged(a, 3, logs)
    a.signal(signal.SIGTERM)
    a.proc.wait(30)
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    [good] = sorted(logs.glob("toy.*.tfrecord"))
    (fleet / "a.tfrecord").write_bytes(good.read_bytes())
    (fleet / "b.tfrecord").write_bytes(b"\xff" * 40)   # a length of 2**64 - 1 (OverflowError before)
    r = served.cli("ingest-logs", "toy", str(fleet))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert lines[str(fleet / "a.tfrecord")].startswith("recorded: 3 requests")
    assert lines[str(fleet / "b.tfrecord")].startswith("skipped, not recorded:")
    assert "corrupt TFRecord" in lines[str(fleet / "b.tfrecord")]


def test_a_busy_port_is_refused_before_binding(tmp_path):
    """The port check the server makes before gRPC prints anything."""
    from lineage.serving.server.ports import check_port_free

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen for gRPC on 127.0.0.1:{port}"):
            check_port_free("127.0.0.1", port, "gRPC")
