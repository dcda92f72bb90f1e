"""Atomic file output: a crashed or interrupted run never leaves a half-written file, a
figure never shows its PNG from one run next to its CSV from another, and a killed run's
temporary files are removed by the next run.

* :func:`atomic_write_bytes` writes one file: its bytes go into a temporary file in the
  destination's own folder, which is then ``os.replace``-d onto the destination (atomic on
  POSIX and Windows within one filesystem).
* :func:`write_files_atomically` writes a *set* of files into one folder (a figure's PNG, PDF
  and CSV) all or nothing. The set is first written, in full, into a staging folder next to
  the destinations; existing destinations are hard-linked into it as backups; a ``COMMIT``
  marker is created, and only then is each file renamed into place -- with SIGINT and
  SIGTERM held for those few renames (:func:`_signals_deferred`), so that Ctrl-C,
  ``timeout``, Slurm or a container stop cannot fall between two of them. Creating and
  registering a temporary (and removing it) is held the same way, so a handled signal never
  leaves one behind; writing the files themselves is not held (an interrupt there just
  drops the staging folder). If a rename fails, the renamed files are rolled back
  from the backups. Only SIGKILL (or a power cut) can stop the process between two renames:
  the staging folder then still holds the ``COMMIT`` marker and the files not yet renamed,
  and the next write into that folder (or :func:`remove_stale_temporaries`) rolls the set
  *forward*, so that the set is again the complete new one. A staging folder without the
  marker is simply deleted (nothing was renamed yet).
* Temporary names are ``.rwtheory-tmp.<pid>.<random>...`` (ignored by git, see
  ``.gitignore``). Every writer first removes the temporaries in its folder whose process is
  gone (:func:`remove_stale_temporaries`); those of a live process -- another run writing
  into the same folder -- are left alone. Assumption: the folder is not shared between
  machines (a pid names a process on this machine only).
* :func:`sigterm_as_interrupt` makes SIGTERM raise ``KeyboardInterrupt`` (a subclass,
  :class:`Terminated`), so that the same clean-up runs for both signals.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TypeVar

__all__ = [
    "TEMP_PREFIX",
    "Terminated",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_path",
    "csv_bytes",
    "remove_stale_temporaries",
    "sigterm_as_interrupt",
    "write_files_atomically",
]

#: Prefix of every temporary file or staging folder (``.gitignore`` has ``.rwtheory-tmp.*``).
TEMP_PREFIX = ".rwtheory-tmp."
#: Marker file of a staging folder whose renames have begun (roll forward, never back).
COMMIT_MARKER = "COMMIT"
_BACKUPS = "backups"
#: Temporary files of this module's earlier versions (``.NAME.XXXXXXXX.tmp``, mkstemp's 8
#: random characters); they carry no pid, so they are removed whenever found.
_LEGACY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
#: A path as the writers accept it (a mapping's key type is invariant: ``dict[Path, bytes]`` and
#: ``dict[str, bytes]`` are both accepted through this variable).
_PathT = TypeVar("_PathT", bound="str | os.PathLike[str]")


def _default_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 minus the process umask
    (``os.umask`` can only be read by setting it, so it is set and restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _mode_for(path: Path) -> int:
    return path.stat().st_mode & 0o7777 if path.exists() else _default_mode()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or we cannot tell: keep it)
    return True


def _owner_pid(name: str) -> int | None:
    """The pid in a temporary's name, or None when the name is not one of ours."""
    if not name.startswith(TEMP_PREFIX):
        return None
    head = name[len(TEMP_PREFIX) :].split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _roll_forward(stage: Path, folder: Path) -> None:
    """Finish the renames of a staging folder whose commit had begun."""
    for item in sorted(stage.iterdir()):
        if item.is_file() and item.name != COMMIT_MARKER:
            os.replace(item, folder / item.name)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of dead processes from ``folder`` (rolling a committed set
    forward first; see the module docstring) and this module's legacy ``.NAME.XXXX.tmp``
    files. Returns what was removed. A missing folder has nothing to remove."""
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return removed
    for entry in entries:
        pid = _owner_pid(entry.name)
        legacy = pid is None and _LEGACY.match(entry.name) and entry.is_file()
        if not legacy and (pid is None or _pid_alive(pid)):
            continue
        if entry.is_dir():
            if (entry / COMMIT_MARKER).exists():
                _roll_forward(entry, folder)
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.chmod(path, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``), after removing
    stale temporaries from the destination's folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    with _signals_deferred():  # the temporary exists only inside the try below
        fd, tmp = tempfile.mkstemp(
            prefix=f"{TEMP_PREFIX}{os.getpid()}.", suffix=f".{path.name}", dir=path.parent
        )
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (or keep the
        # mode of the file it replaces)
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def csv_bytes(columns: Mapping[str, Sequence], *, float_format: str = "{:.10g}") -> bytes:
    """A CSV (header + rows) of equal-length ``columns`` as bytes, floats formatted with
    ``float_format`` so that the same numbers always give the same bytes."""
    names = list(columns)
    lengths = {len(columns[k]) for k in names}
    if len(lengths) > 1:
        sizes = {k: len(columns[k]) for k in names}
        raise ValueError(f"columns must have equal lengths, got {sizes}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for row in zip(*(columns[k] for k in names), strict=True):
        writer.writerow([float_format.format(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue().encode("utf-8")


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration: their Python-level handlers are replaced by
    one that only records the signal, and the recorded signal is handed to the original
    handler when the block ends (so Ctrl-C still raises ``KeyboardInterrupt``, just after
    the block). Replacing the handlers, rather than masking the signals, also covers a
    signal delivered to another thread (torch's, tqdm's): CPython runs every Python-level
    handler in the main thread. Outside the main thread, where handlers cannot be set,
    nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if received:
            handler = old[signal.Signals(received[0])]  # the handler of the first one held
            if callable(handler):
                handler(received[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(received[0])


def _commit(stages: dict[Path, list[Path]]) -> None:
    """Rename the staged files onto their targets (``stage -> targets`` of its folder):
    first every stage gets its COMMIT marker, then the renames; on failure the renamed
    targets are rolled back from the backups and the markers removed."""
    done: list[tuple[Path, Path]] = []
    with _signals_deferred():
        for stage in stages:
            (stage / COMMIT_MARKER).touch()
        try:
            for stage, targets in stages.items():
                for target in targets:
                    os.replace(stage / target.name, target)
                    done.append((stage, target))
        except BaseException:
            for stage, target in reversed(done):
                backup = stage / _BACKUPS / target.name
                if backup.exists():
                    os.replace(backup, target)
                else:
                    target.unlink()
            for stage in stages:
                (stage / COMMIT_MARKER).unlink()
            raise


def _fill(stage: Path, items: list[tuple[Path, bytes]]) -> None:
    """Write the new files and backups of the old ones into the staging folder ``stage``
    (signals stay live: an interrupt here leaves the destinations untouched)."""
    (stage / _BACKUPS).mkdir()
    for target, data in items:
        _write_new_file(stage / target.name, data, _mode_for(target))
        if target.exists():
            try:
                os.link(target, stage / _BACKUPS / target.name)
            except OSError:  # no hard links here: a copy
                shutil.copy2(target, stage / _BACKUPS / target.name)


def write_files_atomically(files: Mapping[_PathT, bytes]) -> list[Path]:
    """Write several already-rendered files as a set: afterwards either all of them hold the
    new bytes, or (an error or a signal before the commit) none was touched. Each folder
    involved gets its own staging folder; see the module docstring for how, and for the
    one case (SIGKILL during the renames) that the next write into the folder completes."""
    targets = [Path(p) for p in files]
    if len(set(targets)) != len(targets):
        raise ValueError("files must have distinct paths")
    by_folder: dict[Path, list[tuple[Path, bytes]]] = {}
    for target, data in zip(targets, files.values(), strict=True):
        by_folder.setdefault(target.parent, []).append((target, data))
    stages: dict[Path, list[Path]] = {}
    try:
        for folder, items in by_folder.items():
            folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(folder)
            with _signals_deferred():  # a staging folder is never created unregistered
                stage = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}.", dir=folder))
                stages[stage] = [t for t, _ in items]
            _fill(stage, items)
        _commit(stages)
        for folder in by_folder:
            _fsync_folder(folder)
    finally:
        with _signals_deferred():
            _drop_stages(stages)
    return targets


def _drop_stages(stages: dict[Path, list[Path]]) -> None:
    """Remove the staging folders, except one whose rollback failed half-way (its COMMIT
    marker and some files remain): the next run rolls that one forward."""
    for stage, staged in stages.items():
        if not (stage / COMMIT_MARKER).exists() or all(
            not (stage / t.name).exists() for t in staged
        ):
            shutil.rmtree(stage, ignore_errors=True)


# ----------------------------------------------------------------------------- signals
class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM inside :func:`sigterm_as_interrupt`."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main
    thread, so that ``finally`` blocks and the writers' clean-up run as on Ctrl-C. Outside
    the main thread (where handlers cannot be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# ----------------------------------------------------------------------------- paths
def _first_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_output_path(path: str | os.PathLike, *, folder: bool) -> str | None:
    """Why ``path`` cannot receive this program's output, or None when it can: the problem
    in words (the caller names the argument). ``folder``: the path is a folder to write
    into; else a file. Checked without computing anything: the path is not empty; it is not
    a file where a folder is expected (or a folder where a file is); its nearest existing
    ancestor is a folder; and a temporary file can be created (and is removed at once) in
    that ancestor -- which catches read-only filesystems and pseudo-filesystems such as
    ``/proc`` that permission bits alone would not."""
    text = os.fspath(path)
    if text == "":
        return "must not be empty (use '.' for the current folder)"
    p = Path(text)
    if folder and p.exists() and not p.is_dir():
        return f"{text!r} exists and is not a folder"
    if not folder and p.is_dir():
        return f"{text!r} is a folder; expected a file name"
    base = _first_existing(p if folder else p.parent)
    if not base.is_dir():
        return f"{text!r} cannot be created: {str(base)!r} is a file, not a folder"
    with _signals_deferred():  # the probe never outlives this block
        try:
            fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}.", dir=base)
        except OSError as exc:
            return (
                f"{text!r} is not writable: cannot create a file in {str(base)!r} ({exc.strerror})"
            )
        os.close(fd)
        os.unlink(tmp)
    return None
