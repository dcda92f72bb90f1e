r"""Randomised verification of the inequalities of Theorems 1-2 (THEORY §3-§4).

:func:`verify` draws interpolation instances -- a per-sample loss (least squares, or the
non-quadratic convex Huber and log-cosh losses of :mod:`rwtheory.convex.glm` on the same
data, b = A x*), random n, d (n < d included), conditioning and spread between L and
:math:`L_{\max}` (row norms), a weighting scheme (every paper strategy, Proposition 1's capped
weights, DRO-KL, and the adversarial schemes of :mod:`rwtheory.convex.adversaries`), a proof
route whose step-size limit sets :math:`\eta` and a multiple of that limit -- runs every
instance with full-batch GD, minibatch SGD (batch sizes 1, 2, n/4, n/2), full-batch and
minibatch heavy ball (momentum schedule :func:`rwtheory.theory.theorems.heavy_ball_lambdas`)
and full-batch heavy ball with the constant schedule
:func:`rwtheory.theory.theorems.heavy_ball_constant_lambdas` (for the average-iterate rate),
and evaluates every check of :mod:`rwtheory.theory.theorems`, in the paper's and in the
sharper form, on both routes. It reports, per algorithm, route and inequality, the number of
runs whose hypotheses held, the evaluated inequalities, the violations beyond ``rtol``
(relative to the inequality's largest term) and the tightness observed/bound as quantiles.

**Steps above the limits.** The step is ``step_factor / (2 L_hat)`` with factors up to 3.98,
i.e. up to :math:`1.99/\hat L` (a-priori :math:`\hat L`). Below :math:`1/(2\hat L)` the exact
decrease of :math:`\|x - x^\star\|^2` on least squares exceeds :math:`2\eta(1 - \eta L')S` for
*every* :math:`L' \ge 0`, so a check with such steps only cannot tell a right smoothness
constant from a wrong one; between :math:`1/\hat L` and :math:`2/\hat L` the sharper one-step
inequality still claims a decrease and a too-small :math:`\hat L` shows as violations
(``tests/theory/test_mutants.py``).

**Non-quadratic losses.** For quadratics :math:`\langle\nabla f_i(x), x - x^\star\rangle =
2\Delta_i(x)`, so the convexity step of every proof gives away a factor 2; Huber and log-cosh
are nearly linear far from the fit (:math:`\langle\nabla f_i, x - x^\star\rangle \approx
\Delta_i`), where the inequalities can be nearly tight. Their scale (Huber's
:math:`\delta`, log-cosh's s) is 0.1 or 1 against residuals of order 1-300 at :math:`x_0 = 0`
(:func:`rwtheory.convex.problems.consistent_least_squares`), so the runs cross from the
linear to the quadratic regime.

Rate rows count *applicable* runs (the hypotheses held on some horizon); a status needs at
least :data:`MIN_APPLICABLE_RUNS` of them (:meth:`Tally.status`).

Everything is seeded: the same arguments give the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from rwtheory.convex import engine, glm
from rwtheory.convex.adversaries import DirichletWeights, RandomCapped, SmallestGaps
from rwtheory.convex.problems import LeastSquares, consistent_least_squares
from rwtheory.convex.schemes import DROKL, KLCapped, Scheme, Strategy
from rwtheory.theory import theorems
from rwtheory.weights.pipeline import worst_case_rho

__all__ = [
    "INEQUALITIES",
    "LOSSES",
    "MIN_APPLICABLE_RUNS",
    "SCHEMES",
    "STEP_FACTORS",
    "Instance",
    "Tally",
    "a_priori_rho",
    "combined_status",
    "expectation_checks",
    "heavy_ball_by_schedule",
    "instance_draws",
    "make_problem",
    "sample_instances",
    "step_sizes",
    "verify",
]

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
#: Multiples of the limit 1/(2 L_hat) of the paper's rates: 2 is the sharp rate's limit
#: 1/L_hat, 3.98 is 1.99/L_hat (the sharp one-step inequality still claims a decrease).
STEP_FACTORS = (0.2, 0.5, 1.0, 2.0, 3.0, 3.98)
#: Per-sample losses: (name, scale) -- the scale is Huber's delta / log-cosh's s.
LOSSES = (("squared", 1.0), ("huber", 0.1), ("huber", 1.0), ("log_cosh", 0.1), ("log_cosh", 1.0))
#: A rate or theorem row says "holds" / "fails" only when its hypotheses held on at least
#: this many runs; else "not checked" with the count (an audit found rate rows reading
#: "holds" with 0 applicable runs).
MIN_APPLICABLE_RUNS = 20


@dataclass(frozen=True)
class Instance:
    """One interpolation instance: problem (n, d, condition, row_spread, seed), per-sample
    loss (name and scale, :data:`LOSSES`), weighting scheme, the route whose step-size limit
    sets eta, the multiple of that limit (:data:`STEP_FACTORS`), and the minibatch size of its
    SGD / minibatch heavy-ball runs."""

    n: int
    d: int
    condition: float
    row_spread: float
    seed: int
    scheme: Scheme
    route: str
    step_factor: float
    batch_size: int
    loss: str = "squared"
    loss_scale: float = 1.0


def instance_draws(count: int, seed: int, shapes):
    """The draws every random instance starts with: yields, for k = 0, ..., count - 1, k, the
    generator ``numpy.random.default_rng(seed)`` (one for all instances, drawn in turn),
    the instance's (n, d) drawn uniformly from ``shapes``, and the minibatch sizes it may
    draw from, {1, 2, n/4, n/2}; the caller draws the rest of the instance from the same
    generator before the next one."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    rng = np.random.default_rng(seed)
    for k in range(count):
        n, d = shapes[rng.integers(len(shapes))]
        yield k, rng, (n, d), sorted({1, 2, max(1, n // 4), max(1, n // 2)})


def sample_instances(count: int, seed: int = 0) -> list[Instance]:
    """``count`` instances drawn uniformly from the pools above with
    ``numpy.random.default_rng(seed)``; instance k's problem uses seed ``1000 * seed + k``."""
    out = []
    for k, rng, (n, d), sizes in instance_draws(count, seed, SHAPES):
        loss, scale = LOSSES[rng.integers(len(LOSSES))]
        out.append(
            Instance(
                n=n,
                d=d,
                condition=float(rng.choice(CONDITIONS)),
                row_spread=float(rng.choice(ROW_SPREADS)),
                seed=1000 * seed + k,
                scheme=SCHEMES[rng.integers(len(SCHEMES))][0],
                route=str(rng.choice(["C", "J"])),
                step_factor=float(rng.choice(STEP_FACTORS)),
                batch_size=int(sizes[rng.integers(len(sizes))]),
                loss=loss,
                loss_scale=scale,
            )
        )
    return out


def a_priori_rho(scheme: Scheme, b: int) -> float:
    """A cap rho >= b max_i w_i known before the run: the exact worst case of the paper's
    pipeline (:func:`rwtheory.worst_case_rho`), the cap of Proposition 1's weights and of
    the capped adversaries, and the trivial b for uncapped schemes (DRO-KL, Dirichlet) and
    for a strategy with a temperature schedule r(step) (its worst case depends on the
    temperatures the run will reach, unknown before it)."""
    if isinstance(scheme, Strategy) and not callable(scheme.temperature):
        return worst_case_rho(scheme.strategy, b, float(scheme.temperature), scheme.delta)
    if isinstance(scheme, KLCapped | SmallestGaps | RandomCapped):
        return min(float(scheme.rho), float(b))
    return float(b)


def make_problem(instances: Sequence[Instance]):
    """The stacked problem of instances sharing (n, d, loss, loss_scale): a
    :class:`~rwtheory.convex.problems.LeastSquares` for the squared loss, else a
    :class:`~rwtheory.convex.glm.GLMProblem` on the same data (b = A x*)."""
    keys = {(i.n, i.d, i.loss, i.loss_scale) for i in instances}
    if len(keys) != 1:
        raise ValueError(f"instances must share n, d, loss and loss_scale, got {sorted(keys)}")
    parts = [
        consistent_least_squares(
            [i.seed], n=i.n, d=i.d, condition=i.condition, row_spread=i.row_spread
        )
        for i in instances
    ]
    ls = LeastSquares(
        A=np.concatenate([p.A for p in parts]),
        b=np.concatenate([p.b for p in parts]),
        x_star=np.concatenate([p.x_star for p in parts]),
        params=dict(problem="verification", seeds=[i.seed for i in instances]),
    )
    loss, scale = instances[0].loss, instances[0].loss_scale
    if loss == "squared":
        return ls
    return glm.from_least_squares(ls, glm.make_loss(loss, scale))


def _run(problem, schemes, **kwargs):
    """The engine of the problem's kind (batched least squares, or the GLM engine)."""
    if isinstance(problem, LeastSquares):
        return engine.run(problem, schemes, **kwargs)
    return glm.run(problem, schemes, **kwargs)


def step_sizes(instances, problem, b: int):
    """eta = step_factor / (2 L_hat_apriori) per instance, with L_hat_apriori =
    rho_apriori * L_b (Route C; L_b <= min(L_max, n L / b)) or L_max (Route J), and the
    momentum schedules' kappa: the paper's 1 - eta L_hat = 1 - u/2 for factors u <= 1, the
    sharp min(1, 2 - u/2) beyond (where the paper's is <= 1/2 or negative)."""
    L, L_max = problem.smoothness(), problem.max_smoothness()
    n = problem.n
    L_b = L if b == n else np.minimum(L_max, n * L / b)
    rho = np.array([a_priori_rho(i.scheme, b) for i in instances])
    L_hat = np.where([i.route == "C" for i in instances], rho * L_b, L_max)
    u = np.array([i.step_factor for i in instances])
    eta = u / (2 * L_hat)
    kappa = np.where(u <= 1, 1 - u / 2, np.minimum(1.0, 2 - u / 2))
    return eta, rho, kappa


def _form(instances) -> np.ndarray:
    """The form whose kappa the momentum schedules use (:func:`step_sizes`), per run."""
    return np.array(["paper" if i.step_factor <= 1 else "sharp" for i in instances])


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
    r"""The claims behind :func:`rwtheory.theory.theorems.heavy_ball_constant_lambdas` on one
    route: where the a-priori constants hold on the whole path (:math:`\Gamma_t \ge \Gamma`,
    :math:`\rho_t \le \rho`, :math:`\kappa_t \ge \kappa` up to a relative 1e-12, with
    :math:`\kappa_t` of the run's form: :math:`1 - \eta\hat L_t` for steps up to the paper's
    limit, :math:`\min(1, 2 - \eta\hat L_t)` beyond), every coefficient is at least
    :math:`\kappa\Gamma/2` (``claim_holds``) and every coefficient after the first at least
    :math:`\kappa\Gamma(\rho + \Gamma)/(2\rho)` (``improved_holds``; the first,
    :math:`c_0 = \kappa_0\Gamma_0 - \lambda_1\rho_1`, can be :math:`\kappa\Gamma/2`), relative
    1e-9."""

    route: str
    runs: int = 0
    hypotheses_hold: int = 0
    claim_holds: int = 0  # among the runs whose hypotheses hold
    improved_holds: int = 0  # idem

    def add(self, tr, L_hat, a_priori) -> None:
        gam, rho, kappa = (a_priori[k][:, None] for k in ("gamma", "rho", "kappa"))
        sharp = (a_priori["form"] == "sharp")[:, None]
        eta = tr.lr[:, None]
        tol = 1e-12
        factor = np.where(
            sharp,
            theorems.progress_factor(eta, L_hat, "sharp"),
            theorems.progress_factor(eta, L_hat, "paper"),
        )
        c = np.where(
            sharp,
            theorems.heavy_ball_coefficients(tr, L_hat, "sharp"),
            theorems.heavy_ball_coefficients(tr, L_hat, "paper"),
        )
        with np.errstate(invalid="ignore"):
            hold = (
                np.all(tr.gamma >= gam * (1 - tol), axis=1)
                & np.all(tr.rho <= rho * (1 + tol), axis=1)
                & np.all(factor >= kappa - tol, axis=1)
            )
            g, r, k = gam[:, 0], rho[:, 0], kappa[:, 0]
            ok = np.min(c, axis=1) >= 0.5 * k * g * (1 - 1e-9)
            better = np.min(c[:, 1:], axis=1) >= k * g * (r + g) / (2 * r) * (1 - 1e-9)
        self.runs += tr.runs
        self.hypotheses_hold += int(hold.sum())
        self.claim_holds += int((hold & ok).sum())
        self.improved_holds += int((hold & better).sum())


@dataclass
class Tally:
    """Accumulated statistics of one (algorithm, route, inequality). ``tightness`` holds the
    observed/bound ratios (arrays, one per :meth:`add`), ``families`` the same ratios per loss
    family ("quadratic" for least squares, "non-quadratic" for Huber and log-cosh)."""

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
    families: dict = field(default_factory=dict)

    def add(
        self, bound: theorems.Bound, rtol: float, final_only: bool, family: str = "quadratic"
    ) -> None:
        ev = bound.evaluated
        self.runs += ev.shape[0]
        self.runs_applicable += int(ev.any(axis=-1).sum()) if ev.ndim > 1 else int(ev.sum())
        self.evaluated += int(ev.sum())
        violated = bound.violated(rtol)
        self.violations += int(violated.sum())
        self.at_rounding_floor += int((replace(bound, floor=0.0).violated(rtol) & ~violated).sum())
        rv = bound.relative_violation()
        if np.isfinite(rv).any():
            self.max_relative_violation = max(self.max_relative_violation, float(np.nanmax(rv)))
        if final_only:  # rates: the last applicable horizon of every run
            last = _last_true(ev)
            rows = np.flatnonzero(last >= 0)
            if not rows.size:
                return
            ratio = _ratio(
                theorems.Bound(
                    *(
                        np.broadcast_to(a, ev.shape)[rows, last[rows]]
                        for a in (
                            bound.observed,
                            bound.bound,
                            bound.scale,
                            bound.applicable,
                            bound.floor,
                        )
                    )
                )
            )
        else:
            ratio = _ratio(bound)
        self.tightness.append(ratio)
        self.families.setdefault(family, []).append(ratio)

    def quantiles(self, qs=(0.05, 0.5, 0.95, 1.0), family: str | None = None) -> list[float]:
        """Quantiles of observed/bound over one loss family (None: all)."""
        parts = self.tightness if family is None else self.families.get(family, [])
        t = np.concatenate(parts) if parts else np.empty(0)
        return [float(np.quantile(t, q)) for q in qs] if t.size else [math.nan] * len(qs)

    def status(self, min_runs: int = MIN_APPLICABLE_RUNS) -> str:
        """ "fails" if any evaluated inequality is violated; else "holds" if the hypotheses
        held on at least ``min_runs`` runs, "not checked" otherwise."""
        if self.violations:
            return "fails"
        return "holds" if self.runs_applicable >= min_runs else "not checked"


def combined_status(tallies: Sequence[Tally], min_runs: int = MIN_APPLICABLE_RUNS) -> str:
    """A row made of several tallies: "fails" if one fails, "holds" if every one holds,
    else "not checked"."""
    states = [t.status(min_runs) for t in tallies]
    if "fails" in states:
        return "fails"
    return "holds" if states and all(s == "holds" for s in states) else "not checked"


def _ratio(bound: theorems.Bound) -> np.ndarray:
    """observed/bound where both sides are positive and the bound is measurable (elsewhere
    the inequality says nothing about progress):
    :meth:`rwtheory.theory.theorems.Bound.tightness`."""
    return bound.tightness()


def _last_true(mask: np.ndarray) -> np.ndarray:
    """Index of the last True per row, -1 if none."""
    T = mask.shape[-1]
    idx = T - 1 - np.argmax(mask[:, ::-1], axis=1)
    return np.where(mask.any(axis=1), idx, -1)


#: Heavy ball's checks that more than one of its algorithms evaluates (one row each, in
#: the order of the tables).
_HEAVY_BALL_STEP = [
    ("one-step", theorems.heavy_ball_one_step, False, False),
    ("one-step (sharp)", theorems.heavy_ball_one_step_sharp, False, False),
    ("pathwise", theorems.heavy_ball_pathwise, False, False),
]
_HEAVY_BALL_COEFFICIENTS = [
    ("coefficient form", theorems.heavy_ball_weighted_sum, False, False),
    ("coefficient form (sharp)", theorems.heavy_ball_weighted_sum_sharp, False, False),
]
_HEAVY_BALL_AVERAGE = [
    ("average rate (derived)", theorems.heavy_ball_average_rate, False, True),
    ("average rate (sharp)", theorems.heavy_ball_average_rate_sharp, False, True),
]

#: algorithm label -> checks: (name, function, needs L, rate?). Names ending in "(sharp)"
#: are THEORY §3's sharper forms, beside the paper's. A table, one row per check: GD's and
#: SGD's rows have the same shape by design (their checks are distinct functions).
_CHECKS: dict[str, list[tuple[str, Callable, bool, bool]]] = {
    "GD": [
        ("one-step", theorems.gd_one_step, False, False),
        ("one-step (sharp)", theorems.gd_one_step_sharp, False, False),
        ("pathwise", theorems.gd_pathwise, False, False),
        ("pathwise (sharp)", theorems.gd_pathwise_sharp, False, False),
        ("rate", theorems.gd_rate, False, True),
        ("rate (sharp)", theorems.gd_rate_sharp, False, True),
    ],
    "SGD": [
        ("one-step", theorems.sgd_one_step, False, False),
        ("one-step (sharp)", theorems.sgd_one_step_sharp, False, False),
        ("pathwise", theorems.sgd_pathwise, False, False),
        ("pathwise (sharp)", theorems.sgd_pathwise_sharp, False, False),
        ("rate (pathwise)", theorems.sgd_rate, False, True),
        ("rate (pathwise, sharp)", theorems.sgd_rate_sharp, False, True),
    ],
    "heavy ball": [
        *_HEAVY_BALL_STEP,
        ("carry-over lemma", theorems.heavy_ball_carry_over, False, False),
        *_HEAVY_BALL_COEFFICIENTS,
        ("rate (derived)", theorems.heavy_ball_rate, True, True),
        *_HEAVY_BALL_AVERAGE,
    ],
    "heavy ball, constant λ": [
        _HEAVY_BALL_STEP[2],  # pathwise
        *_HEAVY_BALL_COEFFICIENTS,
        *_HEAVY_BALL_AVERAGE,
    ],
    "heavy ball, minibatch": _HEAVY_BALL_STEP,
}


#: The inequalities :func:`verify` tallies, per algorithm (the rows of its table).
INEQUALITIES: dict[str, tuple[str, ...]] = {
    a: tuple(c[0] for c in checks) for a, checks in _CHECKS.items()
}


def _call(fn, tr, L_hat, problem, needs_L):
    if fn is theorems.heavy_ball_carry_over:
        return fn(tr)
    return fn(tr, L_hat, problem.smoothness()) if needs_L else fn(tr, L_hat)


def _runs(instances, steps):
    """Yield (algorithm, trajectory, problem) for every algorithm on a group of instances
    sharing (n, d, loss, loss_scale)."""
    problem = make_problem(instances)
    n = problem.n
    schemes = [i.scheme for i in instances]
    eta, rho, kappa = step_sizes(instances, problem, n)
    yield "GD", _run(problem, schemes, method="gd", lr=eta, steps=steps), problem
    for label, schedule in (
        ("heavy ball", theorems.heavy_ball_lambdas),
        ("heavy ball, constant λ", theorems.heavy_ball_constant_lambdas),
    ):
        lam = _lambdas(instances, rho, kappa, steps, schedule)
        for group, tr, sub in heavy_ball_by_schedule(_run, problem, schemes, eta, lam, steps):
            tr.params["a_priori"] = dict(
                gamma=_a_priori_gamma([instances[g] for g in group], rho[group]),
                rho=rho[group],
                kappa=kappa[group],
                form=_form([instances[g] for g in group]),
            )
            yield label, tr, sub
    for b in sorted({i.batch_size for i in instances}):
        idx = [k for k, i in enumerate(instances) if i.batch_size == b]
        sub_inst = [instances[k] for k in idx]
        sub = problem.take(idx)
        e_b, r_b, k_b = step_sizes(sub_inst, sub, b)
        sch = [i.scheme for i in sub_inst]
        method = "gd" if b == n else "sgd"
        yield (
            "SGD",
            _run(sub, sch, method=method, lr=e_b, steps=steps, batch_size=None if b == n else b),
            sub,
        )
        lam_b = _lambdas(sub_inst, r_b, k_b, steps)
        batch = None if b == n else b
        for _, tr, s2 in heavy_ball_by_schedule(_run, sub, sch, e_b, lam_b, steps, batch):
            yield "heavy ball, minibatch", tr, s2


def heavy_ball_by_schedule(run, problem, schemes, lr, lambdas, steps: int, batch_size=None):
    """Heavy ball on every run of ``problem`` (one row per run) with its scheme, step size
    ``lr[k]`` and momentum schedule ``lambdas[k]``: the engines take one schedule per call,
    so ``run`` (an engine's ``run``, or :func:`rwtheory.theory.pairing.paired_run`) is
    called once per group of runs sharing a schedule, in the order of their first run.
    Yields (the group's run indices, what ``run`` returned, the group's problem)."""
    groups: dict[bytes, list[int]] = {}
    for k, v in enumerate(lambdas):
        groups.setdefault(v.tobytes(), []).append(k)
    for group in groups.values():
        sub = problem.take(group)
        result = run(
            sub,
            [schemes[g] for g in group],
            method="heavy_ball",
            lr=lr[group],
            steps=steps,
            batch_size=batch_size,
            lambdas=lambdas[group[0]],
        )
        yield group, result, sub


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


# the signature of every verification entry point (rwtheory.theory.nonconvex_checks.verify
# too), one parameter a line as ruff formats it: the same by design (one command runs both)
def verify(
    count: int = 1000,
    *,
    steps: int = 100,
    seed: int = 0,
    rtol: float = 1e-9,
    progress: Callable[[int], object] | None = None,
) -> VerificationResult:
    """Run ``count`` random instances (:func:`sample_instances`) for ``steps`` steps with
    every algorithm and evaluate every inequality of :mod:`rwtheory.theory.theorems` (both
    forms) on both routes. ``progress`` is called with the number of instances finished."""
    start = time.process_time()
    instances = sample_instances(count, seed)
    tallies: dict[tuple[str, str, str], Tally] = {}
    for algorithm, checks in _CHECKS.items():
        for route in theorems.ROUTES:
            for name, _, _, _ in checks:
                tallies[algorithm, route, name] = Tally(algorithm, route, name)
    constant = {route: ConstantScheduleTally(route) for route in theorems.ROUTES}
    by_group: dict[tuple, list[Instance]] = {}
    for i in instances:
        by_group.setdefault((i.n, i.d, i.loss, i.loss_scale), []).append(i)
    for (_, _, loss, _), group in by_group.items():
        family = "quadratic" if loss == "squared" else "non-quadratic"
        for algorithm, tr, problem in _runs(group, steps):
            for route in theorems.ROUTES:
                L_hat = theorems.effective_smoothness(problem, tr, route)
                for name, fn, needs_L, is_rate in _CHECKS[algorithm]:
                    tallies[algorithm, route, name].add(
                        _call(fn, tr, L_hat, problem, needs_L), rtol, is_rate, family
                    )
                if algorithm == "heavy ball, constant λ":
                    constant[route].add(tr, L_hat, tr.params["a_priori"])
        if progress is not None:
            progress(len(group))
    return VerificationResult(
        count,
        steps,
        rtol,
        list(tallies.values()),
        time.process_time() - start,
        list(constant.values()),
    )


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
    exceeds: bool  # MonteCarloBound.exceeds at some horizon (mean > bound + 3 stderr)


def _replicate(problem: LeastSquares, paths: int, seed: int) -> LeastSquares:
    """``paths`` copies of a one-row problem with independent minibatch streams."""
    p = problem.take([0] * paths)
    return LeastSquares(
        A=p.A,
        b=p.b,
        x_star=p.x_star,
        params=dict(p.params, seeds=[seed * 10_000 + k for k in range(paths)]),
    )


def expectation_checks(paths: int = 64, steps: int = 100, seed: int = 0) -> list[ExpectationCheck]:
    """Theorem 2's in-expectation rates
    (SGD: :func:`rwtheory.theory.theorems.sgd_rate_in_expectation`; minibatch heavy ball:
    :func:`rwtheory.theory.theorems.heavy_ball_rate_in_expectation`) on a few problems,
    ``paths`` independent batch streams each, Route C with the a-priori cap."""
    out = []
    cases = [
        (Strategy("uniform"), 32, 16, 8),
        (Strategy("linupper", 2.0), 32, 16, 8),
        (KLCapped(0.5, 2.0), 64, 16, 16),
        (Strategy("quadratic", 0.5), 24, 48, 6),
    ]
    for k, (scheme, n, d, b) in enumerate(cases):
        base = consistent_least_squares([seed * 100 + k], n=n, d=d, condition=10.0, row_spread=10.0)
        p = _replicate(base, paths, seed * 100 + k)
        rho = a_priori_rho(scheme, b)
        L_b = min(float(base.max_smoothness()[0]), n * float(base.smoothness()[0]) / b)
        eta = 1 / (2 * rho * L_b)
        tr = engine.run(p, scheme, method="sgd", lr=eta, steps=steps, batch_size=b)
        est = theorems.sgd_rate_in_expectation(tr, theorems.effective_smoothness(p, tr, "C"))
        out.append(_expectation_row("SGD", scheme, paths, est))
        gam = 1.0 if _MONOTONE.get(scheme, False) else 0.5
        lam = theorems.heavy_ball_lambdas(steps, min(gam, rho), rho, 0.5)
        tr = engine.run(
            p, scheme, method="heavy_ball", lr=eta, steps=steps, batch_size=b, lambdas=lam
        )
        est = theorems.heavy_ball_rate_in_expectation(
            tr, theorems.effective_smoothness(p, tr, "C"), p.smoothness()
        )
        out.append(_expectation_row("heavy ball, minibatch", scheme, paths, est))
    return out


def _expectation_row(algorithm, scheme, paths, est) -> ExpectationCheck:
    ok = est.applicable & np.isfinite(est.bound)
    exceeds = bool(est.exceeds().any())
    last = int(np.flatnonzero(ok)[-1]) if ok.any() else -1
    return ExpectationCheck(
        algorithm,
        scheme.label,
        paths,
        float(est.observed[last]) if last >= 0 else math.nan,
        float(est.stderr[last]) if last >= 0 else math.nan,
        float(est.bound[last]) if last >= 0 else math.nan,
        exceeds,
    )
