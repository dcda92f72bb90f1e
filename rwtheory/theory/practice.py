r"""Does the bound predict practice? Theorems 1-2's factor :math:`\Gamma` against the measured
speed-up over uniform weights, where the theorems apply (issue 26).

**Instances.** Those of the randomised checks (:func:`rwtheory.theory.randomised.sample_instances`:
interpolating least squares, Huber and log-cosh problems with b = A x*, n < d included,
condition 1-1e3, row-norm spread 1-300, a proof route, a step of 0.2-3.98 times the paper's
limit :math:`1/(2\hat L)` of that route with the a-priori :math:`\hat L`, a minibatch size),
with the weighting drawn from :data:`SCHEMES` instead: the paper's four strategies at every
temperature of :data:`TEMPERATURES`, DRO-KL at Table 12's temperatures and Proposition 1's
KL-capped weights (no uniform, no adversary: the question is about the paper's weightings).

**Runs.** Every instance runs full-batch GD, minibatch SGD (its batch size; instances whose
batch is the whole set give GD again and are skipped) and full-batch heavy ball (schedule
:func:`rwtheory.theory.theorems.heavy_ball_lambdas` with the a-priori :math:`\rho`,
:math:`\kappa` of :func:`rwtheory.theory.randomised.step_sizes` and :math:`\Gamma = 1` for
weights non-decreasing in the loss, 1/2 for the others, :func:`monotone`), each paired with
uniform weights on the same instance, start :math:`x_0 = 0`, step size, schedule and batches
(:func:`rwtheory.theory.pairing.paired_run`; minibatch heavy ball is left out: its rate holds
in expectation only).

**Measured and predicted.** Speed-ups :func:`rwtheory.theory.pairing.speedups` (steps to the
levels :math:`a_0 10^{-k}`, k = 1..8, and the final gap), > 1 when reweighting was faster. The
predicted factor of a form (:data:`FORMS`) and a statistic (:data:`STATISTICS`) is the ratio of
the rate bounds (:data:`RATES`) at the horizon T, uniform's over the reweighted run's, on the
instance's route, each run's :math:`\Gamma_t` replaced by its min (the theorem's
:math:`\Gamma`) or mean; NaN where a bound's hypotheses fail for either run
(:func:`predicted_factors`). With the same :math:`\eta` for both runs the paper's form is
:math:`\Gamma^{\rm rw}/\Gamma^{\rm u}` (uniform's :math:`\Gamma_t = 1`); the sharp form
multiplies it by :math:`\mu^{\rm rw}/\mu^{\rm u}`, :math:`\mu = \min_t\min(1, 2 - \eta\hat L_t)`,
and heavy ball's average rate by its coefficients' ratio.

**Statistics** (:func:`study`): Spearman's rank correlation with a seeded percentile bootstrap
interval for every (form, statistic, measured speed-up), the share of pairs with mean
:math:`\Gamma_t > 1` that were slower and of those with mean :math:`\Gamma_t < 1` that were
faster, and the regimes where the sign of :math:`\bar\Gamma - 1` gets the sign of the speed-up
wrong (:func:`regimes`). The status rules are in :mod:`rwtheory.report.providers.practice`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from rwtheory.convex.schemes import DROKL, KLCapped, Strategy
from rwtheory.theory import randomised, theorems
from rwtheory.theory.pairing import paired_run, speedups

__all__ = [
    "AXES",
    "FORMS",
    "RATES",
    "SCHEMES",
    "STATISTICS",
    "TEMPERATURES",
    "Correlation",
    "PracticeStudy",
    "RegimeRow",
    "monotone",
    "predicted_factors",
    "regimes",
    "sample_instances",
    "spearman_interval",
    "study",
    "wrong_side",
]

#: Temperatures r of the paper's strategies (GPT-2 0.4, Llama 1 and 2, Fig. 7 1; 0.1 and 5
#: either side).
TEMPERATURES = (0.1, 0.4, 1.0, 2.0, 5.0)
#: The weightings of the study: the paper's strategies over r, DRO-KL at Table 12's
#: temperatures, Proposition 1's KL-capped weights (temperature, cap).
SCHEMES = (
    tuple(
        Strategy(s, r) for s in ("linupper", "upper", "quadratic", "extremes") for r in TEMPERATURES
    )
    + tuple(DROKL(t) for t in (0.4, 1.0, 2.0, 5.0, 10.0))
    + tuple(KLCapped(r, rho) for r, rho in ((0.1, 2.0), (0.5, 2.0), (1.0, 2.0), (1.0, 4.0)))
)
#: Forms of the predicted factor: the paper's rate bounds, and the sharp ones.
FORMS = ("paper", "sharp")
#: Gamma-statistics of the predicted factor: the theorem's min_t Gamma_t, and the mean.
STATISTICS = ("min", "mean")
#: Engine method -> the rate bounds (paper's form, sharp form) of its theorem.
RATES: dict[str, tuple[Callable, Callable]] = {
    "gd": (theorems.gd_rate, theorems.gd_rate_sharp),
    "sgd": (theorems.sgd_rate, theorems.sgd_rate_sharp),
    "heavy_ball": (theorems.heavy_ball_average_rate, theorems.heavy_ball_average_rate_sharp),
}
#: The regime axes of :func:`regimes` (columns of the pair table).
AXES = ("step", "condition", "row_spread", "batch", "r", "family", "loss", "algorithm", "route")
#: A level of an axis is reported with at least this many pairs.
MIN_LEVEL_PAIRS = 10
#: A level's rank correlation is compared with the others' only with at least this many
#: pairs (its standard error is then about 0.14 or less).
MIN_RANK_PAIRS = 50
#: Gamma-bar is "above 1" / "below 1" beyond this (uniform's Gamma_t is 1 up to rounding).
GAMMA_TOL = 1e-9


def monotone(scheme) -> bool:
    """Are the scheme's weights non-decreasing in the loss (then Gamma_t >= 1 by Chebyshev's
    sum inequality)? LinUpper, Upper, DRO-KL and KL-capped are; Quadratic and Extremes not."""
    if isinstance(scheme, Strategy):
        return scheme.strategy in ("linupper", "upper", "uniform")
    return isinstance(scheme, DROKL | KLCapped)


def sample_instances(count: int, seed: int = 0) -> list[randomised.Instance]:
    """``count`` instances of :func:`rwtheory.theory.randomised.sample_instances` (same seed)
    with the weighting drawn uniformly from :data:`SCHEMES` by
    ``numpy.random.default_rng([seed, 26])``."""
    base = randomised.sample_instances(count, seed)
    rng = np.random.default_rng([seed, 26])
    return [replace(i, scheme=SCHEMES[rng.integers(len(SCHEMES))]) for i in base]


def _bound_at_end(rate, trajectory, L_hat, statistic: str) -> np.ndarray:
    """The rate bound at the last horizon (R,), NaN where its hypotheses fail; with
    ``statistic="mean"`` every Gamma_t replaced by the run's mean Gamma_t."""
    if statistic == "mean":
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(trajectory.gamma, axis=1, keepdims=True)
        trajectory = replace(trajectory, gamma=np.broadcast_to(mean, trajectory.gamma.shape))
    b = rate(trajectory, L_hat)
    ok = b.applicable[:, -1] & np.isfinite(b.bound[:, -1]) & (b.bound[:, -1] > 0)
    return np.where(ok, b.bound[:, -1], np.nan)


