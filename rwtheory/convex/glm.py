r"""Reweighted GD, minibatch SGD and heavy ball on generalised linear losses, batched over runs.

Per-sample losses :math:`f_i(x) = \phi(a_i^\top x, b_i)` with a scalar link loss
:math:`\phi(u, b)` given by a small frozen :class:`Loss` record. Then

.. math:: \nabla f_i(x) = \phi'(a_i^\top x, b_i)\, a_i,\qquad
          \nabla^2 f_i(x) = \phi''(a_i^\top x, b_i)\, a_i a_i^\top ,

so with :math:`c_\phi \ge \sup|\partial^2\phi/\partial u^2|` every :math:`f_i` is
:math:`\ell_i = c_\phi\|a_i\|^2`-smooth, the average f is
:math:`L = c_\phi\lambda_{\max}(A^\top A/n)`
-smooth and a batch average :math:`L_B = c_\phi\lambda_{\max}(A_B^\top A_B/|B|)`-smooth (the
Hessian of f is :math:`A^\top\mathrm{diag}(\phi''/n)A`, whose norm is at most
:math:`c_\phi\|A^\top A/n\|` whatever the signs of :math:`\phi''`: the constants hold for the
non-convex families too). :class:`GLMProblem` exposes exactly the constants
:func:`rwtheory.theory.theorems.effective_smoothness` reads (``smoothness``,
``max_smoothness``, ``batch_smoothness``), so Theorems 1-2's checks run unchanged on the
convex families.

Families (:data:`LOSSES`):

* :func:`squared`: :math:`\tfrac12(u-b)^2`, :math:`c_\phi = 1` (the sanity case: equals
  :func:`rwtheory.convex.engine.run` on least squares, ``tests/convex/test_glm.py``);
* :func:`log_cosh`: :math:`s^2\log\cosh((u-b)/s)`, :math:`\phi'' = \mathrm{sech}^2 \in (0, 1]`,
  convex;
* :func:`huber`: quadratic for :math:`|u-b| \le \delta`, linear beyond, :math:`\phi''\in\{0,1\}`,
  convex;
* :func:`geman_mcclure`: :math:`\tfrac{c^2}{2}\,r^2/(c^2+r^2)`, r = u - b, bounded and
  *non-convex* for :math:`|r| > c/\sqrt3`; :math:`\phi'' = c^4(c^2-3r^2)/(c^2+r^2)^3 \in [-1/4, 1]`;
* :func:`sigmoid`: the classifier of THEORY §6, :math:`s(-b u)` with labels :math:`b = \pm1` and
  s the logistic function, *non-convex*; :math:`|\phi''| = |s''| \le 1/(6\sqrt3)`.

The four residual families have :math:`\phi \ge 0 = \phi(b, b)`: when :math:`b = Ax^\star`
(:func:`from_least_squares` on a consistent problem), :math:`x^\star` minimises every
:math:`f_i` -- interpolation (THEORY §2), for the non-convex Geman-McClure too. Every family
has :math:`\phi \ge 0`, so 0 is a certified lower bound :math:`f_{\inf}` of f.

The engine :func:`run` mirrors :func:`rwtheory.convex.engine.run` (same methods, heavy ball
in the iterate-moving-average form, same minibatch stream
:func:`rwtheory.convex.engine.sample_batches`, so seeds pair, same divergence rule) but is
written for correctness over speed: every step evaluates all n per-sample gradients (THEORY
§6 needs :math:`\nabla f(x_t)` and :math:`\sigma_t` at every step anyway). It returns a
:class:`GLMTrajectory`, a :class:`rwtheory.convex.engine.Trajectory` with the per-step
gradient records of THEORY §6 added.

Weighting schemes are those of :mod:`rwtheory.convex.schemes` and
:mod:`rwtheory.convex.adversaries`, called as ``scheme(losses (G, b), step)`` on the batch's
losses :math:`f_i(x_t)`; wrapped in :class:`OnGradientNorms` the same scheme is called on
the squared per-sample gradient norms :math:`\|\nabla f_i(x_t)\|^2` instead (what THEORY §6's
:math:`\Gamma_t` rewards).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

# the names of one import, one a line as ruff formats it (the engine imports some of them too)
from rwtheory._array import (
    InputTypeError,
    InputValueError,
    as_float64_data,
    check_bool,
    check_callable,
    check_choice,
    check_name,
    check_number,
    check_positive_finite,
    check_user_array,
    describe,
)
from rwtheory.convex.engine import (
    RunConfig,
    Trajectory,
    check_start,
    configure,
    run_batches,
    trajectory_fields,
    update_iterate,
)
from rwtheory.convex.problems import FiniteSums, LeastSquares
from rwtheory.convex.schemes import Scheme, scheme_weights

__all__ = [
    "LOSSES",
    "GLMProblem",
    "GLMTrajectory",
    "Loss",
    "OnGradientNorms",
    "from_least_squares",
    "geman_mcclure",
    "huber",
    "log_cosh",
    "make_loss",
    "run",
    "sigmoid",
    "squared",
]


# ---------------------------------------------------------------------- losses
@dataclass(frozen=True)
class Loss:
    r"""A scalar link loss :math:`\phi(u, b)` of the linear predictor :math:`u = a^\top x`.

    Attributes
    ----------
    name : label (with its parameter).
    value, derivative : :math:`\phi(u, b)` and :math:`\partial\phi/\partial u`, elementwise on
        arrays of one shape.
    curvature : :math:`c_\phi \ge \sup_{u}|\partial^2\phi/\partial u^2|` (for every admissible
        b): :math:`f_i` is :math:`c_\phi\|a_i\|^2`-smooth.
    lower : a certified lower bound of :math:`\phi`, hence of every :math:`f_i` and of f
        (:math:`f_{\inf}`).
    convex : whether :math:`\phi` is convex in u.
    residual : whether :math:`\phi(u, b) = \psi(u - b)` with :math:`\psi \ge \psi(0) = 0`
        (then b = A x* makes x* an interpolation point).
    """

    name: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    curvature: float
    lower: float = 0.0
    convex: bool = True
    residual: bool = True

    def __post_init__(self):
        check_name(self.name)
        check_callable(self.value, "value", "a callable (u, b) -> phi(u, b)")
        check_callable(self.derivative, "derivative", "a callable (u, b) -> dphi/du")
        object.__setattr__(self, "curvature", check_number(self.curvature, "curvature", low=0))
        object.__setattr__(self, "lower", check_number(self.lower, "lower"))
        check_bool(self.convex, "convex")
        check_bool(self.residual, "residual")


def _positive(value, name: str) -> float:
    return check_positive_finite(value, name)


def squared() -> Loss:
    r""":math:`\phi = \tfrac12(u - b)^2`: least squares, :math:`c_\phi = 1`, convex."""
    return Loss("squared", lambda u, b: 0.5 * (u - b) ** 2, lambda u, b: u - b, 1.0)


def log_cosh(scale: float = 1.0) -> Loss:
    r""":math:`\phi = s^2\log\cosh((u-b)/s)`, :math:`\phi' = s\tanh((u-b)/s)`,
    :math:`\phi'' = \mathrm{sech}^2((u-b)/s) \in (0, 1]`: convex, :math:`c_\phi = 1`, quadratic
    near 0 and linear (slope s) in the tails. Evaluated as
    :math:`|z| + \log(1 + e^{-2|z|}) - \log 2`, z = (u-b)/s, without overflow, for
    :math:`|z| \ge 1`, and as :math:`\log(1 + 2\sinh^2(z/2))` (``log1p``) below, which keeps
    full relative precision near the fit (the first form cancels to an absolute error
    ~u s^2 there, which made loss gaps at x* rounding noise)."""
    s = _positive(scale, "scale")

    def value(u, b):
        z = np.abs((u - b) / s)
        tail = z + np.log1p(np.exp(-2 * z)) - np.log(2.0)
        near = np.log1p(2 * np.sinh(np.minimum(z, 1.0) / 2) ** 2)
        return s * s * np.where(z < 1.0, near, tail)

    return Loss(f"log_cosh (s={s:g})", value, lambda u, b: s * np.tanh((u - b) / s), 1.0)


def huber(delta: float = 1.0) -> Loss:
    r"""Huber: :math:`\tfrac12 r^2` for :math:`|r| \le \delta`, :math:`\delta(|r| - \delta/2)`
    beyond (r = u - b); :math:`\phi' = \mathrm{clip}(r, -\delta, \delta)` is 1-Lipschitz, so
    :math:`c_\phi = 1`; convex."""
    dl = _positive(delta, "delta")

    def value(u, b):
        a = np.abs(u - b)
        q = np.minimum(a, dl)  # = a where the quadratic branch is used: the same bits, and
        return np.where(a <= dl, 0.5 * q * q, dl * (a - 0.5 * dl))  # no overflow beyond it

    return Loss(f"huber (delta={dl:g})", value, lambda u, b: np.clip(u - b, -dl, dl), 1.0)


def geman_mcclure(scale: float = 1.0) -> Loss:
    r"""Geman-McClure robust regression: :math:`\phi = \tfrac{c^2}{2}\,r^2/(c^2 + r^2)`,
    r = u - b, bounded by :math:`c^2/2`. :math:`\phi' = c^4 r/(c^2+r^2)^2`,
    :math:`\phi'' = c^4(c^2 - 3r^2)/(c^2+r^2)^3`, whose maximum is 1 (at r = 0) and minimum
    -1/4 (at :math:`|r| = c`): :math:`c_\phi = 1`, non-convex for :math:`|r| > c/\sqrt3`.
    Unlike the sigmoid loss its curvature is largest at the fit and negative on outliers."""
    c = _positive(scale, "scale")
    c2 = c * c

    def value(u, b):
        r2 = (u - b) ** 2
        return 0.5 * c2 * r2 / (c2 + r2)

    def derivative(u, b):
        r = u - b
        return c2 * c2 * r / (c2 + r * r) ** 2

    return Loss(f"geman_mcclure (c={c:g})", value, derivative, 1.0, convex=False)


def _logistic(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for any z


def sigmoid() -> Loss:
    r"""The sigmoid loss of THEORY §6: :math:`\phi(u, y) = s(-y u)`, labels :math:`y = \pm 1`,
    s the logistic function. :math:`\phi' = -y\,s(-yu)(1 - s(-yu))`, :math:`\phi'' = s''(-yu)`
    with :math:`s'' = s(1-s)(1-2s)`, :math:`|s''| \le 1/(6\sqrt3)`: :math:`c_\phi = 1/(6\sqrt3)`,
    non-convex, :math:`0 < \phi < 1`."""

    def value(u, y):
        return _logistic(-y * u)

    def derivative(u, y):
        s = _logistic(-y * u)
        return -y * s * (1.0 - s)

    return Loss(
        "sigmoid", value, derivative, 1.0 / (6.0 * np.sqrt(3.0)), convex=False, residual=False
    )


#: The families by name (each a factory taking its one parameter, if any).
LOSSES = {
    "squared": squared,
    "log_cosh": log_cosh,
    "huber": huber,
    "geman_mcclure": geman_mcclure,
    "sigmoid": sigmoid,
}


def make_loss(name: str, *args, **kwargs) -> Loss:
    """A loss family of :data:`LOSSES` by name."""
    return LOSSES[check_choice(name, "loss", tuple(sorted(LOSSES)))](*args, **kwargs)


# ---------------------------------------------------------------------- problems
@dataclass(frozen=True, eq=False)
class GLMProblem(FiniteSums):
    """R stacked finite sums :math:`f(x) = \\frac1n\\sum_i \\phi(a_i^\\top x, b_i)`.

    A, b : (R, n, d) and (R, n). loss : the :class:`Loss`. x_star : (R, d) interpolation
    point (only for residual losses with b = A x*), else None. params : the generator's
    parameters, ``seeds`` among them. Sizes, seeds, :meth:`check` and :meth:`take` are
    those of every stack (:class:`rwtheory.convex.problems.FiniteSums`).
    """

    A: np.ndarray
    b: np.ndarray
    loss: Loss
    x_star: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    RUN_ARRAYS = ("A", "b", "x_star")

    def __post_init__(self):
        A = as_float64_data(self.A, "A", ("runs", "n", "d"))
        R, _, d = A.shape
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", as_float64_data(self.b, "b", A.shape[:2]))
        if not isinstance(self.loss, Loss):
            raise InputTypeError(f"loss must be a Loss, got {type(self.loss).__name__}")
        if self.x_star is not None:
            if not self.loss.residual:
                raise InputValueError(f"x_star needs a residual loss, got {self.loss.name}")
            object.__setattr__(self, "x_star", as_float64_data(self.x_star, "x_star", (R, d)))
        self._check_params()

    # ------------------------------------------------------------ values
    def predictor(self, x: np.ndarray, rows: np.ndarray | None = None):
        """(u, b) with :math:`\\phi(u, b) = f_i(x)` for every sample (R, n), or the samples
        ``rows`` (R, b). With an interpolation point, u = A(x - x*) and b = 0 (same value for
        a residual loss, full relative precision near x*)."""
        A = self.A if rows is None else np.take_along_axis(self.A, rows[..., None], axis=1)
        if self.x_star is not None:
            return np.matmul(A, (x - self.x_star)[..., None])[..., 0], np.zeros(A.shape[:2])
        bb = self.b if rows is None else np.take_along_axis(self.b, rows, axis=1)
        return np.matmul(A, x[..., None])[..., 0], bb

    def losses(self, x: np.ndarray) -> np.ndarray:
        """f_i(x), (R, n)."""
        return self.loss.value(*self.predictor(x))

    def value(self, x: np.ndarray) -> np.ndarray:
        """f(x), (R,)."""
        return self.losses(x).mean(axis=-1)

    def sample_gradients(self, x: np.ndarray) -> np.ndarray:
        """:math:`\\nabla f_i(x) = \\phi'(a_i^\\top x, b_i) a_i`, (R, n, d)."""
        return self.loss.derivative(*self.predictor(x))[..., None] * self.A

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """:math:`\\nabla f(x)`, (R, d)."""
        return self.sample_gradients(x).mean(axis=1)

    # ------------------------------------------------------------ constants
    def sample_smoothness(self) -> np.ndarray:
        """:math:`\\ell_i = c_\\phi\\|a_i\\|^2`, (R, n)."""
        return self.loss.curvature * (self.A**2).sum(axis=-1)

    def max_smoothness(self) -> np.ndarray:
        """:math:`L_{\\max} = \\max_i \\ell_i`, (R,)."""
        return self.sample_smoothness().max(axis=-1)

    def smoothness(self) -> np.ndarray:
        """:math:`L = c_\\phi\\lambda_{\\max}(A^\\top A/n)`, (R,)."""
        return (
            self.loss.curvature
            * np.linalg.eigvalsh(np.matmul(np.swapaxes(self.A, 1, 2), self.A))[:, -1]
            / self.n
        )

    def batch_smoothness(self, batch: np.ndarray) -> np.ndarray:
        """:math:`L_B = c_\\phi\\lambda_{\\max}(A_B^\\top A_B/|B|)` for ``batch`` (R, b), (R,)."""
        Ab = np.take_along_axis(self.A, batch[..., None], axis=1)
        G = np.matmul(Ab, np.swapaxes(Ab, 1, 2))
        return self.loss.curvature * np.linalg.eigvalsh(G)[:, -1] / batch.shape[-1]

    def lower_bound(self) -> np.ndarray:
        """A certified :math:`f_{\\inf} \\le \\inf f` per run, (R,): the loss's ``lower``."""
        return np.full(self.runs, float(self.loss.lower))


