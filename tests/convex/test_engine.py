"""The vectorised optimisers: equal to one-at-a-time runs, the two heavy-ball forms agree,
divergence is detected instead of crashing, and the same seed gives the same numbers."""

import warnings
from dataclasses import dataclass

import numpy as np
import pytest

from rwtheory.convex import engine
from rwtheory.convex.layout import group_key
from rwtheory.convex.problems import consistent_least_squares, regression_with_outliers
from rwtheory.convex.reference import run_reference
from rwtheory.convex.schemes import DROKL, KLCapped, Scheme, Strategy

SCHEMES = [
    Strategy("uniform"),
    Strategy("linupper", 1.0),
    Strategy("quadratic", 0.5),
    KLCapped(0.5),
    DROKL(2.0),
]


@pytest.mark.parametrize(
    "method,batch", [("gd", None), ("sgd", 16), ("heavy_ball", None), ("heavy_ball", 16)]
)
def test_batched_runs_equal_one_at_a_time(method, batch):
    p = regression_with_outliers(3, n=60, d=5, n_test=50)
    rows = np.tile(np.arange(3), len(SCHEMES))
    schemes = [s for s in SCHEMES for _ in range(3)]
    kw = dict(
        method=method,
        lr=0.05,
        steps=40,
        batch_size=batch,
        lambdas=(lambda t: t / 2) if method == "heavy_ball" else None,
    )
    tr = engine.run(p, schemes, rows=rows, **kw)
    for i in range(len(rows)):
        one = engine.run(p.take([rows[i]]), schemes[i], **kw)
        np.testing.assert_allclose(one.iterates[0], tr.iterates[i], rtol=0, atol=1e-10)
        np.testing.assert_allclose(one.test_loss[0], tr.test_loss[i], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(one.rho[0], tr.rho[i], rtol=1e-10)
        assert tr.labels[i] == schemes[i].label and tr.seeds[i] == rows[i]
    assert tr.params["rows"] == rows.tolist()  # which problem row each run used


def test_heavy_ball_moving_average_form_equals_the_two_step_form():
    """x_{t+1} = x_t - eta/(1+lam_{t+1}) g_t + lam_t/(1+lam_{t+1}) (x_t - x_{t-1})."""
    p = consistent_least_squares(2, n=30, d=8, row_spread=5.0)
    eta = 0.3 / p.max_smoothness()
    lam = np.array([0.0] + [0.5 * t + 0.25 * np.sin(t) ** 2 for t in range(1, 61)])
    scheme = Strategy("linupper", 0.7)
    tr = engine.run(
        p, scheme, method="heavy_ball", lr=eta, steps=60, lambdas=lam, keep_weights=True
    )
    x_prev = x = np.zeros((2, 8))
    for t in range(60):
        res = p.residuals(x)
        w = scheme(0.5 * res**2, t)
        g = np.einsum("rn,rnd->rd", w * res, p.A)
        x, x_prev = (
            (x - (eta / (1 + lam[t + 1]))[:, None] * g + lam[t] / (1 + lam[t + 1]) * (x - x_prev)),
            x,
        )
        np.testing.assert_allclose(tr.iterates[:, t + 1], x, rtol=1e-10, atol=1e-12)


def test_gd_with_uniform_weights_is_plain_gradient_descent():
    p = consistent_least_squares(1, n=20, d=5)
    eta = 1 / p.smoothness()[0]
    tr = engine.run(p, Strategy("uniform"), lr=eta, steps=25)
    x = np.zeros(5)
    A, b = p.A[0], p.b[0]
    for _ in range(25):
        x = x - eta * A.T @ (A @ x - b) / 20
    np.testing.assert_allclose(tr.iterates[0, -1], x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tr.gamma, 1.0)  # uniform weights: Gamma_t = 1
    np.testing.assert_allclose(tr.rho, 1.0)
    assert np.all(np.diff(tr.dist2[0]) <= 1e-12)  # eta <= 1/L: distance never grows


def test_divergence_is_detected_and_recorded_without_warnings():
    p = consistent_least_squares(1, n=40, d=10, row_spread=10.0)
    eta = 1.0 / p.smoothness()[0]  # safe for uniform weights, not for weight on one sample
    assert eta * p.max_smoothness()[0] > 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = engine.run(p, [DROKL(0.05), Strategy("uniform")], rows=[0, 0], lr=eta, steps=200)
    assert tr.diverged_at[0] > 0 and tr.diverged_at[1] == -1
    k = tr.diverged_at[0]
    assert np.all(np.isfinite(tr.train_loss[0, :k]))
    assert np.all(np.isnan(tr.train_loss[0, k:]))
    assert np.all(np.isnan(tr.rho[0, k:]))
    assert tr.train_loss[0, k - 1] > tr.train_loss[0, 0]  # it was growing, not a fluke
    assert np.all(np.isfinite(tr.train_loss[1]))


def test_same_seed_same_numbers_and_batches_depend_only_on_the_seed():
    p = regression_with_outliers([4, 7], n=80, d=6, n_test=20)
    kw = dict(method="sgd", lr=0.05, steps=30, batch_size=10)
    a = engine.run(p, Strategy("linupper", 1.0), **kw)
    b = engine.run(p, Strategy("linupper", 1.0), **kw)
    np.testing.assert_array_equal(a.iterates, b.iterates)
    c = engine.run(p, Strategy("quadratic", 1.0), **kw)
    np.testing.assert_array_equal(a.batches, c.batches)  # paired across schemes
    assert not np.array_equal(a.batches[0], a.batches[1])  # but not across seeds
    for batch in a.batches[0]:
        assert len(np.unique(batch)) == 10  # without replacement


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(method="adam"), r"method must be one of"),
        (dict(lr=0.0), r"lr must be a finite number > 0, got 0.0"),
        (dict(lr=-1.0), r"lr must be a finite number > 0, got -1.0"),
        (dict(steps=0), r"steps must be an integer >= 1, got 0"),
        (dict(method="sgd"), r"batch_size is required"),
        (dict(method="sgd", batch_size=0), r"batch_size must be an integer in 1..50, got 0"),
        (dict(method="sgd", batch_size=51), r"batch_size must be an integer in 1..50, got 51"),
        (dict(method="heavy_ball"), r"lambdas is required"),
    ],
)
def test_bad_optimiser_arguments(kwargs, match):
    p = consistent_least_squares(1, n=50, d=4)
    args = dict(lr=0.1, steps=5) | kwargs
    with pytest.raises(ValueError, match=match):
        engine.run(p, Strategy("uniform"), **args)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(outlier_fraction=1.0), r"outlier_fraction must be a finite number in \[0, 1\)"),
        (dict(outlier_fraction=-0.1), r"outlier_fraction must be a finite number in \[0, 1\)"),
        (dict(n=0), r"n must be an integer >= 1"),
        (dict(d=-3), r"d must be an integer >= 1"),
    ],
)
def test_bad_problem_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        regression_with_outliers(1, **kwargs)


