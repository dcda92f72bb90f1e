r"""Theorem 4: reweighted minibatch SGD on non-convex finite sums (THEORY §6, reconstructed).

**Problem.** :math:`f = \frac1n\sum_{i=1}^n f_i` with f L-smooth (Assumption 2; the
:math:`f_i` need not be convex) and bounded below by :math:`f_{\inf}`; Assumption 4:
:math:`\|\nabla f_i(x) - \nabla f(x)\| \le \sigma` for every i and x.

**Algorithm.** A batch :math:`B_t` of size b, uniform without replacement (b = n: full
batch); any weights :math:`w^t` on the simplex of :math:`B_t` (no cap needed; they may
depend on the batch's losses or gradients at :math:`x_t`);
:math:`g_t = \sum_{i\in B_t} w_i^t\nabla f_i(x_t)`, :math:`x_{t+1} = x_t - \eta g_t`.
Per step: :math:`m_t = \frac1b\sum_{i\in B_t}\|\nabla f_i(x_t)\|^2`,
:math:`\Gamma_t = \sum_{i\in B_t} w_i^t\|\nabla f_i(x_t)\|^2/m_t` (1 when :math:`m_t = 0`; the
*gradient-norm* Γ, not Theorems 1-2's loss-gap Γ),
:math:`\sigma_t = \max_{i\in B_t}\|\nabla f_i(x_t) - \nabla f(x_t)\| \le \sigma`.

**Proof of the one-step inequality.** The descent lemma
:math:`f(x_{t+1}) \le f(x_t) - \eta\langle\nabla f(x_t), g_t\rangle + \frac{L\eta^2}2\|g_t\|^2`;
the polarisation :math:`\langle\nabla f, \nabla f_i\rangle = \frac12(\|\nabla f\|^2 +
\|\nabla f_i\|^2 - \|\nabla f_i - \nabla f\|^2)` summed with the weights gives
:math:`\langle\nabla f, g_t\rangle \ge \frac12(\|\nabla f\|^2 + \Gamma_t m_t - \sigma_t^2)`;
Jensen gives :math:`\|g_t\|^2 \le \sum_i w_i\|\nabla f_i\|^2 = \Gamma_t m_t`. Both bounds hold
for any :math:`\eta > 0` (the Jensen term enters with the positive factor :math:`L\eta^2/2`),
so the one-step and pathwise inequalities need no step-size hypothesis; only the rate does.

Every function takes a :class:`rwtheory.convex.glm.GLMTrajectory` (the records
``train_loss``, ``grad_norm2``, ``grad_mean``, ``grad_gamma``, ``sigma``) and L (a number,
one per run, or ``trajectory.smoothness``), and returns a
:class:`rwtheory.theory.theorems.Bound` with ``observed <= bound``, the guaranteed progress on
the left, so observed / bound in [0, 1] says how much of it the run achieved against the
proof's allowance (1 = tight). Tolerance policy: that of :class:`~rwtheory.theory.theorems.Bound`
(``rtol`` relative to the largest term; no rounding floor is needed, the sides are made of
function values and gradient norms, not of distances to a point reached to machine precision).

Example (PEPit style)::

    from rwtheory.convex import glm
    from rwtheory.convex.schemes import Strategy
    from rwtheory.nonconvex import problems
    from rwtheory.theory import theorem4
    p = problems.sigmoid_classification(4, n=32, d=8)
    tr = glm.run(p, Strategy("linupper", 0.4), method="sgd", batch_size=8,
                 lr=1 / p.smoothness(), steps=100)
    assert not theorem4.one_step(tr, tr.smoothness).violated().any()
"""

from __future__ import annotations

import numpy as np

from rwtheory.theory.theorems import Bound, MonteCarloBound

__all__ = ["bound_ratio", "one_step", "pathwise", "rate", "rate_bound", "rate_in_expectation"]

#: Relative slack on the step-size hypothesis eta L <= 1 (eta = 1/L is computed in float64).
STEP_RTOL = 1e-12


def _require(trajectory) -> None:
    missing = [
        k
        for k in ("grad_norm2", "grad_mean", "grad_gamma", "sigma")
        if getattr(trajectory, k, None) is None
    ]
    if missing:
        raise ValueError(
            f"trajectory lacks {', '.join(missing)}: run it with rwtheory.convex.glm.run"
        )


