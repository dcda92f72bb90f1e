"""THEORY §3's sharper forms beside the paper's (rwtheory.theory.theorems, suffix _sharp), the
step-size rounding tolerance, the carry-over lemma and the status rule of the verification."""

import numpy as np
import pytest

from rwtheory.convex import engine, glm
from rwtheory.convex.adversaries import AlternatingCap, SmallestGaps
from rwtheory.convex.problems import consistent_least_squares
from rwtheory.convex.schemes import KLCapped, Strategy
from rwtheory.theory import broken_hypotheses, randomised, theorems


@pytest.fixture(scope="module")
def problem():
    return consistent_least_squares(2, n=16, d=8, condition=10.0, row_spread=10.0)


def _S_and_d(problem, tr):
    """S_t from the iterates and weights (least squares: Delta_i = (a_i^T(x - x*))^2/2) and
    ||x_t - x*||^2, recomputed without the engine's records."""
    X, W = tr.iterates, tr.weights
    gaps = 0.5 * np.einsum("rnd,rtd->rtn", problem.A, X - problem.x_star[:, None]) ** 2
    if tr.batches is not None:
        gaps = np.take_along_axis(gaps[:, :-1], tr.batches, axis=2)
    else:
        gaps = gaps[:, :-1]
    return (W * gaps).sum(-1), ((X - problem.x_star[:, None]) ** 2).sum(-1)


@pytest.mark.parametrize("factor", [0.3, 1.0, 1.5, 1.99])
def test_gd_sharp_one_step_is_the_formula_by_hand(problem, factor):
    """observed = 2 eta min(1, 2 - eta L_hat_t) S_t, for steps up to 1.99/L_hat; never below
    the paper's form, and no violation."""
    L = problem.smoothness()
    tr = engine.run(problem, KLCapped(0.5, 2.0), lr=factor / (2 * L), steps=25, keep_weights=True)
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    sharp = theorems.gd_one_step_sharp(tr, L_hat)
    paper = theorems.gd_one_step(tr, L_hat)
    S, d = _S_and_d(problem, tr)
    eta = tr.lr[:, None]
    mu = np.minimum(1.0, 2.0 - eta * tr.rho * L[:, None])
    np.testing.assert_allclose(sharp.observed, 2 * eta * mu * S, rtol=1e-11)
    np.testing.assert_allclose(sharp.bound, d[:, :-1] - d[:, 1:], rtol=1e-8, atol=1e-14)
    assert np.all(sharp.observed >= paper.observed)
    assert not sharp.violated().any() and not paper.violated().any()


def test_sharp_one_step_is_nearly_attained_on_huber():
    """Huber far from the fit is nearly linear: <grad f_i, x - x*> ~ Delta_i, so the sharp
    one-step inequality is nearly an equality (THEORY §3: 'attained up to 1.00')."""
    base = consistent_least_squares(3, n=16, d=8, condition=10.0, row_spread=10.0)
    p = glm.from_least_squares(base, glm.huber(0.1))
    L = p.smoothness()
    tr = glm.run(p, Strategy("uniform"), lr=0.5 / L, steps=20)
    b = theorems.gd_one_step_sharp(tr, theorems.effective_smoothness(p, tr, "C"))
    assert not b.violated().any()
    assert b.tightness().max() > 0.98  # measured 0.987 (eta^2 ||g||^2 takes the rest)
    # the paper's form gives away the factor 1 - eta L = 1/2 there
    assert (
        theorems.gd_one_step(tr, theorems.effective_smoothness(p, tr, "C")).tightness().max() < 0.51
    )


def test_gd_sharp_rate_formula_and_applicability(problem):
    """bound = D^2 / (2 eta mu_k Gamma_k k), mu_k = min_{t<k} min(1, 2 - eta L_hat_t);
    at eta = 1/(rho L) with rho = 2 that is rho L D^2 / (2 Gamma k) = L D^2 / (Gamma k)."""
    L = problem.smoothness()
    T = 40
    tr = engine.run(problem, KLCapped(0.5, 2.0), lr=1 / (2 * L), steps=T)
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    b = theorems.gd_rate_sharp(tr, L_hat)
    assert b.applicable.all() and not b.violated().any()
    k = np.arange(1, T + 1)
    gamma = np.minimum.accumulate(tr.gamma, axis=1)
    np.testing.assert_allclose(b.bound, L[:, None] * tr.dist2[:, :1] / (gamma * k), rtol=1e-12)
    # the paper's rate is not applicable at this step (eta rho_t L up to 1 > 1/2)
    assert not theorems.gd_rate(tr, L_hat).applicable[:, -1].any()
    # steps in (1/L_hat, 2/L_hat): mu_k < 1 enters the bound
    tr2 = engine.run(problem, Strategy("uniform"), lr=1.5 / L, steps=T)
    b2 = theorems.gd_rate_sharp(tr2, theorems.effective_smoothness(problem, tr2, "C"))
    np.testing.assert_allclose(
        b2.bound, tr2.dist2[:, :1] / (2 * 1.5 / L[:, None] * 0.5 * k), rtol=1e-12
    )
    assert b2.applicable.all() and not b2.violated().any()
    tr3 = engine.run(problem, Strategy("uniform"), lr=2.0 / L, steps=3)
    assert not theorems.gd_rate_sharp(
        tr3, theorems.effective_smoothness(problem, tr3, "C")
    ).applicable.any()


