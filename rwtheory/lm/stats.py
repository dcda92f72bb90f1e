r"""What one reweighting step did, on the global batch: :class:`ReweightStats`.

Computed from the step's global weights and losses only when read (one host
synchronisation), so a loop that never looks at the statistics pays nothing for them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

__all__ = ["RHO_BIN_EDGES", "ReweightStats", "reweight_stats"]

#: Fixed bin edges of :math:`n w_i` (a sample's weight relative to uniform) for the weight
#: histogram: bin k counts the samples with ``edges[k] < n w_i <= edges[k+1]`` (the first bin
#: includes 0). 1 is uniform; 2 is the paper's cap (the bin ``(1.5, 2]`` is the last one
#: inside it); fixed so that histograms of different steps and runs add up.
RHO_BIN_EDGES: tuple[float, ...] = (0.0, 0.5, 0.9, 1.1, 1.5, 2.0, 3.0, 5.0, 10.0, math.inf)


@dataclass(frozen=True)
class ReweightStats:
    """What one reweighting step did, on the global batch (Python numbers).

    ``n`` counts the samples that carry weight; ``rho = n * max_weight`` (THEORY §2; the
    paper's cap is rho <= 2, i.e. no weight above 2/n); ``entropy`` is
    :math:`-\\sum_i w_i \\log w_i` in nats (``log n`` for uniform weights); ``loss_spread`` and
    ``loss_mean`` describe the weighted samples' losses (spread = max - min, the quantity the
    normalisation divides by); ``burn_in`` is True on a step of exact uniform weighting
    (``temperature`` is then the schedule's value, unused); ``histogram`` counts the weighted
    samples per bin of :math:`n w_i` (edges :data:`RHO_BIN_EDGES`); ``domain_share`` maps each
    domain id present in the batch to the total weight of its samples (``None`` when no
    domain ids were given)."""

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

    def as_dict(self) -> dict:
        return asdict(self)

    def log_dict(self, prefix: str = "rw_") -> dict[str, float]:
        """Flat ``{name: float}`` for a logger (``Trainer.log``, wandb, tensorboard): the
        scalars, ``hist_<lo>_<hi>`` (fraction of the n samples in each bin of n·w) and
        ``share_domain_<id>``."""
        out = {f"{prefix}{k}": float(getattr(self, k)) for k in (
            "rho", "max_weight", "entropy", "temperature", "loss_spread", "loss_mean", "n")}
        out[f"{prefix}burn_in"] = float(self.burn_in)
        for k, c in enumerate(self.histogram):
            lo, hi = RHO_BIN_EDGES[k], RHO_BIN_EDGES[k + 1]
            out[f"{prefix}hist_{lo:g}_{hi:g}"] = c / self.n
        for d, share in (self.domain_share or {}).items():
            out[f"{prefix}share_domain_{d}"] = float(share)
        return out


def reweight_stats(step: int, temperature: float, weights, losses, valid, *,
                   burn_in: bool = False, domains=None) -> ReweightStats:
    """:class:`ReweightStats` of global ``weights`` over global ``losses`` (1-D tensors),
    counting only the ``valid`` samples; ``domains`` an optional 1-D integer tensor of the
    global batch's domain ids."""
    wv, lv = weights[valid].double(), losses[valid].double()
    n = int(wv.shape[0])
    nw = n * wv
    edges = torch.tensor(RHO_BIN_EDGES[1:-1], dtype=torch.float64, device=nw.device)
    bins = torch.bucketize(nw, edges, right=False)  # (lo, hi]: n*w == 2 is inside the cap
    hist = torch.bincount(bins, minlength=len(RHO_BIN_EDGES) - 1)
    row = torch.stack([wv.max(), -torch.xlogy(wv, wv).sum(), lv.max(), lv.min(), lv.mean()])
    mx, ent, lmax, lmin, lmean = (float(v) for v in row.tolist())
    share = None
    if domains is not None:
        dv = domains[valid]
        ids = torch.unique(dv)
        sums = torch.zeros(ids.shape[0], dtype=torch.float64, device=wv.device).index_add_(
            0, torch.searchsorted(ids, dv), wv)
        share = {int(d): float(s) for d, s in zip(ids.tolist(), sums.tolist(), strict=True)}
    return ReweightStats(step=step, temperature=float(temperature), n=n, max_weight=mx,
                         rho=n * mx, entropy=ent, loss_spread=lmax - lmin, loss_mean=lmean,
                         burn_in=burn_in, histogram=tuple(int(c) for c in hist.tolist()),
                         domain_share=share)
