"""Tight worst cases of reweighted GD with PEPit (rwtheory.theory.pep)."""

import numpy as np
import pytest

from rwtheory.theory import pep


@pytest.mark.parametrize("T,c", [(1, 1.0), (3, 0.5), (4, 1.0)])
def test_drori_teboulle_sanity(T, c):
    """One function, uniform weights, last iterate: L/(4TL eta + 2) (tight)."""
    worst = pep.reweighted_gd_worst_case(np.ones(1), T, c, L=1.0, measure="last")
    assert worst == pytest.approx(1 / (4 * T * c + 2), abs=1e-4)


def test_scs_agrees_with_clarabel():
    a = pep.reweighted_gd_worst_case(np.ones(1), 2, 1.0, measure="last", solver="SCS")
    assert a == pytest.approx(0.1, abs=1e-4)


def test_reweighted_worst_case_is_below_the_bound_and_known_at_t1():
    cases, _ = pep.pep_table(
        sizes=((2, 1), (2, 3), (3, 1), (3, 3)), rhos=(2.0,), gammas=(1.0,), forms=("paper",)
    )
    assert len(cases) == 8
    for c in cases:
        assert 0 < c.worst_case <= c.bound
        if c.steps == 1:  # a_0 <= L/2 ||x_0 - x*||^2, attained: the first gap is unconstrained
            assert c.worst_case == pytest.approx(0.5, abs=1e-5)
    # a larger gamma can only shrink the feasible set
    lo = pep.reweighted_gd_worst_case(pep.capped_weights(2, 2.0), 3, 0.25, gamma=0.5)
    hi = pep.reweighted_gd_worst_case(pep.capped_weights(2, 2.0), 3, 0.25, gamma=1.5)
    assert hi <= lo + 1e-6


def test_capped_weights():
    np.testing.assert_allclose(pep.capped_weights(4, 2.0), [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(pep.capped_weights(3, 2.0), [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(pep.capped_weights(3, 1.0), [1 / 3] * 3)
    with pytest.raises(ValueError, match="rho"):
        pep.capped_weights(3, 0.5)


def test_bad_input():
    with pytest.raises(ValueError, match="steps"):
        pep.reweighted_gd_worst_case(np.ones(1), 0, 1.0)
    with pytest.raises(ValueError, match="measure"):
        pep.reweighted_gd_worst_case(np.ones(1), 1, 1.0, measure="best")
    with pytest.raises(ValueError, match="simplex"):
        pep.reweighted_gd_worst_case(np.array([0.7, 0.7]), 1, 1.0)
    with pytest.raises(ValueError, match="eta"):
        pep.reweighted_gd_worst_case(np.ones(1), 1, -1.0)


def test_sharp_rate_is_attained_for_uniform_weights_and_below_the_bound_otherwise():
    """THEORY §3's sharper rate 1/(2 eta gamma T) at eta = 1/L_hat: never exceeded, attained
    (ratio 1) for uniform weights (rho = gamma = 1), 2/3 of it for rho = 2, gamma = 1, T = 2."""
    cases, _ = pep.pep_table(
        sizes=((2, 2),), rhos=(1.0, 2.0), gammas=(1.0,), routes=("C",), forms=("sharp",)
    )
    by_rho = {c.rho: c for c in cases}
    assert by_rho[1.0].eta == 1.0 and by_rho[2.0].eta == 0.5
    assert by_rho[1.0].ratio == pytest.approx(1.0, abs=1e-5)
    assert by_rho[2.0].ratio == pytest.approx(2 / 3, abs=1e-5)
    with pytest.raises(ValueError, match="forms"):
        pep.pep_table(sizes=((2, 1),), forms=("loose",))


def test_heavy_ball_pep():
    """lambda = 0 is GD; with the constant schedule the worst case is below the derived bound
    and above GD's worst case (the reported finding: momentum does not help here)."""
    w = pep.capped_weights(2, 2.0)
    gd = pep.reweighted_gd_worst_case(w, 3, 0.5, gamma=1.0)
    hb0 = pep.reweighted_heavy_ball_worst_case(w, 3, 0.5, np.zeros(4), gamma=1.0)
    assert hb0 == pytest.approx(gd, abs=1e-6)
    cases, _ = pep.heavy_ball_table(sizes=((2, 3),), rhos=(2.0,), gammas=(1.0,))
    (c,) = cases
    assert c.lam == 0.25 and c.worst_case_gd == pytest.approx(gd, abs=1e-6)
    assert c.worst_case <= c.bound and c.worst_case > c.worst_case_gd
    with pytest.raises(ValueError, match="lambdas"):
        pep.reweighted_heavy_ball_worst_case(w, 3, 0.5, np.zeros(3))
