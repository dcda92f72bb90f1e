r"""Randomised verification of Theorem 4 (THEORY §6), its broken hypothesis and the question
the paper leaves open.

:func:`verify` draws non-convex instances -- the sigmoid classifier and Geman-McClure
robust regression of :mod:`rwtheory.nonconvex.problems` with random n, d, noise, starting
point, step :math:`\eta = c/L` with c below and above 1 and a minibatch size -- and runs
*every* weighting of :data:`WEIGHTINGS` on every instance, full batch and with the
instance's minibatch size (same problem, start and batches across weightings: paired runs).
It evaluates :func:`rwtheory.theory.theorem4.one_step`, :func:`~rwtheory.theory.theorem4.pathwise`
and, on full batches, :func:`~rwtheory.theory.theorem4.rate`, and tallies violations (the
project's policy: :meth:`rwtheory.theory.theorems.Bound.violated`, rtol relative to the
largest term) and tightness per (batch regime, weighting class, inequality, step regime).
For :math:`\eta > 1/L` the rate's hypothesis is broken: the rate is evaluated anyway
(:func:`broken_step_size`) and what happens is reported.

:func:`expectation_checks` estimates the minibatch rate in expectation by Monte Carlo.
:func:`open_question` measures how often the paper's *loss*-based strategies give a
*gradient-norm* :math:`\Gamma_t \ge 1`, per strategy and temperature, and whether the
factor :math:`(2 - L\eta)/(1 + (1 - L\eta)\Gamma)` (weighted over uniform rate bound) shows
up in the measured :math:`\|\nabla f\|^2` against the paired uniform run.

Everything is seeded: the same arguments give the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from rwtheory.convex import glm
from rwtheory.convex.adversaries import DirichletWeights, SmallestGaps
from rwtheory.convex.schemes import Scheme, Strategy
from rwtheory.nonconvex import problems as ncp
from rwtheory.theory import randomised, theorem4
from rwtheory.theory.randomised import Tally

__all__ = [
    "CHECKED",
    "FAMILIES",
    "MIN_APPLICABLE_RUNS",
    "WEIGHTINGS",
    "Instance",
    "NonconvexVerification",
    "broken_step_size",
    "expectation_checks",
    "open_question",
    "sample_instances",
    "verify",
]

#: (weighting, class): uniform; the paper's strategies on the losses (what practitioners
#: run); the same pipeline on the squared gradient norms (what §6's Γ rewards); adversaries
#: (random Dirichlet points of the simplex; the cap rho = 2 and then all the weight on the
#: smallest gradients, Γ_t <= 1).
WEIGHTINGS: tuple[tuple[Scheme, str], ...] = (
    (Strategy("uniform"), "uniform"),
    (Strategy("linupper", 0.4), "loss-based"),
    (Strategy("linupper", 2.0), "loss-based"),
    (Strategy("quadratic", 0.5), "loss-based"),
    (Strategy("extremes", 0.5), "loss-based"),
    (glm.OnGradientNorms(Strategy("linupper", 0.4)), "gradient-based"),
    (glm.OnGradientNorms(Strategy("linupper", 2.0)), "gradient-based"),
    (glm.OnGradientNorms(Strategy("quadratic", 0.5)), "gradient-based"),
    (DirichletWeights(0, 0.1), "adversary"),
    (DirichletWeights(1, 1.0), "adversary"),
    (glm.OnGradientNorms(SmallestGaps(2.0)), "adversary"),
    (glm.OnGradientNorms(SmallestGaps(1e9)), "adversary"),
)
CLASSES = ("uniform", "loss-based", "gradient-based", "adversary")
#: The (batch regime, inequality) pairs of Theorem 4 that :func:`verify` evaluates: one-step
#: and pathwise on full batches and minibatches, the rate on full batches (where it is
#: pathwise; minibatches: :func:`expectation_checks`).
CHECKED = (
    ("full batch", "one-step"),
    ("full batch", "pathwise"),
    ("full batch", "rate"),
    ("minibatch", "one-step"),
    ("minibatch", "pathwise"),
)
#: Theorem 4's row is judged ("holds with caveat" / "fails" on no violation) only when every
#: pair of :data:`CHECKED` had its hypotheses hold on at least this many runs
#: (:meth:`NonconvexVerification.short_of_runs`); else "not checked" with the counts. The bar
#: of Theorems 1-2 (:data:`rwtheory.theory.randomised.MIN_APPLICABLE_RUNS`), for the same
#: reason: with no violation in N independent random instances, the one-sided 95 % upper
#: bound on the share of violating runs is about 3/N (rule of three), 14 % at N = 20 -- below
#: that, "no violation" says little. Counted in runs, not horizons (a run's horizons are one
#: path); the rate counts only the full-batch runs with eta <= 1/L, its hypothesis.
MIN_APPLICABLE_RUNS = randomised.MIN_APPLICABLE_RUNS
#: The non-convex problem families of the checks (:mod:`rwtheory.nonconvex.problems`).
FAMILIES = ("sigmoid", "geman_mcclure")
SHAPES = ((6, 3), (8, 16), (16, 4), (24, 8), (32, 32), (48, 6), (64, 8))
STEP_FACTORS = (0.25, 0.5, 1.0, 1.5, 2.0, 4.0)  # eta = c / L
START_SCALES = (0.3, 1.0, 3.0)  # x_0 ~ N(0, s^2 I)
NOISES = (0.0, 0.1, 0.3)  # label flips (sigmoid) / outlier fraction (Geman-McClure)


@dataclass(frozen=True)
class Instance:
    """One problem (family, n, d, noise, seed), start scale, step factor c (eta = c/L) and
    minibatch size; every weighting of :data:`WEIGHTINGS` runs on it."""

    family: str
    n: int
    d: int
    noise: float
    seed: int
    start_scale: float
    step_factor: float
    batch_size: int


def sample_instances(count: int, seed: int = 0) -> list[Instance]:
    """``count`` instances drawn with ``numpy.random.default_rng(seed)``; instance k's
    problem uses seed ``1000 * seed + k``."""
    out = []
    for k, rng, (n, d), sizes in randomised.instance_draws(count, seed, SHAPES):
        out.append(
            Instance(
                family=FAMILIES[rng.integers(2)],
                n=n,
                d=d,
                noise=float(rng.choice(NOISES)),
                seed=1000 * seed + k,
                start_scale=float(rng.choice(START_SCALES)),
                step_factor=float(rng.choice(STEP_FACTORS)),
                batch_size=int(sizes[rng.integers(len(sizes))]),
            )
        )
    return out


def make_problem(inst: Instance) -> glm.GLMProblem:
    """The instance's one-row problem."""
    if inst.family == "sigmoid":
        return ncp.sigmoid_classification([inst.seed], n=inst.n, d=inst.d, label_noise=inst.noise)
    return ncp.geman_mcclure_regression(
        [inst.seed], n=inst.n, d=inst.d, outlier_fraction=inst.noise
    )


