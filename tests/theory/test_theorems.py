"""The inequalities of Theorems 1-2 on recorded trajectories (rwtheory.theory.theorems), the derived
heavy-ball rate, the randomised verification (rwtheory.theory.randomised) and the
broken-hypothesis findings (rwtheory.theory.broken_hypotheses)."""

import dataclasses

import numpy as np
import pytest

from rwtheory.convex import engine
from rwtheory.convex.adversaries import DirichletWeights, RandomCapped, SmallestGaps
from rwtheory.convex.problems import consistent_least_squares, regression_with_outliers
from rwtheory.convex.schemes import DROKL, KLCapped, Strategy
from rwtheory.theory import broken_hypotheses, randomised, theorems
from rwtheory.weights.pipeline import worst_case_rho


@pytest.fixture(scope="module")
def problem():
    return consistent_least_squares(3, n=24, d=12, condition=10.0, row_spread=10.0)


def test_gd_one_step_is_the_formula_recomputed_by_hand(problem):
    """observed = 2 eta (1 - eta rho_t L) S_t with S_t = sum_i w_i Delta_i(x_t) from the
    iterates and weights; bound = ||x_t - x*||^2 - ||x_{t+1} - x*||^2."""
    L = problem.smoothness()
    tr = engine.run(problem, Strategy("linupper", 1.0), lr=1 / (4 * L), steps=20, keep_weights=True)
    b = theorems.gd_one_step(tr, theorems.effective_smoothness(problem, tr, "C"))
    X, W = tr.iterates, tr.weights
    gaps = 0.5 * np.einsum("rnd,rtd->rtn", problem.A, X - problem.x_star[:, None]) ** 2
    S = (W * gaps[:, :-1]).sum(-1)
    rho = W.shape[-1] * W.max(-1)
    eta = tr.lr[:, None]
    np.testing.assert_allclose(b.observed, 2 * eta * (1 - eta * rho * L[:, None]) * S, rtol=1e-12)
    d = ((X - problem.x_star[:, None]) ** 2).sum(-1)
    np.testing.assert_allclose(b.bound, d[:, :-1] - d[:, 1:], rtol=1e-9, atol=1e-15)
    assert not b.violated().any()
    # for quadratics <g, x - x*> = 2 S_t: the convexity step gives away a factor ~2
    assert 0.25 < np.median(b.tightness()) <= 0.5 + 1e-9


@pytest.mark.parametrize(
    "scheme",
    [
        Strategy("uniform"),
        Strategy("quadratic", 0.5),
        KLCapped(0.2, 2.0),
        DROKL(0.5),
        DirichletWeights(0, 0.2),
        SmallestGaps(2.0),
        RandomCapped(1, 2.0, 0.05),
    ],
    ids=lambda s: s.label,
)
@pytest.mark.parametrize("route", theorems.ROUTES)
def test_every_inequality_holds_for_any_weights(problem, scheme, route):
    """The one-step and pathwise inequalities need no cap and no step-size limit."""
    L = problem.smoothness()
    runs = [
        ("gd", None, engine.run(problem, scheme, lr=0.3 / L, steps=30)),
        ("sgd", 6, engine.run(problem, scheme, method="sgd", batch_size=6, lr=0.1 / L, steps=30)),
        (
            "hb",
            None,
            engine.run(
                problem, scheme, method="heavy_ball", lr=0.3 / L, steps=30, lambdas=lambda t: t / 3
            ),
        ),
    ]
    for method, _, tr in runs:
        L_hat = theorems.effective_smoothness(problem, tr, route)
        checks = {
            "gd": [theorems.gd_one_step, theorems.gd_pathwise],
            "sgd": [theorems.sgd_one_step, theorems.sgd_pathwise],
            "hb": [
                theorems.heavy_ball_one_step,
                theorems.heavy_ball_pathwise,
                theorems.heavy_ball_weighted_sum,
            ],
        }[method]
        for check in checks:
            b = check(tr, L_hat)
            assert b.evaluated.sum() > 0, (method, check.__name__)
            assert not b.violated(1e-9).any(), (
                method,
                check.__name__,
                np.nanmax(b.relative_violation()),
            )


