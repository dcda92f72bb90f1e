"""Theory vs practice (issue 26): does Theorems 1-2's factor Gamma predict the measured
speed-up over uniform weights where the theorems apply, and what does Figure 7 show on the
quantity the theorems bound?

Regenerate with ``rwtheory figures --only theory_vs_practice [--quick]`` (``--seeds`` sets
the seeds of the Figure 7 panels; the study's instances are fixed by its seed 0).

Panels: (a) the paper form's predicted factor (min Gamma_t, the theorem's Gamma) against the
measured steps speed-up, per pair where that form applies, coloured by algorithm; (b) the
same for the sharp form, coloured by the step-size regime; (c) Figure 7's runs on the
unweighted training objective, f(x_t) - f* over f(x_0) - f* (seed mean); (d) the same runs'
||x_t - x*_clean||^2 (seed mean), which the clean test MSE tracks. The computation is
:func:`rwtheory.theory.practice.study` and :func:`rwtheory.experiments.fig7.summarise` with
:func:`rwtheory.experiments.common.training_records`; the rows and their status rules are in
:mod:`rwtheory.report.providers.practice`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rwtheory.experiments import fig7
from rwtheory.experiments.common import (
    SUBOPTIMALITY_FLOOR,
    Grid,
    new_figure,
    problem_text,
    seeds_for,
    training_records,
)
from rwtheory.report import claim
from rwtheory.report.figures import FigureResult
from rwtheory.report.providers import practice as rows
from rwtheory.theory import practice

NAME = "theory_vs_practice"
COMMAND = "rwtheory figures --only theory_vs_practice"
#: The ids of the claims of :func:`claims` (the rows marked "error" if building raises).
CLAIM_KEYS = (
    "intro.faster_convergence.convex",
    "thm1_2.predicts_speedup",
    "fig7.training_objective",
)
#: The study's configuration (instances, steps); the bootstrap resamples are the rules'.
STUDY, QUICK_STUDY = (400, 200), (30, 60)
QUICK_RESAMPLES = 200
#: The pair table's columns written beside the plotted points of panels (a) and (b).
PAIR_COLUMNS = (
    "algorithm",
    "scheme",
    "family",
    "r",
    "loss",
    "step",
    "step_factor",
    "condition",
    "row_spread",
    "batch",
    "route",
    "n",
    "d",
    "seed",
    "gamma_mean",
    "gamma_min",
    "speedup_steps",
    "speedup_final",
    "predicted_paper_min",
    "predicted_paper_mean",
    "predicted_sharp_min",
    "predicted_sharp_mean",
)


@dataclass(frozen=True)
class Summary:
    """The study (:class:`rwtheory.theory.practice.PracticeStudy`) and Figure 7 at its own
    setting with the training-objective fields (:class:`rwtheory.experiments.fig7.Summary`)
    and its decomposition records (:func:`rwtheory.experiments.fig7.decomposition`)."""

    study: practice.PracticeStudy
    fig7: fig7.Summary
    records: tuple


def figure7_runs(seeds: list[int], steps: int) -> tuple[Grid, fig7.Summary, dict]:
    """Figure 7's own runs (:func:`rwtheory.experiments.fig7.measure` at its configs, rate,
    temperature and outliers): the grid, its summary and the training-objective records
    (:func:`rwtheory.experiments.common.training_records`, kept with the grid)."""
    grid, summary = fig7.measure(seeds, steps=steps)
    return grid, summary, training_records(grid)


def build(*, seeds: int | None = None, quick: bool = False) -> FigureResult:
    count, steps = QUICK_STUDY if quick else STUDY
    resamples = QUICK_RESAMPLES if quick else rows.RESAMPLES
    study = practice.study(count, steps=steps, seed=0, resamples=resamples)
    seed_ids = seeds_for(seeds, quick)
    grid, f7, records = figure7_runs(seed_ids, fig7.QUICK_STEPS if quick else fig7.STEPS)
    fig, axes = new_figure(4, width=4.6, height=4.0)
    columns = _scatter(axes[0], axes[1], study)
    _curves(axes[2], axes[3], grid, records, columns)
    fig.tight_layout()
    c = study.correlations
    caption = (
        f"Theory vs practice (issue 26). (a), (b): {len(study.table['algorithm'])} pairs from "
        f"{study.count} interpolating instances of the randomised checks (least squares, "
        f"Huber, log-cosh; GD, minibatch SGD, heavy ball; the paper's strategies at r in "
        f"{list(practice.TEMPERATURES)}, DRO-KL, KL-capped), {study.steps} steps, each run "
        f"paired with uniform on the same instance, start x_0 = 0, step and batches. x: the "
        f"bound's predicted factor (uniform's rate bound over the reweighted run's, min "
        f"Gamma_t), (a) paper form where it applies, (b) sharp form; y: measured speed-up "
        f"(geometric mean of the ratio of steps to a_0 10^-k, k = 1..8). Spearman (a) "
        f"{c['paper', 'min', 'steps'].rho:.3f}, (b) {c['sharp', 'min', 'steps'].rho:.3f}. "
        f"(c), (d): Figure 7's runs (GD, lr={fig7.LR:g}, r={fig7.TEMPERATURE:g}, "
        f"{len(seed_ids)} seeds, {grid.steps} steps; {problem_text(grid.problem_params)}) on "
        f"the unweighted training objective f(x_t) - f* relative to f(x_0) - f* (f* its "
        f"least-squares minimum) and ||x_t - x*_clean||^2 (x*_clean the clean data's "
        f"parameters), seed means."
    )
    return FigureResult(
        NAME, fig, columns, caption, Summary(study, f7, tuple(fig7.decomposition(f7)))
    )


def _scatter(ax_a, ax_b, study) -> dict[str, list]:
    """Panels (a) and (b); returns the CSV's columns for their points."""
    t = study.table
    y = np.asarray(t["speedup_steps"], float)
    cols: dict[str, list] = {k: [] for k in ("panel", "series", "x", "y", *PAIR_COLUMNS)}
    for ax, panel, form, by in ((ax_a, "a", "paper", "algorithm"), (ax_b, "b", "sharp", "step")):
        x = np.asarray(t[f"predicted_{form}_min"], float)
        ok = np.isfinite(x) & np.isfinite(y)
        for level in dict.fromkeys(np.asarray(t[by], dtype=object)[ok]):
            m = ok & (np.asarray(t[by], dtype=object) == level)
            ax.scatter(x[m], y[m], s=9, alpha=0.6, label=f"{level} ({int(m.sum())})")
            for i in np.flatnonzero(m):
                _point(cols, panel, str(level), x[i], y[i], {k: t[k][i] for k in PAIR_COLUMNS})
        c = study.correlations[form, "min", "steps"]
        ax.axhline(1.0, color="0.5", lw=0.8)
        ax.axvline(1.0, color="0.5", lw=0.8)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=f"predicted factor ({form} form, min Γ_t)",
            ylabel="measured speed-up (steps to a_0 10^-k)",
        )
        ax.set_title(
            f"({panel}) {form} form: Spearman {c.rho:.2f} [{c.low:.2f}, {c.high:.2f}]",
            fontsize=9,
        )
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, title=by, title_fontsize=7)
    return cols


