"""Theorem 4 (THEORY §6): each inequality by hand on a 3-sample example, and checks that
reject wrong constants."""

import math
from dataclasses import dataclass

import numpy as np
import pytest

from rwtheory.convex import glm
from rwtheory.convex.schemes import Scheme, Strategy
from rwtheory.nonconvex import problems
from rwtheory.theory import theorem4


@dataclass(frozen=True)
class Fixed(Scheme):
    """The same weights (normalised over the batch) at every step."""

    w: tuple

    def __call__(self, losses, step):
        w = np.broadcast_to(np.asarray(self.w[: losses.shape[-1]]), losses.shape)
        return w / w.sum(-1, keepdims=True)


A3 = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
Y3 = np.array([1.0, -1.0, 1.0])
X0 = np.array([0.5, -0.25])
W3 = (0.5, 0.3, 0.2)


def _hand_step(x, eta, w):
    """One reweighted full-batch step on the 3-sample sigmoid problem, with math only."""
    s = [1 / (1 + math.exp(Y3[i] * (A3[i] @ x))) for i in range(3)]
    grads = [-Y3[i] * s[i] * (1 - s[i]) * A3[i] for i in range(3)]
    grad = sum(grads) / 3
    sq = [g @ g for g in grads]
    m = sum(sq) / 3
    gamma = sum(w[i] * sq[i] for i in range(3)) / m
    sigma = max(math.sqrt((grads[i] - grad) @ (grads[i] - grad)) for i in range(3))
    g = sum(w[i] * grads[i] for i in range(3))
    return dict(f=sum(s) / 3, grad2=grad @ grad, m=m, gamma=gamma, sigma=sigma, x_next=x - eta * g)


def _problem3():
    return glm.GLMProblem(A3[None], Y3[None], glm.sigmoid())


L3 = float(np.linalg.eigvalsh(A3.T @ A3 / 3)[-1]) / (6 * math.sqrt(3))


@pytest.mark.parametrize("eta_L", [0.5, 1.0, 3.0])
def test_one_step_and_pathwise_by_hand_on_three_samples(eta_L):
    eta = eta_L / L3
    tr = glm.run(_problem3(), Fixed(W3), lr=eta, steps=2, x0=X0[None])
    assert tr.smoothness[0] == pytest.approx(L3, rel=1e-12)
    h0 = _hand_step(X0, eta, W3)
    h1 = _hand_step(h0["x_next"], eta, W3)
    f2 = _hand_step(h1["x_next"], eta, W3)["f"]
    lhs = [eta / 2 * (h["grad2"] + (1 - L3 * eta) * h["gamma"] * h["m"]) for h in (h0, h1)]
    rhs = [
        h0["f"] - h1["f"] + eta / 2 * h0["sigma"] ** 2,
        h1["f"] - f2 + eta / 2 * h1["sigma"] ** 2,
    ]
    one = theorem4.one_step(tr, L3)
    np.testing.assert_allclose(one.observed[0], lhs, rtol=1e-12)
    np.testing.assert_allclose(one.bound[0], rhs, rtol=1e-12)
    assert all(a <= b for a, b in zip(lhs, rhs, strict=True))
    path = theorem4.pathwise(tr, L3)
    np.testing.assert_allclose(path.observed[0], np.cumsum(lhs), rtol=1e-12)
    np.testing.assert_allclose(path.bound[0], [rhs[0], rhs[0] + rhs[1]], rtol=1e-12)
    assert not one.violated().any() and not path.violated().any()


@pytest.mark.parametrize("eta_L", [0.5, 1.0, 1.5])
def test_rate_by_hand_on_three_samples(eta_L):
    eta = eta_L / L3
    tr = glm.run(_problem3(), Fixed(W3), lr=eta, steps=2, x0=X0[None])
    h0 = _hand_step(X0, eta, W3)
    h1 = _hand_step(h0["x_next"], eta, W3)
    gam = min(h0["gamma"], h1["gamma"])
    sig2 = max(h0["sigma"], h1["sigma"]) ** 2
    expect = (2 * h0["f"] / (2 * eta) + sig2) / (1 + (1 - L3 * eta) * gam)
    r = theorem4.rate(tr, L3, 0.0)
    assert r.observed[0, 1] == pytest.approx((h0["grad2"] + h1["grad2"]) / 2, rel=1e-12)
    assert r.bound[0, 1] == pytest.approx(expect, rel=1e-12)
    assert r.applicable[0, 1] == (eta_L <= 1.0)
    assert r.observed[0, 1] <= expect


