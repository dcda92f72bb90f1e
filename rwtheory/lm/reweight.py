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

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

from rwtheory._array import (
    _check_torch_storage,
    check_bool,
    check_fits_dtype,
    check_positive_finite,
    check_tensor,
)
from rwtheory.lm.distributed import (
    check_group,
    check_max_local,
    gather_losses,
    global_batch,
    global_batch_flags,
    raise_for_flags,
)
from rwtheory.lm.losses import LossCheck, pending_loss_check
from rwtheory.lm.stats import Record
from rwtheory.lm.strategies import (
    LM_STRATEGIES,
    Strategy,
    Temperature,
    check_strategy,
    strategy_weights,
)

__all__ = [
    "LM_STRATEGIES",
    "gather_losses",
    "read_checks",
    "reweight_core",
    "reweighted_loss",
    "weighted_sum",
]


def _check_losses(losses: Any) -> None:
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


def _validity(valid: Any, losses: torch.Tensor) -> torch.Tensor:
    """``valid`` (optional bool tensor) and not NaN: the samples that carry weight."""
    scored = ~torch.isnan(losses.detach())
    if valid is None:
        return scored
    if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool:
        raise TypeError(
            f"valid must be a bool torch.Tensor (e.g. counts > 0), got "
            f"{getattr(valid, 'dtype', type(valid).__name__)}"
        )
    _check_like_losses(valid, "valid", losses)
    return valid & scored


def _check_like_losses(x: torch.Tensor, name: str, losses: torch.Tensor) -> None:
    """``x`` (``valid`` or ``counts``) is dense and strided, with the shape and device of
    ``losses``; else an error naming ``name``."""
    _check_torch_storage(x, name)
    if tuple(x.shape) != tuple(losses.shape):
        raise ValueError(
            f"{name} must have the shape of per_sample_losses {tuple(losses.shape)}, got "
            f"{tuple(x.shape)}"
        )
    if x.device != losses.device:
        raise ValueError(
            f"{name} must be on the device of per_sample_losses ({losses.device}), got {x.device}"
        )


#: Weights of the global batch under a validated strategy: names, ``kl_capped``, callables
#: (:func:`rwtheory.lm.strategies.strategy_weights`; the names without host synchronisation).
global_weights = strategy_weights


