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

from rwtheory._array import InputValueError
from rwtheory.convex.engine import check_start, configure, sample_batches
from rwtheory.convex.problems import LeastSquares
from rwtheory.convex.schemes import Scheme, scheme_weights

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
    lambdas: Callable[[int], float] | Sequence[float] | np.ndarray | None = None,
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
    runs on to inf/NaN). The arguments are checked as the engine checks them
    (:func:`rwtheory.convex.engine.configure`: ``lr`` a finite number > 0, ``steps`` >= 1,
    ``batch_size`` required for ``"sgd"``, ...), so is the start (a finite f(x_0)) and the
    weights of a scheme of the user's own at every step
    (:func:`rwtheory.convex.schemes.scheme_weights`).

    Returns
    -------
    :class:`ReferenceRun` with the iterates, weights, losses, batches and f(x_t).
    """
    if isinstance(problem_row, LeastSquares) and problem_row.runs != 1:
        raise InputValueError(
            f"problem_row must hold one run (problem.take([i])), got {problem_row.runs}"
        )
    # x0 of shape (d,) or (1, d)
    if x0 is not None and (isinstance(x0, (list, tuple)) or hasattr(x0, "shape")):
        try:
            one_d = np.ndim(x0) == 1
        except ValueError:  # ragged: configure names it
            one_d = False
        if one_d:
            x0 = np.asarray(x0)[None] if isinstance(x0, (list, tuple)) else x0[None]
    cfg = configure(problem_row, scheme, method, lr, steps, batch_size, None, lambdas, x0, 1e10)
    n, b, steps, lr, lam = problem_row.n, cfg.b, cfg.steps, float(cfg.lr[0]), cfg.lam
    batches = (
        np.broadcast_to(np.arange(n), (steps, n))
        if b == n
        else sample_batches(problem_row.seeds()[0], n, b, steps)
    )
    x = cfg.x0[0]
    with np.errstate(over="ignore", invalid="ignore"):  # judged by check_start
        check_start(problem_row.loss(x[None]))
    z = x.copy()
    iterates, weights, losses = [x], [], []
    for t in range(steps):
        B = batches[t]
        r = problem_row.residuals(x[None])[0][B]  # a_i^T x_t - b_i, i in B_t
        f_B = 0.5 * r**2  # f_i(x_t)
        w = scheme_weights(scheme, f_B[None], t)[0]  # w^t
        g = (w * r) @ problem_row.A[0][B]  # sum_i w_i grad f_i(x_t)
        if lam is not None:  # heavy ball
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
