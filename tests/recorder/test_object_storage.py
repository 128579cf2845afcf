"""Artifacts on object storage, against a real S3 protocol server (moto's, on loopback), with
boto3 reading the bucket directly to check what lineage claims: keys, bytes, fingerprints."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from lineage import Input, Lineage, Output, run, step
from lineage.errors import CacheFull, FingerprintError, InvalidInput, ObjectStoreError
from lineage.fingerprint import fingerprint
from lineage.types import Dataset, Model

from helpers import cli


@step
def clean(raw: Input[Dataset], cleaned: Output[Dataset], min_len: int = 3):
    rows = [r for r in raw.path.read_text().splitlines() if len(r) >= min_len]
    cleaned.path.write_text("\n".join(rows))


@step
def train(data: Input[Dataset], model: Output[Model], epochs: int = 1):
    model.path.mkdir()
    (model.path / "weights.bin").write_bytes(hashlib.sha256(data.path.read_bytes()).digest() * 4096)
    (model.path / "assets").mkdir()
    (model.path / "assets" / "vocab.txt").write_text(data.path.read_text())


def _open(tmp_path, s3, name="store"):
    return Lineage.open(f"sqlite:///{tmp_path / name / 'metadata.sqlite'}",
                        artifact_root=f"s3://{s3.bucket}/team")


def _pipeline(tmp_path, lin):
    raw = tmp_path / "reviews.csv"
    raw.write_text("great pasta\nok\ncold soup\n")
    with run(pipeline="reviews", store=lin):
        cleaned = clean(Dataset.at(raw), min_len=5)
        model = train(cleaned, epochs=2)
    return cleaned, model


def _key(s3, uri: str) -> str:
    return uri.split(f"s3://{s3.bucket}/", 1)[1]


def test_outputs_are_uploaded_fingerprinted_and_recorded_with_their_s3_uri(tmp_path, s3):
    lin = _open(tmp_path, s3)
    cleaned, model = _pipeline(tmp_path, lin)
    in_bucket = s3.objects(s3.bucket)   # read with boto3, not through lineage
    assert cleaned.uri.startswith(f"s3://{s3.bucket}/team/clean/") and cleaned.uri.endswith("/cleaned")
    assert in_bucket[_key(s3, cleaned.uri)] == b"great pasta\ncold soup"
    assert cleaned.fingerprint == "sha256:" + hashlib.sha256(b"great pasta\ncold soup").hexdigest()
    mk = _key(s3, model.uri)
    assert sorted(k for k in in_bucket if k.startswith(mk + "/")) == [mk + "/assets/vocab.txt", mk + "/weights.bin"]
    same = tmp_path / "same"                      # the same tree hash as the same bytes on a disk
    (same / "assets").mkdir(parents=True)
    (same / "weights.bin").write_bytes(in_bucket[mk + "/weights.bin"])
    (same / "assets" / "vocab.txt").write_bytes(in_bucket[mk + "/assets/vocab.txt"])
    assert model.fingerprint == fingerprint(same).digest and model.get("file_count") == 2
    assert not any(p.is_file() for p in lin.artifact_root.rglob("*"))      # nothing staged is left here
    assert list((tmp_path / "cache" / "objects").rglob("cleaned"))        # train read clean's output via the cache
    [producer] = lin.producers(model)
    assert [a.id for arts in lin.inputs(producer).values() for a in arts] == [cleaned.id]            # lineage joins them as usual
    report = lin.verify()
    assert report.clean and len(report.ok) == 3 and not report.skipped


def test_pull_restores_the_recorded_bytes_local_or_remote(tmp_path, s3):
    lin = _open(tmp_path, s3)
    cleaned, model = _pipeline(tmp_path, lin)
    out = lin.pull(model, tmp_path / "pulled")
    assert fingerprint(out).digest == model.fingerprint
    assert (out / "assets" / "vocab.txt").read_text() == "great pasta\ncold soup"
    with pytest.raises(InvalidInput, match="already exists"):
        lin.pull(model, tmp_path / "pulled")
    [raw] = [a for arts in lin.inputs(lin.producers(cleaned)[0]).values() for a in arts]
    assert raw.uri == str(tmp_path / "reviews.csv")                         # a local input, pulled too
    assert lin.pull(raw, tmp_path / "raw-again.csv").read_text() == "great pasta\nok\ncold soup\n"
    (tmp_path / "reviews.csv").write_text("changed behind lineage's back\n")
    with pytest.raises(FingerprintError, match="changed after it was recorded"):
        lin.pull(raw, tmp_path / "raw-3.csv")
    assert not (tmp_path / "raw-3.csv").exists()
    r = cli("pull", model.ref, str(tmp_path / "by-cli"), "--store", lin.uri, env={"LINEAGE_CACHE": str(tmp_path / "c2")})
    assert r.returncode == 0, r.stderr
    assert fingerprint(tmp_path / "by-cli").digest == model.fingerprint and model.ref in r.stdout


def test_an_object_changed_behind_lineages_back_is_never_used(tmp_path, s3, monkeypatch):
    lin = _open(tmp_path, s3)
    cleaned, model = _pipeline(tmp_path, lin)
    s3.client().put_object(Bucket=s3.bucket, Key=_key(s3, cleaned.uri), Body=b"tampered")
    monkeypatch.setenv("LINEAGE_CACHE", str(tmp_path / "fresh-cache"))   # another machine: nothing cached
    report = lin.verify()
    assert [(a.id, now) for a, now in report.changed] == \
        [(cleaned.id, "sha256:" + hashlib.sha256(b"tampered").hexdigest())]
    with run(pipeline="reviews", store=lin):
        with pytest.raises(FingerprintError, match=rf"a{cleaned.id} .*not the ones recorded"):
            train(lin.artifact(cleaned.id))
    [failed] = [e for e in lin.executions("train") if e.state == "FAILED"]
    outputs = lin.outputs(failed)
    assert "not the ones recorded" in failed.get("error_message") and "model" not in outputs
    assert outputs["lineage:log"][0].uri.startswith(f"s3://{s3.bucket}/team/train/")   # its log, uploaded too
    assert not list((tmp_path / "fresh-cache" / "objects").rglob("cleaned"))   # nothing wrong kept


def test_remote_data_is_fingerprinted_when_registered(tmp_path, s3):
    c = s3.client()
    c.put_object(Bucket=s3.bucket, Key="raw/2026/part-0.csv", Body=b"a,b\n1,2\n")
    c.put_object(Bucket=s3.bucket, Key="raw/2026/part-1.csv", Body=b"a,b\n3,4\n")
    lin = _open(tmp_path, s3)
    folder = lin.register(Dataset.at(f"s3://{s3.bucket}/raw/2026"))
    local = tmp_path / "copy"
    local.mkdir()
    (local / "part-0.csv").write_bytes(b"a,b\n1,2\n")
    (local / "part-1.csv").write_bytes(b"a,b\n3,4\n")
    assert folder.fingerprint == fingerprint(local).digest and folder.get("file_count") == 2
    assert lin.register(Dataset.at(f"s3://{s3.bucket}/raw/2026")).id == folder.id   # same bytes, same artifact
    c.put_object(Bucket=s3.bucket, Key="raw/2026/part-1.csv", Body=b"a,b\n3,5\n")
    assert lin.register(Dataset.at(f"s3://{s3.bucket}/raw/2026")).id != folder.id   # changed: a new one


def test_doctor_finds_and_removes_what_a_killed_upload_left(tmp_path, s3, monkeypatch):
    lin = _open(tmp_path, s3)
    _pipeline(tmp_path, lin)
    c = s3.client()
    c.put_object(Bucket=s3.bucket, Key="team/train/20200101T000000-0badc0de/model/part", Body=b"half")
    before = set(s3.objects(s3.bucket))
    monkeypatch.setenv("LINEAGE_UPLOAD_GRACE", "60")
    report, _ = lin.doctor(check_files=False)
    assert [(f.kind, f.ref) for f in report.findings] == \
        [("unfinished-upload", f"s3://{s3.bucket}/team/train/20200101T000000-0badc0de")]
    report, doctor = lin.doctor(fix=True, check_files=False)
    assert f"s3://{s3.bucket}/team/train/20200101T000000-0badc0de DELETED" in doctor.get("closed")
    assert set(s3.objects(s3.bucket)) == before - {"team/train/20200101T000000-0badc0de/model/part"}
    assert lin.verify().clean                                               # every recorded byte is still there


def test_a_step_killed_mid_upload_records_no_output(tmp_path, s3):
    """The body returns, the upload starts, the process dies: no output is recorded."""
    store = f"sqlite:///{tmp_path / 'store' / 'metadata.sqlite'}"
    code = textwrap.dedent(f"""
        import os, lineage.objects as o
        from lineage import Lineage, Output, run, step
        from lineage.types import Model
        real = o.filesystem
        def dying_filesystem(uri):
            fs, path = real(uri)
            class Dying:
                def put(self, lpaths, rpaths):   # the first file lands, then the process is killed
                    fs.put(lpaths[:1], rpaths[:1])
                    os._exit(9)
                def __getattr__(self, name):
                    return getattr(fs, name)
            return Dying(), path
        o.filesystem = dying_filesystem
        @step
        def train(model: Output[Model]):
            model.path.mkdir()
            (model.path / "a.bin").write_bytes(b"a" * 1000)
            (model.path / "b.bin").write_bytes(b"b" * 1000)
        with run(pipeline="p", store=Lineage.open({store!r}, artifact_root="s3://{s3.bucket}/team")):
            train()
    """)
    env = {**os.environ}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 9, p.stderr
    keys = set(s3.objects(s3.bucket))
    assert any(k.endswith("/model/a.bin") for k in keys)                    # half an upload is there...
    lin = Lineage.open(store, readonly=True)
    assert lin.artifacts("Model", limit=None) == []                          # ...and recorded nowhere


def test_bad_object_stores_are_one_clear_line(tmp_path, s3, monkeypatch):
    raw = tmp_path / "r.csv"
    raw.write_text("abcdef\n")
    lin = Lineage.open(f"sqlite:///{tmp_path / 's' / 'm.sqlite'}", artifact_root="s3://no-such-bucket-here/x")
    with run(pipeline="bad", store=lin):
        with pytest.raises(ObjectStoreError, match="s3://no-such-bucket-here/x/clean/.*the bucket does not exist"):
            clean(Dataset.at(raw))
    [failed] = lin.executions("clean")
    assert failed.state == "FAILED" and not lin.outputs(failed)
    assert list(lin.artifact_root.rglob("cleaned"))                         # the staged output is kept to retry
    good = _open(tmp_path, s3, "good")
    _pipeline(tmp_path, good)
    home = tmp_path / "empty-home"
    home.mkdir()
    no_creds = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "HOME": str(home),
                "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"), "AWS_CONFIG_FILE": str(home / "none"),
                "AWS_EC2_METADATA_DISABLED": "true", "LINEAGE_CACHE": str(tmp_path / "c3")}
    r = cli("verify", "--store", good.uri, env=no_creds)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no credentials found" in r.stderr and f"s3://{s3.bucket}/team/" in r.stderr
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")            # nothing answers there
    with pytest.raises(ObjectStoreError, match="cannot reach the object store at http://127.0.0.1:9"):
        Lineage.open(f"sqlite:///{tmp_path / 's2' / 'm.sqlite'}").register(Dataset.at(f"s3://{s3.bucket}/x"))
    with pytest.raises(InvalidInput, match="names no bucket"):
        Lineage.open(f"sqlite:///{tmp_path / 's3' / 'm.sqlite'}", artifact_root="s3://")


def test_a_denied_write_is_one_clear_line_and_records_no_output(tmp_path, monkeypatch, s3_iam_server):
    """Credentials that may read the bucket but not write it (moto checking IAM policies)."""
    import fsspec

    server = s3_iam_server
    bucket = server.new_bucket()
    reader = server.reader()
    for k, v in reader.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LINEAGE_CACHE", str(tmp_path / "cache"))
    fsspec.config.conf.clear()
    raw = tmp_path / "r.csv"
    raw.write_text("abcdef\n")
    lin = Lineage.open(f"sqlite:///{tmp_path / 's' / 'm.sqlite'}", artifact_root=f"s3://{bucket}/team")
    with run(pipeline="denied", store=lin):
        with pytest.raises(ObjectStoreError, match=rf"uploading to s3://{bucket}/team/clean/.*: access denied"):
            clean(Dataset.at(raw))
    [failed] = lin.executions("clean")
    assert failed.state == "FAILED" and not lin.outputs(failed)
    assert "access denied" in failed.properties["error_message"]
    assert server.objects(bucket, env=reader) == {}                       # nothing reached the bucket


def test_a_full_cache_says_so(tmp_path, s3, monkeypatch):
    lin = _open(tmp_path, s3)
    _, model = _pipeline(tmp_path, lin)
    monkeypatch.setenv("LINEAGE_CACHE", str(tmp_path / "small-cache"))
    monkeypatch.setenv("LINEAGE_CACHE_SIZE", "1K")
    with pytest.raises(CacheFull, match=rf"artifact a{model.id} .* more than the cache may hold .*LINEAGE_CACHE_SIZE"):
        lin.artifact(model.id).path
    monkeypatch.setenv("LINEAGE_CACHE_SIZE", "lots")
    with pytest.raises(InvalidInput, match="LINEAGE_CACHE_SIZE='LOTS' is not a size"):
        lin.artifact(model.id).path


def test_the_cache_evicts_the_least_recently_used(tmp_path, s3, monkeypatch):
    c = s3.client()
    for i in range(3):
        c.put_object(Bucket=s3.bucket, Key=f"d/{i}.bin", Body=bytes([i]) * 4000)
    lin = _open(tmp_path, s3)
    arts = [lin.register(Dataset.at(f"s3://{s3.bucket}/d/{i}.bin")) for i in range(3)]
    monkeypatch.setenv("LINEAGE_CACHE_SIZE", "9000")
    first = lin.artifact(arts[0].id).path
    lin.artifact(arts[1].id).path
    os.utime(first.parent, (1, 1))        # the oldest use
    lin.artifact(arts[2].id).path         # needs room: the first goes
    assert not first.exists() and lin.artifact(arts[1].id).path.exists()
    assert lin.artifact(arts[0].id).path.read_bytes() == bytes([0]) * 4000   # downloaded again when asked


MACHINE_A = '''
import hashlib
from pathlib import Path
from lineage import Input, Output, run, step
from lineage.types import Dataset, Model

@step
def clean(raw: Input[Dataset], cleaned: Output[Dataset]):
    cleaned.path.write_text(raw.path.read_text().upper())

Path("raw.csv").write_text("one\\ntwo\\n")
with run(pipeline="shared", name="run-on-a"):
    out = clean(Dataset.at("raw.csv"))
print(out.ref)
'''

MACHINE_B = '''
import sys
from lineage import Input, Lineage, Output, run, step
from lineage.types import Dataset, Model

@step
def train(data: Input[Dataset], model: Output[Model]):
    model.path.write_text("model of " + data.path.read_text())

lin = Lineage.open()
with run(pipeline="shared", name="run-on-b"):
    m = train(lin.node(sys.argv[1]))
print(m.ref, m.uri)
'''


@pytest.mark.postgresql
def test_two_machines_share_one_record_through_postgresql_and_a_bucket(tmp_path, s3, postgresql):
    """Two working directories with their own homes and caches share only the PostgreSQL store
    and the bucket: B answers provenance, verifies and pulls A's output, and trains on it."""
    shared = {"LINEAGE_STORE": postgresql.uri(postgresql.new_database(), with_password=False),
              "LINEAGE_PG_PASSWORD": postgresql.password, "LINEAGE_ARTIFACTS": f"s3://{s3.bucket}/team",
              **s3.env}

    def machine(name):
        home = tmp_path / name
        (home / "work").mkdir(parents=True)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LINEAGE_", "AWS_"))}, **shared,
               "HOME": str(home), "LINEAGE_CACHE": str(home / "cache")}
        return home / "work", env

    a_dir, a_env = machine("a")
    b_dir, b_env = machine("b")
    ran = subprocess.run([sys.executable, "-c", MACHINE_A], cwd=a_dir, env=a_env, capture_output=True, text=True,
                         timeout=180)
    assert ran.returncode == 0, ran.stderr
    cleaned_ref = ran.stdout.split()[-1]
    r = cli("provenance", cleaned_ref, cwd=b_dir, env=b_env)
    assert r.returncode == 0 and "clean" in r.stdout, r.stderr
    r = cli("verify", cwd=b_dir, env=b_env)
    assert r.returncode == 0 and "0 missing, 0 changed" in r.stdout, r.stdout + r.stderr
    r = cli("pull", cleaned_ref, "got.txt", cwd=b_dir, env=b_env)
    assert r.returncode == 0, r.stderr
    assert (b_dir / "got.txt").read_text() == "ONE\nTWO\n"
    ran = subprocess.run([sys.executable, "-c", MACHINE_B, cleaned_ref], cwd=b_dir, env=b_env, capture_output=True,
                         text=True, timeout=180)
    assert ran.returncode == 0, ran.stderr
    model_ref, model_uri = ran.stdout.split()[-2:]
    assert s3.objects(s3.bucket)[_key(s3, model_uri)] == b"model of ONE\nTWO\n"
    assert not (a_dir.parent / "cache").exists() or not list((a_dir.parent / "cache").rglob("cleaned"))
    lin = Lineage.open(shared["LINEAGE_STORE"].replace("@", f":{postgresql.password}@", 1), readonly=True)
    up = {a.ref for a in lin.upstream(model_ref).artifacts()}
    assert cleaned_ref in up and len(up) == 3            # B's model <- A's cleaned data <- A's raw file
    runs = {c.name for e in lin.upstream(model_ref).executions() for c in lin.contexts(e) if c.type == "PipelineRun"}
    assert runs == {"run-on-a", "run-on-b"}
    # each step's host says where it ran (recorded once on its run, which each machine started)
    steps = lin.upstream(model_ref).executions()
    assert {lin.code_of(e)["host"] for e in steps} == {socket.gethostname()}
    assert all("host" not in e.properties for e in steps)   # a step in a run leaves it to the run