def _stack(parts: list[glm.GLMProblem], seeds: list[int]) -> glm.GLMProblem:
    return glm.GLMProblem(
        np.concatenate([p.A for p in parts]),
        np.concatenate([p.b for p in parts]),
        parts[0].loss,
        params=dict(problem="verification", seeds=seeds),
    )


def _grid(instances: list[Instance]):
    """(problem with one row per (instance, weighting), schemes, lr, x0, classes) for a
    group of instances of one family and shape."""
    W = len(WEIGHTINGS)
    parts = [make_problem(i) for i in instances]
    base = _stack(parts, [i.seed for i in instances])
    rows = np.repeat(np.arange(len(instances)), W)
    schemes = [s for _ in instances for s, _ in WEIGHTINGS]
    L = base.smoothness()
    lr = np.array([i.step_factor for i in instances]) / L
    x0 = np.stack(
        [np.random.default_rng([i.seed, 7]).standard_normal(i.d) * i.start_scale for i in instances]
    )
    return base, rows, schemes, lr[rows], x0[rows]


@dataclass
class NonconvexVerification:
    """What :func:`verify` found: one :class:`rwtheory.theory.verification.Tally` per cell.
    A tally's ``algorithm`` is ``"<batch regime>, <weighting class>"``, its ``route`` the
    step regime (``"η ≤ 1/L"`` or ``"η > 1/L"``; Theorem 4 has one proof route)."""

    instances: int
    runs: int
    steps: int
    rtol: float
    tallies: dict
    broken: dict
    seconds: float

    @property
    def violations(self) -> int:
        return sum(t.violations for t in self.tallies.values())

    @property
    def evaluated(self) -> int:
        return sum(t.evaluated for t in self.tallies.values())

    def applicable_runs(self, batch: str, inequality: str) -> int:
        """Runs of one batch regime (``"full batch"`` or ``"minibatch"``) on which the
        hypotheses of ``inequality`` held at some horizon, over every weighting class and
        step regime (the count :data:`MIN_APPLICABLE_RUNS` applies to)."""
        return sum(
            t.runs_applicable
            for t in self.tallies.values()
            if t.inequality == inequality and t.algorithm.split(", ")[0] == batch
        )

    def short_of_runs(self, min_runs: int = MIN_APPLICABLE_RUNS) -> dict[str, int]:
        """``"<batch regime> <inequality>"`` -> applicable runs, for the pairs of
        :data:`CHECKED` with fewer than ``min_runs`` (empty: every pair has enough)."""
        counts = {f"{b} {i}": self.applicable_runs(b, i) for b, i in CHECKED}
        return {k: v for k, v in counts.items() if v < min_runs}

    def total(self, inequality: str, regime: str | None = None) -> tuple[int, int]:
        """(evaluated, violations) of one inequality over all cells (of one step regime)."""
        cells = [
            t
            for t in self.tallies.values()
            if t.inequality == inequality and (regime is None or t.route == regime)
        ]
        return sum(t.evaluated for t in cells), sum(t.violations for t in cells)

    def tightness(self, inequality: str, regime: str = "η ≤ 1/L", qs=(0.05, 0.5, 0.95, 1.0)):
        """Quantiles of observed/bound of one inequality, pooled over cells."""
        parts = [
            np.concatenate(t.tightness)
            for t in self.tallies.values()
            if t.inequality == inequality and t.route == regime and t.tightness
        ]
        v = np.concatenate(parts) if parts else np.empty(0)
        return [float(np.quantile(v, q)) for q in qs] if v.size else [math.nan] * len(qs)


