"""Atomic file output: a crashed or interrupted run never leaves a half-written file.

Every writer produces its bytes into a temporary file in the destination's own folder and
then ``os.replace``-s it onto the destination (atomic on POSIX and Windows for one
filesystem). Callers that write several files for one result (PNG + PDF + CSV) render all
of them into memory first, so an error while building the result writes nothing.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "csv_bytes", "write_files_atomically"]


def _default_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 minus the process umask
    (``os.umask`` can only be read by setting it, so it is set and restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (or keep the
        # mode of the file it replaces)
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else _default_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
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


def write_files_atomically(files: Mapping[str | os.PathLike, bytes]) -> list[Path]:
    """Write several already-rendered files, each atomically. All bytes exist before the
    first write, so a failure while rendering leaves every destination untouched."""
    return [atomic_write_bytes(p, b) for p, b in files.items()]
