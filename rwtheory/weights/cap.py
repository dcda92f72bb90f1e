r"""The cap analysis: what the weighting pipeline guarantees about :math:`\rho = n\max_i w_i`.

The paper's Theorems assume the cap :math:`\rho_t \le \rho` (App. A.5 reports
:math:`\rho_t \le 2`). The pipeline does not enforce it: :func:`worst_case_rho` is the exact
supremum of :math:`\rho` over all loss batches of size n, and :func:`cap_safe_temperature` the
smallest temperature at which every batch respects a given cap. Both read the strategy's
score range and top count from its :class:`rwtheory.weights.strategies.StrategyRecord`.
"""

from __future__ import annotations

import math
from typing import Any

from rwtheory._array import InputValueError, check_int, check_positive_finite, check_real
from rwtheory.weights.strategies import StrategyRecord, get_strategy, score_range_at

__all__ = ["cap_safe_temperature", "worst_case_rho"]


#: Beyond this batch size n is not exactly a float64: the formulas are evaluated with
#: top/n (exact as a ratio of Python ints) instead of n, so that n = 10**400 gives the limit.
_EXACT_N = 2**53


def _batch_size(n: Any) -> int:
    return check_int(n, "n", minimum=1)  # Python or numpy integers; any size


def _min_batch(record: StrategyRecord) -> int:
    """The record's ``min_batch``: ``int | None`` as a constructor argument, never None once
    built (``StrategyRecord.__post_init__`` replaces None by ``top_count + 1``)."""
    assert record.min_batch is not None  # resolved at construction (see above)
    return record.min_batch


def worst_case_rho(strategy: str, n: int, temperature: float, delta: float = 1.0) -> float:
    r"""The exact supremum of :math:`\rho = n\max_i w_i` over all loss batches of size n.

    With :math:`x = e^{\Delta s / r}` (:math:`\Delta s` the strategy's score range) and
    ``top`` samples forced to the top score (the record's ``top_count``):
    :math:`\rho^* = n x / (\mathrm{top}\,x + n - \mathrm{top})`, the batch with ``top`` samples
    at the top score and the others at the bottom. For the built-in strategies:

    * ``linupper``, ``upper`` (:math:`\Delta s = \delta`, top 1): one sample at the top, the
      other :math:`n-1` at the bottom, :math:`\rho^* = n x / (x + n - 1)`;
    * ``quadratic`` (:math:`\Delta s = 1`, n >= 3): one mid-range loss among extremes, same
      formula; for n <= 2 every score is 0 and :math:`\rho^* = 1`;
    * ``extremes`` (:math:`\Delta s = \delta`): the smallest and the largest loss both score
      :math:`\delta`, so :math:`\rho^* = n x / (2x + n - 2)`;
    * ``uniform``: 1.

    The supremum is attained (e.g. losses ``[0]*(n-1) + [1]`` for ``linupper``), provided the
    batch's spread is at least :data:`rwtheory.weights.pipeline.NORMALIZE_EPS`. It tends to
    :math:`e^{\Delta s/r}` (``extremes``: :math:`e^{\delta/r}`) as n grows, so the paper's cap
    :math:`\rho \le 2` is *not* implied by the pipeline for small temperatures: see
    :func:`cap_safe_temperature`. For a registered strategy the value is the bound implied by
    its record (see :class:`~rwtheory.weights.strategies.StrategyRecord`; its ``score_range``
    must give a finite number >= 0, else an error naming the function). ``n`` is any
    integer >= 1, Python or numpy: beyond 2^53 the formula is evaluated with top/n, so that
    n = 10**400 gives the limit rather than an overflow.
    """
    record = get_strategy(strategy)
    n = _batch_size(n)
    r = check_positive_finite(temperature, "temperature")
    delta = check_positive_finite(delta, "delta")
    spread, top = score_range_at(record, delta), record.top_count
    if spread == 0.0 or n < _min_batch(record):
        return 1.0
    # n x / (top x + n - top), computed as n / (top + (n - top) e^{-spread/r}) to avoid overflow
    if n > _EXACT_N:  # n beyond float64's integers: 1 / (top/n + (1 - top/n) e^{-spread/r})
        return 1.0 / (top / n + (1.0 - top / n) * math.exp(-spread / r))
    return n / (top + (n - top) * math.exp(-spread / r))


def cap_safe_temperature(strategy: str, n: int, rho: float = 2.0, delta: float = 1.0) -> float:
    r"""Smallest temperature r such that *every* batch of size n has :math:`n\max_i w_i \le \rho`.

    Solving :func:`worst_case_rho` :math:`\le \rho` for r: with ``top`` samples forced to the
    top score (1 for ``linupper``/``upper``/``quadratic``, 2 for ``extremes``),

    .. math:: r \ge \Delta s \,/\, \log\frac{\rho\,(n - \mathrm{top})}{n - \mathrm{top}\,\rho},
              \qquad \text{when } n > \mathrm{top}\,\rho,

    and 0 (every temperature is safe) otherwise; ``math.inf`` for :math:`\rho = 1` (no
    finite temperature is safe). For ``linupper`` with :math:`\rho = 2` this
    increases to :math:`\delta/\log 2 \approx 1.4427\,\delta` as n grows: the paper's
    r = 2 (Llama-7B) always respects the cap, r = 1 and r = 0.4 do not for n >= 5 and n >= 3.
    """
    record = get_strategy(strategy)
    n = _batch_size(n)
    rho = check_real(rho, "rho")  # a number or a 0-d array; never a string or a list
    if not (math.isfinite(rho) and rho >= 1):
        raise InputValueError(f"rho must be a finite number >= 1, got {rho!r}")
    delta = check_positive_finite(delta, "delta")
    spread, top = score_range_at(record, delta), record.top_count
    if spread == 0.0 or n <= top * rho or n < _min_batch(record):
        return 0.0
    if rho == 1.0:  # any finite temperature puts more than 1/n on the top sample
        return math.inf
    # rho (n - top) / (n - top rho) = 1 + (rho - 1) n / (n - top rho): log1p keeps its
    # digits when rho is near 1 (the log of a ratio near 1 would lose them)
    if n > _EXACT_N:  # as above: in terms of top/n
        r = spread / math.log1p((rho - 1.0) / (1.0 - top / n * rho))
    else:
        r = spread / math.log1p((rho - 1.0) * n / (n - top * rho))
    return _safe_as_computed(strategy, n, r, rho, delta)


def _safe_as_computed(strategy: str, n: int, r: float, rho: float, delta: float) -> float:
    """The smallest float at or above ``r`` at which :func:`worst_case_rho`, as computed, is at
    most ``rho``: the promise of :func:`cap_safe_temperature` kept in floating point (the
    closed form's rounding can leave r just below the threshold: n = 32, linupper, rho = 2
    gave 2.0000000000000004). Near rho = 1 the worst case moves by less than an ulp per ulp
    of r, so the search doubles a step until it is safe, then bisects: ~2 log2(ulps) calls."""

    def safe(t: float) -> bool:
        return worst_case_rho(strategy, n, t, delta) <= rho

    if safe(r):
        return r
    step = math.ulp(r)
    while not safe(r + step):
        step *= 2.0
    lo, hi = r + step / 2.0, r + step  # lo unsafe (or r itself), hi safe
    if step == math.ulp(r):
        return hi
    while True:
        mid = lo + (hi - lo) / 2.0
        if mid in (lo, hi):
            return hi
        lo, hi = (lo, mid) if safe(mid) else (mid, hi)
