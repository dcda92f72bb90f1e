r"""Hypotheses of Theorems 1-2 broken on purpose, and what the bounds do then.

:func:`broken_hypotheses` breaks one hypothesis at a time (uncapped DRO-KL weights against the
cap rho = 2 of Route C, step sizes above the limits, no interpolation, the heavy-ball
carry-over ignored) and reports whether and when the bounds fail. :func:`steps_above_limits`
runs GD, SGD and heavy ball at steps between the paper's limit :math:`1/(2\hat L)` and
:math:`2/\hat L` on least squares and on the non-quadratic Huber / log-cosh losses, where the
sharper one-step inequality still claims a decrease, and counts the violations of every form
and of the same checks with a wrong :math:`\hat L` (:math:`10^{-12}\hat L`; Route C of SGD with
:math:`\rho_tL` for :math:`\rho_tL_{B_t}`): the checks must tell them apart.
:func:`carry_over_finding` asks whether the heavy-ball carry-over bound
:math:`S'_{t+1} \le \rho_{t+1}a_t` can be replaced by :math:`\rho_ta_t` or :math:`\Gamma_ta_t`.

Everything is seeded: the same arguments give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from rwtheory.convex import engine, glm
from rwtheory.convex.adversaries import AlternatingCap, RandomCapped, SmallestGaps
from rwtheory.convex.problems import (
    FiniteSums,
    consistent_least_squares,
    regression_with_outliers,
)
from rwtheory.convex.schemes import DROKL, KLCapped, Strategy
from rwtheory.convex.trajectory import Trajectory
from rwtheory.theory import theorems
from rwtheory.theory.randomised import a_priori_rho

__all__ = [
    "BrokenHypothesis",
    "CarryOverFinding",
    "StepsAboveLimits",
    "broken_hypotheses",
    "carry_over_finding",
    "steps_above_limits",
]


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
    facts: dict = field(default_factory=dict)  # the numbers behind ``detail``


def _first_failure(mask: np.ndarray) -> np.ndarray:
    idx = np.argmax(mask, axis=1)
    return np.where(mask.any(axis=1), idx, -1)


def _summarise(hypothesis, setting, violated, detail, **facts) -> BrokenHypothesis:
    first = _first_failure(violated)
    failing = first >= 0
    med = float(np.median(first[failing])) if failing.any() else math.nan
    return BrokenHypothesis(
        hypothesis, setting, int(violated.shape[0]), int(failing.sum()), med, detail, facts
    )


def broken_hypotheses(
    *, seeds: int = 8, steps: int = 200, rtol: float = 1e-9
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
            out.append(
                _summarise(
                    "uncapped DRO-KL vs Route C with ρ = 2",
                    f"row_spread={spread:g}, τ={tau:g}, η=1/(4L)",
                    bad,
                    f"max ρ_t = {np.nanmax(tr.rho):.3g}; one-step failing runs "
                    f"{int(one.violated(rtol).any(axis=1).sum())}, rate failing runs "
                    f"{int(rate_only.sum())}, diverged {int(tr.diverged.sum())}/{tr.runs}",
                    row_spread=spread,
                    max_rho=float(np.nanmax(tr.rho)),
                )
            )
    p = consistent_least_squares(seeds, n=64, d=16, condition=100.0, row_spread=10.0)
    L = p.smoothness()
    for scheme, rho in (
        (Strategy("uniform"), 1.0),
        (Strategy("linupper", 2.0), 2.0),
        (KLCapped(0.5, 2.0), 2.0),
    ):
        for c in (1.0, 2.0, 3.9, 6.0, 7.9):
            eta = c / (2 * rho * L)
            tr = engine.run(p, scheme, lr=eta, steps=steps)
            L_hat = theorems.effective_smoothness(p, tr, "C")
            # the rate's step-size hypothesis is broken on purpose: evaluate it regardless
            rate = theorems.gd_rate(tr, L_hat)
            rate = replace(rate, applicable=np.isfinite(rate.bound) & (rate.bound > 0))
            one = theorems.gd_one_step(tr, L_hat)
            sharp = theorems.gd_one_step_sharp(tr, L_hat)
            # the sharp rate's hypothesis eta L_hat_t < 2 is broken for c >= 4: evaluate
            # D^2/(2 eta Gamma T) regardless there (mu read as 1)
            sharp_rate = theorems.gd_rate_sharp(tr, np.minimum(L_hat, 1 / tr.lr[:, None]))
            out.append(
                _summarise(
                    "step size above 1/(2ρL)",
                    f"{scheme.label}, η = {c:g}/(2ρL)",
                    rate.violated(rtol),
                    f"one-step (valid for any η) violations: paper form "
                    f"{int(one.violated(rtol).sum())}, "
                    f"sharp form {int(sharp.violated(rtol).sum())}; "
                    f"sharp rate D²/(2ηΓT) failing runs "
                    f"{int(sharp_rate.violated(rtol).any(axis=1).sum())} (its hypothesis ηρL ≤ 1 "
                    f"{'holds' if c <= 2 else 'broken'}); "
                    f"diverged {int(tr.diverged.sum())}/{tr.runs}",
                    step_factor=c,
                    one_step_violations=int(one.violated(rtol).sum()),
                    sharp_one_step_violations=int(sharp.violated(rtol).sum()),
                    sharp_rate_failing_runs=int(sharp_rate.violated(rtol).any(axis=1).sum()),
                )
            )
    out += _no_interpolation(seeds, steps, rtol)
    out += _carry_over_ignored(seeds, steps, rtol)
    return out


def _no_interpolation(seeds: int, steps: int, rtol: float) -> list[BrokenHypothesis]:
    out = []
    for frac in (0.1, 0.25):
        p = regression_with_outliers(seeds, n=200, d=10, outlier_fraction=frac, n_test=10)
        x_hat = np.stack(
            [np.linalg.lstsq(A, b, rcond=None)[0] for A, b in zip(p.A, p.b, strict=True)]
        )
        L = p.smoothness()
        r_hat = p.residuals(x_hat)  # (R, n)
        for scheme in (Strategy("uniform"), Strategy("linupper", 1.0), KLCapped(0.5, 2.0)):
            tr = engine.run(p, scheme, lr=1 / (4 * L), steps=steps, keep_weights=True)
            X = tr.iterates  # (R, T+1, d)
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
            one = theorems.Bound(
                2 * eta * (1 - eta * tr.rho * L[:, None]) * S,
                d[:, :-1] - d[:, 1:],
                np.maximum.reduce([d[:, :-1], d[:, 1:], 2 * eta * S_abs]),
                np.ones_like(S, dtype=bool),
            )
            k = np.arange(1, steps + 1)
            gmin = np.minimum.accumulate(gamma, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                bound = d[:, :1] / (eta * gmin * k)
            rate = theorems.Bound(np.cumsum(a[:, :-1], axis=1) / k, bound, np.abs(bound), gmin > 0)
            neg = int((gaps < 0).any(axis=(1, 2)).sum())
            out.append(
                _summarise(
                    "no interpolation",
                    f"outliers {frac:.0%}, {scheme.label}, η=1/(4L)",
                    one.violated(rtol) | rate.violated(rtol),
                    f"runs with some Δ_i < 0: {neg}/{tr.runs}; Γ_t ≤ 0 (rate vacuous) in "
                    f"{int((gamma <= 0).any(axis=1).sum())} runs; one-step failing runs "
                    f"{int(one.violated(rtol).any(axis=1).sum())}, rate failing runs "
                    f"{int(rate.violated(rtol).any(axis=1).sum())}; median a_T/a_0 = "
                    f"{np.median(a[:, -1] / a[:, 0]):.2g}",
                    uniform=scheme == Strategy("uniform"),
                    vacuous_runs=int((gamma <= 0).any(axis=1).sum()),
                    final_gap_ratio=float(np.median(a[:, -1] / a[:, 0])),
                )
            )
    return out


def _carry_over_ignored(seeds: int, steps: int, rtol: float) -> list[BrokenHypothesis]:
    out = []
    p = consistent_least_squares(seeds, n=32, d=16, condition=10.0, row_spread=30.0)
    L = p.smoothness()
    for scheme in (
        Strategy("linupper", 0.4),
        KLCapped(0.2, 2.0),
        SmallestGaps(2.0),
        RandomCapped(3, 2.0, 0.05),
    ):
        rho = a_priori_rho(scheme, p.n)
        eta = 1 / (2 * rho * L)
        lam = 0.5 * np.arange(steps + 1)  # kappa t, kappa = 1/2
        tr = engine.run(p, scheme, method="heavy_ball", lr=eta, steps=steps, lambdas=lam)
        # recorded: the problem has an interpolation point x*
        assert tr.gamma is not None and tr.dist2 is not None and tr.gap is not None
        gamma = np.minimum.accumulate(tr.gamma, axis=1)
        lam_k = lam[None, 1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (
                tr.dist2[:, :1]
                * np.maximum(1 / (2 * eta[:, None] * gamma), L[:, None] / 2)
                / (1 + lam_k)
            )
        naive = theorems.Bound(tr.gap[:, 1:], bound, np.abs(bound), gamma > 0)
        derived = theorems.heavy_ball_rate(tr, theorems.effective_smoothness(p, tr, "C"), L)
        out.append(
            _summarise(
                "carry-over ignored (heavy ball, λ_t = t/2)",
                f"{scheme.label}, η = 1/(2ρL)",
                naive.violated(rtol),
                f"derived bound (feasible horizons only): "
                f"{int(derived.violated(rtol).sum())} violations",
                derived_violations=int(derived.violated(rtol).sum()),
            )
        )
    return out


# ------------------------------------------------------------------ steps above the limits
@dataclass(frozen=True)
class StepsAboveLimits:
    """Steps between the paper's limit 1/(2 L_hat) and 2/L_hat on one loss family and
    algorithm: violations with the right L_hat (must be 0 for the one-step forms, which hold
    for every step) and with wrong ones (must be > 0: the check can fail)."""

    loss: str
    algorithm: str
    runs: int
    evaluated: int
    paper_violations: int  # paper one-step form, right L_hat
    sharp_violations: int  # sharp one-step form, right L_hat
    sharp_rate_violations: int  # sharp rate, right L_hat (applicable: eta L_hat_t < 2)
    wrong_violations: dict  # label of the wrong L_hat -> sharp one-step violations
    tightness_sharp: float  # median observed/bound of the sharp one-step form


#: The step multiples of 1/(2 L_hat_apriori) used by :func:`steps_above_limits`.
ABOVE_FACTORS = (2.0, 3.0, 3.98)


def steps_above_limits(
    *, seeds: int = 4, steps: int = 100, rtol: float = 1e-9
) -> list[StepsAboveLimits]:
    r"""GD, SGD (b = n/4) and heavy ball (constant lambda = 1/2) at eta = u/(2 L_hat), u in
    :data:`ABOVE_FACTORS`, both routes, schemes uniform / LinUpper (r = 1) / Prop. 1
    (rho = 2) / smallest gaps (rho = 2), on consistent least squares (n = 32, d = 16,
    condition 10, row spread 10) and the same data with Huber (delta = 0.1) and log-cosh
    (s = 1). Wrong constants: :math:`10^{-12}\hat L` (both routes) and, for SGD's Route C,
    :math:`\rho_tL` in place of :math:`\rho_tL_{B_t}`."""
    base = consistent_least_squares(seeds, n=32, d=16, condition=10.0, row_spread=10.0)
    schemes = (
        Strategy("uniform"),
        Strategy("linupper", 1.0),
        KLCapped(0.5, 2.0),
        SmallestGaps(2.0),
    )
    out = []
    for loss in ("squared", "huber", "log_cosh"):
        p = (
            base
            if loss == "squared"
            else glm.from_least_squares(base, glm.make_loss(loss, 0.1 if loss == "huber" else 1.0))
        )
        run = engine.run if loss == "squared" else glm.run
        for algorithm in ("GD", "SGD", "heavy ball"):
            out.append(_above(p, run, loss, algorithm, schemes, steps, rtol))
    return out


def _above(p, run, loss, algorithm, schemes, steps, rtol) -> StepsAboveLimits:
    b = p.n if algorithm != "SGD" else p.n // 4
    L, L_max = p.smoothness(), p.max_smoothness()
    L_b = L if b == p.n else np.minimum(L_max, p.n * L / b)
    counts = dict(runs=0, evaluated=0, paper=0, sharp=0, rate=0)
    wrong: dict[str, int] = {}
    ratios = []
    one_paper, one_sharp = (
        (theorems.heavy_ball_one_step, theorems.heavy_ball_one_step_sharp)
        if algorithm == "heavy ball"
        else (theorems.sgd_one_step, theorems.sgd_one_step_sharp)
    )
    for scheme in schemes:
        for route in theorems.ROUTES:
            for u in ABOVE_FACTORS:
                L_hat0 = a_priori_rho(scheme, b) * L_b if route == "C" else L_max
                kw = dict(lr=u / (2 * L_hat0), steps=steps)
                if algorithm == "SGD":
                    kw.update(method="sgd", batch_size=b)
                elif algorithm == "heavy ball":
                    kw.update(method="heavy_ball", lambdas=np.r_[0.0, np.full(steps, 0.5)])
                tr = run(p, scheme, **kw)
                L_hat = theorems.effective_smoothness(p, tr, route)
                sharp = one_sharp(tr, L_hat)
                counts["runs"] += tr.runs
                counts["evaluated"] += int(sharp.evaluated.sum())
                counts["paper"] += int(one_paper(tr, L_hat).violated(rtol).sum())
                counts["sharp"] += int(sharp.violated(rtol).sum())
                if algorithm != "heavy ball":
                    counts["rate"] += int(theorems.sgd_rate_sharp(tr, L_hat).violated(rtol).sum())
                ratios.append(sharp.tightness())
                bad = {"1e-12·L̂": 1e-12 * L_hat}
                if algorithm == "SGD" and route == "C":
                    bad["ρ_t·L for ρ_t·L_B"] = tr.rho * L[:, None]
                for label, wrong_L in bad.items():
                    wrong[label] = wrong.get(label, 0) + int(
                        one_sharp(tr, wrong_L).violated(rtol).sum()
                    )
    t = np.concatenate(ratios)
    return StepsAboveLimits(
        loss,
        algorithm,
        counts["runs"],
        counts["evaluated"],
        counts["paper"],
        counts["sharp"],
        counts["rate"],
        wrong,
        float(np.median(t)) if t.size else math.nan,
    )


# ------------------------------------------------------------------ the carry-over term
@dataclass(frozen=True)
class CarryOverFinding:
    """Heavy ball's coefficient form with the proved carry-over bound rho_{t+1} and with the
    unproved rho_t / Gamma_t (:data:`rwtheory.theory.theorems.CARRY_BOUNDS`) on one setting:
    runs in which each form is violated somewhere, and steps violating each lemma."""

    setting: str
    runs: int
    steps: int
    failing_runs: dict  # carry -> runs with a violated coefficient form (sharp form)
    lemma_steps: dict  # carry -> steps with S'_{t+1} > bound * a_t


def carry_over_finding(
    *, seeds: int = 4, steps: int = 60, rtol: float = 1e-9
) -> list[CarryOverFinding]:
    r"""Is :math:`\rho_{t+1}` in :math:`c_t = (\kappa_t + \lambda_t)\Gamma_t -
    \lambda_{t+1}\rho_{t+1}` needed? Full-batch heavy ball with constant momentum
    :math:`\lambda \in \{0.5, 2, 10\}` (:math:`\lambda_0 = 0`), :math:`\eta = 1/(\rho L)`:

    * the adversary :class:`rwtheory.convex.adversaries.AlternatingCap` (uniform at even
      steps, the cap :math:`\rho` filled from the largest losses at odd steps, so
      :math:`\rho_{t+1} = \rho` while :math:`\rho_t = \Gamma_t = 1` at even t) with
      :math:`\rho = n` (no cap) and :math:`\rho = 2`, on least squares (n = 2 and 8) and Huber
      (delta = 0.1, n = 8);
    * the paper's strategies and Prop. 1's weights on the same data (slowly varying
      :math:`\rho_t`), for contrast.
    """
    out = []
    for n, d in ((2, 2), (8, 4)):
        base = consistent_least_squares(seeds, n=n, d=d, condition=10.0, row_spread=10.0)
        # (name, problem, its engine's run): least squares and GLM problems have their own
        problems: list[tuple[str, FiniteSums, Callable[..., Trajectory]]] = [
            ("least squares", base, engine.run)
        ]
        if n == 8:
            problems.append(("Huber δ=0.1", glm.from_least_squares(base, glm.huber(0.1)), glm.run))
        for name, p, run in problems:
            schemes = (
                [AlternatingCap(float(n)), AlternatingCap(2.0)] if n > 2 else [AlternatingCap(2.0)]
            )
            for scheme in [*schemes, Strategy("linupper", 0.4), KLCapped(0.2, 2.0)]:
                out.append(_carry(p, run, f"{name}, n={n}, {scheme.label}", scheme, steps, rtol))
    return out


def _carry(p, run, setting, scheme, steps, rtol) -> CarryOverFinding:
    rho = a_priori_rho(scheme, p.n) if not isinstance(scheme, AlternatingCap) else scheme.rho
    L = p.smoothness()
    failing = dict.fromkeys(theorems.CARRY_BOUNDS, 0)
    lemma = dict.fromkeys(theorems.CARRY_BOUNDS, 0)
    runs = 0
    for lam in (0.5, 2.0, 10.0):
        tr = run(
            p,
            scheme,
            method="heavy_ball",
            lr=1 / (rho * L),
            steps=steps,
            lambdas=np.r_[0.0, np.full(steps, lam)],
        )
        L_hat = theorems.effective_smoothness(p, tr, "C")
        runs += tr.runs
        for carry in theorems.CARRY_BOUNDS:
            form = theorems.heavy_ball_weighted_sum_sharp(tr, L_hat, carry=carry)
            failing[carry] += int(form.violated(rtol).any(axis=1).sum())
            lemma[carry] += int(
                theorems.heavy_ball_carry_over(tr, carry=carry).violated(rtol).sum()
            )
    return CarryOverFinding(setting, runs, steps, failing, lemma)
