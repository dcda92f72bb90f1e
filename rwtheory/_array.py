"""Array plumbing shared by every numerical module: one code path for numpy and torch.

The weighting mathematics is written once against the array-API standard through
``array_api_compat``; this module converts and validates inputs so that bad input fails
here, with a message naming the argument, and never deep inside numpy or torch.

Dtype policy (an assumption of the whole package, stated once):

* float64 and float32 inputs are computed in their own precision;
* float16 and bfloat16 inputs are promoted and computed in float32, and the result is
  float32 (half-precision weights would lose the 1e-6 agreement we promise);
* integer inputs are promoted to float64; bool and complex inputs are rejected;
* Python lists, tuples and scalars are converted with ``numpy.asarray``;
* torch results stay on the input's device.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import array_api_compat as aac
import numpy as np

__all__ = [
    "as_float_array",
    "check_positive_finite",
    "check_real",
    "namespace",
    "numpy_view",
    "to_float",
]


def _is_torch(x: Any) -> bool:
    return aac.is_torch_array(x)


def namespace(*arrays: Any):
    """Array-API namespace of ``arrays``: numpy itself for numpy arrays (numpy >= 2.1
    implements the standard in its main namespace, and array_api_compat's wrappers double
    the cost of each call on small arrays), ``array_api_compat.torch`` for torch tensors.

    Code written against it must stay inside the standard *and* numpy's main namespace:
    in particular ``sort`` has no ``descending`` argument there (sort, then ``flip``)."""
    if all(isinstance(a, np.ndarray) for a in arrays):
        return np
    return aac.array_namespace(*arrays)


def as_float_array(x: Any, name: str, *, ndim: int | None = 1, min_ndim: int = 1,
                   allow_empty: bool = False, finite: bool = True, like: Any = None):
    """Validate ``x`` and return ``(xp, array)`` in a floating dtype (see module docstring).

    Parameters
    ----------
    x : numpy array, torch tensor, list, tuple
        The input.
    name : str
        The argument's name, used in every error message.
    ndim : int or None
        Required number of dimensions (``None``: any number ``>= min_ndim``).
    allow_empty : bool
        Whether a last axis of length 0 is allowed.
    finite : bool
        Reject NaN and infinite entries.
    like : array, optional
        When given, ``x`` must be of the same kind (numpy vs torch) as ``like``.
    """
    if isinstance(x, (list, tuple)) or isinstance(x, numbers.Number):
        if isinstance(x, bool):
            raise TypeError(f"{name} must be an array of real numbers, got a bool")
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be a rectangular array of real numbers ({exc})") from None
    if not (isinstance(x, np.ndarray) or _is_torch(x)):
        raise TypeError(
            f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}"
        )
    if like is not None and _is_torch(x) != _is_torch(like):
        raise TypeError(f"{name} must be the same kind of array as the other inputs "
                        f"(numpy vs torch)")
    xp = namespace(x)
    dt = x.dtype
    if dt == xp.float64 or dt == xp.float32:  # the common case, no promotion
        pass
    elif xp.isdtype(dt, "bool"):
        raise TypeError(f"{name} must hold real numbers, got dtype bool")
    if xp.isdtype(dt, "complex floating"):
        raise TypeError(f"{name} must hold real numbers, got complex dtype {dt}")
    if xp.isdtype(dt, "integral"):
        x = xp.astype(x, xp.float64)
    elif not xp.isdtype(dt, "real floating"):
        raise TypeError(f"{name} must hold real numbers, got dtype {dt}")
    elif dt not in (xp.float32, xp.float64):  # float16, bfloat16
        x = xp.astype(x, xp.float32)
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), "
                         f"got shape {tuple(x.shape)}")
    if not allow_empty and (x.ndim == 0 or x.shape[-1] == 0 or math.prod(x.shape) == 0):
        raise ValueError(f"{name} must be non-empty, got shape {tuple(x.shape)}")
    if finite:
        if not bool(xp.all(xp.isfinite(x))):
            bad = ~xp.isfinite(x)
            idx = tuple(np.argwhere(np.asarray(aac.to_device(bad, "cpu")))[0].tolist())
            value = to_float(x[idx])
            where = idx[0] if len(idx) == 1 else idx
            raise ValueError(f"{name} must be finite, got {value} at index {where}")
    return xp, x


def check_real(value: Any, name: str) -> float:
    """``value`` as a Python float, or a ``TypeError`` naming ``name``."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    if (isinstance(value, np.ndarray) or _is_torch(value)) and math.prod(value.shape) == 1:
        return float(value.reshape(()).item() if _is_torch(value) else value.reshape(()))
    raise TypeError(f"{name} must be a real number, got {type(value).__name__}")


def check_positive_finite(value: Any, name: str) -> float:
    """``value`` as a float that is finite and > 0, else a ``ValueError`` naming ``name``."""
    v = check_real(value, name)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return v


def numpy_view(x: Any):
    """``(view, back)``: a CPU torch tensor as a zero-copy numpy view (detached; half
    precision promoted to float32) and the function that turns a numpy result back into a
    torch tensor; any other input unchanged, with ``back`` the identity.

    Used where an algorithm is dominated by per-call overhead on small arrays (torch's CPU
    dispatch costs several microseconds per operation, numpy's about one); the result then
    carries no autograd history, which the caller documents."""
    if _is_torch(x) and x.device.type == "cpu":
        import torch

        t = x.detach()
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        return t.numpy(), _to_torch
    return x, _identity


def _identity(a):
    return a


def _to_torch(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def to_float(x: Any) -> float:
    """A 0-d numpy/torch array (or a number) as a Python float."""
    if _is_torch(x):
        return float(x.item())
    return float(x)