def test_gd_rate_with_the_papers_constants(problem):
    """rho = 2, eta = 1/(4L): (1/T) sum a_t <= 4 L ||x_0 - x*||^2 / (Gamma T)."""
    L = problem.smoothness()
    tr = engine.run(problem, KLCapped(0.5, 2.0), lr=1 / (4 * L), steps=60)
    b = theorems.gd_rate(tr, theorems.effective_smoothness(problem, tr, "C"))
    assert b.applicable.all()
    gamma = tr.gamma.min(axis=1)
    np.testing.assert_allclose(b.bound[:, -1], 4 * L * tr.dist2[:, 0] / (gamma * 60), rtol=1e-12)
    np.testing.assert_allclose(b.observed[:, -1], tr.gap[:, :-1].mean(axis=1), rtol=1e-12)
    assert not b.violated().any()
    assert np.all(gamma >= 1 - 1e-12)  # weights non-decreasing in the gap: Gamma_t >= 1


def test_rate_applicability_follows_the_step_size(problem):
    L = problem.smoothness()
    tr = engine.run(problem, Strategy("uniform"), lr=0.75 / L, steps=10)  # eta L > 1/2
    assert not theorems.gd_rate(
        tr, theorems.effective_smoothness(problem, tr, "C")
    ).applicable.any()


def test_sgd_rate_is_pathwise_in_the_batch_gaps(problem):
    L_max = problem.max_smoothness()
    tr = engine.run(
        problem, Strategy("linupper", 2.0), method="sgd", batch_size=4, lr=1 / (2 * L_max), steps=40
    )
    b = theorems.sgd_rate(tr, theorems.effective_smoothness(problem, tr, "J"))
    assert b.applicable.all() and not b.violated().any()
    np.testing.assert_allclose(b.observed[:, -1], tr.batch_gap.mean(axis=1), rtol=1e-12)


def test_batch_smoothness_per_step_matches_the_problem(problem):
    tr = engine.run(problem, Strategy("uniform"), method="sgd", batch_size=5, lr=0.01, steps=4)
    Lb = theorems.batch_smoothness_per_step(problem, tr)
    for t in range(4):
        np.testing.assert_allclose(Lb[:, t], problem.batch_smoothness(tr.batches[:, t]))
    assert np.all(Lb <= problem.max_smoothness()[:, None] * (1 + 1e-12))


# ------------------------------------------------------------------ heavy ball
def test_heavy_ball_lambdas_closed_form():
    lam = theorems.heavy_ball_lambdas(50, gamma=1.0, rho=2.0, kappa=0.5)
    q, t = 0.5, np.arange(51)
    np.testing.assert_allclose(lam, 0.5 * q * (1 - q**t) / (1 - q), rtol=1e-12)
    np.testing.assert_allclose(theorems.heavy_ball_lambdas(10, 1.0, 1.0, 0.5), 0.5 * np.arange(11))


def test_heavy_ball_rate_uniform_is_sebbouhs_last_iterate_rate(problem):
    """q = 1, eta = 1/(2L), kappa = 1/2: f(x_T) - f* <= 2 L D^2 / (T + 2)."""
    L = problem.smoothness()
    T = 80
    lam = theorems.heavy_ball_lambdas(T, 1.0, 1.0, 0.5)
    tr = engine.run(
        problem, Strategy("uniform"), method="heavy_ball", lr=1 / (2 * L), steps=T, lambdas=lam
    )
    b = theorems.heavy_ball_rate(tr, theorems.effective_smoothness(problem, tr, "C"), L)
    assert b.applicable.all() and not b.violated().any()
    k = np.arange(1, T + 1)
    np.testing.assert_allclose(b.bound, 2 * L[:, None] * tr.dist2[:, :1] / (k + 2), rtol=1e-9)


def test_heavy_ball_rate_plateaus_when_q_is_below_one(problem):
    """The derived bound tends to D^2 (1 - q) / (2 eta rho (1 - q + kappa q)) > 0."""
    L = problem.smoothness()
    T, rho, kappa = 400, 2.0, 0.5
    lam = theorems.heavy_ball_lambdas(T, 1.0, rho, kappa)
    tr = engine.run(
        problem, KLCapped(0.5, rho), method="heavy_ball", lr=1 / (2 * rho * L), steps=T, lambdas=lam
    )
    b = theorems.heavy_ball_rate(tr, theorems.effective_smoothness(problem, tr, "C"), L)
    assert b.applicable.all() and not b.violated().any()
    q, eta = 0.5, 1 / (2 * rho * L)
    plateau = tr.dist2[:, 0] * (1 - q) / (2 * eta * rho * (1 - q + kappa * q))
    # the bound uses the path's own Gamma_{T-1} >= 1 and kappa_{T-1} >= 1/2: at most the plateau
    assert np.all(b.bound[:, -1] <= plateau * (1 + 1e-9))
    assert np.all(b.bound[:, -1] >= 0.2 * plateau)  # ... and it does not go to zero
    assert np.all(b.observed[:, -1] < 1e-3 * b.bound[:, -1])  # while the method converges


