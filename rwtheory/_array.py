"""Array plumbing shared by every numerical module: one code path for numpy and torch, and
the package's one argument-checking layer.

The weighting mathematics is written once against the array-API standard through
``array_api_compat``; this module converts and validates inputs so that bad input fails
here, with a message naming the argument and the allowed range, and never deep inside numpy
or torch. Every public function of the package checks its arguments with the functions
below (arrays: :func:`as_float_array`, :func:`check_tensor`, :func:`as_float64_data`;
scalars: :func:`check_real`, :func:`check_positive_finite`, :func:`check_in_range`,
:func:`check_number`, :func:`check_int`, :func:`check_seed`, :func:`check_bool`,
:func:`check_choice`; code a user supplies: :func:`check_callable`, :func:`check_user_array`
and :func:`call_user_scalar`, whose errors name the user's function (:func:`describe`);
documents: :func:`read_text`, :func:`parse_json` and :func:`check_document`, a JSON Schema
validated with ``jsonschema``). Their errors are :class:`InputError` (a ``ValueError`` or
``TypeError``), raised before any computation, on one line that names the argument and what
is allowed; the command line prints them as they are and exits with status 2.

What is accepted (an assumption of the whole package, stated once):

* arrays: numpy arrays (not masked arrays) and *dense, strided* torch tensors that hold data
  (not sparse, nested, quantized or ``meta`` tensors), of a real floating or integer dtype;
  Python lists and tuples of numbers are converted with ``numpy.asarray``. Bool, complex,
  string, object and datetime dtypes are a ``TypeError``;
* scalars: Python numbers, numpy scalars, and 0-d numpy arrays or torch tensors of a real
  dtype. A 1-element array of rank >= 1 is *not* a scalar (``TypeError``): the package never
  guesses which axis a caller meant to drop.

Dtype policy (precision follows the input):

* float64 and float32 inputs are computed in their own precision;
* float16 and bfloat16 inputs are promoted and computed in float32, and the result is
  float32 (half-precision weights would lose the 1e-6 agreement we promise);
* numpy's longdouble is computed in float64 (torch has no wider type, and the package has
  one code path); integer inputs are promoted to float64;
* a scalar parameter that is not a normal number of the working dtype, or is too large for
  it (:func:`fits_dtype`), moves the computation to float64 (:func:`widen_for`): e.g. a
  float32 batch at temperature 1e-50 is weighted exactly in float64 and the weights are
  returned in float32, never as the NaN that 1e-50 rounded to 0 in float32 would give;
* torch results stay on the input's device.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import sys
from collections.abc import Callable, Collection
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

import array_api_compat as aac
import numpy as np

if TYPE_CHECKING:  # torch is the extra `lm`: imported where a tensor is handled
    import torch

# the public names, one a line as ruff formats a long list (every module's header has this
# shape: the lazy torch import above, then __all__)
__all__ = [
    "Array",
    "Back",
    "InputError",
    "InputTypeError",
    "InputValueError",
    "as_float_array",
    "as_float64_data",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_number",
    "check_document",
    "check_user_array",
    "describe",
    "parse_json",
    "read_text",
    "check_in_range",
    "check_int",
    "check_lambdas",
    "check_name",
    "check_per_run",
    "check_seed",
    "call_user_scalar",
    "check_positive_finite",
    "check_fits_dtype",
    "check_real",
    "check_tensor",
    "fits_dtype",
    "input_eps",
    "namespace",
    "numpy_view",
    "to_float",
    "widen_for",
    "zero_gradient_rows",
]


#: A numpy array or a torch tensor, as the checks below return them. ``Any`` to the type
#: checker: numpy's and torch's array types share no protocol it could check, and every
#: computation on them goes through the dynamically typed array-API namespace.
Array: TypeAlias = Any
#: ``back``: what turns a result computed on a converted array back into the caller's kind.
Back: TypeAlias = Callable[[Array], Array]


# ----------------------------------------------------------------------------- errors
class InputError(Exception):
    """Base of every error the checking layer raises for bad input. Each one is also a
    ``ValueError`` (:class:`InputValueError`: a value out of range, a wrong shape) or a
    ``TypeError`` (:class:`InputTypeError`: a wrong kind of object), and its message names the
    argument and what is allowed, on one line. The command line prints it as one line and
    exits with status 2; any other exception is a bug and keeps its traceback."""


class InputValueError(InputError, ValueError):
    """Bad input: a value, a shape or a file's content outside what is allowed."""