def test_problem_constants_and_interpolation():
    p = consistent_least_squares(3, n=12, d=30, row_spread=20.0)  # over-parameterised
    np.testing.assert_allclose(p.losses(p.x_star), 0.0)
    L, Lmax = p.smoothness(), p.max_smoothness()
    assert np.all(L <= Lmax + 1e-12) and np.all(Lmax <= 400 + 1e-9)
    batch = np.tile(np.arange(4), (3, 1))
    assert np.all(p.batch_smoothness(batch) <= Lmax + 1e-12)
    q = regression_with_outliers(2, n=200, d=10, outlier_fraction=0.25)
    assert q.outliers.sum(axis=1).tolist() == [50, 50]
    np.testing.assert_allclose(q.loss_quadratic(q.x_true), q.loss(q.x_true), rtol=1e-12)
    r = np.matmul(q.A_test, q.x_true[..., None])[..., 0] - q.b_test
    np.testing.assert_allclose(q.test_mse(q.x_true), (r**2).mean(-1), rtol=1e-12)


@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
@pytest.mark.parametrize("r", [1e-4, 0.01, 0.4, 1.0, 100.0])
def test_fused_weights_equal_the_pipeline(r, delta):
    """The optimiser evaluates the paper's pipeline fused (shifted scores, halving folded in):
    the weights it uses equal rwtheory.weights.pipeline.batched_sample_weights on the losses of the
    iterate, for every strategy, tiny and large temperatures and delta != 1."""
    from rwtheory.weights.pipeline import STRATEGIES, batched_sample_weights

    p = regression_with_outliers(2, n=50, d=4, n_test=10)
    names = list(STRATEGIES)
    schemes = [Strategy(s, r, delta) for s in names for _ in range(2)]
    tr = engine.run(
        p, schemes, rows=np.tile(np.arange(2), len(names)), lr=0.01, steps=4, keep_weights=True
    )
    for i, s in enumerate(schemes):
        for t in range(4):
            losses = p.take([tr.seeds[i]]).losses(tr.iterates[i : i + 1, t])
            ref = batched_sample_weights(losses, s.strategy, r, delta)[0]
            np.testing.assert_allclose(tr.weights[i, t], ref, rtol=1e-10, atol=1e-14)
            assert tr.rho[i, t] == pytest.approx(50 * ref.max(), rel=1e-10)


