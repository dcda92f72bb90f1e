r"""Reweighted full-batch GD, minibatch SGD and heavy-ball, batched over runs.

One call of :func:`run` advances R independent runs at once -- e.g. every (scheme, seed)
pair of a figure -- as a single array computation: run r uses row r of the problem, its own
learning rate and its own weighting scheme (runs sharing a scheme are weighted in one call).
At step t, with the batch :math:`B_t` (all samples for GD) and weights :math:`w^t` from the
scheme on the batch's losses at :math:`x_t`:

* ``"gd"`` / ``"sgd"``: :math:`x_{t+1} = x_t - \eta\, g_t`,
  :math:`g_t = \sum_{i\in B_t} w_i^t \nabla f_i(x_t)`;
* ``"heavy_ball"``, the iterate-moving-average form (THEORY §4(ii); Sebbouh, Gower &
  Defazio, COLT 2021):
  :math:`z_{t+1} = z_t - \eta g_t`,
  :math:`x_{t+1} = (\lambda_{t+1} x_t + z_{t+1}) / (\lambda_{t+1} + 1)`, :math:`z_0 = x_0`,
  which equals the two-step form
  :math:`x_{t+1} = x_t - \frac{\eta}{1+\lambda_{t+1}} g_t
  + \frac{\lambda_t}{1+\lambda_{t+1}} (x_t - x_{t-1})` (``tests/test_optim.py``).

Minibatches are uniform b-subsets drawn without replacement, independently at every step,
from a stream that depends only on the run's seed: runs with the same seed see the same
batches whatever their scheme (paired comparisons), and a run gives the same numbers alone
or batched with others.

A run *diverges* at the first step whose iterate is non-finite or whose training loss
exceeds ``divergence_factor`` times the initial one; it is then frozen, its later records
are NaN and :attr:`Trajectory.diverged_at` says when -- no exception, no overflow warning.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .problems import LeastSquares
from .schemes import Scheme, Strategy, _temperature
from .weighting import mixed_weights

__all__ = ["METHODS", "Trajectory", "run", "sample_batches"]

METHODS = ("gd", "sgd", "heavy_ball")


@dataclass
class Trajectory:
    """Per-step records of a batch of runs (R runs, T steps). Arrays of shape (R, T + 1)
    are indexed by the iterate x_t, t = 0..T; arrays of shape (R, T) by the step t that
    maps x_t to x_{t+1} (the weights, the batch and the quantities made of them).

    gap-related fields exist only when the problem has an interpolation point x*:
    ``gap`` a_t = f(x_t) - f(x*), ``weighted_gap`` S_t = sum_{i in B_t} w_i Delta_i(x_t),
    ``batch_gap`` (1/b) sum_{i in B_t} Delta_i(x_t), ``gamma`` Gamma_t = S_t / batch_gap (1
    when the batch's gaps are all 0), ``prev_weighted_gap`` S'_t = sum_{i in B_t} w_i^t
    Delta_i(x_{t-1}) (heavy-ball; x_{-1} = x_0), ``dist2`` ||x_t - x*||^2 and, for heavy ball,
    ``z_dist2`` ||z_t - x*||^2.
    """

    method: str
    steps: int
    batch_size: int
    lr: np.ndarray                      # (R,)
    labels: list[str]                   # scheme label of each run
    seeds: list[int]                    # seed of each run
    train_loss: np.ndarray              # (R, T+1) f(x_t)
    rho: np.ndarray                     # (R, T)  b * max_i w_i^t
    diverged_at: np.ndarray             # (R,) first diverged iterate index, -1 if never
    test_loss: np.ndarray | None = None          # (R, T+1) clean test MSE
    gap: np.ndarray | None = None                # (R, T+1)
    dist2: np.ndarray | None = None              # (R, T+1)
    z_dist2: np.ndarray | None = None            # (R, T+1) heavy ball
    weighted_gap: np.ndarray | None = None       # (R, T)
    batch_gap: np.ndarray | None = None          # (R, T)
    gamma: np.ndarray | None = None              # (R, T)
    prev_weighted_gap: np.ndarray | None = None  # (R, T) heavy ball
    iterates: np.ndarray | None = None           # (R, T+1, d)
    batches: np.ndarray | None = None            # (R, T, b) (sgd; None for full batch)
    weights: np.ndarray | None = None            # (R, T, b)
    lambdas: np.ndarray | None = None            # (T+1,) heavy ball
    params: dict = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return self.train_loss.shape[0]

    @property
    def diverged(self) -> np.ndarray:
        """(R,) bool: did the run diverge?"""
        return self.diverged_at >= 0


def sample_batches(seed: int, n: int, batch_size: int, steps: int) -> np.ndarray:
    """(steps, batch_size) sample indices: at every step a uniform ``batch_size``-subset of
    range(n) without replacement, from ``numpy.random.default_rng([seed, 1])`` (a stream
    separate from the data's, ``default_rng(seed)``). Indices within a batch are sorted."""
    rng = np.random.default_rng([int(seed), 1])
    if batch_size == n:
        return np.broadcast_to(np.arange(n), (steps, n)).copy()
    out = np.empty((steps, batch_size), dtype=np.intp)
    chunk = max(1, (1 << 22) // n)  # bound the temporary keys to ~32 MB
    for start in range(0, steps, chunk):
        keys = rng.random((min(chunk, steps - start), n))
        out[start:start + keys.shape[0]] = np.sort(
            np.argpartition(keys, batch_size - 1, axis=1)[:, :batch_size], axis=1)
    return out


def _check_int(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {rng}, got {value}")
    return int(value)


def _per_run(value, name: str, runs: int, *, positive: bool = True) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (runs,)).copy() \
        if np.ndim(value) == 0 or np.shape(value) == (runs,) else None
    if arr is None:
        raise ValueError(f"{name} must be a number or have one value per run ({runs}), "
                         f"got shape {np.shape(value)}")
    if not np.all(np.isfinite(arr)) or (positive and not np.all(arr > 0)):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return arr


def _lambdas(lambdas, steps: int) -> np.ndarray:
    if lambdas is None:
        raise ValueError("lambdas is required for method='heavy_ball' (a callable t -> "
                         "lambda_t or an array of steps + 1 values >= 0)")
    lam = (np.array([float(lambdas(t)) for t in range(steps + 1)]) if callable(lambdas)
           else np.asarray(lambdas, dtype=np.float64))
    if lam.shape != (steps + 1,) or not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError(f"lambdas must give steps + 1 = {steps + 1} finite values >= 0")
    return lam


def _as_slice(idx: list[int]):
    """An arithmetic progression of indices as a slice (views instead of copies)."""
    if len(idx) == 1:
        return slice(idx[0], idx[0] + 1)
    step = idx[1] - idx[0]
    if step > 0 and all(b - a == step for a, b in zip(idx, idx[1:], strict=False)):
        return slice(idx[0], idx[-1] + 1, step)
    return np.array(idx)


class _Weighter:
    """Every run's weights at a step. Runs of the paper's strategies (same delta) are
    weighted in one call with one strategy and temperature per row (their layout worked
    out once, here); the other schemes group by group."""

    def __init__(self, schemes: list[Scheme]):
        groups: dict[Scheme, list[int]] = {}
        for i, s in enumerate(schemes):
            groups.setdefault(s, []).append(i)
        self.others = [(s, np.array(r)) for s, r in groups.items()
                       if not isinstance(s, Strategy)]
        self.joint = []
        by_delta: dict[float, list] = {}
        for s, r in groups.items():
            if isinstance(s, Strategy):
                by_delta.setdefault(s.delta, []).append((s, r))
        for delta, members in by_delta.items():
            rows = np.array(sorted(i for _, r in members for i in r))
            pos = {i: k for k, i in enumerate(rows)}
            per_name: dict[str, list[int]] = {}
            for s, r in members:
                per_name.setdefault(s.strategy, []).extend(pos[i] for i in r)
            per_name = {k: _as_slice(sorted(v)) for k, v in per_name.items()}
            contiguous = rows.shape[0] == len(schemes)  # all runs, in order
            self.joint.append((delta, rows, contiguous, per_name,
                               [(s, np.array([pos[i] for i in r])) for s, r in members]))

    def __call__(self, losses: np.ndarray, step: int) -> np.ndarray:
        w = np.empty_like(losses)
        for scheme, rows in self.others:
            w[rows] = scheme(losses[rows], step)
        for delta, rows, contiguous, per_name, members in self.joint:
            temps = np.empty((rows.shape[0], 1))
            for s, pos in members:
                temps[pos] = _temperature(s.temperature, step)
            x = losses if contiguous else losses[rows]
            out = mixed_weights(x, per_name, temps, delta, np)
            if contiguous:
                w = out
            else:
                w[rows] = out
        return w


class _Runs:
    """The R runs' view of a problem with K data rows, ``rows[r]`` the data row of run r.

    :func:`run` keeps its runs sorted by data row. When every data row has the same number
    m of runs, their iterates are the rows of one (m, d) block per data row, so a step
    costs one small GEMM per data row instead of one mat-vec per run (a figure of 5
    schemes x K seeds makes 5x fewer BLAS calls), and the grouping is a reshape, not a
    copy. Otherwise it falls back to one row of data per run."""

    def __init__(self, problem: LeastSquares, rows: np.ndarray):
        self._forms: dict = {}
        K = problem.runs
        counts = np.bincount(rows, minlength=K)
        self.m = int(counts[0]) if np.all(counts == counts[0]) and counts[0] > 1 else 0
        self.rows = rows
        if self.m:
            self.problem = problem
            self.A_t = np.ascontiguousarray(np.swapaxes(problem.A, 1, 2))
        else:
            self.problem = problem.take(rows)  # one data row per run
            self.rows = np.arange(rows.shape[0])

    def _blocks(self, a):  # (R, k) -> (K, m, k): a view, runs being sorted by data row
        return a.reshape(self.problem.runs, self.m, a.shape[-1])

    def residuals(self, x):
        p = self.problem
        if not self.m:
            return p.residuals(x)
        e = x if p.x_star is None else x - p.x_star[self.rows]
        r = np.matmul(self._blocks(e), self.A_t)  # (K, m, n)
        if p.x_star is None:
            r -= p.b[:, None, :]
        return r.reshape(-1, p.n)

    def batch_residuals(self, x, batch):
        return self._per_run().batch_residuals(x, batch)

    def gradient(self, w, res, batch):
        if not self.m or batch is not None:
            return self._per_run().weighted_gradient(w, res, batch)
        return np.matmul(self._blocks(w * res), self.problem.A).reshape(-1, self.problem.d)

    def _per_run(self):
        if not self.m:
            return self.problem
        if not hasattr(self, "_expanded"):
            self._expanded = self.problem.take(self.rows)
        return self._expanded

    def loss_quadratic(self, x):
        return self._form(self.problem._train_form, x)

    def test_mse(self, x):
        return 2 * self._form(self.problem._test_form, x)

    def _form(self, form, x):
        key = id(form)
        if key not in self._forms:  # the form's arrays, one row per run
            G, h, c, ref = form
            self._forms[key] = (G[self.rows], h[self.rows], c[self.rows], ref[self.rows])
        G, h, c, ref = self._forms[key]
        e = x - ref
        Ge = np.matmul(G, e[..., None])[..., 0]
        return 0.5 * ((Ge + 2 * h) * e).sum(-1) + 0.5 * c


def run(problem: LeastSquares, schemes: Scheme | Sequence[Scheme], *, method: str = "gd",
        lr, steps: int, batch_size: int | None = None, rows: Sequence[int] | None = None,
        lambdas: Callable[[int], float] | Sequence[float] | None = None,
        x0: np.ndarray | None = None, divergence_factor: float = 1e10,
        keep_iterates: bool = True, keep_weights: bool = False,
        progress: Callable[[int], None] | None = None) -> Trajectory:
    """Run R reweighted optimisers at once (see the module docstring).

    Parameters
    ----------
    problem : K stacked least-squares problems (:mod:`rwtheory.problems`).
    schemes : one scheme for every run, or a sequence of R schemes.
    rows : (R,) the problem row (seed) of every run; default one run per row (R = K). A
        figure of S schemes x K seeds passes ``rows = np.tile(np.arange(K), S)``.
    method : ``"gd"`` (full batch), ``"sgd"`` (needs ``batch_size``) or ``"heavy_ball"``
        (full batch unless ``batch_size`` is given; needs ``lambdas``).
    lr : step size eta > 0, a number or one per run.
    steps : number of steps T >= 1.
    batch_size : b in 1..n for minibatches.
    lambdas : heavy-ball's lambda_t, t = 0..T (callable or array), all >= 0.
    x0 : (R, d) starting points; zeros by default.
    divergence_factor : a run diverges when f(x_t) > factor * f(x_0) or x_t is not finite.
    keep_iterates, keep_weights : also store x_t (R, T+1, d) / w^t (R, T, b).
    progress : called with the number of steps done (e.g. a tqdm ``update``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    K, n, d = problem.runs, problem.n, problem.d
    rows = np.arange(K) if rows is None else np.asarray(rows)
    if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer) \
            or rows.min() < 0 or rows.max() >= K:
        raise ValueError(f"rows must be a non-empty 1-D array of problem rows in 0..{K - 1}")
    R = rows.shape[0]
    # internally the runs are sorted by data row (see _Runs); records are unsorted at the end
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    view = _Runs(problem, rows)
    steps = _check_int(steps, "steps", 1)
    if method == "sgd" and batch_size is None:
        raise ValueError("batch_size is required for method='sgd' (an integer in 1..n)")
    if method == "gd" and batch_size not in (None, n):
        raise ValueError("method='gd' is full batch; use method='sgd' for minibatches")
    b = n if batch_size is None else _check_int(batch_size, "batch_size", 1, n)
    lr = _per_run(lr, "lr", R)[order]
    factor = float(divergence_factor)
    if not factor > 1:
        raise ValueError(f"divergence_factor must be > 1, got {divergence_factor!r}")
    if isinstance(schemes, Scheme):
        schemes = [schemes] * R
    schemes = list(schemes)
    if len(schemes) != R or not all(isinstance(s, Scheme) for s in schemes):
        raise ValueError(f"schemes must be one Scheme or a sequence of {R} Schemes")
    schemes = [schemes[i] for i in order]
    weigh = _Weighter(schemes)
    heavy = method == "heavy_ball"
    lam = _lambdas(lambdas, steps) if heavy else None

    x = np.zeros((R, d)) if x0 is None else np.array(x0, dtype=np.float64)
    if x.shape != (R, d) or not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be a finite array of shape {(R, d)}, got {x.shape}")
    x = x[order]
    seeds = [problem.seeds()[i] for i in rows]
    batches = None
    if b < n:
        per_seed = {s: sample_batches(s, n, b, steps) for s in dict.fromkeys(seeds)}
        batches = np.stack([per_seed[s] for s in seeds])  # (R, T, b)

    star = problem.x_star is not None  # then f_i(x*) = 0 and every loss is a gap
    full = batches is None
    nan = np.full((R, steps + 1), np.nan)
    rec = dict(train_loss=nan.copy(), rho=nan[:, :steps].copy())
    if problem.A_test is not None:
        rec["test_loss"] = nan.copy()
    if star:
        rec.update(gap=nan.copy(), dist2=nan.copy(), weighted_gap=nan[:, :steps].copy(),
                   batch_gap=nan[:, :steps].copy(), gamma=nan[:, :steps].copy())
        if heavy:
            rec.update(prev_weighted_gap=nan[:, :steps].copy(), z_dist2=nan.copy())
    iterates = np.full((R, steps + 1, d), np.nan) if keep_iterates else None
    weights_rec = np.full((R, steps, b), np.nan) if keep_weights else None
    diverged_at = np.full(R, -1, dtype=np.intp)
    alive = np.ones(R, dtype=bool)
    z = x.copy() if heavy else None
    x_prev = x.copy()
    loss0 = None

    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            batch = None if full or t == steps else batches[:, t]
            if full:  # every sample's residual: the weights need them all
                res = view.residuals(x)
                lb = res * res
                lb *= 0.5
                f = lb.mean(axis=-1)
            else:     # the batch's residuals, and f from the Gram form
                res = None if batch is None else view.batch_residuals(x, batch)
                f = view.loss_quadratic(x)
            if loss0 is None:
                loss0 = f.copy()
            bad = alive & ~(np.isfinite(f) & (f <= factor * loss0 + 1e-300))
            if bad.any():  # freeze at the last good iterate, record NaN from here on
                diverged_at[bad] = t
                alive &= ~bad
                x[bad] = x_prev[bad]
                if heavy:
                    z[bad] = x_prev[bad]
            f[~alive] = np.nan
            rec["train_loss"][:, t] = f
            if "test_loss" in rec:
                rec["test_loss"][:, t] = np.where(alive, view.test_mse(x), np.nan)
            if star:
                rec["gap"][:, t] = f
                xs = problem.x_star[rows]
                rec["dist2"][:, t] = np.where(alive, ((x - xs) ** 2).sum(-1), np.nan)
                if heavy:
                    rec["z_dist2"][:, t] = np.where(alive, ((z - xs) ** 2).sum(-1), np.nan)
            if keep_iterates:
                iterates[alive, t] = x[alive]
            if t == steps:
                break

            if not full:
                lb = res * res
                lb *= 0.5
            if not alive.all():
                res[~alive] = 0.0
                lb[~alive] = 0.0
            w = weigh(lb, t)
            w[~alive] = 0.0
            rec["rho"][:, t] = np.where(alive, b * w.max(axis=-1), np.nan)
            if keep_weights:
                weights_rec[:, t] = np.where(alive[:, None], w, np.nan)
            if star:
                S = (w * lb).sum(-1)
                mean_gap = lb.mean(-1)
                rec["weighted_gap"][:, t] = np.where(alive, S, np.nan)
                rec["batch_gap"][:, t] = np.where(alive, mean_gap, np.nan)
                positive = mean_gap > 0
                rec["gamma"][:, t] = np.where(
                    alive, np.where(positive, S / np.where(positive, mean_gap, 1.0), 1.0),
                    np.nan)
                if heavy:
                    prev = (view.residuals(x_prev) if full
                            else view.batch_residuals(x_prev, batch))
                    rec["prev_weighted_gap"][:, t] = np.where(
                        alive, (w * 0.5 * prev * prev).sum(-1), np.nan)

            g = view.gradient(w, res, batch)
            x_prev = x.copy()
            if heavy:
                z = z - lr[:, None] * g
                x = (lam[t + 1] * x + z) / (lam[t + 1] + 1)
            else:
                x = x - lr[:, None] * g
            x[~alive] = x_prev[~alive]
            if progress is not None:
                progress(1)

    inverse = np.argsort(order, kind="stable")

    def unsort(a):
        return None if a is None else a[inverse]

    rec = {k: unsort(v) for k, v in rec.items()}
    return Trajectory(method=method, steps=steps, batch_size=b, lr=lr[inverse],
                      labels=[schemes[i].label for i in inverse],
                      seeds=[seeds[i] for i in inverse], diverged_at=diverged_at[inverse],
                      iterates=unsort(iterates), batches=unsort(batches),
                      weights=unsort(weights_rec), lambdas=lam,
                      params=dict(problem.params, seeds=[seeds[i] for i in inverse],
                                  method=method, steps=steps,
                                  batch_size=b, divergence_factor=factor), **rec)