class InputTypeError(InputError, TypeError):
    """Bad input: an object of the wrong kind (a string for a number, a list for a callable's
    array result, ...)."""


def _is_torch(x: Any) -> bool:
    return aac.is_torch_array(x)


def namespace(*arrays: Any) -> ModuleType:
    """Array-API namespace of ``arrays``: numpy itself for numpy arrays (numpy >= 2.1
    implements the standard in its main namespace, and array_api_compat's wrappers double
    the cost of each call on small arrays), ``array_api_compat.torch`` for torch tensors.

    Code written against it must stay inside the standard *and* numpy's main namespace:
    in particular ``sort`` has no ``descending`` argument there (sort, then ``flip``).

    Tensors take a direct path to ``array_api_compat.torch`` (the same answer as
    ``array_namespace``): inside ``torch.compile`` regions that function is traced, and the
    dynamo of torch 2.9 cannot trace its ``isinstance`` checks against ``X | Y`` unions."""
    if all(isinstance(a, np.ndarray) for a in arrays):
        return np
    if "torch" in sys.modules and all(isinstance(a, sys.modules["torch"].Tensor) for a in arrays):
        import array_api_compat.torch as torch_namespace

        return torch_namespace
    return aac.array_namespace(*arrays)


# ----------------------------------------------------------------------------- arrays
def _check_torch_storage(x: Any, name: str) -> None:
    """A torch tensor must be dense, strided, unquantized and hold data."""
    if getattr(x, "is_nested", False):
        raise InputTypeError(
            f"{name} must be a dense tensor, got a nested tensor (pad it, or "
            f"pass one tensor per sequence)"
        )
    import torch

    if x.layout is not torch.strided:
        raise InputTypeError(
            f"{name} must be a dense (strided) tensor, got layout {x.layout} "
            f"(call .to_dense() first)"
        )
    if x.is_quantized:
        raise InputTypeError(
            f"{name} must hold real numbers, got quantized dtype {x.dtype} "
            f"(call .dequantize() first)"
        )
    if x.device.type == "meta":
        raise InputTypeError(f"{name} must hold data, got a tensor on the 'meta' device")


def _as_array(x: Any, name: str) -> Array:
    """``x`` as a numpy array or a torch tensor, or a ``TypeError`` naming ``name``."""
    if isinstance(x, (list, tuple)) or isinstance(x, numbers.Number):
        if isinstance(x, bool):
            raise InputTypeError(f"{name} must be an array of real numbers, got a bool")
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:  # ragged lists and the like
            raise InputTypeError(
                f"{name} must be a rectangular array of real numbers ({exc})"
            ) from None
    if isinstance(x, np.ma.MaskedArray):
        raise InputTypeError(
            f"{name} must be a plain numpy array, got a masked array (its mask "
            f"would be ignored: use .compressed() or .filled() first)"
        )
    if isinstance(x, np.ndarray):
        return x if type(x) is np.ndarray else np.asarray(x)  # np.matrix, memmap: a view
    if _is_torch(x):
        _check_torch_storage(x, name)
        return x
    raise InputTypeError(f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}")


def _working_dtype(x: Array, name: str, xp: ModuleType) -> Array:
    """``x`` converted to its working dtype (module docstring), or a ``TypeError``."""
    dt = x.dtype
    if dt == xp.float64 or dt == xp.float32:  # the common case, no promotion
        return x
    if isinstance(x, np.ndarray) and dt.kind not in "biufc":  # strings, objects, dates, ...
        raise InputTypeError(f"{name} must hold real numbers, got dtype {dt}")
    if xp.isdtype(dt, "bool"):
        raise InputTypeError(f"{name} must hold real numbers, got dtype bool")
    if xp.isdtype(dt, "complex floating"):
        raise InputTypeError(f"{name} must hold real numbers, got complex dtype {dt}")
    if xp.isdtype(dt, "integral"):
        return xp.astype(x, xp.float64)
    if not xp.isdtype(dt, "real floating"):
        raise InputTypeError(f"{name} must hold real numbers, got dtype {dt}")
    if isinstance(x, np.ndarray) and dt.itemsize > 8:  # longdouble: computed in float64
        with np.errstate(over="ignore"):  # beyond float64: reported by the finite check
            return x.astype(np.float64)
    return xp.astype(x, xp.float32)  # float16, bfloat16


