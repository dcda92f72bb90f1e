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

import numbers
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist

from rwtheory._array import check_fits_dtype, check_positive_finite, check_tensor
from rwtheory.weights.optimal import dro_kl_weights
from rwtheory.weights.pipeline import STRATEGIES, sample_weights

__all__ = [
    "LM_STRATEGIES",
    "ReweightStats",
    "SampleReweighter",
    "gather_losses",
    "reweighted_loss",
]

#: Strategies accepted here: the paper's pipeline (:data:`rwtheory.STRATEGIES`) and the
#: uncapped DRO-KL baseline on raw losses (``"dro_kl"``, :func:`rwtheory.dro_kl_weights`).
LM_STRATEGIES: tuple[str, ...] = (*STRATEGIES, "dro_kl")


def _check_strategy(strategy) -> str:
    if not isinstance(strategy, str) or strategy not in LM_STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(LM_STRATEGIES)}, got {strategy!r}")
    return strategy


def _check_losses(losses):
    try:  # a dense, strided floating tensor with data (rwtheory._array)
        check_tensor(losses, "per_sample_losses", 1, floating=True)
    except ValueError:  # the only ValueError there: the rank
        raise ValueError(f"per_sample_losses must be 1-D (one loss per sample), got shape "
                         f"{tuple(losses.shape)}") from None
    # the weights are computed in float32: a finite float64 loss beyond its range is named
    check_fits_dtype(losses, "per_sample_losses", torch.float32,
                     "the weights are computed in float32")


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


def _weights(glob, gvalid, strategy: str, temperature: float):
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
    if strategy == "dro_kl":
        w = dro_kl_weights(x, temperature)
    else:
        w = sample_weights(x, strategy, temperature)
    if n == glob.shape[0]:
        return w
    full = torch.zeros_like(glob)
    full[gvalid] = w
    return full


def _reweight(per_sample_losses, strategy, temperature, group, valid):
    """Shared core: (loss, local weights, global weights, global losses, global validity)."""
    _check_losses(per_sample_losses)
    strategy = _check_strategy(strategy)
    temperature = check_positive_finite(temperature, "temperature")
    valid = _check_valid(valid, per_sample_losses)
    glob, gvalid, start, world = _global_batch(per_sample_losses, valid, group)
    w_global = _weights(glob, gvalid, strategy, temperature)
    w_local = w_global[start:start + per_sample_losses.shape[0]]
    dtype = torch.promote_types(per_sample_losses.dtype, torch.float32)
    contrib = torch.where(valid, per_sample_losses.to(dtype), 0.0)
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
        paper's pipeline, :func:`rwtheory.sample_weights`) or ``"dro_kl"``
        (:func:`rwtheory.dro_kl_weights` on the raw losses; ``temperature`` is its tau).
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
    loss, w_local, *_ = _reweight(per_sample_losses, strategy, temperature, group, valid)
    return loss, w_local


# ------------------------------------------------------------------------- the stateful part
@dataclass(frozen=True)
class ReweightStats:
    """What one reweighting step did, on the global batch (Python floats).

    ``n`` counts the samples that carry weight; ``rho = n * max_weight`` (THEORY §2; the
    paper's cap is rho <= 2, i.e. no weight above 2/n); ``entropy`` is
    :math:`-\\sum_i w_i \\log w_i` in nats (``log n`` for uniform weights); ``loss_spread`` and
    ``loss_mean`` describe the weighted samples' losses (spread = max - min, the quantity the
    normalisation divides by)."""

    step: int
    temperature: float
    n: int
    max_weight: float
    rho: float
    entropy: float
    loss_spread: float
    loss_mean: float

    def as_dict(self) -> dict:
        return asdict(self)


def _stats(step, temperature, w, glob, gvalid) -> ReweightStats:
    wv, lv = w[gvalid], glob[gvalid]
    n = int(wv.shape[0])
    ent = -torch.xlogy(wv, wv).sum()
    mx, lmax, lmin, lmean = (float(v) for v in torch.stack(
        [wv.max(), lv.max(), lv.min(), lv.mean()]).tolist())
    return ReweightStats(step=step, temperature=float(temperature), n=n, max_weight=mx,
                         rho=n * mx, entropy=float(ent), loss_spread=lmax - lmin,
                         loss_mean=lmean)


class SampleReweighter:
    r"""Reweighting for a training loop: owns the strategy, the temperature schedule and the
    step, and reports what each step did.

    >>> import rwtheory as rw
    >>> reweighter = SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=500))
    >>> losses, counts = per_sample_loss(logits, labels, return_counts=True)  # doctest: +SKIP
    >>> loss, weights = reweighter(losses, valid=counts > 0)                   # doctest: +SKIP
    >>> reweighter.stats.rho                                                   # doctest: +SKIP

    Parameters
    ----------
    strategy : one of :data:`LM_STRATEGIES`.
    temperature : a float r > 0, or a schedule ``step -> r`` (e.g.
        :class:`rwtheory.warmup_schedule`, the paper's r = 100 warm-up then the target).
    group : the data-parallel process group (see :func:`reweighted_loss`).

    Each call uses the temperature of the current step, then advances the step by one
    (``step=k`` in the call uses step k instead and continues from k + 1 -- e.g. the optimizer
    step under gradient accumulation). ``stats`` holds the last step's :class:`ReweightStats`
    (computing it costs one host synchronisation).
    """

    def __init__(self, strategy: str = "linupper",
                 temperature: float | Callable[[int], float] = 1.0, group=None):
        self.strategy = _check_strategy(strategy)
        if callable(temperature):
            check_positive_finite(temperature(0), "temperature(0)")
            self.schedule = temperature
        else:
            value = check_positive_finite(temperature, "temperature")
            self.schedule = lambda _step, _v=value: _v
        self.group = group
        self.step = 0
        self.stats: ReweightStats | None = None

    def temperature(self, step: int | None = None) -> float:
        """The temperature at ``step`` (default: the current step)."""
        k = self.step if step is None else step
        return check_positive_finite(self.schedule(k), f"temperature at step {k}")

    def __call__(self, per_sample_losses, *, valid=None, step: int | None = None):
        """``(loss, weights)`` as :func:`reweighted_loss`, at the current step's temperature."""
        if step is not None:
            if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
                raise ValueError(f"step must be an integer >= 0, got {step!r}")
            self.step = int(step)
        r = self.temperature()
        loss, w_local, w_global, glob, gvalid = _reweight(
            per_sample_losses, self.strategy, r, self.group, valid)
        self.stats = _stats(self.step, r, w_global, glob, gvalid)
        self.step += 1
        return loss, w_local

    def state_dict(self) -> dict:
        """The state to checkpoint (the step; the schedule is configuration)."""
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict with an integer 'step' (from state_dict()), "
                            f"got {type(state).__name__}")
        step = state.get("step")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"state['step'] must be an integer >= 0, got {step!r}")
        self.step = int(step)

    def __repr__(self) -> str:
        return (f"SampleReweighter(strategy={self.strategy!r}, step={self.step}, "
                f"temperature={self.temperature():g})")

