r"""Least-squares problems with per-sample losses, batched over independent runs.

Every problem here is a stack of R independent finite sums

.. math:: f(x) = \frac1n\sum_{i=1}^n f_i(x),\qquad f_i(x) = \tfrac12 (a_i^\top x - b_i)^2,
          \quad x \in \mathbb R^d,

stored as ``A`` of shape (R, n, d) and ``b`` of shape (R, n): run r is row r. Each f_i is
convex and :math:`\|a_i\|^2`-smooth with minimum 0, so the loss of a sample is also its gap to
its own minimum. Constants (THEORY §2): :math:`L = \lambda_{\max}(A^\top A/n)`,
:math:`L_{\max} = \max_i\|a_i\|^2`, and for a batch B,
:math:`L_B = \lambda_{\max}(A_B^\top A_B/|B|)`.

Two generators:

* :func:`regression_with_outliers`: the paper's App. B.1 problem (a model with intercept,
  outliers whose targets are pure noise); no interpolation point.
* :func:`consistent_least_squares`: b = A x* exactly (interpolation), including n < d and
  badly conditioned rows, for the theorem checks.

All defaults live in :data:`OUTLIER_DEFAULTS` and :data:`CONSISTENT_DEFAULTS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import ClassVar, Self, TypedDict

import numpy as np

from rwtheory._array import (
    InputTypeError,
    InputValueError,
    as_float64_data,
    check_choice,
    check_int,
    check_number,
    check_seed,
)

__all__ = [
    "CONSISTENT_DEFAULTS",
    "FiniteSums",
    "MAX_ELEMENTS",
    "MAX_SCALE",
    "OUTLIER_DEFAULTS",
    "LeastSquares",
    "consistent_least_squares",
    "draw_per_seed",
    "regression_with_outliers",
    "seed_list",
]


class _OutlierDefaults(TypedDict):
    """The type of each default of :data:`OUTLIER_DEFAULTS` (n, d and n_test are ints)."""

    n: int
    d: int
    outlier_fraction: float
    noise: float
    outlier_feature_scale: float
    n_test: int


class _ConsistentDefaults(TypedDict):
    """The type of each default of :data:`CONSISTENT_DEFAULTS` (n and d are ints)."""

    n: int
    d: int
    condition: float
    row_spread: float


#: Defaults of :func:`regression_with_outliers`. The paper's n, d, noise level and the
#: outlier features were lost in extraction (App. B.1: "We use n = , d = and sigma = ."); these
#: are our choices: a problem small enough for hundreds of runs in seconds, with d large
#: enough that L_max (~ d + 1) is far above L (~ 1), as with any Gaussian design.
OUTLIER_DEFAULTS = _OutlierDefaults(
    n=1000,  # training samples, clean + outliers
    d=20,  # features (the model adds an intercept: d + 1 parameters)
    outlier_fraction=0.1,  # Figure 7; Figure 8 uses 0.25 (stated in the paper)
    noise=0.1,  # sigma of the clean targets' Gaussian noise
    outlier_feature_scale=1.0,  # outlier features ~ N(0, s^2 I) (assumption: same design)
    n_test=1000,  # clean held-out samples for the test MSE
)

#: Defaults of :func:`consistent_least_squares`.
CONSISTENT_DEFAULTS = _ConsistentDefaults(
    n=64,
    d=16,
    condition=10.0,  # ratio of the largest to smallest singular value of the design
    row_spread=1.0,  # row norms spread log-uniformly over [1, row_spread]
)

#: Largest scale parameter of the generators (noise levels, feature and target scales,
#: condition numbers): the data stay below ~1e101, so the squared residuals (~1e202) and
#: their sums over any batch stay finite in float64 at the start of a run.
MAX_SCALE = 1e100

#: Most numbers a generator may draw (runs x (n + n_test) x (d + 1)): 2^31 float64 values are
#: 16 GiB; a larger request is refused before anything is allocated.
MAX_ELEMENTS = 2**31


def seed_list(seeds) -> list[int]:
    """``seeds`` as a list of ints >= 0: an integer k >= 1 means ``range(k)``; otherwise a
    non-empty sequence (list, tuple, range, 1-D integer array) of integers >= 0. A string is
    refused (``'12'`` is not the seeds [1, 2]), so are floats and bools."""
    if isinstance(seeds, (str, bytes)) or seeds is None or isinstance(seeds, (bool, np.bool_)):
        raise InputTypeError(
            f"seeds must be an integer >= 1 (a count) or a sequence of integers >= 0, got {seeds!r}"
        )
    if np.ndim(seeds) == 0 and not isinstance(seeds, (list, tuple, range)):
        return list(range(check_int(seeds, "seeds", minimum=1)))
    if not isinstance(seeds, (list, tuple, range, np.ndarray)) or np.ndim(seeds) != 1:
        raise InputTypeError(
            f"seeds must be an integer >= 1 (a count) or a sequence of integers >= 0, "
            f"got {type(seeds).__name__}"
        )
    out = [check_seed(s, f"seeds[{i}]") for i, s in enumerate(seeds)]
    if not out:
        raise InputValueError("seeds must be a non-empty sequence of integers >= 0, got []")
    return out


def draw_per_seed(seeds: list[int], draw) -> tuple[np.ndarray, ...]:
    """The data of a generator, one run per seed: ``draw(numpy.random.default_rng(seed))``
    returns a run's arrays (a tuple, of the same shapes for every seed); each is stacked over
    the runs, (R, ...). Every generator of the package draws its runs this way."""
    runs = [draw(np.random.default_rng(s)) for s in seeds]
    return tuple(np.stack(arrays) for arrays in zip(*runs, strict=True))


def _positive_int(value, name: str) -> int:
    return check_int(value, name, minimum=1)


def _scale(value, name: str, *, low: float = 0.0, allow_low: bool = False) -> float:
    """A scale parameter of a generator: a finite number in (low, MAX_SCALE] ([low, ...] with
    ``allow_low``)."""
    return check_number(value, name, low=low, high=MAX_SCALE, low_open=not allow_low)


def _check_size(runs: int, rows: int, d: int) -> None:
    if runs * rows * (d + 1) > MAX_ELEMENTS:
        raise InputValueError(
            f"n, d and seeds ask for {runs} x {rows} x {d + 1} numbers, more than "
            f"MAX_ELEMENTS = {MAX_ELEMENTS} (16 GiB of float64): use fewer seeds or a smaller "
            f"problem"
        )


class FiniteSums:
    """What every stack of R finite sums of this package shares (:class:`LeastSquares`,
    :class:`rwtheory.convex.glm.GLMProblem`): the sizes of the design ``A`` (R, n, d), the
    seed of each run, the check that the data are still finite and the sub-stack of some
    runs. A subclass is a frozen dataclass with the fields ``A`` and ``params`` (a dict,
    ``seeds`` among its keys or not) and names its per-run arrays in ``RUN_ARRAYS`` (each
    either None or indexed by the run on its first axis)."""

    A: np.ndarray
    params: dict
    __dataclass_fields__: ClassVar[dict]  # a subclass is a dataclass (for dataclasses.replace)
    RUN_ARRAYS: ClassVar[tuple[str, ...]] = ("A", "b")

    def _check_params(self) -> None:
        """``params`` a dict whose ``seeds``, if given, are one integer >= 0 per run."""
        if not isinstance(self.params, dict):
            raise InputTypeError(f"params must be a dict, got {type(self.params).__name__}")
        if "seeds" in self.params:
            seeds = self.params["seeds"]
            if not isinstance(seeds, (list, tuple)) or len(seeds) != self.runs:
                raise InputValueError(
                    f"params['seeds'] must be a list of one seed per run ({self.runs}), "
                    f"got {seeds!r}"
                )
            for i, v in enumerate(seeds):
                check_seed(v, f"params['seeds'][{i}]")

    def check(self) -> None:
        """The data must be finite now (they may have been changed in place since
        construction): every array of ``RUN_ARRAYS``. Called by the engines before a run
        starts; an error names the array and the first bad entry."""
        for name in self.RUN_ARRAYS:
            a = getattr(self, name)
            if a is not None and not np.isfinite(a).all():
                as_float64_data(a, name, a.shape)  # raises, naming the index

    @property
    def runs(self) -> int:
        return self.A.shape[0]

    @property
    def n(self) -> int:
        return self.A.shape[1]

    @property
    def d(self) -> int:
        return self.A.shape[2]

    def seeds(self) -> list[int]:
        """The seed of each run (R,)."""
        return list(self.params.get("seeds", range(self.runs)))

    def take(self, rows: Sequence[int] | np.ndarray) -> Self:
        """The sub-stack of runs ``rows`` (repeats allowed: a grid over strategies x seeds)."""
        rows = _take_rows(rows, self.runs)
        params = dict(self.params)
        if "seeds" in params:
            params["seeds"] = [params["seeds"][i] for i in rows]
        picked = {name: getattr(self, name) for name in self.RUN_ARRAYS}
        return replace(
            self,
            **{k: None if a is None else a[rows] for k, a in picked.items()},
            params=params,
        )


@dataclass(frozen=True, eq=False)
class LeastSquares(FiniteSums):
    """R stacked least-squares finite sums (see the module docstring).

    Attributes
    ----------
    A, b : (R, n, d) and (R, n) arrays, float64.
    x_star : (R, d) interpolation point (A x* = b) when one is known, else None.
    A_test, b_test : clean held-out data (R, m, d), (R, m) for the test MSE, or None.
    x_true : (R, d) parameters that generated the clean data, or None.
    outliers : (R, n) bool mask of the outlier samples, or None.
    params : the generator's parameters (for captions); ``seeds`` among them.
    """

    A: np.ndarray
    b: np.ndarray
    x_star: np.ndarray | None = None
    A_test: np.ndarray | None = None
    b_test: np.ndarray | None = None
    x_true: np.ndarray | None = None
    outliers: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    RUN_ARRAYS = ("A", "b", "x_star", "A_test", "b_test", "x_true", "outliers")

    def __post_init__(self):
        """Validate and convert the arrays (float64 numpy; see :meth:`check`)."""
        A = as_float64_data(self.A, "A", ("runs", "n", "d"))
        R, n, d = A.shape
        arrays = dict(
            A=A,
            b=as_float64_data(self.b, "b", (R, n)),
            x_star=self.x_star,
            A_test=self.A_test,
            b_test=self.b_test,
            x_true=self.x_true,
        )
        for name, shape in (("x_star", (R, d)), ("x_true", (R, d)), ("A_test", (R, "m", d))):
            if arrays[name] is not None:
                arrays[name] = as_float64_data(arrays[name], name, shape)
        if (self.A_test is None) != (self.b_test is None):
            raise InputValueError("A_test and b_test must be given together (or neither)")
        if self.A_test is not None:
            m = arrays["A_test"].shape[1]
            arrays["b_test"] = as_float64_data(self.b_test, "b_test", (R, m))
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        if self.outliers is not None:
            mask = np.asarray(self.outliers)
            if mask.dtype != bool or mask.shape != (R, n):
                raise InputValueError(
                    f"outliers must be a bool array of shape ({R}, {n}), got "
                    f"{mask.dtype} {mask.shape}"
                )
            object.__setattr__(self, "outliers", mask)
        self._check_params()

    # ---------------------------------------------------------------- values
    def residuals(self, x: np.ndarray) -> np.ndarray:
        """a_i^T x - b_i for every run and sample: (R, n) from x of shape (R, d).

        For a consistent problem it is computed as A (x - x*), equal to A x - b in exact
        arithmetic (b = A x*) and accurate to full relative precision near x*, where
        A x - b would lose it to cancellation. The problem is thereby taken to be *exactly*
        consistent with x* (b holds A x* rounded), which is what the theory assumes."""
        if self.x_star is not None:
            return np.matmul(self.A, (x - self.x_star)[..., None])[..., 0]
        return np.matmul(self.A, x[..., None])[..., 0] - self.b

    def losses(self, x: np.ndarray) -> np.ndarray:
        """Per-sample losses f_i(x): (R, n)."""
        return 0.5 * self.residuals(x) ** 2

    def loss(self, x: np.ndarray) -> np.ndarray:
        """f(x), the uniform average: (R,)."""
        return self.losses(x).mean(axis=-1)

    def test_mse(self, x: np.ndarray) -> np.ndarray:
        """Mean squared error (a^T x - b)^2 on the clean held-out set: (R,).

        Evaluated as a quadratic form around the generating parameters (see
        :meth:`_quadratic`): O(R d^2) per call instead of O(R m d)."""
        if self.A_test is None:
            raise InputValueError("this problem has no test set")
        return 2 * _quadratic_value(self.test_form, x)

    def loss_quadratic(self, x: np.ndarray) -> np.ndarray:
        """f(x) as a quadratic form (O(R d^2)); equal to :meth:`loss` up to rounding."""
        return _quadratic_value(self.train_form, x)

    @cached_property
    def train_form(self):
        """f as a quadratic form (G, h, c, ref), f(x) = (e^T G e + 2 h^T e + c)/2 with
        e = x - ref, per run (see :func:`_quadratic`)."""
        ref = self.x_star if self.x_star is not None else self.x_true
        return _quadratic(self.A, self.b, ref, consistent=self.x_star is not None)

    @cached_property
    def test_form(self):
        """The clean test set's mean squared error over 2 as a quadratic form (G, h, c, ref)."""
        return _quadratic(self.A_test, self.b_test, self.x_true, consistent=False)

    def weighted_gradient(
        self, weights: np.ndarray, residuals: np.ndarray, batch: np.ndarray | None = None
    ) -> np.ndarray:
        r"""Reweighted (minibatch) gradient :math:`\sum_i w_i r_i a_i`: (R, d), from the
        residuals r of the same samples (full batch: (R, n); minibatch: (R, b) on ``batch``)."""
        A = self.A if batch is None else self.batch_rows(batch)
        return np.matmul((weights * residuals)[:, None, :], A)[:, 0, :]

    def batch_rows(self, batch: np.ndarray) -> np.ndarray:
        """A_B of shape (R, b, d) for sample indices ``batch`` (R, b)."""
        return np.take_along_axis(self.A, batch[..., None], axis=1)

    # ---------------------------------------------------------------- constants
    def smoothness(self) -> np.ndarray:
        """L = lambda_max(A^T A / n) per run: (R,)."""
        return _lambda_max(self.A) / self.n

    def max_smoothness(self) -> np.ndarray:
        """L_max = max_i ||a_i||^2 per run: (R,)."""
        return (self.A**2).sum(axis=-1).max(axis=-1)

    def batch_smoothness(self, batch: np.ndarray) -> np.ndarray:
        """L_B = lambda_max(A_B^T A_B / ``|B|``) for sample indices ``batch`` (R, b): (R,)."""
        return _lambda_max(self.batch_rows(batch)) / batch.shape[-1]


