r"""The inequalities of Theorems 1-2 (THEORY §3-§4), one function each, PEPit-example style.

Every function states its problem, assumptions, algorithm and guarantee in its docstring,
takes a recorded :class:`rwtheory.convex.engine.Trajectory` (and the smoothness constant of the
proof route, :func:`effective_smoothness`) and returns a :class:`Bound` with ``observed <= bound``.

Each statement comes in the paper's (reconstructed) form and, beside it, THEORY §3's sharper
form (suffix ``_sharp``: factor :math:`\min(1, 2 - \eta\hat L_t)` for :math:`1 - \eta\hat L_t`,
rate :math:`\|x_0 - x^\star\|^2/(2\eta\Gamma T)` for :math:`\eta\hat L \le 1`).

* Theorem 1, full-batch GD: :func:`gd_one_step`, :func:`gd_pathwise`, :func:`gd_rate` (and
  ``_sharp``).
* Theorem 2 (i), minibatch SGD: :func:`sgd_one_step`, :func:`sgd_pathwise`,
  :func:`sgd_rate` (pathwise), :func:`sgd_rate_in_expectation` (Monte Carlo).
* Theorem 2 (ii), heavy ball: :func:`heavy_ball_one_step`, :func:`heavy_ball_pathwise`,
  :func:`heavy_ball_weighted_sum`, :func:`heavy_ball_rate` (derived here, with
  :func:`heavy_ball_lambdas`), :func:`heavy_ball_average_rate` (derived here, with
  :func:`heavy_ball_constant_lambdas`), :func:`heavy_ball_rate_in_expectation`.

Example::

    from rwtheory.convex import engine
    from rwtheory.convex import problems
    from rwtheory.convex import schemes
    from rwtheory.theory import theorems
    p = problems.consistent_least_squares(4, n=32, d=16, row_spread=10.0)
    tr = engine.run(p, schemes.Strategy("linupper", 2.0), lr=1 / (4 * p.smoothness()),
                   steps=100)
    b = theorems.gd_rate(tr, theorems.effective_smoothness(p, tr, "C"))
    assert not b.violated().any()
"""

# each algorithm's module lists its public names once, in its own __all__
from rwtheory.theory.theorems import gd, heavy_ball, sgd
from rwtheory.theory.theorems.bound import (
    ROUTES,
    STEP_ULPS,
    Bound,
    batch_smoothness_per_step,
    effective_smoothness,
    step_within,
)
from rwtheory.theory.theorems.descent import FORMS, progress_factor
from rwtheory.theory.theorems.gd import *  # noqa: F403  (each module's __all__ is public)
from rwtheory.theory.theorems.heavy_ball import *  # noqa: F403  (each module's __all__ is public)
from rwtheory.theory.theorems.sgd import *  # noqa: F403  (each module's __all__ is public)

__all__ = [
    "ROUTES",
    "STEP_ULPS",
    "Bound",
    "batch_smoothness_per_step",
    "effective_smoothness",
    "step_within",
    "FORMS",
    "progress_factor",
]
__all__ += gd.__all__
__all__ += heavy_ball.__all__
__all__ += sgd.__all__
