"""Bad input to every theorem check gets a clear error naming the argument (written to kill
the surviving mutants of ``benchmarks/mutation.py`` in the argument checks)."""

import numpy as np
import pytest

from rwtheory.convex import engine
from rwtheory.convex.problems import consistent_least_squares, regression_with_outliers
from rwtheory.convex.schemes import Strategy
from rwtheory.theory import theorems


@pytest.fixture(scope="module")
def problem():
    return consistent_least_squares(2, n=12, d=6, condition=10.0, row_spread=3.0)


@pytest.fixture(scope="module")
def runs(problem):
    L = problem.smoothness()
    lam = np.r_[0.0, np.full(6, 0.2)]
    return {
        "gd": engine.run(problem, Strategy("linupper", 1.0), lr=0.2 / L, steps=6),
        "sgd": engine.run(
            problem, Strategy("linupper", 1.0), method="sgd", batch_size=4, lr=0.05 / L, steps=6
        ),
        "hb": engine.run(
            problem,
            Strategy("linupper", 1.0),
            method="heavy_ball",
            lr=0.2 / L,
            steps=6,
            lambdas=lam,
        ),
    }


#: (check, trajectory kind, extra positional argument L?)
CHECKS = [
    (theorems.gd_one_step, "gd", False),
    (theorems.gd_one_step_sharp, "gd", False),
    (theorems.gd_pathwise, "gd", False),
    (theorems.gd_pathwise_sharp, "gd", False),
    (theorems.gd_rate, "gd", False),
    (theorems.gd_rate_sharp, "gd", False),
    (theorems.sgd_one_step, "sgd", False),
    (theorems.sgd_one_step_sharp, "sgd", False),
    (theorems.sgd_pathwise, "sgd", False),
    (theorems.sgd_pathwise_sharp, "sgd", False),
    (theorems.sgd_rate, "sgd", False),
    (theorems.sgd_rate_sharp, "sgd", False),
    (theorems.heavy_ball_one_step, "hb", False),
    (theorems.heavy_ball_one_step_sharp, "hb", False),
    (theorems.heavy_ball_pathwise, "hb", False),
    (theorems.heavy_ball_weighted_sum, "hb", False),
    (theorems.heavy_ball_weighted_sum_sharp, "hb", False),
    (theorems.heavy_ball_average_rate, "hb", False),
    (theorems.heavy_ball_average_rate_sharp, "hb", False),
    (theorems.heavy_ball_min_coefficients, "hb", False),
    (theorems.heavy_ball_coefficients, "hb", False),
    (theorems.heavy_ball_rate, "hb", True),
]
IDS = [c[0].__name__ for c in CHECKS]


@pytest.mark.parametrize("check,kind,needs_L", CHECKS, ids=IDS)
def test_every_check_runs_and_holds(runs, problem, check, kind, needs_L):
    tr = runs[kind]
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    out = check(tr, L_hat, problem.smoothness()) if needs_L else check(tr, L_hat)
    if isinstance(out, theorems.Bound):
        assert out.evaluated.any() and not out.violated().any()
    else:
        assert out.shape == tr.rho.shape and np.all(np.isfinite(out))


@pytest.mark.parametrize("check,kind,needs_L", CHECKS, ids=IDS)
@pytest.mark.parametrize("bad", [-1.0, 0.0, np.inf, np.ones(5)])
def test_a_bad_l_hat_is_named(runs, problem, check, kind, needs_L, bad):
    tr = runs[kind]
    args = (tr, bad, problem.smoothness()) if needs_L else (tr, bad)
    with pytest.raises(ValueError, match=r"^L_hat must be"):
        check(*args)


def test_a_bad_l_is_named(runs, problem):
    tr = runs["hb"]
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    for bad in (-1.0, np.inf, np.ones(3)):
        with pytest.raises(ValueError, match=r"^L must be"):
            theorems.heavy_ball_rate(tr, L_hat, bad)


@pytest.mark.parametrize("check,kind,needs_L", CHECKS, ids=IDS)
def test_checks_need_an_interpolation_point(check, kind, needs_L):
    """No x*: the gap records are missing and the error says what is needed."""
    p = regression_with_outliers(1, n=12, d=3, n_test=4)
    kw = {
        "gd": {},
        "sgd": dict(method="sgd", batch_size=4),
        "hb": dict(method="heavy_ball", lambdas=np.zeros(4)),
    }[kind]
    tr = engine.run(p, Strategy("uniform"), lr=0.01, steps=3, **kw)
    args = (tr, 1.0, 1.0) if needs_L else (tr, 1.0)
    with pytest.raises(ValueError, match="interpolation point"):
        check(*args)