def _per_run(L, trajectory) -> np.ndarray:
    """L as a finite, positive (R, 1) array."""
    R = trajectory.train_loss.shape[0]
    a = np.asarray(L, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(R, float(a))
    if a.shape != (R,) or not np.all(np.isfinite(a) & (a > 0)):
        raise ValueError(f"L must be a finite number > 0 or one per run ({R},), got {np.shape(L)}")
    return a[:, None]


def _terms(trajectory, L):
    """(progress terms (R, T), eta (R, 1), L (R, 1)): (eta/2)(||grad f||^2 + (1 - L eta)
    Gamma_t m_t)."""
    _require(trajectory)
    L = _per_run(L, trajectory)
    eta = trajectory.lr[:, None]
    gm = trajectory.grad_gamma * trajectory.grad_mean
    terms = 0.5 * eta * (trajectory.grad_norm2[:, :-1] + (1 - L * eta) * gm)
    return terms, eta, L


def one_step(trajectory, L) -> Bound:
    r"""The one-step inequality of Theorem 4 (reconstructed), any step size, any weights:

    .. math:: \frac\eta2\|\nabla f(x_t)\|^2 + \frac\eta2(1 - L\eta)\Gamma_t m_t
              \le f(x_t) - f(x_{t+1}) + \frac\eta2\sigma_t^2 .

    **Assumptions** used: f L-smooth (descent lemma), weights on the simplex (Jensen).
    Neither convexity, nor a cap, nor interpolation. Returns a :class:`Bound` of shape (R, T).

    Example: the 3-sample hand computation of ``tests/theory/test_theorem4.py``.
    """
    terms, eta, _ = _terms(trajectory, L)
    f = trajectory.train_loss
    allowance = 0.5 * eta * trajectory.sigma**2
    bound = f[:, :-1] - f[:, 1:] + allowance
    scale = np.maximum.reduce(
        [
            np.abs(f[:, :-1]),
            np.abs(f[:, 1:]),
            np.abs(terms),
            0.5 * eta * trajectory.grad_norm2[:, :-1],
            allowance,
        ]
    )
    return Bound(terms, bound, scale, np.ones_like(bound, dtype=bool))


def pathwise(trajectory, L) -> Bound:
    r""":func:`one_step` summed over :math:`t < k`, every horizon k = 1..T (no step-size
    hypothesis; pathwise, whatever the batches):

    .. math:: \sum_{t<k}\frac\eta2\big[\|\nabla f(x_t)\|^2 + (1 - L\eta)\Gamma_t m_t\big]
              \le f(x_0) - f(x_k) + \frac\eta2\sum_{t<k}\sigma_t^2 .
    """
    terms, eta, _ = _terms(trajectory, L)
    f = trajectory.train_loss
    allowance = np.cumsum(0.5 * eta * trajectory.sigma**2, axis=1)
    observed = np.cumsum(terms, axis=1)
    bound = f[:, :1] - f[:, 1:] + allowance
    scale = np.maximum.reduce(
        [np.abs(f[:, :1]) + np.abs(f[:, 1:]), np.cumsum(np.abs(terms), axis=1), allowance]
    )
    return Bound(observed, bound, scale, np.ones_like(bound, dtype=bool))


def rate_bound(f0_gap, eta, L, gamma, sigma2, k) -> np.ndarray:
    r"""Theorem 4's rate, :math:`\big(2(f(x_0) - f_{\inf})/(\eta k) + \sigma^2\big) /
    \big(1 + (1 - L\eta)\Gamma\big)` (broadcast; inf where the denominator is <= 0, which
    can only happen when the step-size hypothesis :math:`\eta \le 1/L` is broken)."""
    den = 1 + (1 - L * eta) * gamma
    num = 2 * f0_gap / (eta * k) + sigma2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)


def bound_ratio(L, eta, gamma) -> np.ndarray:
    r"""THEORY §6's factor :math:`(2 - L\eta)/(1 + (1 - L\eta)\Gamma)`: the rate bound of
    weights with gradient-norm constant Γ divided by that of uniform weights (Γ = 1), at the
    same η (< 1: the weighted bound is smaller). For :math:`\eta < 1/L` it decreases in Γ
    from 2 - Lη (Γ = 0: all weight on zero gradients) through 1 (Γ = 1) towards 0; at
    η = 1/L it is exactly 1 whatever Γ: at the largest step the theorem allows, the weights
    do not enter the bound."""
    L, eta, gamma = (np.asarray(v, dtype=np.float64) for v in (L, eta, gamma))
    return (2 - L * eta) / (1 + (1 - L * eta) * gamma)


