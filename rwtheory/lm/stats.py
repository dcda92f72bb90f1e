r"""What one reweighting step did, on the global batch: :class:`ReweightStats`.

Computed from the step's global weights and losses only when read (one host
synchronisation), so a loop that never looks at the statistics pays nothing for them; or,
with the checks of :class:`rwtheory.lm.SampleReweighter` on, fetched in the checks' one read
(:func:`stats_values` is the tensor both read).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

__all__ = ["RHO_BIN_EDGES", "ReweightStats", "reweight_stats", "stats_from_values", "stats_values"]

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
    counts the calls."""

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

    def as_dict(self) -> dict:
        return asdict(self)

    def log_dict(self, prefix: str = "rw_") -> dict[str, float]:
        """Flat ``{name: float}`` for a logger (``Trainer.log``, wandb, tensorboard): the
        scalars, ``hist_<lo>_<hi>`` (fraction of the n samples in each bin of n·w) and
        ``share_domain_<id>``."""
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
            )
        }
        out[f"{prefix}burn_in"] = float(self.burn_in)
        for k, c in enumerate(self.histogram):
            lo, hi = RHO_BIN_EDGES[k], RHO_BIN_EDGES[k + 1]
            out[f"{prefix}hist_{lo:g}_{hi:g}"] = c / self.n
        for d, share in (self.domain_share or {}).items():
            out[f"{prefix}share_domain_{d}"] = float(share)
        return out


def stats_values(records):
    """The numbers of :class:`ReweightStats` of one optimizer step from its calls' records
    ``(global weights, global losses, global validity, global domain ids or None)`` (1-D
    tensors), as one float64 tensor (no host read): n, max weight, entropy, max and min
    loss, mean loss, then the histogram. :func:`stats_from_values` turns its host copy into
    the statistics; a caller may fetch it together with other numbers."""
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
    return torch.cat(
        [
            torch.stack(
                [
                    n.double(),
                    w.max(),
                    -torch.xlogy(w, w).sum(),
                    torch.where(gvalid, glob, -inf).max(),
                    torch.where(gvalid, glob, inf).min(),
                    torch.where(gvalid, glob, 0.0).sum() / n.clamp(min=1),
                ]
            ),
            inside.sum(dim=0).double(),
        ]
    )


def _domain_share(records):
    """Total weight per domain id (one host read), None unless every call gave domain ids."""
    if not all(r[3] is not None for r in records):
        return None
    k = len(records)
    w = (torch.cat([r[0] for r in records]) / k).double()
    gvalid = torch.cat([r[2] for r in records])
    domains = torch.cat([r[3] for r in records])
    ids, inverse = torch.unique(domains, return_inverse=True)
    sums = torch.zeros(ids.shape[0], dtype=torch.float64, device=w.device).index_add_(
        0, inverse, torch.where(gvalid, w, 0.0)
    )
    return dict(zip(ids.tolist(), sums.tolist(), strict=True))


def stats_from_values(
    step: int, temperature: float, records, values, *, burn_in: bool = False
) -> ReweightStats:
    """:class:`ReweightStats` from the host copy ``values`` (a list) of
    :func:`stats_values` of ``records``; the domain shares, when every call gave domain ids,
    cost one more host read here."""
    n, mx, ent, lmax, lmin, lmean = values[:6]
    return ReweightStats(
        step=step,
        temperature=float(temperature),
        n=int(n),
        max_weight=mx,
        rho=n * mx,
        entropy=ent,
        loss_spread=lmax - lmin,
        loss_mean=lmean,
        burn_in=burn_in,
        histogram=tuple(int(c) for c in values[6:]),
        domain_share=_domain_share(records),
        micro_batches=len(records),
    )


def reweight_stats(
    step: int, temperature: float, records, *, burn_in: bool = False
) -> ReweightStats:
    """:class:`ReweightStats` of one optimizer step from its calls' records (see
    :func:`stats_values`). One host read (``tolist``) -- two when domain ids were given."""
    return stats_from_values(
        step, temperature, records, stats_values(records).tolist(), burn_in=burn_in
    )