def test_uneven_runs_per_seed_and_scheduled_temperatures():
    """Runs that do not form equal blocks per seed (the 'expanded' layout) and a temperature
    schedule r(step) give the same numbers as one run at a time."""
    p = regression_with_outliers(3, n=40, d=5, n_test=20)
    sched = Strategy("quadratic", lambda t: 2.0 / (1 + t))
    schemes = [Strategy("linupper", 0.5), sched, DROKL(1.0), Strategy("uniform"), KLCapped(0.7)]
    rows = [0, 0, 1, 2, 2]
    for method, batch in (("gd", None), ("sgd", 8)):
        tr = engine.run(
            p,
            schemes,
            rows=rows,
            lr=[0.05, 0.04, 0.03, 0.05, 0.02],
            steps=30,
            method=method,
            batch_size=batch,
            keep_weights=True,
        )
        for i, (s, r) in enumerate(zip(schemes, rows, strict=True)):
            one = engine.run(
                p.take([r]),
                s,
                lr=tr.lr[i],
                steps=30,
                method=method,
                batch_size=batch,
                keep_weights=True,
            )
            np.testing.assert_allclose(one.iterates[0], tr.iterates[i], rtol=0, atol=1e-10)
            np.testing.assert_allclose(one.weights[0], tr.weights[i], rtol=1e-10, atol=1e-14)
            assert tr.labels[i] == s.label and tr.seeds[i] == r
            if batch:
                np.testing.assert_array_equal(one.batches[0], tr.batches[i])


def test_theory_records_on_a_consistent_problem():
    """gap, dist2, Gamma_t, S_t, batch gap and the heavy-ball records match their definitions
    recomputed from the stored iterates and weights."""
    p = consistent_least_squares(2, n=30, d=6, row_spread=3.0)
    lam = np.arange(21) / 2.0
    for method, batch in (("gd", None), ("sgd", 10), ("heavy_ball", 10)):
        tr = engine.run(
            p,
            [Strategy("linupper", 0.5), KLCapped(0.3)],
            rows=[0, 1],
            method=method,
            batch_size=batch,
            lr=0.1 / p.max_smoothness().max(),
            steps=20,
            keep_weights=True,
            lambdas=lam if method == "heavy_ball" else None,
        )
        for i in range(2):
            q = p.take([i])
            X = tr.iterates[i]
            gaps = np.stack([q.losses(X[t : t + 1])[0] for t in range(21)])
            np.testing.assert_allclose(tr.gap[i], gaps.mean(-1), rtol=1e-10)
            np.testing.assert_allclose(tr.dist2[i], ((X - q.x_star[0]) ** 2).sum(-1), rtol=1e-10)
            for t in range(20):
                idx = np.arange(30) if tr.batches is None else tr.batches[i, t]
                g = gaps[t, idx]
                w = tr.weights[i, t]
                assert tr.weighted_gap[i, t] == pytest.approx((w * g).sum(), rel=1e-10)
                assert tr.batch_gap[i, t] == pytest.approx(g.mean(), rel=1e-10)
                assert tr.gamma[i, t] == pytest.approx((w * g).sum() / g.mean(), rel=1e-10)
                if method == "heavy_ball":
                    gp = gaps[max(t - 1, 0), idx]
                    assert tr.prev_weighted_gap[i, t] == pytest.approx((w * gp).sum(), rel=1e-10)


