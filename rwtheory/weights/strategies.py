r"""The strategies of the paper's pipeline, one record each, and their registry.

A strategy maps a normalised loss :math:`\tilde l \in [-\delta, \delta]` to a score
:math:`s(\tilde l, \delta)`; the tempered softmax of the scores gives the weights (THEORY §1,
paper Sec. 4.2). One :class:`StrategyRecord` holds everything any consumer needs:

* the score function (the weighting pipeline :func:`rwtheory.sample_weights`, the LM path and
  the schemes of :mod:`rwtheory.convex.schemes` call it);
* the score range :math:`\Delta s(\delta)` and the *top count* (the cap analysis of
  :mod:`rwtheory.weights.cap`);
* optionally a :class:`FusedForm`: the same pipeline written as in-place array passes on
  shifted scores, which the batched engine (:mod:`rwtheory.convex.engine`) evaluates for all
  runs of the strategy at once. A record without one is evaluated by the engine's generic
  path (normalise, ``score``, shift by the row maximum), so a registered strategy works
  everywhere without more code.

:func:`register_strategy` adds a record (a new strategy is one record in one place);
:data:`STRATEGIES` is a read-only live view name -> score function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from rwtheory._array import (
    Array,
    InputTypeError,
    InputValueError,
    check_bool,
    check_callable,
    check_int,
    check_name,
    check_number,
    check_user_array,
    describe,
    namespace,
)

__all__ = [
    "STRATEGIES",
    "FusedForm",
    "RowStats",
    "StrategyRecord",
    "extremes",
    "get_strategy",
    "is_builtin",
    "linupper",
    "quadratic",
    "register_strategy",
    "registered_strategies",
    "score_range_at",
    "scores_of",
    "unregister_strategy",
    "uniform",
    "upper",
]


#: A score function ``s(normalized, delta)``: elementwise on a numpy array or a torch tensor of
#: normalised losses, returning the same kind and shape.
Score: TypeAlias = Callable[[Array, float], Array]
#: A block of rows of the batched engine (numpy float64: the fused forms are numpy only).
Rows: TypeAlias = NDArray[np.float64]


# --------------------------------------------------------------------------- scores
def uniform(normalized: Array, delta: float = 1.0) -> Array:
    r"""No reweighting: :math:`s = 0`, so the tempered softmax gives :math:`w_i = 1/B`."""
    xp = namespace(normalized)
    return xp.zeros_like(normalized)


def linupper(normalized: Array, delta: float = 1.0) -> Array:
    r"""LinUpper: :math:`s = \min(\tilde l + \delta, \delta)` -- grows with the loss, flat above
    the mid-range. Non-decreasing in the loss; range :math:`[0, \delta]`."""
    xp = namespace(normalized)
    return xp.clip(normalized + delta, max=delta)


def quadratic(normalized: Array, delta: float = 1.0) -> Array:
    r"""Quadratic: :math:`s = 1 - \tilde l^2/\delta^2` -- peaks at the mid-range, symmetric about
    it. Range :math:`[0, 1]` whatever :math:`\delta`."""
    return 1 - (normalized / delta) ** 2


def extremes(normalized: Array, delta: float = 1.0) -> Array:
    r"""Extremes: :math:`s = |\tilde l|` -- favours both ends. Range :math:`[0, \delta]`."""
    xp = namespace(normalized)
    return xp.abs(normalized)


def upper(normalized: Array, delta: float = 1.0) -> Array:
    r"""Upper (reference code only): :math:`s = (\tilde l + \delta)/2`, range :math:`[0,\delta]`."""
    return (normalized + delta) / 2


# --------------------------------------------------------------------------- fused forms
@dataclass
class RowStats:
    r"""Per-row statistics of a batch of losses, as a fused form reads them.

    ``q`` is the losses times a positive constant c (the engine uses the squared residuals,
    c = 2); every field broadcasts against ``q`` along its last axis:

    * ``mid`` the row's mid-range of q and ``qmax`` its maximum;
    * ``k`` the factor with :math:`\tilde l = (q - \mathrm{mid})\,k` (the normalisation of
      :func:`rwtheory.weights.pipeline.normalize_losses`, its floor included, before the clip);
    * ``kr`` = k / r, ``inv_r`` = 1 / r (one temperature per row) and ``delta``.
    """

    mid: Rows
    qmax: Rows
    k: Rows
    kr: Rows
    inv_r: Rows
    delta: Rows


@dataclass(frozen=True)
class FusedForm:
    r"""The pipeline of one strategy as in-place passes over a row block of losses.

    ``exponent(q, row, out)`` writes :math:`(s(\tilde l) - c_{\text{row}})/r` into ``out``
    (the shape of ``q``) for some per-row constant c: the tempered softmax is invariant to it,
    so each form picks the shift that costs nothing. ``bounded`` says that the largest
    exponent of every row is exactly 0 (then exp needs no further shift and the row's largest
    unnormalised weight is 1); otherwise the engine shifts by the row maximum where exp could
    under- or overflow.
    """

    exponent: Callable[[Rows, RowStats, Rows], None]
    bounded: bool

    def __post_init__(self) -> None:
        check_callable(self.exponent, "exponent", "a callable (q, row, out) -> None")
        check_bool(self.bounded, "bounded")


def _linupper_exponent(q: Rows, row: RowStats, out: Rows) -> None:
    """min(l~, 0) / r = (s - delta) / r."""
    np.subtract(q, row.mid, out=out)
    out *= row.kr
    np.minimum(out, 0.0, out=out)


def _upper_exponent(q: Rows, row: RowStats, out: Rows) -> None:
    """(l - l_max) scale / 2r = (s - delta) / r before the clip (which is inactive here)."""
    np.subtract(q, row.qmax, out=out)
    out *= row.kr * 0.5


def _extremes_exponent(q: Rows, row: RowStats, out: Rows) -> None:
    """|l~| / r = s / r."""
    np.subtract(q, row.mid, out=out)
    out *= row.kr
    np.abs(out, out=out)


def _quadratic_exponent(q: Rows, row: RowStats, out: Rows) -> None:
    """-l~^2 / (delta^2 r) = (s - 1) / r."""
    np.subtract(q, row.mid, out=out)
    np.square(out, out=out)
    out *= -(row.k**2) * row.inv_r / row.delta**2


# --------------------------------------------------------------------------- the record
@dataclass(frozen=True)
class StrategyRecord:
    r"""Everything the package needs to know about one strategy.

    Attributes
    ----------
    name : the registry key (``sample_weights(..., strategy=name)``).
    score : :math:`s(\tilde l, \delta)`, elementwise on numpy arrays and torch tensors.
    score_range : :math:`\delta \mapsto \Delta s(\delta)`, the largest minus the smallest
        score over :math:`[-\delta, \delta]` (0 for a constant score).
    top_count : how many samples of a batch spread over the whole range are forced to the top
        score (1 for most strategies; 2 for ``extremes``: both ends).
    min_batch : the smallest batch size whose scores can differ as in the worst case (default
        ``top_count + 1``; ``quadratic`` needs 3: for two samples both sit at the ends).
    fused : the engine's fused evaluation, or None for its generic path.
    constant : the score is constant, so the weights are exactly 1/B (no exp rounding).
    formula : the score at :math:`\delta = 1` as plain text, for the captions of the figures
        that show every registered strategy (e.g. ``"min(l~ + 1, 1)"``; empty: the caption
        names the score function instead).

    The cap analysis (:func:`rwtheory.worst_case_rho`) assumes that the worst batch puts
    ``top_count`` samples at the top score and the rest at the bottom; for the built-in
    strategies that batch exists and the bound is attained, for a registered one it is the
    bound implied by ``score_range`` and ``top_count``.

    Checked at construction (a ``TypeError``/``ValueError`` naming the field, and the user's
    function by its module and name): the field types (``constant`` a bool, never a truthy
    string; the counts integers, numpy integers included); then ``score`` is called on 65
    normalised losses spread over :math:`[-\delta, \delta]` for :math:`\delta` = 1 and 2.5
    (numpy float64), and must return a float (or integer) numpy array of the same shape,
    finite; ``score_range`` must give a finite number >= 0 at both, at least the spread of
    those scores (a smaller one would make the cap analysis claim a cap the weights break);
    a ``constant`` record's scores must be equal. Where the score is used on a user's batch
    its output is checked again (:func:`scores_of`); a ``fused`` form is trusted (its type
    only is checked).
    """

    name: str
    score: Score
    score_range: Callable[[float], float]
    top_count: int = 1
    min_batch: int | None = None
    fused: FusedForm | None = None
    constant: bool = False
    formula: str = ""

    def __post_init__(self) -> None:
        check_name(self.name)
        check_callable(self.score, "score", "a callable (normalized, delta) -> scores")
        check_callable(self.score_range, "score_range", "a callable delta -> score spread")
        object.__setattr__(self, "top_count", check_int(self.top_count, "top_count", minimum=1))
        if self.min_batch is None:
            object.__setattr__(self, "min_batch", self.top_count + 1)
        else:
            try:
                mb = check_int(self.min_batch, "min_batch", minimum=self.top_count + 1)
            except (TypeError, ValueError):
                raise InputValueError(
                    f"min_batch must be an integer > top_count = {self.top_count}, "
                    f"got {self.min_batch!r}"
                ) from None
            object.__setattr__(self, "min_batch", mb)
        if self.fused is not None and not isinstance(self.fused, FusedForm):
            raise InputTypeError(f"fused must be a FusedForm or None, got {self.fused!r}")
        object.__setattr__(self, "constant", check_bool(self.constant, "constant"))
        if not isinstance(self.formula, str):
            raise InputTypeError(f"formula must be a string, got {type(self.formula).__name__}")
        _probe(self)


#: Normalised losses on which a record's score is tried at construction (times delta).
_PROBE = np.linspace(-1.0, 1.0, 65)


def _probe(record: StrategyRecord) -> None:
    """Call the record's score and score range on :data:`_PROBE` (see
    :class:`StrategyRecord`); a failing or wrong function is named in the error."""
    what = _score_name(record)
    for delta in (1.0, 2.5):
        t = _PROBE * delta
        try:
            out = record.score(t, delta)
        except Exception as exc:  # any exception: the user's code: say which and why
            raise InputTypeError(
                f"{what} must accept a numpy float64 array of normalised losses in "
                f"[-delta, delta] and delta (a float); on delta={delta:g} it raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        s = check_user_array(out, what, t)
        spread = float(s.max() - s.min())
        bound = score_range_at(record, delta)
        if record.constant and spread != 0.0:
            raise InputValueError(
                f"constant must be False for strategy {record.name!r}: its score is not "
                f"constant (spread {spread:g} at delta={delta:g})"
            )
        if spread > bound * (1 + 1e-9) + 1e-12:
            raise InputValueError(
                f"score_range of strategy {record.name!r} ({describe(record.score_range)}) "
                f"must be at least the spread of the scores, got {bound!r} at "
                f"delta={delta:g} where the scores spread over {spread:g}"
            )


def _score_name(record: StrategyRecord) -> str:
    return f"the score of strategy {record.name!r} ({describe(record.score)})"


def is_builtin(record: StrategyRecord) -> bool:
    """Whether ``record`` is one of the package's own (its score needs no checking)."""
    return any(record is b for b in _BUILTINS)


