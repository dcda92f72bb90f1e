r"""The formulas shared by reweighted GD and minibatch SGD (THEORY §3, §4(i)), in the
paper's form and the sharper form of THEORY §3.

Both run :math:`x_{t+1} = x_t - \eta g_t`, :math:`g_t = \nabla F_{w^t}(x_t)`; GD is the case
:math:`B_t = \{1..n\}`. The public, documented statements are in :mod:`.gd` and :mod:`.sgd`.
"""

from __future__ import annotations

import numpy as np

from rwtheory.theory.theorems.bound import Bound, rounding_floor, step_within

#: Records only a heavy-ball run has.
HEAVY_BALL_FIELDS = frozenset({"z_dist2", "prev_weighted_gap", "lambdas"})


def require(trajectory, *fields: str) -> None:
    """Raise a ValueError unless the trajectory recorded ``fields`` (gap records exist only
    for problems with an interpolation point x*, momentum records only for heavy ball).

    Mutation note (``benchmarks/mutation.py``): a call that drops one of its fields is
    equivalent on the engines' trajectories, which record the gap fields (gap, dist2,
    weighted_gap, batch_gap, gamma) all together or none, and the momentum fields likewise."""
    missing = [f for f in fields if getattr(trajectory, f, None) is None]
    if missing:
        needs = []
        if set(missing) - HEAVY_BALL_FIELDS:
            needs.append("a problem with an interpolation point x* (consistent least squares)")
        if set(missing) & HEAVY_BALL_FIELDS:
            needs.append("a heavy-ball run")
        raise ValueError(
            f"trajectory lacks {', '.join(missing)}: the theorem checks need {' and '.join(needs)}"
        )


def per_step(values, trajectory, name: str) -> np.ndarray:
    """``values`` as a finite, positive (R, T) array: a number, one per run (R,) or (R, T)."""
    R, T = trajectory.rho.shape
    # Mutation note: dtype=None is equivalent for numeric input (it only matters for ints,
    # which the arithmetic promotes), and "ndim == 1 or shape == (R,)" is equivalent: a 1-D
    # array of another length fails the broadcast below either way, with the same message.
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1 and a.shape == (R,):
        a = a[:, None]
    try:
        a = np.broadcast_to(a, (R, T))
    except ValueError:
        raise ValueError(
            f"{name} must be a number, one value per run ({R},) or per run and "
            f"step ({R}, {T}), got shape {np.shape(values)}"
        ) from None
    finite = a[np.isfinite(trajectory.rho)]
    if not np.all(np.isfinite(finite)) or np.any(finite <= 0):
        raise ValueError(f"{name} must be finite and > 0")
    return a


#: The two forms of every inequality: the paper's (THEORY §3, factor 1 - eta L_hat) and the
#: sharper one (factor min(1, 2 - eta L_hat)), see :func:`progress_factor`.
FORMS = ("paper", "sharp")


def progress_factor(eta: np.ndarray, L_hat: np.ndarray, form: str) -> np.ndarray:
    r"""The factor :math:`\kappa_t` of :math:`2\eta\kappa_t S_t` in the one-step inequality.

    ``"paper"``: :math:`1 - \eta\hat L_t` (convexity :math:`\langle g, x - x^\star\rangle \ge S`
    and co-coercivity :math:`\|g\|^2 \le 2\hat L S`).
    ``"sharp"``: :math:`\min(1, 2 - \eta\hat L_t)` (THEORY §3's sharper form: Nesterov's
    :math:`\langle g, x - x^\star\rangle \ge S + \|g\|^2/(2\hat L)` leaves
    :math:`2\eta S + \eta(1/\hat L - \eta)\|g\|^2`; the last term is >= 0 for
    :math:`\eta\hat L \le 1` and >= :math:`-2\eta(\eta\hat L - 1)S` beyond). The sharp factor
    is never below the paper's: :math:`\min(1, 2 - x) - (1 - x) = \min(x, 1) \ge 0`.
    """
    # (np.errstate arguments below and elsewhere only silence warnings: mutants of them change
    # no value and are equivalent.)
    if form == "paper":
        return 1 - eta * L_hat
    if form == "sharp":
        return np.minimum(1.0, 2.0 - eta * L_hat)
    raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def one_step(trajectory, L_hat: np.ndarray, form: str = "paper") -> Bound:
    """2 eta kappa_t S_t <= ||x_t - x*||^2 - ||x_{t+1} - x*||^2, (R, T), kappa_t of
    :func:`progress_factor`."""
    require(trajectory, "weighted_gap", "dist2")
    eta = trajectory.lr[:, None]
    d = trajectory.dist2
    observed = 2 * eta * progress_factor(eta, L_hat, form) * trajectory.weighted_gap
    bound = d[:, :-1] - d[:, 1:]
    scale = np.maximum(np.maximum(d[:, :-1], d[:, 1:]), np.abs(observed))
    return Bound(
        observed,
        bound,
        scale,
        np.ones_like(bound, dtype=bool),
        rounding_floor(trajectory, d[:, 1:]),
    )


