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

from rwtheory._array import check_callable, describe
from rwtheory.lm.reweighter import SampleReweighter

__all__ = ["accumulate_gradients"]


def _with_counts(
    out: Any, fn: Callable[[Any], Any], training: bool, token_weighting: str | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(losses, counts or None)`` from what ``fn`` returned for a micro-batch: a tensor or a
    pair ``(losses, counts)`` -- a pair with the reweighter's ``token_weighting``; in a
    training pass the losses must carry autograd history (the reweighter checks the rest:
    dtype, shape, the counts' values)."""
    if isinstance(out, tuple) and len(out) != 2:
        raise ValueError(
            f"per_sample_losses ({describe(fn)}) must return losses or (losses, counts), got "
            f"a tuple of {len(out)}"
        )
    losses, counts = out if isinstance(out, tuple) else (out, None)
    if not isinstance(losses, torch.Tensor):
        raise TypeError(
            f"per_sample_losses ({describe(fn)}) must return a torch.Tensor of per-sample "
            f"losses (or (losses, counts)), got {type(losses).__name__}"
        )
    if counts is None and token_weighting is not None:
        raise ValueError(
            f"per_sample_losses ({describe(fn)}) must return (losses, counts) with the "
            f"reweighter's token_weighting={token_weighting!r} (e.g. per_sample_loss(..., "
            f"return_counts=True)), got losses alone"
        )
    if training and not losses.requires_grad:
        raise ValueError(
            f"per_sample_losses ({describe(fn)}) must return losses with autograd history "
            f"in the training pass (requires_grad), got a tensor without"
        )
    return losses, counts


def _check_arguments(
    per_sample_losses: Any, micro_batches: Any, reweighter: Any, ddp_model: Any
) -> list[Any]:
    """The arguments checked before anything runs; the micro-batches as a list."""
    check_callable(per_sample_losses, "per_sample_losses", "a callable batch -> losses")
    if not isinstance(reweighter, SampleReweighter):
        raise TypeError(f"reweighter must be a SampleReweighter, got {type(reweighter).__name__}")
    if ddp_model is not None and not callable(getattr(ddp_model, "no_sync", None)):
        raise TypeError(
            f"ddp_model must be None or a DistributedDataParallel model (with no_sync()), got "
            f"{type(ddp_model).__name__}"
        )
    if isinstance(micro_batches, str | bytes) or not hasattr(micro_batches, "__iter__"):
        raise TypeError(
            f"micro_batches must be a sequence of micro-batches, got {type(micro_batches).__name__}"
        )
    batches = list(micro_batches)
    if not batches:
        raise ValueError("micro_batches must hold at least one micro-batch, got none")
    return batches


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

    The arguments are checked before anything runs, and what ``per_sample_losses`` returns
    before the reweighter sees it (a tensor, or a pair; with autograd history in the
    training pass). When a micro-batch fails, the reweighter is left as it was before the
    call (its step, and no scored or pending micro-batch: :meth:`SampleReweighter.discard_step`);
    the gradients of the micro-batches already done stay in ``.grad``.
    """
    batches = _check_arguments(per_sample_losses, micro_batches, reweighter, ddp_model)
    step = reweighter.step
    try:
        total = _accumulate(per_sample_losses, batches, reweighter, ddp_model, step)
    except BaseException:
        reweighter.discard_step()
        reweighter.step = step
        raise
    reweighter.step = step + 1
    return total


def _accumulate(
    fn: Callable[[Any], Any],
    batches: list[Any],
    reweighter: SampleReweighter,
    ddp_model: Any,
    step: int,
) -> torch.Tensor:
    """The step's passes (:func:`accumulate_gradients`, its arguments checked)."""
    k = len(batches)
    by_step = reweighter.weights_over == "optimizer_step"
    if by_step:
        with torch.no_grad():
            for batch in batches:
                losses, counts = _with_counts(fn(batch), fn, False, reweighter.token_weighting)
                reweighter.score(losses, counts=counts)
    total: torch.Tensor | None = None
    for i, batch in enumerate(batches):
        # the gradients are all-reduced after the last micro-batch only
        with (
            ddp_model.no_sync() if ddp_model is not None and i < k - 1 else contextlib.nullcontext()
        ):
            losses, counts = _with_counts(fn(batch), fn, True, reweighter.token_weighting)
            loss, _ = reweighter(losses, counts=counts, step=step)
            if not by_step:
                loss = loss / k
            loss.backward()
        total = loss.detach() if total is None else total + loss.detach()
    assert total is not None  # batches is not empty
    return total
