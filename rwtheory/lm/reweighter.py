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
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist

from rwtheory._array import check_bool, check_positive_finite, check_tensor, describe
from rwtheory.lm import clock
from rwtheory.lm.distributed import check_group, check_max_local, gather_losses, world
from rwtheory.lm.losses import LossCheck, pending_loss_check
from rwtheory.lm.reweight import (
    CountsCheck,
    check_counts,
    check_empty_batch,
    check_losses,
    rank_token_scale,
    read_checks,
    reweight_core,
    sample_validity,
    weighted_sum,
)
from rwtheory.lm.stats import (
    Record,
    ReweightStats,
    reweight_stats,
    stats_from_dict,
    stats_from_values,
    stats_values,
)
from rwtheory.lm.strategies import Strategy, check_strategy, strategy_name
from rwtheory.weights.schedules import constant_schedule

__all__ = ["TOKEN_WEIGHTINGS", "WEIGHTS_OVER", "SampleReweighter"]

#: Values of ``token_weighting``: None (weights alone), "rank" (the authors' training step:
#: share of the rank's scored tokens), "global" (share of the global batch's scored tokens).
TOKEN_WEIGHTINGS: tuple = (None, "rank", "global")
#: Values of ``weights_over`` (gradient accumulation; see :class:`SampleReweighter`).
WEIGHTS_OVER = ("micro_batch", "optimizer_step")

#: The unread value checks of one call's inputs (None: nothing to check).
_Checks = list[LossCheck | CountsCheck | None]


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _describe(obj: Any) -> Any:
    """A plain (``torch.load(weights_only=True)``-safe) description of a strategy or schedule:
    names stay names, dataclasses become ``{"type": ..., **fields}``, other callables their
    qualified name."""
    if obj is None or isinstance(obj, str):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__name__, **dataclasses.asdict(obj)}
    return {"type": getattr(obj, "__qualname__", type(obj).__name__)}


