"""One runnable definition per figure or study, and :data:`FIGURES`, the registry of them.

Each figure module exposes ``NAME`` and ``build(*, seeds, quick) ->
rwtheory.report.figures.FigureResult`` (and optionally ``claims(result)``, the paper's
claims its numbers check); ``rwtheory figures --only NAME`` regenerates it. Importing this
package imports no figure module until ``FIGURES`` is read.

A figure's ``FigureResult.summary`` is a frozen dataclass (the module's ``Summary``). The
regression figures with empirical claims (fig7, fig8, r_sensitivity, max_weight) also
expose ``measure(seeds, **setting) -> (Grid, Summary)`` and ``RULES``: claim key -> pure
status rule of the summary (:class:`rwtheory.experiments.verdict.Verdict`), used both by
their ``claims`` (the rows of ``paper_checks.md``) and by the robustness study
(``robustness.py``; the grids in ``robustness_grid.py`` and ``robustness_grids.toml``; the
outputs in ``robustness_report.py`` and ``robustness_plots.py``; ``rwtheory robustness``).
Those four state their runs, their plot and their claims; the plumbing they share (running
the grid, the seeds, the figure and its CSV, the claim rows' status and command) is their
``FIGURE``, a :class:`rwtheory.experiments.regression_figure.RegressionFigure`.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["FIGURES"]

#: The figure modules, in the order of ``rwtheory figures`` and ``rwtheory reproduce`` and of
#: the figures' rows in ``paper_checks.md``.
_FIGURE_MODULES = (
    "fig1",
    "fig7",
    "fig8",
    "r_sensitivity",
    "max_weight",
    "theory_vs_practice",
    "lm_pretrain",
)


def __getattr__(name: str) -> Any:
    """``FIGURES``, figure name -> the module defining it, built on first use: importing
    this package loads no numerical library, so that a worker or the command line can pin
    the CPU code paths first (:mod:`rwtheory.experiments.pins`)."""
    if name == "FIGURES":
        modules = [importlib.import_module(f"{__name__}.{m}") for m in _FIGURE_MODULES]
        globals()["FIGURES"] = value = {m.NAME: m for m in modules}
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