def test_sgd_sharp_forms(problem):
    L_max = problem.max_smoothness()
    tr = engine.run(
        problem,
        Strategy("linupper", 1.0),
        method="sgd",
        batch_size=4,
        lr=1.9 / L_max,
        steps=30,
        keep_weights=True,
    )
    L_hat = theorems.effective_smoothness(problem, tr, "J")
    one = theorems.sgd_one_step_sharp(tr, L_hat)
    S, _ = _S_and_d(problem, tr)
    eta = tr.lr[:, None]
    np.testing.assert_allclose(one.observed, 2 * eta * (2 - eta * L_max[:, None]) * S, rtol=1e-11)
    for check in (
        theorems.sgd_one_step_sharp,
        theorems.sgd_pathwise_sharp,
        theorems.sgd_rate_sharp,
    ):
        b = check(tr, L_hat)
        assert b.evaluated.any() and not b.violated().any(), check.__name__
    rate = theorems.sgd_rate_sharp(tr, L_hat)
    np.testing.assert_allclose(rate.observed[:, -1], tr.batch_gap.mean(axis=1), rtol=1e-12)


def test_heavy_ball_sharp_one_step_and_coefficients_by_hand(problem):
    L = problem.smoothness()
    T = 20
    lam = np.r_[0.0, np.full(T, 0.3)]
    tr = engine.run(
        problem, SmallestGaps(2.0), method="heavy_ball", lr=0.8 / L, steps=T, lambdas=lam
    )
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    mu = np.minimum(1.0, 2.0 - tr.lr[:, None] * L_hat)
    one = theorems.heavy_ball_one_step_sharp(tr, L_hat)
    eta = tr.lr[:, None]
    lam_t = lam[None, :-1]
    np.testing.assert_allclose(
        one.observed,
        2 * eta * ((mu + lam_t) * tr.weighted_gap - lam_t * tr.prev_weighted_gap),
        rtol=1e-11,
    )
    c = theorems.heavy_ball_coefficients(tr, L_hat, "sharp")
    for t in range(T):
        gain = (mu[:, t] + (lam[t] if t else 0.0)) * tr.gamma[:, t]
        carry = lam[t + 1] * tr.rho[:, t + 1] if t < T - 1 else 0.0
        np.testing.assert_allclose(c[:, t], gain - carry, rtol=1e-12)
    for check in (
        theorems.heavy_ball_one_step_sharp,
        theorems.heavy_ball_weighted_sum_sharp,
        theorems.heavy_ball_average_rate_sharp,
    ):
        assert not check(tr, L_hat).violated().any(), check.__name__
    # the sharp coefficients dominate the paper's
    assert np.all(c >= theorems.heavy_ball_coefficients(tr, L_hat, "paper") - 1e-15)


def test_carry_over_needs_the_next_steps_rho(problem):
    """The lemma S'_{t+1} <= rho_{t+1} a_t holds; with rho_t or Gamma_t in its place it fails
    at every odd step of the alternating-cap adversary, and so does the coefficient form
    summed over a run with large momentum."""
    L = problem.smoothness()
    T = 40
    tr = engine.run(
        problem,
        AlternatingCap(4.0),
        method="heavy_ball",
        lr=1 / (4 * L),
        steps=T,
        lambdas=np.r_[0.0, np.full(T, 10.0)],
    )
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    assert not theorems.heavy_ball_carry_over(tr).violated().any()
    for carry in ("current", "gamma"):
        lemma = theorems.heavy_ball_carry_over(tr, carry=carry)
        assert lemma.violated()[:, 0::2].all(), carry  # t even: rho_t = Gamma_t = 1
        assert (
            theorems.heavy_ball_weighted_sum_sharp(tr, L_hat, carry=carry)
            .violated()
            .any(axis=1)
            .all()
        ), carry
    with pytest.raises(ValueError, match="carry must be one of"):
        theorems.heavy_ball_carry_over(tr, carry="previous")


def test_carry_over_finding_separates_only_with_the_adversary():
    rows = broken_hypotheses.carry_over_finding(seeds=1, steps=30)
    for r in rows:
        assert r.failing_runs["next"] == 0 and r.lemma_steps["next"] == 0, r.setting
    adv = [r for r in rows if "alternating" in r.setting]
    assert adv and all(r.failing_runs["current"] > 0 and r.failing_runs["gamma"] > 0 for r in adv)
    paper = [r for r in rows if "alternating" not in r.setting]
    assert all(r.failing_runs["current"] == 0 for r in paper)