def from_least_squares(problem: LeastSquares, loss: Loss) -> GLMProblem:
    """The data (A, b, x*) of a least-squares stack with another residual loss: on
    :func:`rwtheory.convex.problems.consistent_least_squares` every residual family keeps
    x* as interpolation point."""
    if not isinstance(problem, LeastSquares):
        raise InputTypeError(f"problem must be a LeastSquares, got {type(problem).__name__}")
    if not isinstance(loss, Loss):
        raise InputTypeError(f"loss must be a Loss, got {type(loss).__name__}")
    if not loss.residual:
        raise InputValueError(f"loss must be a residual loss, got {loss.name}")
    return GLMProblem(
        A=problem.A,
        b=problem.b,
        loss=loss,
        x_star=problem.x_star,
        params=dict(problem.params, loss=loss.name),
    )


# ---------------------------------------------------------------------- schemes
@dataclass(frozen=True)
class OnGradientNorms(Scheme):
    """``scheme`` applied to the batch's squared gradient norms :math:`\\|\\nabla f_i(x_t)\\|^2`
    instead of its losses (the engine of this module feeds them). E.g.
    ``OnGradientNorms(Strategy("linupper", 1.0))`` up-weights large gradients and
    ``OnGradientNorms(SmallestGaps(2.0))`` is the small-gradient adversary."""

    scheme: Scheme

    def __post_init__(self):
        if not isinstance(self.scheme, Scheme):
            raise InputTypeError(f"scheme must be a Scheme, got {type(self.scheme).__name__}")

    @property
    def label(self) -> str:
        return f"{self.scheme.label} on grad norms"

    def __call__(self, signal, step):
        return self.scheme(signal, step)