def test_gamma_is_one_for_uniform_and_bound_ratio():
    p = problems.sigmoid_classification(2, n=16, d=4)
    tr = glm.run(
        p, Strategy("uniform"), method="sgd", batch_size=4, lr=1 / p.smoothness(), steps=10
    )
    np.testing.assert_allclose(tr.grad_gamma, 1.0, rtol=1e-12)
    assert theorem4.bound_ratio(1.0, 0.5, 1.0) == pytest.approx(1.0)
    assert theorem4.bound_ratio(1.0, 0.5, 3.0) == pytest.approx(1.5 / 2.5)
    assert theorem4.bound_ratio(1.0, 0.0, 0.0) == pytest.approx(2.0)
    assert theorem4.bound_ratio(2.0, 0.5, 7.0) == pytest.approx(1.0)  # eta = 1/L
    # the ratio is the quotient of the two rate bounds
    b_w = theorem4.rate_bound(1.0, 0.3, 2.0, 2.5, 0.4, 10)
    b_u = theorem4.rate_bound(1.0, 0.3, 2.0, 1.0, 0.4, 10)
    assert b_w / b_u == pytest.approx(theorem4.bound_ratio(2.0, 0.3, 2.5))


def test_a_wrong_smoothness_constant_is_caught():
    """With identical samples sigma_t = 0 and the one-step inequality is the descent lemma
    itself: the check must reject L/20 (more progress than a step of 1.9/L gives near the
    fit, where the Geman-McClure curvature is L) and accept the true L. On varied data the
    sigma_t^2 allowance (a max over the batch) is so loose that it would hide the error."""
    a = np.array([[1.0, -2.0, 0.5]])
    p = glm.GLMProblem(np.repeat(a, 4, 0)[None], np.zeros((1, 4)), glm.geman_mcclure())
    L = p.smoothness()
    tr = glm.run(p, Strategy("linupper", 0.5), lr=1.9 / L, steps=30, x0=[[0.05, 0.0, 0.0]])
    np.testing.assert_array_equal(tr.sigma, 0.0)
    assert not theorem4.one_step(tr, L).violated().any()
    assert theorem4.one_step(tr, L / 20).violated().any()
    assert theorem4.one_step(tr, L * 0.8).violated().any()


def test_rate_in_expectation_monte_carlo():
    base = problems.sigmoid_classification([3], n=24, d=4)
    paths = 16
    p = glm.GLMProblem(
        np.repeat(base.A, paths, 0),
        np.repeat(base.b, paths, 0),
        base.loss,
        params=dict(base.params, seeds=list(range(100, 100 + paths))),
    )
    L = p.smoothness()
    tr = glm.run(
        p,
        Strategy("linupper", 1.0),
        method="sgd",
        batch_size=6,
        lr=1 / L,
        steps=20,
        x0=np.ones((paths, 4)),
    )
    est = theorem4.rate_in_expectation(tr, L, 0.0)
    assert est.observed.shape == (20,) and np.all(est.applicable)
    assert np.all(est.observed <= est.bound + 3 * est.stderr)
    expect = theorem4.rate_bound(
        tr.train_loss[0, 0], 1 / L[0], L[0], tr.grad_gamma.min(), (tr.sigma**2).max(), 20
    )
    assert est.bound[-1] == pytest.approx(expect, rel=1e-12)
    with pytest.raises(ValueError, match="full batches"):
        theorem4.rate(tr, L, 0.0)
    with pytest.raises(ValueError, match=">= 2 runs"):
        theorem4.rate_in_expectation(
            glm.run(p.take([0]), Strategy("uniform"), method="sgd", batch_size=6, lr=1.0, steps=3),
            L[0],
            0.0,
        )


def test_bad_input():
    tr = glm.run(_problem3(), Fixed(W3), lr=1.0, steps=2)
    with pytest.raises(ValueError, match="L must be"):
        theorem4.one_step(tr, -1.0)
    from rwtheory.convex import engine
    from rwtheory.convex import problems as cp

    ls = cp.consistent_least_squares(1, n=4, d=2)
    with pytest.raises(ValueError, match="glm.run"):
        theorem4.one_step(engine.run(ls, Strategy("uniform"), lr=0.1, steps=2), 1.0)
