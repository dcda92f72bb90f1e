"""Theorem 4's randomised verification, open question, PEP and ledger provider (small sizes)."""

import math

import numpy as np
import pytest

from rwtheory.theory import nonconvex_checks as nc
from rwtheory.theory import pep_nonconvex


def test_verification_is_seeded_and_finds_no_violation():
    a = nc.verify(12, steps=8, seed=3)
    b = nc.verify(12, steps=8, seed=3)
    assert a.violations == 0 and a.evaluated > 0
    assert {k: (t.evaluated, t.violations) for k, t in a.tallies.items()} == {
        k: (t.evaluated, t.violations) for k, t in b.tallies.items()
    }
    assert a.runs == 12 * len(nc.WEIGHTINGS) + sum(
        len(nc.WEIGHTINGS) for i in nc.sample_instances(12, 3) if i.batch_size < i.n
    )
    ev, vi = a.total("one-step")
    assert ev > 0 and vi == 0
    # full-batch rates are tallied only where eta <= 1/L
    assert a.total("rate", "η > 1/L") == (0, 0)


def test_a_wrong_theorem_is_caught_by_the_verification(monkeypatch):
    """Break the inequality on purpose (drop the sigma_t^2 allowance): violations appear."""
    from rwtheory.theory import theorem4

    real = theorem4.one_step

    def broken(tr, L):
        b = real(tr, L)
        return type(b)(
            b.observed, b.bound - 0.5 * tr.lr[:, None] * tr.sigma**2, b.scale, b.applicable
        )

    monkeypatch.setattr(theorem4, "one_step", broken)
    assert nc.verify(12, steps=8, seed=3).total("one-step")[1] > 0


def test_instances_cover_steps_above_and_below_one_over_L():
    inst = nc.sample_instances(200, 0)
    c = {i.step_factor for i in inst}
    assert min(c) < 1 < max(c)
    assert {i.family for i in inst} == set(nc.FAMILIES)
    assert any(i.batch_size == 1 for i in inst) and any(i.batch_size > 2 for i in inst)
    with pytest.raises(ValueError, match="count"):
        nc.sample_instances(0)


def test_expectation_checks_small():
    rows = nc.expectation_checks(paths=4, steps=6, n=16)
    assert len(rows) == 2 * len(nc.EXPECTATION_WEIGHTINGS) * 2 * 2
    assert not any(r.exceeds for r in rows)
    assert all(0 < r.tightness < 1 for r in rows)


def test_open_question_uniform_reference_and_monotone_contrast():
    oq = nc.open_question(seeds=2, steps=6, n=16, d=3)
    grad = [c for c in oq.cells if c.signal == "gradient norm"]
    # LinUpper on the gradient norms is non-decreasing in ||grad f_i||^2: Γ_t >= 1 always
    assert grad and all(c.share == 1.0 for c in grad)
    # at eta = 1/L the predicted ratio is 1 whatever Γ; below, Γ_t >= 1 predicts <= 1
    assert all(c.predicted_ratio == pytest.approx(1.0) for c in oq.cells if c.step_factor == 1)
    assert all(c.predicted_ratio <= 1 + 1e-12 for c in grad)
    loss = [c for c in oq.cells if c.signal == "loss"]
    assert len(loss) == 2 * 2 * 2 * len(nc.OPEN_STRATEGIES) * len(nc.OPEN_TEMPERATURES)
    assert all(0 <= c.share <= 1 for c in loss)


def test_pep_one_step_is_attained_by_a_single_sample_and_uniform_needs_no_sigma():
    for c in (0.5, 1.0, 1.5):
        worst = pep_nonconvex.worst_case(np.array([1.0, 0.0]), 1, c)
        assert worst == pytest.approx(pep_nonconvex.theorem4_bound("pathwise", 1, c), rel=1e-6)
    # uniform weights at eta = 1/L: the step is GD on f, the descent lemma alone: worst 0
    assert abs(pep_nonconvex.worst_case(np.array([0.5, 0.5]), 1, 1.0)) < 1e-7


def test_pep_rate_holds_below_and_fails_above_one_over_L():
    w = np.array([1.0, 0.0])
    ok = pep_nonconvex.worst_case(w, 2, 1.0, measure="rate", gamma=1.0)
    assert ok <= pep_nonconvex.theorem4_bound("rate", 2, 1.0) * (1 + 1e-6)
    bad = pep_nonconvex.worst_case(w, 1, 1.2, measure="rate", gamma=1.0)
    assert bad > 1.3 * pep_nonconvex.theorem4_bound("rate", 1, 1.2, gamma=1.0)
    assert pep_nonconvex.theorem4_bound("rate", 1, 3.0, gamma=1.0) == math.inf
    with pytest.raises(ValueError, match="weights"):
        pep_nonconvex.worst_case(np.array([0.7, 0.7]), 1, 1.0)


def test_provider_quick_report():
    from rwtheory.report.providers import theorem4 as prov

    rep = prov.report(quick=True)
    keys = {c.key: c for c in rep.claims}
    assert set(keys) == {"thm4", "thm4.pep"}
    assert keys["thm4"].status == "holds with caveat"
    assert keys["thm4"].number.startswith("0 violations")
    assert keys["thm4.pep"].status == "holds"
    assert "Γ_t ≥ 1" in rep.details and "PEPit" in rep.details