def test_heavy_ball_rate_flags_an_infeasible_schedule(problem):
    """lambda_t = t/2 is feasible for uniform weights only; with capped weights rho_t > Gamma_t
    the derived rate's hypothesis fails after a few steps."""
    L = problem.smoothness()
    tr = engine.run(
        problem,
        SmallestGaps(2.0),
        method="heavy_ball",
        lr=1 / (4 * L),
        steps=30,
        lambdas=0.5 * np.arange(31),
    )
    b = theorems.heavy_ball_rate(tr, theorems.effective_smoothness(problem, tr, "C"), L)
    assert b.applicable[:, 0].all() and not b.applicable[:, -1].any()


def test_heavy_ball_constant_lambdas():
    lam = theorems.heavy_ball_constant_lambdas(20, gamma=1.0, rho=2.0, kappa=0.5)
    assert lam[0] == 0.0 and np.all(lam[1:] == 0.125)
    with pytest.raises(ValueError, match="gamma"):
        theorems.heavy_ball_constant_lambdas(5, gamma=3.0, rho=2.0, kappa=0.5)


def test_heavy_ball_average_rate_is_one_over_t_where_the_last_iterate_bound_plateaus(problem):
    """q = Gamma/rho = 1/2: with the constant schedule every coefficient is >= kappa Gamma/2,
    so the average gap is <= D^2/(eta kappa Gamma k) at every horizon -- O(1/k), while
    heavy_ball_rate's last-iterate bound (same run) stays at its plateau."""
    L = problem.smoothness()
    T, rho, kappa = 400, 2.0, 0.5
    eta = 1 / (2 * rho * L)
    lam = theorems.heavy_ball_constant_lambdas(T, 1.0, rho, kappa)
    tr = engine.run(problem, KLCapped(0.5, rho), method="heavy_ball", lr=eta, steps=T, lambdas=lam)
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    b = theorems.heavy_ball_average_rate(tr, L_hat)
    assert b.applicable.all() and not b.violated().any()
    k = np.arange(1, T + 1)
    # Gamma_t >= 1 (weights non-decreasing in the gap), rho_t <= 2, kappa_t >= 1/2
    np.testing.assert_array_less(
        b.bound, tr.dist2[:, :1] / (eta[:, None] * kappa * k) * (1 + 1e-12)
    )
    np.testing.assert_allclose(b.observed, np.cumsum(tr.gap[:, :-1], axis=1) / k, rtol=1e-14)
    # the bound keeps falling like 1/k: 10x the horizon, ~10x smaller
    assert np.all(b.bound[:, -1] < 0.2 * b.bound[:, T // 10 - 1])
    last = theorems.heavy_ball_rate(tr, L_hat, L)
    assert np.all(b.bound[:, -1] < 0.1 * last.bound[:, -1])


def _check_min_coefficients_by_hand(tr, L_hat, b):
    eta, lam = tr.lr, tr.lambdas
    T = tr.steps
    compared = 0
    for r in range(tr.runs):
        for k in range(1, T + 1):
            c = [
                (1 - eta[r] * L_hat[r, t] + (lam[t] if t else 0.0)) * tr.gamma[r, t]
                - (lam[t + 1] * tr.rho[r, t + 1] if t < k - 1 else 0.0)
                for t in range(k)
            ]
            m = min(c)
            assert b.applicable[r, k - 1] == (m > 0)
            if m > 0:
                np.testing.assert_allclose(
                    b.bound[r, k - 1], tr.dist2[r, 0] / (2 * eta[r] * m * k), rtol=1e-12
                )
                compared += 1
    return compared


def test_heavy_ball_average_rate_min_coefficient_by_hand(problem):
    """bound = D^2 / (2 eta k m_k), m_k the smallest coefficient of the horizon-k sum,
    recomputed with an explicit loop; m_k <= 0 marks the horizon inapplicable."""
    L = problem.smoothness()
    T = 25
    # non-monotone weights (Gamma_t < rho_t), constant schedule: applicable at most horizons
    tr = engine.run(
        problem,
        Strategy("quadratic", 0.5),
        method="heavy_ball",
        lr=1 / (4 * L),
        steps=T,
        lambdas=theorems.heavy_ball_constant_lambdas(T, 0.5, 2.0, 0.5),
    )
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    b = theorems.heavy_ball_average_rate(tr, L_hat)
    assert _check_min_coefficients_by_hand(tr, L_hat, b) >= 0.5 * tr.runs * T
    assert not b.violated().any()
    # rho_t > Gamma_t with a growing lambda: coefficients turn negative after a few steps
    tr = engine.run(
        problem,
        SmallestGaps(2.0),
        method="heavy_ball",
        lr=1 / (4 * L),
        steps=T,
        lambdas=0.5 * np.arange(T + 1),
    )
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    b = theorems.heavy_ball_average_rate(tr, L_hat)
    _check_min_coefficients_by_hand(tr, L_hat, b)
    assert b.applicable[:, 0].all() and not b.applicable[:, -1].any()
    assert not b.violated().any()


def test_heavy_ball_coefficient_form_for_a_nonzero_lambda_0(problem):
    """x_{-1} = x_0, so lambda_0 cancels out of the first step (S'_0 = S_0): the coefficient
    form and the rates read lambda_0 as 0 and hold for any lambda_0 >= 0."""
    L = problem.smoothness()
    T = 20
    lam = np.full(T + 1, 0.25)
    lam[0] = 100.0
    tr = engine.run(
        problem, Strategy("uniform"), method="heavy_ball", lr=1 / (2 * L), steps=T, lambdas=lam
    )
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    ws = theorems.heavy_ball_weighted_sum(tr, L_hat)
    eta = tr.lr
    np.testing.assert_allclose(
        ws.observed[:, 0],
        2 * eta * (1 - eta * L_hat[:, 0]) * tr.gamma[:, 0] * tr.gap[:, 0],
        rtol=1e-12,
    )
    for check in (
        theorems.heavy_ball_pathwise,
        theorems.heavy_ball_weighted_sum,
        theorems.heavy_ball_average_rate,
    ):
        assert not check(tr, L_hat).violated().any(), check.__name__


def test_constant_schedule_tally_catches_a_schedule_that_is_too_large(problem):
    """The verification's claim check can fail: with 3x the schedule's lambda and capped
    weights (rho_t = 2), c_t = kappa_t Gamma_t - lambda (rho_{t+1} - Gamma_t) falls below
    kappa Gamma / 2 on paths that meet the a-priori constants, while staying > 0 (so the
    check is stricter than the average rate's applicability)."""
    L = problem.smoothness()
    T, rho, kappa, gam = 30, 2.0, 0.5, 1.0
    eta = 1 / (2 * rho * L)
    a_priori = dict(
        gamma=np.full(3, gam),
        rho=np.full(3, rho),
        kappa=np.full(3, kappa),
        form=np.full(3, "paper"),
    )
    held = {}
    m_last = {}
    for factor in (1.0, 3.0):
        lam = factor * theorems.heavy_ball_constant_lambdas(T, gam, rho, kappa)
        tr = engine.run(
            problem, KLCapped(0.05, rho), method="heavy_ball", lr=eta, steps=T, lambdas=lam
        )
        tally = randomised.ConstantScheduleTally("C")
        tally.add(tr, theorems.effective_smoothness(problem, tr, "C"), a_priori)
        held[factor] = (tally.hypotheses_hold, tally.claim_holds)
        m_last[factor] = theorems.heavy_ball_min_coefficients(
            tr, theorems.effective_smoothness(problem, tr, "C")
        )[:, -1]
    assert held[1.0] == (3, 3)
    assert held[3.0] == (3, 0)
    assert np.all(m_last[3.0] > 0) and np.all(m_last[3.0] < kappa * gam / 2)


# ------------------------------------------------------------------ Monte Carlo rates
def test_rates_in_expectation():
    checks = randomised.expectation_checks(paths=8, steps=30)
    assert len(checks) == 8
    for c in checks:
        assert c.paths == 8 and np.isfinite(c.mean) and c.stderr > 0
        assert not c.exceeds and c.mean < c.bound


def test_monte_carlo_needs_runs_of_one_problem(problem):
    tr = engine.run(problem, Strategy("uniform"), method="sgd", batch_size=4, lr=0.01, steps=5)
    with pytest.raises(ValueError, match="one problem"):
        theorems.sgd_rate_in_expectation(tr, theorems.effective_smoothness(problem, tr, "J"))


# ------------------------------------------------------------------ validation
def test_bad_input_is_rejected(problem):
    L = problem.smoothness()
    tr = engine.run(problem, Strategy("uniform"), lr=0.1 / L, steps=5)
    with pytest.raises(ValueError, match="L_hat must be"):
        theorems.gd_one_step(tr, np.ones(7))
    with pytest.raises(ValueError, match="finite and > 0"):
        theorems.gd_one_step(tr, -1.0)
    with pytest.raises(ValueError, match="route must be one of"):
        theorems.effective_smoothness(problem, tr, "X")
    with pytest.raises(ValueError, match="one row per run"):
        theorems.effective_smoothness(problem.take([0]), tr, "C")
    with pytest.raises(ValueError, match="interpolation point"):
        noisy = regression_with_outliers(1, n=20, d=3, n_test=5)
        t2 = engine.run(noisy, Strategy("uniform"), lr=0.01, steps=3)
        theorems.gd_one_step(t2, 1.0)
    with pytest.raises(ValueError, match="heavy-ball"):
        theorems.heavy_ball_one_step(tr, 1.0)
    sgd = engine.run(problem, Strategy("uniform"), method="sgd", batch_size=4, lr=0.01, steps=3)
    with pytest.raises(ValueError, match="minibatch"):
        theorems.gd_rate(sgd, 1.0)
    with pytest.raises(ValueError, match="gamma must be in"):
        theorems.heavy_ball_lambdas(5, gamma=3.0, rho=2.0, kappa=0.5)
    with pytest.raises(ValueError, match="kappa"):
        theorems.heavy_ball_lambdas(5, gamma=1.0, rho=2.0, kappa=0.0)
    with pytest.raises(ValueError, match="rtol"):
        theorems.gd_one_step(tr, L).violated(-1.0)


# ------------------------------------------------------------------ verification
@pytest.mark.slow
def test_randomised_verification_quick_has_no_violations():
    res = randomised.verify(40, steps=30, seed=3)
    assert res.instances == 40 and res.evaluated > 20_000
    assert res.violations == 0
    for t in res.tallies:
        assert t.runs > 0, (t.algorithm, t.route, t.inequality)
        assert t.max_relative_violation <= 1e-9
        q = t.quantiles()
        assert np.all(np.asarray(q) <= 1 + 1e-9)
    # every algorithm x route x inequality is covered
    assert {(t.algorithm, t.route) for t in res.tallies} == {
        (a, r)
        for a in ("GD", "SGD", "heavy ball", "heavy ball, minibatch", "heavy ball, constant λ")
        for r in "CJ"
    }
    # the constant schedule's claim: every coefficient >= kappa Gamma / 2 wherever the path
    # meets the a-priori constants (met in a good share of the runs, so the check is not vacuous)
    for c in res.constant_schedule:
        assert c.runs == 40 and c.hypotheses_hold >= c.runs // 4
        assert c.claim_holds == c.hypotheses_hold
        assert c.improved_holds == c.hypotheses_hold
    # every rate row has applicable runs (a sign flip of Gamma leaves none: the audit's
    # mutant that read "holds" with nothing checked), here at least a quarter of the runs
    for t in res.tallies:
        if "rate" in t.inequality:
            assert t.runs_applicable >= 10, (t.algorithm, t.route, t.inequality)
            assert t.status(min_runs=10) == "holds"


@pytest.mark.slow
def test_randomised_verification_is_reproducible():
    a, b = randomised.verify(12, steps=15, seed=5), randomised.verify(12, steps=15, seed=5)
    for x, y in zip(a.tallies, b.tallies, strict=True):
        assert (x.evaluated, x.violations) == (y.evaluated, y.violations)
        assert x.quantiles() == y.quantiles()


def test_instances_cover_the_pool():
    inst = randomised.sample_instances(300, seed=0)
    assert {i.scheme for i in inst} == {s for s, _ in randomised.SCHEMES}
    assert {(i.n, i.d) for i in inst} == set(randomised.SHAPES)
    assert any(i.n < i.d for i in inst) and {i.route for i in inst} == {"C", "J"}


def test_a_priori_rho_bounds_the_realised_rho_of_every_kind_of_scheme():
    p = consistent_least_squares(2, n=8, d=4, condition=10.0, row_spread=10.0)
    lr = 0.1 / float(p.smoothness().max())
    cases = [
        (Strategy("linupper", 0.3), worst_case_rho("linupper", 8, 0.3, 1.0)),  # 6.40...
        (Strategy("linupper", lambda t: 0.3 + 0.1 * t), 8.0),  # a schedule: the trivial b
        (KLCapped(0.2, 1.5), 1.5),
        (DROKL(0.2), 8.0),
    ]
    for scheme, expected in cases:
        rho = randomised.a_priori_rho(scheme, p.n)
        assert rho == expected
        tr = engine.run(p, scheme, lr=lr, steps=10)
        assert np.all(tr.rho <= rho * (1 + 1e-12))


# ------------------------------------------------------------------ findings
def test_finding_uncapped_dro_kl_breaks_route_c_when_l_max_exceeds_l():
    """DRO-KL at the paper's eta = 1/(4L) checked against Route C with the cap rho = 2:
    the bound fails at the first step when the row norms spread (L_max >> L) and holds when
    they do not (reported as `thm1.cap`)."""
    found = [
        b
        for b in broken_hypotheses.broken_hypotheses(seeds=3, steps=60)
        if b.hypothesis.startswith("uncapped")
    ]
    spread = [b for b in found if b.facts["row_spread"] > 1]
    assert spread and all(b.failing_runs == b.runs and b.first_failure_step == 0 for b in spread)
    flat = [b for b in found if b.facts["row_spread"] == 1]
    assert flat and all(b.failing_runs == 0 for b in flat)
    assert all(b.facts["max_rho"] > 2 for b in found)  # the cap is broken in every setting


def test_finding_step_above_the_limit_breaks_the_rate_but_not_the_one_step_inequality():
    rows = [
        b
        for b in broken_hypotheses.broken_hypotheses(seeds=3, steps=100)
        if b.hypothesis.startswith("step size")
    ]
    within = [b for b in rows if b.facts["step_factor"] == 1]
    assert len(within) == 3 and all(b.failing_runs == 0 for b in within)
    assert all(b.failing_runs > 0 for b in rows if b.facts["step_factor"] == 7.9)
    assert all(b.facts["one_step_violations"] == 0 for b in rows)


def test_finding_no_interpolation_makes_the_rate_vacuous():
    rows = [
        b
        for b in broken_hypotheses.broken_hypotheses(seeds=2, steps=100)
        if b.hypothesis == "no interpolation"
    ]
    assert len(rows) == 6
    for b in rows:
        if b.facts["uniform"]:  # x_hat minimises f: plain GD converges, its rate holds
            assert b.facts["vacuous_runs"] == 0 and b.failing_runs == 0
            assert b.facts["final_gap_ratio"] < 1e-6
        else:  # reweighted GD: Gamma_t <= 0 occurs and the gap stalls
            assert b.facts["vacuous_runs"] == b.runs
            assert b.facts["final_gap_ratio"] > 1e-3


def test_bound_dataclass_checks_shapes():
    with pytest.raises(ValueError, match="one shape"):
        theorems.Bound(np.zeros(3), np.zeros(2), np.ones(3), np.ones(3, bool))
    b = theorems.Bound(
        np.array([1.0, 2.0]), np.array([2.0, 1.0]), np.array([2.0, 2.0]), np.array([True, True])
    )
    assert b.violated().tolist() == [False, True]
    b2 = dataclasses.replace(b, applicable=np.array([True, False]))
    assert not b2.violated().any() and b2.tightness().tolist() == [0.5]


def test_rounding_floor_matters_only_at_machine_precision():
    """Once x_t equals x* to machine precision the measured distance is rounding noise; the
    float64 floor (2u||y|| per update) absorbs exactly that and is negligible elsewhere."""
    p = consistent_least_squares([770], n=24, d=24, condition=1.0)
    L = p.smoothness()
    tr = engine.run(p, Strategy("quadratic", 2.0), lr=1 / (2 * L), steps=400)
    b = theorems.gd_one_step(tr, theorems.effective_smoothness(p, tr, "C"))
    assert tr.dist2[0, -1] < 1e-28 * tr.dist2[0, 0]  # converged to machine precision
    assert not b.violated().any()
    # floor / scale ~ 4u ||x*|| / ||x_{t+1} - x*||: below 1e-12 while the distance is above
    # 1e-3 of the start, and of order 1 at the machine-precision plateau
    far = tr.dist2[:, 1:] > 1e-6 * tr.dist2[:, :1]
    assert far.sum() > 5
    assert np.all(b.floor[far] <= 1e-12 * b.scale[far])
    near = tr.dist2[:, 1:] < 1e-28 * tr.dist2[:, :1]
    assert near.sum() > 5 and np.all(b.floor[near] > 1e-2 * b.scale[near])
