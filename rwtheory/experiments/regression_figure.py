"""The scaffold of the regression figures (Figure 7, Figure 8, ``r_sensitivity`` and
``max_weight``): a figure module states its runs, its plot and its claims, and one
:class:`RegressionFigure` does the plumbing they share.

A figure module declares ``FIGURE = RegressionFigure(NAME, STEPS, QUICK_STEPS,
OUTLIER_FRACTION)`` (its name, its runs' length by default and when quick, its outliers) and
writes

* its runs: ``configs(...)`` (one :class:`~rwtheory.experiments.common.Config` per curve)
  and ``summarise(grid, ...)`` (its typed ``Summary``); its ``measure(seeds, **setting)``
  -- what the robustness study calls -- is ``FIGURE.run(configs(...), seeds, summarise,
  **setting)``, one batched :func:`~rwtheory.experiments.common.run_grid`;
* its plot: ``plot(axes, table, grid, summary) -> caption`` draws its panels and writes what
  it draws to the :class:`~rwtheory.experiments.common.Table` (the CSV); its
  ``build(seeds=, quick=)`` is ``FIGURE.build(measure, plot, seeds=seeds, quick=quick)``;
* its claims: ``RULES`` (claim key -> status rule, :mod:`rwtheory.experiments.verdict`) and
  ``claims(result)``, whose rows :meth:`RegressionFigure.claim` completes with the status
  the claim's rule gives and the command that regenerates the figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rwtheory.experiments.common import (
    Config,
    Grid,
    draw_figure,
    figure_command,
    run_grid,
    seeds_for,
)
from rwtheory.experiments.verdict import Verdict
from rwtheory.report.claim import Claim
from rwtheory.report.figures import FigureResult

__all__ = ["RegressionFigure"]

S = TypeVar("S")


@dataclass(frozen=True)
class RegressionFigure:
    """What a regression figure's runs, figure and claims share.

    name : the figure's ``NAME`` (its files ``NAME.png/.pdf/.csv``, ``--only NAME``).
    steps, quick_steps : the runs' length by default and in the quick configuration.
    outlier_fraction : the problem's fraction of outliers by default.
    method : ``"gd"`` (full batch) or ``"sgd"`` (minibatches of the setting's
        ``batch_size``), as :func:`rwtheory.convex.engine.run`.
    keep_iterates : keep x_t until the figure is summarised (the training-objective
        records, :func:`rwtheory.experiments.common.training_records`), then free them.
    panels, width : the figure's row of panels, and the width of each in inches.
    """

    name: str
    steps: int
    quick_steps: int
    outlier_fraction: float
    method: str = "gd"
    keep_iterates: bool = False
    panels: int = 2
    width: float = 5.2

    @property
    def command(self) -> str:
        """The command that regenerates the figure (its claims' ``how``)."""
        return figure_command(self.name)

    @property
    def outliers(self) -> str:
        """The default outlier fraction in the words of the captions and claims."""
        return f"{int(self.outlier_fraction * 100)} % outliers"

    def runs_text(self, summary) -> str:
        """The runs of ``summary`` (its ``steps`` and ``seeds``) as the claims state them, at
        the default outliers (e.g. ``"10 % outliers, 2000 steps, 10 seeds"``)."""
        return f"{self.outliers}, {summary.steps} steps, {summary.seeds} seeds"

    def run(
        self,
        configs: Sequence[Config],
        seeds: Sequence[int],
        summarise: Callable[[Grid], S],
        **setting,
    ) -> tuple[Grid, S]:
        """Every config of ``configs`` on every seed of ``seeds`` (one :func:`run_grid`
        call, the figure's ``method``) and ``summarise(grid)``: ``(grid, summary)``.
        ``setting``: arguments of :func:`run_grid` (``steps`` and ``outlier_fraction``,
        the figure's by default; ``lr_unit``, ``batch_size``, ``desc``) and options of
        :func:`rwtheory.convex.problems.regression_with_outliers` (``n``, ``d``, ``noise``,
        ...), which the robustness study varies."""
        defaults = dict(steps=self.steps, outlier_fraction=self.outlier_fraction)
        grid = run_grid(
            configs,
            list(seeds),
            method=self.method,
            keep_iterates=self.keep_iterates,
            **(defaults | setting),
        )
        summary = summarise(grid)
        grid.trajectory.iterates = None  # summarised: frees (runs, T+1, d+1)
        return grid, summary

    def build(
        self,
        measure: Callable[..., tuple[Grid, Any]],
        plot: Callable[[list, Any, Grid, Any], str],
        *,
        seeds: int | None = None,
        quick: bool = False,
    ) -> FigureResult:
        """The figure: ``measure(seed list, steps=, desc=)`` on ``seeds`` seeds (by default
        :data:`~rwtheory.experiments.common.DEFAULT_SEEDS`, or ``QUICK_SEEDS`` when
        ``quick``) for the figure's ``steps`` (``quick_steps`` when ``quick``), then
        ``plot(axes, table, grid, summary)`` on the figure's panels
        (:func:`rwtheory.experiments.common.draw_figure`)."""
        steps = self.quick_steps if quick else self.steps
        grid, summary = measure(seeds_for(seeds, quick), steps=steps, desc=self.name)
        return draw_figure(
            self.name,
            summary,
            lambda axes, table: plot(axes, table, grid, summary),
            panels=self.panels,
            width=self.width,
        )

    def claim(
        self, rules: Mapping[str, Callable[[S], Verdict]], summary: S, key: str, **text
    ) -> Claim:
        """The claim row ``key`` of this figure: its status is what ``rules[key]`` says of
        ``summary`` (the rule the robustness study re-applies), its ``how`` the figure's
        command; ``text``: the row's words (``section``, ``paper``, ``quoted``, ``ours``,
        ``number``; :class:`rwtheory.report.claim.Claim`)."""
        return Claim(key=key, how=self.command, status=rules[key](summary).status, **text)
