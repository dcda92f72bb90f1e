"""Interrupted writes: a figure's files appear together or not at all, killed runs leave
nothing the next run does not remove, SIGTERM gets the same clean-up as SIGINT, and output
paths are checked before anything is computed."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rwtheory import cli
from rwtheory.report import files
from rwtheory.report.files import TEMP_PREFIX, remove_stale_temporaries, write_files_atomically

OLD = {"fig.png": b"old png", "fig.pdf": b"old pdf", "fig.csv": b"old csv"}
NEW = {"fig.png": b"new png", "fig.pdf": b"new pdf", "fig.csv": b"new csv"}


def _write(folder, blobs):
    return write_files_atomically({folder / k: v for k, v in blobs.items()})


def _contents(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_set_is_written_whole(tmp_path):
    _write(tmp_path, OLD)
    assert _contents(tmp_path) == OLD
    _write(tmp_path, NEW)
    assert _contents(tmp_path) == NEW  # and no temporary left behind


def test_a_failing_rename_rolls_the_set_back(tmp_path, monkeypatch):
    _write(tmp_path, OLD)
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the writer dies after the first file is in place
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", flaky)
    with pytest.raises(OSError, match="disk gone"):
        _write(tmp_path, NEW)
    assert _contents(tmp_path) == OLD


def test_a_rollback_also_removes_files_that_did_not_exist(tmp_path, monkeypatch):
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", flaky)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, NEW)
    assert _contents(tmp_path) == {}


def test_an_error_while_staging_touches_nothing(tmp_path, monkeypatch):
    _write(tmp_path, OLD)
    real, count = files._write_new_file, []

    def dies_after_one(path, data, mode):
        count.append(path)
        if len(count) == 2:
            raise KeyboardInterrupt
        return real(path, data, mode)

    monkeypatch.setattr(files, "_write_new_file", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, NEW)
    assert _contents(tmp_path) == OLD


def test_stale_temporaries_are_removed_and_a_begun_commit_is_completed(tmp_path):
    _write(tmp_path, OLD)
    dead = _dead_pid()
    # a killed run that had not begun its commit: dropped
    (tmp_path / f"{TEMP_PREFIX}{dead}.abc").mkdir()
    (tmp_path / f"{TEMP_PREFIX}{dead}.abc" / "fig.png").write_bytes(b"half")
    # a single-file temporary of a killed run and a legacy one: dropped
    (tmp_path / f"{TEMP_PREFIX}{dead}.xyz.fig.csv").write_bytes(b"half")
    (tmp_path / ".fig.csv.a1b2c3d4.tmp").write_bytes(b"half")
    # a run SIGKILLed between its renames: png already in place, pdf and csv not yet
    stage = tmp_path / f"{TEMP_PREFIX}{dead}.def"
    stage.mkdir()
    (stage / files.COMMIT_MARKER).touch()
    (tmp_path / "fig.png").write_bytes(NEW["fig.png"])
    (stage / "fig.pdf").write_bytes(NEW["fig.pdf"])
    (stage / "fig.csv").write_bytes(NEW["fig.csv"])
    # another live run's temporary: kept
    live = tmp_path / f"{TEMP_PREFIX}{os.getppid()}.live"
    live.write_bytes(b"busy")
    removed = remove_stale_temporaries(tmp_path)
    assert len(removed) == 4
    assert _contents(tmp_path) == {**NEW, live.name: b"busy"}


def test_temporaries_are_ignored_by_git(tmp_path):
    root = Path(__file__).resolve().parents[2]
    names = [
        f"figures/{TEMP_PREFIX}123.abc",
        f"{TEMP_PREFIX}9.x.paper_checks.md",
        "figures/.fig1.png.k2j4h5g6.tmp",
    ]
    try:
        out = subprocess.run(
            ["git", "check-ignore", *names], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if out.returncode == 128:
        pytest.skip("not a git checkout")
    assert out.stdout.split() == names


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from rwtheory.report import files
    folder, flag = Path(sys.argv[1]), Path(sys.argv[2])
    real = files._write_new_file
    def slow(path, data, mode):
        real(path, data, mode)
        flag.write_text("staging")
        time.sleep(30)  # the parent kills us here, one file staged
    files._write_new_file = slow
    with files.sigterm_as_interrupt():
        try:
            names = ("fig.png", "fig.pdf", "fig.csv")
            files.write_files_atomically({folder / k: b"new" for k in names})
        except KeyboardInterrupt:
            sys.exit(7)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_write_phase_leaves_the_old_set_and_no_temporary(tmp_path, sig):
    folder = tmp_path / "out"
    _write(folder, OLD)
    flag = tmp_path / "flag"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(flag)])
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 7  # the KeyboardInterrupt path, for both signals
    assert _contents(folder) == OLD


# ------------------------------------------------------------------ CLI output paths
@pytest.fixture
def no_computation(monkeypatch):
    """Make any figure or check computation fail loudly: the path check must come first."""
    from rwtheory.experiments import pool
    from rwtheory.report import ledger

    def boom(*a, **k):
        raise AssertionError("computed before checking the output path")

    monkeypatch.setattr(pool, "process_pool", boom)
    monkeypatch.setattr(ledger, "collect", boom)


@pytest.mark.parametrize(
    "argv,match",
    [
        (["figures", "--only", "fig1", "--out", ""], r"argument --out: must not be empty"),
        (["figures", "--only", "fig1", "--out", "{file}/sub"], r"argument --out: .* is a file"),
        (["figures", "--only", "fig1", "--out", "{file}"], r"argument --out: .* not a folder"),
        (["check", "--only", "cap", "--out", "{dir}"], r"argument --out: .* is a folder"),
        (
            ["check", "--only", "cap", "--out", "/proc/rw_checks.md"],
            r"argument --out: '/proc/rw_checks.md' is not writable",
        ),
        (["check", "--out", ""], r"argument --out: must not be empty"),
        (["reproduce", "--quick", "--figures-out", "{file}"], r"argument --figures-out: .*folder"),
        (["reproduce", "--quick", "--out", "{file}/x.md"], r"argument --out: .* is a file"),
    ],
)
def test_output_paths_are_checked_before_anything_runs(
    tmp_path, capsys, no_computation, argv, match
):
    if "/proc/" in " ".join(argv) and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    afile = tmp_path / "afile"
    afile.write_text("x")
    argv = [a.format(file=afile, dir=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert __import__("re").search(match, capsys.readouterr().err)


def test_a_signal_during_the_renames_is_held_until_the_set_is_complete(tmp_path, monkeypatch):
    """SIGINT arriving between two renames: the set still completes, then Ctrl-C's
    KeyboardInterrupt is raised (the renames are held, not interrupted)."""
    _write(tmp_path, OLD)
    real, calls = os.replace, []

    def replace_and_signal(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # recorded, not raised, inside the commit
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace_and_signal)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, NEW)
    assert len(calls) == 3
    assert _contents(tmp_path) == NEW


def test_a_cli_run_first_removes_what_killed_runs_left(tmp_path, monkeypatch):
    stale = tmp_path / f"{TEMP_PREFIX}{_dead_pid()}.abc"
    stale.mkdir()
    from rwtheory.experiments import pool

    monkeypatch.setattr(
        pool, "process_pool", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
    )
    assert cli.main(["figures", "--only", "fig1", "--out", str(tmp_path)]) == 130
    assert not stale.exists()
