r"""Non-convex finite sums with per-sample losses, gradients, a known L and a certified f_inf.

Both families are :class:`rwtheory.convex.glm.GLMProblem` stacks (one row per seed), so
:func:`rwtheory.convex.glm.run` runs GD, minibatch SGD and heavy ball on them and records
THEORY §6's :math:`\|\nabla f(x_t)\|^2`, :math:`m_t`, :math:`\Gamma_t` and :math:`\sigma_t`.

* :func:`sigmoid_classification`: the sigmoid loss of THEORY §6,
  :math:`f_i(x) = s(-y_i a_i^\top x)`,
  :math:`L = \lambda_{\max}(A^\top A/n)/(6\sqrt3)`, :math:`f_{\inf} = 0`. Its curvature is
  largest *away* from the decision boundary (:math:`|s''|` peaks at :math:`|yu| \approx 1.32`)
  and vanishes both at the boundary and in the saturated tails.
* :func:`geman_mcclure_regression`: Geman-McClure robust regression on data with
  outliers, :math:`f_i(x) = \tfrac{c^2}{2} r_i^2/(c^2 + r_i^2)`, :math:`r_i = a_i^\top x - b_i`,
  :math:`L = \lambda_{\max}(A^\top A/n)`, :math:`f_{\inf} = 0`. The curvature profile is the
  other way round: largest (positive) at a perfect fit, negative (down to -1/4) on the
  outliers' large residuals.

Both losses are bounded, so the sums are bounded below and Lipschitz: Assumption 4 of
THEORY §6 (:math:`\|\nabla f_i - \nabla f\| \le \sigma` everywhere) holds with
:math:`\sigma \le 2\max_i\sup_x\|\nabla f_i(x)\|` (:meth:`gradient_bound`).
"""

from __future__ import annotations

import numpy as np

from rwtheory._array import InputTypeError, InputValueError, check_int, check_number
from rwtheory.convex.glm import GLMProblem, geman_mcclure, sigmoid
from rwtheory.convex.problems import MAX_SCALE, draw_per_seed, seed_list

__all__ = ["GRADIENT_SUP", "geman_mcclure_regression", "gradient_bound", "sigmoid_classification"]

#: :math:`\sup_u|\partial\phi/\partial u|` per family: the sigmoid's :math:`s(1-s) \le 1/4`;
#: Geman-McClure's :math:`c^4|r|/(c^2+r^2)^2 \le 3\sqrt3\,c/16` (at :math:`|r| = c/\sqrt3`).
GRADIENT_SUP = {
    "sigmoid": lambda params: 0.25,
    "geman_mcclure": lambda params: 3 * np.sqrt(3) * params["scale"] / 16,
}


def _check(n, d) -> tuple[int, int]:
    return check_int(n, "n", minimum=1), check_int(d, "d", minimum=1)


def _scale(value, name: str, *, allow_zero: bool = False) -> float:
    """A finite number in (0, MAX_SCALE] ([0, ...] with ``allow_zero``)."""
    return check_number(value, name, low=0.0, high=MAX_SCALE, low_open=not allow_zero)


def sigmoid_classification(
    seeds=1, *, n: int = 64, d: int = 8, label_noise: float = 0.1, feature_scale: float = 1.0
) -> GLMProblem:
    r"""Binary classification with the sigmoid loss (THEORY §6), one run per seed.

    Features :math:`a_i \sim N(0, s^2 I_d)` (s = ``feature_scale``), a planted direction
    :math:`\theta \sim N(0, I_d)/\sqrt d`, labels :math:`y_i = \mathrm{sign}(a_i^\top\theta)`
    flipped with probability ``label_noise`` (so the data are in general not separable
    and f's infimum is > 0; 0 stays a certified lower bound). Seed k draws everything from
    ``numpy.random.default_rng(k)``."""
    n, d = _check(n, d)
    label_noise = check_number(label_noise, "label_noise", low=0.0, high=0.5)
    feature_scale = _scale(feature_scale, "feature_scale")
    seeds = seed_list(seeds)

    def draw(rng):
        a = feature_scale * rng.standard_normal((n, d))
        theta = rng.standard_normal(d) / np.sqrt(d)
        lab = np.where(a @ theta >= 0, 1.0, -1.0)
        lab[rng.random(n) < label_noise] *= -1
        return a, lab

    A, y = draw_per_seed(seeds, draw)
    # the generator's arguments as recorded in params (captions, trajectories), one a line as
    # ruff formats them: the shape of every generator's record by design
    params = dict(
        problem="sigmoid_classification",
        n=n,
        d=d,
        label_noise=label_noise,
        feature_scale=feature_scale,
        seeds=seeds,
    )
    return GLMProblem(A, y, sigmoid(), params=params)


