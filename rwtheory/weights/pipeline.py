r"""The paper's weighting pipeline (THEORY.md §1; paper Sec. 4.2, Eq. 4, Algorithm 1, App. A.1).

Three small pure transforms, each usable on its own, composed by :func:`sample_weights`::

    losses --normalize_losses--> l~ in [-delta, delta] --strategy--> s --tempered_softmax--> w

All functions accept numpy arrays and torch tensors and return the same kind (see
:mod:`rwtheory._array` for the dtype policy). The public functions take 1-D batches; the
``batched_*`` variants work along the last axis of an array of any rank (used by the
vectorised experiments) and are the single implementation behind the 1-D functions.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from rwtheory._array import (
    as_float_array,
    check_in_range,
    check_positive_finite,
    fits_dtype,
    namespace,
    widen_for,
)

__all__ = [
    "NORMALIZE_EPS",
    "STRATEGIES",
    "batched_sample_weights",
    "batched_tempered_softmax",
    "cap_safe_temperature",
    "extremes",
    "linupper",
    "normalize_losses",
    "quadratic",
    "sample_weights",
    "tempered_softmax",
    "uniform",
    "upper",
    "worst_case_rho",
]

#: Floor of the loss spread in the normalisation (THEORY §1 step 1; the reference code's
#: ``eps``). It is in loss units, so the normalisation -- and with it the invariance of the
#: weights under ``l -> a*l + c`` -- is exact only for batches whose spread is at least this.
NORMALIZE_EPS = 1e-6


# --------------------------------------------------------------------------- step 1
def _normalize(losses, delta: float, xp):
    r"""Core of :func:`normalize_losses` along the last axis (no validation)."""
    lmax = xp.max(losses, axis=-1, keepdims=True)
    lmin = xp.min(losses, axis=-1, keepdims=True)
    # delta * (2l - lmax - lmin) / max(lmax - lmin, eps) = (l - mid) * delta / max(half, eps/2)
    # with mid and half formed from halves, so that nothing overflows for finite inputs
    # (|l - mid| <= half <= 1.8e308); two passes over the batch, then the clip absorbs the
    # last-bit rounding at the ends. delta / half overflows only for delta > max * eps / 2
    # (9e301 in float64; a Python-level test, no synchronisation): then (l - mid) / half,
    # which lies in [-1, 1], is scaled by delta last.
    mid = lmax / 2 + lmin / 2
    half = xp.clip(lmax / 2 - lmin / 2, min=NORMALIZE_EPS / 2)
    if fits_dtype(delta * 4 / NORMALIZE_EPS, losses.dtype, xp):  # delta/half <= max / 4
        scaled = (losses - mid) * (delta / half)
    else:
        scaled = (losses - mid) / half * delta
    return xp.clip(scaled, min=-delta, max=delta)


#: The range of ``delta`` (the normalised losses and the scores reach 2 delta).
DELTA_RANGE = (float(np.finfo(np.float64).smallest_normal), float(np.finfo(np.float64).max) / 4)


def _check_delta(delta) -> float:
    return check_in_range(check_positive_finite(delta, "delta"), "delta", *DELTA_RANGE)


def normalize_losses(losses, delta: float = 1.0):
    r"""Map a batch of losses affinely onto :math:`[-\delta, \delta]` (THEORY §1 step 1).

    .. math::
        \tilde l_i = \delta\,
        \frac{2 l_i - l_{\max} - l_{\min}}{\max(l_{\max} - l_{\min}, \varepsilon)},
        \qquad \varepsilon = 10^{-6}.

    The smallest loss maps to :math:`-\delta` and the largest to :math:`+\delta` whenever the
    spread is at least :math:`\varepsilon`; all-equal losses map to 0. Below that spread the
    values shrink towards 0 (the batch is treated as "all the same").

    Parameters
    ----------
    losses : 1-D array (numpy or torch), finite, non-empty.
    delta : float > 0, the half-width of the target interval, in :data:`DELTA_RANGE`
        and (the result has the losses' working dtype) a normal number of that dtype at
        most a quarter of its largest: float32 losses take delta in [1.2e-38, 8.5e37].
    """
    delta = _check_delta(delta)
    xp, x = as_float_array(losses, "losses")
    if not fits_dtype(delta, x.dtype, xp):
        fi = xp.finfo(x.dtype)
        raise ValueError(f"delta must be in [{float(fi.smallest_normal):.2g}, "
                         f"{float(fi.max) / 4:.2g}] for {x.dtype} losses (the normalised "
                         f"losses are returned in that dtype), got {delta!r}")
    return _normalize(x, delta, xp)


# --------------------------------------------------------------------------- step 2
def uniform(normalized, delta: float = 1.0):
    r"""No reweighting: :math:`s = 0`, so the tempered softmax gives :math:`w_i = 1/B`."""
    xp = namespace(normalized)
    return xp.zeros_like(normalized)


def linupper(normalized, delta: float = 1.0):
    r"""LinUpper: :math:`s = \min(\tilde l + \delta, \delta)` -- grows with the loss, flat above
    the mid-range. Non-decreasing in the loss; range :math:`[0, \delta]`."""
    xp = namespace(normalized)
    return xp.clip(normalized + delta, max=delta)


def quadratic(normalized, delta: float = 1.0):
    r"""Quadratic: :math:`s = 1 - \tilde l^2/\delta^2` -- peaks at the mid-range, symmetric about
    it. Range :math:`[0, 1]` whatever :math:`\delta`."""
    return 1 - (normalized / delta) ** 2


def extremes(normalized, delta: float = 1.0):
    r"""Extremes: :math:`s = |\tilde l|` -- favours both ends. Range :math:`[0, \delta]`."""
    xp = namespace(normalized)
    return xp.abs(normalized)


def upper(normalized, delta: float = 1.0):
    r"""Upper (reference code only): :math:`s = (\tilde l + \delta)/2`, range :math:`[0,\delta]`."""
    return (normalized + delta) / 2


#: Strategy name -> score function ``s(l~, delta)``.
STRATEGIES: dict[str, Callable] = {
    "uniform": uniform,
    "linupper": linupper,
    "quadratic": quadratic,
    "extremes": extremes,
    "upper": upper,
}


def _strategy(name: str) -> Callable:
    if not isinstance(name, str) or name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {name!r}")
    return STRATEGIES[name]


# --------------------------------------------------------------------------- step 3
def _softmax(scores, temperature, xp, bounded: bool = False):
    """exp((s - max s)/r) / sum, along the last axis; ``temperature`` a float or a
    broadcastable array of positive finite values. A temperature that is not a normal
    number of the scores' dtype (1e-50 in float32) moves the computation to float64
    (:func:`rwtheory._array.widen_for`). s - max s is formed from halves, so that it does
    not overflow for any finite scores (2 * ((s/2 - max/2) / r) equals (s - max)/r bit for
    bit wherever the latter is finite). (s - max s)/r may still overflow to -inf for extreme
    scores over tiny temperatures: exp gives the correct limit 0, so numpy's overflow
    warning is silenced for this one expression. The maximum itself maps to exp(0) = 1, so
    the sum is >= 1 and never 0 or NaN. The last division is out of place: autograd keeps
    exp's output for the backward pass (the pipeline is differentiable). ``bounded``: the
    caller guarantees |scores| <= max / 4 (the strategies' scores lie in [0, 2 delta]), so
    s - max s cannot overflow and the two extra passes of the halves are skipped."""
    scores, back = widen_for(scores, xp, temperature)
    if not isinstance(temperature, float):
        temperature = xp.astype(temperature, scores.dtype)
    with np.errstate(over="ignore"):
        if bounded:
            e = scores - xp.max(scores, axis=-1, keepdims=True)
            e /= temperature
        else:
            e = scores / 2 - xp.max(scores, axis=-1, keepdims=True) / 2
            e /= temperature
            e *= 2
    e = xp.exp(e)
    return back(e / xp.sum(e, axis=-1, keepdims=True))


def _check_temperature(temperature, xp, like):
    """A positive finite float, or (batched use: any array of rank >= 1) an array of them
    of the same kind, broadcastable against ``like`` (kept in its own dtype: the softmax
    decides the precision)."""
    if hasattr(temperature, "shape") and len(temperature.shape) > 0:
        _, t = as_float_array(temperature, "temperature", ndim=None, min_ndim=0, like=like)
        try:
            shape = np.broadcast_shapes(tuple(t.shape), tuple(like.shape))
        except ValueError:
            shape = None
        if shape != tuple(like.shape):
            raise ValueError(f"temperature must be a number or an array broadcastable to the "
                             f"losses' shape {tuple(like.shape)}, got shape {tuple(t.shape)}")
        if not bool(xp.all(t > 0)):
            raise ValueError("temperature must be finite and > 0 everywhere")
        return t
    return check_positive_finite(temperature, "temperature")


def tempered_softmax(scores, temperature: float):
    r"""Eq. 4: :math:`w_i = e^{(s_i - \max_j s_j)/r} / \sum_k e^{(s_k - \max_j s_j)/r}`, r > 0.

    Subtracting the maximum makes it overflow-free for any finite scores and temperature.
    A temperature the scores' dtype cannot hold (float32: below 1.2e-38 or above 8.5e37) is
    applied in float64 and the weights are returned in the scores' dtype: at r -> 0 they
    tend to the limit, equal mass on the top scores, which is what comes out (never NaN).
    """
    xp, s = as_float_array(scores, "scores")
    return _softmax(s, check_positive_finite(temperature, "temperature"), xp)


def batched_tempered_softmax(scores, temperature):
    """:func:`tempered_softmax` along the last axis of an array of any rank >= 1.

    ``temperature`` may be a float or an array broadcastable against ``scores`` (e.g. shape
    ``(R, 1)`` for one temperature per row)."""
    xp, s = as_float_array(scores, "scores", ndim=None)
    return _softmax(s, _check_temperature(temperature, xp, s), xp)


# --------------------------------------------------------------------------- pipeline
def _pipeline(x, strategy: str, temperature, delta: float, xp):
    fn = _strategy(strategy)
    if fn is uniform:  # exact 1/B, no rounding from exp
        return xp.ones_like(x) / x.shape[-1]
    x, back = widen_for(x, xp, temperature, delta)  # float64 when r or delta need it
    return back(_softmax(fn(_normalize(x, delta, xp), delta), temperature, xp, bounded=True))


def sample_weights(losses, strategy: str = "linupper", temperature: float = 1.0,
                   delta: float = 1.0):
    r"""The whole pipeline of THEORY §1: normalise, apply the strategy, tempered softmax.

    .. math:: w = \operatorname{softmax}\big(s(\tilde l)/r\big),\qquad
              \tilde l = \text{normalize\_losses}(l, \delta)

    Parameters
    ----------
    losses : 1-D array (numpy or torch) of the whole (global) batch's losses.
    strategy : ``"uniform"``, ``"linupper"``, ``"quadratic"``, ``"extremes"`` or ``"upper"``.
    temperature : r > 0, finite. Large r -> uniform; small r -> sharp (r -> 0: equal mass on
        the top scores). A temperature or delta that the losses' working dtype cannot hold
        (float32: outside [1.2e-38, 8.5e37]) is applied in float64, the weights returned in
        the working dtype.
    delta : half-width of the normalisation interval (paper: 1), in :data:`DELTA_RANGE`.

    Returns
    -------
    Weights on the simplex, same kind/device as ``losses``. They carry whatever autograd
    history ``losses`` has; callers that must not backpropagate through the weights (the LM
    path) detach first. A single sample gets weight 1; all-equal losses get uniform weights
    (for ``quadratic`` and ``extremes`` too: every score is equal).

    Notes
    -----
    Invariance under :math:`l \mapsto a l + c` (a > 0) is exact only while the batch's spread,
    before and after the map, is at least :data:`NORMALIZE_EPS`.
    """
    delta = _check_delta(delta)
    temperature = check_positive_finite(temperature, "temperature")
    _strategy(strategy)
    xp, x = as_float_array(losses, "losses")
    return _pipeline(x, strategy, temperature, delta, xp)


def batched_sample_weights(losses, strategy="linupper", temperature=1.0,
                           delta: float = 1.0):
    """:func:`sample_weights` applied independently to every row (last axis) of ``losses``.

    ``temperature`` may be a float or an array broadcastable against ``losses``.
    ``strategy`` may also be a sequence with one name per row of a 2-D ``losses`` (the
    vectorised experiments weight runs of different strategies in one call): the rows are
    normalised together, scored by their own strategy and tempered together."""
    delta = _check_delta(delta)
    xp, x = as_float_array(losses, "losses", ndim=None)
    r = _check_temperature(temperature, xp, x)
    if isinstance(strategy, str):
        _strategy(strategy)
        return _pipeline(x, strategy, r, delta, xp)
    names = list(strategy)
    if x.ndim != 2 or len(names) != x.shape[0]:
        raise ValueError(f"strategy must be a name or one name per row of 2-D losses, got "
                         f"{len(names)} names for shape {tuple(x.shape)}")
    rows: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        _strategy(name)
        rows.setdefault(name, []).append(i)
    x, back = widen_for(x, xp, r, delta)  # float64 when r or delta need it
    t = _normalize(x, delta, xp)
    scores = xp.zeros_like(x)
    for name, idx in rows.items():
        fn = STRATEGIES[name]
        if fn is not uniform:
            scores[idx] = fn(t[idx], delta)
    return back(_softmax(scores, r, xp, bounded=True))


# --------------------------------------------------------------------------- the cap
def _score_range(strategy: str, delta: float) -> float:
    """max score - min score of a strategy over the normalised range [-delta, delta]."""
    return {"linupper": delta, "upper": delta, "extremes": delta, "quadratic": 1.0}.get(
        strategy, 0.0)


def _top_count(strategy: str) -> int:
    """How many samples of a spread-out batch are forced to the top score: the largest loss
    for linupper/upper, both the smallest and the largest for extremes; quadratic's top is the
    mid-range, which one sample can occupy alone."""
    return 2 if strategy == "extremes" else 1


def worst_case_rho(strategy: str, n: int, temperature: float, delta: float = 1.0) -> float:
    r"""The exact supremum of :math:`\rho = n\max_i w_i` over all loss batches of size n.

    With :math:`x = e^{\Delta s / r}` (:math:`\Delta s` the strategy's score range):

    * ``linupper``, ``upper`` (:math:`\Delta s = \delta`): one sample at the top, the other
      :math:`n-1` at the bottom, :math:`\rho^* = n x / (x + n - 1)`;
    * ``quadratic`` (:math:`\Delta s = 1`, n >= 3): one mid-range loss among extremes, same
      formula; for n <= 2 every score is 0 and :math:`\rho^* = 1`;
    * ``extremes`` (:math:`\Delta s = \delta`): the smallest and the largest loss both score
      :math:`\delta`, so :math:`\rho^* = n x / (2x + n - 2)`;
    * ``uniform``: 1.

    The supremum is attained (e.g. losses ``[0]*(n-1) + [1]`` for ``linupper``), provided the
    batch's spread is at least :data:`NORMALIZE_EPS`. It tends to :math:`e^{\Delta s/r}`
    (``extremes``: :math:`e^{\delta/r}`) as n grows, so the paper's cap :math:`\rho \le 2` is
    *not* implied by the pipeline for small temperatures: see :func:`cap_safe_temperature`.
    """
    _strategy(strategy)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(n)
    r = check_positive_finite(temperature, "temperature")
    delta = check_positive_finite(delta, "delta")
    spread, top = _score_range(strategy, delta), _top_count(strategy)
    if spread == 0.0 or n <= top or (strategy == "quadratic" and n < 3):
        return 1.0
    # n x / (top x + n - top), computed as n / (top + (n - top) e^{-spread/r}) to avoid overflow
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
    _strategy(strategy)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(n)
    rho = float(rho)
    if not (math.isfinite(rho) and rho >= 1):
        raise ValueError(f"rho must be a finite number >= 1, got {rho!r}")
    delta = check_positive_finite(delta, "delta")
    spread, top = _score_range(strategy, delta), _top_count(strategy)
    if spread == 0.0 or n <= top * rho or (strategy == "quadratic" and n < 3):
        return 0.0
    if rho == 1.0:  # any finite temperature puts more than 1/n on the top sample
        return math.inf
    return spread / math.log(rho * (n - top) / (n - top * rho))
