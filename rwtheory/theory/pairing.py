r"""Paired comparisons of a reweighted run with uniform weights, and the speed-ups measured on
them (issue 26; the definitions are fixed in :mod:`rwtheory.report.providers.practice`).

A *pair* (:func:`paired_run`) is one reweighted run and one uniform run on the same problem
row -- the same data and the same start :math:`x_0` -- with the same step size, the same
momentum schedule (heavy ball) and the same minibatches. The engines draw a run's minibatches
from its problem row's seed (:func:`rwtheory.convex.engine.sample_batches`), so the two runs
of a pair sit on the same row of one engine call; :func:`check_pairing` then verifies from the
records that nothing differs but the weights (it raises otherwise, so a broken pairing cannot
go unnoticed).

The speed-ups (:func:`speedups`) compare the two gap curves :math:`a_t = f(x_t) - f^\star`
(> 1: the reweighted run was faster):

* ``steps``: with levels :math:`\ell_k = a_0 \cdot` ``levels[k]``, :math:`\tau_k` the first t with
  :math:`a_t \le \ell_k` (:func:`first_reached`), censored at T + 1 when not reached, the
  geometric mean of :math:`\tau_k^{\rm uniform}/\tau_k^{\rm reweighted}` over the levels that
  at least one run of the pair reaches; NaN when neither reaches the first level;
* ``final``: :math:`a_T^{\rm uniform}/a_T^{\rm reweighted}` (a diverged run's :math:`a_T` counts
  as +inf).

For the outlier regression (no interpolation), :func:`unweighted_optimum` gives :math:`f^\star`,
the minimum of the unweighted training objective, and :func:`distance_to` the squared distance
of iterates to a reference point (the clean data's generating parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from rwtheory.convex import engine, glm
from rwtheory.convex.problems import LeastSquares
from rwtheory.convex.schemes import Strategy
from rwtheory.convex.trajectory import Trajectory

__all__ = [
    "LEVELS",
    "UNIFORM",
    "Pair",
    "Speedup",
    "check_pairing",
    "distance_to",
    "first_reached",
    "paired_run",
    "speedups",
    "take_runs",
    "unweighted_optimum",
]

#: The uniform baseline of every pair.
UNIFORM = Strategy("uniform")
#: The levels of the steps speed-up, as fractions of a_0 (issue 26: 1e-1 .. 1e-8).
LEVELS = tuple(10.0**-k for k in range(1, 9))
#: Relative agreement required of the two runs' a_0 (the same start; the engines evaluate
#: f(x_0) of two runs in different GEMM blocks, equal up to rounding).
START_RTOL = 1e-12


@dataclass(frozen=True)
class Pair:
    """R pairs: ``reweighted`` and ``uniform`` trajectories, run i of one paired with run i of
    the other (same problem row, start, step size, momentum schedule and batches)."""

    reweighted: Trajectory
    uniform: Trajectory


def take_runs(trajectory: Trajectory, idx) -> Trajectory:
    """The runs ``idx`` of a trajectory (every per-run record, labels, seeds and the
    problem rows in ``params``); the momentum schedule, shared by all runs, is kept."""
    idx = np.asarray(idx, dtype=np.intp)
    R = trajectory.runs
    # fields of Trajectory by name; Any: mypy would match the value type against every
    # field of Trajectory (method: str, ...), not only the ones named here
    out: dict[str, Any] = {}
    for f in fields(trajectory):
        v = getattr(trajectory, f.name)
        if f.name in ("labels", "seeds"):
            out[f.name] = [v[i] for i in idx]
        elif f.name != "lambdas" and isinstance(v, np.ndarray) and v.shape[:1] == (R,):
            out[f.name] = v[idx]
    params = dict(trajectory.params)
    for key in ("seeds", "rows"):
        if key in params and len(params[key]) == R:
            params[key] = [params[key][i] for i in idx]
    return replace(trajectory, params=params, **out)


def _engine(problem):
    return engine.run if isinstance(problem, LeastSquares) else glm.run


def paired_run(
    problem,
    schemes,
    *,
    method: str,
    lr,
    steps: int,
    batch_size: int | None = None,
    lambdas=None,
    x0: np.ndarray | None = None,
) -> Pair:
    """Run ``schemes`` (one per problem row, R in all) and a uniform twin of each in one
    engine call: row i carries reweighted run i and uniform run i with the same start
    (``x0`` (R, d), zeros by default), step size (``lr``: a number or (R,)), momentum
    schedule and minibatches. Other arguments as :func:`rwtheory.convex.engine.run` (or
    :func:`rwtheory.convex.glm.run` for a GLM problem). The pairing is verified
    (:func:`check_pairing`) before the pair is returned."""
    R, d = problem.runs, problem.d
    schemes = list(schemes)
    if len(schemes) != R:
        raise ValueError(f"schemes must hold one scheme per problem row ({R}), got {len(schemes)}")
    lr = np.broadcast_to(np.asarray(lr, dtype=np.float64), (R,))
    x0 = np.zeros((R, d)) if x0 is None else np.asarray(x0, dtype=np.float64)
    if x0.shape != (R, d):
        raise ValueError(f"x0 must have shape {(R, d)}, got {x0.shape}")
    rows = np.concatenate([np.arange(R), np.arange(R)])
    tr = _engine(problem)(
        problem,
        schemes + [UNIFORM] * R,
        method=method,
        lr=np.concatenate([lr, lr]),
        steps=steps,
        batch_size=batch_size,
        rows=rows,
        lambdas=lambdas,
        x0=np.concatenate([x0, x0]),
        keep_iterates=False,
    )
    pair = Pair(take_runs(tr, np.arange(R)), take_runs(tr, np.arange(R, 2 * R)))
    check_pairing(pair)
    return pair


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Both records absent, or both present and equal."""
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