def test_divergence_in_a_batch_leaves_the_other_runs_untouched():
    p = consistent_least_squares(1, n=40, d=10, row_spread=10.0)
    eta = 1.0 / p.smoothness()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both = engine.run(
            p, [DROKL(0.05), Strategy("linupper", 2.0)], rows=[0, 0], lr=eta, steps=150
        )
    alone = engine.run(p, Strategy("linupper", 2.0), lr=eta, steps=150)
    assert both.diverged_at[0] > 0 and both.diverged_at[1] == -1
    np.testing.assert_allclose(both.iterates[1], alone.iterates[0], rtol=0, atol=1e-10)
    k = both.diverged_at[0]
    assert np.all(np.isnan(both.iterates[0, k:])) and np.all(np.isfinite(both.iterates[0, :k]))


def test_several_temperatures_of_one_strategy_per_seed():
    """Runs of one strategy at different temperatures share one fused group (a sub-range of
    each seed's block): each still uses its own temperature."""
    p = regression_with_outliers(2, n=30, d=3, n_test=10)
    per_seed = [
        Strategy("uniform"),
        Strategy("linupper", 0.5),
        Strategy("linupper", 2.0),
        Strategy("extremes", 0.3),
        Strategy("extremes", lambda t: 1.0 + t),
        Strategy("quadratic", 1.0),
    ]
    schemes = [s for s in per_seed for _ in range(2)]
    rows = np.tile(np.arange(2), len(per_seed))
    tr = engine.run(p, schemes, rows=rows, lr=0.05, steps=15)
    for i, (s, r) in enumerate(zip(schemes, rows, strict=True)):
        one = engine.run(p.take([r]), s, lr=0.05, steps=15)
        np.testing.assert_allclose(one.iterates[0], tr.iterates[i], rtol=0, atol=1e-10)
        np.testing.assert_allclose(one.rho[0], tr.rho[i], rtol=1e-10)


def test_kept_losses_are_the_ones_the_weights_saw():
    """keep_losses stores f_i(x_t), i in B_t, in the order of the weights (off by default);
    the pipeline on them gives the recorded weights; NaN from the divergence on."""
    p = consistent_least_squares(1, n=40, d=10, row_spread=10.0)
    eta = 1.0 / p.smoothness()[0]
    schemes = [DROKL(0.05), Strategy("linupper", 2.0)]
    for method, batch in (("gd", None), ("sgd", 8)):
        tr = engine.run(
            p,
            schemes,
            rows=[0, 0],
            lr=eta,
            steps=60,
            method=method,
            batch_size=batch,
            keep_weights=True,
            keep_losses=True,
        )
        assert tr.losses.shape == tr.weights.shape == (2, 60, batch or 40)
        k = tr.diverged_at[0]
        assert 0 < k < 60 and tr.diverged_at[1] == -1
        assert np.all(np.isnan(tr.losses[0, k:])) and np.all(np.isfinite(tr.losses[0, :k]))
        for t in range(60):
            idx = np.arange(40) if batch is None else tr.batches[1, t]
            np.testing.assert_allclose(
                tr.losses[1, t],
                p.losses(tr.iterates[1, t][None])[0][idx],
                rtol=1e-12,
                atol=1e-12 * tr.losses[1, t].max(),
            )
            np.testing.assert_allclose(
                tr.weights[1, t], rw_weights(tr.losses[1, t], "linupper", 2.0), rtol=1e-12
            )
    assert engine.run(p, schemes[1], lr=eta, steps=3).losses is None


def rw_weights(losses, strategy, r):
    from rwtheory.weights.pipeline import sample_weights

    return sample_weights(losses, strategy, r)


def test_row_buffer_changes_no_bit(monkeypatch):
    """The fused forms run under a ufunc buffer of about one row (a speed setting): the
    weights and iterates are bit for bit those under numpy's default buffer."""
    from rwtheory.convex import fused

    assert fused.row_bufsize(1000) == 1008 and fused.row_bufsize(3) == 16
    assert fused.row_bufsize(10**6) == 8192
    p = regression_with_outliers(2, n=300, d=4, n_test=10)
    names = ["uniform", "linupper", "quadratic", "extremes", "upper"]
    schemes = [Strategy(s, 0.5) for s in names for _ in range(2)]
    kw = dict(rows=np.tile(np.arange(2), 5), lr=0.05, steps=20, keep_weights=True)
    fast = engine.run(p, schemes, **kw)
    monkeypatch.setattr(fused, "row_bufsize", lambda b: np.getbufsize())
    default = engine.run(p, schemes, **kw)
    np.testing.assert_array_equal(fast.weights, default.weights)
    np.testing.assert_array_equal(fast.iterates, default.iterates)
    assert np.getbufsize() == 8192  # the engine restores numpy's setting


