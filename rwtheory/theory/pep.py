r"""Tight worst cases of reweighted gradient descent with PEPit (performance estimation).

**Problem class.** n functions :math:`f_1..f_n`, each convex and L-smooth, with a common
minimiser :math:`x^\star` (:math:`\nabla f_i(x^\star) = 0` for every i: interpolation),
:math:`f = \frac1n\sum_i f_i`, :math:`\|x_0 - x^\star\| \le 1`.

**Algorithm.** Reweighted GD with *fixed* per-step weights :math:`w^t` (numbers on the
simplex, :math:`\rho = n\max_{t,i} w_i^t`): :math:`x_{t+1} = x_t - \eta\sum_i w_i^t
\nabla f_i(x_t)`, t < T, under the constraints :math:`\Gamma_t \ge \gamma`, i.e. the linear
constraints on function values
:math:`\sum_i w_i^t\Delta_i(x_t) \ge \gamma\cdot\frac1n\sum_i\Delta_i(x_t)`.

**Performance** (Theorem 1's measure): :math:`\frac1T\sum_{t<T}(f(x_t) - f^\star)` (``"average"``),
or the last iterate :math:`f(x_T) - f^\star` (``"last"``).

PEPit (Goujaud, Moucer, Glineur, Hendrickx, Taylor, Dieuleveut) writes the worst case over
all such functions as a semidefinite programme; with the smooth-convex interpolation
conditions of every :math:`f_i` on the algorithm's points and the common-minimiser constraint
:math:`\sum_i\|\nabla f_i(x^\star)\|^2 \le 0`, its value is the *exact* worst case (in any
dimension). Solved by Clarabel through cvxpy (MOSEK is not available), SCS as the fallback.

**Our bounds.** The paper's form (Theorem 1, :func:`rwtheory.theory.theorems.gd_rate`): for
:math:`\eta\hat L \le 1/2`, :math:`\frac1T\sum_{t<T} a_t \le \|x_0 - x^\star\|^2/(\eta\gamma T)`;
THEORY §3's sharper form (:func:`rwtheory.theory.theorems.gd_rate_sharp`): for
:math:`\eta\hat L \le 1`, :math:`\|x_0 - x^\star\|^2/(2\eta\gamma T)`. Here every :math:`f_i` is
L-smooth, so Route C (:math:`\hat L = \rho L`, since the average is at most L-smooth) allows
:math:`\eta = 1/(2\rho L)` (paper) or :math:`1/(\rho L)` (sharp) and Route J
(:math:`\hat L = L_{\max} = L`) :math:`\eta = 1/(2L)` or :math:`1/L`. Each form is evaluated at
its own largest step, where it is weakest relative to the worst case.

**Heavy ball** (:func:`reweighted_heavy_ball_worst_case`): the same class and fixed weights,
the iterate-moving-average form with a fixed momentum schedule; :func:`heavy_ball_table`
compares its exact worst case with the constant schedule
:math:`\lambda = \gamma/(2\rho)` against the derived average-iterate bound
:math:`\|x_0 - x^\star\|^2/(\eta\gamma T)`
(:func:`rwtheory.theory.theorems.heavy_ball_average_rate_sharp` with
:math:`\eta = 1/(\rho L)`, :math:`\mu = 1`, :math:`m \ge \gamma/2`) and against the exact
worst case of :math:`\lambda = 0` (GD).

**Sanity check.** For one function, uniform weights and the last iterate, the worst case is
Drori & Teboulle's :math:`L\|x_0 - x^\star\|^2/(4TL\eta + 2)` (:math:`\eta \le 1/L`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rwtheory.theory.pep_solver import WorstCaseRow, solve, with_fallback

__all__ = [
    "FORMS",
    "SOLVER_RTOL",
    "HeavyBallCase",
    "PEPCase",
    "capped_weights",
    "drori_teboulle",
    "heavy_ball_table",
    "pep_table",
    "reweighted_gd_worst_case",
    "reweighted_heavy_ball_worst_case",
]

MEASURES = ("average", "last")
#: Relative accuracy of the worst cases: a ratio worst case / bound above 1 + SOLVER_RTOL is a
#: violation. Clarabel (gap tolerances 1e-10) is exact to ~1e-11 on well-posed cases (the
#: Drori-Teboulle check), but on degenerate ones -- a function with weight 0 that enters
#: only through the constraints -- its dual value overshoots: n = 2, T = 3, weights (1, 0),
#: eta = 1/L, gamma = 1 gives 0.1666697 against the proved 1/6 (relative 1.8e-5; SCS: 1.6e-4).
SOLVER_RTOL = 1e-4
#: The rate forms: (name, step as a multiple of 1/L_hat, bound as a multiple of
#: ||x_0 - x*||^2 / (eta gamma T)).
FORMS = {"paper": (0.5, 1.0), "sharp": (1.0, 0.5)}


def capped_weights(n: int, rho: float) -> np.ndarray:
    """The most concentrated weights under the cap: rho/n on the first floor(n/rho) functions,
    the remainder on the next one (rho = 1: uniform)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if not (math.isfinite(rho) and 1 <= rho):
        raise ValueError(f"rho must be a finite number >= 1, got {rho!r}")
    cap = min(rho / n, 1.0)
    k = min(n, int(math.floor(n / rho + 1e-12)))
    w = np.zeros(n)
    w[:k] = cap
    if k < n:
        w[k] = max(0.0, 1 - k * cap)
    return w