# ---------------------------------------------------------------------- trajectory
@dataclass
class GLMTrajectory(Trajectory):
    r""":class:`rwtheory.convex.engine.Trajectory` plus THEORY §6's per-step records.

    grad_norm2 (R, T+1) :math:`\|\nabla f(x_t)\|^2`;
    grad_mean (R, T) :math:`m_t = \frac1b\sum_{i\in B_t}\|\nabla f_i(x_t)\|^2`;
    grad_gamma (R, T) :math:`\Gamma_t = \sum_{i\in B_t} w_i\|\nabla f_i(x_t)\|^2 / m_t` (1 when
    :math:`m_t = 0`);
    sigma (R, T) :math:`\sigma_t = \max_{i\in B_t}\|\nabla f_i(x_t) - \nabla f(x_t)\|`;
    step_norm2 (R, T) :math:`\|g_t\|^2`, g_t the reweighted gradient;
    sample_smoothness (R, n) :math:`\ell_i`; smoothness (R,) L; lower_bound (R,)
    :math:`f_{\inf}`.
    """

    grad_norm2: np.ndarray | None = None
    grad_mean: np.ndarray | None = None
    grad_gamma: np.ndarray | None = None
    sigma: np.ndarray | None = None
    step_norm2: np.ndarray | None = None
    sample_smoothness: np.ndarray | None = None
    smoothness: np.ndarray | None = None
    lower_bound: np.ndarray | None = None


