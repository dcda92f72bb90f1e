r"""Every run's weights, per step, with the registered strategies evaluated fused.

:class:`FusedWeights` keeps, for the runs of one :func:`rwtheory.convex.engine.run` call laid
out by :class:`rwtheory.convex.layout.Layout`, the unnormalised weights E (K, m, b), their row
sums S and row maxima (``emax``): the weights are w = E / S and :math:`\rho_t` = b emax / S.

For the strategies of the registry (:mod:`rwtheory.weights.strategies`) the pipeline
(normalise, score, tempered softmax) is evaluated fused, from q = 2 x the losses (= the
squared residuals), in a handful of passes over the whole fused region:

* l~ = (l - mid) delta / max(half, eps/2) = (q - mid_q) k with mid_q = 2 mid and the factor
  1/2 applied to the scale -- the same rounding as
  :func:`rwtheory.weights.pipeline.normalize_losses`, as halving is exact;
* each strategy's :class:`~rwtheory.weights.strategies.FusedForm` writes its scores over r,
  shifted where that is free (softmax is invariant to a shift of all scores of a row);
  unbounded forms are shifted by their row maximum only when r is so small that exp could
  under/overflow (:math:`\max(\delta, 1)/r > 700` for some run of the region, a bound on the
  built-in strategies' scores);
* a registered strategy without a fused form takes the generic path: normalise (with the
  clip), call its ``score``, divide by r, always shift by the row maximum;
* a scheme class with a ``fused`` form of its own (:class:`rwtheory.convex.schemes.DROKL`:
  (l - l_max)/tau on the raw losses) writes its exponent from the row maximum alone.

Then one ``exp`` and one row sum for the whole region. The forms run under a numpy ufunc
buffer of about one row (:func:`row_bufsize`), which halves their cost and changes no bit.
The result equals :func:`rwtheory.weights.pipeline.batched_sample_weights` up to rounding
(``tests/convex/test_engine.py``); uniform runs keep E = 1 and need no work at all. Any other
scheme is called on its group's losses, as :class:`rwtheory.convex.schemes.Scheme` says.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rwtheory.convex.layout import FUSED_KINDS, Layout
from rwtheory.convex.schemes import scheme_weights, temperature_at
from rwtheory.weights.pipeline import NORMALIZE_EPS
from rwtheory.weights.strategies import (
    FusedForm,
    RowStats,
    StrategyRecord,
    get_strategy,
    scores_of,
)

__all__ = ["FusedWeights", "generic_form"]

#: exp overflows above ~709.78 and a whole row underflows below ~-745: beyond this bound on
#: |score / r| the unbounded forms are shifted by their row maximum.
_EXP_SAFE = 700

#: A fused group of :class:`FusedWeights`: its form, its views q, E (K', m', b), its row
#: statistics, its views of emax (K', m', 1) and of 1/r, whether the form is the generic one.
_Group = tuple[FusedForm, np.ndarray, np.ndarray, RowStats, np.ndarray, bool, np.ndarray]


def row_bufsize(b: int) -> int:
    """numpy's ufunc buffer size under which the fused forms run: the row length b rounded
    up to a multiple of 16 (numpy's rule), at most numpy's default 8192.

    The forms combine (K, m, b) blocks with per-row constants (K, m, 1). With the default
    buffer of 8192 elements and rows shorter than it, numpy's iterator copies the broadcast
    operands into its buffer, about doubling the cost of each pass (3x on the strided slice
    of one group); with a buffer of about one row it works on the rows in place. Only the
    memory traffic changes: the forms are elementwise, so every result is the same bit for
    bit (the reductions and exp run under the default size)."""
    return int(min(8192, max(16, -(-b // 16) * 16)))


def generic_form(record: StrategyRecord, delta: float) -> FusedForm:
    """The fused engine's path for a strategy without a fused form: l~ with the clip, the
    record's score, over r. Unbounded: always shifted by the row maximum."""

    def exponent(q, row, out):
        np.subtract(q, row.mid, out=out)
        out *= row.k
        np.clip(out, -delta, delta, out=out)
        out[...] = scores_of(record, out, delta)  # a registered score's output is checked
        out *= row.inv_r

    return FusedForm(exponent, bounded=False)


def _group_form(key: tuple, scheme) -> tuple[FusedForm, bool, float]:
    """A fused group's form, whether it is the generic path, and its delta: a registered
    strategy's fused form (or the generic one), or the scheme class's own form (delta unused:
    1)."""
    if key[0] == "strategy":
        record = get_strategy(key[1])
        return record.fused or generic_form(record, key[2]), record.fused is None, key[2]
    return scheme.fused, False, 1.0


class FusedWeights:
    """E, S and emax of every run for the per-sample q (K, m, b) of the current step; ``q``
    is the engine's buffer, read in place at every call."""

    def __init__(self, layout: Layout, q: np.ndarray):
        K, m, b = q.shape
        self.layout, self.q, self.b = layout, q, b
        self.bufsize = row_bufsize(b)
        self.E = np.ones((K, m, b))
        self.S = np.full((K, m), float(b))
        self.S3 = self.S[..., None]
        self.emax = np.ones((K, m))
        self.others = [(scheme, sl) for key, scheme, sl, _ in layout.groups if key[0] == "scheme"]
        self.forms: list[_Group] = []
        # (region index, schedule r(step)) of every run with a scheduled temperature
        self.callables: list[tuple[tuple[int, int, int], Callable[[int], float]]] = []
        if layout.region is not None:
            self._init_region()

    def _init_region(self):
        lay = self.layout
        self.qR, self.ER = self.q[lay.region], self.E[lay.region]
        self.SR = self.S[lay.region]
        stat = np.ones(self.qR.shape[:-1] + (1,))
        self.temps, self.delta = stat.copy(), stat.copy()
        self.ends, self.ends_tmp = np.ones((2,) + stat.shape), np.ones((2,) + stat.shape)
        self.qmax, self.mid = self.ends[0], stat.copy()
        self.half, self.k, self.kr, self.inv_r = stat.copy(), stat.copy(), stat.copy(), stat.copy()
        self.scale = stat.copy()
        for key, scheme, sl, span in lay.groups:
            if key[0] not in FUSED_KINDS:
                continue
            rel = lay.relative(span)
            form, generic, self.delta[rel] = _group_form(key, scheme)
            for pos in lay.positions(span):  # every run's own temperature
                s, at = lay.schemes[pos], lay.region_index(pos)
                if callable(s.temperature):
                    self.callables.append((at, s.temperature))
                    self.temps[at] = temperature_at(s.temperature, 0)
                else:
                    self.temps[at] = float(s.temperature)
            row = RowStats(
                mid=self.mid[rel],
                qmax=self.qmax[rel],
                k=self.k[rel],
                kr=self.kr[rel],
                inv_r=self.inv_r[rel],
                delta=self.delta[rel],
            )
            emax = self.emax[sl]
            self.forms.append(
                (form, self.q[sl], self.E[sl], row, emax[..., None], generic, self.scale[rel])
            )
        self._temperatures()

    def _temperatures(self):
        t = self.temps
        bad = ~(np.isfinite(t) & (t > 0))
        if np.any(bad):
            raise ValueError(
                f"temperature must be a finite number > 0 for every run, got {float(t[bad][0])!r}"
            )
        with np.errstate(over="ignore"):  # t below 1/float max: 1/t is inf
            np.divide(1.0, t, out=self.scale)
            # ... and is clamped to float max: 0 * inf would be NaN at a row's maximum, while
            # (negative) * max is still -inf, the limit (all the weight on the row's top)
            np.minimum(self.scale, np.finfo(self.scale.dtype).max, out=self.scale)
            self.shift = bool(np.any(np.maximum(self.delta, 1.0) * self.scale > _EXP_SAFE))
        # Where exp could overflow, the forms write their exponents at r = 1 and _fused
        # scales them by 1/r only after the shift to a row maximum of 0: a score over a tiny
        # r (k/r, |l~|/r) would overflow to inf first, and inf - inf is NaN, while
        # 0 * (1/r) = 0 at the row's top and (negative) * (1/r) -> -inf elsewhere is the
        # limit (the weight shared by the row's top scores) for every strategy.
        self.inv_r[...] = 1.0 if self.shift else self.scale

    def __call__(self, step: int) -> None:
        """Weights for the engine's q of step ``step``."""
        if self.forms:
            self._fused(step)
        q, E = self.q, self.E
        for scheme, sl in self.others:
            qg = q[sl]
            w = scheme_weights(scheme, 0.5 * qg.reshape(-1, qg.shape[-1]), step).reshape(qg.shape)
            E[sl] = w
            self.S[sl] = 1.0
            self.emax[sl] = w.max(axis=-1)

    def _fused(self, step: int) -> None:
        if self.callables:
            for at, fn in self.callables:
                self.temps[at] = temperature_at(fn, step)
            self._temperatures()
        default = np.setbufsize(self.bufsize)  # max, min and the forms are exact in any order
        try:
            self._row_stats()
            for form, qg, Eg, row, *_ in self.forms:
                form.exponent(qg, row, Eg)
            peaks = [
                np.maximum.reduce(Eg, axis=-1, keepdims=True) if not form.bounded else None
                for form, _, Eg, *_ in self.forms
            ]
        finally:
            np.setbufsize(default)
        for (_form, _, Eg, _, emax, generic, scale), mx in zip(self.forms, peaks, strict=True):
            if mx is not None and (self.shift or generic):
                Eg -= mx
                emax[...] = 1.0
            elif mx is not None:
                np.exp(mx, out=emax)
            if self.shift:
                Eg *= scale
        np.exp(self.ER, out=self.ER)
        np.add.reduce(self.ER, axis=-1, out=self.SR)

    def _row_stats(self) -> None:
        """qmax, qmin, mid, k and k/r of every row of the region."""
        ends, tmp = self.ends, self.ends_tmp
        np.maximum.reduce(self.qR, axis=-1, keepdims=True, out=ends[0])
        np.minimum.reduce(self.qR, axis=-1, keepdims=True, out=ends[1])
        # losses l = q/2: half = l_max/2 - l_min/2, mid_q = 2 (l_max/2 + l_min/2)
        np.multiply(ends, 0.25, out=tmp)
        np.subtract(tmp[0], tmp[1], out=self.half)
        np.maximum(self.half, NORMALIZE_EPS / 2, out=self.half)
        np.multiply(ends, 0.5, out=tmp)
        np.add(tmp[0], tmp[1], out=self.mid)
        np.divide(self.delta, self.half, out=self.k)
        self.k *= 0.5  # l~ = (q - mid_q) k
        np.multiply(self.k, self.inv_r, out=self.kr)
