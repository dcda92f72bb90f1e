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

**Our bound** (Theorem 1, :func:`rwtheory.theory.theorems.gd_rate`): for :math:`\eta\hat L \le 1/2`,
:math:`\frac1T\sum_{t<T} a_t \le \|x_0 - x^\star\|^2/(\eta\gamma T)`; here every :math:`f_i` is
L-smooth, so Route C (:math:`\hat L = \rho L`, since the average is at most L-smooth) allows
:math:`\eta = 1/(2\rho L)` and Route J (:math:`\hat L = L_{\max} = L`) :math:`\eta = 1/(2L)`.

**Sanity check.** For one function, uniform weights and the last iterate, the worst case is
Drori & Teboulle's :math:`L\|x_0 - x^\star\|^2/(4TL\eta + 2)` (:math:`\eta \le 1/L`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PEPCase", "capped_weights", "drori_teboulle", "pep_table",
           "reweighted_gd_worst_case"]

MEASURES = ("average", "last")


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


def reweighted_gd_worst_case(weights, steps: int, eta: float, *, gamma: float | None = None,
                             L: float = 1.0, measure: str = "average",
                             solver: str = "CLARABEL") -> float:
    r"""The exact worst case of :math:`T` = ``steps`` steps of reweighted GD (module
    docstring) with fixed weights ``weights`` (shape (n,) for every step, or (T, n)),
    step ``eta``, constraints :math:`\Gamma_t \ge` ``gamma`` (None: no constraint),
    every :math:`f_i` convex and ``L``-smooth with a common minimiser, and
    :math:`\|x_0 - x^\star\|^2 \le 1`. Returns PEPit's dual value (an upper bound certified by
    the solver, equal to the primal worst case up to the solver's accuracy); raises
    RuntimeError if the solver fails."""
    from PEPit import PEP
    from PEPit.functions import SmoothConvexFunction

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
    x, gaps_sum = x0, []
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
        x = x - eta * step
    metric = np.sum(gaps_sum) / steps if measure == "average" else last
    problem.set_performance_metric(metric)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = problem.solve(wrapper="cvxpy", solver=solver, verbose=0,
                                  **_tolerances(solver))
        except Exception as exc:  # the solver's own exception types
            raise RuntimeError(f"{solver} failed: {exc}") from None
    if value is None or not math.isfinite(value):
        raise RuntimeError(f"{solver} returned no value")
    return float(value)


def _tolerances(solver: str) -> dict:
    if solver == "CLARABEL":
        return dict(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    if solver == "SCS":
        return dict(eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
    return {}


def _solve(*args, **kwargs) -> tuple[float, str]:
    """Clarabel, then SCS if Clarabel fails."""
    try:
        return reweighted_gd_worst_case(*args, solver="CLARABEL", **kwargs), "Clarabel"
    except RuntimeError:
        return reweighted_gd_worst_case(*args, solver="SCS", **kwargs), "SCS"


@dataclass(frozen=True)
class PEPCase:
    """One row of the PEPit table."""

    n: int
    steps: int
    rho: float
    gamma: float
    route: str        # "C": eta = 1/(2 rho L); "J": eta = 1/(2 L)
    eta: float
    worst_case: float
    bound: float
    solver: str

    @property
    def ratio(self) -> float:
        return self.worst_case / self.bound


def pep_table(ns: Sequence[int] = (2, 3, 4), steps: Sequence[int] = (1, 2, 5, 10),
              rhos: Sequence[float] = (1.0, 1.5, 2.0), gammas: Sequence[float] = (0.5, 1.0, 1.5),
              routes: Sequence[str] = ("C", "J"), L: float = 1.0) -> tuple[list[PEPCase], float]:
    """Worst case of Theorem 1's measure against our bound :math:`1/(\\eta\\gamma T)` for
    every combination (skipping :math:`\\gamma > \\rho`, impossible since
    :math:`\\Gamma_t \\le \\rho_t`), weights :func:`capped_weights`. Returns the cases and the
    CPU seconds taken."""
    start = time.process_time()
    cases = []
    for n in ns:
        for rho in rhos:
            w = capped_weights(n, rho)
            rho_w = n * float(w.max())
            for gamma in gammas:
                if gamma > rho_w + 1e-12:
                    continue
                for route in routes:
                    eta = 1 / (2 * rho_w * L) if route == "C" else 1 / (2 * L)
                    for T in steps:
                        worst, solver = _solve(w, T, eta, gamma=gamma, L=L)
                        cases.append(PEPCase(n, T, rho_w, gamma, route, eta, worst,
                                             1 / (eta * gamma * T), solver))
    return cases, time.process_time() - start


def drori_teboulle(steps: Sequence[int] = (1, 2, 5, 10), step_factors=(0.5, 1.0),
                   L: float = 1.0) -> list[tuple[int, float, float, float]]:
    """PEPit's worst case of plain GD (one function, uniform weights, last iterate) against
    Drori & Teboulle's tight :math:`L/(4TL\\eta + 2)`: rows (T, eta, worst case, formula)."""
    rows = []
    for T in steps:
        for c in step_factors:
            eta = c / L
            worst, _ = _solve(np.ones(1), T, eta, L=L, measure="last")
            rows.append((T, eta, worst, L / (4 * T * L * eta + 2)))
    return rows