# ---------------------------------------------------------------------- the engine
@dataclass
class _Setup:
    """The arguments of :func:`run` validated as the least-squares engine validates its own
    (``cfg``: :func:`rwtheory.convex.engine.configure`), the runs' problem (one row per
    run), their seeds and their batches ((R, T, b) from
    :func:`rwtheory.convex.engine.run_batches`; None for full batches)."""

    cfg: RunConfig
    problem: GLMProblem
    seeds: list
    batches: np.ndarray | None


def _setup(
    problem, schemes, method, lr, steps, batch_size, rows, lambdas, x0, divergence_factor
) -> _Setup:
    """The arguments checked as the least-squares engine checks its own, then the runs'
    problem, seeds and batches."""
    # configure's arguments, one a line as ruff formats a call too long for one: the
    # shape of its signature by design (the same arguments, checked by the same code)
    cfg = configure(
        problem,
        schemes,
        method,
        lr,
        steps,
        batch_size,
        rows,
        lambdas,
        x0,
        divergence_factor,
        problem_type=GLMProblem,
    )
    seeds = [problem.seeds()[i] for i in cfg.rows]
    batches = run_batches(seeds, problem.n, cfg.b, cfg.steps) if cfg.b < problem.n else None
    return _Setup(cfg, problem.take(cfg.rows), seeds, batches)


