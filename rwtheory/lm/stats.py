r"""What one reweighting step did, on the global batch: :class:`ReweightStats`.

Computed from the step's global weights and losses only when read (one host
synchronisation), so a loop that never looks at the statistics pays nothing for them; or,
with the checks of :class:`rwtheory.lm.SampleReweighter` on, fetched in the checks' one read
(:func:`stats_values` is the tensor both read).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

import numpy as np
import torch

from rwtheory._array import check_bool, check_int, check_positive_finite, check_real

__all__ = [
    "RHO_BIN_EDGES",
    "Record",
    "ReweightStats",
    "reweight_stats",
    "stats_from_dict",
    "stats_from_values",
    "stats_values",
]

#: One call's record, the statistics' input: (global weights, global losses, global
#: validity, global domain ids or None, global token counts or None, global token scale or
#: None), 1-D tensors of the global batch (:func:`rwtheory.lm.reweight.reweight_core`).
Record: TypeAlias = tuple[
    torch.Tensor,
    torch.Tensor,
    torch.Tensor,
    torch.Tensor | None,
    torch.Tensor | None,
    torch.Tensor | None,
]

#: Fixed bin edges of :math:`n w_i` (a sample's weight relative to uniform) for the weight
#: histogram: bin k counts the samples with ``edges[k] < n w_i <= edges[k+1]`` (the first bin
#: includes 0). 1 is uniform; 2 is the paper's cap (the bin ``(1.5, 2]`` is the last one
#: inside it); fixed so that histograms of different steps and runs add up.
RHO_BIN_EDGES: tuple[float, ...] = (0.0, 0.5, 0.9, 1.1, 1.5, 2.0, 3.0, 5.0, 10.0, math.inf)


@dataclass(frozen=True)
class ReweightStats:
    """What one optimizer step's reweighting did, on the global batch (Python numbers).

    The statistics describe the *effective* weights of the step's samples: the weights of
    each call divided by the number of calls in the step (micro-batches under gradient
    accumulation with ``weights_over="micro_batch"``; 1 otherwise), which sum to 1 over the
    step -- the step's gradient is ``sum_i w_i grad l_i`` over them. ``n`` counts the samples
    that carry weight; ``rho = n * max_weight`` (THEORY §2; the paper's cap is rho <= 2, i.e.
    no weight above 2/n); ``entropy`` is :math:`-\\sum_i w_i \\log w_i` in nats (``log n`` for
    uniform weights); ``loss_spread`` and ``loss_mean`` describe the weighted samples' losses
    (spread = max - min, the quantity the normalisation divides by); ``burn_in`` is True on a
    step of exact uniform weighting (``temperature`` is then the schedule's value, unused);
    ``histogram`` counts the weighted samples per bin of :math:`n w_i` (edges
    :data:`RHO_BIN_EDGES`); ``domain_share`` maps each domain id present in the step to the
    total weight of its samples (``None`` when no domain ids were given); ``micro_batches``
    counts the calls; ``skipped`` the calls whose global batch had no scored token
    (``empty_batch="skip"``: loss 0, no gradient); ``objective`` is the step's reweighted
    objective :math:`\\frac1K\\sum_k\\sum_i w_i s_i \\ell_i` over its K calls (``s_i`` the token
    scale, 1 without ``token_weighting``; under gradient accumulation with
    ``weights_over="micro_batch"`` the mean of the micro-batches' objectives, which is what the
    step's gradient differentiates); ``token_loss_mean`` the unweighted token-mean loss
    :math:`\\sum_i c_i \\ell_i / \\sum_i c_i` of the step's samples (the baseline's training
    loss), None when the calls gave no token counts.

    Built by hand, the fields are checked (a ``TypeError``/``ValueError`` naming the field):
    ``step``, ``n``, ``skipped`` integers >= 0, ``micro_batches`` >= 1 and >= ``skipped``,
    ``temperature`` a finite number > 0, ``burn_in`` a bool, ``histogram`` 0 or
    ``len(RHO_BIN_EDGES) - 1`` counts, ``domain_share`` None or integer ids -> real numbers,
    the other statistics real numbers (NaN and infinities allowed: with ``check=False`` a
    step with infinite losses has them; ``max_weight``, ``rho`` and ``loss_spread`` not
    negative); numpy numbers become Python numbers."""

    step: int
    temperature: float
    n: int
    max_weight: float
    rho: float
    entropy: float
    loss_spread: float
    loss_mean: float
    burn_in: bool = False
    histogram: tuple[int, ...] = ()
    domain_share: dict | None = None
    micro_batches: int = 1
    skipped: int = 0
    objective: float = math.nan
    token_loss_mean: float | None = None

    def __post_init__(self) -> None:
        for name, value in _checked_fields(self).items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict:
        """The fields as plain data (what a checkpoint stores; :func:`stats_from_dict`)."""
        return asdict(self)

    def log_dict(self, prefix: str = "rw_") -> dict[str, float]:
        """Flat ``{name: float}`` for a logger (``Trainer.log``, wandb, tensorboard): the
        scalars, ``hist_<lo>_<hi>`` (fraction of the n samples in each bin of n·w) and
        ``share_domain_<id>``, each name prefixed with ``prefix`` (a string)."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
        out = {
            f"{prefix}{k}": float(getattr(self, k))
            for k in (
                "rho",
                "max_weight",
                "entropy",
                "temperature",
                "loss_spread",
                "loss_mean",
                "n",
                "micro_batches",
                "skipped",
                "objective",
            )
        }
        if self.token_loss_mean is not None:
            out[f"{prefix}token_loss_mean"] = float(self.token_loss_mean)
        out[f"{prefix}burn_in"] = float(self.burn_in)
        for k, c in enumerate(self.histogram):
            lo, hi = RHO_BIN_EDGES[k], RHO_BIN_EDGES[k + 1]
            out[f"{prefix}hist_{lo:g}_{hi:g}"] = c / max(self.n, 1)
        for d, share in (self.domain_share or {}).items():
            out[f"{prefix}share_domain_{d}"] = float(share)
        return out


_STATISTICS = ("max_weight", "rho", "entropy", "loss_spread", "loss_mean", "objective")


def _checked_fields(stats: ReweightStats) -> dict[str, Any]:
    """The fields of ``stats`` checked and as Python values (see :class:`ReweightStats`)."""
    out: dict[str, Any] = {
        name: check_int(getattr(stats, name), f"ReweightStats.{name}", minimum=low)
        for name, low in (("step", 0), ("n", 0), ("skipped", 0), ("micro_batches", 1))
    }
    if out["skipped"] > out["micro_batches"]:
        raise ValueError(
            f"ReweightStats.skipped must be <= micro_batches ({out['micro_batches']}), got "
            f"{out['skipped']}"
        )
    out["temperature"] = check_positive_finite(stats.temperature, "ReweightStats.temperature")
    out.update({n: check_real(getattr(stats, n), f"ReweightStats.{n}") for n in _STATISTICS})
    for name in ("max_weight", "rho", "loss_spread"):  # weights and spreads are >= 0
        if out[name] < 0:
            raise ValueError(f"ReweightStats.{name} must be >= 0 (or NaN), got {out[name]!r}")
    out["burn_in"] = check_bool(stats.burn_in, "ReweightStats.burn_in")
    hist, bins = stats.histogram, len(RHO_BIN_EDGES) - 1
    if not isinstance(hist, (list, tuple)) or len(hist) not in (0, bins):
        raise ValueError(f"ReweightStats.histogram must be {bins} counts (or none), got {hist!r}")
    out["histogram"] = tuple(check_int(c, "ReweightStats.histogram", minimum=0) for c in hist)
    share = stats.domain_share
    if share is not None and not isinstance(share, dict):
        raise TypeError(
            f"ReweightStats.domain_share must be None or a dict id -> weight, got {share!r}"
        )
    if share is not None:
        out["domain_share"] = {
            check_int(k, "ReweightStats.domain_share (an id)"): check_real(
                v, "ReweightStats.domain_share (a weight)"
            )
            for k, v in share.items()
        }
    tm = stats.token_loss_mean
    out["token_loss_mean"] = None if tm is None else check_real(tm, "ReweightStats.token_loss_mean")
    return out


def stats_values(records: Sequence[Record]) -> torch.Tensor:
    """The numbers of :class:`ReweightStats` of one optimizer step from its calls' records
    ``(global weights, global losses, global validity, global domain ids or None, global
    token counts or None, global token scale or None)`` (1-D tensors), as one float64 tensor
    (no host read): n, max weight, entropy, max and min loss, mean loss, skipped calls, the
    objective, the token-mean loss (NaN without counts), then the histogram.
    :func:`stats_from_values` turns its host copy into the statistics; a caller may fetch it
    together with other numbers."""
    k = len(records)
    w = (torch.cat([r[0] for r in records]) / k).double()
    glob = torch.cat([r[1] for r in records]).double()
    gvalid = torch.cat([r[2] for r in records])
    inf = torch.full_like(glob, math.inf)
    n = gvalid.sum()
    nw = n * w
    lo = torch.tensor(RHO_BIN_EDGES[:-1], dtype=torch.float64, device=w.device)
    hi = torch.tensor(RHO_BIN_EDGES[1:], dtype=torch.float64, device=w.device)
    # bin k: lo_k < n w <= hi_k (the first bin includes 0); n w == 2 is inside the cap
    inside = ((nw[:, None] > lo) | (lo == 0)) & (nw[:, None] <= hi) & gvalid[:, None]
    loss = torch.where(gvalid, glob, 0.0)
    scale = torch.cat([torch.ones_like(r[1]) if r[5] is None else r[5] for r in records])
    return torch.cat(
        [
            torch.stack(
                [
                    n.double(),
                    w.max(),
                    -torch.xlogy(w, w).sum(),
                    torch.where(gvalid, glob, -inf).max(),
                    torch.where(gvalid, glob, inf).min(),
                    loss.sum() / n.clamp(min=1),
                    torch.stack([~r[2].any() for r in records]).sum().double(),
                    (w * scale.double() * loss).sum(),
                    _token_mean(records, loss, gvalid),
                ]
            ),
            inside.sum(dim=0).double(),
        ]
    )


def _token_mean(
    records: Sequence[Record], loss: torch.Tensor, gvalid: torch.Tensor
) -> torch.Tensor:
    """The token-mean loss of the step (0-d float64), NaN unless every call gave counts."""
    counts = [r[4] for r in records if r[4] is not None]
    if len(counts) < len(records):
        return torch.full((), math.nan, dtype=torch.float64, device=loss.device)
    c = torch.where(gvalid, torch.cat(counts).double(), 0.0)
    return (c * loss).sum() / c.sum().clamp(min=1.0)


def _domain_share(records: Sequence[Record]) -> dict[int, float] | None:
    """Total weight per domain id (one host read), None unless every call gave domain ids."""
    ids_per_call = [r[3] for r in records if r[3] is not None]
    if len(ids_per_call) < len(records):
        return None
    k = len(records)
    w = (torch.cat([r[0] for r in records]) / k).double()
    gvalid = torch.cat([r[2] for r in records])
    domains = torch.cat(ids_per_call)
    ids, inverse = torch.unique(domains, return_inverse=True)
    sums = torch.zeros(ids.shape[0], dtype=torch.float64, device=w.device).index_add_(
        0, inverse, torch.where(gvalid, w, 0.0)
    )
    return dict(zip(ids.tolist(), sums.tolist(), strict=True))


def stats_from_values(
    step: int,
    temperature: float,
    records: Sequence[Record],
    values: Sequence[float],
    *,
    burn_in: bool = False,
) -> ReweightStats:
    """:class:`ReweightStats` from the host copy ``values`` (a list) of
    :func:`stats_values` of ``records``; the domain shares, when every call gave domain ids,
    cost one more host read here. A step without any valid sample (all its calls skipped)
    has ``n = 0`` and NaN loss statistics."""
    n, mx, ent, lmax, lmin, lmean, skipped, objective, token_mean = values[:9]
    return ReweightStats(
        step=int(step),
        temperature=float(temperature),
        n=int(n),
        max_weight=mx,
        rho=n * mx,
        entropy=ent,
        loss_spread=lmax - lmin if n else math.nan,
        loss_mean=lmean if n else math.nan,
        burn_in=bool(burn_in),
        histogram=tuple(int(c) for c in values[9:]),
        domain_share=_domain_share(records),
        micro_batches=len(records),
        skipped=int(skipped),
        objective=objective,
        token_loss_mean=None if math.isnan(token_mean) or not n else token_mean,
    )


def reweight_stats(
    step: int, temperature: float, records: Sequence[Record], *, burn_in: bool = False
) -> ReweightStats:
    """:class:`ReweightStats` of one optimizer step from its calls' records (see
    :func:`stats_values`). One host read (``tolist``) -- two when domain ids were given."""
    return stats_from_values(
        step, temperature, records, stats_values(records).tolist(), burn_in=burn_in
    )


#: How far above 1 a stored weight (or a sum of weights) may lie: the weights are float32,
#: and their sums in float64 exceed 1 by rounding (1 + 3e-8 seen in a 7-sample batch; the
#: bound leaves room for global batches of ~10^5 samples).
WEIGHT_ROUNDING = 1e-4


def _field(name: str, value: Any, kind: str, where: str) -> Any:
    """One checked field of a stored :class:`ReweightStats` (``kind``: the allowed range), as
    a Python number (numpy numbers accepted)."""
    top = 1.0 + WEIGHT_ROUNDING
    ranges: dict[str, tuple[str, Callable[[Any], bool]]] = {
        "count": ("an integer >= 0", lambda v: True),
        "positive_count": ("an integer >= 1", lambda v: v >= 1),
        "positive": ("a finite number > 0", lambda v: math.isfinite(v) and v > 0),
        "weight": (f"a number in [0, 1] (<= {top:g}: rounding)", lambda v: 0.0 <= v <= top),
        "nonneg": ("a finite number >= 0", lambda v: math.isfinite(v) and v >= 0),
        "finite": ("a finite number", math.isfinite),
        "nonneg_or_nan": ("a number >= 0 or NaN", lambda v: math.isnan(v) or 0 <= v < math.inf),
        "finite_or_nan": ("a finite number or NaN", lambda v: not math.isinf(v)),
    }
    allowed, ok = ranges[kind]
    if kind.endswith("count"):
        good = (
            isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0
        )
        value = int(value) if good else value
    else:
        good = isinstance(value, numbers.Real) and not isinstance(value, bool)
        value = float(value) if good else value
    if not good or not ok(value):
        raise ValueError(f"{where}['{name}'] must be {allowed}, got {value!r}")
    return value


#: Stored fields of :class:`ReweightStats` and their allowed ranges (:func:`stats_from_dict`).
_KINDS = {
    "step": "count",
    "temperature": "positive",
    "n": "count",
    "max_weight": "weight",
    "rho": "nonneg",
    "entropy": "nonneg",
    "loss_spread": "nonneg_or_nan",
    "loss_mean": "finite_or_nan",
    "micro_batches": "positive_count",
    "skipped": "count",
    "objective": "finite_or_nan",
}


def stats_from_dict(stored: Any, where: str = "state['stats']") -> ReweightStats:
    """A :class:`ReweightStats` from its :meth:`~ReweightStats.as_dict` (a checkpoint), every
    field checked: a ``ValueError`` naming ``where[key]`` and the allowed range for an unknown
    or missing key, a wrong type or a value out of range (NaN included where it is not
    allowed), and for statistics that contradict each other (``rho != n * max_weight``, a
    histogram that does not count the n samples, more skipped calls than calls, domain
    shares summing to more than 1): they cannot come from one step. Numpy numbers are read
    as Python numbers. Fields added after a checkpoint was written take their defaults."""
    if not isinstance(where, str):
        raise TypeError(f"where must be a string (the key path in messages), got {where!r}")
    if not isinstance(stored, dict):
        raise ValueError(f"{where} must be a dict (ReweightStats.as_dict()), got {stored!r}")
    known = {f.name for f in dataclasses.fields(ReweightStats)}
    unknown = sorted(str(k) for k in stored if k not in known)
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; allowed: {sorted(known)}")
    out: dict[str, Any] = {}
    for name, kind in _KINDS.items():
        if name in stored:
            out[name] = _field(name, stored[name], kind, where)
        elif name not in ("micro_batches", "skipped", "objective"):
            raise ValueError(f"{where} must have the key '{name}' ({kind} value)")
    out.update(_other_fields(stored, where))
    _check_consistent(out, where)
    return ReweightStats(**out)


def _check_consistent(out: dict[str, Any], where: str) -> None:
    """Stored statistics that contradict each other (see :func:`stats_from_dict`)."""
    n, mx, rho = out["n"], out["max_weight"], out["rho"]
    if not math.isclose(rho, n * mx, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(
            f"{where}['rho'] must be n * max_weight = {n} * {mx!r} = {n * mx!r} (rho = n * max "
            f"weight), got {rho!r}"
        )
    hist = out["histogram"]
    if hist and sum(hist) != n:
        raise ValueError(
            f"{where}['histogram'] must count the n = {n} weighted samples, got {sum(hist)}"
        )
    calls = out.get("micro_batches", 1)
    if out.get("skipped", 0) > calls:
        raise ValueError(
            f"{where}['skipped'] must be <= micro_batches ({calls}), got {out['skipped']}"
        )
    total = sum((out.get("domain_share") or {}).values())
    if total > 1.0 + WEIGHT_ROUNDING:
        raise ValueError(
            f"{where}['domain_share'] must sum to at most 1 (the step's weights), got {total!r}"
        )


def _other_fields(stored: dict, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "burn_in" in stored:
        if not isinstance(stored["burn_in"], bool | np.bool_):
            raise ValueError(f"{where}['burn_in'] must be a bool, got {stored['burn_in']!r}")
        out["burn_in"] = bool(stored["burn_in"])
    hist = stored.get("histogram", ())
    bins = len(RHO_BIN_EDGES) - 1
    if not isinstance(hist, (list, tuple)) or len(hist) not in (0, bins):
        raise ValueError(f"{where}['histogram'] must be a list of {bins} counts, got {hist!r}")
    out["histogram"] = tuple(_field("histogram", c, "count", where) for c in hist)
    share = stored.get("domain_share")
    if share is not None and (
        not isinstance(share, dict)
        or not all(isinstance(k, int) and not isinstance(k, bool) for k in share)
    ):
        raise ValueError(f"{where}['domain_share'] must be None or a dict id -> weight")
    if share is not None:
        out["domain_share"] = {
            k: _field("domain_share", v, "weight", where) for k, v in share.items()
        }
    tm = stored.get("token_loss_mean")
    out["token_loss_mean"] = None if tm is None else _field("token_loss_mean", tm, "finite", where)
    return out
