"""The one way figures are written: :class:`FigureResult` and :func:`save`.

Every figure is defined by one module of :mod:`rwtheory.experiments` (registered in
:data:`rwtheory.experiments.FIGURES`). A definition module exposes::

    NAME: str                      # the figure's name, e.g. "fig7"
    def build(*, seeds: int | None, quick: bool) -> FigureResult
    def claims(result: FigureResult) -> list[rwtheory.report.claim.Claim]   # optional

``build`` runs the computation and draws the figure; it writes nothing. :func:`save` then
renders PNG, PDF and CSV into memory and writes ``NAME.png``, ``NAME.pdf`` and ``NAME.csv``
atomically, so a failure leaves no partial figure behind. ``seeds=None`` means the
definition's documented default; ``quick`` a smaller configuration for tests.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rwtheory.report.files import csv_bytes, write_files_atomically

__all__ = ["FigureResult", "save"]

if TYPE_CHECKING:  # matplotlib is the extra `figures`: not loaded to import this module
    from matplotlib.figure import Figure


@dataclass
class FigureResult:
    """What a figure definition returns: the drawn figure, exactly the plotted numbers
    (equal-length columns), a caption stating every parameter, and the numbers a paper
    check may quote (``summary``: the figure module's frozen ``Summary`` dataclass, a dict
    for the LM study -- its type is the module's own). ``figure`` is None in a result returned
    without its drawing (:func:`rwtheory.experiments.job.figure_task`)."""

    name: str
    figure: Figure | None
    columns: Mapping[str, Sequence]
    caption: str
    summary: Any = field(default_factory=dict)


def save(result: FigureResult, out_dir: str | Path) -> list[Path]:
    """Write ``NAME.png``, ``NAME.pdf`` and ``NAME.csv`` (caption as ``# `` comment lines on top)
    into ``out_dir`` as one set, after all three are rendered in memory: the three appear
    together or not at all (:func:`rwtheory.report.files.write_files_atomically`)."""
    if result.figure is None:
        raise ValueError(f"figure {result.name!r} has no drawing to save (figure=None)")
    import matplotlib

    matplotlib.use("Agg", force=False)
    out = Path(out_dir)
    blobs = {}
    for ext, meta in (
        ("png", {"Software": None}),
        ("pdf", {"CreationDate": None, "Producer": None}),
    ):
        buf = io.BytesIO()
        result.figure.savefig(
            buf, format=ext, metadata=meta, dpi=150 if ext == "png" else None, bbox_inches="tight"
        )
        blobs[out / f"{result.name}.{ext}"] = buf.getvalue()
    header = "".join(f"# {line}\n" for line in result.caption.strip().splitlines())
    blobs[out / f"{result.name}.csv"] = header.encode() + csv_bytes(result.columns)
    import matplotlib.pyplot as plt

    plt.close(result.figure)
    return write_files_atomically(blobs)
