"""Object storage: lineage's upload and pull against s3fs's own put and get, on the same S3 server.

    .venv/bin/python bench/bench_object_storage.py [--rounds 5] [--mib 112]

Starts moto's S3 server (in its own process, on a free loopback port) and writes a model-like
folder: 32 files of 2 MiB and one large file (the rest of ``--mib``). Then, round by round, side
by side on the same server:

- upload: ``lineage.objects.upload`` (what a step does with its outputs: the bytes are hashed as
  they are sent, a folder's files 16 at a time) against ``s3fs.S3FileSystem.put(recursive=True)``
  of the same folder (no fingerprint);
- pull: ``lineage.objects.materialize`` into an empty cache (download, fingerprint, check against
  the record: what a step's remote input or ``lineage pull`` costs) against
  ``S3FileSystem.get(recursive=True)`` (download only), and against that get followed by sha256
  of every byte (the floor of any checked pull).

Reported: MiB/s of each (median of the rounds) and lineage's throughput as a fraction of s3fs's
(goal >= 0.8x).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from conftest import S3Server  # noqa: E402
from _out import add_json_arg, write_json  # noqa: E402


def make_folder(path: Path, mib: int) -> int:
    path.mkdir(parents=True)
    total = 0
    for i in range(32):
        data = os.urandom(2 << 20)
        (path / "variables" / f"shard-{i:02d}.bin").parent.mkdir(exist_ok=True)
        (path / "variables" / f"shard-{i:02d}.bin").write_bytes(data)
        total += len(data)
    big = os.urandom(max(1, mib - 64) << 20)
    (path / "saved_model.pb").write_bytes(big)
    return total + len(big)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mib", type=int, default=112)
    add_json_arg(ap)
    args = ap.parse_args(argv)
    server = S3Server()
    server.start()
    tmp = Path(tempfile.mkdtemp(prefix="lineage-bench-s3-"))
    try:
        os.environ.update(server.env)
        from lineage import objects

        bucket = server.new_bucket()
        folder = tmp / "model"
        size = make_folder(folder, args.mib)
        fs, _ = objects.filesystem(f"s3://{bucket}/x")
        times = {"lineage upload": [], "s3fs put": [], "lineage pull": [], "s3fs get": [], "s3fs get + sha256": []}
        recorded = None
        for r in range(args.rounds):
            order = [("lineage", "s3fs"), ("s3fs", "lineage")][r % 2]   # alternate who goes first
            for who in order:
                uri = f"s3://{bucket}/{who}/{r}/model"
                t = time.perf_counter()
                if who == "lineage":
                    recorded = objects.upload(folder, uri).digest
                else:
                    fs.put(str(folder), uri, recursive=True)
                times[f"{who} {'upload' if who == 'lineage' else 'put'}"].append(time.perf_counter() - t)
            for who in order:
                uri = f"s3://{bucket}/{who}/{r}/model"
                dest = tmp / f"get-{who}-{r}"
                t = time.perf_counter()
                if who == "lineage":
                    os.environ["LINEAGE_CACHE"] = str(dest)
                    got = objects.materialize(uri, recorded, "bench model")
                    assert got.exists()
                else:
                    fs.get(uri, str(dest), recursive=True)
                times[f"{who} {'pull' if who == 'lineage' else 'get'}"].append(time.perf_counter() - t)
                if who == "s3fs":   # the floor of a checked pull: the same get, then sha256 of every byte
                    shutil.rmtree(dest, ignore_errors=True)
                    t = time.perf_counter()
                    fs.get(uri, str(dest), recursive=True)
                    for f in sorted(dest.rglob("*")):
                        if f.is_file():
                            hashlib.sha256(f.read_bytes())
                    times["s3fs get + sha256"].append(time.perf_counter() - t)
                shutil.rmtree(dest, ignore_errors=True)
        mib = size / (1 << 20)
        rate = {k: mib / statistics.median(v) for k, v in times.items()}
        out = {"mib": round(mib, 1), "files": 33, "rounds": args.rounds,
               "mib_per_s": {k: round(v, 1) for k, v in rate.items()},
               "upload_ratio": round(rate["lineage upload"] / rate["s3fs put"], 3),
               "pull_ratio": round(rate["lineage pull"] / rate["s3fs get"], 3),
               "pull_ratio_to_get_and_hash": round(rate["lineage pull"] / rate["s3fs get + sha256"], 3)}
        for k, v in out["mib_per_s"].items():
            print(f"{k:15s} {v:8.1f} MiB/s")
        print(f"upload: lineage at {out['upload_ratio']:.2f}x s3fs's put (goal >= 0.8x); "
              f"pull: {out['pull_ratio']:.2f}x s3fs's get (goal >= 0.8x), "
              f"{out['pull_ratio_to_get_and_hash']:.2f}x s3fs's get followed by sha256")
        write_json(args.json, out)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