def test_heavy_ball_checks_need_a_heavy_ball_run(runs):
    for check in (
        theorems.heavy_ball_one_step,
        theorems.heavy_ball_weighted_sum,
        theorems.heavy_ball_carry_over,
    ):
        with pytest.raises(ValueError, match="heavy-ball run"):
            check(runs["gd"], 1.0) if check is not theorems.heavy_ball_carry_over else check(
                runs["gd"]
            )


def test_full_batch_checks_reject_minibatch_runs(runs, problem):
    sgd = runs["sgd"]
    for check in (
        theorems.gd_one_step_sharp,
        theorems.gd_pathwise_sharp,
        theorems.gd_rate_sharp,
        theorems.gd_pathwise,
    ):
        with pytest.raises(ValueError, match="minibatch run"):
            check(sgd, 1.0)
    L = problem.smoothness()
    hb = engine.run(
        problem,
        Strategy("uniform"),
        method="heavy_ball",
        batch_size=4,
        lr=0.01,
        steps=3,
        lambdas=np.zeros(4),
    )
    for check in (
        theorems.heavy_ball_weighted_sum,
        theorems.heavy_ball_min_coefficients,
        theorems.heavy_ball_coefficients,
        theorems.heavy_ball_average_rate_sharp,
    ):
        with pytest.raises(ValueError, match="full-batch run"):
            check(hb, 1.0)
    with pytest.raises(ValueError, match="full-batch run"):
        theorems.heavy_ball_rate(hb, 1.0, L)
    with pytest.raises(ValueError, match="full-batch run"):
        theorems.heavy_ball_carry_over(hb)


def _replicas(problem, k, lr):
    p = problem.take([0] * k)
    p = type(p)(A=p.A, b=p.b, x_star=p.x_star, params=dict(p.params, seeds=list(range(k))))
    return p, lr


@pytest.mark.parametrize("which", ["sgd", "hb"])
def test_monte_carlo_rates_validate_their_runs(problem, which):
    """Two runs of one problem, step and start are enough; a different step, start or a
    single run is rejected with the same message."""
    L = float(problem.smoothness()[0])

    def run(p, lr):
        kw = (
            dict(method="sgd", batch_size=4)
            if which == "sgd"
            else dict(method="heavy_ball", batch_size=4, lambdas=np.zeros(6))
        )
        return engine.run(p, Strategy("uniform"), lr=lr, steps=5, **kw)

    def check(tr, p):
        L_hat = theorems.effective_smoothness(p, tr, "C")
        if which == "sgd":
            return theorems.sgd_rate_in_expectation(tr, L_hat)
        return theorems.heavy_ball_rate_in_expectation(tr, L_hat, p.smoothness())

    p2, _ = _replicas(problem, 2, 0)
    est = check(run(p2, 0.05 / L), p2)
    assert est.observed.shape == (5,) and np.all(est.stderr >= 0)
    p3, _ = _replicas(problem, 3, 0)
    msg = r"^trajectory must hold >= 2 runs of one problem, step size and start$"
    with pytest.raises(ValueError, match=msg):  # the step of run 0 differs
        check(run(p3, np.array([0.04, 0.05, 0.05]) / L), p3)
    with pytest.raises(ValueError, match=msg):  # the step of run 2 differs
        check(run(p3, np.array([0.05, 0.05, 0.04]) / L), p3)
    other = problem.take([0, 1, 1])
    with pytest.raises(ValueError, match=msg):  # run 0's start is elsewhere
        check(run(other, 0.05 / L), other)
    A = p3.A.copy()
    near = type(p3)(
        A=A,
        b=p3.b.copy(),
        x_star=p3.x_star * np.array([[1.0], [1.0], [1 + 1e-9]]),
        params=p3.params,
    )
    with pytest.raises(ValueError, match=msg):  # ||x_0 - x*||^2 differs by ~2e-9
        check(run(near, 0.05 / L), near)
    p1 = problem.take([0])
    with pytest.raises(ValueError, match=msg):
        check(run(p1, 0.05 / L), p1)


