r"""The paper's weighting pipeline (THEORY.md §1; paper Sec. 4.2, Eq. 4, Algorithm 1, App. A.1).

Three small pure transforms, each usable on its own, composed by :func:`sample_weights`::

    losses --normalize_losses--> l~ in [-delta, delta] --strategy--> s --tempered_softmax--> w

All functions accept numpy arrays and torch tensors and return the same kind (see
:mod:`rwtheory._array` for the dtype policy). The public functions take 1-D batches; the
``batched_*`` variants work along the last axis of an array of any rank (used by the
vectorised experiments) and are the single implementation behind the 1-D functions.

The strategies (step 2) are records of :mod:`rwtheory.weights.strategies`, read through its
registry; the cap analysis is in :mod:`rwtheory.weights.cap`. Both are re-exported here, where
they used to live.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import numpy as np
from numpy.typing import NDArray

from rwtheory._array import (
    Array,
    InputTypeError,
    InputValueError,
    as_float_array,
    check_in_range,
    check_positive_finite,
    fits_dtype,
    namespace,
    widen_for,
)

# the cap analysis and the score functions live in their own modules; re-exported here
from rwtheory.weights.cap import cap_safe_temperature, worst_case_rho
from rwtheory.weights.strategies import (
    STRATEGIES,
    extremes,
    get_strategy,
    is_builtin,
    linupper,
    quadratic,
    scores_of,
    uniform,
    upper,
)

if TYPE_CHECKING:  # torch is the extra `lm`: imported where a tensor is handled
    import torch

# the public names, one a line as ruff formats a long list (every module's header has this
# shape: the lazy torch import above, then __all__)
__all__ = [
    "NORMALIZE_EPS",
    "STRATEGIES",
    "batched_sample_weights",
    "batched_tempered_softmax",
    "cap_safe_temperature",
    "extremes",
    "linupper",
    "masked_sample_weights",
    "masked_tempered_softmax",
    "normalize_losses",
    "quadratic",
    "sample_weights",
    "tempered_softmax",
    "uniform",
    "upper",
    "worst_case_rho",
]

#: A temperature: a float, or (the batched and masked functions) an array of them
#: broadcastable against the losses, of the losses' kind.
Temperature: TypeAlias = float | Array
#: What the public functions accept besides a torch tensor: a numpy array, or a list or tuple
#: of numbers (converted with ``numpy.asarray``).
NumpyLike: TypeAlias = NDArray[Any] | Sequence[Any]
#: What they return for it: a numpy array of a floating dtype (float32 or float64, see the
#: dtype policy of :mod:`rwtheory._array`). The overloads of the public functions give a
#: caller's type checker the kind of the result: a tensor for a tensor, numpy otherwise.
FloatArray: TypeAlias = NDArray[np.floating[Any]]
#: The dtype of an array of either backend.
DType: TypeAlias = "np.dtype[Any] | torch.dtype"

#: Floor of the loss spread in the normalisation (THEORY §1 step 1; the reference code's
#: ``eps``). It is in loss units, so the normalisation -- and with it the invariance of the
#: weights under ``l -> a*l + c`` -- is exact only for batches whose spread is at least this.
NORMALIZE_EPS = 1e-6


# --------------------------------------------------------------------------- step 1
def _normalize(losses: Array, delta: float, xp: ModuleType) -> Array:
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


def _check_delta(delta: Any) -> float:
    return check_in_range(check_positive_finite(delta, "delta"), "delta", *DELTA_RANGE)


@overload
def normalize_losses(losses: torch.Tensor, delta: float = ...) -> torch.Tensor: ...


@overload
def normalize_losses(losses: NumpyLike, delta: float = ...) -> FloatArray: ...


def normalize_losses(losses: Array, delta: float = 1.0) -> Array:
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
        raise InputValueError(
            f"delta must be in [{float(fi.smallest_normal):.2g}, "
            f"{float(fi.max) / 4:.2g}] for {x.dtype} losses (the normalised "
            f"losses are returned in that dtype), got {delta!r}"
        )
    return _normalize(x, delta, xp)


# --------------------------------------------------------------------------- step 3
def _softmax(
    scores: Array, temperature: Temperature, xp: ModuleType, bounded: bool = False
) -> Array:
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
    s - max s cannot overflow and the two extra passes of the halves are skipped. With a
    Python-float temperature the precision test is host-side only (no synchronisation: the
    masked training path stays sync-free and traceable)."""
    scores, back = widen_for(scores, xp, temperature)
    if not isinstance(temperature, float):
        temperature = xp.astype(temperature, scores.dtype)
    # numpy only: torch never warns, and torch.compile cannot trace np.errstate
    with np.errstate(over="ignore") if xp is np else contextlib.nullcontext():
        if bounded:
            e = scores - xp.max(scores, axis=-1, keepdims=True)
            e /= temperature
        else:
            e = scores / 2 - xp.max(scores, axis=-1, keepdims=True) / 2
            e /= temperature
            e *= 2
    e = xp.exp(e)
    return back(e / xp.sum(e, axis=-1, keepdims=True))


