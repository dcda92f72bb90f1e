"""Proposition 1 against cvxpy (Clarabel, SCS fallback), the r = 0 linear programme, and
LinUpper's distance from the optimum (rwtheory.theory.proposition1)."""

import numpy as np
import pytest

import rwtheory as rw
from rwtheory.theory import proposition1


def test_closed_form_matches_clarabel_on_every_family():
    inst = proposition1.prop1_instances(24, seed=1)
    assert {i.family for i in inst} == set(proposition1.FAMILIES)
    assert {i.rho for i in inst} >= {1.0, 1.5, 2.0, 4.0}
    res = proposition1.compare_with_cvxpy(inst, scs_max_n=10)
    assert res.failures == [] and res.above_tol == []
    assert res.max_diff <= 1e-6
    assert res.scs_measured == sum(i.gaps.size <= 10 for i in inst)


def test_instances_are_reproducible_and_include_ties_and_tiny_temperatures():
    a, b = proposition1.prop1_instances(12, seed=4), proposition1.prop1_instances(12, seed=4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.gaps, y.gaps)
        assert (x.temperature, x.rho, x.family) == (y.temperature, y.rho, y.family)
    ties = [i for i in a if i.family == "ties"]
    assert all(np.unique(i.gaps).size < i.gaps.size for i in ties if i.gaps.size > 3)
    assert min(i.temperature for i in a if i.family == "tiny temperature") < 1e-4


def test_scs_is_the_fallback_when_clarabel_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Clarabel returned no solution: simulated")

    monkeypatch.setattr(proposition1, "kl_capped_weights_cvxpy", broken)
    g = np.array([0.0, 0.3, 0.9, 1.0, 0.5])
    w, solver, status, res = proposition1.reference_weights(g, 0.5, 2.0)
    assert solver == "SCS (fallback)" and status in ("optimal", "optimal_inaccurate")
    assert np.abs(w - rw.kl_capped_weights(g, 0.5, 2.0)).max() < 1e-6
    out = proposition1.compare_with_cvxpy(
        [proposition1.Prop1Instance(g, 0.5, 2.0, "uniform")], scs_max_n=0
    )
    assert out.fallbacks == 1 and out.failures == []


@pytest.mark.parametrize(
    "n,rho,expected",
    [
        (10, 2.0, [0.2] * 5 + [0.0] * 5),
        (5, 2.0, [0.4, 0.4, 0.2, 0.0, 0.0]),
        (4, 1.5, [0.375, 0.375, 0.25, 0.0]),
        (3, 1.0, [1 / 3] * 3),
        (4, 4.0, [1.0, 0.0, 0.0, 0.0]),
    ],
)
def test_lp_vertex_structure(n, rho, expected):
    g = np.arange(n, 0, -1, dtype=float)  # decreasing: the first gaps are the largest
    np.testing.assert_allclose(proposition1.lp_vertex(g, rho), expected, atol=1e-15)


def test_lp_limit_and_half_the_data():
    res = proposition1.lp_check(24, seed=2)
    assert res.failures == []
    assert res.max_diff_distinct <= 1e-6 and res.max_objective_gap <= 1e-6
    assert res.small_r_max_diff <= 1e-12
    assert res.zero_fraction_rho2[10] == 0.5 and res.zero_fraction_rho2[1000] == 0.5
    assert res.zero_fraction_rho2[101] == pytest.approx(50 / 101)


def test_finding_linupper_is_not_the_optimum():
    """Reported as `prop1.linupper` (fails): the weights differ (TV > 0) and at r = 0.4
    LinUpper exceeds the cap rho = 2 that the optimum respects."""
    rows = proposition1.linupper_vs_optimum((0.4, 2.0), seeds=1, steps=20, n=200, d=5)
    low, high = rows
    assert low.tv_quantiles[1] > 1e-2 and low.max_rho_linupper > 2
    assert 0 < high.tv_quantiles[1] < low.tv_quantiles[1]
    assert high.max_rho_linupper <= rw.worst_case_rho("linupper", 200, 2.0) + 1e-12
    assert all(g >= 1 - 1e-12 for g in low.gamma_optimum + high.gamma_optimum)


def test_bad_input():
    with pytest.raises(ValueError, match="count"):
        proposition1.prop1_instances(0)
