"""Fingerprints: stable over content, blind to timestamps, streamed."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from lineage.errors import FingerprintError
from lineage.fingerprint import fingerprint


def test_file_fingerprint_is_sha256_of_its_content(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"x,y\n1,2\n")
    fp = fingerprint(p)
    assert fp.digest == "sha256:" + hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    assert (fp.size_bytes, fp.file_count) == (8, 1)
    assert fingerprint(f"file://{p}") == fp


def test_content_change_changes_it_and_touch_does_not(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("one")
    before = fingerprint(p)
    later = time.time() + 3600
    os.utime(p, (later, later))
    os.chmod(p, 0o600)
    assert fingerprint(p) == before
    p.write_text("two")
    assert fingerprint(p) != before


def test_directory_fingerprint_covers_names_and_contents_in_stable_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, order in ((a, ["z.txt", "sub/y.txt", "m.txt"]), (b, ["m.txt", "z.txt", "sub/y.txt"])):
        for name in order:
            f = root / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(name)
    fa, fb = fingerprint(a), fingerprint(b)
    assert fa == fb and fa.file_count == 3
    (b / "sub" / "y.txt").rename(b / "sub" / "y2.txt")   # same bytes, other name
    assert fingerprint(b) != fa
    (b / "sub" / "y2.txt").rename(b / "sub" / "y.txt")
    (b / "empty").mkdir()                                 # empty dirs hold no content
    assert fingerprint(b) == fa
    (b / "m.txt").write_text("changed")
    assert fingerprint(b) != fa


def test_name_content_boundaries_cannot_collide(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "ab").write_text("c")
    (b / "a").write_text("bc")
    assert fingerprint(a) != fingerprint(b)


def test_large_file_is_streamed(tmp_path):
    p = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(p, "wb") as f:
        for _ in range(40):
            f.write(block)
    expected = hashlib.sha256(block * 40).hexdigest()
    fp = fingerprint(p)
    assert fp.digest == "sha256:" + expected and fp.size_bytes == 40 << 20


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FingerprintError, match="does not exist"):
        fingerprint(tmp_path / "nope")