def _check_temperature(temperature: Any, xp: ModuleType, like: Array) -> Temperature:
    """A positive finite float, or (batched use: any array of rank >= 1) an array of them
    of the same kind, broadcastable against ``like`` (kept in its own dtype: the softmax
    decides the precision)."""
    if isinstance(temperature, (list, tuple)):  # the array policy: lists become arrays
        _, t = as_float_array(temperature, "temperature", ndim=None, min_ndim=0)
        temperature = t if isinstance(like, np.ndarray) else _like(t, like)
    if hasattr(temperature, "shape") and len(temperature.shape) > 0:
        _, t = as_float_array(temperature, "temperature", ndim=None, min_ndim=0, like=like)
        try:
            shape = np.broadcast_shapes(tuple(t.shape), tuple(like.shape))
        except ValueError:
            shape = None
        if shape != tuple(like.shape):
            raise InputValueError(
                f"temperature must be a number or an array broadcastable to the "
                f"losses' shape {tuple(like.shape)}, got shape {tuple(t.shape)}"
            )
        if not bool(xp.all(t > 0)):
            raise InputValueError("temperature must be finite and > 0 everywhere")
        return t
    return check_positive_finite(temperature, "temperature")


def _like(t: NDArray[np.float64], like: torch.Tensor) -> torch.Tensor:
    """A numpy array as a tensor on ``like``'s device (torch batches, list temperatures)."""
    import torch

    return torch.as_tensor(t, device=like.device)


@overload
def tempered_softmax(scores: torch.Tensor, temperature: float) -> torch.Tensor: ...


@overload
def tempered_softmax(scores: NumpyLike, temperature: float) -> FloatArray: ...


def tempered_softmax(scores: Array, temperature: float) -> Array:
    r"""Eq. 4: :math:`w_i = e^{(s_i - \max_j s_j)/r} / \sum_k e^{(s_k - \max_j s_j)/r}`, r > 0.

    Subtracting the maximum makes it overflow-free for any finite scores and temperature.
    A temperature the scores' dtype cannot hold (float32: below 1.2e-38 or above 8.5e37) is
    applied in float64 and the weights are returned in the scores' dtype: at r -> 0 they
    tend to the limit, equal mass on the top scores, which is what comes out (never NaN).
    """
    xp, s = as_float_array(scores, "scores")
    return _softmax(s, check_positive_finite(temperature, "temperature"), xp)


@overload
def batched_tempered_softmax(scores: torch.Tensor, temperature: Temperature) -> torch.Tensor: ...


@overload
def batched_tempered_softmax(scores: NumpyLike, temperature: Temperature) -> FloatArray: ...


