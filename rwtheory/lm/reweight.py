r"""The reweighted objective on the global batch, across data-parallel ranks (THEORY.md §1
items 4-5; paper Algorithm 1, App. A.1).

Per step:

1. the per-sample losses of every rank are gathered (detached, float32) into the global
   batch, in rank order; ranks may hold different numbers of samples;
2. the weights are computed once on the global batch by :mod:`rwtheory.weights.pipeline`
   (``sample_weights``) or :mod:`rwtheory.weights.optimal` (``dro_kl_weights``) -- every rank
   computes the same numbers from the same gathered tensor;
3. each rank keeps its slice and returns ``world_size * sum_i w_i l_i`` over its own samples.

Data-parallel training (``DistributedDataParallel``, FSDP) *averages* the ranks' gradients,
so the averaged gradient is ``sum_{i in global batch} w_i grad l_i`` -- exactly the gradient of
the single-process reweighted loss on the concatenated batch. No gradient flows through the
weights. Without an initialised process group (or with a group of one) everything is local
and the factor is 1.

Samples without a scored token (``valid=False``, see :mod:`rwtheory.lm.losses`) get weight 0
and are left out of the weighting, so they do not shift the normalisation of the others.
"""

from __future__ import annotations


import torch
import torch.distributed as dist

from rwtheory._array import check_positive_finite
from rwtheory.lm.strategies import LM_STRATEGIES, check_strategy, strategy_weights

__all__ = [
    "LM_STRATEGIES",
    "gather_losses",
    "reweight_global_batch",
    "reweighted_loss",
]

def _check_losses(losses):
    if not isinstance(losses, torch.Tensor):
        raise TypeError(f"per_sample_losses must be a torch.Tensor, got {type(losses).__name__}")
    if not losses.is_floating_point():
        raise TypeError(f"per_sample_losses must have a floating dtype, got {losses.dtype}")
    if losses.ndim != 1:
        raise ValueError(f"per_sample_losses must be 1-D (one loss per sample), got shape "
                         f"{tuple(losses.shape)}")


def _check_valid(valid, losses):
    if valid is None:
        return torch.ones(losses.shape, dtype=torch.bool, device=losses.device)
    if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool:
        raise TypeError(f"valid must be a bool torch.Tensor (e.g. counts > 0), got "
                        f"{getattr(valid, 'dtype', type(valid).__name__)}")
    if tuple(valid.shape) != tuple(losses.shape):
        raise ValueError(f"valid must have the shape of per_sample_losses "
                         f"{tuple(losses.shape)}, got {tuple(valid.shape)}")
    if valid.device != losses.device:
        raise ValueError(f"valid must be on the device of per_sample_losses ({losses.device}), "
                         f"got {valid.device}")
    return valid


def _world(group) -> tuple[int, int]:
    """(rank, world size) in ``group``; (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


def gather_losses(local, group=None):
    """All ranks' ``local`` tensors concatenated along dim 0 in rank order, and this rank's
    offset.

    Returns ``(global, start)`` with ``global[start:start + len(local)]`` equal to ``local``.
    Ranks may hold different lengths along dim 0 (the tensors are padded to the longest for the
    collective); the other dimensions and the dtype must agree. Works on any backend whose
    ``all_gather`` supports the tensor's device (gloo: CPU; NCCL: CUDA). Without an
    initialised process group, returns ``(local, 0)``. The result carries no autograd history.
    """
    local = local.detach()
    rank, world = _world(group)
    if world == 1:
        return local, 0
    size = torch.tensor([local.shape[0]], dtype=torch.int64, device=local.device)
    sizes = [torch.empty_like(size) for _ in range(world)]
    dist.all_gather(sizes, size, group=group)
    sizes = [int(s) for s in sizes]
    longest = max(sizes)
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded, group=group)
    glob = torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])
    return glob, sum(sizes[:rank])


def _global_batch(losses, valid, group):
    """Gathered float32 losses and validity (one collective), this rank's offset, world size."""
    _, world = _world(group)
    local = torch.stack([losses.detach().float(), valid.float()], dim=1)
    glob, start = gather_losses(local, group) if world > 1 else (local, 0)
    return glob[:, 0], glob[:, 1] > 0.5, start, world