# ------------------------------------------------------------------ formulas by hand
def test_pathwise_sums_by_hand(runs, problem):
    """observed = cumsum(2 eta kappa_t S_t), bound = d_0 - d_k, scale and applicability, for
    both forms of GD and SGD and for heavy ball."""
    for kind, paper, sharp in (
        ("gd", theorems.gd_pathwise, theorems.gd_pathwise_sharp),
        ("sgd", theorems.sgd_pathwise, theorems.sgd_pathwise_sharp),
    ):
        tr = runs[kind]
        L_hat = theorems.effective_smoothness(problem, tr, "J") * 3.0  # eta L_hat > 1 somewhere
        eta = tr.lr[:, None]
        d = tr.dist2
        for check, kappa in ((paper, 1 - eta * L_hat), (sharp, np.minimum(1.0, 2 - eta * L_hat))):
            b = check(tr, L_hat)
            terms = 2 * eta * kappa * tr.weighted_gap
            np.testing.assert_allclose(b.observed, np.cumsum(terms, axis=1), rtol=1e-13)
            np.testing.assert_allclose(b.bound, d[:, :1] - d[:, 1:], rtol=1e-13)
            np.testing.assert_allclose(
                b.scale, np.maximum(d[:, :1], np.cumsum(np.abs(terms), axis=1))
            )
            assert b.applicable.dtype == bool and b.applicable.all()
            assert np.all(b.floor > 0) and np.all(np.diff(b.floor, axis=1) > 0)
    tr = runs["hb"]
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    b = theorems.heavy_ball_pathwise(tr, L_hat)
    eta, lam = tr.lr[:, None], tr.lambdas[None, :-1]
    gain = 2 * eta * (1 + lam - eta * L_hat) * tr.weighted_gap
    carry = 2 * eta * lam * tr.prev_weighted_gap
    np.testing.assert_allclose(b.observed, np.cumsum(gain - carry, axis=1), rtol=1e-13)
    np.testing.assert_allclose(b.bound, tr.z_dist2[:, :1] - tr.z_dist2[:, 1:], rtol=1e-13)
    np.testing.assert_allclose(
        b.scale, np.maximum(tr.z_dist2[:, :1], np.cumsum(np.abs(gain) + np.abs(carry), axis=1))
    )
    assert b.applicable.dtype == bool and b.applicable.all()


def test_rates_by_hand(runs, problem):
    k = np.arange(1, 7)
    tr = runs["gd"]
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    b = theorems.gd_rate_sharp(tr, L_hat)
    np.testing.assert_allclose(b.observed, np.cumsum(tr.gap[:, :-1], axis=1) / k, rtol=1e-13)
    sgd = runs["sgd"]
    L_hat = theorems.effective_smoothness(problem, sgd, "C")
    for check, two in ((theorems.sgd_rate, 1.0), (theorems.sgd_rate_sharp, 2.0)):
        b = check(sgd, L_hat)
        gamma = np.minimum.accumulate(sgd.gamma, axis=1)
        np.testing.assert_allclose(b.observed, np.cumsum(sgd.batch_gap, axis=1) / k, rtol=1e-13)
        np.testing.assert_allclose(
            b.bound, sgd.dist2[:, :1] / (two * sgd.lr[:, None] * gamma * k), rtol=1e-13
        )
    hb = runs["hb"]
    L_hat = theorems.effective_smoothness(problem, hb, "C")
    for form, check in (
        ("paper", theorems.heavy_ball_average_rate),
        ("sharp", theorems.heavy_ball_average_rate_sharp),
    ):
        b = check(hb, L_hat)
        m = theorems.heavy_ball_min_coefficients(hb, L_hat, form)
        c = theorems.heavy_ball_coefficients(hb, L_hat, form)
        # m_k = min(c_0..c_{k-2}, gain_{k-1}) and the last horizon's m is min of all c_t
        np.testing.assert_allclose(m[:, -1], c.min(axis=1), rtol=1e-13)
        assert np.all(m > 0) and b.applicable.all()
        np.testing.assert_allclose(
            b.bound, hb.dist2[:, :1] / (2 * hb.lr[:, None] * m * k), rtol=1e-13
        )
        np.testing.assert_allclose(b.scale, b.bound)
        np.testing.assert_allclose(b.observed, np.cumsum(hb.gap[:, :-1], axis=1) / k, rtol=1e-13)


def test_carry_over_lemma_by_hand(runs):
    tr = runs["hb"]
    for carry, factor in (
        ("next", tr.rho[:, 1:]),
        ("current", tr.rho[:, :-1]),
        ("gamma", tr.gamma[:, :-1]),
    ):
        b = theorems.heavy_ball_carry_over(tr, carry=carry)
        assert b.observed.shape == (tr.runs, tr.steps - 1)
        np.testing.assert_array_equal(b.observed, tr.prev_weighted_gap[:, 1:])
        np.testing.assert_allclose(b.bound, factor * tr.gap[:, :-2], rtol=1e-15)
        np.testing.assert_allclose(b.scale, np.maximum(np.abs(b.observed), np.abs(b.bound)))
        assert b.applicable.all()