def predicted_factors(pair, problem, routes) -> dict[tuple[str, str], np.ndarray]:
    """(form, statistic) -> (R,) predicted factor of R pairs (the module docstring): the
    uniform run's rate bound over the reweighted run's, on each pair's route (``routes``,
    "C" or "J" per pair); NaN where either bound does not apply. ``problem`` has one row
    per pair."""
    routes = np.asarray(routes)
    rates = RATES[pair.reweighted.method]
    L_hat = {}
    for side, tr in (("rw", pair.reweighted), ("u", pair.uniform)):
        per_route = {r: theorems.effective_smoothness(problem, tr, r) for r in set(routes)}
        L_hat[side] = np.stack([per_route[r][i] for i, r in enumerate(routes)])
    out = {}
    for form, rate in zip(FORMS, rates, strict=True):
        for stat in STATISTICS:
            b_rw = _bound_at_end(rate, pair.reweighted, L_hat["rw"], stat)
            b_u = _bound_at_end(rate, pair.uniform, L_hat["u"], stat)
            out[form, stat] = b_u / b_rw
    return out


# ------------------------------------------------------------------ runs
def _lambdas(instances, rho, kappa, steps: int) -> list[np.ndarray]:
    """Heavy ball's schedule per instance: :func:`rwtheory.theory.theorems.heavy_ball_lambdas`
    with Gamma = 1 for monotone weights, 1/2 otherwise (at most rho), and the a-priori rho,
    kappa."""
    gam = [1.0 if monotone(i.scheme) else 0.5 for i in instances]
    return [
        theorems.heavy_ball_lambdas(steps, min(g, r), r, k)
        for g, r, k in zip(gam, rho, kappa, strict=True)
    ]


