"""Shared pieces of the convex figures: running a grid of (scheme, seed) runs in one batched
call, the statistics the figures plot and the claims quote (the training-objective facts of
issue 26 among them), the long-format CSV that holds exactly what is drawn, how a figure is
drawn (:func:`draw_figure`, :func:`band`), and the captions' parameter text. The regression
figures use them through :class:`rwtheory.experiments.regression_figure.RegressionFigure`.

Conventions of every figure of the regression problem (stated in every caption):

* start at x_0 = 0; "test MSE" is the mean squared error on the clean held-out set;
* "mean and spread over seeds": the line is the mean over seeds, the band spans the smallest
  to the largest seed at that step (min-max);
* *steps to level*: the first step t at which the seed-mean test MSE is <= the level;
  "never" when it is not reached within the run;
* a run *diverges* at the first iterate whose training loss is non-finite or above 1e10 times
  its initial value (:func:`rwtheory.convex.engine.run`); its curve stops there and is marked.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rwtheory.convex import engine
from rwtheory.convex.problems import regression_with_outliers, seed_list
from rwtheory.convex.schemes import Scheme
from rwtheory.report.figures import FigureResult
from rwtheory.report.providers import practice as practice_rules
from rwtheory.theory.pairing import distance_to, unweighted_optimum

#: Default number of seeds of every figure (the issue asks for >= 10).
DEFAULT_SEEDS = 10
#: Seeds of the quick configurations (tests).
QUICK_SEEDS = 3


def seeds_for(seeds: int | None, quick: bool) -> list[int]:
    """The seed list of a figure: ``seeds`` (an int >= 1, a count) or the default."""
    if seeds is None:
        seeds = QUICK_SEEDS if quick else DEFAULT_SEEDS
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    return seed_list(seeds)


@dataclass
class Config:
    """One curve of a figure: a scheme run at a learning rate."""

    key: str
    scheme: Scheme
    lr: float
    label: str = ""

    def __post_init__(self):
        if not self.label:
            self.label = self.scheme.label


@dataclass
class Grid:
    """The result of running every config on every seed (one batched call)."""

    configs: list[Config]
    seeds: list[int]
    trajectory: engine.Trajectory
    problem_params: dict
    method: str
    steps: int
    batch_size: int | None = None
    extra: dict = field(default_factory=dict)

    def rows_of(self, key: str) -> slice:
        """The runs of config ``key`` among the trajectory's (configs x seeds) runs."""
        i = [c.key for c in self.configs].index(key)
        S = len(self.seeds)
        return slice(i * S, (i + 1) * S)

    def field(self, key: str, name: str) -> np.ndarray:
        """(seeds, T') array of a record for config ``key``."""
        return getattr(self.trajectory, name)[self.rows_of(key)]

    def diverged_at(self, key: str) -> np.ndarray:
        """(seeds,) step at which each seed of config ``key`` diverged (-1: it did not)."""
        return self.field(key, "diverged_at")

    def diverged(self, key: str) -> int:
        """How many seeds of config ``key`` diverged."""
        return int((self.diverged_at(key) >= 0).sum())


#: Units of :attr:`Config.lr`: an absolute step size, or a multiple of 1/L with
#: L = lambda_max(A^T A / n) of each seed's training set (so ``lr=0.5`` means 0.5/L).
LR_UNITS = ("absolute", "1/L")


def run_grid(
    configs: Sequence[Config],
    seeds: list[int],
    *,
    steps: int,
    method: str = "gd",
    batch_size: int | None = None,
    desc: str | None = None,
    lr_unit: str = "absolute",
    keep_iterates: bool = False,
    **problem_kwargs,
) -> Grid:
    """Every config on every seed of the regression-with-outliers problem, one call of
    :func:`rwtheory.convex.engine.run` (runs of one seed share their data, their GEMMs and, for
    SGD, their minibatches). ``desc``: label of a progress bar (:func:`progress_bar`).
    ``lr_unit``: one of :data:`LR_UNITS`. ``keep_iterates``: also keep x_t (for
    :func:`training_records`); the problem is kept in ``Grid.extra["problem"]``."""
    if lr_unit not in LR_UNITS:
        raise ValueError(f"lr_unit must be one of {LR_UNITS}, got {lr_unit!r}")
    problem = regression_with_outliers(seeds, **problem_kwargs)
    S = len(seeds)
    schemes = [c.scheme for c in configs for _ in range(S)]
    rows = np.tile(np.arange(S), len(configs))
    lr = np.repeat([c.lr for c in configs], S)
    if lr_unit == "1/L":
        lr = lr / problem.smoothness()[rows]
    update, close = progress_bar(steps, desc) if desc else (None, lambda: None)
    try:
        tr = engine.run(
            problem,
            schemes,
            method=method,
            lr=lr,
            steps=steps,
            batch_size=batch_size,
            rows=rows,
            keep_iterates=keep_iterates,
            progress=update,
        )
    finally:
        close()
    return Grid(
        list(configs),
        list(seeds),
        tr,
        dict(problem.params),
        method,
        steps,
        batch_size,
        extra=dict(problem=problem),
    )


