"""Atomic file output (rwtheory.report.files): a failed write leaves the old file and no
temporary, new files get the usual mode, and CSV bytes depend only on the numbers."""

import math
import os

import pytest

from rwtheory.report.files import atomic_write_bytes, csv_bytes, write_files_atomically


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temp left over


def test_atomic_write_gives_new_files_the_usual_mode_and_keeps_an_existing_one(tmp_path):
    mask = os.umask(0o022)
    try:
        new = atomic_write_bytes(tmp_path / "new.txt", b"x")
        assert new.stat().st_mode & 0o777 == 0o644
        old = tmp_path / "old.txt"
        old.write_bytes(b"a")
        old.chmod(0o640)
        atomic_write_bytes(old, b"b")
        assert old.stat().st_mode & 0o777 == 0o640 and old.read_bytes() == b"b"
    finally:
        os.umask(mask)


def test_write_files_atomically_writes_all(tmp_path):
    paths = write_files_atomically({tmp_path / "a.txt": b"1", tmp_path / "sub" / "b.txt": b"2"})
    assert [p.read_bytes() for p in paths] == [b"1", b"2"]


def test_csv_bytes_are_deterministic_and_checked():
    cols = {"step": [0, 1], "loss": [0.1 + 0.2, math.pi]}
    assert csv_bytes(cols) == b"step,loss\n0,0.3\n1,3.141592654\n"
    with pytest.raises(ValueError, match="columns must have equal lengths"):
        csv_bytes({"a": [1], "b": [1, 2]})