def _local_scale(
    mode: str | None,
    counts: torch.Tensor | None,
    valid: torch.Tensor,
    record: Record,
    start: int,
) -> torch.Tensor | None:
    """This rank's token scale of an optimizer step (:meth:`SampleReweighter._step_weights`):
    ``"rank"`` over the rank's micro-batches together, ``"global"`` this rank's slice of the
    step's global scale (``record[5]``, from ``start``); None without token weighting."""
    if mode is None:
        return None
    assert counts is not None  # required with token weighting (SampleReweighter._inputs)
    if mode == "rank":
        return rank_token_scale(counts, valid)
    gscale = record[5]
    assert gscale is not None  # reweight_core's global token scale
    return gscale[start : start + counts.shape[0]]


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
        docstring); needs ``counts`` in the call (and in :meth:`score`). With
        ``weights_over="optimizer_step"`` the shares are taken over the whole step (every
        micro-batch of every rank), so the step's gradient is that of one big batch.
    empty_batch : ``"raise"`` (default, with ``check=True``) or ``"skip"``: a call whose
        global batch has no scored token (a filtered shard, a tail batch) gives loss 0 and
        zero gradients on every rank and is counted in ``stats.skipped``.
    max_local_batch : optional integer >= every rank's local batch, the same on every rank:
        the gather pads to it instead of reading the local sizes back to the host (under data
        parallelism the only host read of the ``check=False`` path), so the call compiles with
        ``torch.compile(fullgraph=True)`` on several ranks.

    **Inside torch.compile** (module :mod:`rwtheory.lm.clock`): the step, the schedule and
    the burn-in are evaluated outside the graph by an opaque operator, so a compiled training
    step that calls the reweighter compiles once, whatever the schedule does (tested with
    ``fullgraph=True`` over 20 steps of a warm-up schedule). There, with the named strategies
    and ``check=False``, there are no graph breaks; the weights are computed in float64 from
    the float32 global losses (the temperature is a host tensor there), equal to the eager
    float32 weights to float32 rounding. Not inside a compiled region: ``step=`` (a Python
    number that changes every step), ``weights_over="optimizer_step"`` (Python lists of the
    step's micro-batches), and, without graph breaks, ``check=True`` (a host read),
    ``kl_capped`` and callable strategies (boolean-mask selections).

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
        strategy: Strategy = "linupper",
        temperature: float | Callable[[int], float] = 1.0,
        group: dist.ProcessGroup | None = None,
        *,
        weights_over: str = "micro_batch",
        check: bool = True,
        burn_in_steps: int = 0,
        token_weighting: str | None = None,
        empty_batch: str = "raise",
        max_local_batch: int | None = None,
    ) -> None:
        self.strategy = check_strategy(strategy)
        if callable(temperature):
            self.schedule = temperature
            self.temperature(0)  # the schedule tried at step 0: a failing one is named now
        else:
            self.schedule = constant_schedule(check_positive_finite(temperature, "temperature"))
        if not isinstance(weights_over, str) or weights_over not in WEIGHTS_OVER:
            raise ValueError(
                f"weights_over must be one of {list(WEIGHTS_OVER)}, got {weights_over!r}"
            )
        self.weights_over = weights_over
        self.check = check_bool(check, "check")
        self.group = check_group(group)
        self.burn_in_steps = _check_count(burn_in_steps, "burn_in_steps")
        if not (token_weighting is None or isinstance(token_weighting, str)) or (
            token_weighting not in TOKEN_WEIGHTINGS
        ):
            raise ValueError(
                f"token_weighting must be one of {TOKEN_WEIGHTINGS}, got {token_weighting!r}"
            )
        self.token_weighting = token_weighting
        self.empty_batch = check_empty_batch(empty_batch)
        self.max_local_batch = check_max_local(max_local_batch, 0, "max_local_batch")
        self.step = 0
        self._reset()

    def _reset(self) -> None:
        """The per-step state (records, statistics, the optimizer step's micro-batches) and
        the compiled-mode clock (:mod:`rwtheory.lm.clock`)."""
        self._records: list[Record] = []  # see rwtheory.lm.stats.stats_values
        # (step, temperature, burn-in) of the records: Python numbers, or the clock's host
        # tensor's entries when compiled
        self._record_key: tuple[Any, Any, Any] | None = None
        self._stats: ReweightStats | None = None
        self._stats_host: list[float] | None = None  # check=True: the records' stats, read
        # optimizer_step: scored (losses, valid, checks, counts)
        self._scored: list[tuple[torch.Tensor, torch.Tensor, _Checks, torch.Tensor | None]] = []
        # optimizer_step: (local weights, scale) not yet used
        self._pending: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        # optimizer_step: the training passes' domain ids (None: a pass gave none)
        self._step_domains: list[torch.Tensor | None] = []
        self._handle, self._token = clock.register(self)

    def temperature(self, step: int | None = None) -> float:
        """The temperature at ``step`` (default: the current step): the schedule's value,
        checked (a finite number > 0). A schedule that raises is named in a ``ValueError``
        (the user's exception chained to it)."""
        k = self.step if step is None else _check_count(step, "step")
        try:
            r = self.schedule(k)
        except Exception as exc:  # any exception: the user's code: say which and where
            raise ValueError(
                f"temperature: the schedule {describe(self.schedule)} must map step {k} to "
                f"a finite number > 0; it raised {type(exc).__name__}: {exc}"
            ) from exc
        return check_positive_finite(r, f"temperature at step {k}")

    def _strategy_now(self) -> Strategy:
        return "uniform" if self.step < self.burn_in_steps else self.strategy

    def _clock(self) -> tuple[int, float, bool]:
        """The current step's (step, temperature, burn-in), advancing the step: run by the
        compiled graph's clock operator (:mod:`rwtheory.lm.clock`), at run time."""
        k = self.step
        r = self.temperature(k)
        self.step = k + 1
        return k, r, k < self.burn_in_steps

    @property
    def stats(self) -> ReweightStats | None:
        """The last optimizer step's statistics (None before the first call)."""
        if self._stats is None and self._records and self._record_key is not None:
            step, r, burn_in = self._record_key
            if isinstance(step, torch.Tensor):  # compiled: the clock's host tensor
                step, r, burn_in = int(step), float(r), bool(burn_in)
            if self._stats_host is None:
                self._stats = reweight_stats(step, r, self._records, burn_in=burn_in)
            else:
                self._stats = stats_from_values(
                    step, r, self._records, self._stats_host, burn_in=burn_in
                )
        return self._stats

    def _record(
        self,
        key: tuple[Any, Any, Any],
        record: Record,
        same_step: bool,
        checks: _Checks | None = None,
    ) -> None:
        """Add one call's record (:func:`rwtheory.lm.stats.stats_values`) to the step's
        records; with ``check``: the one host read of the input ``checks`` (unread
        :class:`~rwtheory.lm.losses.LossCheck` s and counts checks), the global batch's flags
        and the step's statistics, which raises before anything is recorded."""
        records = [*self._records, record] if same_step and key == self._record_key else [record]
        host = None
        if self.check:
            host = read_checks(
                checks or [],
                record[1],
                record[2],
                stats_values(records),
                empty_ok=self.empty_batch == "skip",
            )
        self._records, self._record_key = records, key
        self._stats, self._stats_host = None, host

    def _inputs(
        self, losses: Any, valid: Any, counts: Any, domain_ids: Any
    ) -> tuple[torch.Tensor, torch.Tensor | None, CountsCheck | None, torch.Tensor | None]:
        """Validated ``(valid, counts, counts check, global domain ids)`` of one call (host
        checks only; the counts' values are checked in the call's one read)."""
        check_losses(losses)
        counts, counts_check = check_counts(counts, losses)
        if counts is None and self.token_weighting is not None:
            raise ValueError(
                f"counts (scored tokens per sample) is required with "
                f"token_weighting={self.token_weighting!r}"
            )
        if valid is None and counts is not None:
            valid = counts > 0
        valid = sample_validity(valid, losses)
        domains = None
        if domain_ids is not None:
            check_tensor(domain_ids, "domain_ids", 1, floating=False)  # integer, dense
            if tuple(domain_ids.shape) != tuple(losses.shape):
                raise ValueError(
                    f"domain_ids must be an integer tensor of the shape of "
                    f"per_sample_losses {tuple(losses.shape)}, got {tuple(domain_ids.shape)}"
                )
            domains = domain_ids.detach().long()
        return valid, counts, counts_check, domains

    def _global_domains(self, domains: torch.Tensor | None) -> torch.Tensor | None:
        """This call's (or optimizer step's) domain ids of the global batch, in its order."""
        if domains is not None and world(self.group)[1] > 1:
            domains, _ = gather_losses(domains, self.group, self.max_local_batch)
        return domains

    def __call__(
        self,
        per_sample_losses: torch.Tensor,
        *,
        valid: torch.Tensor | None = None,
        counts: torch.Tensor | None = None,
        domain_ids: torch.Tensor | None = None,
        step: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, weights)`` as :func:`rwtheory.lm.reweighted_loss`, at the current step
        (``weights_over="optimizer_step"``: this micro-batch's slice of the step's weights,
        from :meth:`score`).

        ``counts``: scored tokens per sample (``per_sample_loss(..., return_counts=True)``;
        an integer tensor, values >= 0); when given, ``valid`` defaults to ``counts > 0``.
        ``domain_ids``: optional integer tensor of the local samples' domains, for
        ``stats.domain_share`` (None unless every call of the step, every training pass with
        ``weights_over="optimizer_step"``, gave them). Every argument is checked before the
        reweighter's state changes: a call that raises leaves it as it was (its step
        included)."""
        if step is not None:
            step = _check_count(step, "step")
        valid, counts, counts_check, domains = self._inputs(
            per_sample_losses, valid, counts, domain_ids
        )
        if torch.compiler.is_compiling():
            domains = self._global_domains(domains)
            return self._compiled_call(per_sample_losses, valid, counts, domains, step)
        if self.weights_over == "optimizer_step":
            return self._call_step_weights(per_sample_losses, valid, domains, step)
        before = self.step
        if step is not None:
            self.step = step
        try:
            loss, w_local = self._micro_batch_call(
                per_sample_losses, valid, counts, counts_check, domains, same_step=step is not None
            )
        except BaseException:
            self.step = before  # a failing schedule, max_local_batch or value check
            raise
        self.step += 1
        return loss, w_local

    def _weigh(
        self, losses: torch.Tensor, valid: torch.Tensor, counts: torch.Tensor | None
    ) -> tuple[float, tuple[torch.Tensor, torch.Tensor, Record, int]]:
        """(r, :func:`reweight_core`'s result) for ``losses`` at this step's temperature r and
        strategy, with this reweighter's group, token weighting and maximum local batch."""
        r = self.temperature()
        return r, reweight_core(
            losses,
            self._strategy_now(),
            r,
            self.group,
            valid,
            counts=counts,
            token_weighting=self.token_weighting,
            max_local=self.max_local_batch,
        )

    def _micro_batch_call(
        self,
        per_sample_losses: torch.Tensor,
        valid: torch.Tensor,
        counts: torch.Tensor | None,
        counts_check: CountsCheck | None,
        domains: torch.Tensor | None,
        *,
        same_step: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The call of ``weights_over="micro_batch"`` at ``self.step``, recorded (its
        arguments checked on the host; raises before anything is recorded)."""
        domains = self._global_domains(domains)
        r, (loss, w_local, record, _) = self._weigh(per_sample_losses, valid, counts)
        self._record(
            (self.step, r, self.step < self.burn_in_steps),
            (*record[:3], domains, *record[4:]),
            same_step=same_step,
            checks=[pending_loss_check(per_sample_losses), counts_check],
        )
        return loss, w_local

    def _compiled_call(
        self,
        losses: torch.Tensor,
        valid: torch.Tensor,
        counts: torch.Tensor | None,
        domains: torch.Tensor | None,
        step: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The call inside ``torch.compile`` (class docstring): step, temperature and burn-in
        from the clock operator, evaluated at run time outside the graph."""
        if step is not None or self.weights_over != "micro_batch":
            raise ValueError(
                "inside torch.compile the reweighter counts its own steps with "
                "weights_over='micro_batch': leave step=None (got step="
                f"{step!r}, weights_over={self.weights_over!r})"
            )
        now = clock.tick(self._handle, self._token)  # [step, r, burn-in], host float64
        loss, w_local, record, _ = reweight_core(
            losses,
            self.strategy,
            now[1],
            self.group,
            valid,
            counts=counts,
            token_weighting=self.token_weighting,
            max_local=self.max_local_batch,
            burn=now[2] if self.burn_in_steps else None,
        )
        self._record((now[0], now[1], now[2]), (*record[:3], domains, *record[4:]), False)
        return loss, w_local

    def score(
        self,
        per_sample_losses: torch.Tensor,
        *,
        valid: torch.Tensor | None = None,
        counts: torch.Tensor | None = None,
    ) -> None:
        """``weights_over="optimizer_step"``: record one micro-batch's per-sample losses (the
        scoring pass, detached) before the step's training passes; ``counts`` as in the
        call (required with ``token_weighting``: the token shares are taken over the step)."""
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
        valid, counts, counts_check, _ = self._inputs(per_sample_losses, valid, counts, None)
        checks: _Checks = [pending_loss_check(per_sample_losses), counts_check]
        self._scored.append((per_sample_losses.detach(), valid, checks, counts))

    def _step_weights(self) -> None:
        """Weights (and token scales) over every scored micro-batch of every rank (one
        collective). Nothing changes when it raises (the scored micro-batches stay)."""
        if not self._scored:
            raise RuntimeError(
                "weights_over='optimizer_step': call score() on every "
                "micro-batch of the step (under torch.no_grad()) before its "
                "training passes"
            )
        scored = self._scored
        losses = torch.cat([s[0] for s in scored])
        valid = torch.cat([s[1] for s in scored])
        given = [s[3] for s in scored if s[3] is not None]
        if 0 < len(given) < len(scored):
            raise ValueError(
                f"counts must be given to every score() call of an optimizer step or to none, "
                f"got counts for {len(given)} of its {len(scored)} micro-batches"
            )
        counts = torch.cat(given) if given else None
        r, (_, w_local, record, start) = self._weigh(losses, valid, counts)
        self._record(
            (self.step, r, self.step < self.burn_in_steps),
            record,
            same_step=False,
            checks=[c for s in scored for c in s[2]],
        )
        sizes = [s[0].shape[0] for s in scored]
        scale = _local_scale(self.token_weighting, counts, valid, record, start)
        parts: Sequence[torch.Tensor | None] = (
            [None] * len(sizes) if scale is None else scale.split(sizes)
        )
        self._scored, self._step_domains = [], []
        self._pending = list(zip(w_local.split(sizes), parts, strict=True))

    def _call_step_weights(
        self,
        per_sample_losses: torch.Tensor,
        valid: torch.Tensor,
        domains: torch.Tensor | None,
        step: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One training pass of ``weights_over="optimizer_step"``: this micro-batch's slice of
        the step's weights (computed at the step's first training pass). Checked before
        anything changes: a call that raises leaves the reweighter as it was."""
        # the counts were checked with the scoring pass's (the same micro-batch's) losses
        queue = self._pending or self._scored
        if queue and queue[0][0].shape != per_sample_losses.shape:
            raise ValueError(
                f"per_sample_losses must have the shape of the scored micro-batch "
                f"{tuple(queue[0][0].shape)} (same micro-batches, same order), got "
                f"{tuple(per_sample_losses.shape)}"
            )
        if not self._pending:
            before = self.step
            self.step = before if step is None else step
            try:
                self._step_weights()
            except BaseException:
                self.step = before
                raise
        elif step is not None:
            self.step = step
        w, scale = self._pending.pop(0)
        self._step_domains.append(domains)
        loss = weighted_sum(per_sample_losses, w, valid, world(self.group)[1], scale)
        if not self._pending:
            self._finish_step_domains()
            self.step += 1
        return loss, w

    def _finish_step_domains(self) -> None:
        """The step's domain ids, gathered once in the order of the step's global batch, into
        its record (``stats.domain_share``) -- when every training pass gave them, as a step
        of ``weights_over="micro_batch"`` has shares when every call gave them (else None:
        the shares of a part of the batch would read as the step's)."""
        parts, self._step_domains = self._step_domains, []
        if not parts or not self._records or any(d is None for d in parts):
            return
        given = [d for d in parts if d is not None]  # all of them (typed for torch.cat)
        record = self._records[-1]
        domains = self._global_domains(torch.cat(given))
        self._records = [(*record[:3], domains, *record[4:])]
        self._stats = None  # computed again when read (the host values stay valid)

    def discard_step(self) -> None:
        """Drop the micro-batches scored, and the weights not yet used, of an unfinished
        optimizer step (``weights_over="optimizer_step"``), e.g. after an error inside it;
        the step counter and the last statistics are kept. Nothing happens between steps."""
        self._scored, self._pending, self._step_domains = [], [], []

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
        """Resume from :meth:`state_dict`. Every entry is checked before anything changes: a
        ``ValueError`` naming the key (``state['stats']['rho']``) and its allowed range for a
        wrong type or value, and for a checkpoint written by a reweighter of another
        configuration (strategy, schedule, burn-in, token weighting, weights_over): resuming
        it would silently change the objective."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        unknown = sorted(str(k) for k in state if k not in ("step", "stats", "config"))
        if unknown:
            raise ValueError(f"state has unknown keys {unknown}; allowed: config, stats, step")
        step = _check_count(state.get("step"), "state['step']")
        saved, mine = state.get("config"), self.config()
        if saved is not None and not isinstance(saved, dict):
            raise ValueError(
                f"state['config'] must be a dict from config() (keys {sorted(mine)}) or None, "
                f"got {saved!r}"
            )
        if saved is not None and saved != mine:
            diff = sorted(str(k) for k in set(mine) | set(saved) if saved.get(k) != mine.get(k))
            raise ValueError(
                f"state['config']: the checkpoint's configuration differs in {diff}: saved "
                f"{ {k: saved.get(k) for k in diff} }, this reweighter "
                f"{ {k: mine.get(k) for k in diff} }"
            )
        stats = state.get("stats")
        if stats is not None:
            stats = stats_from_dict(stats, "state['stats']")
        self.step, self._stats, self._stats_host = step, stats, None
        self._records, self._record_key, self._scored, self._pending = [], None, [], []
        self._step_domains = []

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["group"] = None  # process groups do not pickle: a copy uses the default group
        state["_stats"], state["_records"], state["_stats_host"] = self.stats, [], None
        for key in ("_handle", "_token", "_record_key", "_scored", "_pending", "_step_domains"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        stats = state.get("_stats")
        self.__dict__.update(state)
        self._reset()  # a copy gets its own clock (rwtheory.lm.clock)
        self._stats = stats

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={getattr(self, k)!r}"
            for k in ("burn_in_steps", "token_weighting", "max_local_batch")
            if getattr(self, k, None)
        )
        if getattr(self, "empty_batch", "raise") != "raise":
            extra += f", empty_batch={self.empty_batch!r}"
        try:  # a user schedule may fail at this step: repr must not
            r = f"{self.temperature():g}"
        except Exception as exc:  # any failure of user code: repr reports it, never raises
            r = f"<the schedule fails at step {self.step}: {type(exc).__name__}>"
        return (
            f"SampleReweighter(strategy={strategy_name(self.strategy)!r}, step={self.step}, "
            f"temperature={r}{extra})"
        )
