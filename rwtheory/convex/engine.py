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

The parts (``rwtheory/convex/reference.py`` is the same algorithm as one literal loop):

* :class:`rwtheory.convex.layout.Layout`: the runs laid out as K data blocks of m runs, so one
  step is one residual GEMM ``[x, -1] [A, b]^T`` and one gradient GEMM per data row for all
  its runs (:class:`_Data` owns the data, the batches and the GEMMs);
* :class:`rwtheory.convex.fused.FusedWeights`: the weights of every run of a registered
  strategy computed fused, in a handful of passes over the losses, with no work at all for
  uniform runs;
* :class:`_Iterate`: x_t (and heavy ball's z_t), the update;
* :class:`rwtheory.convex.trajectory.Recorder`: the records and all divergence bookkeeping.

The same code runs a single run, so "batched" and "one at a time" differ only by how many
runs share a step (equal to ~1e-15 in practice; ``benchmarks/bench_experiments.py`` also
measures the engine against its floor, the two GEMMs and one ``exp`` per run-step).

A run *diverges* at the first step whose iterate is non-finite or whose training loss
exceeds ``divergence_factor`` times the initial one; it is then frozen, its later records
are NaN and :attr:`Trajectory.diverged_at` says when -- no exception, no overflow warning.
A run that cannot start (non-finite data, or a non-finite f(x_0)) is an error instead
(:func:`check_start`): it is never reported as a divergence at step 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rwtheory._array import (
    InputTypeError,
    InputValueError,
    as_float64_data,
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_lambdas,
    check_number,
    check_per_run,
    check_seed,
    describe,
)
from rwtheory.convex.fused import FusedWeights
from rwtheory.convex.layout import Layout
from rwtheory.convex.problems import FiniteSums, LeastSquares
from rwtheory.convex.schemes import Scheme
from rwtheory.convex.trajectory import Recorder, Trajectory

__all__ = [
    "METHODS",
    "RunConfig",
    "Trajectory",
    "check_start",
    "configure",
    "run",
    "run_batches",
    "sample_batches",
    "trajectory_fields",
    "update_iterate",
]

#: The optimisers of :func:`run` (its ``method``): full-batch GD, minibatch SGD, heavy ball.
METHODS = ("gd", "sgd", "heavy_ball")


def sample_batches(seed: int, n: int, batch_size: int, steps: int) -> np.ndarray:
    """(steps, batch_size) sample indices: at every step a uniform ``batch_size``-subset of
    range(n) without replacement, from ``numpy.random.default_rng([seed, 1])`` (a stream
    separate from the data's, ``default_rng(seed)``). Indices within a batch are sorted.
    ``seed`` an integer >= 0, ``n`` >= 1, ``batch_size`` in 1..n, ``steps`` >= 0."""
    seed = check_seed(seed)
    n = check_int(n, "n", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1, maximum=n)
    steps = check_int(steps, "steps", minimum=0)
    rng = np.random.default_rng([seed, 1])
    if batch_size == n:
        return np.broadcast_to(np.arange(n), (steps, n)).copy()
    out = np.empty((steps, batch_size), dtype=np.intp)
    chunk = max(1, (1 << 22) // n)  # bound the temporary keys to ~32 MB
    for start in range(0, steps, chunk):
        keys = rng.random((min(chunk, steps - start), n))
        out[start : start + keys.shape[0]] = np.sort(
            np.argpartition(keys, batch_size - 1, axis=1)[:, :batch_size], axis=1
        )
    return out


def run_batches(seeds: Sequence[int], n: int, batch_size: int, steps: int) -> np.ndarray:
    """(R, steps, batch_size): the minibatches of R runs, run r's from
    :func:`sample_batches` with its seed ``seeds[r]``, each distinct seed's stream drawn
    once (runs sharing a seed share their batches: the pairing of both engines)."""
    per_seed = {s: sample_batches(s, n, batch_size, steps) for s in dict.fromkeys(seeds)}
    return np.stack([per_seed[s] for s in seeds])


def update_iterate(x: np.ndarray, z: np.ndarray | None, g: np.ndarray, lr, lam_next) -> None:
    """x_{t+1} in place from x_t and the direction g_t (the update of the module
    docstring; both engines): ``x -= lr g`` (GD, SGD: ``z`` None) or heavy ball's
    ``z -= lr g``, ``x = (lam_next x + z) / (lam_next + 1)`` with ``lam_next`` =
    lambda_{t+1}. ``g`` is scaled by ``lr`` in place (the caller's scratch)."""
    g *= lr
    if z is None:
        x -= g
        return
    z -= g
    x *= lam_next
    x += z
    x /= lam_next + 1


# ---------------------------------------------------------------------- arguments
@dataclass
class RunConfig:
    """The validated arguments of :func:`run` (and of :func:`rwtheory.convex.glm.run` and
    :func:`rwtheory.convex.reference.run_reference`), as :func:`configure` returns them."""

    method: str
    steps: int
    b: int
    rows: np.ndarray
    schemes: list
    lr: np.ndarray
    lam: np.ndarray | None
    x0: np.ndarray
    factor: float


def _check_rows(rows, K: int) -> np.ndarray:
    """The problem row of every run: a non-empty 1-D sequence of integers in 0..K-1."""
    if rows is None:
        return np.arange(K)
    try:
        arr = np.asarray(rows)
    except (TypeError, ValueError):
        arr = None
    if (
        arr is None
        or arr.dtype.kind not in "iu"
        or arr.ndim != 1
        or arr.size == 0
        or arr.min() < 0
        or arr.max() >= K
    ):
        raise InputValueError(
            f"rows must be a non-empty 1-D sequence of problem rows (integers in 0..{K - 1}), "
            f"got {rows!r}"
        )
    return arr


def _check_schemes(schemes, R: int) -> list:
    """One Scheme for every run, or a sequence of R Schemes, each hashable with a str label
    (the engines group the runs of equal schemes)."""
    if isinstance(schemes, Scheme):
        schemes = [schemes] * R
    elif not isinstance(schemes, (list, tuple)) or len(schemes) != R:
        raise InputValueError(
            f"schemes must be one Scheme or a sequence of {R} Schemes (one per run), "
            f"got {type(schemes).__name__}"
            + (f" of length {len(schemes)}" if isinstance(schemes, (list, tuple)) else "")
        )
    for i, s in enumerate(schemes):
        if not isinstance(s, Scheme):
            raise InputTypeError(
                f"schemes[{i}] must be a Scheme (rwtheory.convex.schemes), got {type(s).__name__}"
            )
        try:
            hash(s)
        except TypeError:
            raise InputTypeError(
                f"schemes[{i}] ({describe(s)}) must be hashable (e.g. a frozen dataclass): "
                f"the engines weight the runs of equal schemes together"
            ) from None
        if not isinstance(s.label, str):
            raise InputTypeError(
                f"schemes[{i}] ({describe(s)}) must have a str label, got {s.label!r}"
            )
    return list(schemes)


# one parameter a line as ruff formats it; rwtheory.convex.glm passes them on in this order
def configure(
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
    *,
    problem_type: type[FiniteSums] = LeastSquares,
) -> RunConfig:
    """Validate the arguments of an engine run (see :func:`run`) before anything is
    computed: every error names the argument and the allowed range. The problem's arrays are
    checked again (finite: they may have been changed in place since construction)."""
    if not isinstance(problem, problem_type):
        raise InputTypeError(
            f"problem must be a {problem_type.__name__}, got {type(problem).__name__}"
        )
    problem.check()
    method = check_choice(method, "method", METHODS)
    K, n, d = problem.runs, problem.n, problem.d
    rows = _check_rows(rows, K)
    R = rows.shape[0]
    steps = check_int(steps, "steps", minimum=1)
    if method == "sgd" and batch_size is None:
        raise InputValueError("batch_size is required for method='sgd' (an integer in 1..n)")
    b = n if batch_size is None else check_int(batch_size, "batch_size", minimum=1, maximum=n)
    if method == "gd" and b != n:
        raise InputValueError(
            f"batch_size must be None or n = {n} for method='gd' (full batch); use "
            f"method='sgd' for minibatches, got {batch_size!r}"
        )
    lr = check_per_run(lr, "lr", R)
    factor = check_number(divergence_factor, "divergence_factor", low=1.0, low_open=True)
    schemes = _check_schemes(schemes, R)
    lam = check_lambdas(lambdas, steps) if method == "heavy_ball" else None
    x = np.zeros((R, d)) if x0 is None else as_float64_data(x0, "x0", (R, d)).copy()
    return RunConfig(method, steps, b, rows, schemes, lr, lam, x, factor)


def check_start(f0: np.ndarray, order: np.ndarray | None = None) -> None:
    """A run that cannot start is an error, never a divergence at step 0: the objective at
    the starting point must be finite for every run (it is not when the data or ``x0`` are
    so large that the squared residuals overflow). ``order``: the caller's index of each
    entry of the flattened ``f0`` (the engine's layout order)."""
    bad = ~np.isfinite(f0.reshape(-1))
    if bad.any():
        runs = np.flatnonzero(bad)
        runs = np.sort(runs if order is None else order[runs])
        raise InputValueError(
            f"x0 and the problem's data must give a finite objective f(x0) for every run, "
            f"got {f0.reshape(-1)[bad][0]} for run(s) {runs[:10].tolist()} (rescale A, b or x0)"
        )


# ---------------------------------------------------------------------- data and GEMMs
def _block_form(form):
    """A quadratic form of :mod:`rwtheory.convex.problems` with its arrays per block, and
    the constants 2h and c/2 formed once (both exact)."""
    G, h, c, ref = form
    return G, 2 * h[:, None, :], 0.5 * c[:, None], ref[:, None, :]


def _form_value(form, x, out=None):
    """The form's value at x (K, m, d): (K, m) (into ``out`` if given)."""
    G, h2, half_c, ref = form
    e = x - ref
    Ge = np.matmul(e, G)  # G symmetric
    Ge += h2
    Ge *= e
    value = np.add.reduce(Ge, axis=-1, out=out)
    value *= 0.5
    value += half_c
    return value


class _Data:
    """The problem's arrays in the layout, the minibatches, the residual and gradient GEMMs,
    and the per-step buffers: residuals ``res`` and ``q`` = res^2 (twice the losses) of the
    step's batch (K, m, b); :meth:`direction` turns ``res`` into E * res in place."""

    def __init__(self, layout: Layout, b: int, steps: int, seeds: list[int]):
        p = layout.problem
        self.weighted = layout.weighted
        self.n, self.d, self.b, self.steps = p.n, p.d, b, steps
        self.star = p.x_star is not None  # then f_i(x*) = 0 and every loss is a gap
        At = np.swapaxes(p.A, 1, 2)
        if p.x_star is not None:  # residual A (x - x*): full relative precision near x*
            self.M = np.ascontiguousarray(At)
            self.xs = p.x_star[:, None, :]
        else:  # residual [A, b] [x; -1] = A x - b in one GEMM
            self.M = np.ascontiguousarray(np.concatenate([At, p.b[:, None, :]], axis=1))
        self.Mt = self.M  # the step's [A_B, b_B]^T, and A_B^T
        self.At = self.M[:, : self.d, :]
        self.train_form = _block_form(p.train_form)
        self.test_form = _block_form(p.test_form) if p.A_test is not None else None
        self.seeds = seeds  # of every internal position
        self.batches = self.bblocks = None
        if b != self.n:
            self.batches = run_batches(self.seeds, self.n, b, steps)  # (R, T, b)
            # the batches of each data block (its runs share a seed), step-major (T, K, b)
            self.bblocks = np.ascontiguousarray(self.batches[:: layout.m].swapaxes(0, 1))
            # the step's batch is gathered as rows of [A, b] (K, b, d+1): contiguous rows copy
            # 4-8x faster than the columns of M (take_along_axis); the GEMMs read the
            # transposed view, which BLAS takes as it is (same products)
            K, cols = layout.K, self.M.shape[1]
            self.rows = np.ascontiguousarray(self.M.swapaxes(1, 2)).reshape(K * self.n, cols)
            self.row_base = (np.arange(K) * self.n)[:, None]
            self.row_index = np.empty((K, b), dtype=np.intp)
            self.gathered = np.empty((K, b, cols))
        shape = (layout.K, layout.m, b)
        self.res, self.q = np.empty(shape), np.empty(shape)
        self.VT = self.res.swapaxes(1, 2)
        self.gT = np.empty((layout.K, self.d, layout.m))  # the gradient GEMM's output
        self.g = self.gT.swapaxes(1, 2)

    def residuals(self, xa: np.ndarray, out=None) -> np.ndarray:
        """Residuals of the step's batch at the augmented iterate xa = [x, -1] (K, m, d+1)."""
        operand = xa[..., : self.d] - self.xs if self.star else xa
        return np.matmul(operand, self.Mt, out=out)

    def evaluate(self, xa: np.ndarray, t: int, f: np.ndarray) -> np.ndarray:
        """f(x_t) into ``f`` (K, m); the residuals and q of step t's batch into ``res`` and
        ``q``."""
        if self.bblocks is None:  # every sample's residual: the weights need them all
            self.residuals(xa, out=self.res)
            np.multiply(self.res, self.res, out=self.q)
            np.add.reduce(self.q, axis=-1, out=f)
            f *= 0.5 / self.n
            return f
        _form_value(self.train_form, xa[..., : self.d], out=f)  # f from the Gram form
        if t < self.steps:
            np.add(self.row_base, self.bblocks[t], out=self.row_index)
            np.take(self.rows, self.row_index, axis=0, out=self.gathered)
            self.Mt = self.gathered.swapaxes(1, 2)
            self.At = self.Mt[:, : self.d, :]
            self.residuals(xa, out=self.res)
            np.multiply(self.res, self.res, out=self.q)
        return f

    def direction(self, weights: FusedWeights) -> np.ndarray:
        """sum_i w_i r_i a_i per run (K, m, d), w = E / S; overwrites ``res`` by E * res
        (uniform runs, E = 1, are left as they are)."""
        if self.weighted is not None:
            Ew, rw = weights.E[self.weighted], self.res[self.weighted]
            np.multiply(Ew, rw, out=rw)
        np.matmul(self.At, self.VT, out=self.gT)
        self.g /= weights.S3
        return self.g

    def silence(self, bad: np.ndarray) -> None:
        """Zero the residuals of runs that just diverged (their weights stay finite)."""
        self.res[bad] = 0.0
        self.q[bad] = 0.0


# ---------------------------------------------------------------------- the iterate
class _Iterate:
    """x_t of every run as the augmented [x_t, -1] (K, m, d + 1), x_{t-1}, and heavy ball's
    z_t; the update of the module docstring."""

    def __init__(self, layout: Layout, cfg: RunConfig, d: int):
        K, m = layout.K, layout.m
        self.xa = np.empty((K, m, d + 1))
        self.xa[..., :d] = layout.blocks(cfg.x0[layout.order])
        self.xa[..., d] = -1.0
        self.x = self.xa[..., :d]
        self.z = self.x.copy() if cfg.method == "heavy_ball" else None
        self.x_prev = self.x.copy()
        self.lr = layout.blocks(cfg.lr[layout.order])[..., None]  # (K, m, 1)
        self.lam = cfg.lam

    def update(self, g: np.ndarray, t: int) -> None:
        """x_{t+1} from the direction g_t (scaled in place by the step size)."""
        self.x_prev[...] = self.x
        update_iterate(self.x, self.z, g, self.lr, None if self.lam is None else self.lam[t + 1])

    def freeze(self, runs: np.ndarray, *, with_z: bool = False) -> None:
        """Put the runs of the (K, m) mask back at x_{t-1} (and z too, ``with_z``)."""
        self.x[runs] = self.x_prev[runs]
        if with_z and self.z is not None:
            self.z[runs] = self.x_prev[runs]


# ---------------------------------------------------------------------- records
def _record_iterate(rec: Recorder, t: int, f, data: _Data, it: _Iterate) -> None:
    """The records of iterate t (f is recorded in place by the caller): test loss, gap,
    distances, x_t."""
    if data.test_form is not None:
        test = _form_value(data.test_form, it.x, out=rec.at("test_loss", t))
        test *= 2
    if data.star:
        rec["gap", t] = f
        dx = it.x - data.xs
        rec["dist2", t] = np.einsum("kmd,kmd->km", dx, dx)
        if it.z is not None:
            dz = it.z - data.xs
            rec["z_dist2", t] = np.einsum("kmd,kmd->km", dz, dz)
    if rec.wants("iterates"):
        rec["iterates", t] = it.x


def _record_step(rec: Recorder, t: int, weights: FusedWeights, data: _Data, it: _Iterate) -> None:
    """The records of step t: rho_t, the weights, the losses and the weighted gaps."""
    E, S, b = weights.E, weights.S, data.b
    rho = np.divide(weights.emax, S, out=rec.at("rho", t))
    rho *= b
    if rec.wants("losses"):
        rec["losses", t] = 0.5 * data.q
    if not (data.star or rec.wants("weights")):
        return
    W = E / S[..., None]
    if rec.wants("weights"):
        rec["weights", t] = W
    if not data.star:
        return
    q = data.q
    wg = 0.5 * np.einsum("kmi,kmi->km", W, q)
    mg = q.sum(axis=-1)
    mg *= 0.5 * (1.0 / b)
    pos = mg > 0
    rec["weighted_gap", t] = wg
    rec["batch_gap", t] = mg
    rec["gamma", t] = np.where(pos, wg / np.where(pos, mg, 1.0), 1.0)
    if it.z is not None:
        prev = data.residuals(np.concatenate([it.x_prev, it.xa[..., data.d :]], axis=-1))
        rec["prev_weighted_gap", t] = 0.5 * np.einsum("kmi,kmi,kmi->km", W, prev, prev)


def _recorder(layout: Layout, cfg: RunConfig, data: _Data, keep: dict[str, bool]) -> Recorder:
    names = ["train_loss", "rho"]
    if data.test_form is not None:
        names.append("test_loss")
    if data.star:
        names += ["gap", "dist2", "weighted_gap", "batch_gap", "gamma"]
        if cfg.method == "heavy_ball":
            names += ["prev_weighted_gap", "z_dist2"]
    sizes = dict(iterates=data.d, weights=data.b, losses=data.b)
    return Recorder(
        layout,
        cfg.steps,
        names,
        {name: sizes[name] for name, kept in keep.items() if kept},
        cfg.factor,
    )


# ---------------------------------------------------------------------- the engine
# run's signature, one parameter a line as ruff formats it; rwtheory.convex.glm.run has the
# same by design (the engines are interchangeable: rwtheory.theory.pairing calls either)
def run(
    problem: LeastSquares,
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
    keep_losses: bool = False,
    progress: Callable[[int], object] | None = None,
) -> Trajectory:
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
    divergence_factor : a finite number > 1; a run diverges when f(x_t) > factor * f(x_0)
        or x_t is not finite.
    keep_iterates, keep_weights, keep_losses : also store x_t (R, T+1, d), w^t (R, T, b) and
        the per-sample losses the weights were computed from (R, T, b). Off by default for
        the weights and losses: they take 8 R T b bytes each (see :class:`Trajectory`).
    progress : called with the number of steps done (e.g. a tqdm ``update``).

    Every argument is checked before anything is computed (:func:`configure`; an error names
    the argument and its allowed range), and so is the start: non-finite data or a
    non-finite f(x_0) is an error (:func:`check_start`), never a divergence at step 0. The
    weights of a scheme of the user's own are checked at every step
    (:func:`rwtheory.convex.schemes.scheme_weights`: shape, finite, >= 0, rows summing to 1).

    A run computes the same numbers alone as batched with others, up to the rounding of the
    GEMMs (``tests/convex/test_engine.py``, ``benchmarks/bench_experiments.py``), and the
    same as the literal loop :func:`rwtheory.convex.reference.run_reference`.
    """
    cfg = configure(
        problem, schemes, method, lr, steps, batch_size, rows, lambdas, x0, divergence_factor
    )
    keep = {
        name: check_bool(value, f"keep_{name}")
        for name, value in (
            ("iterates", keep_iterates),
            ("weights", keep_weights),
            ("losses", keep_losses),
        )
    }
    if progress is not None:
        check_callable(progress, "progress", "a callable n -> None (e.g. a tqdm update)")
    layout = Layout(problem, cfg.rows, cfg.schemes)
    all_seeds = problem.seeds()
    data = _Data(layout, cfg.b, cfg.steps, [all_seeds[i] for i in layout.rows])
    weights = FusedWeights(layout, data.q)
    it = _Iterate(layout, cfg, problem.d)
    rec = _recorder(layout, cfg, data, keep)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(cfg.steps + 1):
            # f(x_t); the residuals a_i^T x_t - b_i and losses of the batch B_t
            f = data.evaluate(it.xa, t, rec.at("train_loss", t))
            if t == 0:
                check_start(f, layout.order)
            diverging = rec.check(t, f)
            if diverging is not None:  # freeze at the last good iterate
                it.freeze(diverging, with_z=True)
                if t < cfg.steps or data.bblocks is None:
                    data.silence(diverging)
            _record_iterate(rec, t, f, data, it)
            if t == cfg.steps:
                break
            weights(t)  # w^t from the losses of B_t
            _record_step(rec, t, weights, data, it)
            it.update(data.direction(weights), t)  # g_t = sum_i w_i grad f_i(x_t)
            if rec.dead is not None:  # diverged runs stay frozen
                it.freeze(rec.dead)
            if progress is not None:
                progress(1)
    return _trajectory(rec, cfg, data, problem, layout)


def trajectory_fields(cfg: RunConfig, params: dict, seeds: list, batches) -> dict:
    """The fields of a :class:`Trajectory` that say what was run (both engines): the
    method and its settings, each run's scheme label and seed, the batches (R, T, b) or
    None, and ``params`` (the problem's, with the run's settings added)."""
    return dict(
        method=cfg.method,
        steps=cfg.steps,
        batch_size=cfg.b,
        lr=cfg.lr.copy(),
        labels=[s.label for s in cfg.schemes],
        seeds=seeds,
        batches=batches,
        lambdas=cfg.lam,
        params=dict(
            params,
            seeds=seeds,
            rows=[int(r) for r in cfg.rows],
            method=cfg.method,
            steps=cfg.steps,
            batch_size=cfg.b,
            divergence_factor=cfg.factor,
        ),
    )


def _trajectory(
    rec: Recorder, cfg: RunConfig, data: _Data, problem: LeastSquares, layout: Layout
) -> Trajectory:
    pos = np.argsort(layout.order, kind="stable")
    seeds = [data.seeds[p] for p in pos]
    batches = None if data.batches is None else data.batches[pos]
    return rec.trajectory(**trajectory_fields(cfg, problem.params, seeds, batches))