def test_monte_carlo_estimate_by_hand(problem):
    """mean over the runs, stderr = std(ddof=1)/sqrt(K), applicable per horizon."""
    L = float(problem.smoothness()[0])
    p, _ = _replicas(problem, 4, 0)
    tr = engine.run(p, Strategy("uniform"), method="sgd", batch_size=4, lr=0.05 / L, steps=5)
    est = theorems.sgd_rate_in_expectation(tr, theorems.effective_smoothness(p, tr, "C"))
    k = np.arange(1, 6)
    avg = np.cumsum(tr.gap[:, :-1], axis=1) / k
    np.testing.assert_allclose(est.observed, avg.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(est.stderr, avg.std(axis=0, ddof=1) / 2.0, rtol=1e-12)
    assert est.applicable.shape == (5,) and est.applicable.all()
    gamma = np.min(np.minimum.accumulate(tr.gamma, axis=1), axis=0)
    np.testing.assert_allclose(est.bound, tr.dist2[0, 0] / (tr.lr[0] * gamma * k), rtol=1e-13)
    lam = np.r_[0.0, np.full(5, 0.5)]
    hb = engine.run(
        p, Strategy("uniform"), method="heavy_ball", batch_size=4, lr=0.05 / L, steps=5, lambdas=lam
    )
    est = theorems.heavy_ball_rate_in_expectation(
        hb, theorems.effective_smoothness(p, hb, "C"), p.smoothness()
    )
    a = hb.gap[:, 1:]
    np.testing.assert_allclose(est.observed, a.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(est.stderr, a.std(axis=0, ddof=1) / 2.0, rtol=1e-12)
    assert est.applicable.shape == (5,)


def test_schedule_constants_are_validated():
    for fn in (theorems.heavy_ball_lambdas, theorems.heavy_ball_constant_lambdas):
        assert fn(1, 1.0, 1.0, 0.5).shape == (2,)  # one step is allowed
        for steps in (0, True, 2.0):
            with pytest.raises(ValueError, match=r"^steps must be an integer >= 1"):
                fn(steps, 1.0, 1.0, 0.5)
        for rho in (0.5, np.inf):
            with pytest.raises(ValueError, match=r"^rho must be a finite number >= 1"):
                fn(3, 1.0, rho, 0.5)
        for gamma in (0.0, 2.5):
            with pytest.raises(ValueError, match=r"^gamma must be in \(0, rho\]"):
                fn(3, gamma, 2.0, 0.5)
        for kappa in (0.0, 1.5):
            with pytest.raises(ValueError, match=r"^kappa must be in \(0, 1\]"):
                fn(3, 1.0, 2.0, kappa)
        assert fn(2, 2.0, 2.0, 1.0).shape == (3,)  # gamma = rho, kappa = 1 allowed


# ------------------------------------------------------------------ edges (crafted values)
def test_bound_edges():
    """measurable / relative_violation at their thresholds; step_within at the limit."""
    b = theorems.Bound(
        observed=np.array([1.0, 0.0, 1.0, 1.0, 1.0]),
        bound=np.array([1e-12, 1.0, 2.0, 100.0, 2.0]),
        scale=np.array([1.0, 1.0, 0.0, 1.0, 0.5]),
        applicable=np.ones(5, bool),
        floor=np.array([0, 0, 0, 1.0, 0]),
    )
    # bound == 1e-12 scale: not measurable; observed == 0: not; bound == 100 floor: not
    np.testing.assert_array_equal(b.measurable(), [False, False, True, False, True])
    # scale 0 divides by 1, scale 0.5 by 0.5
    np.testing.assert_allclose(b.relative_violation(), [1 - 1e-12, -1.0, -1.0, -100.0, -2.0])
    assert theorems.step_within(0.5, 0.5) and theorems.step_within(np.array([0.5]), 0.5).all()


def test_rounding_floor_formula_with_a_nonzero_start(problem):
    """floor_t = 2 r eps + eps^2, eps = 2u (||x_0|| + ||x_0 - x*|| + r), r = ||x_{t+1} - x*||."""
    L = problem.smoothness()
    x0 = np.stack([np.full(problem.d, 3.0), np.full(problem.d, -1.0)])
    tr = engine.run(problem, Strategy("uniform"), lr=0.2 / L, steps=4, x0=x0)
    b = theorems.gd_one_step(tr, theorems.effective_smoothness(problem, tr, "C"))
    u = 2.0**-53
    r = np.sqrt(tr.dist2[:, 1:])
    eps = 2 * u * (np.linalg.norm(x0, axis=1)[:, None] + np.sqrt(tr.dist2[:, :1]) + r)
    np.testing.assert_allclose(b.floor, 2 * r * eps + eps * eps, rtol=1e-12)


def test_rate_applicability_by_hand(runs, problem):
    """applicable_k: max_{t<k} eta L_hat_t <= 1/2 (per run, over time) and Gamma_k > 0."""
    import dataclasses

    tr = runs["gd"]
    eta = tr.lr[:, None]
    L_hat = np.full(tr.rho.shape, 0.1) / eta
    L_hat[0, 3] = 0.6 / eta[0, 0]  # run 0 breaks the step limit at t = 3
    b = theorems.gd_rate(tr, L_hat)
    np.testing.assert_array_equal(b.applicable[0], [True] * 3 + [False] * 3)
    assert b.applicable[1].all()
    zero = dataclasses.replace(tr, gamma=np.where(np.arange(6) >= 2, 0.0, tr.gamma))
    for rate in (theorems.gd_rate, theorems.gd_rate_sharp):
        with np.errstate(divide="raise", invalid="raise"):
            z = rate(zero, np.full(tr.rho.shape, 0.1) / eta)
        np.testing.assert_array_equal(
            z.applicable, np.array([[True, True, False, False, False, False]] * 2)
        )
        assert np.all(z.scale[:, 2:] == 0) if rate is theorems.gd_rate_sharp else True
    # the sharp form's mu: eta L_hat = 1.5 at t = 1 gives mu = 1/2 from horizon 2 on
    L_hat = np.full(tr.rho.shape, 0.1) / eta
    L_hat[:, 1] = 1.5 / eta[:, 0]
    s = theorems.gd_rate_sharp(tr, L_hat)
    k = np.arange(1, 7)
    gamma = np.minimum.accumulate(tr.gamma, axis=1)
    mu = np.where(k >= 2, 0.5, 1.0)
    np.testing.assert_allclose(s.bound, tr.dist2[:, :1] / (2 * eta * mu * gamma * k), rtol=1e-13)


def test_dtypes_of_applicable(runs, problem):
    for kind, checks in (
        ("gd", (theorems.gd_one_step, theorems.gd_one_step_sharp)),
        ("sgd", (theorems.sgd_one_step, theorems.sgd_one_step_sharp)),
        (
            "hb",
            (
                theorems.heavy_ball_one_step,
                theorems.heavy_ball_one_step_sharp,
                theorems.heavy_ball_weighted_sum,
            ),
        ),
    ):
        tr = runs[kind]
        L_hat = theorems.effective_smoothness(problem, tr, "C")
        for check in checks:
            b = check(tr, L_hat)
            assert b.applicable.dtype == bool and b.applicable.all(), check.__name__
            assert np.all(np.asarray(b.floor) > 0), check.__name__


def test_heavy_ball_one_step_by_hand(runs, problem):
    tr = runs["hb"]
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    b = theorems.heavy_ball_one_step(tr, L_hat)
    eta, lam = tr.lr[:, None], tr.lambdas[None, :-1]
    gain = 2 * eta * (1 + lam - eta * L_hat) * tr.weighted_gap
    carry = 2 * eta * lam * tr.prev_weighted_gap
    z = tr.z_dist2
    np.testing.assert_allclose(b.observed, gain - carry, rtol=1e-13)
    np.testing.assert_allclose(b.bound, z[:, :-1] - z[:, 1:], rtol=1e-13)
    np.testing.assert_allclose(
        b.scale, np.maximum.reduce([z[:, :-1], z[:, 1:], np.abs(gain), np.abs(carry)])
    )


def test_heavy_ball_rate_without_momentum_is_the_smoothness_bound(problem):
    """lambda = 0: f(x_k) - f* <= D^2 max(0, L/2) = L D^2 / 2 at every horizon."""
    L = problem.smoothness()
    tr = engine.run(
        problem, Strategy("uniform"), method="heavy_ball", lr=0.3 / L, steps=5, lambdas=np.zeros(6)
    )
    b = theorems.heavy_ball_rate(tr, theorems.effective_smoothness(problem, tr, "C"), L)
    np.testing.assert_allclose(b.bound, L[:, None] * tr.dist2[:, :1] / 2 * np.ones(5), rtol=1e-13)
    assert b.applicable.all() and not b.violated().any()


def test_error_messages_in_full(runs, problem):
    """The messages are the documented ones, word for word (anchored)."""
    with pytest.raises(
        ValueError,
        match=r"^trajectory is a minibatch run; use the "
        r"rwtheory\.theory\.theorems\.sgd checks$",
    ):
        theorems.gd_one_step(runs["sgd"], 1.0)
    hb = engine.run(
        problem,
        Strategy("uniform"),
        method="heavy_ball",
        batch_size=4,
        lr=0.01,
        steps=3,
        lambdas=np.zeros(4),
    )
    with pytest.raises(
        ValueError,
        match=r"^this pathwise form needs a full-batch run "
        r"\(S'_t <= rho_t a_\{t-1\} holds for minibatches "
        r"only in expectation\); use "
        r"heavy_ball_rate_in_expectation$",
    ):
        theorems.heavy_ball_weighted_sum(hb, 1.0)
    p = regression_with_outliers(1, n=12, d=3, n_test=4)
    tr = engine.run(p, Strategy("uniform"), lr=0.01, steps=3)
    with pytest.raises(
        ValueError,
        match=r"^trajectory lacks weighted_gap, dist2: the theorem "
        r"checks need a problem with an interpolation point "
        r"x\* \(consistent least squares\)$",
    ):
        theorems.gd_one_step(tr, 1.0)
    with pytest.raises(
        ValueError,
        match=r"^trajectory lacks prev_weighted_gap, z_dist2, "
        r"lambdas: the theorem checks need a heavy-ball run$",
    ):
        theorems.heavy_ball_one_step(runs["gd"], 1.0)
    with pytest.raises(ValueError, match=r"got shape \(5,\)$"):
        theorems.gd_one_step(runs["gd"], np.ones(5))
    with pytest.raises(
        ValueError,
        match=r"^problem must have one row per run \(2\), got 1 "
        r"rows$",
    ):
        theorems.batch_smoothness_per_step(problem.take([0]), runs["gd"])


def test_more_edges(runs, problem):
    b = theorems.Bound(
        np.array([1.0]), np.array([100.5]), np.array([1.0]), np.array([True]), floor=np.array([1.0])
    )
    assert b.measurable().all()  # bound > 100 floor
    assert not b.violated(0.0).any()  # rtol = 0 is allowed
    edge = 0.5 * (1 + theorems.STEP_ULPS * 2.0**-52)
    assert theorems.step_within(edge, 0.5) and not theorems.step_within(np.nextafter(edge, 1), 0.5)
    # without recorded iterates the floor takes x_0 = 0 (the default start)
    L = problem.smoothness()
    tr = engine.run(problem, Strategy("uniform"), lr=0.2 / L, steps=4, keep_iterates=False)
    f = theorems.gd_one_step(tr, theorems.effective_smoothness(problem, tr, "C")).floor
    u, r = 2.0**-53, np.sqrt(tr.dist2[:, 1:])
    eps = 2 * u * (np.sqrt(tr.dist2[:, :1]) + r)
    np.testing.assert_allclose(f, 2 * r * eps + eps * eps, rtol=1e-12)


def test_monte_carlo_bound_and_applicability_by_hand(problem):
    """Gamma over all runs and horizons (weights with Gamma_t > 1), per-horizon
    applicability."""
    L = float(problem.smoothness()[0])
    p, _ = _replicas(problem, 3, 0)
    tr = engine.run(p, Strategy("linupper", 0.5), method="sgd", batch_size=4, lr=0.05 / L, steps=6)
    L_hat = theorems.effective_smoothness(p, tr, "C")
    est = theorems.sgd_rate_in_expectation(tr, L_hat)
    k = np.arange(1, 7)
    gamma = np.min(np.minimum.accumulate(tr.gamma, axis=1), axis=0)
    assert gamma[-1] > 1.0
    np.testing.assert_allclose(est.bound, tr.dist2[0, 0] / (tr.lr[0] * gamma * k), rtol=1e-13)
    big = L_hat.copy()
    big[1, 3:] = 0.9 / tr.lr[1]  # run 1 leaves the step limit at t = 3
    est = theorems.sgd_rate_in_expectation(tr, big)
    np.testing.assert_array_equal(est.applicable, [True] * 3 + [False] * 3)


def test_monte_carlo_rates_name_a_bad_l_hat(problem):
    """The in-expectation rates validate L_hat with its name, like every other check."""
    p, _ = _replicas(problem, 2, 0.0)
    L = float(problem.smoothness()[0])
    sgd = engine.run(p, Strategy("uniform"), method="sgd", batch_size=4, lr=0.1 / L, steps=4)
    hb = engine.run(
        p,
        Strategy("uniform"),
        method="heavy_ball",
        batch_size=4,
        lr=0.1 / L,
        steps=4,
        lambdas=np.zeros(5),
    )
    with pytest.raises(ValueError, match=r"^L_hat must be a number, one value per run \(2,\)"):
        theorems.sgd_rate_in_expectation(sgd, np.ones(3))
    with pytest.raises(ValueError, match=r"^L_hat must be a number, one value per run \(2,\)"):
        theorems.heavy_ball_rate_in_expectation(hb, np.ones(3), p.smoothness())


def test_missing_records_of_both_kinds_are_named_together():
    """A GD run without x* asked for a heavy-ball check lacks both kinds of records: the
    message names both needs, joined by "and"; an object without the attributes at all is
    refused the same way (a ValueError, not an AttributeError)."""
    p = regression_with_outliers(1, n=12, d=3, n_test=4)
    tr = engine.run(p, Strategy("uniform"), lr=0.01, steps=3)
    with pytest.raises(
        ValueError,
        match=r"need a problem with an interpolation point x\* "
        r"\(consistent least squares\) and a heavy-ball run$",
    ):
        theorems.heavy_ball_one_step(tr, 1.0)
    with pytest.raises(
        ValueError,
        match=r"^trajectory lacks gap: the theorem checks need a "
        r"problem with an interpolation point",
    ):
        theorems.descent.require(object(), "gap")


def test_a_schedule_infeasible_at_one_step_ends_the_applicable_horizons(problem):
    """heavy_ball_rate's schedule condition lambda_{t+1} rho_{t+1} <= gain_t must hold at
    every t <= k - 2 for horizon k: one spike of lambda makes every later horizon
    inapplicable, even where the condition holds again after it (mutation testing: an
    accumulation over the runs instead of the steps survived)."""
    L = problem.smoothness()
    lam = np.r_[0.0, 0.2, 0.2, 50.0, 0.2, 0.2, 0.2, 0.2]
    tr = engine.run(
        problem, Strategy("uniform"), method="heavy_ball", lr=0.3 / L, steps=7, lambdas=lam
    )
    b = theorems.heavy_ball_rate(tr, theorems.effective_smoothness(problem, tr, "C"), L)
    for row in b.applicable:
        first_off = int(np.argmin(row))
        assert not row.all() and row[0] and not row[first_off:].any(), row


def test_the_exact_schedule_stays_applicable_over_long_horizons(problem):
    """Uniform weights, eta = 1/(2L) and lambda_t = t/2 meet the schedule condition with
    slack 0 up to rounding at every step; the feasibility tolerance is relative to the
    coefficients (which grow like t), so all 300 horizons stay applicable (mutation testing:
    a tolerance divided by the coefficients instead lost every horizon after ~97)."""
    L = problem.smoothness()
    T = 300
    tr = engine.run(
        problem,
        Strategy("uniform"),
        method="heavy_ball",
        lr=0.5 / L,
        steps=T,
        lambdas=np.arange(T + 1) * 0.5,
    )
    b = theorems.heavy_ball_rate(tr, theorems.effective_smoothness(problem, tr, "C"), L)
    assert b.applicable.all() and not b.violated().any()


def test_a_run_that_diverges_later_keeps_the_early_horizons():
    """One row 1e4 times longer than the others: SGD (batch 1) at a step safe for every
    other row meets the step-size hypothesis until that row is drawn, then diverges. The
    rate in expectation stays applicable up to the first such draw in any run (mutation
    testing: a finiteness test over all horizons at once survived). Those horizons violate
    the bound: the theorem needs the hypothesis for every batch that can be drawn, and paths
    selected for not drawing the long row are biased (the documented limit of judging
    applicability on realised paths; the ledger's runs take eta from an a-priori bound)."""
    base = consistent_least_squares(1, n=12, d=4, condition=2.0, row_spread=1.0)
    A = base.A.copy()
    A[0, 0] *= 1e4
    k = 3
    Ak, xk = np.repeat(A, k, 0), np.repeat(base.x_star, k, 0)
    p = type(base)(
        A=Ak,
        b=np.einsum("knd,kd->kn", Ak, xk),
        x_star=xk,
        params=dict(base.params, seeds=[5, 6, 7]),
    )
    eta = 0.2 / (A[0, 1:] ** 2).sum(axis=1).max()
    tr = engine.run(p, Strategy("uniform"), method="sgd", batch_size=1, lr=eta, steps=30)
    mc = theorems.sgd_rate_in_expectation(tr, theorems.effective_smoothness(p, tr, "C"))
    first = min(int(np.argmax(row == 0)) for row in tr.batches[:, :, 0])  # first draw of row 0
    assert first >= 2 and not np.isfinite(tr.gap).all()
    np.testing.assert_array_equal(mc.applicable, np.arange(30) < first)
    assert mc.violated()[:first].all()


def _heavy_ball_expectation_by_hand(tr, L_hat, L):
    """THEORY's in-expectation heavy-ball rate written out from the docstring of
    heavy_ball_rate_in_expectation: constants over every run and step, the schedule
    condition lambda_{t+1} rho <= (kappa + lambda_t) Gamma for t <= k - 2 (relative 1e-12),
    c = (kappa + lambda_{k-1}) Gamma > 0, and the bound
    D^2/(1 + lambda_k) max(lambda_k/(2 eta c), L/2)."""
    eta, lam, T = float(tr.lr[0]), tr.lambdas, tr.steps
    gamma, rho = tr.gamma.min(), tr.rho.max()
    kappa = (1 - eta * np.broadcast_to(L_hat, tr.rho.shape)).min()
    D2, Lmax = tr.dist2[0, 0], float(np.max(L))
    bound, applicable = np.empty(T), np.empty(T, bool)
    for k in range(1, T + 1):
        ok = all(
            lam[t + 1] * rho - (kappa + lam[t]) * gamma
            <= 1e-12 * (abs((kappa + lam[t]) * gamma) + lam[t + 1] * rho)
            for t in range(k - 1)
        )
        c = (kappa + lam[k - 1]) * gamma
        bound[k - 1] = D2 / (1 + lam[k]) * max(lam[k] / (2 * eta * c), Lmax / 2)
        applicable[k - 1] = ok and c > 0 and np.isfinite(tr.gap[:, k]).all()
    return bound, applicable


def test_heavy_ball_rate_in_expectation_by_hand(problem):
    """Non-uniform weights (Gamma, rho != 1), a schedule that breaks its condition once
    (lambda = 3 at t = 4): bound, applicability and estimate equal the formula written out
    (mutation testing: kappa, gain, c, the feasibility test and the applicability mask of
    this check had survivors -- no fast test compared its numbers)."""
    L = problem.smoothness()
    p, _ = _replicas(problem, 3, 0)
    lam = np.r_[0.0, 0.1, 0.2, 0.3, 3.0, 0.4, 0.5, 0.6, 0.7]
    tr = engine.run(
        p,
        Strategy("linupper", 0.5),
        method="heavy_ball",
        batch_size=4,
        lr=0.1 / L[0],
        steps=8,
        lambdas=lam,
    )
    L_hat = theorems.effective_smoothness(p, tr, "C")
    est = theorems.heavy_ball_rate_in_expectation(tr, L_hat, np.full(3, L[0]))
    bound, applicable = _heavy_ball_expectation_by_hand(tr, L_hat, L[0])
    assert tr.gamma.min() > 1.2 and tr.rho.max() > 1.2
    assert applicable.any() and not applicable.all()
    np.testing.assert_allclose(est.bound, bound, rtol=1e-13)
    np.testing.assert_array_equal(est.applicable, applicable)
    np.testing.assert_allclose(est.observed, tr.gap[:, 1:].mean(axis=0), rtol=1e-13)
    with pytest.raises(ValueError, match=r"^L must be a number, one value per run \(3,\)"):
        theorems.heavy_ball_rate_in_expectation(tr, L_hat, np.ones(2))


def test_the_exact_schedule_stays_applicable_in_expectation(problem):
    """The in-expectation check's schedule condition is tested with a tolerance relative to
    the coefficients: with uniform weights (Gamma = rho = 1), kappa = 1/2 (L_hat = 1/(2 eta))
    and lambda_t = t/2 the condition holds with slack 0 up to rounding, and all 300 horizons
    stay applicable (mutation testing: a tolerance divided by the coefficients, or built
    from their difference, survived)."""
    L = float(problem.smoothness()[0])
    p, _ = _replicas(problem, 2, 0)
    eta, T = 0.1 / L, 300
    tr = engine.run(
        p,
        Strategy("uniform"),
        method="heavy_ball",
        batch_size=4,
        lr=eta,
        steps=T,
        lambdas=np.arange(T + 1) * 0.5,
    )
    est = theorems.heavy_ball_rate_in_expectation(tr, 1 / (2 * eta), np.full(2, L))
    assert est.applicable.all()


def test_tolerance_yardsticks_of_the_sharp_rate_and_the_heavy_ball_path(runs, problem):
    """The tolerances are part of the result: the sharp rate's scale is |bound| where the
    horizon is applicable (0 elsewhere), and heavy ball's pathwise floor is the cumulative
    rounding floor of ||z_k - x*||^2 (mutation testing: a zero scale -- an absolute 1e-9
    tolerance -- and a dropped floor survived, as no fast test sits within them)."""
    from rwtheory.theory.theorems.bound import rounding_floor

    gd = runs["gd"]
    b = theorems.gd_rate_sharp(gd, theorems.effective_smoothness(problem, gd, "C"))
    assert b.applicable.any()
    np.testing.assert_array_equal(b.scale, np.where(b.applicable, np.abs(b.bound), 0.0))
    hb = runs["hb"]
    p = theorems.heavy_ball_pathwise(hb, theorems.effective_smoothness(problem, hb, "C"))
    floor = np.cumsum(rounding_floor(hb, hb.z_dist2[:, 1:]), axis=1)
    assert np.all(floor > 0)
    np.testing.assert_array_equal(p.floor, floor)
