"""The reference solvers of Proposition 1's problem (rwtheory.theory.reference_solvers): what
each gets right, where each fails, and that the KKT residual tells a solution from a wrong
answer. Their agreement with the runtime solver is tested in tests/weights/test_optimal.py."""

import numpy as np
import pytest

import rwtheory as rw
from rwtheory.theory.reference_solvers import (
    kkt_residual,
    kl_capped_weights_bisection,
    kl_capped_weights_cvxpy,
)


def test_bisection_reference_loses_the_small_gaps_at_huge_spans():
    """Why the closed form works relative to the block head: bisection on log Z computes
    z = (gap - max gap)/r, and every gap below ~1e284 rounds to the same z when the largest
    is 1e300, so it cannot rank them (it put the cap on all 64 and summed to 2): it now
    refuses such scaled spreads, naming the temperature it would need."""
    rng = np.random.default_rng(7)
    gaps = 10.0 ** rng.uniform(-300, 300, size=64)
    with pytest.raises(ValueError, match=r"temperature must be >= .* in the bisection"):
        kl_capped_weights_bisection(gaps, 1.0, 2.0, tol=1e-13)
    w = rw.kl_capped_weights(gaps, 1.0, 2.0)  # certified in tests/weights/test_optimal.py
    assert abs(w.sum() - 1) <= 1e-12
    # kkt_residual works with the same rounded (gap - max gap)/r, so it cannot judge this
    # instance either: it blames the exact answer
    assert kkt_residual(w, gaps, 1.0, 2.0) > 1e-3


def test_cvxpy_reference_on_a_spread_of_4e9_and_its_kkt_residual():
    """Gaps 1e-12 ... 1e6 at r = 2.6e-4 (scaled spread 3.9e9, found by
    rwtheory.theory.proposition1): with c shifted by the maximum Clarabel's answer is 2e-6
    off; another shift of c gives an accurate one, and the KKT residual -- computed from
    each answer alone -- tells which."""
    from rwtheory.theory.proposition1 import prop1_instances

    inst = prop1_instances(300, seed=0)[249]
    gaps, r = inst.gaps, inst.temperature
    assert inst.rho == 1.5 and (gaps.max() - gaps.min()) / r > 3e9
    w_closed = rw.kl_capped_weights(gaps, r, 1.5)
    ref, attempt, status, residual = kl_capped_weights_cvxpy(gaps, r, 1.5)
    assert np.abs(ref - w_closed).max() <= 1e-6, attempt
    assert kkt_residual(w_closed, gaps, r, 1.5) < 1e-7
    assert residual < 1e-6


def test_kkt_residual_judges_solver_noise_and_near_cap_entries_fairly():
    gaps = np.array([8e5, 2e5, 1e6, 7e5, 4e5, 2e5, 5e5, 1e6, 1e5])
    r, rho = 0.0024, 1.5
    w = rw.kl_capped_weights(gaps, r, rho)  # six at the cap 1/6, three exactly 0
    assert kkt_residual(w, gaps, r, rho) < 1e-12
    noisy = np.where(w > 0, w - 1e-13, 2e-13)  # a solver's answer: caps a hair low, 0 -> 1e-13
    assert kkt_residual(noisy, gaps, r, rho) < 1e-11
    wrong = w.copy()
    wrong[[0, 1]] = [w[0] - 1e-3, 1e-3]  # mass moved to an entry that should get none
    assert kkt_residual(wrong, gaps, r, rho) > 1e-4


def test_bisection_stops_at_its_tolerance_and_is_the_public_name():
    assert rw.kl_capped_weights_bisection is kl_capped_weights_bisection
    gaps = np.array([0.0, 0.3, 0.9, 2.0, 2.0, 5.0])
    exact = rw.kl_capped_weights(gaps, 0.7, 2.0)
    for tol, err in ((1e-4, 1e-3), (1e-12, 1e-10)):
        w = kl_capped_weights_bisection(gaps, 0.7, 2.0, tol=tol)
        assert np.abs(w - exact).max() <= err * exact.max()
    assert np.abs(kl_capped_weights_bisection(gaps, 0.7, 2.0, tol=1e-4) - exact).max() > 1e-10


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="rho"):
        kl_capped_weights_bisection([1.0, 2.0], 1.0, 0.5)
    with pytest.raises(ValueError, match="gaps"):
        kl_capped_weights_cvxpy([1.0, -2.0], 1.0, 2.0)
    with pytest.raises(ValueError, match="tol"):
        kl_capped_weights_bisection([1.0, 2.0], 1.0, 2.0, tol=0.0)