def training_records(grid: Grid) -> dict[str, dict[str, np.ndarray]]:
    r"""Config key -> the records beside the clean test MSE that tell optimisation from what
    is measured (issue 26), each (seeds, T+1): ``suboptimality`` :math:`f(x_t) - f^\star`,
    f the *unweighted* training objective (outliers included) and :math:`f^\star` its
    minimum (:func:`rwtheory.theory.pairing.unweighted_optimum`), and ``clean_distance``
    :math:`\|x_t - x^\star_{\rm clean}\|^2`, :math:`x^\star_{\rm clean}` the parameters that
    generated the clean data (the problem's ``x_true``). Needs a grid run with
    ``keep_iterates=True``; the records are kept in ``grid.extra["training_records"]``, so
    that they outlive the iterates (which :meth:`RegressionFigure.run
    <rwtheory.experiments.regression_figure.RegressionFigure.run>` frees once the figure is
    summarised). NaN after a run diverged."""
    kept = grid.extra.get("training_records")
    if kept is not None:
        return kept
    tr, problem = grid.trajectory, grid.extra["problem"]
    if tr.iterates is None:
        raise ValueError("training_records needs a grid run with keep_iterates=True")
    _, f_star = unweighted_optimum(problem)
    rows = np.tile(np.arange(len(grid.seeds)), len(grid.configs))
    sub = tr.train_loss - f_star[rows, None]
    dist = distance_to(tr.iterates, problem.x_true[rows])
    records = {}
    for c in grid.configs:
        runs = grid.rows_of(c.key)
        records[c.key] = dict(suboptimality=sub[runs], clean_distance=dist[runs])
    grid.extra["training_records"] = records
    return records


#: f(x_t) - f* is a difference of two numbers of the size of f*, known to ~1e-16 f* and
#: computed with last bits that depend on the BLAS kernels: below this fraction of
#: f(x_0) - f* it is reported as 0 (converged to f* as far as can be told).
SUBOPTIMALITY_FLOOR = 1e-8


def resolved_suboptimality(value: float, initial: float) -> float:
    """``value`` (a final f(x_T) - f*) as reported: 0 below :data:`SUBOPTIMALITY_FLOOR` x
    ``initial`` (f(x_0) - f*), else rounded to 4 significant digits, so that the reported
    number does not depend on the kernels' rounding (NaN stays NaN)."""
    if not math.isfinite(value):
        return value
    if abs(value) < SUBOPTIMALITY_FLOOR * abs(initial):
        return 0.0
    return float(f"{value:.4g}")


@dataclass(frozen=True, kw_only=True)
class TrainingFacts:
    r"""What one configuration's runs show beside the clean test MSE (issue 26; the records
    of :func:`training_records`), seed means: ``train_to_level``, the steps at which the
    unweighted training suboptimality :math:`f(x_t) - f^\star` first reaches each level of
    the summary's ``train_levels`` (:func:`training_ladder`; None: never); ``train_final``,
    its final value (:func:`resolved_suboptimality`); ``clean_distance_final``, the final
    :math:`\|x_T - x^\star_{\rm clean}\|^2`. The base of the per-configuration results of
    the figures that record them (Figures 7 and 8); keyword-only, so that a result's own
    fields keep their places."""

    train_to_level: tuple[int | None, ...] = ()
    train_final: float = math.nan
    clean_distance_final: float = math.nan


def training_ladder(records: dict, levels: Sequence[float]) -> tuple[float, tuple[float, ...]]:
    """``(f0, f0 x levels)``: f0 the seed-mean f(x_0) - f* of the ``uniform`` configuration of
    ``records`` (:func:`training_records`; every configuration starts at the same x_0)."""
    train0 = float(records["uniform"]["suboptimality"][:, 0].mean())
    return train0, tuple(f * train0 for f in levels)


def training_facts(record: dict, train_levels: Sequence[float]) -> dict:
    """The :class:`TrainingFacts` of one configuration's ``record`` (an entry of
    :func:`training_records`) on the ladder ``train_levels``, as keyword arguments."""
    sub = record["suboptimality"].mean(axis=0)
    return dict(
        train_to_level=tuple(steps_to_level(sub, lv) for lv in train_levels),
        train_final=resolved_suboptimality(float(sub[-1]), float(sub[0])),
        clean_distance_final=float(record["clean_distance"][:, -1].mean()),
    )


def decomposition_record(strategy: str, v, u, *, test: str = "final", **extra) -> dict:
    """One strategy against uniform (issue 26; read by the robustness study): does it speed
    up the unweighted training objective (:func:`rwtheory.report.providers.practice.
    faster_on_training` on the ``train_to_level`` ladders of ``v`` and ``u``) and does it
    improve the clean test MSE (:func:`rwtheory.report.providers.practice.better_on_test` on
    their attribute ``test``)? With the numbers behind both (and ``extra``)."""
    return dict(
        strategy=strategy,
        faster_on_training=practice_rules.faster_on_training(v.train_to_level, u.train_to_level),
        better_on_test=practice_rules.better_on_test(getattr(v, test), getattr(u, test)),
        numbers=dict(
            train_final=v.train_final,
            uniform_train_final=u.train_final,
            test_final=getattr(v, test),
            uniform_test_final=getattr(u, test),
            clean_distance_final=v.clean_distance_final,
            uniform_clean_distance_final=u.clean_distance_final,
            **extra,
            **{f"train_steps_{k}": t for k, t in enumerate(v.train_to_level)},
            **{f"uniform_train_steps_{k}": t for k, t in enumerate(u.train_to_level)},
        ),
    )


