r"""Strategies of the LM path as data: a name, a :class:`kl_capped` object, or a callable.

The one place that turns a strategy into the weights of the global batch;
:func:`rwtheory.lm.reweighted_loss` and :class:`rwtheory.lm.SampleReweighter` both call
:func:`strategy_weights` on the gathered batch, so every form below trains through the same
cross-rank gather.

* a name of the paper's pipeline (:data:`rwtheory.STRATEGIES`: ``"uniform"``, ``"linupper"``,
  ``"quadratic"``, ``"extremes"``, ``"upper"``): :func:`rwtheory.sample_weights` (its masked,
  synchronisation-free form);
* ``"dro_kl"``: the uncapped DRO-KL baseline on raw losses, :func:`rwtheory.dro_kl_weights`
  (likewise);
* ``"kl_capped"`` or ``kl_capped(rho)``: Proposition 1's exact capped optimum
  (:func:`rwtheory.kl_capped_weights`) with the *normalised* losses as gaps,
  :math:`\Delta_i = \tilde l_i + \delta \in [0, 2\delta]` (:func:`rwtheory.normalize_losses`,
  δ = 1), temperature r and cap ρ (default 2): no weight exceeds ρ/n on any step;
* a callable ``losses -> scores``: it receives the valid samples' losses of the global batch
  (1-D float32 tensor, detached, raw -- not normalised) and returns one finite score per
  sample: a real torch tensor of the same shape (integer scores are numbers; a bool, complex,
  numpy or Python result is refused, naming the callable); the weights are the tempered
  softmax of the scores at temperature r (Eq. 4), computed in float64 for float64 scores (so
  that finite scores beyond float32's range are not refused) and returned in float32.
  ``lambda l: linupper(rw.normalize_losses(l))`` (``linupper`` from
  :mod:`rwtheory.weights.pipeline`) reproduces ``"linupper"`` exactly. A
  module-level function (or a callable object) keeps the reweighter picklable; a lambda does
  not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import torch

from rwtheory._array import check_real, check_tensor, check_user_array, describe, to_float
from rwtheory.lm.distributed import check_global_batch
from rwtheory.weights.optimal import kl_capped_weights
from rwtheory.weights.pipeline import (
    STRATEGIES,
    masked_sample_weights,
    masked_tempered_softmax,
    normalize_losses,
    tempered_softmax,
)

__all__ = [
    "LM_STRATEGIES",
    "Strategy",
    "Temperature",
    "check_strategy",
    "kl_capped",
    "strategy_weights",
]

#: Strategy names accepted by the LM path: the paper's pipeline, ``"dro_kl"`` and
#: ``"kl_capped"`` (ρ = 2; :class:`kl_capped` for another ρ).
LM_STRATEGIES: tuple[str, ...] = (*STRATEGIES, "dro_kl", "kl_capped")


@dataclass(frozen=True)
class kl_capped:  # lower case: used like a strategy name (optax style)
    r"""Proposition 1's capped weights on the normalised global batch, cap ``rho`` >= 1.

    :math:`w = \arg\max_{w \in \Delta,\, w_i \le \rho/n} \sum_i w_i \Delta_i - r\,
    \mathrm{KL}(w \,\|\, \text{uniform})` with :math:`\Delta_i = \tilde l_i + 1`, i.e.
    :math:`w_i = \min(e^{\Delta_i/r}/Z, \rho/n)`. ``rho = 1`` is uniform; ``rho >= n``
    (or ``math.inf``) is the uncapped softmax of the normalised losses."""

    rho: float = 2.0

    def __post_init__(self) -> None:
        rho = check_real(self.rho, "rho")  # TypeError for strings, arrays, complex
        if math.isnan(rho) or rho < 1:
            raise ValueError(f"rho must be a number >= 1 (math.inf: no cap), got {rho!r}")
        # a Python float (numpy or 0-d tensor input): the reweighter's configuration and
        # checkpoints hold plain data (torch.load(weights_only=True) reads them)
        object.__setattr__(self, "rho", rho)

    def __call__(self, losses: torch.Tensor, temperature: float) -> torch.Tensor:
        check_tensor(losses, "losses", 1, floating=True)  # torch only: .clamp below
        gaps = normalize_losses(losses) + 1.0
        return kl_capped_weights(gaps.clamp(min=0.0), temperature, self.rho)


#: A strategy of the LM path as :func:`check_strategy` returns it: a name, a
#: :class:`kl_capped`, or a callable ``losses -> scores``.
Strategy: TypeAlias = str | kl_capped | Callable[[torch.Tensor], torch.Tensor]
#: A temperature as the weights take it: a float, or (the compiled path of
#: :class:`rwtheory.lm.SampleReweighter`) a 0-d float64 host tensor.
Temperature: TypeAlias = float | torch.Tensor


def _names() -> tuple[str, ...]:
    """The names accepted now: the registry as it is (a strategy registered after this
    module was imported included), ``"dro_kl"`` and ``"kl_capped"``."""
    return (*STRATEGIES, "dro_kl", "kl_capped")


def check_strategy(strategy: Any) -> Strategy:
    """``strategy`` validated: a name of the strategy registry (as it is now, so a strategy
    registered after ``import rwtheory.lm`` is accepted), ``"dro_kl"`` or ``"kl_capped"``
    (which becomes ``kl_capped(2.0)``), a :class:`kl_capped`, or a callable
    ``losses -> scores``. :data:`LM_STRATEGIES` lists the names known at import."""
    if isinstance(strategy, str):
        if strategy not in _names():
            raise ValueError(
                f"strategy must be one of {sorted(_names())}, a "
                f"kl_capped(rho) or a callable losses -> scores, got {strategy!r}"
            )
        return kl_capped() if strategy == "kl_capped" else strategy
    if callable(strategy):
        return strategy
    raise ValueError(
        f"strategy must be one of {sorted(_names())}, a kl_capped(rho) or a "
        f"callable losses -> scores, got {strategy!r}"
    )


def strategy_name(strategy: Strategy) -> str:
    """A short printable name: the name itself, ``kl_capped(rho=2)``, or the callable's name."""
    if isinstance(strategy, str):
        return strategy
    if isinstance(strategy, kl_capped):
        return f"kl_capped(rho={strategy.rho:g})"
    return getattr(strategy, "__qualname__", None) or type(strategy).__name__


