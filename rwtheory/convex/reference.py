r"""One reweighted run as one literal loop: the readable definition of the batched engine.

:func:`run_reference` is what :func:`rwtheory.convex.engine.run` computes for one run, written
the way THEORY §2-4 writes it, with nothing batched, fused or masked; ``tests/convex/
test_reference.py`` checks ``run == run_reference`` for every method and every scheme family.
Use it to read the algorithm, or to check a change of the engine; use the engine to run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rwtheory.convex.engine import METHODS, sample_batches
from rwtheory.convex.problems import LeastSquares
from rwtheory.convex.schemes import Scheme

__all__ = ["ReferenceRun", "run_reference"]


@dataclass
class ReferenceRun:
    """The record of one reference run (T steps): ``iterates`` x_t (T+1, d), ``weights``
    w^t (T, b), ``losses`` f_i(x_t), i in B_t (T, b), ``batches`` B_t (T, b) and
    ``train_loss`` f(x_t) (T+1,)."""

    iterates: np.ndarray
    weights: np.ndarray
    losses: np.ndarray
    batches: np.ndarray
    train_loss: np.ndarray


def run_reference(
    problem_row: LeastSquares,
    scheme: Scheme,
    method: str,
    lr: float,
    steps: int,
    batch_size: int | None = None,
    lambdas: Callable[[int], float] | Sequence[float] | None = None,
    x0: np.ndarray | None = None,
) -> ReferenceRun:
    r"""One reweighted GD, minibatch SGD or heavy-ball run on one least-squares problem.

    Problem: :math:`\min_x f(x) = \frac1n\sum_{i=1}^n f_i(x)`,
    :math:`f_i(x) = \tfrac12 (a_i^\top x - b_i)^2` (``problem_row``: a problem with one run;
    when it knows an interpolation point x*, :math:`a_i^\top x - b_i` is evaluated as
    :math:`a_i^\top (x - x^*)`, equal since b = A x*, without the cancellation).

    Algorithm: from :math:`x_0` (zeros by default), for t = 0, ..., T-1,

    .. math::
        B_t &= \{1..n\} \text{ (full batch) or a uniform b-subset (``sample_batches``)},\\
        w^t &= \text{scheme}\big((f_i(x_t))_{i\in B_t},\ t\big) \quad\text{(on the simplex)},\\
        g_t &= \textstyle\sum_{i\in B_t} w^t_i \nabla f_i(x_t)
             = \sum_{i\in B_t} w^t_i (a_i^\top x_t - b_i)\, a_i,

    then

    * ``"gd"``, ``"sgd"``: :math:`x_{t+1} = x_t - \eta\, g_t`;
    * ``"heavy_ball"`` in the iterate-moving-average form (THEORY §4(ii); Sebbouh, Gower &
      Defazio 2021): :math:`z_{t+1} = z_t - \eta\, g_t`,
      :math:`x_{t+1} = \frac{\lambda_{t+1} x_t + z_{t+1}}{\lambda_{t+1} + 1}`, :math:`z_0 = x_0`.

    The minibatches are those of the engine: ``sample_batches(seed, n, b, T)`` with the
    problem row's seed. Divergence is not handled (the engine freezes a diverged run; here it
    runs on to inf/NaN).

    Returns
    -------
    :class:`ReferenceRun` with the iterates, weights, losses, batches and f(x_t).
    """
    if problem_row.runs != 1:
        raise ValueError(
            f"problem_row must hold one run (problem.take([i])), got {problem_row.runs}"
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n, d = problem_row.n, problem_row.d
    b = n if batch_size is None else int(batch_size)
    if method == "heavy_ball":
        lam = (
            [float(lambdas(t)) for t in range(steps + 1)]
            if callable(lambdas)
            else [float(v) for v in lambdas]
        )
    batches = (
        np.broadcast_to(np.arange(n), (steps, n))
        if b == n
        else sample_batches(problem_row.seeds()[0], n, b, steps)
    )
    x = np.zeros(d) if x0 is None else np.array(x0, dtype=np.float64).reshape(d)
    z = x.copy()
    iterates, weights, losses = [x], [], []
    for t in range(steps):
        B = batches[t]
        r = problem_row.residuals(x[None])[0][B]  # a_i^T x_t - b_i, i in B_t
        f_B = 0.5 * r**2  # f_i(x_t)
        w = scheme(f_B[None], t)[0]  # w^t
        g = (w * r) @ problem_row.A[0][B]  # sum_i w_i grad f_i(x_t)
        if method == "heavy_ball":
            z = z - lr * g
            x = (lam[t + 1] * x + z) / (lam[t + 1] + 1)
        else:
            x = x - lr * g
        iterates.append(x)
        weights.append(w)
        losses.append(f_B)
    return ReferenceRun(
        iterates=np.array(iterates),
        weights=np.array(weights),
        losses=np.array(losses),
        batches=np.array(batches),
        train_loss=np.array([problem_row.loss(x[None])[0] for x in iterates]),
    )