def _first_non_finite(x: Array, original: Array, name: str) -> InputValueError:
    """The ``ValueError`` for the first non-finite entry of ``x``; an entry that was finite
    in ``original`` (a longdouble beyond float64's range) is reported as out of range."""
    xp = namespace(x)
    bad = ~xp.isfinite(x)
    idx = tuple(np.argwhere(np.asarray(aac.to_device(bad, "cpu")))[0].tolist())
    where = idx[0] if len(idx) == 1 else idx
    before = original[idx] if original is not x and original.shape == x.shape else x[idx]
    if isinstance(before, np.generic) and np.isfinite(before):
        return InputValueError(
            f"{name} must be within float64's range (|x| <= "
            f"{np.finfo(np.float64).max:.4g}), got {str(before)} at index {where}"
        )
    return InputValueError(f"{name} must be finite, got {to_float(x[idx])} at index {where}")


def as_float_array(
    x: Any,
    name: str,
    *,
    ndim: int | None = 1,
    min_ndim: int = 1,
    allow_empty: bool = False,
    finite: bool = True,
    like: Any = None,
) -> tuple[ModuleType, Array]:
    """Validate ``x`` and return ``(xp, array)`` in its working dtype (module docstring).

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
    original = x = _as_array(x, name)
    if like is not None and _is_torch(x) != _is_torch(like):
        raise InputTypeError(
            f"{name} must be the same kind of array as the other inputs (numpy vs torch)"
        )
    xp = namespace(x)
    x = _working_dtype(x, name, xp)
    if ndim is not None and x.ndim != ndim:
        raise InputValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    if x.ndim < min_ndim:
        raise InputValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(x.shape)}"
        )
    if not allow_empty and (x.ndim == 0 or x.shape[-1] == 0 or math.prod(x.shape) == 0):
        raise InputValueError(f"{name} must be non-empty, got shape {tuple(x.shape)}")
    if finite and not bool(xp.all(xp.isfinite(x))):
        raise _first_non_finite(x, original, name)
    return xp, x


def check_tensor(x: Any, name: str, ndim: int, *, floating: bool) -> None:
    """``x`` must be a dense torch tensor of rank ``ndim`` with a floating dtype
    (``floating``) or an integer dtype (token ids); else a ``TypeError``/``ValueError``
    naming ``name``. Nothing is converted and nothing is read from the device."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    _check_torch_storage(x, name)
    if floating and not x.is_floating_point():
        raise InputTypeError(
            f"{name} must have a floating dtype, got {x.dtype} (float16, "
            f"bfloat16, float32 and float64 are accepted)"
        )
    if not floating and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        raise InputTypeError(f"{name} must have an integer dtype (token ids), got {x.dtype}")
    if x.ndim != ndim:
        raise InputValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")


def check_fits_dtype(x: Array, name: str, dtype: Any, why: str) -> None:
    """A ``ValueError`` naming ``name`` when a finite entry of the tensor/array ``x`` lies
    beyond the finite range of the narrower ``dtype`` it is about to be cast to (``why``
    says why), so that an overflow inside the package is never reported as a non-finite
    input. Reads ``x`` only when its dtype is wider than ``dtype`` (one host sync then)."""
    xp = namespace(x)
    if xp.finfo(x.dtype).max <= xp.finfo(dtype).max:
        return
    big = float(xp.finfo(dtype).max)
    over = xp.isfinite(x) & (xp.abs(x) > big)
    if bool(xp.any(over)):
        idx = tuple(np.argwhere(np.asarray(aac.to_device(over, "cpu")))[0].tolist())
        where = idx[0] if len(idx) == 1 else idx
        raise InputValueError(
            f"{name} must be within {dtype}'s range (|x| <= {big:.4g}; {why}), "
            f"got {to_float(x[idx]):g} at index {where}"
        )


