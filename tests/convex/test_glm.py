"""The GLM engine: the squared family equals the least-squares engine, each family's
derivatives and curvature constant, the gradient records of THEORY §6."""

import warnings

import numpy as np
import pytest

from rwtheory.convex import engine, glm, problems
from rwtheory.convex.adversaries import SmallestGaps
from rwtheory.convex.schemes import DROKL, KLCapped, Strategy

SCHEMES = [
    Strategy("uniform"),
    Strategy("linupper", 0.5),
    Strategy("quadratic", 1.0),
    KLCapped(1.0, 2.0),
    DROKL(0.5),
    SmallestGaps(2.0),
]
# (DirichletWeights is left out: it seeds its draws with a hash of the losses' bytes, and the
# two engines' residual GEMMs round differently, so the draws differ by design.)
FIELDS = ["train_loss", "gap", "dist2", "weighted_gap", "batch_gap", "gamma", "rho", "iterates"]


@pytest.mark.parametrize(
    "method,batch", [("gd", None), ("sgd", 5), ("heavy_ball", None), ("heavy_ball", 7)]
)
def test_squared_loss_equals_the_least_squares_engine(method, batch):
    ls = problems.consistent_least_squares(2, n=24, d=6, row_spread=3.0)
    p = glm.from_least_squares(ls, glm.squared())
    rows = np.tile([0, 1], len(SCHEMES))
    schemes = [s for s in SCHEMES for _ in range(2)]
    kw = dict(
        method=method,
        lr=0.7 / ls.smoothness()[rows],
        steps=25,
        batch_size=batch,
        rows=rows,
        keep_weights=True,
        lambdas=(lambda t: t / 2) if method == "heavy_ball" else None,
    )
    a = engine.run(ls, schemes, **kw)
    b = glm.run(p, schemes, **kw)
    fields = FIELDS + (["prev_weighted_gap", "z_dist2"] if method == "heavy_ball" else [])
    for name in fields + ["weights"]:
        np.testing.assert_allclose(
            getattr(b, name), getattr(a, name), rtol=1e-10, atol=1e-10, err_msg=name
        )
    if batch is not None:
        np.testing.assert_array_equal(b.batches, a.batches)
    assert b.labels == a.labels and b.seeds == a.seeds
    np.testing.assert_allclose(p.smoothness(), ls.smoothness(), rtol=1e-12)
    np.testing.assert_allclose(p.max_smoothness(), ls.max_smoothness(), rtol=1e-12)


FAMILIES = [glm.squared(), glm.log_cosh(0.7), glm.huber(0.5), glm.geman_mcclure(1.3), glm.sigmoid()]


@pytest.mark.parametrize("loss", FAMILIES, ids=lambda l: l.name)
def test_derivative_and_curvature_constant(loss):
    b = np.array([1.0]) if not loss.residual else np.array([0.3])
    u = np.linspace(-12, 12, 200001)
    h = 1e-5
    fd = (loss.value(u + h, b) - loss.value(u - h, b)) / (2 * h)
    np.testing.assert_allclose(loss.derivative(u, b), fd, atol=1e-8)
    second = np.diff(loss.derivative(u, b)) / np.diff(u)
    assert np.max(np.abs(second)) <= loss.curvature * (1 + 1e-6)
    # the constant is the supremum (attained on the grid to 1e-3), not a loose bound
    assert np.max(np.abs(second)) >= loss.curvature * (1 - 1e-3)
    assert np.min(loss.value(u, b)) >= loss.lower
    assert (np.min(second) >= -1e-12) == loss.convex


def test_geman_mcclure_and_sigmoid_curvature_in_closed_form():
    gm = glm.geman_mcclure(2.0)
    r = np.linspace(-20, 20, 400001)
    second = np.diff(gm.derivative(r, 0.0)) / np.diff(r)
    assert second.max() == pytest.approx(1.0, abs=1e-6)
    assert second.min() == pytest.approx(-0.25, abs=1e-6)
    assert glm.sigmoid().curvature == pytest.approx(0.0962250448649376, rel=1e-12)