def reweighted_gd_worst_case(
    weights,
    steps: int,
    eta: float,
    *,
    gamma: float | None = None,
    L: float = 1.0,
    measure: str = "average",
    solver: str = "CLARABEL",
) -> float:
    r"""The exact worst case of :math:`T` = ``steps`` steps of reweighted GD (module
    docstring) with fixed weights ``weights`` (shape (n,) for every step, or (T, n)),
    step ``eta``, constraints :math:`\Gamma_t \ge` ``gamma`` (None: no constraint),
    every :math:`f_i` convex and ``L``-smooth with a common minimiser, and
    :math:`\|x_0 - x^\star\|^2 \le 1`. Returns PEPit's dual value (an upper bound certified by
    the solver, equal to the primal worst case up to the solver's accuracy); raises
    RuntimeError if the solver fails."""
    return _worst_case(weights, steps, eta, None, gamma, L, measure, solver)


def reweighted_heavy_ball_worst_case(
    weights,
    steps: int,
    eta: float,
    lambdas,
    *,
    gamma: float | None = None,
    L: float = 1.0,
    measure: str = "average",
    solver: str = "CLARABEL",
) -> float:
    r"""As :func:`reweighted_gd_worst_case` for heavy ball in the iterate-moving-average form
    (:math:`z_{t+1} = z_t - \eta g_t`, :math:`x_{t+1} = (\lambda_{t+1}x_t + z_{t+1})/
    (\lambda_{t+1} + 1)`, :math:`z_0 = x_0`) with the fixed schedule ``lambdas``
    (:math:`\lambda_0..\lambda_T`, T + 1 values >= 0). :math:`\lambda \equiv 0` is GD."""
    lam = np.asarray(lambdas, dtype=np.float64)
    if lam.shape != (steps + 1,) or not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError(f"lambdas must be {steps + 1} finite values >= 0, got shape {lam.shape}")
    return _worst_case(weights, steps, eta, lam, gamma, L, measure, solver)


def _check(weights, steps, eta, gamma, L, measure) -> np.ndarray:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    w = np.asarray(weights, dtype=np.float64)
    w = np.broadcast_to(w, (steps, w.shape[-1])) if w.ndim == 1 else w
    if w.shape[0] != steps or np.any(w < 0) or not np.allclose(w.sum(-1), 1, atol=1e-12):
        raise ValueError(f"weights must be (n,) or ({steps}, n) rows on the simplex")
    if not (math.isfinite(eta) and eta > 0) or not (math.isfinite(L) and L > 0):
        raise ValueError(f"eta and L must be finite and > 0, got {eta!r}, {L!r}")
    if gamma is not None and not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma must be a finite number >= 0 or None, got {gamma!r}")
    return w