def spread(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over seeds (axis 0) of finite curves."""
    return curves.mean(axis=0), curves.min(axis=0), curves.max(axis=0)


def steps_to_level(curve: np.ndarray, level: float) -> int | None:
    """First index t with ``curve[t] <= level`` (None: never)."""
    hit = np.flatnonzero(np.asarray(curve) <= level)
    return int(hit[0]) if hit.size else None


def fmt_steps(t: int | None) -> str:
    return "never" if t is None else str(t)


def fmt_ladder(steps: Sequence[int | None]) -> str:
    """Steps to the levels of a ladder, ``/``-separated (``"69/161/never"``)."""
    return "/".join(fmt_steps(t) for t in steps)


def fmt(x: float, digits: int = 4) -> str:
    """A number for captions and claims: 4 significant digits, 'nan'/'inf' spelled out."""
    if x is None:
        return "n/a"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


class Table:
    """The long-format CSV of exactly what is plotted: one row per drawn point.

    Columns: ``panel`` (which axes), ``series`` (which line, band or marker), ``x``, ``y``
    and, for bands, ``y_low``/``y_high`` (empty otherwise)."""

    COLUMNS = ("panel", "series", "x", "y", "y_low", "y_high")

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, panel: str, series: str, x, y, low=None, high=None) -> None:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        lo = None if low is None else np.asarray(low, dtype=float)
        hi = None if high is None else np.asarray(high, dtype=float)
        for j in range(x.shape[0]):
            self.rows.append(
                (
                    panel,
                    series,
                    float(x[j]),
                    float(y[j]),
                    "" if lo is None else float(lo[j]),
                    "" if hi is None else float(hi[j]),
                )
            )

    def columns(self) -> dict[str, list]:
        return {name: [r[i] for r in self.rows] for i, name in enumerate(self.COLUMNS)}


def problem_text(params: dict) -> str:
    """The regression problem's parameters for a caption."""
    keys = ("n", "d", "outlier_fraction", "noise", "outlier_feature_scale", "n_test")
    vals = ", ".join(f"{k}={params[k]}" for k in keys)
    seeds = params.get("seeds")
    if seeds is not None:
        uniq = list(dict.fromkeys(seeds))
        vals += f", seeds {uniq[0]}..{uniq[-1]} ({len(uniq)} seeds)"
    return (
        f"Regression with outliers (App. B.1; "
        f"rwtheory.convex.problems.regression_with_outliers: {vals}; clean features "
        f"N(0, I_d), targets theta*^T u + beta* + sigma eps with "
        f"theta* ~ N(0, I_d)/sqrt(d), beta* ~ N(0, 1); outlier features "
        f"N(0, s^2 I_d), outlier targets N(0, 1); model with intercept, d + 1 parameters, "
        f"x_0 = 0)."
    )


def progress_bar(total: int, desc: str):
    """A tqdm bar on stderr when it is a terminal, else a no-op updater."""
    if not sys.stderr.isatty():
        return None, (lambda: None)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False)
    return bar.update, bar.close


def new_figure(ncols: int, width: float = 5.2, height: float = 3.8):
    """A figure of one row of ``ncols`` panels, ``width`` x ``height`` inches each, drawn off
    screen (Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def draw_figure(
    name: str,
    summary,
    draw: Callable[[list, Table], str],
    *,
    panels: int,
    width: float = 5.2,
    height: float = 3.8,
) -> FigureResult:
    """The figure ``name`` as every figure is made: one row of ``panels`` panels
    (:func:`new_figure`); ``draw(axes, table)`` draws them, writes exactly what it draws to
    the :class:`Table` (the CSV) and returns the caption; then a tight layout. ``summary``:
    the numbers the claims read."""
    fig, axes = new_figure(panels, width, height)
    table = Table()
    caption = draw(axes, table)
    fig.tight_layout()
    return FigureResult(name, fig, table.columns(), caption, summary)


def band(
    axis, table: Table, panel: str, label: str, x, mean, low, high, *, alpha=0.2, **line
) -> None:
    """A mean line and its ``low``..``high`` band (in the line's colour, opacity ``alpha``),
    written to ``table`` as the series ``label`` of ``panel``; ``line``: options of the
    line (matplotlib's ``plot``)."""
    (drawn,) = axis.plot(x, mean, label=label, **line)
    axis.fill_between(x, low, high, color=drawn.get_color(), alpha=alpha, lw=0)
    table.add(panel, label, x, mean, low, high)


def figure_command(name: str) -> str:
    """The command that regenerates the figure ``name`` (a claim's ``how``)."""
    return f"rwtheory figures --only {name}"