def score_range_at(record: StrategyRecord, delta: float) -> float:
    r"""The record's :math:`\Delta s(\delta)`, checked: a finite number >= 0 (an error naming
    the user's function otherwise)."""
    what = f"score_range of strategy {record.name!r} ({describe(record.score_range)})"
    return check_number(record.score_range(delta), f"{what} at delta={delta:g}", low=0.0)


def scores_of(
    record: StrategyRecord, normalized: Array, delta: float, *, check_values: bool = True
) -> Array:
    """``record.score(normalized, delta)``; for a registered strategy (not one of the
    package's own, which are trusted) the result is checked with
    :func:`rwtheory._array.check_user_array`: same kind and shape as ``normalized``, a real
    dtype (integers are cast), and -- unless ``check_values`` is False (the traced LM path,
    which must not synchronise) -- finite."""
    out = record.score(normalized, delta)
    if is_builtin(record):
        return out
    return check_user_array(out, _score_name(record), normalized, finite=check_values)


# --------------------------------------------------------------------------- registry
_REGISTRY: dict[str, StrategyRecord] = {}
_SCORES: dict[str, Score] = {}

#: Strategy name -> score function ``s(l~, delta)``: a read-only live view of the registry.
STRATEGIES = MappingProxyType(_SCORES)


def register_strategy(record: StrategyRecord, *, replace: bool = False) -> StrategyRecord:
    """Add ``record`` to the registry; every consumer (pipeline, engine, cap analysis,
    schemes) accepts its name from then on. A name already registered is an error unless
    ``replace=True``. Returns the record."""
    if not isinstance(record, StrategyRecord):
        raise InputTypeError(f"record must be a StrategyRecord, got {type(record).__name__}")
    replace = check_bool(replace, "replace")
    if record.name in _REGISTRY and not replace:
        raise InputValueError(
            f"strategy {record.name!r} is already registered (replace=True to overwrite it)"
        )
    _REGISTRY[record.name] = record
    _SCORES[record.name] = record.score
    return record