def _random_problem(loss, seed=0, n=9, d=4):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((2, n, d))
    b = np.sign(rng.standard_normal((2, n))) if not loss.residual else rng.standard_normal((2, n))
    return glm.GLMProblem(A, b, loss)


@pytest.mark.parametrize("loss", FAMILIES, ids=lambda l: l.name)
def test_gradients_and_smoothness(loss):
    p = _random_problem(loss)
    x = np.random.default_rng(1).standard_normal((2, p.d))
    h = 1e-6
    fd = np.stack(
        [(p.value(x + h * e) - p.value(x - h * e)) / (2 * h) for e in np.eye(p.d)], axis=-1
    )
    np.testing.assert_allclose(p.gradient(x), fd, atol=1e-7)
    np.testing.assert_allclose(p.sample_smoothness(), loss.curvature * (p.A**2).sum(-1), rtol=1e-12)
    # L is a Lipschitz constant of the gradient along random segments
    rng = np.random.default_rng(2)
    for _ in range(20):
        y = x + rng.standard_normal(x.shape)
        ratio = np.linalg.norm(p.gradient(y) - p.gradient(x), axis=-1) / np.linalg.norm(
            y - x, axis=-1
        )
        assert np.all(ratio <= p.smoothness() * (1 + 1e-12))
    assert np.all(p.smoothness() <= p.max_smoothness())


@pytest.mark.parametrize(
    "loss", [glm.log_cosh(), glm.huber(), glm.geman_mcclure()], ids=lambda l: l.name
)
def test_interpolation_point_minimises_every_sample(loss):
    ls = problems.consistent_least_squares(1, n=10, d=3)
    p = glm.from_least_squares(ls, loss)
    np.testing.assert_array_equal(p.sample_gradients(ls.x_star), 0.0)
    np.testing.assert_array_equal(p.losses(ls.x_star), 0.0)
    with pytest.raises(ValueError, match="residual"):
        glm.from_least_squares(ls, glm.sigmoid())


def test_gradient_records_match_direct_computation():
    p = _random_problem(glm.sigmoid(), n=8)
    sch = [Strategy("linupper", 0.3), glm.OnGradientNorms(Strategy("linupper", 0.3))]
    tr = glm.run(p, sch, method="sgd", batch_size=3, lr=5.0, steps=6, keep_weights=True)
    assert tr.gap is None and tr.labels[1] == "linupper (r=0.3) on grad norms"
    for r in range(2):
        for t in range(6):
            x = tr.iterates[r, t][None]
            Gi = p.take([r]).sample_gradients(x)[0]
            grad = Gi.mean(0)
            B, w = tr.batches[r, t], tr.weights[r, t]
            sq = (Gi[B] ** 2).sum(-1)
            assert tr.grad_norm2[r, t] == pytest.approx(grad @ grad, rel=1e-12)
            assert tr.grad_mean[r, t] == pytest.approx(sq.mean(), rel=1e-12)
            assert tr.grad_gamma[r, t] == pytest.approx(w @ sq / sq.mean(), rel=1e-12)
            assert tr.sigma[r, t] == pytest.approx(
                np.linalg.norm(Gi[B] - grad, axis=-1).max(), rel=1e-12
            )
            g = w @ Gi[B]
            assert tr.step_norm2[r, t] == pytest.approx(g @ g, rel=1e-12)
            np.testing.assert_allclose(tr.iterates[r, t + 1], x[0] - 5.0 * g, rtol=1e-13)
            signal = sq if r == 1 else p.take([r]).losses(x)[0][B]
            np.testing.assert_allclose(w, Strategy("linupper", 0.3)(signal[None], t)[0], rtol=1e-12)


