"""One step on MariaDB and on PostgreSQL against the same step on SQLite, side by side in one run,
with the SQL statements each step costs the MariaDB server.

    .venv/bin/python bench/bench_mariadb.py [--steps 300] [--rounds 3] [--json F]

Starts a throwaway MariaDB server (``mariadbd`` on 127.0.0.1, its data directory in tmpfs when
there is one, as the SQLite file is), then records the step of bench_recorder.py (2 inputs, 1
output file, 5 parameters, a run) with ``@step`` into a fresh database on each side, rounds
alternating. The server's ``Questions`` counter gives the statements per step. A throwaway
PostgreSQL server (Debian's, run as the postgres user, fsync off) is timed the same way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_recorder import bench_raw, train  # noqa: E402
from ml_metadata.proto import metadata_store_pb2 as pb  # noqa: E402
from lineage import Lineage, run  # noqa: E402
from lineage.store.connect import connection_config  # noqa: E402
from lineage.uris import parse_store_uri  # noqa: E402
from lineage.types import Dataset  # noqa: E402


def questions(server) -> int:
    out = subprocess.run(["mariadb", f"--socket={server.socket}", "-uroot", "-N", "-e",
                          "SHOW GLOBAL STATUS LIKE 'Questions'"], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def one_side(uri: str, root: Path, n: int, server=None):
    lin = Lineage.open(uri, artifact_root=str(root / "arts"))
    a, b = root / "a.csv", root / "b.csv"
    a.write_text("x" * 1000)
    b.write_text("y" * 1000)
    with run(pipeline="bench", store=lin):
        da, db = lin.register(Dataset.at(a)), lin.register(Dataset.at(b))
        train(da, db, lr=0.0)
        q0 = questions(server) if server else 0
        t = time.perf_counter()
        for i in range(n):
            train(da, db, lr=i * 0.001)
        took = (time.perf_counter() - t) / n
        q1 = questions(server) if server else 0
    lin.close()
    return took, (q1 - q0 - 1) / n if server else None   # less the counter's own SHOW


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    from conftest import MariaDB

    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    tempfile.tempdir = shm
    from conftest import PostgreSQL, _pg_bin

    server = MariaDB()
    server.start()
    pg = PostgreSQL(_pg_bin()) if _pg_bin() else None
    if pg is not None:
        pg.start()
    try:
        times = {"sqlite": [], "mariadb": [], "raw_sqlite": [], "raw_mariadb": [], "postgresql": [],
                 "raw_postgresql": []}
        stmts, raw_stmts = [], []
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory(dir=shm) as d:
                times["raw_sqlite"].append(bench_raw(Path(d), args.steps))
            with tempfile.TemporaryDirectory(dir=shm) as d:
                cfg = pb.ConnectionConfig()
                cfg.mysql.host, cfg.mysql.port = "127.0.0.1", server.port
                cfg.mysql.database, cfg.mysql.user, cfg.mysql.password = server.new_database(), server.user, server.password
                q0 = questions(server)
                times["raw_mariadb"].append(bench_raw(Path(d), args.steps, cfg))
                raw_stmts.append((questions(server) - q0 - 1) / (args.steps + 1))
            with tempfile.TemporaryDirectory(dir=shm) as d:
                times["sqlite"].append(one_side(f"sqlite:///{d}/m.sqlite", Path(d), args.steps)[0])
            with tempfile.TemporaryDirectory(dir=shm) as d:
                took, q = one_side(server.uri(server.new_database()), Path(d), args.steps, server)
                times["mariadb"].append(took)
                stmts.append(q)
            if pg is not None:
                with tempfile.TemporaryDirectory(dir=shm) as d:
                    cfg = connection_config(parse_store_uri(pg.uri(pg.new_database())), False)
                    times["raw_postgresql"].append(bench_raw(Path(d), args.steps, cfg))
                with tempfile.TemporaryDirectory(dir=shm) as d:
                    times["postgresql"].append(one_side(pg.uri(pg.new_database()), Path(d), args.steps)[0])
            print(f"round {r + 1}/{args.rounds}: SQLite {times['sqlite'][-1] * 1e3:.2f} ms, MariaDB "
                  f"{times['mariadb'][-1] * 1e3:.2f} ms ({stmts[-1]:.0f} statements) per step", file=sys.stderr)
    finally:
        server.stop()
        if pg is not None:
            pg.stop()
    s, m = statistics.median(times["sqlite"]), statistics.median(times["mariadb"])
    rs, rm = statistics.median(times["raw_sqlite"]), statistics.median(times["raw_mariadb"])
    print(f"raw MLMD (two put_execution) on SQLite   {rs * 1e3:6.2f} ms/step")
    print(f"raw MLMD (two put_execution) on MariaDB  {rm * 1e3:6.2f} ms/step  {rm / rs:.2f}x SQLite, "
          f"{statistics.median(raw_stmts):.0f} SQL statements a step (schema set-up included)")
    print(f"@step on SQLite   {s * 1e3:6.2f} ms/step")
    print(f"@step on MariaDB  {m * 1e3:6.2f} ms/step  {m / s:.2f}x SQLite, {m / rm:.2f}x raw MLMD on MariaDB, "
          f"{statistics.median(stmts):.0f} SQL statements a step")
    p = statistics.median(times["postgresql"]) if times["postgresql"] else None
    rp = statistics.median(times["raw_postgresql"]) if times["raw_postgresql"] else None
    if p is not None and rp is not None:
        print(f"raw MLMD (two put_execution) on PostgreSQL {rp * 1e3:6.2f} ms/step  {rp / rs:.2f}x SQLite")
        print(f"@step on PostgreSQL {p * 1e3:6.2f} ms/step  {p / s:.2f}x SQLite, {p / rp:.2f}x raw MLMD on PostgreSQL")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "steps": args.steps, "sqlite_ms": s * 1e3, "mariadb_ms": m * 1e3, "ratio": m / s,
            "raw_sqlite_ms": rs * 1e3, "raw_mariadb_ms": rm * 1e3, "raw_ratio": rm / rs,
            "raw_statements_per_step": statistics.median(raw_stmts),
            "statements_per_step": statistics.median(stmts),
            "sqlite_range_ms": [min(times["sqlite"]) * 1e3, max(times["sqlite"]) * 1e3],
            "mariadb_range_ms": [min(times["mariadb"]) * 1e3, max(times["mariadb"]) * 1e3],
            "postgresql_ms": p * 1e3 if p is not None else None, "postgresql_ratio": p / s if p is not None else None,
            "raw_postgresql_ms": rp * 1e3 if rp is not None else None,
            "raw_postgresql_ratio": rp / rs if rp is not None else None,
            "vs_raw_mariadb": m / rm, "vs_raw_postgresql": p / rp if p is not None and rp is not None else None},
            indent=1))


if __name__ == "__main__":
    main()
