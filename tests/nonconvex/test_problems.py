"""The non-convex problem families of Theorem 4: L, f_inf, Assumption 4's σ, seeding."""

import numpy as np
import pytest

from rwtheory.convex import glm
from rwtheory.convex.schemes import Strategy
from rwtheory.nonconvex import problems


def _families():
    return [
        problems.sigmoid_classification(3, n=20, d=5, label_noise=0.2),
        problems.geman_mcclure_regression(3, n=20, d=5, outlier_fraction=0.3),
    ]


@pytest.mark.parametrize("p", _families(), ids=lambda p: p.params["problem"])
def test_smoothness_lower_bound_and_sigma(p):
    rng = np.random.default_rng(0)
    L = p.smoothness()
    for _ in range(30):
        x = 3 * rng.standard_normal((3, p.d))
        y = x + rng.standard_normal(x.shape) * rng.uniform(0.01, 3)
        lip = np.linalg.norm(p.gradient(y) - p.gradient(x), axis=-1) / np.linalg.norm(
            y - x, axis=-1
        )
        assert np.all(lip <= L * (1 + 1e-12))
        assert np.all(p.value(x) >= p.lower_bound())
        dev = np.linalg.norm(p.sample_gradients(x) - p.gradient(x)[:, None], axis=-1)
        assert np.all(dev.max(-1) <= problems.gradient_bound(p))
    assert not p.loss.convex


def test_sigmoid_constant_is_lambda_max_over_6_sqrt3():
    p = problems.sigmoid_classification(1, n=30, d=4)
    A = p.A[0]
    assert p.smoothness()[0] == pytest.approx(
        np.linalg.eigvalsh(A.T @ A / 30)[-1] / (6 * np.sqrt(3)), rel=1e-12
    )
    assert set(np.unique(p.b)) <= {-1.0, 1.0}


def test_gradient_sup_constants_are_attained():
    r = np.linspace(-5, 5, 200001)
    gm = glm.geman_mcclure(1.7)
    assert np.max(np.abs(gm.derivative(r, 0.0))) == pytest.approx(
        problems.GRADIENT_SUP["geman_mcclure"]({"scale": 1.7}), rel=1e-6
    )
    s = glm.sigmoid()
    assert np.max(np.abs(s.derivative(r, 1.0))) == pytest.approx(0.25, rel=1e-9)


def test_outliers_and_seeds():
    a = problems.geman_mcclure_regression([4], n=50, d=3, outlier_fraction=0.2, noise=0.0)
    b = problems.geman_mcclure_regression([4], n=50, d=3, outlier_fraction=0.2, noise=0.0)
    np.testing.assert_array_equal(a.A, b.A)
    np.testing.assert_array_equal(a.b, b.b)
    # without outliers and noise the targets are exactly linear: GM's minimum 0 is reached
    clean = problems.geman_mcclure_regression([4], n=50, d=3, outlier_fraction=0.0, noise=0.0)
    xc, *_ = np.linalg.lstsq(clean.A[0], clean.b[0], rcond=None)
    np.testing.assert_allclose(clean.A[0] @ xc, clean.b[0], atol=1e-10)
    # with 20 % outliers no linear fit explains more than the 40 clean samples
    x, *_ = np.linalg.lstsq(a.A[0], a.b[0], rcond=None)
    assert np.sum(np.abs(a.A[0] @ x - a.b[0]) > 1e-6) >= 10
    assert problems.sigmoid_classification([1]).params["seeds"] == [1]


def test_the_engine_runs_minibatch_sgd_on_both_families():
    for p in _families():
        tr = glm.run(
            p,
            Strategy("linupper", 0.4),
            method="sgd",
            batch_size=5,
            lr=1 / p.smoothness(),
            steps=15,
        )
        for k in ("grad_norm2", "grad_mean", "grad_gamma", "sigma"):
            assert np.all(np.isfinite(getattr(tr, k)))
        assert tr.gap is None  # no interpolation point


def test_bad_input():
    with pytest.raises(ValueError, match="label_noise"):
        problems.sigmoid_classification(1, label_noise=0.7)
    with pytest.raises(ValueError, match="outlier_fraction"):
        problems.geman_mcclure_regression(1, outlier_fraction=1.0)
    with pytest.raises(ValueError, match="n must be"):
        problems.sigmoid_classification(1, n=0)
    with pytest.raises(ValueError, match="this module"):
        problems.gradient_bound(glm.GLMProblem(np.ones((1, 2, 2)), np.ones((1, 2)), glm.sigmoid()))