# keyword parameters with their defaults, one a line as ruff formats a long signature:
# the shape of every generator's signature by design
def geman_mcclure_regression(
    seeds=1,
    *,
    n: int = 64,
    d: int = 8,
    scale: float = 1.0,
    outlier_fraction: float = 0.2,
    noise: float = 0.1,
    outlier_scale: float = 10.0,
) -> GLMProblem:
    r"""Robust regression with the Geman-McClure loss of scale c = ``scale``, one run per
    seed: features :math:`a_i \sim N(0, I_d)`, :math:`x_{\rm true} \sim N(0, I_d)/\sqrt d`,
    targets :math:`a_i^\top x_{\rm true} + \text{noise}\cdot\varepsilon_i` for the clean
    samples and :math:`\text{outlier\_scale}\cdot\varepsilon_i` (pure noise) for a fraction
    ``outlier_fraction``, :math:`\varepsilon \sim N(0, 1)`. No interpolation point (the
    outliers' residuals stay large: the non-convex part of the loss is where they sit)."""
    n, d = _check(n, d)
    outlier_fraction = check_number(
        outlier_fraction, "outlier_fraction", low=0.0, high=1.0, high_open=True
    )
    scale, outlier_scale = _scale(scale, "scale"), _scale(outlier_scale, "outlier_scale")
    noise = _scale(noise, "noise", allow_zero=True)
    seeds = seed_list(seeds)
    k = int(round(outlier_fraction * n))

    def draw(rng):
        a = rng.standard_normal((n, d))
        x_true = rng.standard_normal(d) / np.sqrt(d)
        target = a @ x_true + noise * rng.standard_normal(n)
        out = rng.permutation(n)[:k]
        target[out] = outlier_scale * rng.standard_normal(k)
        return a, target

    A, b = draw_per_seed(seeds, draw)
    # the generator's arguments as recorded in params (captions, trajectories), one a line as
    # ruff formats them: the shape of every generator's record by design
    params = dict(
        problem="geman_mcclure_regression",
        n=n,
        d=d,
        scale=scale,
        outlier_fraction=outlier_fraction,
        noise=noise,
        outlier_scale=outlier_scale,
        seeds=seeds,
    )
    return GLMProblem(A, b, geman_mcclure(scale), params=params)


def gradient_bound(problem: GLMProblem) -> np.ndarray:
    r"""A certified :math:`\sigma` of Assumption 4 per run, (R,):
    :math:`\|\nabla f_i - \nabla f\| \le \|\nabla f_i\| + \frac1n\sum_j\|\nabla f_j\|
    \le 2 G\max_i\|a_i\|`, G = :data:`GRADIENT_SUP` of the family."""
    if not isinstance(problem, GLMProblem):
        raise InputTypeError(f"problem must be a GLMProblem, got {type(problem).__name__}")
    family = problem.params.get("problem", "")
    key = {"sigmoid_classification": "sigmoid", "geman_mcclure_regression": "geman_mcclure"}.get(
        family
    )
    if key is None:
        raise InputValueError(f"problem must come from this module, got {family!r}")
    G = GRADIENT_SUP[key](problem.params)
    return 2 * G * np.sqrt((problem.A**2).sum(-1).max(-1))
