r"""Proposition 1 checked against general-purpose solvers (THEORY §5).

**Problem** (reconstructed): for loss gaps :math:`\Delta \in \mathbb R^n_{\ge 0}`, temperature
r > 0 and cap :math:`\rho \ge 1`,

.. math:: \min_w\; -\sum_i w_i\Delta_i + r\sum_i w_i\log(n w_i)
          \quad\text{s.t.}\quad \sum_i w_i = 1,\ 0 \le w_i \le \rho/n .

**Claim** (Eq. 5): :math:`w_i^\star = \min(e^{\Delta_i/r}/Z, \rho/n)`, computed exactly by
:func:`rwtheory.kl_capped_weights` (water-filling).

* :func:`compare_with_cvxpy`: the closed form against Clarabel through cvxpy
  (:func:`rwtheory.theory.reference_solvers.kl_capped_weights_cvxpy`, tightened tolerances, answer
  chosen by the KKT residual), SCS with tightened tolerances as the fallback when Clarabel
  fails, on instances with ties, gaps spanning many orders of magnitude, tiny temperatures
  and :math:`\rho \in \{1, 1.5, 2, 4, n\}`; SCS alone is measured too (n <= 50).
* :func:`lp_check`: the r = 0 limit, the linear programme :math:`\max_w \sum_i w_i\Delta_i`
  over the capped simplex, solved by Clarabel, against the structure "ρ/n on the top
  ⌊n/ρ⌋ gaps, the remainder on the next one" (for ρ = 2 half the data gets weight 0).
* :func:`linupper_vs_optimum`: how far the paper's LinUpper weights are from Proposition 1's
  optimum with gaps := normalised losses, on regression trajectories.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rwtheory.theory.reference_solvers import kkt_residual, kl_capped_weights_cvxpy
from rwtheory.weights.optimal import kl_capped_weights
from rwtheory.weights.pipeline import normalize_losses
from rwtheory.weights.statistics import batched_gamma

__all__ = [
    "FAMILIES",
    "Prop1Instance",
    "compare_with_cvxpy",
    "lp_check",
    "lp_vertex",
    "linupper_vs_optimum",
    "prop1_instances",
    "reference_weights",
    "scs_weights",
]

#: Gap families of :func:`prop1_instances`.
FAMILIES = (
    "uniform",
    "ties",
    "log-span 1e-8..1e2",
    "log-span 1e-12..1e6",
    "zeros",
    "tiny temperature",
)
SIZES = (2, 3, 5, 10, 50, 200, 1000)


@dataclass(frozen=True)
class Prop1Instance:
    gaps: np.ndarray
    temperature: float
    rho: float
    family: str


def prop1_instances(count: int, seed: int = 0) -> list[Prop1Instance]:
    """``count`` instances cycling through :data:`FAMILIES` and ``rho`` in
    {1, 1.5, 2, 4, n}, n from :data:`SIZES`, temperatures log-uniform in [1e-4, 1e2]
    (family "tiny temperature": [1e-8, 1e-4]), from ``numpy.random.default_rng(seed)``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        family = FAMILIES[k % len(FAMILIES)]
        n = int(SIZES[rng.integers(len(SIZES))])
        rho = [1.0, 1.5, 2.0, 4.0, float(n)][(k // len(FAMILIES)) % 5]
        r = 10 ** rng.uniform(-4, 2)
        if family == "uniform":
            g = rng.random(n)
        elif family == "ties":
            g = rng.choice([0.0, 0.25, 1.0], size=n)
        elif family.startswith("log-span"):
            lo, hi = (-8, 2) if "1e-8" in family else (-12, 6)
            g = 10 ** rng.uniform(lo, hi, size=n)
        elif family == "zeros":
            g = np.where(rng.random(n) < 0.5, 0.0, rng.random(n))
        else:
            g = rng.random(n)
            r = 10 ** rng.uniform(-8, -4)
        out.append(Prop1Instance(g, float(r), rho, family))
    return out


def scs_weights(
    gaps, temperature: float, rho: float, *, eps: float = 1e-10, max_iters: int = 200_000
):
    """Proposition 1's problem handed to SCS (first order) with tightened tolerances
    ``eps`` (absolute and relative), in the scaled form of
    :func:`rwtheory.theory.reference_solvers.kl_capped_weights_cvxpy` (variable u = n w).
    Returns ``(weights, status)``; raises RuntimeError when SCS returns no point."""
    import cvxpy as cp

    g = np.asarray(gaps, dtype=np.float64)
    n = g.shape[0]
    c = (g - g.max()) / temperature
    u = cp.Variable(n)
    constraints = [cp.sum(u) == n, u >= 0]
    if rho < n:
        constraints.append(u <= rho)
    problem = cp.Problem(cp.Minimize(-c @ u - cp.sum(cp.entr(u))), constraints)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver="SCS", eps_abs=eps, eps_rel=eps, max_iters=max_iters)
    except cp.error.SolverError as exc:
        raise RuntimeError(f"SCS failed: {exc}") from None
    if u.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"SCS returned status {problem.status}")
    return np.asarray(u.value, dtype=np.float64) / n, problem.status