def batched_tempered_softmax(scores: Array, temperature: Temperature) -> Array:
    """:func:`tempered_softmax` along the last axis of an array of any rank >= 1.

    ``temperature`` may be a float or an array (or a list: converted) broadcastable against
    ``scores`` (e.g. shape ``(R, 1)`` for one temperature per row)."""
    xp, s = as_float_array(scores, "scores", ndim=None)
    return _softmax(s, _check_temperature(temperature, xp, s), xp)


# --------------------------------------------------------------------------- pipeline
def _pipeline(
    x: Array, strategy: str, temperature: Temperature, delta: float, xp: ModuleType
) -> Array:
    record = get_strategy(strategy)
    if record.constant:  # exact 1/B, no rounding from exp
        return xp.ones_like(x) / x.shape[-1]
    x, back = widen_for(x, xp, temperature, delta)  # float64 when r or delta need it
    scores = scores_of(record, _normalize(x, delta, xp), delta)
    return back(_user_softmax(scores, x.dtype, temperature, xp, is_builtin(record)))


def _user_softmax(
    scores: Array, dtype: DType, temperature: Temperature, xp: ModuleType, builtin: bool
) -> Array:
    """The tempered softmax of a strategy's scores, in ``dtype`` (the losses' working dtype).
    The package's own scores lie in [0, 2 delta] (``bounded``); a registered strategy's
    scores may be anywhere and of another floating dtype: a wider one (float64 scores of
    float32 losses) is kept for the softmax, whose weights are then cast to ``dtype``, so
    finite scores never overflow in a conversion of the package's own."""
    if scores.dtype == dtype:
        return _softmax(scores, temperature, xp, bounded=builtin)
    wide = xp.result_type(scores.dtype, dtype)
    return xp.astype(_softmax(xp.astype(scores, wide), temperature, xp), dtype)


@overload
def sample_weights(
    losses: torch.Tensor, strategy: str = ..., temperature: float = ..., delta: float = ...
) -> torch.Tensor: ...


@overload
def sample_weights(
    losses: NumpyLike, strategy: str = ..., temperature: float = ..., delta: float = ...
) -> FloatArray: ...


