r"""Does the bound predict practice? The status rules of the rows that connect Theorems 1-2's
factor :math:`\Gamma` with measured convergence (issue 26), fixed before any of their data
was computed.

The paper's argument (Sec. 1, Sec. 4.2): down-weighting low-loss samples makes
:math:`\Gamma > 1`, :math:`\Gamma` divides the rate bound, hence "faster convergence"; Figure 7
is offered as support. Two places are checked, with the definitions below.

**Where the theorems apply** (interpolating convex problems; :mod:`rwtheory.theory.practice`).
A *pair* is one reweighted run and one uniform run on the same instance: the same data, the
same start :math:`x_0`, the same step size :math:`\eta`, the same momentum schedule (heavy
ball) and the same minibatches (the engine draws them from the problem's seed,
:func:`rwtheory.convex.engine.sample_batches`), for the same T steps. With
:math:`a_t = f(x_t) - f(x^\star)` (:math:`a_0` is the same for both runs):

* *measured speed-up (steps)*: levels :math:`\ell_k = a_0 10^{-k}`, k = 1..8;
  :math:`\tau_k` the first t with :math:`a_t \le \ell_k`, censored at T + 1 when never
  reached (a diverged run reaches nothing after it diverges); the speed-up is the geometric
  mean of :math:`\tau_k^{\rm uniform}/\tau_k^{\rm reweighted}` over the levels reached by at
  least one run of the pair (> 1: reweighting was faster), undefined when neither run reaches
  :math:`\ell_1`;
* *measured speed-up (final)*: :math:`a_T^{\rm uniform}/a_T^{\rm reweighted}`;
* *predicted factor* of a form (the paper's or THEORY §3's sharp one) with a
  :math:`\Gamma`-statistic (the run's min :math:`\Gamma_t`, i.e. the theorem's
  :math:`\Gamma`, or its mean :math:`\bar\Gamma`): the ratio of the two runs' rate bounds at
  the horizon T, uniform's over the reweighted run's, each evaluated on the instance's proof
  route with its :math:`\Gamma_t` replaced by the statistic; defined only where the bound's
  hypotheses hold for both runs.

**Where the figures live** (the outlier regression of Figures 7-8, no interpolation).
:math:`f^\star` is the minimum of the *unweighted* training objective f (least squares on
every training sample, outliers included), :math:`a_t = f(x_t) - f^\star` on the seed-mean
curve, and the ladder is Figure 7's, :math:`a_0 \times (0.5, 0.2, 0.1, 0.05, 0.02)`
(:func:`faster_on_training`, :func:`better_on_test`).

Every rule is a pure function of a few numbers; ``tests/report/test_practice_rules.py`` pins
each threshold (moving one by a factor fails a test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "CONFIDENCE",
    "MIN_PAIRS",
    "RESAMPLES",
    "SLOWER_FAILS",
    "SLOWER_HOLDS",
    "STRONG",
    "WEAK",
    "faster_convergence_status",
    "prediction_status",
    "better_on_test",
    "faster_on_training",
    "training_objective_status",
]

#: A rule on pairs needs at least this many pairs (else "not checked").
MIN_PAIRS = 50
#: Spearman's rank correlation: "strong" from 0.5, "at most weak" below 0.3 (the usual
#: reading of correlation sizes, Cohen 1988).
STRONG, WEAK = 0.5, 0.3
#: Share of the pairs with mean Gamma_t > 1 that were slower than uniform: "holds" up to
#: 10 %, "fails" beyond one half (then Gamma > 1 does not even say "faster" more often than not).
SLOWER_HOLDS, SLOWER_FAILS = 0.10, 0.5
#: The bootstrap interval of the rank correlation: percentile interval of this confidence
#: over this many resamples of the pairs (with replacement, a seeded generator).
CONFIDENCE, RESAMPLES = 0.95, 2000


def faster_convergence_status(pairs_above: int, slower_share: float) -> str:
    r"""Status of ``intro.faster_convergence.convex``: "reweighting with :math:`\Gamma > 1`
    converges faster", where Theorems 1-2 apply.

    Inputs: over the pairs whose *paper-form* rate bound applies to both runs and whose steps
    speed-up is defined, ``pairs_above`` = the number of pairs with mean
    :math:`\Gamma_t > 1` (beyond 1e-9) and ``slower_share`` = the share of those whose steps
    speed-up is < 1.

    "not checked" with fewer than :data:`MIN_PAIRS` such pairs; else "holds" iff
    ``slower_share`` <= :data:`SLOWER_HOLDS`, "fails" iff it is > :data:`SLOWER_FAILS`,
    "holds with caveat" in between.
    """
    if pairs_above < MIN_PAIRS:
        return "not checked"
    if not math.isfinite(slower_share) or not 0 <= slower_share <= 1:
        raise ValueError(f"slower_share must be a share in [0, 1], got {slower_share!r}")
    if slower_share <= SLOWER_HOLDS:
        return "holds"
    return "fails" if slower_share > SLOWER_FAILS else "holds with caveat"


def prediction_status(pairs: int, low: float, high: float) -> str:
    r"""Status of ``thm1_2.predicts_speedup``: "the bound's factor predicts the measured
    speed-up", where Theorems 1-2 apply.

    Inputs: over the pairs whose *paper-form* rate bound applies to both runs and whose steps
    speed-up is defined (``pairs`` of them), Spearman's rank correlation between the
    predicted factor of the paper's form with the theorem's :math:`\Gamma = \min_t\Gamma_t`
    and the measured steps speed-up, and its :data:`CONFIDENCE` bootstrap interval
    [``low``, ``high``] (:data:`RESAMPLES` resamples). The other forms and statistics (sharp
    form, mean :math:`\Gamma_t`, final-gap speed-up) are reported beside it, not judged.

    "not checked" with fewer than :data:`MIN_PAIRS` pairs; else "holds" iff ``low`` >=
    :data:`STRONG` (a strong rank correlation, established), "fails" iff ``high`` <
    :data:`WEAK` (at most a weak one), "holds with caveat" otherwise.
    """
    if pairs < MIN_PAIRS:
        return "not checked"
    if not (math.isfinite(low) and math.isfinite(high) and -1 <= low <= high <= 1):
        raise ValueError(f"[low, high] must be an interval in [-1, 1], got [{low!r}, {high!r}]")
    if low >= STRONG:
        return "holds"
    return "fails" if high < WEAK else "holds with caveat"


def faster_on_training(steps: Sequence[int | None], uniform_steps: Sequence[int | None]) -> bool:
    r"""Does a strategy speed up the unweighted training objective against uniform?

    ``steps[k]`` / ``uniform_steps[k]``: the first step at which the seed-mean
    :math:`f(x_t) - f^\star` is at most level k of the ladder (None: never). True iff (i) the
    strategy reaches every level that uniform reaches, no later, and (ii) it reaches some
    level strictly earlier than uniform, or a level that uniform never reaches. Equal
    ladders are not a speed-up.
    """
    if len(steps) != len(uniform_steps):
        raise ValueError(
            f"steps and uniform_steps must have one entry per level, got {len(steps)} and "
            f"{len(uniform_steps)}"
        )
    earlier = False
    for s, u in zip(steps, uniform_steps, strict=True):
        if u is not None and (s is None or s > u):
            return False
        if s is not None and (u is None or s < u):
            earlier = True
    return earlier


def better_on_test(final: float, uniform_final: float) -> bool:
    """Does a strategy improve the clean test MSE against uniform? True iff its seed-mean
    final clean test MSE is finite and strictly below uniform's (a strategy with a diverged
    seed, NaN or inf, is not better)."""
    return math.isfinite(final) and (not math.isfinite(uniform_final) or final < uniform_final)


def training_objective_status(faster: bool, better: bool) -> str:
    r"""Status of ``fig7.training_objective``: at Figure 7's own setting, is LinUpper
    faster than uniform on what Theorems 1-2 bound, the unweighted training objective
    (:func:`faster_on_training`), and does Figure 7's metric, the clean test MSE, agree
    (:func:`better_on_test`)?

    "holds" iff faster on the training objective and better on clean test MSE; "holds with
    caveat" iff faster on the training objective but not better on clean test MSE (the
    optimisation is faster; the figure measures something else); "fails" iff not faster on
    the training objective (whatever the test MSE).
    """
    if not faster:
        return "fails"
    return "holds" if better else "holds with caveat"
