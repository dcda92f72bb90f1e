"""Gamma and rho (docs/theory.md §2) and the temperature schedules."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rwtheory as rw
from rwtheory.weights.statistics import batched_gamma, batched_rho


# ------------------------------------------------------------------ gamma, rho
def test_gamma_by_hand():
    gaps = np.array([1.0, 3.0])
    assert float(rw.gamma(np.array([0.5, 0.5]), gaps)) == pytest.approx(1.0)
    assert float(rw.gamma(np.array([0.0, 1.0]), gaps)) == pytest.approx(1.5)  # 3 / 2
    assert float(rw.gamma(np.array([1.0, 0.0]), gaps)) == pytest.approx(0.5)  # 1 / 2
    assert float(rw.gamma(np.array([0.3, 0.7]), np.zeros(2))) == 1.0  # all gaps 0


def test_gamma_does_not_overflow_on_huge_gaps():
    assert float(rw.gamma(np.array([0.25, 0.75]), np.array([1e308, 1e308]))) == pytest.approx(1)


@settings(max_examples=200)
@given(
    hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 1e3)),
    st.integers(0, 2**32 - 1),
)
def test_gamma_lies_between_zero_and_rho(gaps, seed):
    w = np.random.default_rng(seed).dirichlet(np.ones(gaps.shape[0]))
    g, r = float(rw.gamma(w, gaps)), float(rw.rho(w))
    assert -1e-12 <= g <= r * (1 + 1e-12)
    assert r >= 1 - 1e-12


def test_rho_by_hand_and_batched():
    w = np.array([[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(batched_rho(w), [1.5, 1.0])
    np.testing.assert_allclose(batched_gamma(w, np.array([[2.0, 0, 0], [1.0, 2, 3]])), [1.5, 1.0])


# ------------------------------------------------------------------ schedules
def test_warmup_schedule_matches_the_paper():
    s = rw.warmup_schedule(target=0.4, warmup_steps=500)
    assert [s(0), s(499), s(500), s(10_000)] == [100.0, 100.0, 0.4, 0.4]


def test_linear_and_cosine_schedules():
    lin = rw.linear_schedule(10.0, 1.0, steps=9, begin=1)
    assert [lin(0), lin(1), lin(4), lin(10), lin(50)] == pytest.approx([10, 10, 7, 1, 1])
    cos = rw.cosine_schedule(10.0, 1.0, steps=10)
    assert cos(0) == pytest.approx(10) and cos(5) == pytest.approx(5.5)
    assert cos(10) == pytest.approx(1) and cos(99) == pytest.approx(1)
    assert rw.constant_schedule(0.7)(123) == 0.7


@settings(max_examples=200)
@given(st.floats(0.01, 100), st.floats(0.01, 100), st.integers(0, 50), st.integers(0, 200))
def test_annealing_stays_between_its_ends(a, b, steps, k):
    for s in (rw.linear_schedule(a, b, steps), rw.cosine_schedule(a, b, steps)):
        assert min(a, b) * (1 - 1e-12) <= s(k) <= max(a, b) * (1 + 1e-12)


def test_schedules_are_picklable_values():
    s = rw.warmup_schedule(1.0, 20)
    assert pickle.loads(pickle.dumps(s)) == s
    assert "warmup_steps=20" in repr(s)
