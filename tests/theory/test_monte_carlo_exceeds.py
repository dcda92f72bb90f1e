"""The Monte Carlo rule of the in-expectation rows (Theorems 2 and 4): a mean counts as above
its bound only beyond 3 standard errors, at a horizon where the bound applies and is finite.
Boundary values within 3 % of the stated 3 s.e., so moving it by a factor of 1.05 fails."""

import math

import numpy as np

from rwtheory.convex.schemes import Strategy
from rwtheory.theory import randomised
from rwtheory.theory.theorems import MonteCarloBound


def _estimate(observed, bound=1.0, stderr=0.1, applicable=True):
    observed = np.asarray(observed, dtype=float)
    full = np.broadcast_to
    return MonteCarloBound(
        observed,
        full(np.asarray(bound, float), observed.shape).copy(),
        np.ones_like(observed),
        full(np.asarray(applicable), observed.shape).copy(),
        stderr=full(np.asarray(stderr, float), observed.shape).copy(),
    )


def test_a_mean_exceeds_its_bound_beyond_3_standard_errors_only():
    est = _estimate([1.0, 1 + 2.91 * 0.1, 1 + 3.09 * 0.1, 5.0])
    assert est.exceeds().tolist() == [False, False, True, True]
    assert est.exceeds(stderrs=0.0).tolist() == [False, True, True, True]


def test_only_applicable_finite_horizons_count():
    est = _estimate([5.0, 5.0, 5.0, math.nan, 5.0], bound=[1.0, 1.0, math.inf, 1.0, -math.inf])
    applicable = np.array([True, False, True, True, True])
    est = MonteCarloBound(est.observed, est.bound, est.scale, applicable, stderr=est.stderr)
    assert est.exceeds().tolist() == [True, False, False, False, False]


def test_theorem_2_rows_use_the_rule():
    scheme = Strategy("uniform")
    row = randomised._expectation_row("SGD", scheme, 8, _estimate([1.0, 1 + 2.91 * 0.1]))
    assert not row.exceeds and row.mean == 1 + 2.91 * 0.1 and row.bound == 1.0
    row = randomised._expectation_row("SGD", scheme, 8, _estimate([1.0, 1 + 3.09 * 0.1]))
    assert row.exceeds