def _scores(fn: Callable[[torch.Tensor], Any], losses: torch.Tensor) -> torch.Tensor:
    """The callable strategy's scores of ``losses``, checked (a real tensor of their shape,
    finite; integers cast), named by the callable in the error. float64 scores stay float64
    (finite scores beyond float32's range are valid: the softmax is shift-invariant)."""
    scores = fn(losses)
    if isinstance(scores, torch.Tensor):
        scores = scores.detach()
    what = f"strategy {describe(fn)} (a callable losses -> scores)"
    scores = check_user_array(scores, what, losses)  # one host read: the values
    return scores if scores.dtype == torch.float64 else scores.float()


def strategy_weights(
    glob: torch.Tensor, gvalid: torch.Tensor, strategy: Strategy, temperature: Temperature
) -> torch.Tensor:
    """Weights of the global batch ``glob`` (1-D float32, detached) under a strategy
    validated by :func:`check_strategy`: 0 for the samples where ``gvalid`` is False, the
    others sum to 1 (all 0 when none is valid). The names are tensor ops without host
    synchronisation (:func:`rwtheory.weights.pipeline.masked_sample_weights`,
    :func:`~rwtheory.weights.pipeline.masked_tempered_softmax`); ``kl_capped`` and callables
    work on the valid samples only, selected by a boolean mask (one host synchronisation)."""
    if isinstance(strategy, str):
        if strategy == "dro_kl":
            return masked_tempered_softmax(glob, gvalid, temperature)
        return masked_sample_weights(glob, gvalid, strategy, temperature)
    x = glob[gvalid]
    full = torch.zeros_like(glob)
    if x.shape[0] == 0:
        return full
    # these two take the temperature as a Python float: a 0-d tensor (the compiled path) is
    # read here, as they would read it (rwtheory._array.check_real)
    r = to_float(temperature) if isinstance(temperature, torch.Tensor) else temperature
    if isinstance(strategy, kl_capped):
        w = strategy(x, r)
    else:
        try:
            scores = _scores(strategy, x)
        except ValueError:
            # a non-finite loss (with check=False, or read only after the weights) is named
            # before the callable it made fail; one more host read, on this error path only
            check_global_batch(glob, gvalid)
            raise
        w = tempered_softmax(scores, r)
    full[gvalid] = w.to(full.dtype)
    return full