def test_constant_schedule_improved_coefficient_bound(problem):
    """lambda = kappa Gamma/(2 rho): c_0 >= kappa Gamma/2 and c_t >= kappa Gamma (rho + Gamma)
    / (2 rho) for t >= 1; the improved bound fails at t = 0 in general."""
    L = problem.smoothness()
    T, rho, kappa, gam = 30, 2.0, 0.5, 1.0
    lam = theorems.heavy_ball_constant_lambdas(T, gam, rho, kappa)
    tr = engine.run(
        problem,
        KLCapped(0.05, rho),
        method="heavy_ball",
        lr=1 / (2 * rho * L),
        steps=T,
        lambdas=lam,
    )
    tally = randomised.ConstantScheduleTally("C")
    a_priori = dict(
        gamma=np.full(2, gam),
        rho=np.full(2, rho),
        kappa=np.full(2, kappa),
        form=np.full(2, "paper"),
    )
    tally.add(tr, theorems.effective_smoothness(problem, tr, "C"), a_priori)
    assert (tally.hypotheses_hold, tally.claim_holds, tally.improved_holds) == (2, 2, 2)
    c = theorems.heavy_ball_coefficients(tr, theorems.effective_smoothness(problem, tr, "C"))
    assert np.all(c[:, 1:].min(axis=1) >= kappa * gam * (rho + gam) / (2 * rho) * (1 - 1e-9))


def test_step_size_rounding_tolerance():
    u = 2.0**-52
    assert theorems.step_within(0.5 * (1 + 10 * u), 0.5)
    assert not theorems.step_within(0.5 * (1 + 64 * u), 0.5)
    assert theorems.STEP_ULPS == 16


def test_rate_keeps_a_run_stepped_at_the_limit_up_to_rounding(problem):
    """eta = 1/(2 L) with L_hat recorded a few ulp larger: the paper's rate stays applicable."""
    L = problem.smoothness()
    tr = engine.run(problem, Strategy("uniform"), lr=1 / (2 * L), steps=10)
    L_hat = theorems.effective_smoothness(problem, tr, "C") * (1 + 8 * 2.0**-52)
    assert theorems.gd_rate(tr, L_hat).applicable.all()
    assert not theorems.gd_rate(tr, L_hat * (1 + 1e-12)).applicable.any()


def test_status_needs_applicable_runs():
    t = randomised.Tally("GD", "C", "rate", runs=150, runs_applicable=0)
    assert t.status() == "not checked"
    t.runs_applicable = randomised.MIN_APPLICABLE_RUNS
    assert t.status() == "holds"
    t.violations = 1
    assert t.status() == "fails"
    ok = randomised.Tally("GD", "C", "one-step", runs=30, runs_applicable=30)
    none = randomised.Tally("GD", "C", "rate", runs=30, runs_applicable=3)
    assert randomised.combined_status([ok, none]) == "not checked"
    assert randomised.combined_status([ok]) == "holds"
    assert randomised.combined_status([ok, t]) == "fails"
    assert randomised.combined_status([]) == "not checked"


def test_progress_factor_rejects_an_unknown_form():
    with pytest.raises(ValueError, match="form must be one of"):
        theorems.progress_factor(np.ones(1), np.ones(1), "loose")


def test_steps_above_limits_finding():
    """Steps up to 1.99/L_hat: no violation with the right L_hat, on every loss and
    algorithm; 1e-12 L_hat is caught on least squares GD."""
    rows = broken_hypotheses.steps_above_limits(seeds=1, steps=25)
    assert {(r.loss, r.algorithm) for r in rows} == {
        (loss, a) for loss in ("squared", "huber", "log_cosh") for a in ("GD", "SGD", "heavy ball")
    }
    for r in rows:
        assert r.evaluated > 0
        assert r.paper_violations == r.sharp_violations == r.sharp_rate_violations == 0
    gd = next(r for r in rows if (r.loss, r.algorithm) == ("squared", "GD"))
    assert gd.wrong_violations["1e-12·L̂"] > 0
    sgd = next(r for r in rows if (r.loss, r.algorithm) == ("squared", "SGD"))
    assert set(sgd.wrong_violations) == {"1e-12·L̂", "ρ_t·L for ρ_t·L_B"}


def test_log_cosh_gaps_keep_relative_precision_near_the_fit():
    """The gaps the checks compare are measured to full relative precision near x*
    (log cosh z = z^2/2 - z^4/12 + ...), not to an absolute ~u s^2 (which produced spurious
    violations at x* to machine precision in the full verification)."""
    loss = glm.log_cosh(0.1)
    r = np.array([1e-9, 1e-6, 1e-3, 5e-3])
    z = r / 0.1
    series = 0.01 * (z**2 / 2 - z**4 / 12 + z**6 / 45 - 17 * z**8 / 2520)
    np.testing.assert_allclose(loss.value(r, np.zeros(4)), series, rtol=1e-12)
    big = np.array([0.2, 3.0])
    np.testing.assert_allclose(
        loss.value(big, np.zeros(2)), 0.01 * np.log(np.cosh(big / 0.1)), rtol=1e-13
    )