def _take_rows(rows, runs: int) -> np.ndarray:
    """``rows`` of :meth:`FiniteSums.take`: a 1-D sequence of integers in 0..runs-1."""
    try:
        arr = np.asarray(rows)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise InputValueError(
            f"rows must be a 1-D sequence of integers in 0..{runs - 1}, got {rows!r}"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= runs):
        raise InputValueError(
            f"rows must be integers in 0..{runs - 1}, got {arr.min()}..{arr.max()}"
        )
    return arr.astype(np.intp)


def _quadratic(A, b, ref, *, consistent: bool):
    """(G, h, c, ref) with (1/2m)||A x - b||^2 = (1/2)(e^T G e + 2 h^T e + c), e = x - ref.

    Centring at a reference point near the solutions keeps every term small there, so the
    value keeps its relative precision (no cancellation of large terms). For a consistent
    problem (b = A ref) h and c are exactly 0."""
    m = A.shape[1]
    if ref is None:
        ref = np.zeros(A.shape[::2])
    G = np.matmul(np.swapaxes(A, 1, 2), A) / m
    if consistent:
        return G, np.zeros(A.shape[::2]), np.zeros(A.shape[0]), ref
    r0 = np.matmul(A, ref[..., None])[..., 0] - b
    return G, np.matmul(r0[:, None, :], A)[:, 0, :] / m, (r0 * r0).mean(axis=-1), ref