def input_eps(x: Any) -> float:
    """Machine epsilon of the dtype ``x`` arrives in (before any promotion): what rounding
    the caller's own numbers already carry. 0 for integers; float64's for lists."""
    dt = getattr(x, "dtype", None)
    if dt is None:
        return float(np.finfo(np.float64).eps)
    try:
        return float(namespace(x).finfo(dt).eps)
    except (TypeError, ValueError):  # integer dtypes
        return 0.0


# ----------------------------------------------------------------------------- scalars
def check_real(value: Any, name: str) -> float:
    """``value`` as a Python float: a real Python/numpy number or a 0-d real array/tensor;
    anything else (bool, complex, None, strings, arrays of rank >= 1) is a ``TypeError``
    naming ``name``. NaN and infinities pass: the range checks below judge them."""
    if value is None or isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, numbers.Complex):
        raise InputTypeError(f"{name} must be a real number, got the complex number {value!r}")
    if isinstance(value, np.ndarray) or _is_torch(value):
        if value.ndim != 0:
            raise InputTypeError(
                f"{name} must be a number or a 0-d array, got an array of shape "
                f"{tuple(value.shape)}"
            )
        xp = namespace(_as_array(value, name))
        _working_dtype(value, name, xp)  # TypeError for bool, complex, strings, ...
        return float(value.item())
    raise InputTypeError(f"{name} must be a real number, got {type(value).__name__}")


def check_positive_finite(value: Any, name: str) -> float:
    """``value`` as a float that is finite and > 0, else a ``ValueError`` naming ``name``."""
    v = check_real(value, name)
    if not (math.isfinite(v) and v > 0):
        raise InputValueError(f"{name} must be a finite number > 0, got {v!r}")
    return v


