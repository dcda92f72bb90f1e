r"""Gradient accumulation with loss-based reweighting: one optimizer step's forward and
backward passes over several micro-batches.

Two ways to normalise the weights (``SampleReweighter(weights_over=...)``):

* ``"micro_batch"`` -- what the paper's code does (its Hugging Face trainer reweights inside
  ``compute_loss``, i.e. per micro-batch): each micro-batch's global batch (all ranks) gets
  weights summing to 1 and its loss is divided by the number of micro-batches K, so the step's
  gradient is :math:`\frac1K\sum_k\sum_{i\in k} w^{(k)}_i\nabla\ell_i`. Costs nothing extra.
* ``"optimizer_step"`` -- the weights are normalised over every micro-batch of every rank in
  the step, as if the step's samples were one batch: :math:`\sum_{i\in\text{step}} w_i
  \nabla\ell_i`. The weights of the first micro-batch depend on the losses of the last, so
  they are computed by a *scoring pass*: a forward pass of every micro-batch under
  ``torch.no_grad()`` first (cost: one extra forward per micro-batch, about a third of a
  step), then the usual forward + backward passes with the weights fixed. Assumption: the
  scoring pass sees the same losses as the training pass -- exactly so without dropout (or
  in eval mode); with dropout the weights come from the scoring pass's dropout masks.

:func:`accumulate_gradients` runs either for a training loop; under
``DistributedDataParallel`` pass the wrapped model as ``ddp_model`` so that the gradients
are all-reduced once, after the last micro-batch (``no_sync`` for the others).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import torch

from rwtheory.lm.reweighter import SampleReweighter

__all__ = ["accumulate_gradients"]


def _with_counts(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    return out if isinstance(out, tuple) else (out, None)


def accumulate_gradients(
    per_sample_losses: Callable[[Any], Any],
    micro_batches: Sequence[Any],
    reweighter: SampleReweighter,
    *,
    ddp_model: torch.nn.parallel.DistributedDataParallel | None = None,
) -> torch.Tensor:
    """Forward and backward of one optimizer step over ``micro_batches``; returns the step's
    reweighted loss (a detached 0-d tensor; its data-parallel average is the step's objective).

    Parameters
    ----------
    per_sample_losses : ``batch -> (B,)`` per-sample losses with autograd history (e.g.
        ``lambda x: per_sample_loss(model(x), x)``), or ``batch -> (losses, counts)`` (e.g.
        with ``return_counts=True``; needed by the reweighter's ``token_weighting``), called
        once per micro-batch (twice with ``weights_over="optimizer_step"``: once under
        ``torch.no_grad()``).
    micro_batches : the step's micro-batches (any objects ``per_sample_losses`` accepts).
    reweighter : a :class:`SampleReweighter`; its ``weights_over`` decides the weighting.
    ddp_model : optional ``DistributedDataParallel`` model whose ``no_sync()`` defers the
        gradient all-reduce to the last micro-batch.

    The gradients are *accumulated* into ``.grad`` (zero them before, step the optimizer
    after). All micro-batches share the step's temperature.
    """
    if not isinstance(reweighter, SampleReweighter):
        raise TypeError(f"reweighter must be a SampleReweighter, got {type(reweighter).__name__}")
    batches = list(micro_batches)
    if not batches:
        raise ValueError("micro_batches must hold at least one micro-batch, got none")
    k, step = len(batches), reweighter.step
    by_step = reweighter.weights_over == "optimizer_step"
    if by_step:
        with torch.no_grad():
            for batch in batches:
                losses, counts = _with_counts(per_sample_losses(batch))
                reweighter.score(losses, counts=counts)
    total: torch.Tensor | None = None
    for i, batch in enumerate(batches):
        # the gradients are all-reduced after the last micro-batch only
        with (
            ddp_model.no_sync() if ddp_model is not None and i < k - 1 else contextlib.nullcontext()
        ):
            losses, counts = _with_counts(per_sample_losses(batch))
            loss, _ = reweighter(losses, counts=counts, step=step)
            if not by_step:
                loss = loss / k
            loss.backward()
        total = loss.detach() if total is None else total + loss.detach()
    reweighter.step = step + 1
    assert total is not None  # batches is not empty
    return total
