r"""The reweighted objective on the global batch, across data-parallel ranks (THEORY.md §1
items 4-5; paper Algorithm 1, App. A.1).

Per step:

1. the per-sample losses of every rank are gathered (detached, float32) into the global
   batch, in rank order, with their validity; ranks may hold different numbers of samples
   (:mod:`rwtheory.lm.distributed`);
2. the weights are computed once on the global batch by
   :func:`rwtheory.weights.pipeline.masked_sample_weights` (the paper's pipeline),
   :func:`~rwtheory.weights.pipeline.masked_tempered_softmax` of the raw losses (``dro_kl``),
   Proposition 1 (``kl_capped``) or a callable strategy (:mod:`rwtheory.lm.strategies`)
   -- every rank computes the same numbers from the same gathered tensor;
3. each rank keeps its slice and returns ``world_size * sum_i w_i l_i`` over its own samples.

Data-parallel training (``DistributedDataParallel``, FSDP) *averages* the ranks' gradients,
so the averaged gradient is ``sum_{i in global batch} w_i grad l_i`` -- exactly the gradient of
the single-process reweighted loss on the concatenated batch. No gradient flows through the
weights. Without an initialised process group (or with a group of one) everything is local
and the factor is 1.

**Validity.** A NaN loss means "no scored token" (what :func:`rwtheory.lm.per_sample_loss`
returns for a fully ignored sample); such a sample, and one marked ``valid=False``, gets weight
0 and is left out of the normalisation of the others. Only a global batch with no valid
sample is an error, raised on every rank at once.

**Host synchronisation.** The core (gather, weights, loss) is tensor ops on shapes known on
the host: with ``check=False`` it synchronises never on one process (under data parallelism
once, to read the local sizes for the collective) and traces under
``torch.compile(fullgraph=True)``. ``check=True`` (the default) adds one read
(:func:`read_checks`) to raise the clear errors above (no valid sample; an infinite loss),
inside the call, before any backward pass; the same read fetches the unread value checks that
the losses of :func:`rwtheory.lm.per_sample_loss` carry (:class:`rwtheory.lm.losses.LossCheck`)
-- whose error then comes from this call -- and, in :class:`rwtheory.lm.SampleReweighter`, the
step's statistics: one read per call in all. With ``check=False`` an all-invalid global batch
gives weights 0 and loss 0 (no gradient) instead of an error, and an infinite loss gives NaN
weights.
"""

from __future__ import annotations

import torch

from rwtheory._array import check_fits_dtype, check_positive_finite, check_tensor
from rwtheory.lm.distributed import (
    gather_losses,
    global_batch,
    global_batch_flags,
    raise_for_flags,
)
from rwtheory.lm.losses import LossCheck, pending_loss_check
from rwtheory.lm.strategies import LM_STRATEGIES, check_strategy, strategy_weights

__all__ = [
    "LM_STRATEGIES",
    "gather_losses",
    "read_checks",
    "reweight_core",
    "reweighted_loss",
    "weighted_sum",
]


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def _check_losses(losses):
    try:  # a dense, strided floating tensor with data (rwtheory._array)
        check_tensor(losses, "per_sample_losses", 1, floating=True)
    except ValueError:  # the only ValueError there: the rank
        raise ValueError(
            f"per_sample_losses must be 1-D (one loss per sample), got shape {tuple(losses.shape)}"
        ) from None
    # the weights are computed in float32: a finite float64 loss beyond its range is named
    check_fits_dtype(
        losses, "per_sample_losses", torch.float32, "the weights are computed in float32"
    )


def _validity(valid, losses):
    """``valid`` (optional bool tensor) and not NaN: the samples that carry weight."""
    scored = ~torch.isnan(losses.detach())
    if valid is None:
        return scored
    if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool:
        raise TypeError(
            f"valid must be a bool torch.Tensor (e.g. counts > 0), got "
            f"{getattr(valid, 'dtype', type(valid).__name__)}"
        )
    if tuple(valid.shape) != tuple(losses.shape):
        raise ValueError(
            f"valid must have the shape of per_sample_losses "
            f"{tuple(losses.shape)}, got {tuple(valid.shape)}"
        )
    if valid.device != losses.device:
        raise ValueError(
            f"valid must be on the device of per_sample_losses ({losses.device}), "
            f"got {valid.device}"
        )
    return valid & scored


#: Weights of the global batch under a validated strategy: names, ``kl_capped``, callables
#: (:func:`rwtheory.lm.strategies.strategy_weights`; the names without host synchronisation).
global_weights = strategy_weights


def weighted_sum(per_sample_losses, weights, valid, world_size: int, scale=None):
    """``world_size * sum_i w_i l_i`` over this rank's valid samples (NaN losses excluded
    by ``where``, so neither the loss nor the gradient sees them); ``scale``: an optional
    detached per-sample factor of each term (the token-count weighting of
    :class:`rwtheory.lm.SampleReweighter`)."""
    dtype = torch.promote_types(per_sample_losses.dtype, torch.float32)
    contrib = torch.where(valid, per_sample_losses.to(dtype), 0.0)
    if scale is not None:
        contrib = contrib * scale.to(dtype)
    return (weights.to(dtype) * contrib).sum() * world_size


