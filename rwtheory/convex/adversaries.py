r"""Adversarial weighting schemes for the randomised verification of Theorems 1-2.

The theorems' one-step and pathwise inequalities hold for *any* weights on the simplex; the
rates need only :math:`\Gamma_t \ge \Gamma` and :math:`\rho_t \le \rho`. These schemes put
weight where the paper's strategies never would, to probe the inequalities away from the
friendly cases:

* :class:`DirichletWeights`: random points of the simplex (uncapped; small concentrations
  give :math:`\rho_t` close to b);
* :class:`SmallestGaps`: the cap filled from the *smallest* losses -- the minimiser of
  :math:`\Gamma_t` under :math:`\rho_t \le \rho`, so :math:`\Gamma_t \le 1`;
* :class:`RandomCapped`: random weights within the cap (Proposition 1's water-filling
  applied to random scores);
* :class:`AlternatingCap`: uniform weights on even steps, the cap filled from the *largest*
  losses on odd steps -- :math:`\rho_t` jumps between 1 and :math:`\rho` at every step, the
  case that separates the heavy-ball carry-over bound :math:`S'_{t+1} \le \rho_{t+1}a_t` from
  :math:`\rho_t a_t` or :math:`\Gamma_t a_t`.

The random schemes draw from ``numpy.random.default_rng([seed, step])`` and give every row of
a call the same weights: they ignore the losses' values, so a run gets the same weights alone
or batched with others, and in :func:`rwtheory.convex.reference.run_reference`. (An earlier
version seeded each row by a hash of its loss bytes: the last-bit differences between a run
computed alone and batched then gave it entirely different draws.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rwtheory._array import as_float64_data, check_int, check_number, check_positive_finite
from rwtheory.convex.schemes import TRUSTED_SCHEMES, Scheme
from rwtheory.weights.optimal import batched_kl_capped_weights

__all__ = ["AlternatingCap", "DirichletWeights", "RandomCapped", "SmallestGaps"]


def _every_row(losses: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weights ``w`` (b,) for every row of ``losses`` (G, b)."""
    return np.broadcast_to(w, np.shape(losses)).copy()


def _check_rho(rho: float) -> float:
    return check_number(rho, "rho", low=1.0)


def _check_seed(seed) -> int:
    """numpy's generators take integer seeds >= 0 only."""
    return check_int(seed, "seed", minimum=0)


@dataclass(frozen=True)
class DirichletWeights(Scheme):
    """Weights drawn from a symmetric Dirichlet(``concentration``) at every step, ignoring
    the losses. Uncapped: :math:`\\rho_t` can approach the batch size."""

    seed: int = 0
    concentration: float = 1.0

    # a scheme's protocol (checked fields, label, __call__): every scheme has this shape by design
    def __post_init__(self):
        _check_seed(self.seed)
        check_positive_finite(self.concentration, "concentration")

    @property
    def label(self) -> str:
        return f"dirichlet (alpha={self.concentration:g}, seed={self.seed})"

    def __call__(self, losses, step):
        alpha = np.full(np.shape(losses)[-1], float(self.concentration))
        w = np.random.default_rng([self.seed, step]).dirichlet(alpha)
        return _every_row(losses, w / w.sum())


def capped_lowest_first(losses: np.ndarray, rho: float) -> np.ndarray:
    """rho/b on the floor(b/rho) smallest losses of every row, the remainder on the next one
    (ties broken by position): the minimiser of sum_i w_i l_i over the capped simplex."""
    rho = _check_rho(rho)
    losses = as_float64_data(losses, "losses", ("G", "b"))
    G, b = losses.shape
    cap = min(rho / b, 1.0)
    order = np.argsort(losses, axis=-1, kind="stable")
    k = int(np.floor(1 / cap + 1e-12))
    sorted_w = np.zeros(b)
    sorted_w[: min(k, b)] = cap
    if k < b:
        sorted_w[k] = max(0.0, 1 - k * cap)
    w = np.empty((G, b))
    np.put_along_axis(w, order, np.broadcast_to(sorted_w, (G, b)), axis=-1)
    return w


@dataclass(frozen=True)
class SmallestGaps(Scheme):
    """All the weight the cap allows on the smallest losses (for least squares under
    interpolation, the smallest gaps): the worst :math:`\\Gamma_t` at :math:`\\rho_t \\le \\rho`."""

    rho: float = 2.0

    # a scheme's protocol (checked fields, label, __call__): every scheme has this shape by design
    def __post_init__(self):
        _check_rho(self.rho)

    @property
    def label(self) -> str:
        return f"smallest_gaps (rho={self.rho:g})"

    def __call__(self, losses, step):
        return capped_lowest_first(losses, self.rho)


@dataclass(frozen=True)
class RandomCapped(Scheme):
    """Random weights within the cap: Proposition 1's capped softmax of uniform random
    scores in [0, 1) at temperature ``temperature`` (small: close to the cap's vertices)."""

    seed: int = 0
    rho: float = 2.0
    temperature: float = 0.1

    # a scheme's protocol (checked fields, label, __call__): every scheme has this shape by design
    def __post_init__(self):
        _check_seed(self.seed)
        _check_rho(self.rho)
        check_positive_finite(self.temperature, "temperature")

    @property
    def label(self) -> str:
        return f"random_capped (rho={self.rho:g}, r={self.temperature:g}, seed={self.seed})"

    def __call__(self, losses, step):
        scores = np.random.default_rng([self.seed, step]).random(np.shape(losses)[-1])
        return _every_row(
            losses, batched_kl_capped_weights(scores[None], self.temperature, self.rho)[0]
        )


@dataclass(frozen=True)
class AlternatingCap(Scheme):
    r"""Uniform weights at even steps; at odd steps all the weight the cap allows on the
    largest losses (:func:`capped_lowest_first` of the negated losses). So
    :math:`\rho_t = 1` and :math:`\Gamma_t = 1` at even t, :math:`\rho_{t+1} = \rho` on the
    samples that had the largest gaps at :math:`x_t` (the losses at :math:`x_{t+1}` are ranked
    like those at :math:`x_t` for small steps)."""

    rho: float = 2.0

    # a scheme's protocol (checked fields, label, __call__): every scheme has this shape by design
    def __post_init__(self):
        _check_rho(self.rho)

    @property
    def label(self) -> str:
        return f"alternating_cap (rho={self.rho:g})"

    def __call__(self, losses, step):
        losses = as_float64_data(losses, "losses", ("G", "b"))
        if step % 2 == 0:
            return np.full(losses.shape, 1.0 / losses.shape[-1])
        return capped_lowest_first(-losses, self.rho)


TRUSTED_SCHEMES.update({DirichletWeights, SmallestGaps, RandomCapped, AlternatingCap})