def unregister_strategy(name: str) -> StrategyRecord:
    """Remove a strategy from the registry and return its record."""
    record = get_strategy(name)
    del _REGISTRY[name], _SCORES[name]
    return record


def get_strategy(name: Any) -> StrategyRecord:
    """The record of a registered strategy; a clear error naming the choices otherwise."""
    if not isinstance(name, str):
        raise InputTypeError(f"strategy must be one of {sorted(_REGISTRY)}, got {name!r}")
    if name not in _REGISTRY:
        raise InputValueError(f"strategy must be one of {sorted(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name]


def registered_strategies() -> tuple[str, ...]:
    """The registered names, in registration order."""
    return tuple(_REGISTRY)


def _delta(delta: float) -> float:
    return float(delta)


_BUILTINS: tuple[StrategyRecord, ...] = ()  # filled below: the package's own, trusted

# a table, one strategy a record (its fields one a line as ruff formats them): same shape
# by design
_BUILTINS = (
    StrategyRecord("uniform", uniform, lambda delta: 0.0, constant=True, formula="0"),
    StrategyRecord(
        "linupper",
        linupper,
        _delta,
        fused=FusedForm(_linupper_exponent, bounded=True),
        formula="min(l~ + 1, 1)",
    ),
    StrategyRecord(
        "quadratic",
        quadratic,
        lambda delta: 1.0,
        min_batch=3,
        fused=FusedForm(_quadratic_exponent, bounded=False),
        formula="1 - l~^2",
    ),
    StrategyRecord(
        "extremes",
        extremes,
        _delta,
        top_count=2,
        fused=FusedForm(_extremes_exponent, bounded=False),
        formula="|l~|",
    ),
    StrategyRecord(
        "upper",
        upper,
        _delta,
        fused=FusedForm(_upper_exponent, bounded=True),
        formula="(l~ + 1)/2",
    ),
)
for _record in _BUILTINS:
    register_strategy(_record)