def test_a_subclass_that_overrides_the_weights_is_called_not_fused():
    """DROKL's fused form stands for its own __call__: a subclass that changes the weights
    (here: uniform) must get its own weights in the engine, not DRO-KL's."""

    class Flat(DROKL):
        def __call__(self, losses, step):
            return np.full_like(losses, 1.0 / losses.shape[-1])

    p = regression_with_outliers([0], n=40, d=4)
    flat = engine.run(p, [Flat(0.5)], lr=0.05, steps=20, keep_weights=True)
    uniform = engine.run(p, [Strategy("uniform")], lr=0.05, steps=20)
    np.testing.assert_allclose(flat.weights, 1 / 40, rtol=1e-15)
    np.testing.assert_allclose(flat.iterates, uniform.iterates, rtol=1e-12, atol=1e-15)
    assert group_key(DROKL(0.5))[0] == "fused" and group_key(Flat(0.5))[0] == "scheme"


# ------------------------------------------------------------------ issue 22
def test_a_run_that_cannot_start_is_an_error_not_a_divergence_at_step_0():
    p = regression_with_outliers(2, n=20, d=3, n_test=4)
    p.A[1, 3, 2] = np.nan  # changed in place after construction
    with pytest.raises(ValueError, match=r"A must be finite, got nan at index \(1, 3, 2\)"):
        engine.run(p, Strategy("linupper"), lr=0.1, steps=3)
    q = regression_with_outliers(2, n=20, d=3, n_test=4)
    with pytest.raises(
        ValueError,
        match=r"must give a finite objective f\(x0\) for every run, got inf for run\(s\) \[0, 1\]",
    ):
        engine.run(q, Strategy("linupper"), lr=0.1, steps=3, x0=np.full((2, 4), 1e200))
    with pytest.raises(ValueError, match=r"must give a finite objective f\(x0\)"):
        run_reference(q.take([0]), Strategy("linupper"), "gd", 0.1, 3, x0=np.full(4, 1e200))
    # a real divergence is still recorded, not refused
    tr = engine.run(q, Strategy("linupper"), lr=50.0, steps=5)
    assert np.all(tr.diverged_at >= 1)


@dataclass(frozen=True)
class Doubled(Scheme):
    label = "doubled"

    def __call__(self, losses, step):
        return (
            np.full(losses.shape, 2.0 / losses.shape[-1])
            if step == 2
            else np.full(losses.shape, 1.0 / losses.shape[-1])
        )


@dataclass(frozen=True)
class Negative(Scheme):
    label = "negative"

    def __call__(self, losses, step):
        w = np.full(losses.shape, 1.0 / losses.shape[-1])
        w[..., 0] -= 0.5
        w[..., 1] += 0.5
        return w


def test_a_users_scheme_must_return_simplex_weights_at_every_step():
    p = regression_with_outliers(2, n=20, d=3, n_test=4)
    with pytest.raises(
        ValueError,
        match=r"the weights of scheme .*Doubled at step 2 must sum to 1 in every row "
        r"\(within 1e-06\), got 2\.0",
    ):
        engine.run(p, Doubled(), lr=0.1, steps=4)
    with pytest.raises(
        ValueError,
        match=r"the weights of scheme .*Negative at step 0 must be >= 0, "
        r"got -0\.45 at index \(0, 0\)",
    ):
        engine.run(p, Negative(), lr=0.1, steps=4)
    with pytest.raises(ValueError, match=r"Negative at step 0 must be >= 0"):
        run_reference(p.take([0]), Negative(), "gd", 0.1, 4)
    with pytest.raises(TypeError, match=r"schemes\[0\] .* must be hashable"):
        engine.run(p, [Unhashable(), Unhashable()], lr=0.1, steps=2)