def _quadratic_value(form, x):
    G, h, c, ref = form
    e = x - ref
    Ge = np.matmul(G, e[..., None])[..., 0]
    return 0.5 * ((Ge + 2 * h) * e).sum(-1) + 0.5 * c


def _lambda_max(M: np.ndarray) -> np.ndarray:
    """Largest eigenvalue of M^T M for a stack M (R, m, d), via the smaller Gram matrix."""
    if M.shape[-2] < M.shape[-1]:
        G = np.matmul(M, np.swapaxes(M, -1, -2))
    else:
        G = np.matmul(np.swapaxes(M, -1, -2), M)
    return np.linalg.eigvalsh(G)[..., -1]


# ---------------------------------------------------------------------- generators
# keyword parameters with their defaults, one a line as ruff formats a long signature:
# the shape of every generator's signature by design
def regression_with_outliers(
    seeds=1,
    *,
    n: int = OUTLIER_DEFAULTS["n"],
    d: int = OUTLIER_DEFAULTS["d"],
    outlier_fraction: float = OUTLIER_DEFAULTS["outlier_fraction"],
    noise: float = OUTLIER_DEFAULTS["noise"],
    outlier_feature_scale: float = OUTLIER_DEFAULTS["outlier_feature_scale"],
    n_test: int = OUTLIER_DEFAULTS["n_test"],
    outlier_feature_law: str = "gaussian",
    outlier_feature_df: float = 3.0,
    outlier_target_scale: float = 1.0,
) -> LeastSquares:
    r"""The paper's regression with outliers (App. B.1, THEORY §7), one run per seed.

    Model with intercept, parameters :math:`x = (\theta, \beta) \in \mathbb R^{d+1}`:

    * clean samples (``n - round(outlier_fraction * n)`` of them): features
      :math:`u \sim N(0, I_d)`, targets :math:`y = \theta_*^\top u + \beta_* + \sigma\varepsilon`,
      :math:`\varepsilon \sim N(0,1)`, with :math:`\theta_* \sim N(0, I_d)/\sqrt d` and
      :math:`\beta_* \sim N(0, 1)` drawn per seed (assumption: the paper's draw of the true
      parameters was lost; the 1/sqrt(d) keeps the clean signal's variance ~ 1, the scale of
      the outliers' targets);
    * outliers: features :math:`u \sim N(0, s^2 I_d)` (s = ``outlier_feature_scale``;
      assumption: the paper's outlier feature distribution was lost) and targets
      :math:`y \sim N(0, 1)`, independent of u (as in the paper);
    * robustness options (defaults give the problem above, byte for byte):
      ``outlier_feature_law="student_t"`` draws the outlier features as s times i.i.d.
      Student-t variables with ``outlier_feature_df`` degrees of freedom (a heavy-tailed
      law) instead of s times N(0, 1); ``outlier_target_scale`` c draws the outlier targets
      from N(0, c^2) instead of N(0, 1);
    * clean held-out test set of ``n_test`` samples from the clean distribution.

    The rows a_i = (u_i, 1); loss :math:`\tfrac12(a_i^\top x - y_i)^2`. The training samples are
    shuffled, so outliers are not a contiguous block. Seed k draws everything from
    ``numpy.random.default_rng(k)``.
    """
    n, d, n_test = _positive_int(n, "n"), _positive_int(d, "d"), _positive_int(n_test, "n_test")
    frac = check_number(outlier_fraction, "outlier_fraction", low=0.0, high=1.0, high_open=True)
    noise = _scale(noise, "noise", allow_low=True)
    scale = _scale(outlier_feature_scale, "outlier_feature_scale")
    check_choice(outlier_feature_law, "outlier_feature_law", ("gaussian", "student_t"))
    # below 1 degree of freedom the draws overflow float64 (df = 0.01: inf among 20,000)
    df = _scale(outlier_feature_df, "outlier_feature_df", low=1.0, allow_low=True)
    target_scale = _scale(outlier_target_scale, "outlier_target_scale")
    n_out = int(round(frac * n))
    if n - n_out < 1:
        raise InputValueError(
            f"outlier_fraction must leave at least one clean sample among n={n} "
            f"(round(outlier_fraction * n) <= n - 1), got {frac!r}"
        )
    seeds = seed_list(seeds)
    _check_size(len(seeds), n + n_test, d)

    def draw(rng):
        theta = rng.standard_normal(d) / np.sqrt(d)
        beta = rng.standard_normal()
        u_clean = rng.standard_normal((n - n_out, d))
        y_clean = u_clean @ theta + beta + noise * rng.standard_normal(n - n_out)
        u_out = scale * (
            rng.standard_normal((n_out, d))
            if outlier_feature_law == "gaussian"
            else rng.standard_t(df, (n_out, d))
        )
        y_out = target_scale * rng.standard_normal(n_out)
        u = np.concatenate([u_clean, u_out])
        y = np.concatenate([y_clean, y_out])
        is_out = np.concatenate([np.zeros(n - n_out, bool), np.ones(n_out, bool)])
        order = rng.permutation(n)
        u, y, is_out = u[order], y[order], is_out[order]
        u_test = rng.standard_normal((n_test, d))
        y_test = u_test @ theta + beta + noise * rng.standard_normal(n_test)
        A_test = np.column_stack([u_test, np.ones(n_test)])
        return np.column_stack([u, np.ones(n)]), y, A_test, y_test, np.append(theta, beta), is_out

    A, b, A_test, b_test, x_true, outliers = draw_per_seed(seeds, draw)
    # the generator's arguments as recorded in params (captions, trajectories), one a line as
    # ruff formats them: the shape of every generator's record by design
    params = dict(
        problem="regression_with_outliers",
        n=n,
        d=d,
        outlier_fraction=frac,
        noise=noise,
        outlier_feature_scale=scale,
        n_test=n_test,
        seeds=seeds,
        outlier_feature_law=outlier_feature_law,
        outlier_feature_df=df,
        outlier_target_scale=target_scale,
    )
    return LeastSquares(
        A=A, b=b, A_test=A_test, b_test=b_test, x_true=x_true, outliers=outliers, params=params
    )


