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

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

__all__ = [
    "CONSISTENT_DEFAULTS",
    "OUTLIER_DEFAULTS",
    "LeastSquares",
    "consistent_least_squares",
    "regression_with_outliers",
    "seed_list",
]

#: Defaults of :func:`regression_with_outliers`. The paper's n, d, noise level and the
#: outlier features were lost in extraction (App. B.1: "We use n = , d = and sigma = ."); these
#: are our choices: a problem small enough for hundreds of runs in seconds, with d large
#: enough that L_max (~ d + 1) is far above L (~ 1), as with any Gaussian design.
OUTLIER_DEFAULTS = dict(
    n=1000,  # training samples, clean + outliers
    d=20,  # features (the model adds an intercept: d + 1 parameters)
    outlier_fraction=0.1,  # Figure 7; Figure 8 uses 0.25 (stated in the paper)
    noise=0.1,  # sigma of the clean targets' Gaussian noise
    outlier_feature_scale=1.0,  # outlier features ~ N(0, s^2 I) (assumption: same design)
    n_test=1000,  # clean held-out samples for the test MSE
)

#: Defaults of :func:`consistent_least_squares`.
CONSISTENT_DEFAULTS = dict(
    n=64,
    d=16,
    condition=10.0,  # ratio of the largest to smallest singular value of the design
    row_spread=1.0,  # row norms spread log-uniformly over [1, row_spread]
)


def seed_list(seeds) -> list[int]:
    """``seeds`` as a list of non-negative ints: an int k means ``range(k)``."""
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1 (a count) or a list of seeds, got {seeds}")
        return list(range(int(seeds)))
    out = [int(s) for s in seeds]
    if not out or any(s < 0 for s in out):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    return out


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _positive_float(value, name: str, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


@dataclass(frozen=True, eq=False)
class LeastSquares:
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

    @property
    def runs(self) -> int:
        return self.A.shape[0]

    @property
    def n(self) -> int:
        return self.A.shape[1]

    @property
    def d(self) -> int:
        return self.A.shape[2]

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
            raise ValueError("this problem has no test set")
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

    # ---------------------------------------------------------------- runs
    def take(self, rows: Sequence[int] | np.ndarray) -> LeastSquares:
        """The sub-stack of runs ``rows`` (repeats allowed: a grid over strategies x seeds)."""
        rows = np.asarray(rows, dtype=np.intp)

        def pick(a):
            return None if a is None else a[rows]

        params = dict(self.params)
        if "seeds" in params:
            params["seeds"] = [params["seeds"][i] for i in rows]
        return replace(
            self,
            A=self.A[rows],
            b=self.b[rows],
            x_star=pick(self.x_star),
            A_test=pick(self.A_test),
            b_test=pick(self.b_test),
            x_true=pick(self.x_true),
            outliers=pick(self.outliers),
            params=params,
        )

    def seeds(self) -> list[int]:
        """The seed of each run (R,)."""
        return list(self.params.get("seeds", range(self.runs)))


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
    frac = float(outlier_fraction)
    if not (0.0 <= frac < 1.0):
        raise ValueError(f"outlier_fraction must be in [0, 1), got {outlier_fraction!r}")
    noise = _positive_float(noise, "noise", allow_zero=True)
    scale = _positive_float(outlier_feature_scale, "outlier_feature_scale")
    if outlier_feature_law not in ("gaussian", "student_t"):
        raise ValueError(
            f"outlier_feature_law must be 'gaussian' or 'student_t', got {outlier_feature_law!r}"
        )
    df = _positive_float(outlier_feature_df, "outlier_feature_df")
    target_scale = _positive_float(outlier_target_scale, "outlier_target_scale")
    n_out = int(round(frac * n))
    if n - n_out < 1:
        raise ValueError(f"outlier_fraction={frac} leaves no clean sample among n={n}")
    seeds = seed_list(seeds)
    A, b, At, bt, xt, masks = [], [], [], [], [], []
    for s in seeds:
        rng = np.random.default_rng(s)
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
        A.append(np.column_stack([u, np.ones(n)]))
        b.append(y)
        At.append(np.column_stack([u_test, np.ones(n_test)]))
        bt.append(y_test)
        xt.append(np.append(theta, beta))
        masks.append(is_out)
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
        A=np.stack(A),
        b=np.stack(b),
        A_test=np.stack(At),
        b_test=np.stack(bt),
        x_true=np.stack(xt),
        outliers=np.stack(masks),
        params=params,
    )


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
    condition = _positive_float(condition, "condition")
    row_spread = _positive_float(row_spread, "row_spread")
    if condition < 1 or row_spread < 1:
        raise ValueError(f"condition and row_spread must be >= 1, got {condition}, {row_spread}")
    seeds = seed_list(seeds)
    A, b, xs = [], [], []
    k = min(n, d)
    for s in seeds:
        rng = np.random.default_rng(s)
        U, _ = np.linalg.qr(rng.standard_normal((n, k)))
        V, _ = np.linalg.qr(rng.standard_normal((d, k)))
        sv = np.geomspace(1.0, 1.0 / condition, k) if k > 1 else np.ones(1)
        M = (U * sv) @ V.T
        M /= np.linalg.norm(M, axis=1, keepdims=True)
        M *= np.exp(rng.uniform(0.0, np.log(row_spread), size=(n, 1)))
        x_star = rng.standard_normal(d)
        A.append(M)
        b.append(M @ x_star)
        xs.append(x_star)
    params = dict(
        problem="consistent_least_squares",
        n=n,
        d=d,
        condition=condition,
        row_spread=row_spread,
        seeds=seeds,
    )
    return LeastSquares(A=np.stack(A), b=np.stack(b), x_star=np.stack(xs), params=params)
