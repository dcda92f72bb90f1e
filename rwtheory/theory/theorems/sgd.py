r"""Theorem 2 (i): reweighted minibatch SGD (THEORY §4(i); paper Sec. 5, App. C.3).

**Problem.** As Theorem 1 (:mod:`.gd`): convex :math:`f_i` (Assumption 1), smooth
(Assumption 2), a common minimiser :math:`x^\star` (interpolation, Assumption 3).

**Algorithm.** At step t a batch :math:`B_t` of size b, uniform without replacement and
independent of the past; weights :math:`w^t` on the simplex of :math:`B_t` (functions of the
batch's losses at :math:`x_t`, so the reweighted gradient is *biased*);
:math:`x_{t+1} = x_t - \eta\sum_{i\in B_t} w_i^t\nabla f_i(x_t)`.
:math:`S_t = \sum_{i\in B_t} w_i^t\Delta_i(x_t)`, the batch gap
:math:`\bar\Delta_t = \frac1b\sum_{i\in B_t}\Delta_i(x_t)` with
:math:`\mathbb E[\bar\Delta_t \mid x_t] = a_t`, :math:`\Gamma_t = S_t/\bar\Delta_t`,
:math:`\rho_t = b\max_i w_i^t`.

:math:`\hat L_t` (:func:`rwtheory.theory.theorems.effective_smoothness`): Route C
:math:`\rho_t L_{B_t}` with :math:`L_{B_t}` the smoothness of :math:`f_{B_t} = \frac1b
\sum_{i\in B_t} f_i` (at most :math:`L_b`, the maximum over batches), Route J :math:`L_{\max}`.

The sharper forms of THEORY §3 carry over unchanged (the proof is pathwise, for one batch's
weighted objective): :func:`sgd_one_step_sharp`, :func:`sgd_pathwise_sharp`,
:func:`sgd_rate_sharp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rwtheory.theory.theorems import descent
from rwtheory.theory.theorems.bound import Bound

__all__ = [
    "EXCEEDS_STDERRS",
    "MonteCarloBound",
    "sgd_one_step",
    "sgd_one_step_sharp",
    "sgd_pathwise",
    "sgd_pathwise_sharp",
    "sgd_rate",
    "sgd_rate_in_expectation",
    "sgd_rate_sharp",
]


#: How many standard errors a Monte Carlo mean must exceed its bound by to count as evidence
#: against it (:meth:`MonteCarloBound.exceeds`; the in-expectation rows of Theorems 2 and 4).
#: Under the normal approximation a horizon whose expectation meets the bound exceeds it by
#: 3 s.e. with probability 0.13 %; the s.e. comes from 8-64 paths, so the real tail is
#: heavier, and fewer s.e. would turn sampling noise into "fails".
EXCEEDS_STDERRS = 3.0


@dataclass(frozen=True)
class MonteCarloBound(Bound):
    """A bound on an expectation: ``observed`` is the mean over sampled paths and
    ``stderr`` its standard error; a violation is only meaningful beyond a few stderr."""

    stderr: np.ndarray = None  # type: ignore[assignment]  # every construction passes stderr

    def exceeds(self, stderrs: float = EXCEEDS_STDERRS) -> np.ndarray:
        """Boolean mask of the horizons where the hypotheses hold, the bound is finite and
        the mean is above it by more than ``stderrs`` standard errors."""
        # Mutation note: dtype=None for bool in asarray is equivalent (applicable is boolean).
        return (
            np.asarray(self.applicable, bool)
            & np.isfinite(self.bound)
            & (self.observed > self.bound + stderrs * self.stderr)
        )


def sgd_one_step(trajectory, L_hat) -> Bound:
    r"""Pathwise one-step inequality of Theorem 2 (i) (reconstructed), both routes.

    **Assumptions** used: convexity of :math:`F_{w^t} = \sum_{i\in B_t} w_i^t f_i`
    (Assumption 1), :math:`x^\star` minimises it (Assumption 3) with gap :math:`S_t`, and
    co-coercivity with its smoothness :math:`\hat L_t` (Assumption 2; Route C through the
    cap lemma :math:`w_i^t \le \rho_t/b`, Route J through Jensen). No expectation is taken:
    it holds on every path, whatever the batch and the (biased) weights.

    **Guarantee** (any step size):

    .. math:: 2\eta(1 - \eta\hat L_t) S_t \le \|x_t - x^\star\|^2 - \|x_{t+1} - x^\star\|^2 .
    """
    return descent.one_step(trajectory, descent.per_step(L_hat, trajectory, "L_hat"))


def sgd_pathwise(trajectory, L_hat) -> Bound:
    r""":func:`sgd_one_step` summed over :math:`t < k`, every horizon k = 1..T:

    .. math:: \sum_{t<k} 2\eta(1 - \eta\hat L_t) S_t \le \|x_0 - x^\star\|^2 - \|x_k - x^\star\|^2 .
    """
    return descent.pathwise(trajectory, descent.per_step(L_hat, trajectory, "L_hat"))


def sgd_rate(trajectory, L_hat) -> Bound:
    r"""The pathwise form of Theorem 2 (i)'s rate, every horizon k = 1..T.

    **Assumptions**: those of :func:`sgd_one_step`; :math:`\eta\hat L_t \le 1/2` for
    :math:`t < k` (Route C: :math:`\eta \le 1/(2\rho L_b)`; Route J: :math:`\eta \le
    1/(2L_{\max})`); :math:`\Gamma = \min_{t<k}\Gamma_t > 0` on this path.

    **Guarantee** (on every path):

    .. math:: \frac1k\sum_{t<k}\bar\Delta_t \le \frac{\|x_0 - x^\star\|^2}{\eta\,\Gamma\,k}.

    Taking expectations (:math:`\mathbb E\bar\Delta_t = \mathbb E a_t` because :math:`B_t` is
    independent of :math:`x_t`) with :math:`\Gamma` a lower bound valid on every path gives
    THEORY's :math:`\mathbb E[f(\bar x_k) - f^\star] \le \|x_0 - x^\star\|^2/(\eta\Gamma k)`; see
    :func:`sgd_rate_in_expectation`.
    """
    descent.require(trajectory, "batch_gap")
    L_hat = descent.per_step(L_hat, trajectory, "L_hat")
    return descent.rate(trajectory, L_hat, trajectory.batch_gap)


def sgd_rate_in_expectation(trajectory, L_hat) -> MonteCarloBound:
    r"""Theorem 2 (i)'s rate in expectation, estimated by Monte Carlo over the runs.

    ``trajectory`` holds K runs on the *same* problem, step size and start, with
    independent batch streams (different seeds). **Assumptions**: those of
    :func:`sgd_rate` on every run, :math:`\Gamma = \min` over all runs and :math:`t < k`.

    **Guarantee**: :math:`\mathbb E[\frac1k\sum_{t<k} a_t] \le \|x_0 - x^\star\|^2/(\eta\Gamma k)`.
    ``observed`` is the mean over the K runs (shape (T,)), ``stderr`` its standard error.

    **Applicability is judged on the K realised paths only.** The expectation is over every
    batch stream, so the step-size hypothesis must hold for every batch that can be drawn
    (choose eta from an a-priori bound, e.g. 1/(2 rho max_i L_i) as
    :func:`rwtheory.theory.randomised.expectation_checks` does). Where a rare batch breaks it,
    the paths that happen not to draw it are a biased sample -- their batch gaps avoid the
    rare sample while a_t counts it -- and the estimate can exceed the bound on "applicable"
    horizons (tests/theory/test_theorem_inputs.py::
    test_a_run_that_diverges_later_keeps_the_early_horizons: 1.8e6 against a bound below it).
    """
    descent.require(trajectory, "gap", "gamma", "dist2")
    L_hat = descent.per_step(L_hat, trajectory, "L_hat")
    d0, eta = trajectory.dist2[:, 0], trajectory.lr
    if trajectory.runs < 2 or not (
        np.allclose(d0, d0[0], rtol=1e-12, atol=0.0) and np.all(eta == eta[0])
    ):
        raise ValueError("trajectory must hold >= 2 runs of one problem, step size and start")
    # (Mutation notes: d0 is equal across runs to 1e-12 relative and eta exactly, checked
    # above, so d0[1] / eta[1] for d0[0] / eta[0], here and in that check, are equivalent
    # mutants. np.all(isfinite(avg)) over every axis instead of per horizon is equivalent:
    # a non-finite average comes from a run that diverged, i.e. whose constant step breaks
    # the step-size hypothesis, which per_run.applicable already marks at every horizon.
    # Dropping a field of require(...) or errstate's argument: see descent.require and the
    # errstate note in descent.py.)
    per_run = descent.rate(trajectory, L_hat, trajectory.gap[:, :-1])
    T = trajectory.steps
    k = np.arange(1, T + 1)
    avg = per_run.observed
    gamma = np.min(np.minimum.accumulate(trajectory.gamma, axis=1), axis=0)
    with np.errstate(divide="ignore"):
        bound = d0[0] / (eta[0] * gamma * k)
    applicable = np.all(per_run.applicable, axis=0) & np.all(np.isfinite(avg), axis=0)
    observed = avg.mean(axis=0)
    stderr = avg.std(axis=0, ddof=1) / np.sqrt(avg.shape[0])
    return MonteCarloBound(observed, bound, np.abs(bound), applicable, stderr=stderr)


def sgd_one_step_sharp(trajectory, L_hat) -> Bound:
    r"""The sharper pathwise one-step inequality (THEORY §3 applied to the batch's weighted
    objective :math:`F_{w^t} = \sum_{i\in B_t} w_i^t f_i`, convex, :math:`\hat L_t`-smooth,
    minimised at :math:`x^\star`; proof as :func:`rwtheory.theory.theorems.gd_one_step_sharp`).

    **Guarantee** (any step size, on every path):

    .. math:: 2\eta\min(1, 2 - \eta\hat L_t) S_t \le \|x_t - x^\star\|^2
              - \|x_{t+1} - x^\star\|^2 .
    """
    return descent.one_step(trajectory, descent.per_step(L_hat, trajectory, "L_hat"), "sharp")


def sgd_pathwise_sharp(trajectory, L_hat) -> Bound:
    r""":func:`sgd_one_step_sharp` summed over :math:`t < k`, every horizon k = 1..T."""
    return descent.pathwise(trajectory, descent.per_step(L_hat, trajectory, "L_hat"), "sharp")


def sgd_rate_sharp(trajectory, L_hat) -> Bound:
    r"""The sharper pathwise rate, every horizon k = 1..T.

    **Assumptions**: those of :func:`sgd_one_step`; :math:`\mu_k = \min_{t<k}\min(1, 2 -
    \eta\hat L_t) > 0`; :math:`\Gamma = \min_{t<k}\Gamma_t > 0` on this path.

    **Guarantee** (on every path; in expectation as in :func:`sgd_rate`):

    .. math:: \frac1k\sum_{t<k}\bar\Delta_t \le \frac{\|x_0 - x^\star\|^2}{2\eta\,\mu_k\,
              \Gamma\,k}\quad(\mu_k = 1\ \text{for}\ \eta \le 1/(\rho L_b)\ \text{(C)
              or}\ 1/L_{\max}\ \text{(J)}).
    """
    descent.require(trajectory, "batch_gap")
    L_hat = descent.per_step(L_hat, trajectory, "L_hat")
    return descent.rate_sharp(trajectory, L_hat, trajectory.batch_gap)
