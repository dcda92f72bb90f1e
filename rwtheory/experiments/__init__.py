"""One runnable definition per figure or study (installed as ``rwtheory.experiments``).

Each figure module exposes ``NAME`` and ``build(*, seeds, quick) -> FigureResult`` and is
registered in ``rwtheory.report.figures.FIGURES``; ``python -m rwtheory.experiments.NAME``
or ``rwtheory figures --only NAME`` regenerates it. A figure's ``FigureResult.summary`` is a
frozen dataclass (the module's ``Summary``). The regression figures with empirical claims
(fig7, fig8, r_sensitivity, max_weight) also expose ``measure(seeds, **setting) ->
(Grid, Summary)`` and ``RULES``: claim key -> pure status rule of the summary
(:class:`rwtheory.experiments.verdict.Verdict`), used both by their ``claims`` (the rows of
``paper_checks.md``) and by the robustness study (``robustness.py``, ``robustness_grid.py``
with the grids in ``robustness_grids.toml``, ``robustness_report.py``,
``robustness_plots.py``; ``rwtheory robustness``).
"""