# keyword parameters with their defaults, one a line as ruff formats a long signature:
# the shape of every generator's signature by design
def consistent_least_squares(
    seeds=1,
    *,
    n: int = CONSISTENT_DEFAULTS["n"],
    d: int = CONSISTENT_DEFAULTS["d"],
    condition: float = CONSISTENT_DEFAULTS["condition"],
    row_spread: float = CONSISTENT_DEFAULTS["row_spread"],
) -> LeastSquares:
    r"""Consistent least squares, b = A x* (the interpolation regime of THEORY §2-4).

    :math:`A = \mathrm{diag}(\text{row scales})\, U \Sigma V^\top` with U, V Haar-random
    orthogonal, singular values spaced geometrically from 1 down to 1/``condition`` (over the
    min(n, d) non-zero ones), then every row rescaled to norm 1 and multiplied by a factor
    spread log-uniformly over [1, ``row_spread``]. So ``condition`` controls L against the
    small curvatures (only approximately the condition number: the row normalisation moves
    the singular values) and ``row_spread`` the gap between L_max and L. n < d (over-
    parameterised) is allowed: x* is then one of many interpolation points (the one drawn),
    and every f_i still has x* as a minimiser. :math:`x^* \sim N(0, I_d)`.
    """
    n, d = _positive_int(n, "n"), _positive_int(d, "d")
    condition = _scale(condition, "condition", low=1.0, allow_low=True)
    row_spread = _scale(row_spread, "row_spread", low=1.0, allow_low=True)
    seeds = seed_list(seeds)
    _check_size(len(seeds), n, max(n, d))
    k = min(n, d)

    def draw(rng):
        U, _ = np.linalg.qr(rng.standard_normal((n, k)))
        V, _ = np.linalg.qr(rng.standard_normal((d, k)))
        sv = np.geomspace(1.0, 1.0 / condition, k) if k > 1 else np.ones(1)
        M = (U * sv) @ V.T
        M /= np.linalg.norm(M, axis=1, keepdims=True)
        M *= np.exp(rng.uniform(0.0, np.log(row_spread), size=(n, 1)))
        x_star = rng.standard_normal(d)
        return M, M @ x_star, x_star

    A, b, x_star = draw_per_seed(seeds, draw)
    # the generator's arguments as recorded in params (captions, trajectories), one a line as
    # ruff formats them: the shape of every generator's record by design
    params = dict(
        problem="consistent_least_squares",
        n=n,
        d=d,
        condition=condition,
        row_spread=row_spread,
        seeds=seeds,
    )
    return LeastSquares(A=A, b=b, x_star=x_star, params=params)
