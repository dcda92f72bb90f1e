r"""The two constants that describe a weighting in the theory (THEORY.md §2).

* :math:`\Gamma_t = \dfrac{\sum_i w_i^t \Delta_i(x_t)}{\frac1n \sum_i \Delta_i(x_t)}`
  (1 when every gap is 0): how much weight sits on large loss gaps. Uniform weights give
  1; weight on small gaps gives :math:`\Gamma < 1`; down-weighting small gaps gives
  :math:`\Gamma > 1`, which shrinks the bounds of Theorems 1-2 by :math:`1/\Gamma`.
* :math:`\rho_t = n\max_i w_i^t \ge 1`: the cap factor. The paper's cap is :math:`\rho_t \le 2`.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, overload

from rwtheory._array import Array, InputValueError, as_float_array, input_eps
from rwtheory.weights.pipeline import FloatArray, NumpyLike

if TYPE_CHECKING:  # torch is the extra `lm`: imported where a tensor is handled
    import torch

__all__ = ["batched_gamma", "batched_rho", "gamma", "rho"]


def _check_simplex(w: Array, xp: ModuleType, input_precision: float, name: str = "weights") -> None:
    """Entries >= 0 summing to 1 along the last axis, within sqrt(eps) of the working dtype
    (the summation's rounding, as before) plus 2 eps of the dtype the weights arrived in:
    weights on the simplex stored in float16 carry up to eps/2 of rounding in their sum
    (each entry is off by at most half an ulp, relative), so
    ``rho(np.full(1000, 1/1000, np.float16))`` -- a sum off by 4e-4 -- is accepted."""
    if bool(xp.any(w < 0)):
        raise InputValueError(
            f"{name} must be >= 0 (a point of the simplex), got minimum {float(xp.min(w))}"
        )
    tol = xp.finfo(w.dtype).eps ** 0.5 + 2 * input_precision
    err = xp.max(xp.abs(xp.sum(w, axis=-1) - 1))
    if float(err) > tol:
        raise InputValueError(
            f"{name} must sum to 1 along the last axis (within {tol:.1e}), "
            f"got a sum off by {float(err):.3e}"
        )


def _gamma(w: Array, g: Array, xp: ModuleType) -> Array:
    # Scale by the largest gap so that gaps up to ~1e308 do not overflow the sums.
    scale = xp.max(g, axis=-1, keepdims=True)
    zero = scale == 0
    gs = g / xp.where(zero, xp.ones_like(scale), scale)
    num = xp.sum(w * gs, axis=-1)
    den = xp.mean(gs, axis=-1)
    safe_den = xp.where(den == 0, xp.ones_like(den), den)
    return xp.where(zero[..., 0], xp.ones_like(num), num / safe_den)


def _validated_pair(
    weights: Array, gaps: Array, ndim: int | None
) -> tuple[ModuleType, Array, Array]:
    xp, w = as_float_array(weights, "weights", ndim=ndim)
    _, g = as_float_array(gaps, "gaps", ndim=ndim, like=w)
    if tuple(w.shape) != tuple(g.shape):
        raise InputValueError(
            f"weights and gaps must have the same shape, got {tuple(w.shape)} and {tuple(g.shape)}"
        )
    if bool(xp.any(g < 0)):
        raise InputValueError(f"gaps must be >= 0, got minimum {float(xp.min(g))}")
    _check_simplex(w, xp, input_eps(weights))
    if w.dtype != g.dtype:
        dt = xp.result_type(w.dtype, g.dtype)
        w, g = xp.astype(w, dt), xp.astype(g, dt)
    return xp, w, g


@overload
def gamma(weights: torch.Tensor, gaps: Array) -> torch.Tensor: ...


@overload
def gamma(weights: NumpyLike, gaps: Array) -> FloatArray: ...


def gamma(weights: Array, gaps: Array) -> Array:
    r""":math:`\Gamma = \sum_i w_i\Delta_i / (\frac1n\sum_i\Delta_i)` (1 if all gaps are 0).

    Parameters
    ----------
    weights : 1-D array on the simplex (>= 0, summing to 1 within sqrt(machine eps) of
        the working dtype plus twice the machine eps of the weights' own dtype).
    gaps : 1-D array of loss gaps :math:`\Delta_i = f_i(x) - f_i(x^*) \ge 0`, same length.

    Returns a 0-d array of the inputs' kind. :math:`\Gamma \in [0, \rho]`, with equality
    :math:`\Gamma = \rho` possible only when the weight sits on the largest gaps.
    """
    xp, w, g = _validated_pair(weights, gaps, 1)
    return _gamma(w, g, xp)


@overload
def batched_gamma(weights: torch.Tensor, gaps: Array) -> torch.Tensor: ...


@overload
def batched_gamma(weights: NumpyLike, gaps: Array) -> FloatArray: ...


def batched_gamma(weights: Array, gaps: Array) -> Array:
    """:func:`gamma` for every row (last axis) of ``weights`` and ``gaps``."""
    xp, w, g = _validated_pair(weights, gaps, None)
    return _gamma(w, g, xp)


@overload
def rho(weights: torch.Tensor) -> torch.Tensor: ...


@overload
def rho(weights: NumpyLike) -> FloatArray: ...


def rho(weights: Array) -> Array:
    r""":math:`\rho = n\max_i w_i` for a 1-D weight vector on the simplex (0-d array)."""
    xp, w = as_float_array(weights, "weights")
    _check_simplex(w, xp, input_eps(weights))
    return w.shape[-1] * xp.max(w, axis=-1)


@overload
def batched_rho(weights: torch.Tensor) -> torch.Tensor: ...


@overload
def batched_rho(weights: NumpyLike) -> FloatArray: ...


def batched_rho(weights: Array) -> Array:
    """:func:`rho` for every row (last axis) of ``weights``."""
    xp, w = as_float_array(weights, "weights", ndim=None)
    _check_simplex(w, xp, input_eps(weights))
    return w.shape[-1] * xp.max(w, axis=-1)