def _weights(glob, gvalid, strategy, temperature: float):
    """Weights of the global batch (float32; 0 for invalid samples)."""
    finite = torch.isfinite(glob)
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0, 0])
        raise ValueError(f"per_sample_losses must be finite, got {float(glob[i])} at index {i} "
                         f"of the global batch")
    n = int(gvalid.sum())
    if n == 0:
        if glob.shape[0] == 0:
            raise ValueError("per_sample_losses must be non-empty (the global batch has no "
                             "sample)")
        raise ValueError("valid: every sample of the global batch is marked invalid (no "
                         "scored token); at least one sample must carry weight")
    x = glob if n == glob.shape[0] else glob[gvalid]
    w = strategy_weights(x, strategy, temperature)  # names, kl_capped, callables
    if n == glob.shape[0]:
        return w
    full = torch.zeros_like(glob)
    full[gvalid] = w
    return full


def reweight_global_batch(per_sample_losses, strategy, temperature, group=None, valid=None,
                          scale=None):
    """The shared core of :func:`reweighted_loss` and :class:`rwtheory.lm.SampleReweighter`:
    ``(loss, local weights, global weights, global losses, global validity)``.

    ``scale``: optional ``(B_local,)`` detached factor multiplying each local sample's term of
    the loss (the token-count weighting of :class:`rwtheory.lm.SampleReweighter`)."""
    _check_losses(per_sample_losses)
    strategy = check_strategy(strategy)
    temperature = check_positive_finite(temperature, "temperature")
    valid = _check_valid(valid, per_sample_losses)
    glob, gvalid, start, world = _global_batch(per_sample_losses, valid, group)
    w_global = _weights(glob, gvalid, strategy, temperature)
    w_local = w_global[start:start + per_sample_losses.shape[0]]
    dtype = torch.promote_types(per_sample_losses.dtype, torch.float32)
    contrib = torch.where(valid, per_sample_losses.to(dtype), 0.0)
    if scale is not None:
        contrib = contrib * scale.to(dtype)
    loss = (w_local.to(dtype) * contrib).sum() * world
    return loss, w_local, w_global, glob, gvalid


def reweighted_loss(per_sample_losses, strategy: str = "linupper", temperature: float = 1.0,
                    group=None, *, valid=None):
    r"""The reweighted objective :math:`\sum_i w_i \ell_i` on the global batch.

    Parameters
    ----------
    per_sample_losses : ``(B_local,)`` float tensor, this rank's per-sample losses (with
        autograd history), e.g. from :func:`rwtheory.lm.per_sample_loss`.
    strategy : ``"uniform"``, ``"linupper"``, ``"quadratic"``, ``"extremes"``, ``"upper"`` (the
        paper's pipeline, :func:`rwtheory.sample_weights`), ``"dro_kl"``
        (:func:`rwtheory.dro_kl_weights` on the raw losses; ``temperature`` is its tau),
        ``"kl_capped"`` / ``kl_capped(rho)`` (Proposition 1 on the normalised losses) or a
        callable ``losses -> scores`` (see :mod:`rwtheory.lm.strategies`).
    temperature : r > 0, finite (the paper: 0.4 for GPT-2, 1 and 2 for Llama).
    group : process group of the data-parallel ranks (default: the world when
        ``torch.distributed`` is initialised).
    valid : optional ``(B_local,)`` bool tensor; ``False`` marks a sample without a scored
        token (``counts > 0`` from ``per_sample_loss(..., return_counts=True)``): weight 0.

    Returns
    -------
    ``(loss, weights)``: ``loss`` is ``world_size * sum_{i local} w_i l_i`` (a 0-d tensor of
    the losses' dtype, at least float32) whose data-parallel average is the single-process
    reweighted loss and whose averaged gradient is ``sum_i w_i grad l_i``; ``weights`` are
    this rank's slice of the global weights (float32, detached; they sum to 1 over all
    ranks).

    The weights are computed in float32 on the detached global batch; every rank computes
    the same. Raises ``ValueError`` naming ``per_sample_losses`` for NaN or infinite losses
    (on every rank: the check runs on the gathered batch) or an empty global batch.
    """
    loss, w_local, *_ = reweight_global_batch(per_sample_losses, strategy, temperature,
                                             group, valid)
    return loss, w_local