def _worst_case(weights, steps, eta, lam, gamma, L, measure, solver) -> float:
    from PEPit import PEP
    from PEPit.functions import SmoothConvexFunction

    w = _check(weights, steps, eta, gamma, L, measure)
    n = w.shape[1]
    problem = PEP()
    fs = [problem.declare_function(SmoothConvexFunction, L=L) for _ in range(n)]
    average = fs[0] if n == 1 else np.sum(fs) / n
    xs = average.stationary_point()
    if n > 1:  # the common minimiser: every gradient vanishes at x*
        problem.add_constraint(np.sum([f.gradient(xs) ** 2 for f in fs]) <= 0)
    f_star = [f(xs) for f in fs]
    x0 = problem.set_initial_point()
    problem.set_initial_condition((x0 - xs) ** 2 <= 1)
    x, z, gaps_sum = x0, x0, []
    for t in range(steps + 1):
        oracles = [f.oracle(x) for f in fs]
        gaps = [val - fstar for (_, val), fstar in zip(oracles, f_star, strict=True)]
        mean_gap = np.sum(gaps) / n
        if t == steps:
            last = mean_gap
            break
        gaps_sum.append(mean_gap)
        if gamma is not None and n > 1:
            weighted = np.sum([w[t, i] * gaps[i] for i in range(n)])
            problem.add_constraint(weighted >= gamma * mean_gap)
        step = np.sum([w[t, i] * g for i, (g, _) in enumerate(oracles)])
        if lam is None:
            x = x - eta * step
        else:
            z = z - eta * step
            x = (lam[t + 1] * x + z) / (lam[t + 1] + 1)
    metric = np.sum(gaps_sum) / steps if measure == "average" else last
    problem.set_performance_metric(metric)
    return solve(problem, solver)


def _solve(*args, worst=reweighted_gd_worst_case, **kwargs) -> tuple[float, str]:
    """Clarabel, then SCS if Clarabel fails."""
    return with_fallback(worst, *args, **kwargs)


@dataclass(frozen=True)
class PEPCase(WorstCaseRow):
    """One row of the PEPit table: the worst case of one rate form at its own step."""

    n: int
    steps: int
    rho: float
    gamma: float
    route: str  # "C": L_hat = rho L; "J": L_hat = L_max = L
    form: str  # "paper": eta = 1/(2 L_hat); "sharp": eta = 1/L_hat (:data:`FORMS`)
    eta: float
    worst_case: float
    bound: float
    solver: str


def _capped_cases(sizes, rhos, gammas):
    """The grid of both tables: (n, T, weights, rho_w, gamma) for every (n, T) of ``sizes``,
    every cap of ``rhos`` (the weights :func:`capped_weights`, whose realised cap is
    rho_w = n max_i w_i) and every gamma of ``gammas`` up to rho_w (a larger one is
    impossible: Gamma_t <= rho_t)."""
    for n, T in sizes:
        for rho in rhos:
            w = capped_weights(n, rho)
            rho_w = n * float(w.max())
            for gamma in gammas:
                if gamma <= rho_w + 1e-12:
                    yield n, T, w, rho_w, gamma


#: The (n, T) pairs of :func:`pep_table`'s full grid, chosen for the run time of the full
#: check (one SDP per case and form; ~70 s CPU for the whole grid): n = 4 at T = 10 takes ~15 s
#: per SDP and n = 3 at T = 10 ~4 s, so T = 10 is kept for n = 2 only.
DEFAULT_SIZES = ((2, 1), (2, 2), (2, 5), (2, 10), (3, 1), (3, 2), (3, 5), (4, 1), (4, 2), (4, 5))