def _point(cols: dict[str, list], panel: str, series: str, x, y, pair: dict) -> None:
    """One plotted point as a row of the CSV's columns ``cols``; ``pair``: its values of
    :data:`PAIR_COLUMNS` (empty when not given)."""
    cols["panel"].append(panel)
    cols["series"].append(series)
    cols["x"].append(float(x))
    cols["y"].append(float(y))
    for k in PAIR_COLUMNS:
        cols[k].append(pair.get(k, ""))


def _curves(ax_c, ax_d, grid: Grid, records: dict, cols: dict[str, list]) -> None:
    """Panels (c) and (d), appended to the CSV's columns (pair columns left empty)."""
    t = np.arange(1, grid.steps + 1)
    train0 = records["uniform"]["suboptimality"][:, 0].mean()
    for c in grid.configs:
        sub = records[c.key]["suboptimality"].mean(axis=0)[1:] / train0
        sub = np.where(sub < SUBOPTIMALITY_FLOOR, np.nan, sub)  # below resolution: not drawn
        dist = records[c.key]["clean_distance"].mean(axis=0)[1:]
        for ax, panel, y in ((ax_c, "c", sub), (ax_d, "d", dist)):
            ax.plot(t, y, label=c.label)
            for j in range(t.shape[0]):
                _point(cols, panel, c.label, t[j], y[j], {})
    for ax, label, title in (
        (ax_c, "(f(x_t) - f*) / (f(x_0) - f*)", "(c) Figure 7, unweighted training objective"),
        (ax_d, "||x_t - x*_clean||²", "(d) Figure 7, distance to the clean parameters"),
    ):
        ax.set(xscale="log", yscale="log", xlabel="step t", ylabel=label)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)


# ---------------------------------------------------------------------- the ledger
def claims(result: FigureResult) -> list[claim.Claim]:
    """The rows of :mod:`rwtheory.report.providers.practice` (their status rules there)."""
    s: Summary = result.summary
    return [
        rows.faster_convergence_claim(s.study),
        rows.prediction_claim(s.study),
        rows.training_objective_claim(s.fig7, s.records),
    ]


def details(result: FigureResult) -> str:
    s: Summary = result.summary
    return rows.details(s.study, s.fig7, s.records)


def notes(result: FigureResult) -> list[str]:
    s: Summary = result.summary
    return rows.notes(s.study, s.fig7, s.records)
