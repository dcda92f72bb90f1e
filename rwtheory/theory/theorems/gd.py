r"""Theorem 1: reweighted full-batch gradient descent (THEORY §3; paper Sec. 4.2, App. C.1).

**Problem.** :math:`f = \frac1n\sum_{i=1}^n f_i`, every :math:`f_i` convex (Assumption 1) and
:math:`L_i`-smooth (Assumption 2), :math:`L` the smoothness of the average f,
:math:`L_{\max} = \max_i L_i`; interpolation (Assumption 3): one :math:`x^\star` with
:math:`\nabla f_i(x^\star) = 0` for every i. Loss gaps :math:`\Delta_i(x) = f_i(x) - f_i(x^\star)
\ge 0`, :math:`a_t = f(x_t) - f(x^\star)`.

**Algorithm.** :math:`x_{t+1} = x_t - \eta\sum_i w_i^t\nabla f_i(x_t)` with any weights
:math:`w^t` on the simplex (they may depend on :math:`x_t`). :math:`S_t = \sum_i w_i^t
\Delta_i(x_t) = \Gamma_t a_t`, :math:`\rho_t = n\max_i w_i^t`.

Every statement comes in two forms: the paper's (reconstructed, :func:`gd_one_step`,
:func:`gd_rate`) and THEORY §3's sharper form (:func:`gd_one_step_sharp`,
:func:`gd_rate_sharp`), which replaces the factor :math:`1 - \eta\hat L_t` by
:math:`\min(1, 2 - \eta\hat L_t)` and gains a factor 2 in the rate (4 at the paper's
constants). Both are reported, with their tightness.

The checks take a :class:`rwtheory.convex.engine.Trajectory` of ``method="gd"`` on a problem with an
interpolation point and :math:`\hat L_t` (:func:`rwtheory.theory.theorems.effective_smoothness`:
:math:`\rho_t L` on Route C, :math:`L_{\max}` on Route J), and return a
:class:`rwtheory.theory.theorems.Bound`.
"""

from __future__ import annotations

from rwtheory.theory.theorems import descent
from rwtheory.theory.theorems.bound import Bound

__all__ = [
    "gd_one_step",
    "gd_one_step_sharp",
    "gd_pathwise",
    "gd_pathwise_sharp",
    "gd_rate",
    "gd_rate_sharp",
]


def _check_full_batch(trajectory) -> None:
    if trajectory.batches is not None:
        raise ValueError(
            "trajectory is a minibatch run; use the rwtheory.theory.theorems.sgd checks"
        )


def gd_one_step(trajectory, L_hat) -> Bound:
    r"""One-step inequality of Theorem 1 (reconstructed), both routes.

    **Assumptions** used: convexity of :math:`F_{w^t} = \sum_i w_i^t f_i` (Assumption 1 and
    :math:`w^t \ge 0`) gives :math:`\langle\nabla F_{w^t}(x_t), x_t - x^\star\rangle \ge S_t`;
    interpolation (Assumption 3) makes :math:`x^\star` a minimiser of :math:`F_{w^t}` with
    :math:`F_{w^t}(x_t) - F_{w^t}(x^\star) = S_t`; co-coercivity at that minimiser with the
    smoothness :math:`\hat L_t` of :math:`F_{w^t}` gives
    :math:`\|\nabla F_{w^t}(x_t)\|^2 \le 2\hat L_t S_t` -- Route C: :math:`\hat L_t = \rho_t L`
    (the cap lemma, Assumption 2 on the average), Route J: :math:`\hat L_t = L_{\max}`
    (Jensen, Assumption 2 on every :math:`f_i`).

    **Guarantee** (any step size, any weights):

    .. math:: 2\eta(1 - \eta\hat L_t) S_t \le \|x_t - x^\star\|^2 - \|x_{t+1} - x^\star\|^2 .

    Returns a :class:`Bound` of shape (R, T) (step t maps :math:`x_t` to :math:`x_{t+1}`).
    """
    _check_full_batch(trajectory)
    return descent.one_step(trajectory, descent.per_step(L_hat, trajectory, "L_hat"))


def gd_pathwise(trajectory, L_hat) -> Bound:
    r"""The one-step inequality of :func:`gd_one_step` summed over :math:`t < k`, for every
    horizon k = 1..T (same assumptions):

    .. math:: \sum_{t<k} 2\eta(1 - \eta\hat L_t) S_t \le \|x_0 - x^\star\|^2 - \|x_k - x^\star\|^2 .
    """
    _check_full_batch(trajectory)
    return descent.pathwise(trajectory, descent.per_step(L_hat, trajectory, "L_hat"))