def weighted_sum(
    per_sample_losses: torch.Tensor,
    weights: torch.Tensor,
    valid: torch.Tensor,
    world_size: int,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """``world_size * sum_i w_i l_i`` over this rank's valid samples (NaN losses excluded
    by ``where``, so neither the loss nor the gradient sees them); ``scale``: an optional
    detached per-sample factor of each term (the token-count weighting of
    :class:`rwtheory.lm.SampleReweighter`)."""
    dtype = torch.promote_types(per_sample_losses.dtype, torch.float32)
    contrib = torch.where(valid, per_sample_losses.to(dtype), 0.0)
    if scale is not None:
        contrib = contrib * scale.to(dtype)
    return (weights.to(dtype) * contrib).sum() * world_size


class CountsCheck:
    """The value check of ``counts`` (scored tokens per sample, >= 0), not yet read: the
    same interface as :class:`rwtheory.lm.losses.LossCheck` (``flags``, ``raise_for``), so
    that :func:`read_checks` fetches it in the call's one read."""

    def __init__(self, counts: torch.Tensor) -> None:
        self._counts = counts
        zero = torch.zeros((), dtype=torch.bool, device=counts.device)
        self.flags = torch.stack([(counts < 0).any(), zero, zero]).double()
        self.done = False

    def raise_for(self, flags: Sequence[float]) -> None:
        self.done = True
        if flags[0]:
            i = int((self._counts < 0).nonzero()[0, 0])
            raise ValueError(
                f"counts must be scored-token counts >= 0, got {int(self._counts[i])} at sample {i}"
            )


def check_counts(
    counts: Any, losses: torch.Tensor, name: str = "counts"
) -> tuple[torch.Tensor, CountsCheck] | tuple[None, None]:
    """``counts`` validated on the host (an integer, not bool, tensor of the shape and device
    of ``losses``) and returned as int64 with its unread :class:`CountsCheck` (values >= 0),
    ``(None, None)`` for None."""
    if counts is None:
        return None, None
    if (
        not isinstance(counts, torch.Tensor)
        or counts.is_floating_point()
        or counts.is_complex()
        or counts.dtype == torch.bool
    ):
        raise TypeError(
            f"{name} must be an integer torch.Tensor of scored-token counts (>= 0), got "
            f"{getattr(counts, 'dtype', type(counts).__name__)}"
        )
    _check_like_losses(counts, name, losses)
    counts = counts.detach().long()
    return counts, CountsCheck(counts)


def read_checks(
    pending: Sequence[LossCheck | CountsCheck | None],
    glob: torch.Tensor,
    gvalid: torch.Tensor,
    extra: torch.Tensor | None = None,
    *,
    empty_ok: bool = False,
) -> list[float]:
    """The one host read of ``check=True``: the flags of the unread
    :class:`~rwtheory.lm.losses.LossCheck` / :class:`CountsCheck` objects ``pending`` (None
    entries skipped), the global batch's two flags
    (:func:`rwtheory.lm.distributed.global_batch_flags`) and the optional 1-D tensor
    ``extra``, in one ``tolist``. Raises the inputs' errors first (their labels, logits or
    counts), then the global batch's (the same on every rank; ``empty_ok``: a global batch
    without a valid sample is no error); returns the host copy of ``extra`` (``[]``
    without it)."""
    unread = [c for c in pending if c is not None]
    parts = [c.flags for c in unread] + [global_batch_flags(glob, gvalid).double()]
    if extra is not None:
        parts.append(extra.double())
    values = torch.cat(parts).tolist()
    for k, c in enumerate(unread):
        c.raise_for(values[LossCheck.FLAGS * k : LossCheck.FLAGS * (k + 1)])
    k = LossCheck.FLAGS * len(unread)
    raise_for_flags(values[k : k + 2], glob, gvalid, empty_ok=empty_ok)
    return values[k + 2 :]


def rank_token_scale(counts: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``token_weighting="rank"``: ``c_i B_r / C_r`` with B_r the rank's samples and C_r its
    scored tokens (the authors' training step), float64."""
    c = torch.where(valid, counts, 0).to(torch.float64)
    return c * (counts.shape[0] / c.sum().clamp(min=1.0))


def global_token_scale(gcounts: torch.Tensor, gvalid: torch.Tensor) -> torch.Tensor:
    """``token_weighting="global"``: ``n c_i / sum_j c_j`` over the valid samples of the
    global batch (n of them), float64; with uniform weights the objective is then the
    global batch's token mean."""
    c = torch.where(gvalid, gcounts.to(torch.float64), 0.0)
    return c * (gvalid.sum().to(torch.float64) / c.sum().clamp(min=1.0))


def _weights(
    glob: torch.Tensor,
    gvalid: torch.Tensor,
    strategy: Strategy,
    temperature: Temperature,
    burn: torch.Tensor | None,
) -> torch.Tensor:
    """The global weights; a tensor ``temperature`` (the compiled path: a float64 0-d tensor
    on the host, read by no one) is applied to float64 losses, which keeps the pipeline's
    precision test on the host (a float64 batch is never widened); ``burn`` (a 0-d 0/1
    tensor or None) mixes in the exact uniform weights."""
    if not isinstance(temperature, torch.Tensor):
        return global_weights(glob, gvalid, strategy, temperature)
    w = global_weights(glob.double(), gvalid, strategy, temperature)
    if burn is not None:
        uniform = gvalid.double() / gvalid.sum().clamp(min=1)
        w = w + burn * (uniform - w)
    return w.float()


def reweight_core(
    per_sample_losses: torch.Tensor,
    strategy: Strategy,
    temperature: Temperature,
    group: dist.ProcessGroup | None = None,
    valid: torch.Tensor | None = None,
    *,
    counts: torch.Tensor | None = None,
    token_weighting: str | None = None,
    max_local: int | None = None,
    burn: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Record, int]:
    """Shared core of :func:`reweighted_loss` and :class:`rwtheory.lm.SampleReweighter`.
    Returns ``(loss, local weights, record, this rank's offset in the global batch)``, the
    record ``(global weights, global losses,
    global validity, None, global counts or None, global token scale or None)`` (the
    statistics' input, :mod:`rwtheory.lm.stats`). ``counts``: validated int64 counts or
    None; ``token_weighting``: None, ``"rank"``, ``"global"`` (needs counts); ``max_local``:
    see :func:`rwtheory.lm.distributed.gather_losses` (an integer >= the local batch, checked
    here -- in one process too -- and named ``max_local_batch``). Validates types and shapes
    on the host, no values (the callers' :func:`read_checks`); no host read without a
    process group or with ``max_local``."""
    _check_losses(per_sample_losses)
    max_local = check_max_local(max_local, per_sample_losses.shape[0], "max_local_batch")
    valid = _validity(valid, per_sample_losses)
    columns = [] if counts is None else [counts]
    if token_weighting == "rank":
        assert counts is not None  # the reweighter refuses token_weighting without counts
        columns.append(rank_token_scale(counts, valid))
    glob, gvalid, gcols, start, world_size = global_batch(
        per_sample_losses, valid, group, columns=columns, max_local=max_local
    )
    if glob.shape[0] == 0:
        raise ValueError("per_sample_losses must be non-empty (the global batch has no sample)")
    w_global = _weights(glob, gvalid, strategy, temperature, burn)
    mine = slice(start, start + per_sample_losses.shape[0])
    gscale = None
    if token_weighting == "rank":
        gscale, scale = gcols[1], columns[1]
    elif token_weighting == "global":
        gscale = global_token_scale(gcols[0], gvalid)
        scale = gscale[mine]
    loss = weighted_sum(
        per_sample_losses, w_global[mine], valid, world_size, None if gscale is None else scale
    )
    gcounts = gcols[0] if counts is not None else None
    return loss, w_global[mine], (w_global, glob, gvalid, None, gcounts, gscale), start


def reweighted_loss(
    per_sample_losses: torch.Tensor,
    strategy: Strategy = "linupper",
    temperature: float = 1.0,
    group: dist.ProcessGroup | None = None,
    *,
    valid: torch.Tensor | None = None,
    check: bool = True,
    empty_batch: str = "raise",
    max_local_batch: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
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
    empty_batch : ``"raise"`` (default; with ``check=True``) or ``"skip"``: a global batch
        without any scored token gives loss 0 and zero gradients on every rank (with
        ``check=False`` it always does).
    max_local_batch : optional integer >= every rank's local batch size, the same on every
        rank: the gather pads each rank's losses to it instead of reading the local sizes
        back to the host (:func:`rwtheory.lm.distributed.gather_losses`), so the call
        compiles with ``torch.compile(fullgraph=True)`` under data parallelism too.

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
    check = check_bool(check, "check")
    group = check_group(group)
    empty_ok = check_empty_batch(empty_batch) == "skip"
    loss, w_local, record, _ = reweight_core(
        per_sample_losses, strategy, temperature, group, valid, max_local=max_local_batch
    )
    if check:
        read_checks(
            [pending_loss_check(per_sample_losses)], record[1], record[2], empty_ok=empty_ok
        )
    return loss, w_local


#: Values of ``empty_batch``: what a global batch without any scored token does.
EMPTY_BATCH = ("raise", "skip")


def check_empty_batch(value: Any) -> str:
    if not isinstance(value, str) or value not in EMPTY_BATCH:
        raise ValueError(f"empty_batch must be one of {list(EMPTY_BATCH)}, got {value!r}")
    return value


#: The validation of the core, public for :class:`rwtheory.lm.SampleReweighter` (whose
#: optimizer-step weighting scores and applies micro-batches outside the core).
check_losses = _check_losses
sample_validity = _validity
