r"""The stateful reweighter of a training loop: :class:`SampleReweighter`.

The objective itself, on the global batch across data-parallel ranks, is
:mod:`rwtheory.lm.reweight`; the strategies are :mod:`rwtheory.lm.strategies`; what a step did
is :class:`rwtheory.lm.stats.ReweightStats`.

**The authors' exact objective** (their GPT-2 training step, reference code
``src/trainer.py``): with ``token_weighting="rank"`` and ``burn_in_steps=K`` the loss of
rank r at step t is

.. math::
    \mathcal L_r = \begin{cases}
      \sum_{i \in r} \frac{c_i}{C_r}\, \ell_i & t < K \quad\text{(burn-in: no reweighting)}\\
      W\, B_r \sum_{i \in r} w_i \frac{c_i}{C_r}\, \ell_i & t \ge K
    \end{cases}

with :math:`c_i` the scored tokens of sample i, :math:`C_r = \sum_{i \in r} c_i`, :math:`B_r`
the rank's number of samples, W the world size and w the weights of the global batch; the
data-parallel average of the gradients is the gradient of :math:`\frac1W\sum_r \mathcal L_r`.
(During the burn-in our weights are exactly 1/n, so the same formula with w = 1/n gives the
burn-in line whenever every rank holds B valid samples.) ``token_weighting="global"`` is the
rank-count-invariant version, :math:`n\,c_i / \sum_{j} c_j` over the whole global batch (with
uniform weights: the global token-mean loss). The default (``None``) weighs each sample's
mean token loss by w alone, as the paper's equations do.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable

import torch
import torch.distributed as dist

from rwtheory._array import check_positive_finite
from rwtheory.lm.distributed import gather_losses, global_batch, world
from rwtheory.lm.losses import pending_loss_check
from rwtheory.lm.reweight import (
    check_losses,
    global_weights,
    read_checks,
    reweight_core,
    sample_validity,
    weighted_sum,
)
from rwtheory.lm.stats import ReweightStats, reweight_stats, stats_from_values, stats_values
from rwtheory.lm.strategies import check_strategy, strategy_name
from rwtheory.weights.schedules import constant_schedule

__all__ = ["TOKEN_WEIGHTINGS", "WEIGHTS_OVER", "SampleReweighter"]

#: Values of ``token_weighting``: None (weights alone), "rank" (the authors' training step:
#: share of the rank's scored tokens), "global" (share of the global batch's scored tokens).
TOKEN_WEIGHTINGS: tuple = (None, "rank", "global")
#: Values of ``weights_over`` (gradient accumulation; see :class:`SampleReweighter`).
WEIGHTS_OVER = ("micro_batch", "optimizer_step")


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _describe(obj):
    """A plain (``torch.load(weights_only=True)``-safe) description of a strategy or schedule:
    names stay names, dataclasses become ``{"type": ..., **fields}``, other callables their
    qualified name."""
    if obj is None or isinstance(obj, str):
        return obj
    if dataclasses.is_dataclass(obj):
        return {"type": type(obj).__name__, **dataclasses.asdict(obj)}
    return {"type": getattr(obj, "__qualname__", type(obj).__name__)}


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def _token_scale(mode: str, counts, valid, group):
    """The per-sample factor of the token-count weighting (see the module docstring)."""
    c = counts.detach().to(torch.float64)
    if mode == "rank":
        return c * (counts.shape[0] / c.sum().clamp(min=1.0))
    # "global": n c_i / sum_j c_j with n the global number of valid samples
    local = torch.stack([c.sum(), valid.sum().to(torch.float64)])
    if world(group)[1] > 1:
        dist.all_reduce(local, group=group)
    return c * (local[1] / local[0].clamp(min=1.0))


class SampleReweighter:
    r"""Reweighting for a training loop: owns the strategy, the temperature schedule, the
    burn-in and the step, and reports what each step did.

    >>> import rwtheory as rw
    >>> reweighter = SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=500))
    >>> losses, counts = per_sample_loss(logits, labels, return_counts=True)  # doctest: +SKIP
    >>> loss, weights = reweighter(losses, counts=counts)                      # doctest: +SKIP
    >>> reweighter.stats.rho                                                   # doctest: +SKIP

    Parameters
    ----------
    strategy : a name of :data:`rwtheory.lm.LM_STRATEGIES` (``"kl_capped"``: Proposition 1
        with ρ = 2), a :class:`rwtheory.lm.kl_capped` (any ρ >= 1), or a callable
        ``losses -> scores`` (see :mod:`rwtheory.lm.strategies`).
    temperature : a float r > 0, or a schedule ``step -> r`` (e.g.
        :class:`rwtheory.warmup_schedule`, the paper's r = 100 warm-up then the target). A
        float becomes a :class:`rwtheory.constant_schedule`.
    group : the data-parallel process group (see :func:`rwtheory.lm.reweighted_loss`).
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
    check : raise the clear errors of :func:`rwtheory.lm.reweighted_loss` inside the call
        (before any backward pass), and those of the unread value checks of the losses of
        :func:`rwtheory.lm.per_sample_loss` (:class:`rwtheory.lm.losses.LossCheck`), at the
        cost of one host synchronisation per call that also fetches the step's statistics
        (reading ``stats`` is then free); ``False`` is the synchronisation-free fast path
        (for the named strategies; ``kl_capped`` and callables read the valid samples back
        once).
    burn_in_steps : steps 0 .. burn_in_steps - 1 use exact uniform weights 1/n (the authors'
        ``burnout_steps``: no reweighting at all); default 0.
    token_weighting : None (default), ``"rank"`` (the authors' training step) or
        ``"global"``: multiply each weight by the sample's share of scored tokens (module
        docstring); needs ``counts`` in the call.

    Each call uses the temperature of the current step, then advances the step by one
    (``step=k`` in the call uses step k instead and continues from k + 1 -- e.g. the optimizer
    step under gradient accumulation: consecutive calls with the same ``step`` are the
    micro-batches of one optimizer step; with ``weights_over="optimizer_step"`` the step
    advances after the step's last micro-batch). ``stats`` describes the last optimizer step
    over all its micro-batches (:class:`~rwtheory.lm.stats.ReweightStats`). Host reads of a
    step with ``per_sample_loss`` and the reweighter at their defaults, ``stats`` read: one
    per call (micro-batch), the statistics included; with ``check=False``: none, plus one
    when ``stats`` is read (computed lazily, never when not read). Domain ids cost one more
    read when ``stats`` is read.

    Copies: the reweighter pickles and deep-copies with any built-in schedule and strategy
    (a lambda strategy or schedule does not pickle); a copy uses the default process group
    (process groups cannot be copied: set ``group`` again on the copy for another one).
    ``state_dict`` / ``load_state_dict`` checkpoint the step and the last statistics and check
    that the configuration matches (call them between optimizer steps).
    """

    def __init__(
        self,
        strategy="linupper",
        temperature: float | Callable[[int], float] = 1.0,
        group=None,
        *,
        weights_over: str = "micro_batch",
        check: bool = True,
        burn_in_steps: int = 0,
        token_weighting: str | None = None,
    ):
        self.strategy = check_strategy(strategy)
        if callable(temperature):
            check_positive_finite(temperature(0), "temperature(0)")
            self.schedule = temperature
        else:
            self.schedule = constant_schedule(check_positive_finite(temperature, "temperature"))
        if weights_over not in WEIGHTS_OVER:
            raise ValueError(
                f"weights_over must be one of {list(WEIGHTS_OVER)}, got {weights_over!r}"
            )
        self.weights_over = weights_over
        self.check = _check_bool(check, "check")
        self.group = group
        self.burn_in_steps = _check_count(burn_in_steps, "burn_in_steps")
        if token_weighting not in TOKEN_WEIGHTINGS:
            raise ValueError(
                f"token_weighting must be one of {TOKEN_WEIGHTINGS}, got {token_weighting!r}"
            )
        self.token_weighting = token_weighting
        self.step = 0
        self._records: list = []  # (global weights, losses, validity, domains)
        self._record_key: tuple | None = None  # (step, temperature, burn-in) of the records
        self._stats: ReweightStats | None = None
        self._stats_host: list | None = None  # check=True: the records' stats, read
        self._scored: list = []  # optimizer_step: scored (losses, valid) of the step
        self._pending: list = []  # optimizer_step: local weights not yet used

    def temperature(self, step: int | None = None) -> float:
        """The temperature at ``step`` (default: the current step)."""
        k = self.step if step is None else step
        return check_positive_finite(self.schedule(k), f"temperature at step {k}")

    def _strategy_now(self):
        return "uniform" if self.step < self.burn_in_steps else self.strategy

    @property
    def stats(self) -> ReweightStats | None:
        """The last optimizer step's statistics (None before the first call)."""
        if self._stats is None and self._records:
            step, r, burn_in = self._record_key
            if self._stats_host is None:
                self._stats = reweight_stats(step, r, self._records, burn_in=burn_in)
            else:
                self._stats = stats_from_values(
                    step, r, self._records, self._stats_host, burn_in=burn_in
                )
        return self._stats

    def _record(self, key, record, same_step: bool, checks=None) -> None:
        """Add one call's ``(global weights, losses, validity, domains)`` to the step's
        records; with ``check``: the one host read of the loss ``checks`` (unread
        :class:`~rwtheory.lm.losses.LossCheck` s), the global batch's flags and the step's
        statistics, which raises before anything is recorded."""
        records = [*self._records, record] if same_step and key == self._record_key else [record]
        host = None
        if self.check:
            host = read_checks(checks or [], record[1], record[2], stats_values(records))
        self._records, self._record_key = records, key
        self._stats, self._stats_host = None, host

    def _set_step(self, step) -> None:
        if step is not None:
            self.step = _check_count(step, "step")

    def _inputs(self, losses, valid, counts, domain_ids):
        """Validated ``(valid, token scale, global domain ids)`` of one call."""
        if counts is None:
            if self.token_weighting is not None:
                raise ValueError(
                    f"counts (scored tokens per sample) is required with "
                    f"token_weighting={self.token_weighting!r}"
                )
        elif (
            not isinstance(counts, torch.Tensor)
            or counts.is_floating_point()
            or tuple(counts.shape) != tuple(losses.shape)
        ):
            raise ValueError(
                f"counts must be an integer tensor of the shape of "
                f"per_sample_losses {tuple(losses.shape)}, got "
                f"{getattr(counts, 'dtype', type(counts).__name__)} "
                f"{tuple(getattr(counts, 'shape', ()))}"
            )
        elif valid is None:
            valid = counts > 0
        scale = None
        if self.token_weighting is not None:
            scale = _token_scale(
                self.token_weighting, counts, sample_validity(valid, losses), self.group
            )
        domains = None
        if domain_ids is not None:
            if (
                not isinstance(domain_ids, torch.Tensor)
                or domain_ids.is_floating_point()
                or tuple(domain_ids.shape) != tuple(losses.shape)
            ):
                raise ValueError(
                    f"domain_ids must be an integer tensor of the shape of "
                    f"per_sample_losses {tuple(losses.shape)}"
                )
            domains = domain_ids.detach().long()
            if world(self.group)[1] > 1:
                domains, _ = gather_losses(domains, self.group)
        return valid, scale, domains

    def __call__(
        self,
        per_sample_losses,
        *,
        valid=None,
        counts=None,
        domain_ids=None,
        step: int | None = None,
    ):
        """``(loss, weights)`` as :func:`rwtheory.lm.reweighted_loss`, at the current step
        (``weights_over="optimizer_step"``: this micro-batch's slice of the step's weights,
        from :meth:`score`).

        ``counts``: scored tokens per sample (``per_sample_loss(..., return_counts=True)``);
        when given, ``valid`` defaults to ``counts > 0``. ``domain_ids``: optional integer
        tensor of the local samples' domains, for ``stats.domain_share``."""
        self._set_step(step)
        check_losses(per_sample_losses)
        valid, scale, domains = self._inputs(per_sample_losses, valid, counts, domain_ids)
        if self.weights_over == "optimizer_step":
            return self._call_step_weights(per_sample_losses, valid, scale)
        r = self.temperature()
        loss, w_local, w_global, glob, gvalid = reweight_core(
            per_sample_losses, self._strategy_now(), r, self.group, valid, scale
        )
        self._record(
            (self.step, r, self.step < self.burn_in_steps),
            (w_global, glob, gvalid, domains),
            same_step=step is not None,
            checks=[pending_loss_check(per_sample_losses)],
        )
        self.step += 1
        return loss, w_local

    def score(self, per_sample_losses, *, valid=None, counts=None) -> None:
        """``weights_over="optimizer_step"``: record one micro-batch's per-sample losses (the
        scoring pass, detached) before the step's training passes."""
        if self.weights_over != "optimizer_step":
            raise RuntimeError(
                "score() is for weights_over='optimizer_step'; this reweighter "
                "weights each micro-batch on its own"
            )
        if self._pending:
            raise RuntimeError(
                f"score() called with {len(self._pending)} micro-batch(es) of "
                f"the previous step not yet passed to the reweighter"
            )
        check_losses(per_sample_losses)
        if valid is None and counts is not None:
            valid = counts > 0
        self._scored.append(
            (
                per_sample_losses.detach(),
                sample_validity(valid, per_sample_losses),
                pending_loss_check(per_sample_losses),
            )
        )

    def _step_weights(self) -> None:
        """Weights over every scored micro-batch of every rank (one collective)."""
        if not self._scored:
            raise RuntimeError(
                "weights_over='optimizer_step': call score() on every "
                "micro-batch of the step (under torch.no_grad()) before its "
                "training passes"
            )
        r = self.temperature()
        losses = torch.cat([s[0] for s in self._scored])
        valid = torch.cat([s[1] for s in self._scored])
        glob, gvalid, start, _ = global_batch(losses, valid, self.group)
        w_global = global_weights(glob, gvalid, self._strategy_now(), r)
        w_local = w_global[start : start + losses.shape[0]]
        scored, self._scored = self._scored, []
        self._record(
            (self.step, r, self.step < self.burn_in_steps),
            (w_global, glob, gvalid, None),
            same_step=False,
            checks=[s[2] for s in scored],
        )
        self._pending = list(w_local.split([s[0].shape[0] for s in scored]))

    def _call_step_weights(self, per_sample_losses, valid, scale):
        if not self._pending:
            self._step_weights()
        w = self._pending.pop(0)
        if w.shape != per_sample_losses.shape:
            raise ValueError(
                f"per_sample_losses must have the shape of the scored micro-batch "
                f"{tuple(w.shape)} (same micro-batches, same order), got "
                f"{tuple(per_sample_losses.shape)}"
            )
        valid = sample_validity(valid, per_sample_losses)
        loss = weighted_sum(per_sample_losses, w, valid, world(self.group)[1], scale)
        if not self._pending:
            self.step += 1
        return loss, w

    # ------------------------------------------------------------------ checkpoints, copies
    def config(self) -> dict:
        """The configuration as plain data (what ``load_state_dict`` checks)."""
        return {
            "strategy": _describe(self.strategy),
            "schedule": _describe(self.schedule),
            "burn_in_steps": self.burn_in_steps,
            "token_weighting": self.token_weighting,
            "weights_over": self.weights_over,
        }

    def state_dict(self) -> dict:
        """The state to checkpoint, as plain data (``torch.load(weights_only=True)`` reads
        it): the step, the last statistics and the configuration they belong to."""
        if self._scored or self._pending:
            raise RuntimeError(
                "state_dict() in the middle of an optimizer step (scored or "
                "pending micro-batches): checkpoint between steps"
            )
        stats = self.stats
        return {
            "step": self.step,
            "stats": None if stats is None else stats.as_dict(),
            "config": self.config(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`. Raises ``ValueError`` if the checkpoint was written
        by a reweighter of another configuration (strategy, schedule, burn-in, token
        weighting, weights_over): resuming it would silently change the objective."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        step = _check_count(state.get("step"), "state['step']")
        saved, mine = state.get("config"), self.config()
        if saved is not None and saved != mine:
            diff = sorted(k for k in mine if saved.get(k) != mine[k])
            raise ValueError(
                f"state: the checkpoint's configuration differs in {diff}: saved "
                f"{ {k: saved.get(k) for k in diff} }, this reweighter "
                f"{ {k: mine[k] for k in diff} }"
            )
        stats = state.get("stats")
        if stats is not None:
            stats = ReweightStats(**{**stats, "histogram": tuple(stats.get("histogram", ()))})
        self.step, self._stats, self._stats_host = step, stats, None
        self._records, self._record_key, self._scored, self._pending = [], None, [], []

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["group"] = None  # process groups do not pickle: a copy uses the default group
        state["_stats"], state["_records"], state["_stats_host"] = self.stats, [], None
        return state

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={getattr(self, k)!r}"
            for k in ("burn_in_steps", "token_weighting")
            if getattr(self, k)
        )
        return (
            f"SampleReweighter(strategy={strategy_name(self.strategy)!r}, step={self.step}, "
            f"temperature={self.temperature():g}{extra})"
        )
