r"""Reference solvers of Proposition 1's problem, independent of the runtime solver.

.. math::
    \min_{w}\; -\sum_i w_i\Delta_i + r\sum_i w_i\log(n w_i)
    \quad\text{s.t.}\quad \sum_i w_i = 1,\; 0 \le w_i \le \rho/n .

The runtime solver, :func:`rwtheory.weights.optimal.kl_capped_weights`, computes the minimiser
exactly by water-filling. It is checked here against three things that share none of its
code: :func:`kl_capped_weights_bisection` (bisection on log Z, the iterative solver DRO codes
commonly use; also the baseline of ``benchmarks/bench_weights.py``), :func:`kkt_residual` (a
certificate computed from a candidate answer alone) and :func:`kl_capped_weights_cvxpy` (the
problem handed to Clarabel through cvxpy). They are used by the Proposition 1 check
(:mod:`rwtheory.theory.proposition1`), the tests and the benchmark, never on the training
path; cvxpy is imported only when :func:`kl_capped_weights_cvxpy` is called.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from rwtheory._array import InputValueError, check_int, check_positive_finite
from rwtheory.weights.optimal import check_gaps, check_rho

__all__ = [
    "CVXPY_ATTEMPTS",
    "kkt_residual",
    "kl_capped_weights_bisection",
    "kl_capped_weights_cvxpy",
]


#: Largest scaled gap spread (max - min)/r the bisection accepts: 1e-6 / float64's eps.
BISECTION_MAX_SPREAD = 1e-6 / float(np.finfo(np.float64).eps)


def kl_capped_weights_bisection(
    gaps, temperature: float, rho: float = 2.0, tol: float = 1e-10, max_iter: int = 4000
):
    r"""Reference solver for the same problem by bisection on :math:`\lambda = \log Z`.

    Solves :math:`\phi(\lambda) = \sum_i \min(e^{z_i - \lambda}, \rho/n) = 1` with
    :math:`z_i = (\Delta_i - \max_j\Delta_j)/r`; :math:`\phi` is non-increasing, with
    :math:`\phi \ge 1` at :math:`\lambda = \min_i z_i - \log(\rho/n)` and :math:`\phi \le 1` at
    :math:`\lambda = \log n`. Stops when the bracket is narrower than ``tol`` (DRO codes
    commonly use 1e-10), so the weights are accurate to about ``tol`` relative and sum to 1
    only to about ``tol``. Iterates in Python: one reduction per step, about
    log2(bracket/tol) steps (~40 for moderate inputs, ~1100 when the scaled gaps span
    1e308). The bracket is a pair of Python floats, which resolve :math:`\lambda` only to
    about :math:`|\min_i z_i|` times float64's eps: past scaled spreads of
    :data:`BISECTION_MAX_SPREAD` (4.5e9, weights 1e-6 off) the answer would be silently
    wrong (at r = 1e-50 it put 0.4 on three entries of a cap of 0.4), so such temperatures
    are refused with a ``ValueError`` naming ``temperature``; :func:`kl_capped_weights` has
    no such limit. Inputs of any dtype are iterated in float64 (a reference: in float32,
    exp(z - lambda) carries ``|z| * 1.2e-7`` of rounding, 1e-5 at ``|z| ~ 100``) and the weights are
    returned in the input's working dtype. ``max_iter`` (an integer >= 1) must allow the
    bracket to reach ``tol``: a smaller one is refused before iterating (a ``ValueError``
    giving the number needed), never answered with weights that are not yet a solution. The
    iteration also stops when the bracket can no longer be halved in float64.
    """
    r = check_positive_finite(temperature, "temperature")
    rho = check_rho(rho)
    tol = check_positive_finite(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    xp, g = check_gaps(gaps, 1)
    dtype = g.dtype
    g, back = xp.astype(g, xp.float64), lambda a: xp.astype(a, dtype)
    n = g.shape[-1]
    cap = min(rho / n, 1.0)
    spread = float(xp.max(g) - xp.min(g))
    if spread / r > BISECTION_MAX_SPREAD:
        raise ValueError(
            f"temperature must be >= {spread / BISECTION_MAX_SPREAD:.3g} for "
            f"these gaps (spread {spread:.3g}) in the bisection: its bracket "
            f"cannot resolve scaled gaps beyond {BISECTION_MAX_SPREAD:.2g}; "
            f"got {r!r} (kl_capped_weights has no such limit)"
        )
    z = (g - xp.max(g)) / r
    log_cap = xp.full_like(z, math.log(cap))
    lo, hi = float(xp.min(z)) - math.log(cap), math.log(n)
    needed = math.ceil(math.log2((hi - lo) / tol)) if hi - lo > tol else 0
    if max_iter < needed:
        raise InputValueError(
            f"max_iter must be >= {needed} for these gaps and tol={tol:g} (the bracket, "
            f"{hi - lo:.3g} wide, halves once per iteration), got {max_iter}"
        )
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        if hi - lo <= tol or mid in (lo, hi):  # converged, or float64 resolves no more
            break
        if float(xp.sum(xp.exp(xp.minimum(z - mid, log_cap)))) > 1:
            lo = mid
        else:
            hi = mid
    return back(xp.exp(xp.minimum(z - 0.5 * (lo + hi), log_cap)))


#: Clarabel settings tried by :func:`kl_capped_weights_cvxpy`, in order: (variable scaling,
#: reference of the shift of c, tolerance, static regularisation). Measured on random
#: instances, no single setting is reliably within 1e-6 of the optimum (an "optimal" answer
#: at 1e-11 can be 1e-6 off while "optimal_inaccurate" at 1e-12 is 1e-10 off, and vice
#: versa; with scaled gaps spanning 1e9 only some shifts of c give an accurate answer),
#: hence several and a choice by the problem's own KKT residual. (A table, one attempt a row:
#: same shape by design.)
CVXPY_ATTEMPTS = (
    ("w", "max", 1e-12, 1e-8),
    ("u", "max", 1e-12, 1e-8),
    ("w", "max", 1e-12, 1e-14),
    ("u", "max", 1e-12, 1e-14),
    ("u", "max", 1e-11, 1e-14),
    ("w", "max", 1e-11, 1e-8),
    ("u", "max", 1e-10, 1e-14),
    ("w", "max", 1e-10, 1e-8),
    ("w", "median", 1e-12, 1e-14),
    ("u", "median", 1e-12, 1e-14),
    ("w", "mean", 1e-12, 1e-14),
    ("u", "mean", 1e-12, 1e-8),
    ("u", "min", 1e-12, 1e-14),
)


def kkt_residual(w, gaps, temperature: float, rho: float) -> float:
    r"""How far ``w`` is from satisfying the KKT conditions of Proposition 1's problem, in
    units of weight (computed from ``w`` alone; no water-filling involved).

    With :math:`c = (\Delta - \max\Delta)/r` and :math:`g_i = \log w_i - c_i`, a solution lies
    on the simplex under the cap, has :math:`g_i = \bar g` (one constant) on its free entries
    and :math:`\log(\rho/n) - c_i \le \bar g` on its capped ones. Each entry is judged in the
    state it is closer to satisfying -- free: :math:`|w_i - e^{c_i + \bar g}|`, the distance
    to the weight stationarity gives it; capped:
    :math:`(\rho/n - w_i) + (\rho/n)\max(0, \log(\rho/n) - c_i - \bar g)` -- because solvers
    return capped entries a hair below the cap. :math:`\bar g` is the w-weighted mean of
    :math:`g_i` over the clearly free entries (:math:`10^{-9} < w_i < 0.999\,\rho/n`: a
    solver's tiny weights are noise whose logarithms mean nothing), or, when
    every positive entry is capped, the smallest level their caps allow. The residual is the
    primal infeasibility plus the largest entry residual.

    Limit: like the bisection, it works with the rounded :math:`(\Delta - \max\Delta)/r`, so
    when the gaps span more than ~1e16 relative to each other (e.g. 1e-300 ... 1e300) it
    cannot rank the small ones and misjudges even the exact answer."""
    w = np.asarray(w, dtype=np.float64)
    g = np.asarray(gaps, dtype=np.float64)
    n = w.shape[0]
    cap = min(rho / n, 1.0)
    c = (g - g.max()) / temperature
    primal = abs(w.sum() - 1) + np.clip(-w, 0, None).sum() + np.clip(w - cap, 0, None).sum()
    positive = w > 1e-300
    with np.errstate(divide="ignore"):
        gi = np.log(np.where(positive, w, 1.0)) - c
    clearly_free = (w > 1e-9) & (w < 0.999 * cap)  # below 1e-9 a solver's log is noise
    if clearly_free.any():
        gbar = float((w[clearly_free] * gi[clearly_free]).sum() / w[clearly_free].sum())
    else:  # every positive entry is capped: the smallest level consistent with their caps
        near_cap = w >= 0.999 * cap
        gbar = float((np.log(cap) - c[near_cap]).max()) if near_cap.any() else 0.0
    with np.errstate(over="ignore"):
        as_free = np.abs(w - np.exp(c + gbar))  # inf only where the entry should be capped
        as_capped = (cap - np.clip(w, None, cap)) + cap * np.clip(np.log(cap) - c - gbar, 0, None)
    return float(primal + np.minimum(as_free, as_capped).max())


def kl_capped_weights_cvxpy(
    gaps, temperature: float, rho: float = 2.0, *, good_enough: float = 1e-10
):
    r"""Proposition 1's problem handed to Clarabel through cvxpy (a reference only).

    Solved in an equivalent, better-conditioned form: the objective divided by r, the gaps
    shifted (by their maximum, or, when that fails, their median, mean or minimum: the
    solution does not change) and (form ``"u"``) the variable scaled to :math:`u = n w`:

    .. math:: \min_u -c^\top u - \sum_i \mathrm{entr}(u_i)
              \quad\text{s.t.}\quad \mathbf 1^\top u = n,\ 0 \le u \le \rho,
              \qquad c = (\Delta - \max_j \Delta_j)/r,

    (:math:`\mathrm{entr}(u) = -u\log u`, an exponential-cone program; it equals the
    problem of docs/theory.md §5 up to a constant and the factor r). With cvxpy's defaults the
    answer is only ~1e-5 accurate in w (an objective gap eps moves a strongly convex
    minimiser by ~sqrt(eps)), so Clarabel's gap, feasibility and KKT tolerances are
    tightened to 1e-10 ... 1e-12, and the settings of :data:`CVXPY_ATTEMPTS` are tried in
    turn until one answer's :func:`kkt_residual` is below ``good_enough``; otherwise the
    answer with the smallest residual is returned. The answer itself is the solver's, never
    adjusted. SCS (first-order) is not used: tightened to 1e-12 it still returned points
    1e-6 away, and "optimal_inaccurate" points that were not solutions on badly scaled
    instances.

    Measured: within 3.1e-8 of the closed form on 2,400 random instances (gaps 1e-6 ... 1e7,
    r 1e-3 ... 1e2, ties) and 1.2e-8 on rwtheory.theory.proposition1's 300 (scaled spreads to
    7e9; with c shifted by the maximum alone one of them came back 2.1e-6 off, KKT residual
    0.3). Known
    limit: for rho = 1 (the feasible set is the single point 1/n, no interior) with scaled
    gaps ~1e9 every attempt can fail. The returned residual says how far the answer is from
    optimal; callers report inaccurate answers and failures rather than skip them.

    Returns ``(weights, attempt, status, residual)``: float64 weights, the setting that
    produced them (e.g. ``"w/max@1e-12/reg1e-08"``), cvxpy's status and the KKT residual.
    Raises ``RuntimeError`` when every attempt fails.
    """
    import cvxpy as cp

    r = check_positive_finite(temperature, "temperature")
    rho = check_rho(rho)
    _, g = check_gaps(gaps, 1)
    g = np.asarray(g, dtype=np.float64)
    n = g.shape[0]
    shifts = {
        "max": g.max(),
        "median": float(np.median(g)),
        "mean": float(g.mean()),
        "min": g.min(),
    }
    errors, best = [], None
    for form, shift, tol, reg in CVXPY_ATTEMPTS:
        c = (g - shifts[shift]) / r
        total, cap = (float(n), rho) if form == "u" else (1.0, rho / n)
        x = cp.Variable(n)
        constraints = [cp.sum(x) == total, x >= 0]
        if rho < n:
            constraints.append(x <= cap)
        problem = cp.Problem(cp.Minimize(-c @ x - cp.sum(cp.entr(x))), constraints)
        name = f"{form}/{shift}@{tol:g}/reg{reg:g}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate"
                problem.solve(
                    solver="CLARABEL",
                    tol_gap_abs=tol,
                    tol_gap_rel=tol,
                    tol_feas=tol,
                    tol_ktratio=tol,
                    max_iter=1000,
                    static_regularization_constant=reg,
                )
        except cp.error.SolverError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if x.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
            errors.append(f"{name}: status {problem.status}")
            continue
        w = np.asarray(x.value, dtype=np.float64) / total
        res = kkt_residual(w, g, r, rho)
        if best is None or res < best[3]:
            best = (w, name, problem.status, res)
        if res < good_enough:
            break
    if best is None:
        raise RuntimeError("Clarabel returned no solution: " + "; ".join(errors))
    return best