def reference_weights(gaps, temperature: float, rho: float):
    """Clarabel (:func:`kl_capped_weights_cvxpy`), SCS (:func:`scs_weights`) when Clarabel
    fails. Returns ``(weights, solver, status, kkt_residual)``; raises RuntimeError when
    both fail."""
    try:
        w, attempt, status, res = kl_capped_weights_cvxpy(gaps, temperature, rho)
        return w, f"Clarabel {attempt}", status, res
    except RuntimeError as clarabel:
        try:
            w, status = scs_weights(gaps, temperature, rho)
        except RuntimeError as scs:
            raise RuntimeError(f"{clarabel}; {scs}") from None
        return w, "SCS (fallback)", status, kkt_residual(w, gaps, temperature, rho)


@dataclass
class Prop1Comparison:
    """The closed form against the solvers on ``instances`` instances."""

    instances: int
    max_diff: float  # over the instances a solver answered
    per_family: dict[str, float]  # family -> max |w_cvxpy - w_closed|
    failures: list[str]  # instances no solver answered
    fallbacks: int  # instances answered by SCS after Clarabel failed
    above_tol: list[str]  # instances with a difference above tol
    scs_measured: int  # instances (n <= scs_max_n) given to SCS alone
    scs_max_diff: float  # SCS alone (nan if not measured)
    scs_above_tol: int
    scs_failures: int
    tol: float
    seconds: float
    max_scaled_spread: float  # max (max gap - min gap) / r over the instances
    #: among ``above_tol``: instances where the closed form is NOT the better-certified
    #: answer (its KKT residual above tol or above the solver's) -- evidence against it
    closed_form_suspect: int = 0


def compare_with_cvxpy(
    instances: list[Prop1Instance],
    *,
    tol: float = 1e-6,
    scs_max_n: int = 50,
    progress: Callable[[int], object] | None = None,
) -> Prop1Comparison:
    """max ``|w_cvxpy - w_closed|`` over ``instances``; every solver failure is listed. SCS alone
    (20 000 iterations at most) is also measured on the instances with n <= ``scs_max_n``
    (beyond that it takes minutes per instance)."""
    start = time.process_time()
    diffs: dict[str, float] = {}
    failures, above, fallbacks, suspect = [], [], 0, 0
    scs_n, scs_max, scs_above, scs_fail = 0, math.nan, 0, 0
    spread = 0.0
    for k, inst in enumerate(instances):
        g, r, rho = inst.gaps, inst.temperature, inst.rho
        spread = max(spread, float(g.max() - g.min()) / r)
        exact = np.asarray(kl_capped_weights(g, r, rho))
        tag = f"#{k} {inst.family} n={g.size} r={r:.3g} rho={rho:g}"
        try:
            w, solver, _, res = reference_weights(g, r, rho)
        except RuntimeError as exc:
            failures.append(f"{tag}: {exc}")
        else:
            fallbacks += solver.startswith("SCS")
            d = float(np.max(np.abs(w - exact)))
            diffs[inst.family] = max(diffs.get(inst.family, 0.0), d)
            if d > tol:
                own = kkt_residual(exact, g, r, rho)
                suspect += own > tol or own >= res
                above.append(
                    f"{tag}, scaled spread {float(np.ptp(g)) / r:.1e}: {d:.2e} "
                    f"({solver}; KKT residual {res:.1e}, closed form's {own:.1e})"
                )
        if g.size <= scs_max_n:
            scs_n += 1
            try:
                w_scs, _ = scs_weights(g, r, rho, max_iters=20_000)
            except RuntimeError:
                scs_fail += 1
            else:
                d = float(np.max(np.abs(w_scs - exact)))
                scs_max = d if math.isnan(scs_max) else max(scs_max, d)
                scs_above += d > tol
        if progress is not None:
            progress(1)
    return Prop1Comparison(
        len(instances),
        max(diffs.values(), default=math.nan),
        diffs,
        failures,
        fallbacks,
        above,
        scs_n,
        scs_max,
        scs_above,
        scs_fail,
        tol,
        time.process_time() - start,
        spread,
        suspect,
    )


