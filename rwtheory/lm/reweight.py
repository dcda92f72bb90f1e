r"""The reweighted objective on the global batch, across data-parallel ranks (THEORY.md §1
items 4-5; paper Algorithm 1, App. A.1).

Per step:

1. the per-sample losses of every rank are gathered (detached, float32) into the global
   batch, in rank order, with their validity; ranks may hold different numbers of samples
   (:mod:`rwtheory.lm.distributed`);
2. the weights are computed once on the global batch by
   :func:`rwtheory.weights.pipeline.masked_sample_weights` (the paper's pipeline) or
   :func:`~rwtheory.weights.pipeline.masked_tempered_softmax` of the raw losses (``dro_kl``)
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
``torch.compile(fullgraph=True)``. ``check=True`` (the default) adds one read of two flags
to raise the clear errors above (no valid sample; an infinite loss). With ``check=False`` an
all-invalid global batch gives weights 0 and loss 0 (no gradient) instead of an error, and an
infinite loss gives NaN weights.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from rwtheory._array import check_positive_finite
from rwtheory.lm.distributed import (
    check_global_batch,
    gather_losses,
    global_batch,
    global_batch_flags,
    raise_for_flags,
    world,
)
from rwtheory.weights.pipeline import STRATEGIES, masked_sample_weights, masked_tempered_softmax

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


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def _check_losses(losses):
    if not isinstance(losses, torch.Tensor):
        raise TypeError(f"per_sample_losses must be a torch.Tensor, got {type(losses).__name__}")
    if not losses.is_floating_point():
        raise TypeError(f"per_sample_losses must have a floating dtype, got {losses.dtype}")
    if losses.ndim != 1:
        raise ValueError(f"per_sample_losses must be 1-D (one loss per sample), got shape "
                         f"{tuple(losses.shape)}")


def _validity(valid, losses):
    """``valid`` (optional bool tensor) and not NaN: the samples that carry weight."""
    scored = ~torch.isnan(losses.detach())
    if valid is None:
        return scored
    if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool:
        raise TypeError(f"valid must be a bool torch.Tensor (e.g. counts > 0), got "
                        f"{getattr(valid, 'dtype', type(valid).__name__)}")
    if tuple(valid.shape) != tuple(losses.shape):
        raise ValueError(f"valid must have the shape of per_sample_losses "
                         f"{tuple(losses.shape)}, got {tuple(valid.shape)}")
    if valid.device != losses.device:
        raise ValueError(f"valid must be on the device of per_sample_losses ({losses.device}), "
                         f"got {valid.device}")
    return valid & scored


def global_weights(glob, gvalid, strategy: str, temperature):
    """Weights of the global batch (float32; 0 for invalid samples, all 0 if none is valid).
    Tensor ops only: no host synchronisation."""
    if strategy == "dro_kl":
        return masked_tempered_softmax(glob, gvalid, temperature)
    return masked_sample_weights(glob, gvalid, strategy, temperature)


def weighted_sum(per_sample_losses, weights, valid, world_size: int):
    """``world_size * sum_i w_i l_i`` over this rank's valid samples (NaN losses excluded
    by ``where``, so neither the loss nor the gradient sees them)."""
    dtype = torch.promote_types(per_sample_losses.dtype, torch.float32)
    contrib = torch.where(valid, per_sample_losses.to(dtype), 0.0)
    return (weights.to(dtype) * contrib).sum() * world_size


def reweight_core(per_sample_losses, strategy, temperature, group=None, valid=None,
                  check: bool = True):
    """Shared core: (loss, local weights, global weights, global losses, global validity).
    Validates types and shapes on the host; values only with ``check`` (one host read)."""
    _check_losses(per_sample_losses)
    valid = _validity(valid, per_sample_losses)
    glob, gvalid, start, world_size = global_batch(per_sample_losses, valid, group)
    if glob.shape[0] == 0:
        raise ValueError("per_sample_losses must be non-empty (the global batch has no "
                         "sample)")
    if check:
        check_global_batch(glob, gvalid)
    w_global = global_weights(glob, gvalid, strategy, temperature)
    w_local = w_global[start:start + per_sample_losses.shape[0]]
    loss = weighted_sum(per_sample_losses, w_local, valid, world_size)
    return loss, w_local, w_global, glob, gvalid


def reweighted_loss(per_sample_losses, strategy: str = "linupper", temperature: float = 1.0,
                    group=None, *, valid=None, check: bool = True):
    r"""The reweighted objective :math:`\sum_i w_i \ell_i` on the global batch.

    Parameters
    ----------
    per_sample_losses : ``(B_local,)`` float tensor, this rank's per-sample losses (with
        autograd history), e.g. from :func:`rwtheory.lm.per_sample_loss`; NaN marks a sample
        without a scored token (weight 0).
    strategy : ``"uniform"``, ``"linupper"``, ``"quadratic"``, ``"extremes"``, ``"upper"`` (the
        paper's pipeline, :func:`rwtheory.sample_weights`) or ``"dro_kl"``
        (:func:`rwtheory.dro_kl_weights` on the raw losses; ``temperature`` is its tau).
    temperature : r > 0, finite (the paper: 0.4 for GPT-2, 1 and 2 for Llama).
    group : process group of the data-parallel ranks (default: the world when
        ``torch.distributed`` is initialised).
    valid : optional ``(B_local,)`` bool tensor; ``False`` also gives weight 0 (not needed
        for the NaN losses of fully ignored samples).
    check : raise on a global batch without a valid sample or with an infinite loss (one
        host synchronisation); ``False`` skips it (see the module docstring).

    Returns
    -------
    ``(loss, weights)``: ``loss`` is ``world_size * sum_{i local} w_i l_i`` (a 0-d tensor of
    the losses' dtype, at least float32) whose data-parallel average is the single-process
    reweighted loss and whose averaged gradient is ``sum_i w_i grad l_i``; ``weights`` are
    this rank's slice of the global weights (float32, detached; they sum to 1 over all
    ranks).
    """
    strategy = _check_strategy(strategy)
    temperature = check_positive_finite(temperature, "temperature")
    loss, w_local, *_ = reweight_core(per_sample_losses, strategy, temperature, group, valid,
                                      _check_bool(check, "check"))
    return loss, w_local


# ------------------------------------------------------------------------- the stateful part
@dataclass(frozen=True)
class ReweightStats:
    """What one optimizer step's reweighting did, on the global batch (Python floats).

    The statistics describe the *effective* weights of the step's samples: the weights of
    each call divided by the number of calls in the step (micro-batches under gradient
    accumulation with ``weights_over="micro_batch"``; 1 otherwise), which sum to 1 over the
    step -- the step's gradient is ``sum_i w_i grad l_i`` over them. ``n`` counts the samples
    that carry weight; ``rho = n * max_weight`` (THEORY §2; the paper's cap is rho <= 2);
    ``entropy`` is :math:`-\\sum_i w_i \\log w_i` in nats (``log n`` for uniform weights);
    ``loss_spread`` and ``loss_mean`` describe the weighted samples' losses (spread = max -
    min, the quantity the normalisation divides by); ``micro_batches`` counts the calls."""

    step: int
    temperature: float
    n: int
    max_weight: float
    rho: float
    entropy: float
    loss_spread: float
    loss_mean: float
    micro_batches: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


def _stats_values(records):
    """The step's statistics from its ``(weights, losses, valid)`` records, as one tensor
    ``[n, max weight, entropy, max loss, min loss, mean loss]`` (no host read)."""
    k = len(records)
    w = torch.cat([r[0] for r in records]) / k
    glob = torch.cat([r[1] for r in records])
    gvalid = torch.cat([r[2] for r in records])
    inf = torch.full_like(glob, torch.inf)
    n = gvalid.sum()
    return torch.stack([
        n.float(), w.max(), -torch.xlogy(w, w).sum(),
        torch.where(gvalid, glob, -inf).max(), torch.where(gvalid, glob, inf).min(),
        torch.where(gvalid, glob, 0.0).sum() / n.clamp(min=1)])


def _stats(step, temperature, k, values) -> ReweightStats:
    """:class:`ReweightStats` from the host copy of :func:`_stats_values`."""
    n, mx, ent, lmax, lmin, lmean = values
    return ReweightStats(step=step, temperature=float(temperature), n=int(n), max_weight=mx,
                         rho=n * mx, entropy=ent, loss_spread=lmax - lmin, loss_mean=lmean,
                         micro_batches=k)


WEIGHTS_OVER = ("micro_batch", "optimizer_step")


class SampleReweighter:
    r"""Reweighting for a training loop: owns the strategy, the temperature schedule and the
    step, and reports what each step did.

    >>> import rwtheory as rw
    >>> reweighter = SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=500))
    >>> loss, weights = reweighter(per_sample_loss(logits, labels))            # doctest: +SKIP
    >>> reweighter.stats.rho                                                   # doctest: +SKIP

    Parameters
    ----------
    strategy : one of :data:`LM_STRATEGIES`.
    temperature : a float r > 0, or a schedule ``step -> r`` (e.g.
        :class:`rwtheory.warmup_schedule`, the paper's r = 100 warm-up then the target).
    group : the data-parallel process group (see :func:`reweighted_loss`).
    weights_over : what the weights are normalised over under gradient accumulation.
        ``"micro_batch"`` (default; what the paper's code does): each call weights its own
        global micro-batch (all ranks) and its weights sum to 1; divide each micro-batch's
        loss by the number of accumulation steps as usual. ``"optimizer_step"``: the weights
        are normalised over every micro-batch of every rank in the optimizer step. It needs
        a scoring pass: call :meth:`score` on each micro-batch's per-sample losses (under
        ``torch.no_grad()``; one extra forward per micro-batch), then call the reweighter on
        each micro-batch's losses with autograd history, in the same order, and do *not*
        divide by the accumulation steps (the weights already sum to 1 over the step).
        :func:`rwtheory.lm.accumulation.accumulate_gradients` does both for a loop.
    check : raise the clear errors of :func:`reweighted_loss`, at the cost of one host
        synchronisation per call, which also fetches the step's statistics (reading ``stats``
        is then free); ``False`` is the synchronisation-free fast path (``stats`` then costs
        one read when read).

    Each call uses the temperature of the current step, then advances the step by one
    (``step=k`` in the call uses step k instead and continues from k + 1 -- e.g. the optimizer
    step under gradient accumulation: consecutive calls with the same ``step`` are the
    micro-batches of one optimizer step; with ``weights_over="optimizer_step"`` the step
    advances after the step's last micro-batch). ``stats`` describes the last optimizer step
    over all its micro-batches (:class:`ReweightStats`); with ``check=False`` it is computed
    lazily when read (one host synchronisation) and never when not read. Host reads per call:
    ``check=True`` 1 (stats included), ``check=False`` 0 (+1 when ``stats`` is read).
    """

    def __init__(self, strategy: str = "linupper",
                 temperature: float | Callable[[int], float] = 1.0, group=None, *,
                 weights_over: str = "micro_batch", check: bool = True):
        self.strategy = _check_strategy(strategy)
        if callable(temperature):
            check_positive_finite(temperature(0), "temperature(0)")
            self.schedule = temperature
        else:
            value = check_positive_finite(temperature, "temperature")
            self.schedule = lambda _step, _v=value: _v
        if weights_over not in WEIGHTS_OVER:
            raise ValueError(f"weights_over must be one of {list(WEIGHTS_OVER)}, got "
                             f"{weights_over!r}")
        self.weights_over = weights_over
        self.check = _check_bool(check, "check")
        self.group = group
        self.step = 0
        self._records: list = []          # (global weights, losses, validity) of a step
        self._record_key: tuple | None = None   # (step, temperature) of the records
        self._stats: ReweightStats | None = None
        self._scored: list = []           # optimizer_step: scored (losses, valid) of the step
        self._pending: list = []          # optimizer_step: local weights not yet used

    def temperature(self, step: int | None = None) -> float:
        """The temperature at ``step`` (default: the current step)."""
        k = self.step if step is None else step
        return check_positive_finite(self.schedule(k), f"temperature at step {k}")

    @property
    def stats(self) -> ReweightStats | None:
        """The last optimizer step's :class:`ReweightStats` (None before the first call)."""
        if self._stats is None and self._records:
            self._stats = _stats(*self._record_key, len(self._records),
                                 _stats_values(self._records).tolist())
        return self._stats

    def _check_and_cache_stats(self, glob, gvalid) -> None:
        """``check=True``: one host read fetches the check's flags *and* the step's
        statistics, so that reading ``stats`` afterwards costs nothing more."""
        values = torch.cat([global_batch_flags(glob, gvalid),
                            _stats_values(self._records)]).tolist()
        raise_for_flags(values[:2], glob, gvalid)
        self._stats = _stats(*self._record_key, len(self._records), values[2:])

    def _record(self, key, w_global, glob, gvalid, same_step: bool) -> None:
        if not (same_step and key == self._record_key):
            self._records = []
        self._records.append((w_global, glob, gvalid))
        self._record_key, self._stats = key, None

    def _set_step(self, step) -> None:
        if step is not None:
            if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
                raise ValueError(f"step must be an integer >= 0, got {step!r}")
            self.step = int(step)

    def __call__(self, per_sample_losses, *, valid=None, step: int | None = None):
        """``(loss, weights)`` as :func:`reweighted_loss`, at the current step's temperature
        (``weights_over="optimizer_step"``: this micro-batch's slice of the step's weights,
        from :meth:`score`)."""
        self._set_step(step)
        if self.weights_over == "optimizer_step":
            return self._call_step_weights(per_sample_losses, valid)
        r = self.temperature()
        loss, w_local, w_global, glob, gvalid = reweight_core(
            per_sample_losses, self.strategy, r, self.group, valid, check=False)
        self._record((self.step, r), w_global, glob, gvalid, same_step=step is not None)
        if self.check:
            self._check_and_cache_stats(glob, gvalid)
        self.step += 1
        return loss, w_local

    def score(self, per_sample_losses, *, valid=None) -> None:
        """``weights_over="optimizer_step"``: record one micro-batch's per-sample losses (the
        scoring pass, detached) before the step's training passes."""
        if self.weights_over != "optimizer_step":
            raise RuntimeError("score() is for weights_over='optimizer_step'; this reweighter "
                               "weights each micro-batch on its own")
        if self._pending:
            raise RuntimeError(f"score() called with {len(self._pending)} micro-batch(es) of "
                               f"the previous step not yet passed to the reweighter")
        _check_losses(per_sample_losses)
        self._scored.append((per_sample_losses.detach(), _validity(valid, per_sample_losses)))

    def _step_weights(self) -> None:
        """Weights over every scored micro-batch of every rank (one collective)."""
        if not self._scored:
            raise RuntimeError("weights_over='optimizer_step': call score() on every "
                               "micro-batch of the step (under torch.no_grad()) before its "
                               "training passes")
        r = self.temperature()
        losses = torch.cat([s[0] for s in self._scored])
        valid = torch.cat([s[1] for s in self._scored])
        glob, gvalid, start, _ = global_batch(losses, valid, self.group)
        if glob.shape[0] == 0:
            raise ValueError("per_sample_losses must be non-empty (the global batch has no "
                             "sample)")
        w_global = global_weights(glob, gvalid, self.strategy, r)
        w_local = w_global[start:start + losses.shape[0]]
        sizes = [s[0].shape[0] for s in self._scored]
        self._scored = []
        self._record((self.step, r), w_global, glob, gvalid, same_step=False)
        if self.check:
            self._check_and_cache_stats(glob, gvalid)
        self._pending = list(w_local.split(sizes))

    def _call_step_weights(self, per_sample_losses, valid):
        _check_losses(per_sample_losses)
        if not self._pending:
            self._step_weights()
        w = self._pending.pop(0)
        if w.shape != per_sample_losses.shape:
            raise ValueError(f"per_sample_losses must have the shape of the scored micro-batch "
                             f"{tuple(w.shape)} (same micro-batches, same order), got "
                             f"{tuple(per_sample_losses.shape)}")
        valid = _validity(valid, per_sample_losses)
        loss = weighted_sum(per_sample_losses, w, valid, world(self.group)[1])
        if not self._pending:
            self.step += 1
        return loss, w

    def state_dict(self) -> dict:
        """The state to checkpoint (the step; the schedule is configuration)."""
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        step = state.get("step")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"state['step'] must be an integer >= 0, got {step!r}")
        self.step = int(step)

    def __repr__(self) -> str:
        return (f"SampleReweighter(strategy={self.strategy!r}, step={self.step}, "
                f"temperature={self.temperature():g})")