def _pairs(instances, steps: int):
    """Yield (algorithm, pair, problem rows, instances) for a group of instances sharing
    (n, d, loss, loss_scale): GD, SGD (per batch size < n) and full-batch heavy ball (per
    momentum schedule, as the engine takes one schedule per call)."""
    problem = randomised.make_problem(instances)
    n = problem.n
    schemes = [i.scheme for i in instances]
    eta, rho, kappa = randomised.step_sizes(instances, problem, n)
    yield "GD", paired_run(problem, schemes, method="gd", lr=eta, steps=steps), problem, instances
    lams = _lambdas(instances, rho, kappa, steps)
    runs = randomised.heavy_ball_by_schedule(paired_run, problem, schemes, eta, lams, steps)
    for idx, pair, sub in runs:
        yield "heavy ball", pair, sub, [instances[k] for k in idx]
    for b in sorted({i.batch_size for i in instances} - {n}):
        idx = [k for k, i in enumerate(instances) if i.batch_size == b]
        sub, sub_inst = problem.take(idx), [instances[k] for k in idx]
        e_b, _, _ = randomised.step_sizes(sub_inst, sub, b)
        pair = paired_run(
            sub, [i.scheme for i in sub_inst], method="sgd", lr=e_b, steps=steps, batch_size=b
        )
        yield "SGD", pair, sub, sub_inst


def _family(scheme) -> str:
    if isinstance(scheme, Strategy):
        return scheme.strategy
    return "dro_kl" if isinstance(scheme, DROKL) else "kl_capped"


def _step_regime(factor: float) -> str:
    """The a-priori step against the route's limits: the paper's rate needs eta L_hat <= 1/2
    (factor <= 1), the sharp rate eta L_hat <= 1 (factor <= 2), the sharp one-step
    inequality claims a decrease up to eta L_hat < 2."""
    if factor <= 1:
        return "ηL̂ ≤ 1/2"
    return "1/2 < ηL̂ ≤ 1" if factor <= 2 else "1 < ηL̂ < 2"


def _batch_label(b: int, n: int, algorithm: str) -> str:
    if algorithm != "SGD":
        return "full"
    if b in (1, 2):
        return str(b)
    return "n/4" if b == max(1, n // 4) else "n/2"


def _columns(algorithm, pair, problem, instances) -> dict[str, list]:
    """The pair table's columns for the pairs of one engine call."""
    rw, un = pair.reweighted, pair.uniform
    sp = speedups(rw.gap, un.gap)  # on a_t = f(x_t) - f*, for every algorithm
    pred = predicted_factors(pair, problem, [i.route for i in instances])
    with np.errstate(invalid="ignore"):
        g_mean = np.nanmean(rw.gamma, axis=1)
        g_min = np.nanmin(rw.gamma, axis=1)
    cols = dict(
        algorithm=[algorithm] * len(instances),
        scheme=[i.scheme.label for i in instances],
        family=[_family(i.scheme) for i in instances],
        r=[f"{float(i.scheme.temperature):g}" for i in instances],
        loss=[i.loss if i.loss == "squared" else f"{i.loss} {i.loss_scale:g}" for i in instances],
        step=[_step_regime(i.step_factor) for i in instances],
        step_factor=[i.step_factor for i in instances],
        condition=[f"{i.condition:g}" for i in instances],
        row_spread=[f"{i.row_spread:g}" for i in instances],
        batch=[_batch_label(rw.batch_size, i.n, algorithm) for i in instances],
        route=[i.route for i in instances],
        n=[i.n for i in instances],
        d=[i.d for i in instances],
        seed=[i.seed for i in instances],
        gamma_mean=g_mean.tolist(),
        gamma_min=g_min.tolist(),
        speedup_steps=sp.steps.tolist(),
        speedup_final=sp.final.tolist(),
    )
    for (form, stat), v in pred.items():
        cols[f"predicted_{form}_{stat}"] = v.tolist()
    return cols


# ------------------------------------------------------------------ statistics
@dataclass(frozen=True)
class Correlation:
    """Spearman's rank correlation of ``pairs`` pairs and its percentile bootstrap interval
    [low, high] (NaN with fewer than 3 pairs)."""

    pairs: int
    rho: float
    low: float
    high: float


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of every row of x and y (B, N), average ranks for ties;
    NaN for a row of constant ranks."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx -= rx.mean(axis=-1, keepdims=True)
    ry -= ry.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))