def lp_vertex(gaps, rho: float) -> np.ndarray:
    r"""The r = 0 solution: :math:`\rho/n` on the :math:`\lfloor n/\rho\rfloor` largest gaps,
    the remainder :math:`1 - \lfloor n/\rho\rfloor\rho/n` on the next one (ties broken by
    position)."""
    g = np.asarray(gaps, dtype=np.float64)
    n = g.shape[0]
    cap = min(rho / n, 1.0)
    k = min(n, int(math.floor(n / rho + 1e-12)))
    order = np.argsort(-g, kind="stable")
    w = np.zeros(n)
    w[order[:k]] = cap
    if k < n:
        w[order[k]] = max(0.0, 1 - k * cap)
    return w


@dataclass
class LPCheck:
    instances: int
    max_diff_distinct: float  # |w_lp - vertex| where the LP optimum is unique
    max_objective_gap: float  # |objective(w_lp) - objective(vertex)| / max gap, all
    zero_fraction_rho2: dict[int, float] = field(default_factory=dict)  # n -> share w = 0
    small_r_max_diff: float = math.nan  # kl_capped_weights at r = 1e-9 * spread vs vertex
    failures: list[str] = field(default_factory=list)


def lp_check(count: int = 100, seed: int = 0) -> LPCheck:
    """The linear programme :math:`\\max_w \\sum_i w_i\\Delta_i` over the capped simplex (r = 0)
    solved by Clarabel (tolerances 1e-10) on ``count`` instances (distinct gaps and gaps
    with ties at the cut), against :func:`lp_vertex`; and :func:`rwtheory.kl_capped_weights`
    at a tiny temperature against the same vertex."""
    import cvxpy as cp

    rng = np.random.default_rng(seed)
    out = LPCheck(count, 0.0, 0.0)
    for k in range(count):
        n = int(rng.choice([2, 3, 4, 5, 8, 16, 64, 257]))
        rho = float(rng.choice([1.0, 1.5, 2.0, 4.0, float(n)]))
        ties = k % 2 == 1
        g = rng.choice([0.0, 0.5, 1.0], size=n) if ties else rng.permutation(n) / n + 0.01
        v = lp_vertex(g, rho)
        w = cp.Variable(n)
        cons = [cp.sum(w) == 1, w >= 0, w <= min(rho / n, 1.0)]
        prob = cp.Problem(cp.Maximize(g @ w), cons)
        try:
            prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
        except cp.error.SolverError as exc:
            out.failures.append(f"n={n} rho={rho:g}: {exc}")
            continue
        if w.value is None:
            out.failures.append(f"n={n} rho={rho:g}: status {prob.status}")
            continue
        wl = np.asarray(w.value)
        scale = max(float(g.max()), 1e-300)
        out.max_objective_gap = max(out.max_objective_gap, abs(g @ wl - g @ v) / scale)
        if not ties:
            out.max_diff_distinct = max(out.max_diff_distinct, float(np.abs(wl - v).max()))
        small = np.asarray(kl_capped_weights(g, 1e-9 * max(float(np.ptp(g)), 1e-300), rho))
        if not ties:
            d = float(np.abs(small - v).max())
            out.small_r_max_diff = (
                d if math.isnan(out.small_r_max_diff) else max(out.small_r_max_diff, d)
            )
    for n in (2, 10, 64, 101, 1000):
        out.zero_fraction_rho2[n] = float(np.mean(lp_vertex(np.arange(n) / n, 2.0) == 0))
    return out