def check_pairing(pair: Pair) -> None:
    """Raise a ValueError naming what differs between the two runs of any pair: the problem
    rows and seeds (hence the data and the minibatches), the recorded minibatches, the step
    sizes, the momentum schedule, the method and length, or the start (a_0 or f(x_0) beyond
    :data:`START_RTOL`). The uniform side must be uniform."""
    rw, un = pair.reweighted, pair.uniform
    problems = []
    if rw.seeds != un.seeds or rw.params.get("rows") != un.params.get("rows"):
        problems.append("problem rows/seeds")
    if not _same(rw.batches, un.batches):
        problems.append("minibatches")
    if not np.array_equal(rw.lr, un.lr):
        problems.append("step sizes")
    if not _same(rw.lambdas, un.lambdas):
        problems.append("momentum schedules")
    if (rw.method, rw.steps, rw.batch_size) != (un.method, un.steps, un.batch_size):
        problems.append("method, steps or batch size")
    start = rw.gap if rw.gap is not None else rw.train_loss
    start_u = un.gap if un.gap is not None else un.train_loss
    if not np.allclose(start[:, 0], start_u[:, 0], rtol=START_RTOL, atol=0.0):
        problems.append("starts (a_0)")
    if any(label != UNIFORM.label for label in un.labels):
        problems.append("the uniform side's weights")
    if problems:
        raise ValueError(f"broken pairing: the pairs differ in {', '.join(problems)}")


def first_reached(curves: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(R, K): the first t with ``curves[r, t] <= levels[r, k]``, -1 when never (NaN, a
    diverged run's record, reaches nothing). ``curves`` (R, T+1), ``levels`` (R, K)."""
    with np.errstate(invalid="ignore"):
        hit = curves[:, None, :] <= levels[:, :, None]  # (R, K, T+1)
    return np.where(hit.any(axis=-1), np.argmax(hit, axis=-1), -1)


@dataclass(frozen=True)
class Speedup:
    """The speed-ups of R pairs (:func:`speedups`): ``steps`` and ``final`` (R,), and the
    first steps at each level (R, K), -1 when not reached."""

    steps: np.ndarray
    final: np.ndarray
    reweighted_steps: np.ndarray
    uniform_steps: np.ndarray


def speedups(reweighted_gap: np.ndarray, uniform_gap: np.ndarray, levels=LEVELS) -> Speedup:
    """The speed-ups of the module docstring from the two (R, T+1) gap curves of R pairs;
    the levels are fractions of each pair's a_0 (the reweighted run's, equal to uniform's)."""
    rw, un = np.asarray(reweighted_gap, float), np.asarray(uniform_gap, float)
    if rw.shape != un.shape or rw.ndim != 2:
        raise ValueError(f"the gap curves must be two (R, T+1) arrays, got {rw.shape}, {un.shape}")
    lv = rw[:, :1] * np.asarray(levels, float)[None, :]
    t_rw, t_un = first_reached(rw, lv), first_reached(un, lv)
    either = (t_rw >= 0) | (t_un >= 0)
    censor = rw.shape[1]  # T + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.where(t_un >= 0, t_un, censor)) - np.log(np.where(t_rw >= 0, t_rw, censor))
        steps = np.exp(np.where(either, logs, 0.0).sum(axis=1) / either.sum(axis=1))
    steps = np.where(either[:, 0] & (rw[:, 0] > 0), steps, np.nan)
    end_rw = np.where(np.isfinite(rw[:, -1]), rw[:, -1], np.inf)
    end_un = np.where(np.isfinite(un[:, -1]), un[:, -1], np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        final = np.where(end_rw == end_un, 1.0, end_un / end_rw)
    return Speedup(steps, final, t_rw, t_un)


def unweighted_optimum(problem: LeastSquares) -> tuple[np.ndarray, np.ndarray]:
    """The minimiser x_hat (R, d) and the minimum f* (R,) of each row's unweighted training
    objective f(x) = (1/2n) ||A x - b||^2 (least squares, by ``numpy.linalg.lstsq``; the
    minimum-norm minimiser when A is rank deficient)."""
    xs = np.stack(
        [np.linalg.lstsq(A, b, rcond=None)[0] for A, b in zip(problem.A, problem.b, strict=True)]
    )
    res = np.matmul(problem.A, xs[..., None])[..., 0] - problem.b
    return xs, 0.5 * (res * res).mean(axis=-1)


def distance_to(iterates: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """||x_t - reference||^2 for iterates (R, T+1, d) and one reference point per run (R, d):
    (R, T+1)."""
    diff = iterates - reference[:, None, :]
    return np.einsum("rtd,rtd->rt", diff, diff)
