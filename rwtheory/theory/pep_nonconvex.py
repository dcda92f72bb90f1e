r"""Worst cases of Theorem 4 (THEORY §6) with PEPit's smooth non-convex class.

**Problem class.** f L-smooth, *not necessarily convex* (PEPit's ``SmoothFunction``, whose
interpolation conditions are exact for this class); n samples
:math:`f_i = f + d_i` with Assumption 4, :math:`\|\nabla d_i\| \le \sigma` everywhere, and
:math:`\sum_i d_i = 0` (f is their average). Theorem 4 assumes nothing else about the
:math:`f_i`. So on the algorithm's points the deviations
:math:`e_{i,t} = \nabla f_i(x_t) - \nabla f(x_t)` are free vectors with
:math:`\|e_{i,t}\| \le \sigma` and :math:`\sum_i e_{i,t} = 0` (PEPit ``Point`` s under these
constraints). This is exact, not a relaxation, for distinct iterates: any such vectors extend
to smooth :math:`d_i` with :math:`\sup\|\nabla d_i\|` as close to :math:`\max\|e_{i,t}\|` as
wanted and :math:`\sum_i d_i = 0` (take :math:`d_i(x) = \sum_t\sum_k e_{i,t,k}\,
G_\epsilon((x - x_t)_k)\,B((x - x_t)/R)`, linear in e, with :math:`G_\epsilon' \in [-1, 1]`,
:math:`G_\epsilon'(0) = 1`, :math:`|G_\epsilon| \le \epsilon`, B a bump of width R: the gradient
is at most :math:`\|e\|(1 + O(\epsilon/R))`); if two iterates coincide the PEP may give them
different deviations, so in general its value is an upper bound on the worst case.

**Algorithm.** Full-batch reweighted GD with *fixed* weights :math:`w` (numbers on the
simplex, the same at every step), :math:`x_{t+1} = x_t - \eta\sum_i w_i(\nabla f(x_t) +
e_{i,t})`. (Weights that depend on the gradients, as the paper's, are not fixed numbers:
a PEP with fixed weights is the worst case *given* the weights, the form Theorem 4 is
stated in.)

**Measures** (:func:`worst_case`), with :math:`\sigma = 1`:

* ``"one_step"`` / ``"pathwise"``: :math:`\sum_{t<T}\frac\eta2[\|\nabla f(x_t)\|^2 +
  (1 - L\eta)\sum_i w_i\|\nabla f_i(x_t)\|^2] - (f(x_0) - f(x_T))`; Theorem 4 bounds it by
  :math:`\frac\eta2 T\sigma^2` (T = 1: the one-step inequality);
* ``"rate"``: :math:`\frac1T\sum_{t<T}\|\nabla f(x_t)\|^2` under
  :math:`f(x_0) - f(x_T) \le \Delta` (PEPit's convention for non-convex problems; it
  contains every instance with :math:`f(x_0) - f_{\inf} \le \Delta`, so its worst case is
  at least Theorem 4's) and the constraints :math:`\Gamma_t \ge \Gamma` (linear in the
  Gram matrix); Theorem 4 bounds it by
  :math:`(2\Delta/(\eta T) + \sigma^2)/(1 + (1 - L\eta)\Gamma)` for :math:`\eta \le 1/L`.

Solved by Clarabel through cvxpy, SCS as the fallback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rwtheory.theory.pep_solver import WorstCaseRow, solve, with_fallback

__all__ = ["NonconvexPEPCase", "pep_table", "theorem4_bound", "worst_case"]

MEASURES = ("pathwise", "rate")


def _check(weights, steps, eta, L, gamma, delta):
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size < 1 or np.any(w < 0) or not math.isclose(w.sum(), 1, abs_tol=1e-12):
        raise ValueError("weights must be a 1-D array on the simplex")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    for v, name in ((eta, "eta"), (L, "L"), (delta, "delta")):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if gamma is not None and not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma must be a finite number >= 0 or None, got {gamma!r}")
    return w


def worst_case(
    weights,
    steps: int,
    eta: float,
    *,
    measure: str = "pathwise",
    L: float = 1.0,
    gamma: float | None = None,
    delta: float = 1.0,
    solver: str = "CLARABEL",
) -> float:
    """PEPit's worst case of ``measure`` (module docstring) for T = ``steps`` steps with
    fixed ``weights`` (n,), step ``eta``, smoothness ``L``, sigma = 1, constraints
    Γ_t >= ``gamma`` (None: none) and, for ``"rate"``, f(x_0) - f(x_T) <= ``delta``.
    Raises RuntimeError if the solver fails."""
    from PEPit import PEP, Point
    from PEPit.functions import SmoothFunction

    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    w = _check(weights, steps, eta, L, gamma, delta)
    n = w.size
    problem = PEP()
    f = problem.declare_function(SmoothFunction, L=L)
    x = problem.set_initial_point()
    g0, f0 = f.oracle(x)
    terms, grads2 = [], []
    g, fx = g0, f0
    for _ in range(steps):
        e = [Point() for _ in range(n - 1)]
        e.append(-np.sum(e) if n > 1 else 0 * g)
        for ei in e:
            problem.add_constraint(ei**2 <= 1)
        gi = [g + ei for ei in e]
        sq = [v**2 for v in gi]
        wsq = np.sum([w[i] * sq[i] for i in range(n)])
        if gamma is not None and n > 1:
            problem.add_constraint(wsq >= gamma * np.sum(sq) / n)
        terms.append(eta / 2 * (g**2 + (1 - L * eta) * wsq))
        grads2.append(g**2)
        x = x - eta * np.sum([w[i] * gi[i] for i in range(n)])
        g, fx = f.oracle(x)
    if measure == "pathwise":
        problem.set_performance_metric(np.sum(terms) - (f0 - fx))
    else:
        problem.set_initial_condition(f0 - fx <= delta)
        problem.set_performance_metric(np.sum(grads2) / steps)
    return solve(problem, solver)


def theorem4_bound(
    measure: str, steps: int, eta: float, *, L: float = 1.0, gamma: float = 1.0, delta: float = 1.0
) -> float:
    """Theorem 4's bound on ``measure`` with sigma = 1 (module docstring)."""
    if measure == "pathwise":
        return eta / 2 * steps
    den = 1 + (1 - L * eta) * gamma
    return (2 * delta / (eta * steps) + 1) / den if den > 0 else math.inf


