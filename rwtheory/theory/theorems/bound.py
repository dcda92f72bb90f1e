r"""What a theorem check returns, and the smoothness constant each proof route uses.

Every check of :mod:`rwtheory.theory.theorems` evaluates one inequality of THEORY §3-§4 on a
recorded trajectory and returns a :class:`Bound`: the inequality's left side
(``observed``, made of the trajectory's loss gaps) and its right side (``bound``), so that
the statement reads ``observed <= bound``. Inequalities are written with the gaps on the
left, e.g. the one-step inequality of GD as

.. math:: 2\eta(1 - \eta\hat L_t) S_t \le \|x_t - x^\star\|^2 - \|x_{t+1} - x^\star\|^2,

so that ``observed / bound`` in [0, 1] says how much of the guaranteed progress the proof
gives away (1 = tight).

The two routes of THEORY §3 differ only in the smoothness constant :math:`\hat L_t` of the
weighted objective :math:`F_{w^t} = \sum_{i \in B_t} w_i^t f_i`:

* Route C (the paper's, with the cap): :math:`\hat L_t = \rho_t L_{B_t}`, where
  :math:`\rho_t = b\max_i w_i^t` and :math:`L_{B_t}` is the smoothness of the batch average
  :math:`f_{B_t}` (:math:`L_{B_t} = L` for a full batch). Lemma "the cap bounds smoothness":
  :math:`\rho_t f_{B_t} - F_{w^t} = \sum_{i\in B_t}(\rho_t/b - w_i^t) f_i` is convex.
* Route J (Jensen, no cap): :math:`\hat L_t = L_{\max}`, since
  :math:`\|\sum_i w_i\nabla f_i\|^2 \le \sum_i w_i\|\nabla f_i\|^2 \le 2L_{\max} S_t`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ROUTES",
    "STEP_ULPS",
    "UNIT_ROUNDOFF",
    "Bound",
    "batch_smoothness_per_step",
    "effective_smoothness",
    "rounding_floor",
    "step_within",
]

#: The two proof routes of THEORY §3.
ROUTES = ("C", "J")


@dataclass(frozen=True)
class Bound:
    """One inequality ``observed <= bound`` evaluated on a trajectory (arrays of one shape).

    Attributes
    ----------
    observed : the inequality's left side (NaN where not evaluated, e.g. after divergence).
    bound : its right side.
    scale : the magnitude of the largest term the two sides are made of; a violation is
        ``observed - bound > rtol * scale + floor`` (the sides are differences of such
        terms, so this is the honest floating-point yardstick).
    applicable : where the statement's hypotheses hold (step size, feasibility of the
        momentum schedule, ...); always True for inequalities that need none.
    floor : the absolute rounding error of the recorded sides that no relative tolerance
        covers: iterates are stored in float64, so a distance to x* cannot be measured
        below ~u * ||x|| (u = 2^-53); see :func:`rounding_floor`. 0 for the rates.
    """

    observed: np.ndarray
    bound: np.ndarray
    scale: np.ndarray
    applicable: np.ndarray
    floor: np.ndarray | float = 0.0

    def __post_init__(self):
        shapes = {np.shape(a) for a in (self.observed, self.bound, self.scale, self.applicable)}
        if len(shapes) != 1:
            raise ValueError(
                f"observed, bound, scale and applicable must have one shape, got {shapes}"
            )

    @property
    def evaluated(self) -> np.ndarray:
        """Where both sides are finite and the hypotheses hold."""
        return (
            np.asarray(self.applicable, bool) & np.isfinite(self.observed) & np.isfinite(self.bound)
        )

    def relative_violation(self) -> np.ndarray:
        """(observed - bound - floor) / scale where evaluated, NaN elsewhere (> rtol:
        violated)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            v = (self.observed - self.bound - self.floor) / np.where(
                self.scale > 0, self.scale, 1.0
            )
        return np.where(self.evaluated, v, np.nan)

    def violated(self, rtol: float = 1e-9) -> np.ndarray:
        """Boolean mask of evaluated entries with ``observed > bound + rtol * scale +
        floor``."""
        rtol = float(rtol)
        if not (np.isfinite(rtol) and rtol >= 0):
            raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
        v = self.relative_violation()
        # NaN > rtol is False already: dropping the where is an equivalent mutant; so is
        # ">=" for ">" (it differs only at v == rtol exactly).
        return np.where(np.isnan(v), False, v > rtol)

    def measurable(self) -> np.ndarray:
        """Evaluated entries where both sides are positive and the bound is known to 1 %
        (it exceeds 100 times the rounding floor and 1e-12 of the scale): where observed /
        bound says how tight the inequality is."""
        return (
            self.evaluated
            & (self.observed > 0)
            & (self.bound > 1e-12 * self.scale)
            & (self.bound > 100 * np.asarray(self.floor))
        )

    def tightness(self) -> np.ndarray:
        """observed / bound on the :meth:`measurable` entries (a flat array; 1 = the bound
        is attained)."""
        ok = self.measurable()
        return (np.asarray(self.observed)[ok] / np.asarray(self.bound)[ok]).ravel()