def check_in_range(value: Any, name: str, low: float, high: float) -> float:
    """``value`` as a float in the closed interval ``[low, high]`` (NaN never is), else a
    ``ValueError`` naming ``name`` and the interval."""
    v = check_real(value, name)
    if not low <= v <= high:
        raise InputValueError(f"{name} must be a number in [{low:g}, {high:g}], got {v!r}")
    return v


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as a Python int (a Python or numpy integer, or a 0-d integer array; not a
    bool, not a float such as 3.0, not a string): ``TypeError`` otherwise, ``ValueError``
    outside ``[minimum, maximum]`` (either end optional), naming ``name`` and the range."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        allowed = (
            f"in {minimum}..{maximum}"
            if minimum is not None and maximum is not None
            else f">= {minimum}"
            if minimum is not None
            else f"<= {maximum}"
        )
        raise InputValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return v


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed of numpy's generators: an integer >= 0 (numpy refuses negative seeds deep
    inside ``default_rng``); else an error naming ``name``."""
    return check_int(value, name, minimum=0)


def check_name(value: Any, name: str = "name") -> str:
    """``value`` if it is a non-empty string (a record's name or label), else a
    ``ValueError`` naming ``name``."""
    if not isinstance(value, str) or not value:
        raise InputValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a bool: ``True``/``False`` (or a numpy bool) only -- never a string such as
    ``'no'`` (truthy), a number or a tensor; else a ``TypeError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InputTypeError(f"{name} must be a bool (True or False), got {value!r}")


def check_number(
    value: Any,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high`` (each end closed
    unless ``*_open``); NaN and infinities never pass. ``TypeError`` for what is not a real
    number (:func:`check_real`), else a ``ValueError`` naming ``name`` and the interval."""
    v = check_real(value, name)
    ok = (
        math.isfinite(v)
        and (v > low if low_open else v >= low)
        and (v < high if high_open else v <= high)
    )
    if not ok:
        raise InputValueError(
            f"{name} must be a finite number {_interval(low, high, low_open, high_open)}, got {v!r}"
        )
    return v


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if high == math.inf:
        return f"{'>' if low_open else '>='} {low:g}"
    if low == -math.inf:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_choice(value: Any, name: str, choices: Collection[str]) -> str:
    """``value`` if it is one of the strings ``choices``, else a ``ValueError`` (``TypeError``
    for a non-string) naming ``name`` and the choices."""
    if not isinstance(value, str):
        raise InputTypeError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    if value not in choices:
        raise InputValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_callable(value: Any, name: str, what: str = "a callable") -> Callable[..., Any]:
    """``value`` if it is callable, else a ``TypeError`` naming ``name`` (``what`` says which
    callable is expected, e.g. ``"a callable t -> lambda_t"``)."""
    if not callable(value):
        raise InputTypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def describe(fn: Any) -> str:
    """How an error names a user's callable: its module and qualified name (a lambda's too),
    or its class for a callable object."""
    target = fn if hasattr(fn, "__qualname__") else type(fn)
    module = getattr(target, "__module__", None)
    qual = getattr(target, "__qualname__", repr(fn))
    return f"{module}.{qual}" if module else qual


def check_user_array(out: Any, what: str, like: Array, *, finite: bool = True) -> Array:
    """The array ``out`` that a user's callable returned for the array ``like``: it must be
    the same kind (numpy array for numpy input, torch tensor for torch input), of ``like``'s
    shape and of a real dtype; integer results are cast to ``like``'s dtype (a score of 0 or 1
    is a number), and (``finite``) every entry finite. Else a ``TypeError``/``ValueError``
    whose message starts with ``what`` (e.g. "the score of strategy 'toy'
    (mymodule.toy_score)"). Checking the values reads them (one host synchronisation for a
    device tensor)."""
    if (
        type(out) is np.ndarray
        and type(like) is np.ndarray
        and out.shape == like.shape
        and out.dtype.kind == "f"
    ):  # the common case, in two passes (the engine calls this at every step)
        if finite and not np.isfinite(out).all():
            _raise_non_finite(out, what)
        return out
    kind = "torch tensor" if _is_torch(like) else "numpy array"
    if _is_torch(like) != _is_torch(out) or not (isinstance(out, np.ndarray) or _is_torch(out)):
        raise InputTypeError(
            f"{what} must return a {kind} like its input, got {type(out).__name__}"
        )
    if tuple(out.shape) != tuple(like.shape):
        raise InputValueError(
            f"{what} must return one value per input, shape {tuple(like.shape)}, "
            f"got shape {tuple(out.shape)}"
        )
    xp = namespace(out)
    if xp.isdtype(out.dtype, "integral") and not xp.isdtype(out.dtype, "bool"):
        out = xp.astype(out, like.dtype)
    elif not xp.isdtype(out.dtype, "real floating"):
        raise InputTypeError(f"{what} must return real numbers, got dtype {out.dtype}")
    if finite and not bool(xp.all(xp.isfinite(out))):
        _raise_non_finite(out, what)
    return out


def _raise_non_finite(out: Array, what: str) -> None:
    xp = namespace(out)
    bad = np.asarray(aac.to_device(~xp.isfinite(out), "cpu"))
    idx = tuple(np.argwhere(bad)[0].tolist())
    raise InputValueError(
        f"{what} must return finite numbers, got {to_float(out[idx])} at index "
        f"{idx[0] if len(idx) == 1 else idx}"
    )


# ----------------------------------------------------------------------------- precision
@functools.lru_cache(maxsize=32)
def _bounds(dtype: Any) -> tuple[float, float]:
    """(smallest normal, largest / 4) of a numpy or torch floating dtype (cached: finfo
    costs microseconds per call on the weighting hot path)."""
    fi: np.finfo[Any] | torch.finfo
    if isinstance(dtype, np.dtype) or isinstance(dtype, type):
        fi = np.finfo(dtype)
    else:
        import torch

        fi = torch.finfo(dtype)
    return float(fi.smallest_normal), float(fi.max) / 4


def fits_dtype(value: Any, dtype: Any, xp: ModuleType) -> bool:
    """Whether ``value`` (a float, or an array of positive values) can be used as a scalar
    parameter of a computation in ``dtype``: every value a normal number of the dtype and at
    most a quarter of its largest (so that a few sums of such values stay finite). A float32
    computation cannot use a temperature of 1e-50 (it rounds to 0) or 1e39 (to inf)."""
    lo, hi = _bounds(dtype)
    if isinstance(value, float):
        return lo <= value <= hi
    return lo <= to_float(xp.min(value)) and to_float(xp.max(value)) <= hi


def widen_for(x: Array, xp: ModuleType, *params: Any) -> tuple[Array, Back]:
    """``(x, back)``: ``x`` itself when every parameter in ``params`` (floats, arrays, or
    ``None``: skipped) :func:`fits_dtype` of ``x``, else ``x`` in float64 and ``back`` the
    cast of a result to ``x``'s dtype. A float64 ``x`` is never widened: the callers refuse
    what float64 cannot hold."""
    if x.dtype == xp.float64 or all(fits_dtype(p, x.dtype, xp) for p in params if p is not None):
        return x, _identity
    dtype = x.dtype
    return xp.astype(x, xp.float64), lambda a: xp.astype(a, dtype)


def zero_gradient_rows(x: Array, keep: Array) -> Array:
    """``x`` (a 2-D torch tensor) with a gradient hook that sets the gradient of every row
    where ``keep`` is False to exactly 0. Those rows do not enter the result, so their true
    gradient is 0; without the hook a row of -inf logits (a fully masked, ignored position)
    turns its 0 upstream gradient into NaN in log-softmax's backward (0 * NaN). No host
    synchronisation; a tensor without autograd history is returned unchanged."""
    if _is_torch(x) and x.requires_grad:
        drop = ~keep[:, None]
        x.register_hook(lambda g: g.masked_fill(drop, 0))
    return x


# ----------------------------------------------------------------------------- plumbing
def numpy_view(x: Any) -> tuple[Any, Back]:
    """``(view, back)``: a CPU torch tensor as a zero-copy numpy view (detached; half
    precision promoted to float32) and the function that turns a numpy result back into a
    torch tensor; any other input unchanged, with ``back`` the identity.

    Used where an algorithm is dominated by per-call overhead on small arrays (torch's CPU
    dispatch costs several microseconds per operation, numpy's about one); the result then
    carries no autograd history, which the caller documents. Tensors that are not dense
    CPU tensors pass through unchanged (the validation then rejects them by name)."""
    if (
        _is_torch(x)
        and x.device.type == "cpu"
        and x.layout is _torch_strided()
        and not getattr(x, "is_nested", False)
        and not x.is_quantized
    ):
        import torch

        t = x.detach()
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        if t.is_complex() or t.dtype == torch.bool:
            return x, _identity
        return t.numpy(), _to_torch
    return x, _identity


def _torch_strided() -> Any:
    import torch

    return torch.strided


def _identity(a: Array) -> Array:
    return a


def _to_torch(a: np.ndarray) -> Array:
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def to_float(x: Any) -> float:
    """A 0-d numpy/torch array (or a number) as a Python float."""
    if _is_torch(x):
        return float(x.item())
    return float(x)


# ---------------------------------------------------------------- engine arguments
def as_float64_data(x: Any, name: str, shape: tuple, *, finite: bool = True) -> np.ndarray:
    """A data array of the convex engines as a float64 numpy array of ``shape`` (entries are
    sizes, or names such as ``"n"`` that match any size; torch tensors are copied to the
    host), validated like :func:`as_float_array` (real dtype, finite, non-empty), else an
    error naming ``name``, the expected and the actual shape."""
    _, a = as_float_array(x, name, ndim=None, min_ndim=0, allow_empty=True, finite=finite)
    names = ", ".join(str(s) for s in shape)
    if a.ndim != len(shape) or any(
        isinstance(s, int) and s != t for s, t in zip(shape, a.shape, strict=True)
    ):
        raise InputValueError(f"{name} must have shape ({names}), got {tuple(a.shape)}")
    if math.prod(a.shape) == 0:
        raise InputValueError(f"{name} must be non-empty, got shape {tuple(a.shape)}")
    if _is_torch(a):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def check_per_run(value: Any, name: str, runs: int) -> np.ndarray:
    """A positive finite number, or one per run (an array or list of shape (runs,)): a
    float64 array of shape (runs,). Strings, bools and other non-numbers are a
    ``TypeError`` naming ``name``."""
    if isinstance(value, (list, tuple, np.ndarray)) or _is_torch(value):
        if np.ndim(value) == 0:
            value = check_real(value, name)
        else:
            _, arr = as_float_array(value, name, ndim=None)
            if tuple(arr.shape) != (runs,):
                raise InputValueError(
                    f"{name} must be a number or have one value per run ({runs}), "
                    f"got shape {tuple(arr.shape)}"
                )
            arr = np.asarray(aac.to_device(arr, "cpu"), dtype=np.float64).copy()
            if not np.all(arr > 0):
                raise InputValueError(
                    f"{name} must be finite and > 0 for every run, got {float(arr.min())!r}"
                )
            return arr
    v = check_positive_finite(value, name)
    return np.full(runs, v)


def call_user_scalar(
    fn: Callable[[int], Any], arg: int, what: str, *, low: float = 0.0, low_open: bool = True
) -> float:
    """``fn(arg)`` as a finite float above ``low`` (``>= low`` unless ``low_open``): a user's
    schedule (a temperature ``r(t)``, heavy ball's ``lambda_t``). Anything else -- a string,
    NaN, a negative value, an array -- is an error whose message starts with ``what`` and
    names the step."""
    return check_number(fn(arg), f"{what} at step {arg}", low=low, low_open=low_open)


def check_lambdas(lambdas: Any, steps: int) -> np.ndarray:
    """Heavy ball's lambda_t, t = 0..steps (a callable or an array), all finite >= 0."""
    if lambdas is None:
        raise InputValueError(
            "lambdas is required for method='heavy_ball' (a callable t -> "
            "lambda_t or an array of steps + 1 values >= 0)"
        )
    if callable(lambdas):
        what = f"lambdas ({describe(lambdas)})"
        return np.array(
            [call_user_scalar(lambdas, t, what, low_open=False) for t in range(steps + 1)]
        )
    _, lam = as_float_array(lambdas, "lambdas", ndim=None, min_ndim=0)
    lam = np.asarray(aac.to_device(lam, "cpu"), dtype=np.float64)
    if lam.shape != (steps + 1,) or np.any(lam < 0):
        raise InputValueError(
            f"lambdas must give steps + 1 = {steps + 1} finite values >= 0, got "
            f"shape {lam.shape}" + (f", minimum {lam.min():g}" if lam.size else "")
        )
    return lam


# ---------------------------------------------------------------------- documents
def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The UTF-8 text of the file ``path``; an :class:`InputValueError` starting with
    ``what`` (e.g. "grid file 'x.toml'") when it is missing, not a file, unreadable, not
    UTF-8 (the offending byte and its position) or empty."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise InputValueError(f"{what} must be an existing file, got {str(p)!r}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputValueError(f"{what} cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputValueError(
            f"{what} must be UTF-8 text, got byte 0x{data[exc.start]:02x} at position {exc.start}"
        ) from None
    if not text.strip():
        raise InputValueError(f"{what} must not be empty")
    return text


def parse_json(text: str, what: str) -> Any:
    """``json.loads(text)`` for a document of the package; NaN and Infinity (which Python
    accepts and JSON does not) are refused, and a syntax error names the line and column."""
    import json

    def _refuse(token: str) -> None:
        raise InputValueError(f"{what} must be JSON, got the non-JSON number {token}")

    try:
        return json.loads(text, parse_constant=_refuse)
    except json.JSONDecodeError as exc:
        raise InputValueError(
            f"{what} must be JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def check_document(doc: Any, schema: dict, what: str) -> None:
    """Validate ``doc`` against the JSON Schema ``schema`` (draft 2020-12, with
    ``jsonschema``); on a violation an :class:`InputValueError` naming ``what``, where in
    the document (a JSON path), what is wrong and the schema path of the rule it breaks --
    for the most relevant violation (``jsonschema.exceptions.best_match``), with the
    failing rule's ``description`` (what is allowed) where the schema gives one."""
    import jsonschema
    from jsonschema.exceptions import best_match

    error = best_match(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    if error is None:
        return
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    rule = "/".join(str(p) for p in error.absolute_schema_path)
    allowed = error.schema.get("description") if isinstance(error.schema, dict) else None
    hint = f"allowed: {allowed}; " if allowed else ""
    raise InputValueError(f"{what}: at {error.json_path}: {message} ({hint}schema path: {rule})")
