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

from rwtheory._array import (
    InputTypeError,
    InputValueError,
    call_user_scalar,
    check_in_range,
    check_positive_finite,
    describe,
)
from rwtheory.weights.optimal import (
    batched_dro_kl_weights,
    batched_kl_capped_weights,
    check_rho,
)
from rwtheory.weights.pipeline import DELTA_RANGE, batched_sample_weights
from rwtheory.weights.strategies import FusedForm, StrategyRecord, get_strategy

__all__ = [
    "DROKL",
    "SIMPLEX_TOL",
    "TRUSTED_SCHEMES",
    "KLCapped",
    "Scheme",
    "Strategy",
    "check_scheme_weights",
    "scheme_weights",
    "temperature_at",
]

Temperature = float | Callable[[int], float]

#: How far from 1 the row sums of a user's scheme's weights may be. The engines use a
#: scheme's weights as they are (no renormalisation: the step would silently scale), so a
#: scheme must return points of the simplex; 1e-6 leaves room for weights computed in float32
#: or by an iterative solver.
SIMPLEX_TOL = 1e-6


def temperature_at(temperature: Temperature, step: int) -> float:
    """The temperature at ``step``: the number itself, or a schedule's value ``r(step)``,
    which must be a finite number > 0 (else an error naming the schedule and the step)."""
    if callable(temperature):
        return call_user_scalar(temperature, step, f"temperature ({describe(temperature)})")
    return float(temperature)


def _check_temperature(temperature) -> None:
    if not callable(temperature):
        check_positive_finite(temperature, "temperature")


class Scheme:
    """Base class: ``__call__(losses (G, b), step) -> weights (G, b)`` and a ``label``: a
    subclass overrides the property or sets ``label = "..."`` as a class attribute."""

    @property
    def label(self) -> str:
        """The scheme's name in trajectories, tables and legends (read-only: the schemes
        compute theirs from their fields)."""
        return "scheme"

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
        _check_temperature(self.temperature)

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
            losses, self.strategy, temperature_at(self.temperature, step), self.delta
        )


@dataclass(frozen=True)
class KLCapped(Scheme):
    """Proposition 1's optimum (:func:`rwtheory.kl_capped_weights`) on the losses as gaps.
    ``temperature`` a number > 0 or a schedule ``r(step)``; ``rho`` >= 1 (``math.inf``: no
    cap)."""

    temperature: Temperature = 1.0
    rho: float = 2.0

    def __post_init__(self):
        _check_temperature(self.temperature)
        check_rho(self.rho)

    @property
    def label(self) -> str:
        return f"kl_capped (r={self.temperature}, rho={self.rho:g})"

    def __call__(self, losses, step):
        return batched_kl_capped_weights(losses, temperature_at(self.temperature, step), self.rho)


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

    # a scheme's protocol (checked fields, label, __call__): every scheme has this shape by design
    def __post_init__(self):
        _check_temperature(self.temperature)

    @property
    def label(self) -> str:
        return f"dro_kl (tau={self.temperature})"

    def __call__(self, losses, step):
        return batched_dro_kl_weights(losses, temperature_at(self.temperature, step))


# ---------------------------------------------------------------------- a scheme's output
def scheme_weights(scheme: Scheme, losses: np.ndarray, step: int) -> np.ndarray:
    """``scheme(losses, step)``, the weights of a (G, b) stack of batches. The package's own
    schemes (this module's and :mod:`rwtheory.convex.adversaries`, not subclasses of them)
    return validated weights; any other scheme's are checked by
    :func:`check_scheme_weights`. Used by both engines and the reference loop."""
    w = scheme(losses, step)
    if type(scheme) in TRUSTED_SCHEMES:
        return w
    return check_scheme_weights(w, scheme, np.shape(losses), step)


#: The package's own schemes, whose weights need no checking (exact classes: a subclass may
#: override ``__call__``); :mod:`rwtheory.convex.adversaries` adds its own.
TRUSTED_SCHEMES: set[type] = {Strategy, KLCapped, DROKL}


def check_scheme_weights(w, scheme: Scheme, shape: tuple, step: int) -> np.ndarray:
    """``w`` if it is a float numpy array of ``shape`` whose rows are points of the simplex:
    finite, >= 0, each summing to 1 within :data:`SIMPLEX_TOL`; else an error naming the
    scheme (its class), the step and the first offending entry. Two reductions when the
    weights are good."""
    if type(w) is np.ndarray and w.shape == shape and w.dtype.kind == "f":  # two reductions
        sums = np.add.reduce(w, axis=-1)
        sums -= 1
        if w.min() >= 0 and np.abs(sums, out=sums).max() <= SIMPLEX_TOL:
            return w
    what = f"the weights of scheme {describe(scheme)} at step {step}"
    if not isinstance(w, np.ndarray):
        raise InputTypeError(
            f"{what} must be a numpy array of shape {shape}, got {type(w).__name__}"
        )
    if w.shape != tuple(shape):
        raise InputValueError(
            f"{what} must have the losses' shape {tuple(shape)} (one weight per sample), "
            f"got {w.shape}"
        )
    if w.dtype.kind not in "fiu":
        raise InputTypeError(f"{what} must be real numbers, got dtype {w.dtype}")
    sums = np.add.reduce(w, axis=-1)
    if np.min(w) >= 0 and np.all(np.abs(sums - 1) <= SIMPLEX_TOL):
        return w
    bad = ~np.isfinite(w)
    if bad.any():
        at = tuple(np.argwhere(bad)[0].tolist())
        raise InputValueError(f"{what} must be finite, got {float(w[at])} at index {at}")
    if np.min(w) < 0:
        at = tuple(np.argwhere(w < 0)[0].tolist())
        raise InputValueError(f"{what} must be >= 0, got {float(w[at])!r} at index {at}")
    row = int(np.argmax(np.abs(sums - 1)))
    raise InputValueError(
        f"{what} must sum to 1 in every row (within {SIMPLEX_TOL:g}), got {float(sums[row])!r} "
        f"in row {row}"
    )