#: Unit roundoff of float64.
UNIT_ROUNDOFF = 2.0**-53


#: Rounding tolerance of the step-size hypotheses, in units in the last place of the limit.
#: A step set to a limit a priori, e.g. :math:`\eta = 1/(2\rho L_b)`, gives
#: :math:`\eta\rho_tL_{B_t}` a few ulp above 1/2 when :math:`\rho_t = \rho` and
#: :math:`L_{B_t} = L_b`: the eigenvalue and the products are rounded (1-10 ulp observed). Those
#: runs are the tightest cases and must stay in. Accepting :math:`\eta\hat L_t` up to the limit
#: times :math:`1 + 16 \cdot 2^{-52}` moves every bound by a relative ~1e-14 at most, far
#: below the checks' ``rtol`` (1e-9).
STEP_ULPS = 16


def step_within(eta_L_hat, limit: float) -> np.ndarray:
    """``eta_L_hat <= limit`` up to :data:`STEP_ULPS` units in the last place of ``limit``."""
    return np.asarray(eta_L_hat) <= limit * (1 + STEP_ULPS * 2.0**-52)


def rounding_floor(trajectory, dist2_after: np.ndarray) -> np.ndarray:
    r"""Absolute error with which ``||y_{t+1} - x*||^2`` is known, per step (R, T).

    The update :math:`y_{t+1} = y_t - \eta g_t` (y = x, or z for heavy ball) is rounded to
    float64: the stored point differs from the exact one by :math:`\delta` with
    :math:`\|\delta\| \le 2u\|y_{t+1}\|` (u the unit roundoff; a factor 2 for the
    subtraction's own rounding), so the measured squared distance is off by at most
    :math:`2\sqrt{d_{t+1}}\,\epsilon + \epsilon^2`, :math:`\epsilon = 2u\|y_{t+1}\|`, with
    :math:`\|y_{t+1}\| \le \|x_0\| + \|x_0 - x^\star\| + \sqrt{d_{t+1}}`. Negligible
    (relative 1e-16) except when the iterates have reached x* to machine precision, where it
    keeps rounding noise from counting as a violation. ``x_0`` is read from the recorded
    iterates (0, the default start, when none were kept)."""
    x0 = 0.0 if trajectory.iterates is None else np.linalg.norm(trajectory.iterates[:, 0], axis=-1)
    star = x0 + np.sqrt(trajectory.dist2[:, 0])
    root = np.sqrt(np.maximum(dist2_after, 0.0))
    eps = 2 * UNIT_ROUNDOFF * (np.asarray(star)[:, None] + root)
    # Mutation note: the sign of eps^2 (relative 1e-16 of the floor) and axis=+1 for axis=-1
    # on the (R, d) start above are equivalent.
    return 2 * root * eps + eps * eps


def batch_smoothness_per_step(problem, trajectory) -> np.ndarray:
    r""":math:`L_{B_t} = \lambda_{\max}(A_{B_t}^\top A_{B_t}/b)` for every run and step, (R, T).

    ``problem`` has one row per run of ``trajectory`` (``problem.take(rows)`` for the rows
    passed to :func:`rwtheory.convex.engine.run`). Full-batch trajectories give L for every step.
    """
    R, T = trajectory.rho.shape
    if problem.runs != R:
        raise ValueError(f"problem must have one row per run ({R}), got {problem.runs} rows")
    if trajectory.batches is None:
        return np.broadcast_to(problem.smoothness()[:, None], (R, T)).copy()
    # one step at a time: (R, b, b) Gram matrices instead of an (R, T, b, d) temporary
    return np.stack([problem.batch_smoothness(trajectory.batches[:, t]) for t in range(T)], axis=1)


def effective_smoothness(problem, trajectory, route: str) -> np.ndarray:
    r""":math:`\hat L_t` of a proof route for every run and step, shape (R, T):
    :math:`\rho_t L_{B_t}` for Route ``"C"``, :math:`L_{\max}` for Route ``"J"``.

    ``problem`` has one row per run of ``trajectory``."""
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    R, T = trajectory.rho.shape
    if problem.runs != R:
        raise ValueError(f"problem must have one row per run ({R}), got {problem.runs} rows")
    if route == "J":
        return np.broadcast_to(problem.max_smoothness()[:, None], (R, T)).copy()
    return trajectory.rho * batch_smoothness_per_step(problem, trajectory)
