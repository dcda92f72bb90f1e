r"""Weighting schemes: how an optimiser turns the current batch's losses into weights.

A scheme is a small frozen dataclass (hashable, printable) called as
``scheme(losses, step) -> weights`` on a stack of batches (G, b), row by row, returning
weights on the simplex of each row. The optimisers of :mod:`rwtheory.convex.engine` group the runs
that share a scheme and call it once per step for the whole group.

For least squares every f_i has minimum 0, so a sample's loss is its gap to its own
minimum; under interpolation (f_i(x*) = 0) it is exactly the gap Delta_i(x) of THEORY §2.
That is why :class:`KLCapped` takes the losses as the gaps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rwtheory._array import check_in_range, check_positive_finite
from rwtheory.weights.optimal import batched_dro_kl_weights, batched_kl_capped_weights
from rwtheory.weights.pipeline import DELTA_RANGE, batched_sample_weights
from rwtheory.weights.strategies import FusedForm, StrategyRecord, get_strategy

__all__ = ["DROKL", "KLCapped", "Scheme", "Strategy"]

Temperature = float | Callable[[int], float]


def _temperature(temperature: Temperature, step: int) -> float:
    return float(temperature(step)) if callable(temperature) else float(temperature)


class Scheme:
    """Base class: ``__call__(losses (G, b), step) -> weights (G, b)`` and a ``label``."""

    label: str = "scheme"

    def __call__(self, losses: np.ndarray, step: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class Strategy(Scheme):
    """The paper's pipeline (:func:`rwtheory.sample_weights`) with a constant temperature or
    a schedule ``r(step)``, for any strategy of the registry
    (:mod:`rwtheory.weights.strategies`)."""

    strategy: str = "linupper"
    temperature: Temperature = 1.0
    delta: float = 1.0

    def __post_init__(self):
        get_strategy(self.strategy)
        check_in_range(check_positive_finite(self.delta, "delta"), "delta", *DELTA_RANGE)
        if not callable(self.temperature):
            check_positive_finite(self.temperature, "temperature")

    @property
    def record(self) -> StrategyRecord:
        """The strategy's record (looked up at use: the registry may change)."""
        return get_strategy(self.strategy)

    @property
    def label(self) -> str:
        if self.record.constant:
            return self.strategy
        r = self.temperature if not callable(self.temperature) else "sched"
        return f"{self.strategy} (r={r})"

    def __call__(self, losses, step):
        return batched_sample_weights(
            losses, self.strategy, _temperature(self.temperature, step), self.delta
        )


@dataclass(frozen=True)
class KLCapped(Scheme):
    """Proposition 1's optimum (:func:`rwtheory.kl_capped_weights`) on the losses as gaps."""

    temperature: Temperature = 1.0
    rho: float = 2.0

    @property
    def label(self) -> str:
        return f"kl_capped (r={self.temperature}, rho={self.rho:g})"

    def __call__(self, losses, step):
        return batched_kl_capped_weights(losses, _temperature(self.temperature, step), self.rho)


def _dro_kl_exponent(q, row, out):
    """(l - l_max) / tau with l = q / 2 (q = 2 x the losses, as the engine keeps them): exactly
    0 at the row's largest loss, so the form is bounded. Same softmax as
    :func:`rwtheory.weights.optimal.dro_kl_weights`, up to rounding (that one halves before
    it subtracts, for losses near the float maximum; the engine's are squared residuals of
    runs that have not diverged)."""
    np.subtract(q, row.qmax, out=out)
    out *= row.inv_r
    out *= 0.5


@dataclass(frozen=True)
class DROKL(Scheme):
    """The uncapped DRO-KL baseline, softmax(l / tau) on the raw losses. The engine weights
    its runs in the fused region with :attr:`fused` (one exp for all of them);
    ``__call__`` is the public function, for every other caller."""

    temperature: Temperature = 1.0
    fused: ClassVar[FusedForm] = FusedForm(_dro_kl_exponent, bounded=True)

    def __post_init__(self):
        if not callable(self.temperature):
            check_positive_finite(self.temperature, "temperature")

    @property
    def label(self) -> str:
        return f"dro_kl (tau={self.temperature})"

    def __call__(self, losses, step):
        return batched_dro_kl_weights(losses, _temperature(self.temperature, step))