def _weigh(schemes: list, losses: np.ndarray, grad2: np.ndarray, step: int) -> np.ndarray:
    """Weights (R, b): every distinct scheme called once on the rows of its runs, on the
    losses or (:class:`OnGradientNorms`) the squared gradient norms."""
    W = np.empty_like(losses)
    groups: dict = {}
    for i, s in enumerate(schemes):
        groups.setdefault(s, []).append(i)
    for s, idx in groups.items():
        signal = grad2 if isinstance(s, OnGradientNorms) else losses
        W[idx] = scheme_weights(s, signal[idx], step)
    return W


def _point(P: GLMProblem, x: np.ndarray, *, check: bool = False):
    """Everything about the iterate x (R, d): per-sample values (R, n), per-sample
    gradients (R, n, d) and the full gradient (R, d). ``check`` (at the start): the loss's
    value and derivative must return finite float arrays of the predictor's shape (an
    error naming the loss's function otherwise: a run that cannot start)."""
    u, bb = P.predictor(x)
    vals, deriv = P.loss.value(u, bb), P.loss.derivative(u, bb)
    if check:
        for fn, out in ((P.loss.value, vals), (P.loss.derivative, deriv)):
            check_user_array(out, f"loss {P.loss.name!r} ({describe(fn)}) at x0", u)
    G = deriv[..., None] * P.A
    return vals, G, G.mean(axis=1)