def read_checks(pending, glob, gvalid, extra=None) -> list:
    """The one host read of ``check=True``: the flags of the unread
    :class:`~rwtheory.lm.losses.LossCheck` objects ``pending`` (None entries skipped), the
    global batch's two flags (:func:`rwtheory.lm.distributed.global_batch_flags`) and the
    optional 1-D tensor ``extra``, in one ``tolist``. Raises the losses' errors first (their
    labels or logits), then the global batch's (the same on every rank); returns the host
    copy of ``extra`` (``[]`` without it)."""
    pending = [c for c in pending if c is not None]
    parts = [c.flags for c in pending] + [global_batch_flags(glob, gvalid).double()]
    if extra is not None:
        parts.append(extra.double())
    values = torch.cat(parts).tolist()
    for k, c in enumerate(pending):
        c.raise_for(values[LossCheck.FLAGS * k : LossCheck.FLAGS * (k + 1)])
    k = LossCheck.FLAGS * len(pending)
    raise_for_flags(values[k : k + 2], glob, gvalid)
    return values[k + 2 :]


def reweight_core(per_sample_losses, strategy, temperature, group=None, valid=None, scale=None):
    """Shared core of :func:`reweighted_loss` and :class:`rwtheory.lm.SampleReweighter`:
    (loss, local weights, global weights, global losses, global validity). Validates types
    and shapes on the host, no values (the callers' :func:`read_checks`); no host read
    without a process group. ``scale``: see :func:`weighted_sum`."""
    _check_losses(per_sample_losses)
    valid = _validity(valid, per_sample_losses)
    glob, gvalid, start, world_size = global_batch(per_sample_losses, valid, group)
    if glob.shape[0] == 0:
        raise ValueError("per_sample_losses must be non-empty (the global batch has no sample)")
    w_global = global_weights(glob, gvalid, strategy, temperature)
    w_local = w_global[start : start + per_sample_losses.shape[0]]
    loss = weighted_sum(per_sample_losses, w_local, valid, world_size, scale)
    return loss, w_local, w_global, glob, gvalid


def reweighted_loss(
    per_sample_losses,
    strategy: str = "linupper",
    temperature: float = 1.0,
    group=None,
    *,
    valid=None,
    check: bool = True,
):
    r"""The reweighted objective :math:`\sum_i w_i \ell_i` on the global batch.

    Parameters
    ----------
    per_sample_losses : ``(B_local,)`` float tensor, this rank's per-sample losses (with
        autograd history), e.g. from :func:`rwtheory.lm.per_sample_loss`; NaN marks a sample
        without a scored token (weight 0).
    strategy : ``"uniform"``, ``"linupper"``, ``"quadratic"``, ``"extremes"``, ``"upper"`` (the
        paper's pipeline, :func:`rwtheory.sample_weights`), ``"dro_kl"``
        (:func:`rwtheory.dro_kl_weights` on the raw losses; ``temperature`` is its tau),
        ``"kl_capped"`` / ``kl_capped(rho)`` (Proposition 1 on the normalised losses) or a
        callable ``losses -> scores`` (see :mod:`rwtheory.lm.strategies`; these two read
        the valid samples back to the host: one synchronisation).
    temperature : r > 0, finite (the paper: 0.4 for GPT-2, 1 and 2 for Llama).
    group : process group of the data-parallel ranks (default: the world when
        ``torch.distributed`` is initialised).
    valid : optional ``(B_local,)`` bool tensor; ``False`` also gives weight 0 (not needed
        for the NaN losses of fully ignored samples).
    check : raise on a global batch without a valid sample or with an infinite loss, and
        the unread value checks of :func:`rwtheory.lm.per_sample_loss` (one host
        synchronisation for all); ``False`` skips it (see the module docstring).

    Returns
    -------
    ``(loss, weights)``: ``loss`` is ``world_size * sum_{i local} w_i l_i`` (a 0-d tensor of
    the losses' dtype, at least float32) whose data-parallel average is the single-process
    reweighted loss and whose averaged gradient is ``sum_i w_i grad l_i``; ``weights`` are
    this rank's slice of the global weights (float32, detached; they sum to 1 over all
    ranks).
    """
    strategy = check_strategy(strategy)
    temperature = check_positive_finite(temperature, "temperature")
    check = _check_bool(check, "check")
    loss, w_local, _, glob, gvalid = reweight_core(
        per_sample_losses, strategy, temperature, group, valid
    )
    if check:
        read_checks([pending_loss_check(per_sample_losses)], glob, gvalid)
    return loss, w_local


#: The validation of the core, public for :class:`rwtheory.lm.SampleReweighter` (whose
#: optimizer-step weighting scores and applies micro-batches outside the core).
check_losses = _check_losses
sample_validity = _validity
