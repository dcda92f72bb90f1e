r"""What a batched run records (:class:`Trajectory`) and the recorder that fills it.

:class:`Recorder` owns every record of one :func:`rwtheory.convex.engine.run` call and all of
the divergence bookkeeping: it decides which runs diverge (:meth:`Recorder.check`), records
the raw values of every run at every step, and at the end (:meth:`Recorder.trajectory`) masks
the records of each diverged run from its divergence on with NaN and puts the runs back in
the caller's order. The stepping code never masks anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rwtheory.convex.layout import Layout

__all__ = ["Recorder", "Trajectory"]


@dataclass
class Trajectory:
    """Per-step records of a batch of runs (R runs, T steps). Arrays of shape (R, T + 1)
    are indexed by the iterate x_t, t = 0..T; arrays of shape (R, T) by the step t that
    maps x_t to x_{t+1} (the weights, the batch and the quantities made of them).

    gap-related fields exist only when the problem has an interpolation point x*:
    ``gap`` a_t = f(x_t) - f(x*), ``weighted_gap`` S_t = sum_{i in B_t} w_i Delta_i(x_t),
    ``batch_gap`` (1/b) sum_{i in B_t} Delta_i(x_t), ``gamma`` Gamma_t = S_t / batch_gap (1
    when the batch's gaps are all 0), ``prev_weighted_gap`` S'_t = sum_{i in B_t} w_i^t
    Delta_i(x_{t-1}) (heavy-ball; x_{-1} = x_0), ``dist2`` ||x_t - x*||^2 and, for heavy ball,
    ``z_dist2`` ||z_t - x*||^2.

    ``iterates`` (R, T+1, d), ``weights`` (R, T, b) and ``losses`` (R, T, b) -- the
    per-sample losses f_i(x_t), i in B_t, that the weights of step t were computed from, in
    the order of ``weights`` -- are kept on request only (``keep_iterates``,
    ``keep_weights``, ``keep_losses`` of :func:`rwtheory.convex.engine.run`): each costs
    8 R T d or 8 R T b bytes (e.g. 400 MB for 50 full-batch runs of 1000 steps on 1000
    samples). Every record of a diverged run is NaN from its ``diverged_at`` on.
    """

    method: str
    steps: int
    batch_size: int
    lr: np.ndarray  # (R,)
    labels: list[str]  # scheme label of each run
    seeds: list[int]  # seed of each run
    train_loss: np.ndarray  # (R, T+1) f(x_t)
    rho: np.ndarray  # (R, T)  b * max_i w_i^t
    diverged_at: np.ndarray  # (R,) first diverged iterate index, -1 if never
    test_loss: np.ndarray | None = None  # (R, T+1) clean test MSE
    gap: np.ndarray | None = None  # (R, T+1)
    dist2: np.ndarray | None = None  # (R, T+1)
    z_dist2: np.ndarray | None = None  # (R, T+1) heavy ball
    weighted_gap: np.ndarray | None = None  # (R, T)
    batch_gap: np.ndarray | None = None  # (R, T)
    gamma: np.ndarray | None = None  # (R, T)
    prev_weighted_gap: np.ndarray | None = None  # (R, T) heavy ball
    iterates: np.ndarray | None = None  # (R, T+1, d)
    batches: np.ndarray | None = None  # (R, T, b) (sgd; None for full batch)
    weights: np.ndarray | None = None  # (R, T, b)
    losses: np.ndarray | None = None  # (R, T, b)
    lambdas: np.ndarray | None = None  # (T+1,) heavy ball
    params: dict = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return self.train_loss.shape[0]

    @property
    def diverged(self) -> np.ndarray:
        """(R,) bool: did the run diverge?"""
        return self.diverged_at >= 0


#: Records indexed by the iterate (T + 1 rows) and by the step (T rows).
_PER_ITERATE = ("train_loss", "test_loss", "gap", "dist2", "z_dist2", "iterates")
_PER_STEP = ("rho", "weighted_gap", "batch_gap", "gamma", "prev_weighted_gap", "weights", "losses")


class Recorder:
    """The records of one run call, in the layout's internal order: arrays (K, m, T', ...),
    run-major as the Trajectory wants them, written one step at a time through (K, m, ...)
    views.

    ``names`` are the scalar records to keep; ``keep`` maps ``iterates``/``weights``/
    ``losses`` to their trailing size (d or b) for those kept."""

    def __init__(
        self, layout: Layout, steps: int, names: list[str], keep: dict[str, int], factor: float
    ):
        K, m = layout.K, layout.m
        self.layout, self.steps, self.factor = layout, steps, factor
        self.arrays: dict[str, np.ndarray] = {}
        self.steps_first: dict[str, np.ndarray] = {}
        for name in names + list(keep):
            rows = steps + 1 if name in _PER_ITERATE else steps
            tail = (keep[name],) if name in keep else ()
            self.arrays[name] = np.empty((K, m, rows) + tail)
            self.steps_first[name] = np.moveaxis(self.arrays[name], 2, 0)
        self.diverged_at = np.full((K, m), -1, dtype=np.intp)
        self.dead: np.ndarray | None = None  # (K, m) bool once a run has diverged, else None
        self.threshold: np.ndarray | None = None  # (K, m) factor f(x_0), set at the first check
        self.ok = np.empty((K, m), dtype=bool)

    def check(self, t: int, f: np.ndarray) -> np.ndarray | None:
        """Runs that diverge at iterate t: f(x_t) not finite or above ``factor`` f(x_0)
        (for runs still alive). Returns their (K, m) mask, or None."""
        if self.threshold is None:
            self.threshold = self.factor * f + 1e-300
        ok = np.isfinite(f, out=self.ok)
        ok &= f <= self.threshold
        if np.logical_and.reduce(ok, axis=None):
            return None
        bad = ~ok if self.dead is None else ~ok & ~self.dead
        if not bad.any():
            return None
        self.diverged_at[bad] = t
        self.dead = bad if self.dead is None else self.dead | bad
        return bad

    def __setitem__(self, key: tuple[str, int], value: np.ndarray) -> None:
        """``rec[name, t] = value`` (K, m, ...) records the value of every run at t."""
        np.copyto(self.steps_first[key[0]][key[1]], value)

    def at(self, name: str, t: int) -> np.ndarray:
        """The (K, m, ...) record of ``name`` at t, to be written in place (``out=``)."""
        return self.steps_first[name][t]

    def wants(self, name: str) -> bool:
        return name in self.arrays

    def trajectory(self, **fields) -> Trajectory:
        """The records masked after divergence, in the caller's order, as a Trajectory
        (``fields`` gives the rest: method, lr, labels, ...)."""
        order = self.layout.order
        pos = np.argsort(order, kind="stable")  # output run i sits at internal position pos[i]
        div = self.diverged_at.reshape(-1)
        # Trajectory's array fields by name; Any: mypy would match the value type against
        # every field of Trajectory (method: str, ...), not only the ones named here
        out: dict[str, Any] = {}
        for name, a in self.arrays.items():
            a = a.reshape(-1, *a.shape[2:])
            for p in np.flatnonzero(div >= 0):
                a[p, div[p] :] = np.nan
            out[name] = a[pos]
        return Trajectory(diverged_at=div[pos], **fields, **out)