def pep_table(
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    rhos: Sequence[float] = (1.0, 1.5, 2.0),
    gammas: Sequence[float] = (0.5, 1.0, 1.5),
    routes: Sequence[str] = ("C", "J"),
    forms: Sequence[str] = ("paper", "sharp"),
    L: float = 1.0,
) -> tuple[list[PEPCase], float]:
    r"""Worst case of Theorem 1's measure against each rate form (:data:`FORMS`) at that
    form's largest step, for every (n, T) in ``sizes`` and every combination of the rest
    (skipping :math:`\gamma > \rho`, impossible since :math:`\Gamma_t \le \rho_t`), weights
    :func:`capped_weights`. Returns the cases and the CPU seconds taken."""
    for f in forms:
        if f not in FORMS:
            raise ValueError(f"forms must be among {tuple(FORMS)}, got {f!r}")
    start = time.process_time()
    cases = []
    for n, T, w, rho_w, gamma in _capped_cases(sizes, rhos, gammas):
        for route in routes:
            L_hat = rho_w * L if route == "C" else L
            for form in forms:
                step, scale = FORMS[form]
                eta = step / L_hat
                worst, solver = _solve(w, T, eta, gamma=gamma, L=L)
                bound = scale / (eta * gamma * T)
                cases.append(PEPCase(n, T, rho_w, gamma, route, form, eta, worst, bound, solver))
    return cases, time.process_time() - start


@dataclass(frozen=True)
class HeavyBallCase(WorstCaseRow):
    """Heavy ball with the constant schedule against its derived bound and against GD."""

    n: int
    steps: int
    rho: float
    gamma: float
    eta: float
    lam: float
    worst_case: float  # heavy ball, lambda_t = lam (t >= 1)
    bound: float  # the derived average-iterate bound 1/(eta gamma T)
    worst_case_gd: float  # lambda = 0 (GD), same weights and step
    bound_gd: float  # GD's sharp bound 1/(2 eta gamma T)


def heavy_ball_table(
    sizes: Sequence[tuple[int, int]] = ((2, 2), (2, 5), (3, 2), (3, 5)),
    rhos: Sequence[float] = (1.0, 2.0),
    gammas: Sequence[float] = (0.5, 1.0),
    L: float = 1.0,
) -> tuple[list[HeavyBallCase], float]:
    """Route C at eta = 1/(rho L) (mu = 1), constant lambda = gamma/(2 rho) for t >= 1: the
    exact worst case of the average gap against the derived bound 1/(eta gamma T) (the
    coefficients are >= gamma/2), and the exact worst case of lambda = 0 against GD's sharp
    bound 1/(2 eta gamma T). Returns the cases and the CPU seconds taken."""
    start = time.process_time()
    out = []
    for n, T, w, rho_w, gamma in _capped_cases(sizes, rhos, gammas):
        eta = 1 / (rho_w * L)
        lam = gamma / (2 * rho_w)
        sched = np.r_[0.0, np.full(T, lam)]
        hb, _ = _solve(w, T, eta, sched, gamma=gamma, L=L, worst=reweighted_heavy_ball_worst_case)
        gd, _ = _solve(w, T, eta, gamma=gamma, L=L)
        bound, bound_gd = 1 / (eta * gamma * T), 1 / (2 * eta * gamma * T)
        out.append(HeavyBallCase(n, T, rho_w, gamma, eta, lam, hb, bound, gd, bound_gd))
    return out, time.process_time() - start


def drori_teboulle(
    steps: Sequence[int] = (1, 2, 5, 10), step_factors=(0.5, 1.0), L: float = 1.0
) -> list[tuple[int, float, float, float]]:
    """PEPit's worst case of plain GD (one function, uniform weights, last iterate) against
    Drori & Teboulle's tight :math:`L/(4TL\\eta + 2)`: rows (T, eta, worst case, formula)."""
    rows = []
    for T in steps:
        for c in step_factors:
            eta = c / L
            worst, _ = _solve(np.ones(1), T, eta, L=L, measure="last")
            rows.append((T, eta, worst, L / (4 * T * L * eta + 2)))
    return rows