def rate(trajectory, L, f_inf) -> Bound:
    r"""Theorem 4's rate on a full-batch path (B_t = all samples), every horizon k = 1..T:

    .. math:: \frac1k\sum_{t<k}\|\nabla f(x_t)\|^2 \le
              \frac{2(f(x_0) - f_{\inf})/(\eta k) + \sigma_k^2}{1 + (1 - L\eta)\Gamma_k},
              \quad \Gamma_k = \min_{t<k}\Gamma_t,\ \sigma_k = \max_{t<k}\sigma_t .

    **Assumptions**: those of :func:`one_step`, :math:`\eta \le 1/L` (``applicable``
    elsewhere False) and :math:`f \ge f_{\inf}` (``f_inf``: a number or one per run, e.g. the
    problem's certified ``lower_bound``). **Proof**: the pathwise sum,
    :math:`(1 - L\eta)\Gamma_t m_t \ge (1 - L\eta)\Gamma_k m_t` and, for a full batch,
    :math:`m_t = \frac1n\sum_i\|\nabla f_i\|^2 \ge \|\nabla f\|^2` (Jensen), and
    :math:`f(x_k) \ge f_{\inf}`. Uniform weights (Γ = 1) give the standard
    :math:`(2(f(x_0) - f_{\inf})/(\eta k) + \sigma^2)/(2 - L\eta)`. For minibatches the step
    :math:`m_t \ge \|\nabla f\|^2` holds only in expectation: see :func:`rate_in_expectation`.
    """
    terms, eta, L = _terms(trajectory, L)
    if trajectory.batches is not None:
        raise ValueError(
            "rate is pathwise for full batches only; use rate_in_expectation "
            "for minibatch trajectories"
        )
    R, T = terms.shape
    f_inf = np.broadcast_to(np.asarray(f_inf, dtype=np.float64), (R,))[:, None]
    k = np.arange(1, T + 1)
    observed = np.cumsum(trajectory.grad_norm2[:, :-1], axis=1) / k
    gamma = np.minimum.accumulate(trajectory.grad_gamma, axis=1)
    sigma2 = np.maximum.accumulate(trajectory.sigma**2, axis=1)
    bound = rate_bound(trajectory.train_loss[:, :1] - f_inf, eta, L, gamma, sigma2, k)
    applicable = np.broadcast_to(eta * L <= 1 + STEP_RTOL, bound.shape) & np.isfinite(bound)
    return Bound(observed, bound, np.abs(bound), applicable.copy())


def rate_in_expectation(trajectory, L, f_inf) -> MonteCarloBound:
    r"""Theorem 4's rate for minibatches, in expectation, estimated by Monte Carlo.

    ``trajectory`` holds K >= 2 runs of one problem, step size and start with independent
    batch streams. **Guarantee** (with :math:`\eta \le 1/L`, :math:`\Gamma_t \ge \Gamma` on
    every path): :math:`\mathbb E[m_t \mid x_t] = \frac1n\sum_i\|\nabla f_i(x_t)\|^2 \ge
    \|\nabla f(x_t)\|^2`, so

    .. math:: \frac1k\sum_{t<k}\mathbb E\|\nabla f(x_t)\|^2 \le
              \frac{2(f(x_0) - f_{\inf})/(\eta k) + \sigma^2}{1 + (1 - L\eta)\Gamma}.

    Γ is the minimum over all runs and t < k, and σ the *maximum observed* σ_t over all runs
    and t < k -- at most Assumption 4's σ, so the bound evaluated is at most the theorem's
    (a stricter check). Note σ² is not divided by b: Assumption 4 is a uniform bound, not a
    variance, so this does not recover the textbook :math:`L\eta\sigma^2/b`.
    ``observed`` is the mean over the K runs (T,), ``stderr`` its standard error; a
    violation is only meaningful beyond a few stderr.
    """
    terms, eta, L = _terms(trajectory, L)
    R, T = terms.shape
    f0 = trajectory.train_loss[:, 0]
    if R < 2 or not (
        np.allclose(f0, f0[0], rtol=1e-12) and np.all(eta == eta[0]) and np.all(L == L[0])
    ):
        raise ValueError("trajectory must hold >= 2 runs of one problem, step size and start")
    f_inf = float(np.min(f_inf))
    k = np.arange(1, T + 1)
    per_run = np.cumsum(trajectory.grad_norm2[:, :-1], axis=1) / k
    gamma = np.min(np.minimum.accumulate(trajectory.grad_gamma, axis=1), axis=0)
    sigma2 = np.max(np.maximum.accumulate(trajectory.sigma**2, axis=1), axis=0)
    bound = rate_bound(f0[0] - f_inf, eta[0, 0], L[0, 0], gamma, sigma2, k)
    observed = per_run.mean(axis=0)
    stderr = per_run.std(axis=0, ddof=1) / np.sqrt(R)
    applicable = (
        (eta[0, 0] * L[0, 0] <= 1 + STEP_RTOL)
        & np.isfinite(bound)
        & np.all(np.isfinite(per_run), axis=0)
    )
    return MonteCarloBound(observed, bound, np.abs(bound), applicable, stderr=stderr)