def _tally(tallies, key, bound, rtol, final_only):
    if key not in tallies:
        tallies[key] = Tally(*key)
    tallies[key].add(bound, rtol, final_only)


def _evaluate(tr, classes, regime_of_run, batch_label, tallies, broken, rtol):
    """Add one trajectory's checks to the tallies (split by weighting class and regime)."""
    L = tr.smoothness
    checks = [
        ("one-step", theorem4.one_step(tr, L), False),
        ("pathwise", theorem4.pathwise(tr, L), False),
    ]
    if tr.batches is None:
        checks.append(("rate", theorem4.rate(tr, L, tr.lower_bound), True))
        _broken_rate(tr, regime_of_run, classes, broken, rtol)
    for cls in CLASSES:
        for regime in ("η ≤ 1/L", "η > 1/L"):
            sel = (classes == cls) & (regime_of_run == regime)
            if not sel.any():
                continue
            for name, b, final in checks:
                if name == "rate" and regime == "η > 1/L":
                    continue  # hypothesis broken: reported by broken_step_size
                sub = _rows_of(b, sel)
                _tally(tallies, (f"{batch_label}, {cls}", regime, name), sub, rtol, final)


def _rows_of(bound, rows):
    """The rows ``rows`` (bool mask) of a Bound."""
    return type(bound)(
        *(
            np.asarray(a)[rows] if np.ndim(a) else a
            for a in (bound.observed, bound.bound, bound.scale, bound.applicable, bound.floor)
        )
    )


