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
from rwtheory.lm.reweight import gather_losses, reweight_global_batch
from rwtheory.lm.stats import ReweightStats, reweight_stats
from rwtheory.lm.strategies import check_strategy, strategy_name
from rwtheory.weights.schedules import constant_schedule

__all__ = ["TOKEN_WEIGHTINGS", "SampleReweighter"]

#: Values of ``token_weighting``: None (weights alone), "rank" (the authors' training step:
#: share of the rank's scored tokens), "global" (share of the global batch's scored tokens).
TOKEN_WEIGHTINGS: tuple = (None, "rank", "global")


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


def _world(group) -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(group)
    return 1


def _token_scale(mode: str, counts, valid, group):
    """The per-sample factor of the token-count weighting (see the module docstring)."""
    c = counts.detach().to(torch.float64)
    if mode == "rank":
        return c * (counts.shape[0] / c.sum().clamp(min=1.0))
    # "global": n c_i / sum_j c_j with n the global number of valid samples
    local = torch.stack([c.sum(), valid.sum().to(torch.float64)])
    if _world(group) > 1:
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
    burn_in_steps : steps 0 .. burn_in_steps - 1 use exact uniform weights 1/n (the authors'
        ``burnout_steps``: no reweighting at all); default 0.
    token_weighting : None (default), ``"rank"`` (the authors' training step) or
        ``"global"``: multiply each weight by the sample's share of scored tokens (module
        docstring); needs ``counts`` in the call.

    Each call uses the temperature of the current step, then advances the step by one
    (``step=k`` in the call uses step k instead and continues from k + 1 -- e.g. the optimizer
    step under gradient accumulation). ``stats`` describes the last step
    (:class:`~rwtheory.lm.stats.ReweightStats`, computed when first read: one host sync).

    Copies: the reweighter pickles and deep-copies with any built-in schedule and strategy
    (a lambda strategy or schedule does not pickle); a copy uses the default process group
    (process groups cannot be copied: set ``group`` again on the copy for another one).
    ``state_dict`` / ``load_state_dict`` checkpoint the step and the last statistics and check
    that the configuration matches.
    """

    def __init__(self, strategy="linupper",
                 temperature: float | Callable[[int], float] = 1.0, group=None, *,
                 burn_in_steps: int = 0, token_weighting: str | None = None):
        self.strategy = check_strategy(strategy)
        if callable(temperature):
            check_positive_finite(temperature(0), "temperature(0)")
            self.schedule = temperature
        else:
            self.schedule = constant_schedule(check_positive_finite(temperature, "temperature"))
        self.group = group
        self.burn_in_steps = _check_count(burn_in_steps, "burn_in_steps")
        if token_weighting not in TOKEN_WEIGHTINGS:
            raise ValueError(f"token_weighting must be one of {TOKEN_WEIGHTINGS}, got "
                             f"{token_weighting!r}")
        self.token_weighting = token_weighting
        self.step = 0
        self._last = None      # the last step's tensors, turned into stats when read
        self._stats: ReweightStats | None = None

    def temperature(self, step: int | None = None) -> float:
        """The temperature at ``step`` (default: the current step)."""
        k = self.step if step is None else step
        return check_positive_finite(self.schedule(k), f"temperature at step {k}")

    def _check_counts(self, losses, counts, valid):
        if counts is None:
            if self.token_weighting is not None:
                raise ValueError(f"counts (scored tokens per sample) is required with "
                                 f"token_weighting={self.token_weighting!r}")
            return valid
        if not isinstance(counts, torch.Tensor) or counts.is_floating_point() \
                or tuple(counts.shape) != tuple(losses.shape):
            raise ValueError(f"counts must be an integer tensor of the shape of "
                             f"per_sample_losses {tuple(losses.shape)}, got "
                             f"{getattr(counts, 'dtype', type(counts).__name__)} "
                             f"{tuple(getattr(counts, 'shape', ()))}")
        return counts > 0 if valid is None else valid

    def __call__(self, per_sample_losses, *, valid=None, counts=None, domain_ids=None,
                 step: int | None = None):
        """``(loss, weights)`` as :func:`rwtheory.lm.reweighted_loss`, at the current step.

        ``counts``: scored tokens per sample (``per_sample_loss(..., return_counts=True)``);
        when given, ``valid`` defaults to ``counts > 0``. ``domain_ids``: optional integer
        tensor of the local samples' domains, for ``stats.domain_share``."""
        if step is not None:
            self.step = _check_count(step, "step")
        r = self.temperature()
        valid = self._check_counts(per_sample_losses, counts, valid)
        burn_in = self.step < self.burn_in_steps
        scale = None
        if self.token_weighting is not None:
            v = valid if valid is not None else torch.ones_like(counts, dtype=torch.bool)
            scale = _token_scale(self.token_weighting, counts, v, self.group)
        strategy = "uniform" if burn_in else self.strategy
        loss, w_local, w_global, glob, gvalid = reweight_global_batch(
            per_sample_losses, strategy, r, self.group, valid, scale)
        domains = None
        if domain_ids is not None:
            if not isinstance(domain_ids, torch.Tensor) or domain_ids.is_floating_point() \
                    or tuple(domain_ids.shape) != tuple(per_sample_losses.shape):
                raise ValueError(f"domain_ids must be an integer tensor of the shape of "
                                 f"per_sample_losses {tuple(per_sample_losses.shape)}")
            domains = domain_ids.detach().long()
            if _world(self.group) > 1:
                domains, _ = gather_losses(domains, self.group)
        self._last = (self.step, r, burn_in, w_global, glob, gvalid, domains)
        self._stats = None
        self.step += 1
        return loss, w_local

    @property
    def stats(self) -> ReweightStats | None:
        """What the last call did (``None`` before the first call)."""
        if self._stats is None and self._last is not None:
            step, r, burn_in, w, glob, gvalid, domains = self._last
            self._stats = reweight_stats(step, r, w, glob, gvalid, burn_in=burn_in,
                                         domains=domains)
        return self._stats

    # ------------------------------------------------------------------ checkpoints, copies
    def config(self) -> dict:
        """The configuration as plain data (what ``load_state_dict`` checks)."""
        return {"strategy": _describe(self.strategy), "schedule": _describe(self.schedule),
                "burn_in_steps": self.burn_in_steps, "token_weighting": self.token_weighting}

    def state_dict(self) -> dict:
        """The state to checkpoint, as plain data (``torch.load(weights_only=True)`` reads
        it): the step, the last statistics and the configuration they belong to."""
        stats = self.stats
        return {"step": self.step, "stats": None if stats is None else stats.as_dict(),
                "config": self.config()}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`. Raises ``ValueError`` if the checkpoint was written
        by a reweighter of another configuration (strategy, schedule, burn-in, token
        weighting): resuming it would silently change the objective."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        step = _check_count(state.get("step"), "state['step']")
        saved = state.get("config")
        if saved is not None and saved != self.config():
            diff = sorted(k for k in self.config() if saved.get(k) != self.config()[k])
            raise ValueError(f"state: the checkpoint's configuration differs in {diff}: saved "
                             f"{ {k: saved.get(k) for k in diff} }, this reweighter "
                             f"{ {k: self.config()[k] for k in diff} }")
        stats = state.get("stats")
        if stats is not None:
            stats = dict(stats)
            stats["histogram"] = tuple(stats.get("histogram", ()))
            stats = ReweightStats(**stats)
        self.step, self._last, self._stats = step, None, stats

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["group"] = None  # process groups do not pickle: a copy uses the default group
        state["_stats"], state["_last"] = self.stats, None
        return state

    def __repr__(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)!r}" for k in ("burn_in_steps", "token_weighting")
                        if getattr(self, k))
        return (f"SampleReweighter(strategy={strategy_name(self.strategy)!r}, step={self.step}, "
                f"temperature={self.temperature():g}{extra})")

