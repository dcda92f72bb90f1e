r"""The engine's layout of R runs: which runs share data, GEMMs and one weighting call.

:class:`Layout` orders the runs of one :func:`rwtheory.convex.engine.run` call into K data
blocks of m runs each, so that every array of the engine has shape (K, m, ...), and groups
them by how they are weighted (:func:`group_key`):

* every run whose strategy has a constant score (``uniform``) in one group: no work at all;
* the runs of one registered strategy and one delta in one group, whatever their
  temperatures: weighted by the fused engine (:mod:`rwtheory.convex.fused`), all such groups
  side by side in one contiguous *region* (one reduction and one ``exp`` for all);
* the runs of a scheme with a fused form of its own (``DROKL``) in one group per scheme
  class, whatever their temperatures: in the fused region too;
* any other scheme with the runs of the same scheme: called on its group's losses.
"""

from __future__ import annotations

import numpy as np

from rwtheory.convex.problems import LeastSquares
from rwtheory.convex.schemes import Scheme, Strategy

__all__ = ["FUSED_KINDS", "Layout", "group_key"]

#: Order of the group kinds in the layout.
_KIND_RANK = {"uniform": 0, "strategy": 1, "fused": 1, "scheme": 2}
#: The group kinds weighted in the fused region.
FUSED_KINDS = ("strategy", "fused")


def group_key(scheme: Scheme) -> tuple:
    """Runs with equal keys are weighted in one call: ``("uniform",)``, ``("strategy", name,
    delta)``, ``("fused", scheme class)`` (a scheme with a ``fused`` form) or ``("scheme",
    scheme)``."""
    if isinstance(scheme, Strategy):
        if scheme.record.constant:
            return ("uniform",)
        return ("strategy", scheme.strategy, float(scheme.delta))
    if _fused_form_applies(type(scheme)):
        return ("fused", type(scheme))
    return ("scheme", scheme)


def _fused_form_applies(cls: type) -> bool:
    """A ``fused`` form stands for the class's ``__call__`` only where the class that
    defines the form also defines the ``__call__`` in use: a subclass that overrides
    ``__call__`` without a form of its own is called, not fused."""
    owner = next((c for c in cls.__mro__ if "fused" in vars(c)), None)
    return owner is not None and vars(owner)["fused"] is not None and cls.__call__ is owner.__call__


class Layout:
    r"""Internal order and layout of the runs: a stack of K data blocks of m runs each.

    Run ``order[p]`` sits at position p of the flattened (K*m) axis. Two layouts:

    * *shared*: every data row of the problem has the same number m of runs and the same
      number of runs of every weighting group. Block k holds the runs of data row k, sorted
      by group, so a group is the same range of the m axis in every block, and one step
      costs one small GEMM per data row for all its runs (runs of a data row share its
      minibatches too: the batches depend on the seed only).
    * *expanded*: otherwise. Every run gets its own copy of its data (K = R, m = 1), runs
      sorted by group, so a group is a range of the K axis.

    Either way a group is addressed by a pair of slices (``groups``: key, first scheme,
    slices, span), and the fused groups form one contiguous ``region``.
    """

    def __init__(self, problem: LeastSquares, rows: np.ndarray, schemes: list[Scheme]):
        R, K = rows.shape[0], problem.runs
        keys = [group_key(s) for s in schemes]
        first = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        uniq = sorted(first, key=lambda k: (_KIND_RANK[k[0]], first[k]))
        gid = np.array([uniq.index(k) for k in keys])
        counts = np.zeros((K, len(uniq)), dtype=np.intp)
        np.add.at(counts, (rows, gid), 1)
        self.shared = bool(np.all(counts == counts[0]))
        if self.shared:
            order = np.lexsort((np.arange(R), gid, rows))
            self.problem, self.K, self.m = problem, K, R // K
            sizes = counts[0]
        else:
            order = np.lexsort((np.arange(R), gid))
            self.problem = problem.take(rows[order])
            self.K, self.m = R, 1
            sizes = np.bincount(gid, minlength=len(uniq))
        self.order = order
        self.rows = rows[order]  # data row of every internal position
        self.schemes = [schemes[i] for i in order]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.groups = []  # (key, scheme, slices, span)
        for g, key in enumerate(uniq):
            span = (int(offsets[g]), int(offsets[g + 1]))
            first = schemes[order[np.flatnonzero(gid[order] == g)[0]]]
            self.groups.append((key, first, self.slices(*span), span))
        weighted = [span for key, _, _, span in self.groups if key[0] != "uniform"]
        #: the runs whose weights are not exactly 1/b (all groups but the uniform one)
        self.weighted = self.slices(weighted[0][0], weighted[-1][1]) if weighted else None
        fused = [span for key, _, _, span in self.groups if key[0] in FUSED_KINDS]
        self.region = self.slices(fused[0][0], fused[-1][1]) if fused else None
        self.region_start = fused[0][0] if fused else 0

    def slices(self, a: int, b: int) -> tuple[slice, slice]:
        """Index of the internal positions a..b-1 of the group axis into (K, m, ...)."""
        return (slice(None), slice(a, b)) if self.shared else (slice(a, b), slice(None))

    def relative(self, span) -> tuple[slice, slice]:
        """A group's slices relative to the fused region."""
        return self.slices(span[0] - self.region_start, span[1] - self.region_start)

    def positions(self, span) -> list[int]:
        """The flattened internal positions of a group."""
        a, b = span
        return (
            [k * self.m + j for k in range(self.K) for j in range(a, b)]
            if self.shared
            else list(range(a, b))
        )

    def region_index(self, pos: int) -> tuple[int, int, int]:
        """Index into the region-shaped per-run arrays (.., .., 1) of internal position pos."""
        if self.shared:
            return (pos // self.m, pos % self.m - self.region_start, 0)
        return (pos - self.region_start, 0, 0)

    def blocks(self, flat: np.ndarray) -> np.ndarray:
        """(R, ...) in internal order -> (K, m, ...) (a view)."""
        return flat.reshape(self.K, self.m, *flat.shape[1:])