@dataclass
class LinUpperDistance:
    """LinUpper versus Proposition 1's optimum (gaps := normalised losses, same r, rho = 2),
    step by step along regression trajectories."""

    temperature: float
    steps: int
    tv_quantiles: list[float]  # total variation, quantiles (5, 50, 95, 100 %)
    gamma_linupper: list[float]  # Gamma of the LinUpper weights (same quantiles)
    gamma_optimum: list[float]  # Gamma of the optimum
    max_rho_linupper: float
    setting: str


# keyword parameters with their defaults, one a line as ruff formats a long signature
def linupper_vs_optimum(
    temperatures=(0.4, 1.0, 2.0),
    *,
    seeds: int = 4,
    steps: int = 200,
    n: int = 1000,
    d: int = 20,
    outlier_fraction: float = 0.1,
    lr_factor: float = 0.25,
) -> list[LinUpperDistance]:
    """Run full-batch GD with LinUpper on the regression with outliers
    (:func:`rwtheory.convex.problems.regression_with_outliers`, ``eta = lr_factor / L``) and, at
    every step, compare its weights w with Proposition 1's optimum
    ``kl_capped_weights(normalize_losses(losses) + 1, r, 2)``: total variation
    :math:`\\frac12\\|w - w^\\star\\|_1` and :math:`\\Gamma` of each on the losses (for least
    squares every :math:`f_i` has minimum 0, so a loss is the gap to its own minimum).
    These are our runs, not Figure 7's (defined in the figures' module)."""
    from rwtheory.convex import engine
    from rwtheory.convex.problems import regression_with_outliers
    from rwtheory.convex.schemes import Strategy

    p = regression_with_outliers(seeds, n=n, d=d, outlier_fraction=outlier_fraction, n_test=10)
    lr = lr_factor / p.smoothness()
    out = []
    qs = (0.05, 0.5, 0.95, 1.0)
    for r in temperatures:
        tr = engine.run(p, Strategy("linupper", r), lr=lr, steps=steps, keep_weights=True)
        assert tr.iterates is not None and tr.weights is not None  # kept (keep_iterates=True)
        X = tr.iterates[:, :-1]  # (R, T, d)
        losses = 0.5 * (np.einsum("rnd,rtd->rtn", p.A, X) - p.b[:, None]) ** 2
        flat = losses.reshape(-1, n)
        w_lin = tr.weights.reshape(-1, n)
        # gaps := normalised losses + 1 in [0, 2] (the optimum is invariant to a common shift)
        w_opt = np.stack(
            [
                np.asarray(kl_capped_weights(np.asarray(normalize_losses(row)) + 1, r, 2.0))
                for row in flat
            ]
        )
        tv = 0.5 * np.abs(w_lin - w_opt).sum(-1)
        g_lin = np.asarray(batched_gamma(w_lin, flat))
        g_opt = np.asarray(batched_gamma(w_opt, flat))
        out.append(
            LinUpperDistance(
                r,
                steps,
                [float(np.quantile(tv, q)) for q in qs],
                [float(np.quantile(g_lin, q)) for q in qs],
                [float(np.quantile(g_opt, q)) for q in qs],
                float(np.max(n * w_lin.max(-1))),
                f"regression_with_outliers(seeds={seeds}, n={n}, d={d}, "
                f"outlier_fraction={outlier_fraction}), GD, eta={lr_factor:g}/L, {steps} steps",
            )
        )
    return out