@dataclass(frozen=True)
class NonconvexPEPCase(WorstCaseRow):
    """One row of :func:`pep_table`."""

    measure: str
    n: int
    weights: str
    steps: int
    eta_L: float
    gamma: float
    worst_case: float
    bound: float
    solver: str

    @property
    def hypotheses_hold(self) -> bool:
        """The rate needs eta <= 1/L; the pathwise sum needs nothing."""
        return self.measure == "pathwise" or self.eta_L <= 1


def _solve(*args, **kwargs) -> tuple[float, str]:
    return with_fallback(worst_case, *args, **kwargs)


def _weightings(n: int):
    """(label, weights, the Γ they guarantee for the rate): uniform (Γ = 1), all weight on
    one sample (Γ >= 0 only), and two-thirds on one sample."""
    one = np.eye(n)[0]
    two = np.full(n, 1 / (3 * (n - 1))) if n > 1 else one
    if n > 1:
        two[0] = 2 / 3
    return [("uniform", np.full(n, 1 / n), 1.0), ("vertex", one, 0.0), ("2/3 on one", two, 0.0)]


def pep_table(
    ns: Sequence[int] = (2, 3),
    steps: Sequence[int] = (1, 2, 4),
    eta_Ls: Sequence[float] = (0.5, 1.0, 1.2, 1.5),
) -> tuple[list[NonconvexPEPCase], float]:
    """Worst case / Theorem 4's bound for both measures, every n, T, eta L and the
    weightings of :func:`_weightings`; the rate with Γ = 1 imposed for the non-uniform ones
    too (a case Theorem 4 covers). The rate is also evaluated for eta L > 1, where its
    hypothesis is broken (:attr:`NonconvexPEPCase.hypotheses_hold` False; worst case inf if
    both solvers fail, e.g. an unbounded PEP). L = 1, sigma = 1, delta = 1. Returns the
    cases and the CPU seconds."""
    start = time.process_time()
    cases = []
    for n in ns:
        for label, w, gam in _weightings(n):
            if n == 1 and label != "uniform":
                continue
            for T in steps:
                for c in eta_Ls:
                    worst, solver = _solve(w, T, c, measure="pathwise")
                    cases.append(
                        NonconvexPEPCase(
                            "pathwise",
                            n,
                            label,
                            T,
                            c,
                            math.nan,
                            worst,
                            theorem4_bound("pathwise", T, c),
                            solver,
                        )
                    )
                    for g in sorted({gam, 1.0}):
                        try:
                            worst, solver = _solve(
                                w, T, c, measure="rate", gamma=None if g == 0 else g
                            )
                        except RuntimeError:
                            if c <= 1:
                                raise
                            worst, solver = math.inf, "failed (unbounded?)"
                        cases.append(
                            NonconvexPEPCase(
                                "rate",
                                n,
                                label,
                                T,
                                c,
                                g,
                                worst,
                                theorem4_bound("rate", T, c, gamma=g),
                                solver,
                            )
                        )
    return cases, time.process_time() - start