def test_small_gradient_adversary_gives_gamma_at_most_one():
    p = _random_problem(glm.geman_mcclure(), n=12)
    tr = glm.run(
        p, glm.OnGradientNorms(SmallestGaps(2.0)), method="sgd", batch_size=6, lr=0.1, steps=20
    )
    assert np.all(tr.grad_gamma <= 1 + 1e-12)
    assert np.mean(tr.grad_gamma < 0.999) > 0.5


def test_divergence_freezes_and_blanks():
    ls = problems.consistent_least_squares(1, n=12, d=4)
    p = glm.from_least_squares(ls, glm.squared())
    tr = glm.run(p, Strategy("uniform"), lr=5.0 / ls.smoothness()[0], steps=40)
    assert tr.diverged[0]
    t = tr.diverged_at[0]
    assert np.all(np.isnan(tr.train_loss[0, t:])) and np.all(np.isfinite(tr.train_loss[0, :t]))
    ref = engine.run(ls, Strategy("uniform"), lr=5.0 / ls.smoothness()[0], steps=40)
    assert ref.diverged_at[0] == t


def test_bad_input_is_named():
    p = _random_problem(glm.sigmoid())
    with pytest.raises(ValueError, match="batch_size"):
        glm.run(p, Strategy("uniform"), method="sgd", lr=1.0, steps=3)
    with pytest.raises(ValueError, match="lr"):
        glm.run(p, Strategy("uniform"), lr=-1.0, steps=3)
    with pytest.raises(ValueError, match="steps"):
        glm.run(p, Strategy("uniform"), lr=1.0, steps=0)
    with pytest.raises(ValueError, match="lambdas"):
        glm.run(p, Strategy("uniform"), method="heavy_ball", lr=1.0, steps=3)
    with pytest.raises(ValueError, match="scale"):
        glm.geman_mcclure(0.0)
    with pytest.raises(ValueError, match="loss must be one of"):
        glm.make_loss("tukey")


def test_theorem_1_2_checks_run_on_the_convex_families_and_reject_a_nonconvex_one():
    """effective_smoothness reads the GLM constants; Theorems 1-2 hold on log-cosh and Huber
    (convex, interpolation) and the one-step check rejects Geman-McClure, whose convexity
    (Assumption 1) fails far from the fit."""
    from rwtheory.theory import theorems

    ls = problems.consistent_least_squares(3, n=16, d=4, row_spread=5.0)
    x0 = 3 * np.random.default_rng(0).standard_normal((3, 4)) + ls.x_star
    for loss, convex in (
        (glm.log_cosh(0.5), True),
        (glm.huber(0.3), True),
        (glm.geman_mcclure(1.0), False),
    ):
        p = glm.from_least_squares(ls, loss)
        tr = glm.run(p, Strategy("linupper", 0.4), lr=0.5 / p.smoothness(), steps=40, x0=x0)
        trs = glm.run(
            p,
            Strategy("linupper", 0.4),
            method="sgd",
            batch_size=4,
            lr=0.5 / p.smoothness(),
            steps=40,
            x0=x0,
        )
        bad = theorems.gd_one_step(tr, theorems.effective_smoothness(p, tr, "C")).violated()
        bad_s = theorems.sgd_one_step(trs, theorems.effective_smoothness(p, trs, "J")).violated()
        rate = theorems.gd_rate(tr, theorems.effective_smoothness(p, tr, "J")).violated()
        assert (bad.any() or bad_s.any()) != convex, loss.name
        assert not rate.any()


def test_huber_is_finite_without_warning_far_in_its_linear_tail():
    """The unused quadratic branch must not overflow (a RuntimeWarning where the loss, delta
    (|r| - delta/2), is finite); inside the quadratic region the value is unchanged."""
    loss = glm.huber(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = loss.value(np.array([1e200, -3.0, 0.5]), np.zeros(3))
    assert v.tolist() == [2.0 * (1e200 - 1.0), 2.0 * (3.0 - 1.0), 0.5 * 0.5 * 0.5]