def _take(a: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Rows ``idx`` (R, b) of a per-sample array (R, n, ...); all of them for None."""
    if idx is None:
        return a
    return np.take_along_axis(a, idx.reshape(idx.shape + (1,) * (a.ndim - 2)), axis=1)


def _records(R: int, T: int, star: bool, heavy: bool) -> dict:
    nan = np.nan
    rec = {k: np.full((R, T + 1), nan) for k in ("train_loss", "grad_norm2")}
    rec.update(
        {k: np.full((R, T), nan) for k in ("rho", "grad_mean", "grad_gamma", "sigma", "step_norm2")}
    )
    if star:
        rec.update({k: np.full((R, T + 1), nan) for k in ("gap", "dist2")})
        rec.update({k: np.full((R, T), nan) for k in ("weighted_gap", "batch_gap", "gamma")})
        if heavy:
            rec["prev_weighted_gap"] = np.full((R, T), nan)
            rec["z_dist2"] = np.full((R, T + 1), nan)
    return rec


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 1 where den = 0 (the convention for Gamma_t)."""
    pos = den > 0
    return np.where(pos, num / np.where(pos, den, 1.0), 1.0)


def _record_step(rec, t, s: _Setup, vals, G, grad, idx, W, g, x_prev_gaps):
    """The step-t records (weights W, reweighted gradient g) of the live runs."""
    P = s.problem
    rec["rho"][:, t] = s.cfg.b * W.max(axis=-1)
    sq = (_take(G, idx) ** 2).sum(axis=-1)  # ||grad f_i||^2 on B_t
    m = sq.mean(axis=-1)
    rec["grad_mean"][:, t] = m
    rec["grad_gamma"][:, t] = _ratio((W * sq).sum(axis=-1), m)
    dev = _take(G, idx) - grad[:, None, :]
    rec["sigma"][:, t] = np.sqrt((dev**2).sum(axis=-1).max(axis=-1))
    rec["step_norm2"][:, t] = (g**2).sum(axis=-1)
    if P.x_star is not None:
        gaps = _take(vals, idx) - float(P.loss.value(np.zeros(1), np.zeros(1))[0])
        wg = (W * gaps).sum(axis=-1)
        bg = gaps.mean(axis=-1)
        rec["weighted_gap"][:, t], rec["batch_gap"][:, t] = wg, bg
        rec["gamma"][:, t] = _ratio(wg, bg)
        if x_prev_gaps is not None:
            rec["prev_weighted_gap"][:, t] = (W * x_prev_gaps).sum(axis=-1)


def _record_point(rec, t, P: GLMProblem, f, grad, x, z):
    rec["train_loss"][:, t] = f
    rec["grad_norm2"][:, t] = (grad**2).sum(axis=-1)
    if P.x_star is not None:
        rec["gap"][:, t] = f - float(P.loss.value(np.zeros(1), np.zeros(1))[0])
        rec["dist2"][:, t] = ((x - P.x_star) ** 2).sum(axis=-1)
        if z is not None:
            rec["z_dist2"][:, t] = ((z - P.x_star) ** 2).sum(axis=-1)


# the signature of rwtheory.convex.engine.run, one parameter a line as ruff formats it: the
# same by design (same arguments, same meaning; rwtheory.theory.pairing calls either engine)
def run(
    problem: GLMProblem,
    schemes: Scheme | Sequence[Scheme],
    *,
    method: str = "gd",
    lr,
    steps: int,
    batch_size: int | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
    lambdas: Callable[[int], float] | Sequence[float] | np.ndarray | None = None,
    x0: np.ndarray | None = None,
    divergence_factor: float = 1e10,
    keep_iterates: bool = True,
    keep_weights: bool = False,
) -> GLMTrajectory:
    r"""Run R reweighted optimisers on a :class:`GLMProblem` at once.

    Same arguments and meaning as :func:`rwtheory.convex.engine.run`: ``rows`` the problem
    row of every run, ``method`` ``"gd"``, ``"sgd"`` (needs ``batch_size``) or
    ``"heavy_ball"`` (needs ``lambdas``), batches from
    :func:`rwtheory.convex.engine.sample_batches` (seed of the run's row), a run diverges
    at the first iterate that is non-finite or has f(x_t) > ``divergence_factor`` f(x_0) and
    is then frozen with NaN records. At step t, with :math:`w^t` = the scheme on the batch's
    losses (or squared gradient norms, :class:`OnGradientNorms`) at :math:`x_t`:
    :math:`g_t = \sum_{i\in B_t} w_i^t\nabla f_i(x_t)`, :math:`x_{t+1} = x_t - \eta g_t`
    (gd/sgd) or :math:`z_{t+1} = z_t - \eta g_t`,
    :math:`x_{t+1} = (\lambda_{t+1}x_t + z_{t+1})/(\lambda_{t+1}+1)` (heavy ball).

    Returns a :class:`GLMTrajectory`; gap records (THEORY §2-§4) only when the problem has
    an interpolation point.
    """
    s = _setup(
        problem, schemes, method, lr, steps, batch_size, rows, lambdas, x0, divergence_factor
    )
    keep_iterates = check_bool(keep_iterates, "keep_iterates")
    keep_weights = check_bool(keep_weights, "keep_weights")
    cfg, P = s.cfg, s.problem
    T, b, R = cfg.steps, cfg.b, cfg.rows.shape[0]
    heavy = cfg.method == "heavy_ball"
    star = P.x_star is not None
    rec = _records(R, T, star, heavy)
    x = cfg.x0.copy()
    z = x.copy() if heavy else None
    x_prev = x.copy()
    iterates = np.full((R, T + 1, P.d), np.nan) if keep_iterates else None
    weights = np.full((R, T, b), np.nan) if keep_weights else None
    diverged_at = np.full(R, -1, dtype=np.intp)
    alive = np.ones(R, dtype=bool)
    eta = cfg.lr[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        f0 = None
        for t in range(T + 1):
            vals, G, grad = _point(P, x, check=t == 0)
            f = vals.mean(axis=-1)
            if f0 is None:
                check_start(f)
                f0 = f.copy()
            bad = alive & ~(
                np.isfinite(f) & np.all(np.isfinite(x), axis=-1) & (f <= cfg.factor * f0 + 1e-300)
            )
            if bad.any():  # freeze at the last good iterate
                vals, G, grad, f = _freeze(P, bad, t, x, z, x_prev, alive, diverged_at)
            _record_point(rec, t, P, f, grad, x, z)
            if iterates is not None:  # kept on request (keep_iterates)
                iterates[:, t] = x
            if t == T:
                break
            idx = None if s.batches is None else s.batches[:, t]
            W = _weigh(cfg.schemes, _take(vals, idx), (_take(G, idx) ** 2).sum(-1), t)
            g = (W[..., None] * _take(G, idx)).sum(axis=1)
            prev_gaps = None
            if heavy and star:
                u, bb = P.predictor(x_prev, rows=idx)  # idx None: every sample
                prev_gaps = P.loss.value(u, bb) - float(P.loss.value(np.zeros(1), np.zeros(1))[0])
            _record_step(rec, t, s, vals, G, grad, idx, W, g, prev_gaps)
            if weights is not None:  # kept on request (keep_weights)
                weights[:, t] = W
            x_prev = x.copy()
            update_iterate(x, z, g, eta, None if cfg.lam is None else cfg.lam[t + 1])
            x[~alive] = x_prev[~alive]
    _blank_after_divergence(rec, diverged_at, iterates, weights)
    return _trajectory(problem, s, rec, diverged_at, iterates, weights)


def _freeze(P: GLMProblem, bad, t, x, z, x_prev, alive, diverged_at):
    """Freeze the runs ``bad`` (diverged at step t) at their last good iterate, in place;
    returns the point's values, gradients, full gradient and objective afterwards."""
    diverged_at[bad] = t
    alive &= ~bad
    x[bad] = x_prev[bad]
    if z is not None:
        z[bad] = x_prev[bad]
    vals, G, grad = _point(P, x)
    return vals, G, grad, vals.mean(axis=-1)


def _trajectory(
    problem: GLMProblem, s: _Setup, rec: dict, diverged_at, iterates, weights
) -> GLMTrajectory:
    """The :class:`GLMTrajectory` of a finished :func:`run`."""
    P = s.problem
    fields = trajectory_fields(s.cfg, problem.params, s.seeds, s.batches)
    fields["params"]["loss"] = P.loss.name
    return GLMTrajectory(
        diverged_at=diverged_at,
        iterates=iterates,
        weights=weights,
        sample_smoothness=P.sample_smoothness(),
        smoothness=P.smoothness(),
        lower_bound=P.lower_bound(),
        **fields,
        **rec,
    )


def _blank_after_divergence(rec, diverged_at, iterates, weights) -> None:
    """NaN from a diverged run's first bad iterate on (and its steps from there)."""
    for r in np.flatnonzero(diverged_at >= 0):
        t = diverged_at[r]
        for a in rec.values():
            a[r, t:] = np.nan
        if iterates is not None:
            iterates[r, t:] = np.nan
        if weights is not None:
            weights[r, t:] = np.nan