def pathwise(trajectory, L_hat: np.ndarray, form: str = "paper") -> Bound:
    """sum_{t<k} 2 eta kappa_t S_t <= ||x_0 - x*||^2 - ||x_k - x*||^2 for every horizon
    k = 1..T, (R, T)."""
    require(trajectory, "weighted_gap", "dist2")
    eta = trajectory.lr[:, None]
    d = trajectory.dist2
    terms = 2 * eta * progress_factor(eta, L_hat, form) * trajectory.weighted_gap
    observed = np.cumsum(terms, axis=1)
    bound = d[:, :1] - d[:, 1:]
    scale = np.maximum(d[:, :1], np.cumsum(np.abs(terms), axis=1))
    floor = np.cumsum(rounding_floor(trajectory, d[:, 1:]), axis=1)
    return Bound(observed, bound, scale, np.ones_like(bound, dtype=bool), floor)


def _rate_terms(trajectory, gaps: np.ndarray):
    """What both rate forms read: eta (R, 1), the horizons k = 1..T, the running average
    (1/k) sum_{t<k} gaps_t (R, T) and Gamma_k = min_{t<k} Gamma_t (R, T)."""
    require(trajectory, "gamma", "dist2")
    T = trajectory.rho.shape[1]
    eta = trajectory.lr[:, None]
    k = np.arange(1, T + 1)
    observed = np.cumsum(gaps, axis=1) / k
    return eta, k, observed, np.minimum.accumulate(trajectory.gamma, axis=1)


def rate(trajectory, L_hat: np.ndarray, gaps: np.ndarray) -> Bound:
    """The paper's form: (1/k) sum_{t<k} gaps_t <= ||x_0 - x*||^2 / (eta Gamma_k k),
    Gamma_k = min_{t<k} Gamma_t, for every horizon k = 1..T, applicable where
    eta * max_{t<k} L_hat_t <= 1/2 (up to :data:`~.bound.STEP_ULPS` ulp), (R, T)."""
    eta, k, observed, gamma = _rate_terms(trajectory, gaps)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = trajectory.dist2[:, :1] / (eta * gamma * k)
    step_ok = step_within(np.maximum.accumulate(eta * L_hat, axis=1), 0.5)
    applicable = step_ok & (gamma > 0)
    return Bound(observed, bound, np.abs(bound), applicable)


def rate_sharp(trajectory, L_hat: np.ndarray, gaps: np.ndarray) -> Bound:
    """The sharp form: (1/k) sum_{t<k} gaps_t <= ||x_0 - x*||^2 / (2 eta mu_k Gamma_k k),
    mu_k = min_{t<k} min(1, 2 - eta L_hat_t), Gamma_k = min_{t<k} Gamma_t, for every
    horizon k = 1..T, applicable where mu_k > 0 and Gamma_k > 0, (R, T). For
    eta L_hat_t <= 1 (mu_k = 1) this is THEORY's ||x_0 - x*||^2 / (2 eta Gamma k)."""
    eta, k, observed, gamma = _rate_terms(trajectory, gaps)
    mu = np.minimum.accumulate(progress_factor(eta, L_hat, "sharp"), axis=1)
    applicable = (mu > 0) & (gamma > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(applicable, trajectory.dist2[:, :1] / (2 * eta * mu * gamma * k), np.inf)
    return Bound(observed, bound, np.where(applicable, np.abs(bound), 0.0), applicable)
