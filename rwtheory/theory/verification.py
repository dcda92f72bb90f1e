r"""Randomised verification of the inequalities of Theorems 1-2 (THEORY §3-§4).

:func:`verify` draws interpolation instances -- consistent least squares with random n, d
(n < d included), conditioning and spread between L and :math:`L_{\max}` (row norms), a
weighting scheme (every paper strategy, Proposition 1's capped weights, DRO-KL, and the
adversarial schemes of :mod:`rwtheory.convex.adversaries`), a proof route whose step-size limit sets
:math:`\eta` and a fraction of that limit -- runs every instance with full-batch GD,
minibatch SGD (batch sizes 1, 2, n/4, n/2), full-batch and minibatch heavy ball (momentum
schedule :func:`rwtheory.theory.theorems.heavy_ball_lambdas`) and full-batch heavy ball with the
constant schedule :func:`rwtheory.theory.theorems.heavy_ball_constant_lambdas` (for the
average-iterate rate), and evaluates every check of
:mod:`rwtheory.theory.theorems` on both routes. It reports, per algorithm, route and inequality, the
number of evaluated inequalities, the violations beyond ``rtol`` (relative to the
inequality's largest term) and the tightness observed/bound as quantiles.

:func:`broken_hypotheses` breaks one hypothesis at a time on purpose (uncapped DRO-KL
weights against the cap rho = 2 of Route C, step sizes above the limit, no interpolation)
and reports whether and when the bounds fail; :func:`expectation_checks` estimates the
in-expectation rates of the minibatch methods by Monte Carlo.

Everything is seeded: the same arguments give the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from rwtheory.convex import engine
from rwtheory.theory import theorems
from rwtheory.convex.adversaries import DirichletWeights, RandomCapped, SmallestGaps
from rwtheory.convex.problems import LeastSquares, consistent_least_squares, regression_with_outliers
from rwtheory.convex.schemes import DROKL, KLCapped, Scheme, Strategy
from rwtheory.weights.pipeline import worst_case_rho

__all__ = ["SCHEMES", "Instance", "Tally", "a_priori_rho", "broken_hypotheses",
           "expectation_checks", "sample_instances", "verify"]

#: (scheme, weights non-decreasing in the loss?) -- the verification's pool. Monotone
#: weights have Gamma_t >= 1 (Chebyshev's sum inequality), the others need not.
SCHEMES: tuple[tuple[Scheme, bool], ...] = (
    (Strategy("uniform"), True),
    (Strategy("linupper", 0.4), True),
    (Strategy("linupper", 1.0), True),
    (Strategy("linupper", 2.0), True),
    (Strategy("upper", 1.0), True),
    (Strategy("quadratic", 0.5), False),
    (Strategy("quadratic", 2.0), False),
    (Strategy("extremes", 0.5), False),
    (KLCapped(0.5, 2.0), True),
    (KLCapped(0.05, 1.5), True),
    (KLCapped(1.0, 4.0), True),
    (DROKL(0.5), True),
    (DROKL(5.0), True),
    (DirichletWeights(0, 0.1), False),
    (DirichletWeights(1, 1.0), False),
    (SmallestGaps(2.0), False),
    (RandomCapped(0, 2.0, 0.05), False),
)
_MONOTONE = dict(SCHEMES)

SHAPES = ((6, 3), (8, 16), (16, 4), (24, 24), (32, 64), (48, 12), (64, 16))
CONDITIONS = (1.0, 10.0, 1e3)
ROW_SPREADS = (1.0, 3.0, 30.0, 300.0)
STEP_FACTORS = (1.0, 0.5, 0.2)


@dataclass(frozen=True)
class Instance:
    """One interpolation instance: problem (n, d, condition, row_spread, seed), weighting
    scheme, the route whose step-size limit sets eta, the fraction of that limit, and the
    minibatch size of its SGD / minibatch heavy-ball runs."""

    n: int
    d: int
    condition: float
    row_spread: float
    seed: int
    scheme: Scheme
    route: str
    step_factor: float
    batch_size: int


def sample_instances(count: int, seed: int = 0) -> list[Instance]:
    """``count`` instances drawn uniformly from the pools above with
    ``numpy.random.default_rng(seed)``; instance k's problem uses seed ``1000 * seed + k``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        n, d = SHAPES[rng.integers(len(SHAPES))]
        sizes = sorted({1, 2, max(1, n // 4), max(1, n // 2)})
        out.append(Instance(
            n=n, d=d, condition=float(rng.choice(CONDITIONS)),
            row_spread=float(rng.choice(ROW_SPREADS)), seed=1000 * seed + k,
            scheme=SCHEMES[rng.integers(len(SCHEMES))][0], route=str(rng.choice(["C", "J"])),
            step_factor=float(rng.choice(STEP_FACTORS)),
            batch_size=int(sizes[rng.integers(len(sizes))])))
    return out


def a_priori_rho(scheme: Scheme, b: int) -> float:
    """A cap rho >= b max_i w_i known before the run: the exact worst case of the paper's
    pipeline (:func:`rwtheory.worst_case_rho`), the cap of Proposition 1's weights and of
    the capped adversaries, and the trivial b for uncapped schemes (DRO-KL, Dirichlet)."""
    if isinstance(scheme, Strategy):
        return worst_case_rho(scheme.strategy, b, float(scheme.temperature), scheme.delta)
    if isinstance(scheme, KLCapped | SmallestGaps | RandomCapped):
        return min(float(scheme.rho), float(b))
    return float(b)


def _problem(instances: Sequence[Instance]) -> LeastSquares:
    parts = [consistent_least_squares([i.seed], n=i.n, d=i.d, condition=i.condition,
                                      row_spread=i.row_spread) for i in instances]
    return LeastSquares(A=np.concatenate([p.A for p in parts]),
                        b=np.concatenate([p.b for p in parts]),
                        x_star=np.concatenate([p.x_star for p in parts]),
                        params=dict(problem="verification", seeds=[i.seed for i in instances]))


def _step_sizes(instances, problem, b: int):
    """eta = step_factor / (2 L_hat_apriori) and kappa = 1 - eta L_hat_apriori per instance,
    with L_hat_apriori = rho_apriori * L_b (Route C; L_b <= min(L_max, n L / b)) or L_max."""
    L, L_max = problem.smoothness(), problem.max_smoothness()
    n = problem.n
    L_b = L if b == n else np.minimum(L_max, n * L / b)
    rho = np.array([a_priori_rho(i.scheme, b) for i in instances])
    L_hat = np.where([i.route == "C" for i in instances], rho * L_b, L_max)
    u = np.array([i.step_factor for i in instances])
    eta = u / (2 * L_hat)
    return eta, rho, 1 - u / 2


def _a_priori_gamma(instances, rho) -> np.ndarray:
    """The Gamma the momentum schedules assume: 1 for weights non-decreasing in the gap,
    else 1/2 (checked a posteriori), at most rho."""
    gam = np.array([1.0 if _MONOTONE.get(i.scheme, False) else 0.5 for i in instances])
    return np.minimum(gam, rho)


def _lambdas(instances, rho, kappa, steps, schedule=None):
    """Momentum schedules (one per run): ``schedule`` (default
    :func:`~rwtheory.theory.theorems.heavy_ball_lambdas`) with the a-priori Gamma
    (:func:`_a_priori_gamma`), rho and kappa."""
    schedule = schedule or theorems.heavy_ball_lambdas
    gam = _a_priori_gamma(instances, rho)
    return [schedule(steps, g, r, k) for g, r, k in zip(gam, rho, kappa, strict=True)]


@dataclass
class ConstantScheduleTally:
    r"""The claim behind :func:`rwtheory.theory.theorems.heavy_ball_constant_lambdas` on one route:
    where the a-priori constants hold on the whole path (:math:`\Gamma_t \ge \Gamma`,
    :math:`\rho_t \le \rho`, :math:`1 - \eta\hat L_t \ge \kappa`, up to a relative 1e-12),
    every coefficient is at least :math:`\kappa\Gamma/2` (relative 1e-9)."""

    route: str
    runs: int = 0
    hypotheses_hold: int = 0
    claim_holds: int = 0   # among the runs whose hypotheses hold

    def add(self, tr, L_hat, a_priori) -> None:
        gam, rho, kappa = (a_priori[k][:, None] for k in ("gamma", "rho", "kappa"))
        eta = tr.lr[:, None]
        tol = 1e-12
        with np.errstate(invalid="ignore"):
            hold = (np.all(tr.gamma >= gam * (1 - tol), axis=1)
                    & np.all(tr.rho <= rho * (1 + tol), axis=1)
                    & np.all(1 - eta * L_hat >= kappa - tol, axis=1))
            m = theorems.heavy_ball_min_coefficients(tr, L_hat)[:, -1]
            ok = m >= 0.5 * kappa[:, 0] * gam[:, 0] * (1 - 1e-9)
        self.runs += tr.runs
        self.hypotheses_hold += int(hold.sum())
        self.claim_holds += int((hold & ok).sum())


@dataclass
class Tally:
    """Accumulated statistics of one (algorithm, route, inequality)."""

    algorithm: str
    route: str
    inequality: str
    runs: int = 0
    runs_applicable: int = 0
    evaluated: int = 0
    violations: int = 0
    at_rounding_floor: int = 0  # violations without the float64 floor (see Bound.floor)
    max_relative_violation: float = -math.inf
    tightness: list = field(default_factory=list)

    def add(self, bound: theorems.Bound, rtol: float, final_only: bool) -> None:
        ev = bound.evaluated
        self.runs += ev.shape[0]
        self.runs_applicable += int(ev.any(axis=-1).sum()) if ev.ndim > 1 else int(ev.sum())
        self.evaluated += int(ev.sum())
        violated = bound.violated(rtol)
        self.violations += int(violated.sum())
        self.at_rounding_floor += int((replace(bound, floor=0.0).violated(rtol)
                                       & ~violated).sum())
        rv = bound.relative_violation()
        if np.isfinite(rv).any():
            self.max_relative_violation = max(self.max_relative_violation,
                                              float(np.nanmax(rv)))
        if final_only:  # rates: the last applicable horizon of every run
            last = _last_true(ev)
            rows = np.flatnonzero(last >= 0)
            if rows.size:
                sub = theorems.Bound(*(np.broadcast_to(a, ev.shape)[rows, last[rows]]
                                       for a in (bound.observed, bound.bound, bound.scale,
                                                 bound.applicable, bound.floor)))
                self.tightness.append(_ratio(sub))
        else:
            self.tightness.append(_ratio(bound))

    def quantiles(self, qs=(0.05, 0.5, 0.95, 1.0)) -> list[float]:
        t = np.concatenate(self.tightness) if self.tightness else np.empty(0)
        return [float(np.quantile(t, q)) for q in qs] if t.size else [math.nan] * len(qs)


def _ratio(bound: theorems.Bound) -> np.ndarray:
    """observed/bound where both sides are positive and the bound is measurable (elsewhere
    the inequality says nothing about progress): :meth:`rwtheory.theory.theorems.Bound.tightness`."""
    return bound.tightness()


def _last_true(mask: np.ndarray) -> np.ndarray:
    """Index of the last True per row, -1 if none."""
    T = mask.shape[-1]
    idx = T - 1 - np.argmax(mask[:, ::-1], axis=1)
    return np.where(mask.any(axis=1), idx, -1)


#: (algorithm label, optim method, minibatch?, checks: (name, function, needs L, rate?))
_CHECKS: dict[str, list[tuple[str, Callable, bool, bool]]] = {
    "GD": [("one-step", theorems.gd_one_step, False, False),
           ("pathwise", theorems.gd_pathwise, False, False),
           ("rate", theorems.gd_rate, False, True)],
    "SGD": [("one-step", theorems.sgd_one_step, False, False),
            ("pathwise", theorems.sgd_pathwise, False, False),
            ("rate (pathwise)", theorems.sgd_rate, False, True)],
    "heavy ball": [("one-step", theorems.heavy_ball_one_step, False, False),
                   ("pathwise", theorems.heavy_ball_pathwise, False, False),
                   ("coefficient form", theorems.heavy_ball_weighted_sum, False, False),
                   ("rate (derived)", theorems.heavy_ball_rate, True, True),
                   ("average rate (derived)", theorems.heavy_ball_average_rate, False, True)],
    "heavy ball, constant λ": [
        ("pathwise", theorems.heavy_ball_pathwise, False, False),
        ("coefficient form", theorems.heavy_ball_weighted_sum, False, False),
        ("average rate (derived)", theorems.heavy_ball_average_rate, False, True)],
    "heavy ball, minibatch": [("one-step", theorems.heavy_ball_one_step, False, False),
                              ("pathwise", theorems.heavy_ball_pathwise, False, False)],
}


def _runs(instances, steps):
    """Yield (algorithm, trajectory, problem) for every algorithm on a group of instances
    sharing (n, d)."""
    problem = _problem(instances)
    n = problem.n
    schemes = [i.scheme for i in instances]
    eta, rho, kappa = _step_sizes(instances, problem, n)
    yield "GD", engine.run(problem, schemes, method="gd", lr=eta, steps=steps), problem
    for label, schedule in (("heavy ball", theorems.heavy_ball_lambdas),
                            ("heavy ball, constant λ", theorems.heavy_ball_constant_lambdas)):
        lam = _lambdas(instances, rho, kappa, steps, schedule)
        for group in _by_lambdas(lam):
            sub = problem.take(group)
            tr = engine.run(sub, [schemes[g] for g in group], method="heavy_ball",
                           lr=eta[group], steps=steps, lambdas=lam[group[0]])
            tr.params["a_priori"] = dict(
                gamma=_a_priori_gamma([instances[g] for g in group], rho[group]),
                rho=rho[group], kappa=kappa[group])
            yield label, tr, sub
    for b in sorted({i.batch_size for i in instances}):
        idx = [k for k, i in enumerate(instances) if i.batch_size == b]
        sub_inst = [instances[k] for k in idx]
        sub = problem.take(idx)
        e_b, r_b, k_b = _step_sizes(sub_inst, sub, b)
        sch = [i.scheme for i in sub_inst]
        method = "gd" if b == n else "sgd"
        yield "SGD", engine.run(sub, sch, method=method, lr=e_b, steps=steps,
                               batch_size=None if b == n else b), sub
        lam_b = _lambdas(sub_inst, r_b, k_b, steps)
        for group in _by_lambdas(lam_b):
            s2 = sub.take(group)
            yield "heavy ball, minibatch", engine.run(
                s2, [sch[g] for g in group], method="heavy_ball", lr=e_b[group], steps=steps,
                batch_size=None if b == n else b, lambdas=lam_b[group[0]]), s2


def _by_lambdas(lam: list[np.ndarray]) -> list[list[int]]:
    """engine.run takes one momentum schedule per call: group the runs that share one."""
    groups: dict[bytes, list[int]] = {}
    for k, v in enumerate(lam):
        groups.setdefault(v.tobytes(), []).append(k)
    return list(groups.values())


@dataclass
class VerificationResult:
    """What :func:`verify` found: one :class:`Tally` per (algorithm, route, inequality)."""

    instances: int
    steps: int
    rtol: float
    tallies: list[Tally]
    seconds: float
    constant_schedule: list[ConstantScheduleTally] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return sum(t.violations for t in self.tallies)

    @property
    def evaluated(self) -> int:
        return sum(t.evaluated for t in self.tallies)

    def tally(self, algorithm: str, route: str, inequality: str) -> Tally:
        for t in self.tallies:
            if (t.algorithm, t.route, t.inequality) == (algorithm, route, inequality):
                return t
        raise KeyError((algorithm, route, inequality))


def verify(count: int = 1000, *, steps: int = 100, seed: int = 0, rtol: float = 1e-9,
           progress: Callable[[int], None] | None = None) -> VerificationResult:
    """Run ``count`` random instances (:func:`sample_instances`) for ``steps`` steps with
    every algorithm and evaluate every inequality of :mod:`rwtheory.theory.theorems` on both
    routes. ``progress`` is called with the number of instances finished."""
    start = time.process_time()
    instances = sample_instances(count, seed)
    tallies: dict[tuple[str, str, str], Tally] = {}
    for algorithm, checks in _CHECKS.items():
        for route in theorems.ROUTES:
            for name, _, _, _ in checks:
                tallies[algorithm, route, name] = Tally(algorithm, route, name)
    constant = {route: ConstantScheduleTally(route) for route in theorems.ROUTES}
    by_shape: dict[tuple[int, int], list[Instance]] = {}
    for i in instances:
        by_shape.setdefault((i.n, i.d), []).append(i)
    for group in by_shape.values():
        for algorithm, tr, problem in _runs(group, steps):
            for route in theorems.ROUTES:
                L_hat = theorems.effective_smoothness(problem, tr, route)
                for name, fn, needs_L, is_rate in _CHECKS[algorithm]:
                    args = (tr, L_hat, problem.smoothness()) if needs_L else (tr, L_hat)
                    tallies[algorithm, route, name].add(fn(*args), rtol, final_only=is_rate)
                if algorithm == "heavy ball, constant λ":
                    constant[route].add(tr, L_hat, tr.params["a_priori"])
        if progress is not None:
            progress(len(group))
    return VerificationResult(count, steps, rtol, list(tallies.values()),
                              time.process_time() - start, list(constant.values()))


# ------------------------------------------------------------------ expectations
@dataclass(frozen=True)
class ExpectationCheck:
    """A Monte Carlo estimate of an in-expectation rate at the final horizon."""

    algorithm: str
    scheme: str
    paths: int
    mean: float
    stderr: float
    bound: float
    exceeds: bool  # mean > bound + 3 stderr at some applicable horizon


def _replicate(problem: LeastSquares, paths: int, seed: int) -> LeastSquares:
    """``paths`` copies of a one-row problem with independent minibatch streams."""
    p = problem.take([0] * paths)
    return LeastSquares(A=p.A, b=p.b, x_star=p.x_star,
                        params=dict(p.params, seeds=[seed * 10_000 + k for k in range(paths)]))


def expectation_checks(paths: int = 64, steps: int = 100, seed: int = 0
                       ) -> list[ExpectationCheck]:
    """Theorem 2's in-expectation rates (SGD: :func:`rwtheory.theory.theorems.sgd_rate_in_expectation`;
    minibatch heavy ball: :func:`rwtheory.theory.theorems.heavy_ball_rate_in_expectation`) on a few
    problems, ``paths`` independent batch streams each, Route C with the a-priori cap."""
    out = []
    cases = [(Strategy("uniform"), 32, 16, 8), (Strategy("linupper", 2.0), 32, 16, 8),
             (KLCapped(0.5, 2.0), 64, 16, 16), (Strategy("quadratic", 0.5), 24, 48, 6)]
    for k, (scheme, n, d, b) in enumerate(cases):
        base = consistent_least_squares([seed * 100 + k], n=n, d=d, condition=10.0,
                                        row_spread=10.0)
        p = _replicate(base, paths, seed * 100 + k)
        rho = a_priori_rho(scheme, b)
        L_b = min(float(base.max_smoothness()[0]), n * float(base.smoothness()[0]) / b)
        eta = 1 / (2 * rho * L_b)
        tr = engine.run(p, scheme, method="sgd", lr=eta, steps=steps, batch_size=b)
        est = theorems.sgd_rate_in_expectation(tr, theorems.effective_smoothness(p, tr, "C"))
        out.append(_expectation_row("SGD", scheme, paths, est))
        gam = 1.0 if _MONOTONE.get(scheme, False) else 0.5
        lam = theorems.heavy_ball_lambdas(steps, min(gam, rho), rho, 0.5)
        tr = engine.run(p, scheme, method="heavy_ball", lr=eta, steps=steps, batch_size=b,
                       lambdas=lam)
        est = theorems.heavy_ball_rate_in_expectation(
            tr, theorems.effective_smoothness(p, tr, "C"), p.smoothness())
        out.append(_expectation_row("heavy ball, minibatch", scheme, paths, est))
    return out


def _expectation_row(algorithm, scheme, paths, est) -> ExpectationCheck:
    ok = est.applicable & np.isfinite(est.bound)
    exceeds = bool(np.any(ok & (est.observed > est.bound + 3 * est.stderr)))
    last = int(np.flatnonzero(ok)[-1]) if ok.any() else -1
    return ExpectationCheck(algorithm, scheme.label, paths,
                            float(est.observed[last]) if last >= 0 else math.nan,
                            float(est.stderr[last]) if last >= 0 else math.nan,
                            float(est.bound[last]) if last >= 0 else math.nan, exceeds)


# ------------------------------------------------------------------ broken hypotheses
@dataclass(frozen=True)
class BrokenHypothesis:
    """One deliberately broken hypothesis: how many runs, how many broke the bound, and
    when (first failing step, median over failing runs)."""

    hypothesis: str
    setting: str
    runs: int
    failing_runs: int
    first_failure_step: float
    detail: str
    facts: dict = field(default_factory=dict)   # the numbers behind ``detail``


def _first_failure(mask: np.ndarray) -> np.ndarray:
    idx = np.argmax(mask, axis=1)
    return np.where(mask.any(axis=1), idx, -1)


def _summarise(hypothesis, setting, violated, detail, **facts) -> BrokenHypothesis:
    first = _first_failure(violated)
    failing = first >= 0
    med = float(np.median(first[failing])) if failing.any() else math.nan
    return BrokenHypothesis(hypothesis, setting, int(violated.shape[0]), int(failing.sum()),
                            med, detail, facts)


def broken_hypotheses(*, seeds: int = 8, steps: int = 200, rtol: float = 1e-9
                      ) -> list[BrokenHypothesis]:
    """Break one hypothesis at a time and report whether and when the bound fails.

    1. *Uncapped weights on Route C*: DRO-KL (no cap) at the paper's step
       :math:`\\eta = 1/(4L)`, checked against Route C with the paper's cap
       :math:`\\rho = 2` in place of the true :math:`\\rho_t` (one-step inequality and rate).
    2. *Step size above the limit*: :math:`\\eta = c/(2\\rho L)`, c > 1, for capped weights;
       the rate :math:`\\|x_0 - x^\\star\\|^2/(\\eta\\Gamma T)` (its proof needs c <= 1) is checked;
       the one-step inequality is valid for every step and is checked too.
    3. *No interpolation*: the regression with outliers of App. B.1, gaps measured from
       the least-squares solution :math:`\\hat x` (then :math:`\\Delta_i` can be negative).
    4. *Carry-over ignored*: heavy ball with Sebbouh et al.'s :math:`\\lambda_t = \\kappa t`
       and the bound :math:`D^2\\max(1/(2\\eta\\Gamma), L/2)/(1+\\lambda_T)` that follows if one
       assumed :math:`S'_{t+1} \\le \\Gamma a_t` (our guess at the uniform proof carried over).
    """
    out = []
    for spread in (1.0, 10.0, 100.0):
        p = consistent_least_squares(seeds, n=64, d=16, condition=10.0, row_spread=spread)
        L = p.smoothness()
        for tau in (0.1, 0.5, 2.0):
            tr = engine.run(p, DROKL(tau), lr=1 / (4 * L), steps=steps)
            one = theorems.gd_one_step(tr, 2.0 * L[:, None])
            rate = theorems.gd_rate(tr, 2.0 * L[:, None])
            bad = one.violated(rtol) | rate.violated(rtol)
            rate_only = rate.violated(rtol).any(axis=1)
            out.append(_summarise(
                "uncapped DRO-KL vs Route C with ρ = 2", f"row_spread={spread:g}, "
                f"τ={tau:g}, η=1/(4L)", bad,
                f"max ρ_t = {np.nanmax(tr.rho):.3g}; one-step failing runs "
                f"{int(one.violated(rtol).any(axis=1).sum())}, rate failing runs "
                f"{int(rate_only.sum())}, diverged {int(tr.diverged.sum())}/{tr.runs}",
                row_spread=spread, max_rho=float(np.nanmax(tr.rho))))
    p = consistent_least_squares(seeds, n=64, d=16, condition=100.0, row_spread=10.0)
    L = p.smoothness()
    for scheme, rho in ((Strategy("uniform"), 1.0), (Strategy("linupper", 2.0), 2.0),
                        (KLCapped(0.5, 2.0), 2.0)):
        for c in (1.0, 2.0, 3.9, 6.0, 7.9):
            eta = c / (2 * rho * L)
            tr = engine.run(p, scheme, lr=eta, steps=steps)
            L_hat = theorems.effective_smoothness(p, tr, "C")
            # the rate's step-size hypothesis is broken on purpose: evaluate it regardless
            rate = theorems.gd_rate(tr, L_hat)
            rate = replace(rate, applicable=np.isfinite(rate.bound) & (rate.bound > 0))
            one = theorems.gd_one_step(tr, L_hat)
            out.append(_summarise(
                "step size above 1/(2ρL)", f"{scheme.label}, η = {c:g}/(2ρL)",
                rate.violated(rtol),
                f"one-step (valid for any η) violations: {int(one.violated(rtol).sum())}; "
                f"diverged {int(tr.diverged.sum())}/{tr.runs}",
                step_factor=c, one_step_violations=int(one.violated(rtol).sum())))
    out += _no_interpolation(seeds, steps, rtol)
    out += _carry_over_ignored(seeds, steps, rtol)
    return out


def _no_interpolation(seeds: int, steps: int, rtol: float) -> list[BrokenHypothesis]:
    out = []
    for frac in (0.1, 0.25):
        p = regression_with_outliers(seeds, n=200, d=10, outlier_fraction=frac, n_test=10)
        x_hat = np.stack([np.linalg.lstsq(A, b, rcond=None)[0] for A, b in zip(p.A, p.b,
                                                                               strict=True)])
        L = p.smoothness()
        r_hat = p.residuals(x_hat)                                # (R, n)
        for scheme in (Strategy("uniform"), Strategy("linupper", 1.0), KLCapped(0.5, 2.0)):
            tr = engine.run(p, scheme, lr=1 / (4 * L), steps=steps, keep_weights=True)
            X = tr.iterates                                        # (R, T+1, d)
            # Delta_i(x) = f_i(x) - f_i(x_hat) = e_i (e_i/2 + r_hat_i), e = A (x - x_hat):
            # no cancellation of f_i(x) against f_i(x_hat) near x_hat. May be < 0.
            e = np.einsum("rnd,rtd->rtn", p.A, X - x_hat[:, None])
            gaps = e * (0.5 * e + r_hat[:, None])
            a = gaps.mean(-1)
            S = (tr.weights * gaps[:, :-1]).sum(-1)
            S_abs = (tr.weights * np.abs(gaps[:, :-1])).sum(-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                gamma = np.where(a[:, :-1] != 0, S / a[:, :-1], 1.0)
            d = ((X - x_hat[:, None]) ** 2).sum(-1)
            eta = tr.lr[:, None]
            one = theorems.Bound(2 * eta * (1 - eta * tr.rho * L[:, None]) * S,
                                 d[:, :-1] - d[:, 1:],
                                 np.maximum.reduce([d[:, :-1], d[:, 1:], 2 * eta * S_abs]),
                                 np.ones_like(S, dtype=bool))
            k = np.arange(1, steps + 1)
            gmin = np.minimum.accumulate(gamma, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                bound = d[:, :1] / (eta * gmin * k)
            rate = theorems.Bound(np.cumsum(a[:, :-1], axis=1) / k, bound, np.abs(bound),
                                  gmin > 0)
            neg = int((gaps < 0).any(axis=(1, 2)).sum())
            out.append(_summarise(
                "no interpolation", f"outliers {frac:.0%}, {scheme.label}, η=1/(4L)",
                one.violated(rtol) | rate.violated(rtol),
                f"runs with some Δ_i < 0: {neg}/{tr.runs}; Γ_t ≤ 0 (rate vacuous) in "
                f"{int((gamma <= 0).any(axis=1).sum())} runs; one-step failing runs "
                f"{int(one.violated(rtol).any(axis=1).sum())}, rate failing runs "
                f"{int(rate.violated(rtol).any(axis=1).sum())}; median a_T/a_0 = "
                f"{np.median(a[:, -1] / a[:, 0]):.2g}",
                uniform=scheme == Strategy("uniform"),
                vacuous_runs=int((gamma <= 0).any(axis=1).sum()),
                final_gap_ratio=float(np.median(a[:, -1] / a[:, 0]))))
    return out


def _carry_over_ignored(seeds: int, steps: int, rtol: float) -> list[BrokenHypothesis]:
    out = []
    p = consistent_least_squares(seeds, n=32, d=16, condition=10.0, row_spread=30.0)
    L = p.smoothness()
    for scheme in (Strategy("linupper", 0.4), KLCapped(0.2, 2.0), SmallestGaps(2.0),
                   RandomCapped(3, 2.0, 0.05)):
        rho = a_priori_rho(scheme, p.n)
        eta = 1 / (2 * rho * L)
        lam = 0.5 * np.arange(steps + 1)                         # kappa t, kappa = 1/2
        tr = engine.run(p, scheme, method="heavy_ball", lr=eta, steps=steps, lambdas=lam)
        gamma = np.minimum.accumulate(tr.gamma, axis=1)
        lam_k = lam[None, 1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = tr.dist2[:, :1] * np.maximum(1 / (2 * eta[:, None] * gamma),
                                                 L[:, None] / 2) / (1 + lam_k)
        naive = theorems.Bound(tr.gap[:, 1:], bound, np.abs(bound), gamma > 0)
        derived = theorems.heavy_ball_rate(tr, theorems.effective_smoothness(p, tr, "C"), L)
        out.append(_summarise(
            "carry-over ignored (heavy ball, λ_t = t/2)", f"{scheme.label}, "
            f"η = 1/(2ρL)", naive.violated(rtol),
            f"derived bound (feasible horizons only): "
            f"{int(derived.violated(rtol).sum())} violations",
            derived_violations=int(derived.violated(rtol).sum())))
    return out