@dataclass
class Unhashable(Scheme):
    label = "unhashable"

    def __call__(self, losses, step):
        return np.full(losses.shape, 1.0 / losses.shape[-1])


def test_the_reference_loop_checks_its_arguments_like_the_engine():
    row = regression_with_outliers(1, n=20, d=3, n_test=4)
    for kwargs, message in (
        (dict(lr=-1.0), r"lr must be a finite number > 0, got -1.0"),
        (dict(lr="0.1"), r"lr must be a real number, got str"),
        (dict(method="sgd"), r"batch_size is required for method='sgd'"),
        (dict(steps=-2), r"steps must be an integer >= 1, got -2"),
    ):
        args = dict(method="gd", lr=0.1, steps=3) | kwargs
        with pytest.raises((ValueError, TypeError), match=message):
            run_reference(
                row, Strategy("linupper"), args.pop("method"), args.pop("lr"), args.pop("steps")
            )


def nan_schedule(step):
    return float("nan") if step == 2 else 1.0


def text_schedule(step):
    return "0.5"


def negative_lambda(t):
    return -1.0 if t == 3 else 0.5


@pytest.mark.parametrize("fn", [nan_schedule, text_schedule])
def test_a_users_schedule_is_named_with_its_step(fn):
    p = regression_with_outliers(2, n=20, d=3, n_test=4)
    step = 2 if fn is nan_schedule else 0
    what = rf"temperature \(.*{fn.__name__}\) at step {step}"
    with pytest.raises((ValueError, TypeError), match=what):
        engine.run(p, Strategy("linupper", fn), lr=0.1, steps=4)
    with pytest.raises((ValueError, TypeError), match=what):
        Strategy("linupper", fn)(np.ones((1, 3)), step)
    with pytest.raises((ValueError, TypeError), match=what):
        engine.run(p, KLCapped(fn), lr=0.1, steps=4)


def test_heavy_ball_lambdas_are_checked_and_named():
    p = regression_with_outliers(2, n=20, d=3, n_test=4)
    hb = dict(method="heavy_ball", lr=0.1, steps=4)
    with pytest.raises(
        ValueError,
        match=r"lambdas \(.*negative_lambda\) at step 3 must be a finite number >= 0, got -1.0",
    ):
        engine.run(p, Strategy("linupper"), lambdas=negative_lambda, **hb)
    with pytest.raises(
        TypeError, match=r"lambdas \(.*<lambda>\) at step 0 must be a real number, got str"
    ):
        engine.run(p, Strategy("linupper"), lambdas=lambda t: "0.5", **hb)
    with pytest.raises(
        ValueError, match=r"lambdas must give steps \+ 1 = 5 finite values >= 0, got shape \(4,\)"
    ):
        engine.run(p, Strategy("linupper"), lambdas=[0.5] * 4, **hb)
    with pytest.raises(ValueError, match=r"lambdas must be finite, got nan at index 1"):
        engine.run(p, Strategy("linupper"), lambdas=[0.5, np.nan, 0.5, 0.5, 0.5], **hb)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda p: regression_with_outliers(seeds="12"), "seeds"),
        (lambda p: KLCapped("x", 2.0), "temperature"),
        (lambda p: engine.sample_batches(-1, 50, 5, 10), "seed"),
        (lambda p: engine.sample_batches(1, 50, 500, 10), "batch_size"),
        (lambda p: engine.run(p, Strategy("linupper", 1.0), steps=3, lr="0.1"), "lr"),
        (
            lambda p: engine.run(p, Strategy("linupper", 1.0), steps=3, lr=0.1, progress="x"),
            "progress",
        ),
    ],
    ids=["seeds-str", "klcapped-str", "batches-seed", "batches-size", "lr-str", "progress-str"],
)
def test_the_issues_examples_are_one_error_naming_the_argument_before_any_step(call, argument):
    """Issue 22's examples (``seeds='12'`` once became seeds [1, 2], ``progress='x'`` failed
    after the first step, ...): each an InputError naming the argument, before computing."""
    from rwtheory._array import InputError

    prob = regression_with_outliers(2, n=50, d=3, n_test=10)
    with pytest.raises(InputError, match=rf"^{argument} "):
        call(prob)