def sample_weights(
    losses: Array, strategy: str = "linupper", temperature: float = 1.0, delta: float = 1.0
) -> Array:
    r"""The whole pipeline of THEORY §1: normalise, apply the strategy, tempered softmax.

    .. math:: w = \operatorname{softmax}\big(s(\tilde l)/r\big),\qquad
              \tilde l = \text{normalize\_losses}(l, \delta)

    Parameters
    ----------
    losses : 1-D array (numpy or torch) of the whole (global) batch's losses.
    strategy : a registered strategy (:data:`STRATEGIES`): ``"uniform"``, ``"linupper"``,
        ``"quadratic"``, ``"extremes"``, ``"upper"`` or one added by
        :func:`rwtheory.weights.strategies.register_strategy`.
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
    get_strategy(strategy)
    xp, x = as_float_array(losses, "losses")
    return _pipeline(x, strategy, temperature, delta, xp)


@overload
def batched_sample_weights(
    losses: torch.Tensor,
    strategy: str | Sequence[str] = ...,
    temperature: Temperature = ...,
    delta: float = ...,
) -> torch.Tensor: ...


@overload
def batched_sample_weights(
    losses: NumpyLike,
    strategy: str | Sequence[str] = ...,
    temperature: Temperature = ...,
    delta: float = ...,
) -> FloatArray: ...


def batched_sample_weights(
    losses: Array,
    strategy: str | Sequence[str] = "linupper",
    temperature: Temperature = 1.0,
    delta: float = 1.0,
) -> Array:
    """:func:`sample_weights` applied independently to every row (last axis) of ``losses``.

    ``temperature`` may be a float or an array (or list) broadcastable against ``losses``.
    ``strategy`` may also be a list or tuple with one name per row of a 2-D ``losses`` (the
    vectorised experiments weight runs of different strategies in one call): the rows are
    normalised together, scored by their own strategy and tempered together."""
    delta = _check_delta(delta)
    xp, x = as_float_array(losses, "losses", ndim=None)
    r = _check_temperature(temperature, xp, x)
    if isinstance(strategy, str):
        get_strategy(strategy)
        return _pipeline(x, strategy, r, delta, xp)
    if not isinstance(strategy, (list, tuple)):
        raise InputTypeError(
            f"strategy must be a registered name or a list of names (one per row of 2-D "
            f"losses), got {type(strategy).__name__}"
        )
    names = list(strategy)
    if x.ndim != 2 or len(names) != x.shape[0]:
        raise InputValueError(
            f"strategy must be a name or one name per row of 2-D losses, got "
            f"{len(names)} names for shape {tuple(x.shape)}"
        )
    rows: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        get_strategy(name)
        rows.setdefault(name, []).append(i)
    x, back = widen_for(x, xp, r, delta)  # float64 when r or delta need it
    t = _normalize(x, delta, xp)
    scores, builtin = xp.zeros_like(x), True
    for name, idx in rows.items():
        record = get_strategy(name)
        if not record.constant:
            s = scores_of(record, t[idx], delta)
            if s.dtype != scores.dtype:  # a registered strategy's wider scores
                scores = xp.astype(scores, xp.result_type(s.dtype, scores.dtype))
            scores[idx] = s
            builtin = builtin and is_builtin(record)
    return back(_user_softmax(scores, x.dtype, r, xp, builtin))


@overload
def masked_tempered_softmax(
    scores: torch.Tensor, valid: Array, temperature: Temperature
) -> torch.Tensor: ...


@overload
def masked_tempered_softmax(
    scores: NumpyLike, valid: Array, temperature: Temperature
) -> FloatArray: ...


def masked_tempered_softmax(scores: Array, valid: Array, temperature: Temperature) -> Array:
    """:func:`tempered_softmax` over the entries where ``valid`` is True, 0 elsewhere (last
    axis); all zeros for a row without a valid entry.

    For the training hot path (torch tensors, :mod:`rwtheory.lm`): no validation of the
    values and no host synchronisation, so ``torch.compile(fullgraph=True)`` traces it. The
    caller guarantees finite valid scores and a positive finite ``temperature``."""
    xp = namespace(scores)
    e = _softmax(xp.where(valid, scores, xp.full_like(scores, -math.inf)), temperature, xp)
    return xp.where(valid, e, xp.zeros_like(e))


@overload
def masked_sample_weights(
    losses: torch.Tensor,
    valid: Array,
    strategy: str = ...,
    temperature: Temperature = ...,
    delta: float = ...,
) -> torch.Tensor: ...


@overload
def masked_sample_weights(
    losses: NumpyLike,
    valid: Array,
    strategy: str = ...,
    temperature: Temperature = ...,
    delta: float = ...,
) -> FloatArray: ...


def masked_sample_weights(
    losses: Array,
    valid: Array,
    strategy: str = "linupper",
    temperature: Temperature = 1.0,
    delta: float = 1.0,
) -> Array:
    """:func:`sample_weights` of the entries where ``valid`` is True (last axis), 0 elsewhere;
    all zeros for a row without a valid entry. The invalid entries take no part in the
    normalisation: they are replaced by the largest valid loss, which leaves ``l_max`` and
    ``l_min`` -- and so every valid entry's normalised loss -- unchanged. Same contract as
    :func:`masked_tempered_softmax` (no checks, no synchronisation)."""
    xp = namespace(losses)
    record = get_strategy(strategy)
    lmax = xp.max(xp.where(valid, losses, xp.full_like(losses, -math.inf)), axis=-1, keepdims=True)
    if record.constant:
        scores = xp.zeros_like(losses)
    else:
        normalized = _normalize(xp.where(valid, losses, lmax), delta, xp)
        scores = scores_of(record, normalized, delta, check_values=False)  # no sync
    return masked_tempered_softmax(scores, valid, temperature)
