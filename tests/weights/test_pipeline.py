"""The weighting pipeline of THEORY §1: unit values and hypothesis properties."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import STRATEGY_NAMES, loss_batches, temperatures

import rwtheory as rw
from rwtheory.weights import pipeline as wt


# ------------------------------------------------------------------ hand-computed values
def test_normalize_maps_extremes_to_plus_minus_delta():
    t = rw.normalize_losses(np.array([2.0, 3.0, 4.0, 2.5]), delta=1.5)
    np.testing.assert_allclose(t, [-1.5, 0.0, 1.5, -0.75], rtol=0, atol=1e-15)


def test_normalize_spread_below_eps_shrinks_towards_zero():
    # spread 1e-7 < eps = 1e-6: l~ = (2l - lmax - lmin)/eps, not +-1
    t = rw.normalize_losses(np.array([0.0, 1e-7]))
    np.testing.assert_allclose(t, [-0.1, 0.1], rtol=1e-9)


def test_strategy_scores_by_hand():
    t = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(wt.linupper(t), [0.0, 0.5, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(wt.quadratic(t), [0.0, 0.75, 1.0, 0.75, 0.0])
    np.testing.assert_allclose(wt.extremes(t), [1.0, 0.5, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(wt.upper(t), [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(wt.uniform(t), np.zeros(5))


def test_sample_weights_linupper_by_hand():
    losses = np.array([1.0, 2.0, 3.0])  # l~ = -1, 0, 1 -> s = 0, 1, 1
    w = rw.sample_weights(losses, "linupper", temperature=0.5)
    e = math.exp(1 / 0.5)
    np.testing.assert_allclose(w, np.array([1.0, e, e]) / (1 + 2 * e), rtol=1e-15)


def test_tempered_softmax_is_overflow_free():
    w = rw.tempered_softmax(np.array([1e300, 0.0, -1e300]), temperature=1e-300)
    np.testing.assert_array_equal(w, [1.0, 0.0, 0.0])


def test_all_equal_losses_give_uniform_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for s in STRATEGY_NAMES:
            w = rw.sample_weights(np.full(7, 3.25), s, temperature=0.01)
            np.testing.assert_allclose(w, np.full(7, 1 / 7), rtol=1e-15)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_single_sample_gets_weight_one(strategy):
    np.testing.assert_array_equal(rw.sample_weights(np.array([4.2]), strategy, 0.3), [1.0])


# ------------------------------------------------------------------ properties (>= 200 each)
@settings(max_examples=300)
@given(loss_batches(), st.sampled_from(STRATEGY_NAMES), temperatures)
def test_weights_lie_on_the_simplex(losses, strategy, r):
    w = rw.sample_weights(losses, strategy, r)
    assert np.all(w >= 0)
    assert abs(w.sum() - 1) <= 1e-12
    assert w.shape == losses.shape


@settings(max_examples=300)
@given(
    loss_batches(min_size=2, low=0.0, high=10.0),
    st.sampled_from(STRATEGY_NAMES),
    st.floats(0.1, 10.0),
    st.floats(0.01, 100.0),
    st.floats(-100.0, 100.0),
)
def test_invariance_under_positive_affine_maps(losses, strategy, r, a, c):
    """Exact invariance holds while the spread stays >= NORMALIZE_EPS before and after the
    map (the floor eps is in loss units); we only test inside that regime, and the test
    below shows that it genuinely breaks outside it."""
    spread = losses.max() - losses.min()
    assume(spread >= 1e-2)
    w1 = rw.sample_weights(losses, strategy, r)
    w2 = rw.sample_weights(a * losses + c, strategy, r)
    # rounding of a*l + c perturbs l~ by ~ eps*(|c| + a*max|l|)/(a*spread); weights move by
    # at most that over r (softmax is 1/r-Lipschitz in each score, scores 2-Lipschitz in l~).
    bound = 16 * np.finfo(float).eps * (abs(c) + a * np.abs(losses).max()) / (a * spread)
    np.testing.assert_allclose(w1, w2, rtol=0, atol=4 * bound / r + 1e-15)


def test_invariance_breaks_below_the_eps_floor():
    losses = np.array([0.0, 1.0, 2.0])
    w1 = rw.sample_weights(losses, "linupper", 1.0)
    w2 = rw.sample_weights(1e-8 * losses, "linupper", 1.0)  # spread 2e-8 < eps
    assert np.abs(w1 - w2).max() > 0.1


@settings(max_examples=300)
@given(loss_batches(min_size=2), temperatures)
def test_linupper_is_non_decreasing_in_the_loss(losses, r):
    w = rw.sample_weights(losses, "linupper", r)
    order = np.argsort(losses, kind="stable")
    ws, ls = w[order], losses[order]
    diffs = np.diff(ws)
    assert np.all(diffs >= -1e-15 * ws.max())
    assert np.all(diffs[np.diff(ls) == 0] == 0)  # equal losses, equal weights


@settings(max_examples=300)
@given(loss_batches(min_size=2, low=-100.0, high=100.0), temperatures)
def test_quadratic_is_symmetric_about_the_mid_range(losses, r):
    reflected = (losses.max() + losses.min()) - losses  # l -> mirror image about mid-range
    w1 = rw.sample_weights(losses, "quadratic", r)
    w2 = rw.sample_weights(reflected, "quadratic", r)
    spread = max(losses.max() - losses.min(), 1e-6)
    bound = 16 * np.finfo(float).eps * np.abs(losses).max() / spread
    np.testing.assert_allclose(w1, w2, rtol=0, atol=4 * bound / r + 1e-15)


@settings(max_examples=300)
@given(loss_batches(), st.sampled_from(STRATEGY_NAMES), st.floats(1e10, 1e300))
def test_infinite_temperature_limit_is_uniform(losses, strategy, r):
    w = rw.sample_weights(losses, strategy, r)
    n = losses.shape[0]
    # every score lies in an interval of width <= 1 (delta = 1), so |w_i - 1/n| <= e^{1/r} - 1
    np.testing.assert_allclose(w, np.full(n, 1 / n), rtol=2 * math.expm1(1 / r) + 1e-14)


@settings(max_examples=200)
@given(
    loss_batches(min_size=1, max_size=32, low=0.0, high=50.0),
    st.sampled_from(STRATEGY_NAMES),
    temperatures,
)
def test_batched_equals_row_by_row(losses, strategy, r):
    rows = np.stack([losses, losses[::-1] * 2 + 1, np.sqrt(losses)])
    wb = wt.batched_sample_weights(rows, strategy, r)
    for i in range(3):
        np.testing.assert_array_equal(wb[i], rw.sample_weights(rows[i], strategy, r))


def test_batched_per_row_temperature():
    rows = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    wb = wt.batched_sample_weights(rows, "linupper", np.array([[0.5], [2.0]]))
    np.testing.assert_array_equal(wb[0], rw.sample_weights(rows[0], "linupper", 0.5))
    np.testing.assert_array_equal(wb[1], rw.sample_weights(rows[1], "linupper", 2.0))
