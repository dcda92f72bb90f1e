"""One runnable definition per figure or study, and :data:`FIGURES`, the registry of them.

Each figure module exposes ``NAME`` and ``build(*, seeds, quick) ->
rwtheory.report.figures.FigureResult`` (and optionally ``claims(result)``, the paper's
claims its numbers check); ``rwtheory figures --only NAME`` regenerates it. Importing this
package imports every figure module (the LM study imports torch).

A figure's ``FigureResult.summary`` is a frozen dataclass (the module's ``Summary``). The
regression figures with empirical claims (fig7, fig8, r_sensitivity, max_weight) also
expose ``measure(seeds, **setting) -> (Grid, Summary)`` and ``RULES``: claim key -> pure
status rule of the summary (:class:`rwtheory.experiments.verdict.Verdict`), used both by
their ``claims`` (the rows of ``paper_checks.md``) and by the robustness study
(``robustness.py``; the grids in ``robustness_grid.py`` and ``robustness_grids.toml``; the
outputs in ``robustness_report.py`` and ``robustness_plots.py``; ``rwtheory robustness``).
"""

from rwtheory.experiments import (
    fig1,
    fig7,
    fig8,
    lm_pretrain,
    max_weight,
    r_sensitivity,
    theory_vs_practice,
)

__all__ = ["FIGURES"]

#: Figure name -> the module defining it. Order = run order of ``rwtheory figures`` and
#: ``rwtheory reproduce``, and the order of the figures' rows in ``paper_checks.md``.
FIGURES = {
    m.NAME: m
    for m in (fig1, fig7, fig8, r_sensitivity, max_weight, theory_vs_practice, lm_pretrain)
}