def gd_rate(trajectory, L_hat) -> Bound:
    r"""The rate of Theorem 1 (reconstructed), for every horizon k = 1..T.

    **Assumptions**: those of :func:`gd_one_step`, and the step size
    :math:`\eta\hat L_t \le 1/2` for every :math:`t < k` -- Route C: :math:`\eta \le
    1/(2\rho L)` with :math:`\rho \ge \max_t\rho_t` (the paper: :math:`\rho = 2`,
    :math:`\eta = 1/(4L)`); Route J: :math:`\eta \le 1/(2L_{\max})`. :math:`\Gamma =
    \min_{t<k}\Gamma_t > 0`.

    **Proof.** :math:`1 - \eta\hat L_t \ge 1/2`, so summing the one-step inequality gives
    :math:`\eta\sum_{t<k} S_t \le \|x_0 - x^\star\|^2`, and
    :math:`S_t = \Gamma_t a_t \ge \Gamma a_t`.

    **Guarantee**:

    .. math:: \frac1k\sum_{t<k} a_t \le \frac{\|x_0 - x^\star\|^2}{\eta\,\Gamma\,k},
              \quad\text{hence}\quad
              f(\bar x_k) - f^\star \le \frac{\|x_0 - x^\star\|^2}{\eta\,\Gamma\,k},
              \ \bar x_k = \frac1k\sum_{t<k} x_t

    (the second by convexity of f). Paper's constants :math:`\rho = 2, \eta = 1/(4L)`:
    :math:`4L\|x_0 - x^\star\|^2/(\Gamma k)`; uniform weights, :math:`\eta = 1/(2L)`: the classical
    :math:`2L\|x_0 - x^\star\|^2/k`.

    ``observed`` is the average gap :math:`\frac1k\sum_{t<k} a_t`; ``applicable`` marks the
    horizons where the step-size hypothesis and :math:`\Gamma > 0` hold.
    """
    _check_full_batch(trajectory)
    descent.require(trajectory, "gap")
    L_hat = descent.per_step(L_hat, trajectory, "L_hat")
    return descent.rate(trajectory, L_hat, trajectory.gap[:, :-1])


def gd_one_step_sharp(trajectory, L_hat) -> Bound:
    r"""The sharper one-step inequality of THEORY §3, both routes, **every** step size.

    **Assumptions**: those of :func:`gd_one_step`. The stronger inner-product bound
    (Nesterov 2004, Thm 2.1.5, for the convex, :math:`\hat L_t`-smooth :math:`F_{w^t}`
    minimised at :math:`x^\star`):
    :math:`\langle\nabla F_{w^t}(x_t), x_t - x^\star\rangle \ge S_t + \|\nabla F_{w^t}(x_t)\|^2/
    (2\hat L_t)`.

    **Proof.** :math:`\|x_{t+1} - x^\star\|^2 = \|x_t - x^\star\|^2 - 2\eta\langle g, x_t -
    x^\star\rangle + \eta^2\|g\|^2 \le \|x_t - x^\star\|^2 - 2\eta S_t - \eta(1/\hat L_t - \eta)
    \|g\|^2`; for :math:`\eta\hat L_t \le 1` drop the last term, beyond it use
    :math:`\|g\|^2 \le 2\hat L_t S_t`.

    **Guarantee** (any :math:`\eta > 0`, any weights):

    .. math:: 2\eta\min(1, 2 - \eta\hat L_t) S_t \le \|x_t - x^\star\|^2
              - \|x_{t+1} - x^\star\|^2 .

    It claims a decrease for every :math:`\eta < 2/\hat L_t`, where the paper's form claims
    one only for :math:`\eta < 1/\hat L_t`: steps between the two tell a right
    :math:`\hat L` from a wrong one.
    """
    _check_full_batch(trajectory)
    return descent.one_step(trajectory, descent.per_step(L_hat, trajectory, "L_hat"), "sharp")


def gd_pathwise_sharp(trajectory, L_hat) -> Bound:
    r""":func:`gd_one_step_sharp` summed over :math:`t < k`, every horizon k = 1..T:

    .. math:: \sum_{t<k} 2\eta\min(1, 2 - \eta\hat L_t) S_t \le \|x_0 - x^\star\|^2
              - \|x_k - x^\star\|^2 .
    """
    _check_full_batch(trajectory)
    return descent.pathwise(trajectory, descent.per_step(L_hat, trajectory, "L_hat"), "sharp")


def gd_rate_sharp(trajectory, L_hat) -> Bound:
    r"""THEORY §3's sharper rate, every horizon k = 1..T.

    **Assumptions**: those of :func:`gd_one_step`; :math:`\mu_k = \min_{t<k}\min(1,
    2 - \eta\hat L_t) > 0` (every :math:`\eta\hat L_t < 2`) and :math:`\Gamma = \min_{t<k}
    \Gamma_t > 0`. THEORY states it for :math:`\eta\hat L_t \le 1`, where
    :math:`\mu_k = 1`; the extension to :math:`1 < \eta\hat L_t < 2` follows from the same sum.

    **Proof.** Sum :func:`gd_one_step_sharp`: :math:`2\eta\mu_k\sum_{t<k} S_t \le
    \|x_0 - x^\star\|^2`, and :math:`S_t = \Gamma_t a_t \ge \Gamma a_t`.

    **Guarantee**:

    .. math:: \frac1k\sum_{t<k} a_t \le \frac{\|x_0 - x^\star\|^2}{2\eta\,\mu_k\,\Gamma\,k}
              \quad\Big(= \frac{\|x_0 - x^\star\|^2}{2\eta\Gamma k}\ \text{for}\
              \eta\hat L_t \le 1\Big).

    At :math:`\eta = 1/(\rho L)` (Route C) that is :math:`\rho L\|x_0 - x^\star\|^2/(2\Gamma k)`:
    the paper's :math:`\rho = 2` gives :math:`L\|x_0 - x^\star\|^2/(\Gamma k)`, four times below
    its :math:`4L\|x_0 - x^\star\|^2/(\Gamma k)`; uniform weights :math:`L\|x_0 - x^\star\|^2/(2k)`.
    ``applicable`` marks the horizons with :math:`\mu_k > 0` and :math:`\Gamma > 0`.
    """
    _check_full_batch(trajectory)
    descent.require(trajectory, "gap")
    L_hat = descent.per_step(L_hat, trajectory, "L_hat")
    return descent.rate_sharp(trajectory, L_hat, trajectory.gap[:, :-1])
