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
  + \frac{\lambda_t}{1+\lambda_{t+1}} (x_t - x_{t-1})` (``tests/convex/test_engine.py``).

Minibatches are uniform b-subsets drawn without replacement, independently at every step,
from a stream that depends only on the run's seed: runs with the same seed see the same
batches whatever their scheme (paired comparisons), and a run gives the same numbers alone
or batched with others.

Performance notes (``benchmarks/bench_experiments.py``): the runs are laid out as K data
blocks of m runs (:class:`_Plan`), so one step is one residual GEMM ``[x, -1] [A, b]^T`` and
one gradient GEMM per data row for all its runs, and the weights of every run of the paper's
strategies are computed fused, in a handful of passes over the losses (:class:`_Weights`),
with no work at all for uniform runs. The same code runs a single run, so "batched" and "one
at a time" differ only by how many runs share a step (equal to ~1e-15 in practice).

A run *diverges* at the first step whose iterate is non-finite or whose training loss
exceeds ``divergence_factor`` times the initial one; it is then frozen, its later records
are NaN and :attr:`Trajectory.diverged_at` says when -- no exception, no overflow warning.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rwtheory.convex.problems import LeastSquares
from rwtheory.convex.schemes import Scheme, Strategy
from rwtheory.weights.pipeline import NORMALIZE_EPS

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


# ---------------------------------------------------------------------- the engine
#: Strategies whose pipeline the engine evaluates fused (see :class:`_Plan`).
_FUSED = ("linupper", "quadratic", "extremes", "upper")


def _group_key(scheme: Scheme):
    """Runs with equal keys are weighted in one call: every uniform run together; the runs
    of one of the paper's strategies (and one delta) together, whatever their temperatures;
    any other scheme with the runs of the same scheme."""
    if isinstance(scheme, Strategy):
        if scheme.strategy == "uniform":
            return ("uniform",)
        if scheme.strategy in _FUSED:
            return ("strategy", scheme.strategy, float(scheme.delta))
    return ("scheme", scheme)


class _Plan:
    r"""Internal order and layout of the runs: a stack of K data blocks of m runs each.

    Arrays of the engine have shape (K, m, ...). Run ``order[p]`` sits at position p of
    the flattened (K*m) axis. Two layouts:

    * *shared*: every data row of the problem has the same number m of runs and the same
      number of runs of every weighting group. Block k holds the runs of data row k, sorted
      by group, so a group is the same range of the m axis in every block, and one step
      costs one small GEMM per data row for all its runs (runs of a data row share its
      minibatches too: the batches depend on the seed only).
    * *expanded*: otherwise. Every run gets its own copy of its data (K = R, m = 1), runs
      sorted by group, so a group is a range of the K axis.

    Either way a group is addressed by a pair of slices, and the runs of the paper's
    fused strategies form one contiguous *region* (one reduction and one ``exp`` for all).
    """

    def __init__(self, problem: LeastSquares, rows: np.ndarray, schemes: list[Scheme]):
        R, K = rows.shape[0], problem.runs
        keys = [_group_key(s) for s in schemes]
        uniq = list(dict.fromkeys(keys))
        rank_of = {k: (0 if k[0] == "uniform" else 1 if k[0] == "strategy" else 2, i)
                   for i, k in enumerate(uniq)}
        uniq.sort(key=lambda k: rank_of[k])
        gid = np.array([uniq.index(k) for k in keys])
        G = len(uniq)
        counts = np.zeros((K, G), dtype=np.intp)
        np.add.at(counts, (rows, gid), 1)
        shared = bool(np.all(counts == counts[0]))
        if shared:
            order = np.lexsort((np.arange(R), gid, rows))
            self.problem, self.K, self.m = problem, K, R // K
            sizes = counts[0]
        else:
            order = np.lexsort((np.arange(R), gid))
            self.problem = problem.take(rows[order])
            self.K, self.m = R, 1
            sizes = np.bincount(gid, minlength=G)
        self.shared = shared
        self.order = order
        self.rows = rows[order]                  # data row of every internal position
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.groups = []                         # (key, scheme, slices, members)
        for g, key in enumerate(uniq):
            a, b = int(offsets[g]), int(offsets[g + 1])
            sl = (slice(None), slice(a, b)) if shared else (slice(a, b), slice(None))
            members = [schemes[i] for i in order if gid[i] == g]
            self.groups.append((key, members[0], sl, (a, b)))
        fused = [(a, b) for key, _, _, (a, b) in self.groups if key[0] == "strategy"]
        self.region = None
        if fused:
            a, b = fused[0][0], fused[-1][1]
            self.region = (slice(None), slice(a, b)) if shared else (slice(a, b), slice(None))
            self.region_start = a
        internal = [schemes[i] for i in order]
        self.schemes = internal

    def blocks(self, flat: np.ndarray) -> np.ndarray:
        """(R, ...) in internal order -> (K, m, ...) (a view)."""
        return flat.reshape(self.K, self.m, *flat.shape[1:])

    def relative(self, span):
        """A group's slices relative to the fused region."""
        a, b = span
        s = slice(a - self.region_start, b - self.region_start)
        return (slice(None), s) if self.shared else (s, slice(None))


class _Weights:
    r"""Every run's unnormalised weights E (K, m, b), their sums and maxima, per step.

    For the paper's strategies the pipeline (normalise, score, tempered softmax) is
    evaluated fused, from q = 2 x the losses (= the squared residuals):

    * l~ = (l - mid) delta / max(half, eps/2) = (q - mid_q) k with mid_q = 2 mid, and the
      factor 1/2 applied to the scale -- the same rounding as :func:`normalize_losses`, as
      halving is exact;
    * softmax is invariant to a shift of all scores of a row, so each strategy's score over
      r is shifted to be <= 0 where that is free: ``linupper`` exp(min(l~, 0)/r),
      ``upper`` exp((l - l_max) scale / 2r), ``quadratic`` exp(-l~^2/(delta^2 r)) and
      ``extremes`` exp(|l~|/r), the last two shifted by their row maximum only when r is so
      small that exp could under/overflow.

    The result equals :func:`rwtheory.weights.pipeline.batched_sample_weights` up to rounding
    (``tests/convex/test_engine.py``); uniform runs keep E = 1 and need no work at all. Any other
    scheme is called on its group's losses, as :class:`Scheme` says.
    """

    def __init__(self, plan: _Plan, b: int):
        self.plan, self.b = plan, b
        K, m = plan.K, plan.m
        self.E = np.ones((K, m, b))
        self.S = np.full((K, m), float(b))
        self.emax = np.ones((K, m))
        self.fused = []
        self.others = []
        self.callables = []
        if plan.region is not None:
            shape = np.ones((K, m, 1))[plan.region].shape
            self.temps = np.empty(shape)
            self.delta = np.empty(shape)
        for key, scheme, sl, span in plan.groups:
            if key[0] == "uniform":
                continue
            if key[0] == "scheme":
                self.others.append((scheme, sl))
                continue
            rel = plan.relative(span)
            self.delta[rel] = key[2]
            for pos in self._positions(span):   # every run's own temperature
                s = plan.schemes[pos]
                at = self._region_index(pos)
                if callable(s.temperature):
                    self.callables.append((at, s.temperature))
                    self.temps[at] = float(s.temperature(0))
                else:
                    self.temps[at] = float(s.temperature)
            self.fused.append((key[1], sl, rel))
        self._static()

    def _region_index(self, pos: int) -> tuple[int, int, int]:
        """Index into the (region-shaped) per-run arrays of internal position ``pos``."""
        p = self.plan
        if p.shared:
            return (pos // p.m, pos % p.m - p.region_start, 0)
        return (pos - p.region_start, 0, 0)

    def _positions(self, span):
        a, b = span
        p = self.plan
        return [k * p.m + j for k in range(p.K) for j in range(a, b)] if p.shared else \
            list(range(a, b))

    def _static(self):
        if not self.fused:
            return
        t = self.temps
        if not np.all(np.isfinite(t) & (t > 0)):
            raise ValueError("temperature must be finite and > 0 for every run")
        self.inv_r = 1.0 / t
        # the shift by the row maximum is needed only when exp could overflow (extremes,
        # scores up to delta/r) or underflow everywhere (quadratic, down to -1/r)
        self.shift = bool(np.any(np.maximum(self.delta, 1.0) * self.inv_r > 700))

    def __call__(self, q: np.ndarray, step: int) -> None:
        """Weights for the per-sample q = squared residuals (K, m, b) of step ``step``."""
        E, p = self.E, self.plan
        if self.fused:
            if self.callables:
                for at, fn in self.callables:
                    self.temps[at] = float(fn(step))
                self._static()
            qR, ER = q[p.region], E[p.region]
            qmax = qR.max(axis=-1, keepdims=True)
            qmin = qR.min(axis=-1, keepdims=True)
            # losses l = q/2: half = l_max/2 - l_min/2, mid_q = 2 (l_max/2 + l_min/2)
            half = np.maximum(qmax * 0.25 - qmin * 0.25, NORMALIZE_EPS / 2)
            mid = qmax * 0.5 + qmin * 0.5
            k = self.delta / half
            k *= 0.5                              # l~ = (q - mid_q) k
            kr = k * self.inv_r                   # l~ / r
            emaxR = self.emax[p.region]
            for name, sl, rel in self.fused:
                Eg, qg = E[sl], q[sl]
                if name == "upper":
                    np.subtract(qg, qmax[rel], out=Eg)
                    Eg *= kr[rel] * 0.5
                elif name == "linupper":
                    np.subtract(qg, mid[rel], out=Eg)
                    Eg *= kr[rel]
                    np.minimum(Eg, 0.0, out=Eg)
                elif name == "extremes":
                    np.subtract(qg, mid[rel], out=Eg)
                    Eg *= kr[rel]
                    np.abs(Eg, out=Eg)
                else:  # quadratic: -l~^2 / (delta^2 r)
                    np.subtract(qg, mid[rel], out=Eg)
                    np.square(Eg, out=Eg)
                    Eg *= -(k[rel] ** 2) * self.inv_r[rel] / self.delta[rel] ** 2
                if name in ("extremes", "quadratic"):
                    mx = Eg.max(axis=-1, keepdims=True)
                    if self.shift:
                        Eg -= mx
                        emaxR[rel] = 1.0
                    else:
                        emaxR[rel] = np.exp(mx[..., 0])
            np.exp(ER, out=ER)
            self.S[p.region] = ER.sum(axis=-1)
        for scheme, sl in self.others:
            qg = q[sl]
            w = scheme(0.5 * qg.reshape(-1, qg.shape[-1]), step).reshape(qg.shape)
            E[sl] = w
            self.S[sl] = 1.0
            self.emax[sl] = w.max(axis=-1)
        return None


class _Data:
    """The problem's arrays in the plan's layout: residual and gradient GEMMs per block."""

    def __init__(self, plan: _Plan):
        p = plan.problem
        self.plan, self.n, self.d = plan, p.n, p.d
        self.star = p.x_star is not None
        At = np.swapaxes(p.A, 1, 2)
        if self.star:  # residual A (x - x*): full relative precision near x*
            self.M = np.ascontiguousarray(At)
            self.xs = p.x_star[:, None, :] if plan.shared else p.x_star[:, None, :]
        else:          # residual [A, b] [x; -1] = A x - b in one GEMM
            self.M = np.ascontiguousarray(np.concatenate([At, p.b[:, None, :]], axis=1))
        self.At = self.M[:, :self.d, :]
        self.train_form = _block_form(p._train_form)
        self.test_form = _block_form(p._test_form) if p.A_test is not None else None

    def operand(self, xa: np.ndarray) -> np.ndarray:
        """The left factor of the residual GEMM from the augmented iterate (K, m, d + 1)."""
        return xa[..., :self.d] - self.xs if self.star else xa

    def residuals(self, xa, out=None, M=None):
        return np.matmul(self.operand(xa), self.M if M is None else M, out=out)

    def batch_matrix(self, batch: np.ndarray) -> np.ndarray:
        """[A_B, b_B]^T per block (K, d(+1), b) for the blocks' batches (K, b)."""
        return np.take_along_axis(self.M, batch[:, None, :], axis=2)

    def gradient(self, V, M=None):
        """sum_i v_i a_i per run: (K, m, d) from V (K, m, b)."""
        At = self.At if M is None else M[:, :self.d, :]
        return np.swapaxes(np.matmul(At, np.swapaxes(V, 1, 2)), 1, 2)


def _block_form(form):
    """A quadratic form of :mod:`rwtheory.convex.problems` with its arrays per block."""
    G, h, c, ref = form
    return G, h[:, None, :], c[:, None], ref[:, None, :]


def _form_value(form, x):
    """The form's value at x (K, m, d): (K, m)."""
    G, h, c, ref = form
    e = x - ref
    Ge = np.matmul(e, G)  # G symmetric
    Ge += 2 * h
    Ge *= e
    return 0.5 * Ge.sum(-1) + 0.5 * c


def run(problem: LeastSquares, schemes: Scheme | Sequence[Scheme], *, method: str = "gd",
        lr, steps: int, batch_size: int | None = None, rows: Sequence[int] | None = None,
        lambdas: Callable[[int], float] | Sequence[float] | None = None,
        x0: np.ndarray | None = None, divergence_factor: float = 1e10,
        keep_iterates: bool = True, keep_weights: bool = False,
        progress: Callable[[int], None] | None = None) -> Trajectory:
    """Run R reweighted optimisers at once (see the module docstring).

    Parameters
    ----------
    problem : K stacked least-squares problems (:mod:`rwtheory.convex.problems`).
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

    All runs are advanced together, step by step: the runs of one data row share one GEMM
    per step, and the weights of all runs of the paper's strategies are computed in a
    handful of array passes (:class:`_Weights`). A run computes the same numbers alone as
    batched with others, up to the rounding of the GEMMs (``tests/convex/test_engine.py``,
    ``benchmarks/bench_experiments.py``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    K0, n, d = problem.runs, problem.n, problem.d
    rows = np.arange(K0) if rows is None else np.asarray(rows)
    if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer) \
            or rows.min() < 0 or rows.max() >= K0:
        raise ValueError(f"rows must be a non-empty 1-D array of problem rows in 0..{K0 - 1}")
    R = rows.shape[0]
    steps = _check_int(steps, "steps", 1)
    if method == "sgd" and batch_size is None:
        raise ValueError("batch_size is required for method='sgd' (an integer in 1..n)")
    if method == "gd" and batch_size not in (None, n):
        raise ValueError("method='gd' is full batch; use method='sgd' for minibatches")
    b = n if batch_size is None else _check_int(batch_size, "batch_size", 1, n)
    lr = _per_run(lr, "lr", R)
    factor = float(divergence_factor)
    if not factor > 1:
        raise ValueError(f"divergence_factor must be > 1, got {divergence_factor!r}")
    if isinstance(schemes, Scheme):
        schemes = [schemes] * R
    schemes = list(schemes)
    if len(schemes) != R or not all(isinstance(s, Scheme) for s in schemes):
        raise ValueError(f"schemes must be one Scheme or a sequence of {R} Schemes")
    heavy = method == "heavy_ball"
    lam = _lambdas(lambdas, steps) if heavy else None
    x = np.zeros((R, d)) if x0 is None else np.array(x0, dtype=np.float64)
    if x.shape != (R, d) or not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be a finite array of shape {(R, d)}, got {x.shape}")

    plan = _Plan(problem, rows, schemes)
    order, K, m = plan.order, plan.K, plan.m
    weigh = _Weights(plan, b)
    data = _Data(plan)
    star = data.star                      # then f_i(x*) = 0 and every loss is a gap
    all_seeds = problem.seeds()
    seeds = [all_seeds[i] for i in plan.rows]  # per internal position
    full = b == n
    batches = bblocks = None
    if not full:
        per_seed = {s: sample_batches(s, n, b, steps) for s in dict.fromkeys(seeds)}
        block_seed = seeds[::m]
        bblocks = np.stack([per_seed[s] for s in block_seed], axis=1)  # (T, K, b)
        batches = np.stack([per_seed[s] for s in seeds])                # (R, T, b) internal

    lr3 = plan.blocks(lr[order])[..., None]           # (K, m, 1)
    xa = np.empty((K, m, d + 1))                      # [x, -1]: the augmented iterate
    xa[..., :d] = plan.blocks(x[order])
    xa[..., d] = -1.0
    xv = xa[..., :d]
    z = xv.copy() if heavy else None
    x_prev = xv.copy()

    nan = np.nan
    rec = dict(train_loss=np.full((steps + 1, R), nan), rho=np.full((steps, R), nan))
    if data.test_form is not None:
        rec["test_loss"] = np.full((steps + 1, R), nan)
    if star:
        rec.update(gap=np.full((steps + 1, R), nan), dist2=np.full((steps + 1, R), nan),
                   weighted_gap=np.full((steps, R), nan), batch_gap=np.full((steps, R), nan),
                   gamma=np.full((steps, R), nan))
        if heavy:
            rec.update(prev_weighted_gap=np.full((steps, R), nan),
                       z_dist2=np.full((steps + 1, R), nan))
    iterates = np.full((steps + 1, K, m, d), nan) if keep_iterates else None
    weights_rec = np.full((steps, K, m, b), nan) if keep_weights else None
    diverged_at = np.full((K, m), -1, dtype=np.intp)
    alive = np.ones((K, m), dtype=bool)
    all_alive = True
    res = np.empty((K, m, b))
    q = np.empty((K, m, b))
    V = np.empty((K, m, b))
    W = np.empty((K, m, b)) if (star or keep_weights) else None
    inv_b = 1.0 / b
    loss0 = None

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(steps + 1):
            M = None
            if full:   # every sample's residual: the weights need them all
                data.residuals(xa, out=res)
                np.multiply(res, res, out=q)
                f = q.sum(axis=-1)
                f *= 0.5 / n
            else:      # the batch's residuals, and f from the Gram form
                f = _form_value(data.train_form, xv)
                if t < steps:
                    M = data.batch_matrix(bblocks[t])
                    data.residuals(xa, out=res, M=M)
                    np.multiply(res, res, out=q)
            if loss0 is None:
                loss0 = f.copy()
            bad = alive & ~(np.isfinite(f) & (f <= factor * loss0 + 1e-300))
            if bad.any():  # freeze at the last good iterate, record NaN from here on
                diverged_at[bad] = t
                alive &= ~bad
                all_alive = False
                xv[bad] = x_prev[bad]
                if heavy:
                    z[bad] = x_prev[bad]
                if t < steps or full:
                    res[bad] = 0.0
                    q[bad] = 0.0
            if not all_alive:
                f[~alive] = nan
            rec["train_loss"][t] = f.reshape(-1)
            if data.test_form is not None:
                tl = 2 * _form_value(data.test_form, xv)
                if not all_alive:
                    tl[~alive] = nan
                rec["test_loss"][t] = tl.reshape(-1)
            if star:
                rec["gap"][t] = f.reshape(-1)
                dx = xv - data.xs
                dd = np.einsum("kmd,kmd->km", dx, dx)
                if not all_alive:
                    dd[~alive] = nan
                rec["dist2"][t] = dd.reshape(-1)
                if heavy:
                    dz = z - data.xs
                    dz = np.einsum("kmd,kmd->km", dz, dz)
                    if not all_alive:
                        dz[~alive] = nan
                    rec["z_dist2"][t] = dz.reshape(-1)
            if keep_iterates:
                iterates[t] = xv
                if not all_alive:
                    iterates[t][~alive] = nan
            if t == steps:
                break

            weigh(q, t)
            E, S = weigh.E, weigh.S
            rho = weigh.emax / S
            rho *= b
            if not all_alive:
                rho[~alive] = nan
            rec["rho"][t] = rho.reshape(-1)
            if W is not None:
                np.divide(E, S[..., None], out=W)
                if keep_weights:
                    weights_rec[t] = W
                    if not all_alive:
                        weights_rec[t][~alive] = nan
            if star:
                wg = 0.5 * np.einsum("kmi,kmi->km", W, q)
                mg = q.sum(axis=-1)
                mg *= 0.5 * inv_b
                pos = mg > 0
                gam = np.where(pos, wg / np.where(pos, mg, 1.0), 1.0)
                if not all_alive:
                    wg[~alive] = nan
                    mg[~alive] = nan
                    gam[~alive] = nan
                rec["weighted_gap"][t] = wg.reshape(-1)
                rec["batch_gap"][t] = mg.reshape(-1)
                rec["gamma"][t] = gam.reshape(-1)
                if heavy:
                    xpa = np.concatenate([x_prev, xa[..., d:]], axis=-1)
                    prev = data.residuals(xpa, M=M)
                    if not all_alive:
                        prev[~alive] = 0.0
                    pw = 0.5 * np.einsum("kmi,kmi,kmi->km", W, prev, prev)
                    if not all_alive:
                        pw[~alive] = nan
                    rec["prev_weighted_gap"][t] = pw.reshape(-1)

            np.multiply(E, res, out=V)
            g = data.gradient(V, M)
            g /= S[..., None]
            g *= lr3
            x_prev[...] = xv
            if heavy:
                z -= g
                lt = lam[t + 1]
                xv *= lt
                xv += z
                xv /= lt + 1
            else:
                xv -= g
            if not all_alive:
                xv[~alive] = x_prev[~alive]
            if progress is not None:
                progress(1)

    pos = np.argsort(order, kind="stable")   # output run i sits at internal position pos[i]

    def out(a):  # (T', R, ...) internal -> (R, T', ...) in the caller's order
        return None if a is None else np.ascontiguousarray(np.swapaxes(a, 0, 1)[pos])

    rec = {k: out(v) for k, v in rec.items()}
    if iterates is not None:
        iterates = out(iterates.reshape(steps + 1, R, d))
    if weights_rec is not None:
        weights_rec = out(weights_rec.reshape(steps, R, b))
    out_seeds = [seeds[p] for p in pos]
    return Trajectory(method=method, steps=steps, batch_size=b, lr=lr.copy(),
                      labels=[s.label for s in schemes], seeds=out_seeds,
                      diverged_at=diverged_at.reshape(-1)[pos],
                      iterates=iterates, batches=None if batches is None else batches[pos],
                      weights=weights_rec, lambdas=lam,
                      params=dict(problem.params, seeds=out_seeds,
                                  rows=[int(r) for r in rows], method=method,
                                  steps=steps, batch_size=b, divergence_factor=factor),
                      **rec)