def spearman_interval(
    x, y, *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Correlation:
    """Spearman's rank correlation of (x, y) over the entries where both are not NaN, and a
    percentile bootstrap interval: ``resamples`` resamples of the pairs with replacement
    from ``numpy.random.default_rng(seed)`` (resamples with constant ranks are dropped)."""
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be an integer >= 1, got {resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    N = x.size
    if N < 3:
        return Correlation(N, math.nan, math.nan, math.nan)
    rho = float(_spearman_rows(x[None], y[None])[0])
    idx = np.random.default_rng(seed).integers(N, size=(resamples, N))
    boot = _spearman_rows(x[idx], y[idx])
    boot = boot[np.isfinite(boot)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha]) if boot.size else (math.nan, math.nan)
    return Correlation(N, rho, float(low), float(high))


@dataclass(frozen=True)
class RegimeRow:
    """One level of one axis (:data:`AXES`): its pairs, the share of them where the sign of
    mean Gamma_t - 1 gets the sign of log(speed-up) wrong (``wrong``), the median measured
    steps speed-up and mean Gamma_t, and Spearman's correlation of the sharp form's
    predicted factor (min Gamma_t) with the steps speed-up."""

    axis: str
    level: str
    pairs: int
    wrong: float
    median_speedup: float
    median_gamma: float
    spearman: float


def wrong_side(table: dict) -> tuple[np.ndarray, np.ndarray]:
    """(wrong, judged) per pair: judged = the steps speed-up is defined and mean Gamma_t is
    not 1 (beyond :data:`GAMMA_TOL`); wrong = mean Gamma_t > 1 but slower (speed-up < 1), or
    mean Gamma_t < 1 but faster."""
    g = np.asarray(table["gamma_mean"], float)
    s = np.asarray(table["speedup_steps"], float)
    above, below = g > 1 + GAMMA_TOL, g < 1 - GAMMA_TOL
    judged = ~np.isnan(s) & (above | below)
    return judged & ((above & (s < 1)) | (below & (s > 1))), judged


def regimes(table: dict, mask: np.ndarray) -> list[RegimeRow]:
    """Per axis of :data:`AXES` and level (with at least :data:`MIN_LEVEL_PAIRS` judged pairs
    among ``mask``), the :class:`RegimeRow`; levels in order of first appearance."""
    wrong, judged = wrong_side(table)
    use = judged & mask
    s = np.asarray(table["speedup_steps"], float)
    g = np.asarray(table["gamma_mean"], float)
    pred = np.asarray(table["predicted_sharp_min"], float)
    out = []
    for axis in AXES:
        col = np.asarray(table[axis], dtype=object)
        for level in dict.fromkeys(col[use]):
            m = use & (col == level)
            if m.sum() < MIN_LEVEL_PAIRS:
                continue
            both = m & ~np.isnan(pred)
            sp = (
                float(_spearman_rows(pred[both][None], s[both][None])[0])
                if both.sum() > 2
                else math.nan
            )
            out.append(
                RegimeRow(
                    axis,
                    str(level),
                    int(m.sum()),
                    float(wrong[m].mean()),
                    float(np.median(s[m])),
                    float(np.median(g[m])),
                    sp,
                )
            )
    return out


# ------------------------------------------------------------------ the study
@dataclass(frozen=True)
class PracticeStudy:
    """What :func:`study` found.

    Attributes
    ----------
    table : the pair table, column name -> one entry per pair (:func:`_columns`: the
        instance's regime labels, mean and min Gamma_t of the reweighted run, the measured
        speed-ups ``speedup_steps`` / ``speedup_final``, the predicted factors
        ``predicted_<form>_<statistic>``, NaN where the form does not apply).
    correlations : (form, statistic, measure) -> :class:`Correlation`, measure ``"steps"``
        or ``"final"``.
    shares : form -> dict(pairs, above, slower, below, faster): over the pairs where the
        form applies and the steps speed-up is defined, the number with mean Gamma_t > 1 and
        the share of them slower than uniform, the number with mean Gamma_t < 1 and the share
        of them faster.
    regimes : :func:`regimes` over the pairs where the sharp form applies.
    """

    count: int
    steps: int
    seed: int
    resamples: int
    table: dict
    correlations: dict
    shares: dict
    regimes: list
    seconds: float

    def top_regime(self, measure: str = "wrong") -> tuple[str, float, RegimeRow | None]:
        """The axis whose levels spread most (max - min) in ``measure``, a field of
        :class:`RegimeRow`: ``"wrong"`` (the wrong-side share; returns the level with the
        largest share) or ``"spearman"`` (levels with at least :data:`MIN_RANK_PAIRS` pairs;
        returns the level with the weakest correlation); with that spread. ("", 0, None)
        when no axis has two levels."""
        if measure not in ("wrong", "spearman"):
            raise ValueError(f"measure must be 'wrong' or 'spearman', got {measure!r}")
        best = ("", 0.0, None)
        sign = 1.0 if measure == "wrong" else -1.0  # the worst level: most wrong, least rank
        for axis in AXES:
            rows = [
                r
                for r in self.regimes
                if r.axis == axis
                and math.isfinite(getattr(r, measure))
                and (measure == "wrong" or r.pairs >= MIN_RANK_PAIRS)
            ]
            if len(rows) < 2:
                continue
            values = [getattr(r, measure) for r in rows]
            spread = max(values) - min(values)
            if spread > best[1]:
                best = (axis, spread, max(rows, key=lambda r: sign * getattr(r, measure)))
        return best


def _shares(table: dict, applies: np.ndarray) -> dict:
    g = np.asarray(table["gamma_mean"], float)
    s = np.asarray(table["speedup_steps"], float)
    use = applies & ~np.isnan(s)
    above, below = use & (g > 1 + GAMMA_TOL), use & (g < 1 - GAMMA_TOL)
    return dict(
        pairs=int(use.sum()),
        above=int(above.sum()),
        slower=float((s[above] < 1).mean()) if above.any() else math.nan,
        below=int(below.sum()),
        faster=float((s[below] > 1).mean()) if below.any() else math.nan,
    )


def study(
    count: int = 400,
    *,
    steps: int = 200,
    seed: int = 0,
    resamples: int = 2000,
    progress: Callable[[int], object] | None = None,
) -> PracticeStudy:
    """Run ``count`` instances (:func:`sample_instances`) for ``steps`` steps with every
    algorithm, each paired with uniform, and compute the statistics of the module docstring
    (bootstrap: ``resamples`` resamples, seed ``seed``). ``progress`` is called with the
    number of instances finished."""
    start = time.process_time()
    by_group: dict[tuple, list] = {}
    for i in sample_instances(count, seed):
        by_group.setdefault((i.n, i.d, i.loss, i.loss_scale), []).append(i)
    table: dict[str, list] = {}
    for group in by_group.values():
        for algorithm, pair, problem, instances in _pairs(group, steps):
            for k, v in _columns(algorithm, pair, problem, instances).items():
                table.setdefault(k, []).extend(v)
        if progress is not None:
            progress(len(group))
    measured = {m: np.asarray(table[f"speedup_{m}"], float) for m in ("steps", "final")}
    correlations = {
        (form, stat, m): spearman_interval(
            table[f"predicted_{form}_{stat}"], y, resamples=resamples, seed=seed
        )
        for form in FORMS
        for stat in STATISTICS
        for m, y in measured.items()
    }
    applies = {form: ~np.isnan(np.asarray(table[f"predicted_{form}_min"], float)) for form in FORMS}
    shares = {form: _shares(table, applies[form]) for form in FORMS}
    return PracticeStudy(
        count,
        steps,
        seed,
        resamples,
        table,
        correlations,
        shares,
        regimes(table, applies["sharp"]),
        time.process_time() - start,
    )