def _broken_rate(tr, regime_of_run, classes, broken, rtol):
    """Accumulate what the rate does with its step-size hypothesis broken (eta > 1/L)."""
    sel = regime_of_run == "η > 1/L"
    if not sel.any():
        return
    r = theorem4.rate(tr, tr.smoothness, tr.lower_bound)
    forced = replace(r, applicable=np.isfinite(r.bound))
    v = forced.violated(rtol)[sel]
    vacuous = ~np.isfinite(r.bound[sel])
    g = tr.grad_norm2[sel]
    f = tr.train_loss[sel]
    eta_L = (tr.lr * tr.smoothness)[sel]
    for c in np.unique(eta_L.round(6)):
        at = np.isclose(eta_L, c)
        acc = broken.setdefault(
            float(c),
            dict(runs=0, runs_violated=0, runs_vacuous=0, grad_ratio=[], f_increase_share=[]),
        )
        acc["runs"] += int(at.sum())
        acc["runs_violated"] += int(v[at].any(axis=1).sum())
        acc["runs_vacuous"] += int(vacuous[at].any(axis=1).sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            acc["grad_ratio"].append(g[at, -1] / g[at, 0])
        acc["f_increase_share"].append(np.mean(np.diff(f[at], axis=1) > 0, axis=1))


# the signature of rwtheory.theory.randomised.verify, one parameter a line as ruff formats
# it: the same by design (one command runs both)
def verify(
    count: int = 1000,
    *,
    steps: int = 40,
    seed: int = 0,
    rtol: float = 1e-9,
    progress: Callable[[int], object] | None = None,
) -> NonconvexVerification:
    """Run ``count`` random instances (:func:`sample_instances`) x every weighting of
    :data:`WEIGHTINGS` x {full batch, the instance's minibatch size} for ``steps`` steps and
    evaluate Theorem 4's inequalities (module docstring)."""
    start = time.process_time()
    instances = sample_instances(count, seed)
    tallies: dict = {}
    broken: dict = {}
    runs = 0
    groups: dict = {}
    for i in instances:
        groups.setdefault((i.family, i.n, i.d), []).append(i)
    cls_of = np.array([c for _, c in WEIGHTINGS])
    for group in groups.values():
        base, rows, schemes, lr, x0 = _grid(group)
        classes = np.tile(cls_of, len(group))
        regime = np.where(
            np.repeat([i.step_factor for i in group], len(WEIGHTINGS)) <= 1, "η ≤ 1/L", "η > 1/L"
        )
        tr = glm.run(base, schemes, lr=lr, steps=steps, rows=rows, x0=x0, keep_iterates=False)
        _evaluate(tr, classes, regime, "full batch", tallies, broken, rtol)
        runs += tr.runs
        n = group[0].n
        for b in sorted({i.batch_size for i in group} - {n}):
            sel = np.repeat([i.batch_size == b for i in group], len(WEIGHTINGS))
            tr = glm.run(
                base,
                [s for s, k in zip(schemes, sel, strict=True) if k],
                method="sgd",
                batch_size=b,
                lr=lr[sel],
                steps=steps,
                rows=rows[sel],
                x0=x0[sel],
                keep_iterates=False,
            )
            _evaluate(tr, classes[sel], regime[sel], "minibatch", tallies, broken, rtol)
            runs += tr.runs
        if progress is not None:
            progress(len(group))
    return NonconvexVerification(
        count, runs, steps, rtol, tallies, broken, time.process_time() - start
    )


def broken_step_size(result: NonconvexVerification) -> list[dict]:
    """Per step factor c = ηL > 1 (full batch): runs, runs whose rate bound (evaluated
    although its hypothesis is broken) is violated, runs where it is vacuous (denominator
    1 + (1 - Lη)Γ <= 0), the median of ||∇f(x_T)||²/||∇f(x_0)||² and the mean share of steps
    on which f increased."""
    out = []
    for c, acc in sorted(result.broken.items()):
        ratio = np.concatenate(acc["grad_ratio"])
        out.append(
            dict(
                step_factor=c,
                runs=acc["runs"],
                runs_violated=acc["runs_violated"],
                runs_vacuous=acc["runs_vacuous"],
                median_grad_ratio=float(np.nanmedian(ratio)),
                f_increase_share=float(np.mean(np.concatenate(acc["f_increase_share"]))),
            )
        )
    return out


# ------------------------------------------------------------------ expectations
#: Weightings of the Monte Carlo check (one per class, and the extreme adversaries).
EXPECTATION_WEIGHTINGS = (
    Strategy("uniform"),
    Strategy("linupper", 0.4),
    glm.OnGradientNorms(Strategy("linupper", 0.4)),
    DirichletWeights(0, 0.1),
    glm.OnGradientNorms(SmallestGaps(1e9)),
)


@dataclass(frozen=True)
class ExpectationCheck:
    """The minibatch rate in expectation at the final horizon, by Monte Carlo."""

    family: str
    scheme: str
    batch_size: int
    step_factor: float
    paths: int
    mean: float
    stderr: float
    bound: float
    exceeds: bool  # MonteCarloBound.exceeds at some horizon (mean > bound + 3 stderr)
    tightness: float  # mean / bound at the final horizon


def _paths_problem(family: str, seed: int, paths: int, n: int, d: int):
    inst = Instance(family, n, d, 0.1, seed, 1.0, 1.0, n)
    base = make_problem(inst)
    seeds = [seed * 10_000 + k for k in range(paths)]
    return glm.GLMProblem(
        np.repeat(base.A, paths, 0),
        np.repeat(base.b, paths, 0),
        base.loss,
        params=dict(base.params, seeds=seeds),
    )


def expectation_checks(
    paths: int = 32, steps: int = 40, seed: int = 0, *, n: int = 32, d: int = 8
) -> list[ExpectationCheck]:
    """:func:`rwtheory.theory.theorem4.rate_in_expectation` for both families x
    :data:`EXPECTATION_WEIGHTINGS` x batch sizes {2, n/4} x eta in {1/(2L), 1/L}, ``paths``
    independent batch streams each (same problem and start :math:`x_0 \\sim N(0, I)`)."""
    out = []
    W = len(EXPECTATION_WEIGHTINGS)
    for f_idx, family in enumerate(FAMILIES):
        p = _paths_problem(family, 100 * seed + f_idx, paths, n, d)
        L = float(p.smoothness()[0])
        x0 = np.random.default_rng([seed, f_idx, 7]).standard_normal(d)
        rows = np.tile(np.arange(paths), W)
        schemes = [s for s in EXPECTATION_WEIGHTINGS for _ in range(paths)]
        for b in (2, n // 4):
            for c in (0.5, 1.0):
                tr = glm.run(
                    p,
                    schemes,
                    method="sgd",
                    batch_size=b,
                    lr=c / L,
                    steps=steps,
                    rows=rows,
                    x0=np.broadcast_to(x0, (rows.size, d)),
                    keep_iterates=False,
                )
                for k, s in enumerate(EXPECTATION_WEIGHTINGS):
                    sub = np.arange(k * paths, (k + 1) * paths)
                    est = theorem4.rate_in_expectation(_runs_of(tr, sub), L, 0.0)
                    exceeds = bool(est.exceeds().any())
                    out.append(
                        ExpectationCheck(
                            family,
                            s.label,
                            b,
                            c,
                            paths,
                            float(est.observed[-1]),
                            float(est.stderr[-1]),
                            float(est.bound[-1]),
                            exceeds,
                            float(est.observed[-1] / est.bound[-1]),
                        )
                    )
    return out


def _runs_of(tr: glm.GLMTrajectory, sub: np.ndarray) -> glm.GLMTrajectory:
    """The runs ``sub`` of a trajectory (the records THEORY §6's checks read)."""
    keep = (
        "train_loss",
        "grad_norm2",
        "grad_mean",
        "grad_gamma",
        "sigma",
        "rho",
        "step_norm2",
        "lr",
        "smoothness",
        "lower_bound",
        "diverged_at",
        "batches",
    )
    return replace(
        tr,
        labels=[tr.labels[i] for i in sub],
        seeds=[tr.seeds[i] for i in sub],
        **{k: getattr(tr, k)[sub] for k in keep if getattr(tr, k) is not None},
    )


# ------------------------------------------------------------------ the open question
OPEN_STRATEGIES = ("linupper", "quadratic", "extremes", "upper")
OPEN_TEMPERATURES = (0.1, 0.4, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class GammaShare:
    """One (family, weighting, batch, step) cell of :func:`open_question`.

    share : fraction of steps with gradient-norm Γ_t >= 1 (up to 1e-12);
    median_gamma, q05_gamma : the median and 5 % quantile of Γ_t;
    measured_ratio : median over seeds of mean_t ||∇f(x_t)||² (this weighting) / the same
        of the paired uniform run -- < 1: this weighting drove the gradient down faster;
    predicted_ratio : median over seeds of :func:`rwtheory.theory.theorem4.bound_ratio`
        (weighted over uniform rate bound) with the run's mean Γ_t (with its min Γ_t, the
        theorem's Γ: ``predicted_ratio_min``).
    """

    family: str
    scheme: str
    signal: str  # "loss" or "gradient norm"
    batch_size: int
    step_factor: float
    steps: int
    share: float
    median_gamma: float
    q05_gamma: float
    measured_ratio: float
    predicted_ratio: float
    predicted_ratio_min: float


@dataclass
class OpenQuestion:
    """:func:`open_question`'s cells and the rank correlation (Spearman, over every
    non-uniform run with eta < 1/L: at eta = 1/L the predicted ratio is 1 whatever Γ) between
    measured and predicted ratio, per signal."""

    cells: list[GammaShare]
    spearman: dict = field(default_factory=dict)
    same_side: dict = field(default_factory=dict)  # share of runs: measured and predicted
    # ratios on the same side of 1


def _open_weightings():
    loss = [Strategy(s, r) for s in OPEN_STRATEGIES for r in OPEN_TEMPERATURES]
    grad = [glm.OnGradientNorms(Strategy("linupper", r)) for r in OPEN_TEMPERATURES]
    return [Strategy("uniform"), *loss, *grad]


def open_question(
    seeds: int = 20,
    steps: int = 60,
    *,
    n: int = 64,
    d: int = 8,
    batch_sizes=(None, 8),
    step_factors=(0.5, 1.0),
) -> OpenQuestion:
    """Γ_t >= 1 shares of the paper's loss-based strategies (:data:`OPEN_STRATEGIES` x
    :data:`OPEN_TEMPERATURES`) on both non-convex families, full batch and minibatch, and
    the measured against the predicted ratio to the paired uniform run (same problem,
    start :math:`x_0 \\sim N(0, I)`, batches). LinUpper on the gradient norms is the
    contrast (non-decreasing in ||∇f_i||², so Γ_t >= 1 by Chebyshev's sum inequality)."""
    from scipy.stats import spearmanr

    ws = _open_weightings()
    W = len(ws)
    cells: list[GammaShare] = []
    # (measured, predicted) bound ratios of every cell, by the signal the scheme weights
    pairs: dict[str, list[tuple[float, float]]] = {"loss": [], "gradient norm": []}
    for family in FAMILIES:
        parts = [
            make_problem(Instance(family, n, d, 0.1, 5000 + s, 1.0, 1.0, n)) for s in range(seeds)
        ]
        p = _stack(parts, [5000 + s for s in range(seeds)])
        L = p.smoothness()
        rows = np.tile(np.arange(seeds), W)
        x0 = np.stack(
            [np.random.default_rng([5000 + s, 7]).standard_normal(d) for s in range(seeds)]
        )[rows]
        schemes = [w for w in ws for _ in range(seeds)]
        for b in batch_sizes:
            for c in step_factors:
                tr = glm.run(
                    p,
                    schemes,
                    method="gd" if b is None else "sgd",
                    batch_size=b,
                    lr=c / L[rows],
                    steps=steps,
                    rows=rows,
                    x0=x0,
                    keep_iterates=False,
                )
                _open_cells(tr, ws, seeds, family, c, L[rows], cells, pairs)
    spearman = {
        k: float(spearmanr([a for a, _ in v], [b for _, b in v])[0])
        for k, v in pairs.items()
        if len(v) > 2
    }
    same = {k: float(np.mean([(a > 1) == (b > 1) for a, b in v])) for k, v in pairs.items() if v}
    return OpenQuestion(cells, spearman, same)


def _open_cells(tr, ws, seeds, family, c, L, cells, pairs):
    G = tr.grad_gamma.reshape(len(ws), seeds, -1)
    avg = tr.grad_norm2[:, :-1].mean(axis=1).reshape(len(ws), seeds)
    eta_L = (tr.lr * L).reshape(len(ws), seeds)
    for k, w in enumerate(ws):
        if k == 0:
            continue
        signal = "gradient norm" if isinstance(w, glm.OnGradientNorms) else "loss"
        measured = avg[k] / avg[0]
        pred = theorem4.bound_ratio(eta_L[k], 1.0, G[k].mean(axis=1))
        pred_min = theorem4.bound_ratio(eta_L[k], 1.0, G[k].min(axis=1))
        if c < 1:  # at eta = 1/L every predicted ratio is 1: nothing to correlate
            pairs[signal].extend(zip(measured.tolist(), pred.tolist(), strict=True))
        cells.append(
            GammaShare(
                family,
                w.label,
                signal,
                tr.batch_size,
                c,
                tr.steps,
                float(np.mean(G[k] >= 1 - 1e-12)),
                float(np.median(G[k])),
                float(np.quantile(G[k], 0.05)),
                float(np.median(measured)),
                float(np.median(pred)),
                float(np.median(pred_min)),
            )
        )
