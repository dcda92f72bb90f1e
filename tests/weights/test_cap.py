"""The paper's cap rho_t <= 2 (A.5) versus what the weighting pipeline actually guarantees.

Finding (documented in ``rwtheory.weights.cap.worst_case_rho``): the pipeline does *not*
enforce the cap. The worst batch has one sample at the top score and every other one at the
bottom; for linupper that is ``losses = [0]*(n-1) + [1]``, with
``n*max w = n e^{1/r} / (e^{1/r} + n - 1)``. At the GPT-2 temperature r = 0.4 the cap
already fails for n = 3; at r = 1 for n >= 5; r >= 1/log 2 ~ 1.4427 is safe for every n.
"""

import math

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import loss_batches

import rwtheory as rw


def test_search_finds_batches_that_break_the_cap():
    """Hypothesis searches the space of batches for n*max w > 2 under linupper, r = 1."""

    def breaks_cap(losses):
        return float(rw.rho(rw.sample_weights(losses, "linupper", 1.0))) > 2.0

    example = find(
        loss_batches(min_size=1, max_size=32, low=0.0, high=10.0),
        breaks_cap,
        settings=settings(max_examples=2000, database=None, derandomize=True),
    )
    # Shrinking leads to the smallest member of the family: n = 5 (the first n that breaks
    # at r = 1), one loss above all others, the others tied at the minimum.
    assert example.shape[0] == 5
    top = np.argmax(example)
    others = np.delete(example, top)
    assert np.all(others == others.min()) and example[top] > others.min()
    assert float(rw.rho(rw.sample_weights(example, "linupper", 1.0))) == pytest.approx(
        rw.worst_case_rho("linupper", 5, 1.0), rel=1e-12
    )


@pytest.mark.parametrize("n", [2, 3, 5, 8, 32, 128, 4096])
@pytest.mark.parametrize("r", [0.4, 1.0, 2.0])
def test_counterexample_family_attains_the_closed_form(n, r):
    losses = np.zeros(n)
    losses[-1] = 1.0
    rho = float(rw.rho(rw.sample_weights(losses, "linupper", r)))
    expected = n * math.exp(1 / r) / (math.exp(1 / r) + n - 1)
    assert rho == pytest.approx(expected, rel=1e-12)
    assert rho == pytest.approx(rw.worst_case_rho("linupper", n, r), rel=1e-12)
    assert (rho > 2) == (r < rw.cap_safe_temperature("linupper", n, 2.0))


def test_paper_temperatures_against_the_cap():
    # r = 2 (Llama-7B, whose A.5 run is the only evidence the paper gives) is always safe;
    # r = 1 (Llama-1.4B) breaks from n = 5, r = 0.4 (GPT-2) from n = 3.
    assert rw.cap_safe_temperature("linupper", 10**9) == pytest.approx(1 / math.log(2), rel=1e-8)
    assert rw.worst_case_rho("linupper", 10**9, 2.0) < 2
    assert rw.worst_case_rho("linupper", 4, 1.0) <= 2 < rw.worst_case_rho("linupper", 5, 1.0)
    assert rw.worst_case_rho("linupper", 2, 0.4) <= 2 < rw.worst_case_rho("linupper", 3, 0.4)
    # the supremum grows to e^{1/r}: at r = 0.4 and n = 128 one sample can take ~11x uniform
    assert rw.worst_case_rho("linupper", 128, 0.4) == pytest.approx(
        128 * math.exp(2.5) / (math.exp(2.5) + 127), rel=1e-12
    )


@settings(max_examples=300)
@given(
    loss_batches(min_size=1, max_size=40, low=0.0, high=10.0),
    st.sampled_from(["linupper", "quadratic", "extremes", "upper", "uniform"]),
    st.floats(0.1, 5.0),
    st.floats(0.25, 4.0),
)
def test_worst_case_rho_is_an_upper_bound(losses, strategy, r, delta):
    rho = float(rw.rho(rw.sample_weights(losses, strategy, r, delta)))
    assert rho <= rw.worst_case_rho(strategy, losses.shape[0], r, delta) * (1 + 1e-12)


@pytest.mark.parametrize(
    "strategy,make",
    [
        ("quadratic", lambda n: np.r_[0.0, 0.5, np.ones(n - 2)]),  # one mid-range loss
        ("extremes", lambda n: np.r_[0.0, 1.0, np.full(n - 2, 0.5)]),  # both ends, rest mid
        ("upper", lambda n: np.r_[np.zeros(n - 1), 1.0]),
    ],
)
@pytest.mark.parametrize("n", [3, 6, 50])
def test_worst_case_rho_is_attained(strategy, make, n):
    w = rw.sample_weights(make(n), strategy, 0.7, 1.0)
    assert float(rw.rho(w)) == pytest.approx(rw.worst_case_rho(strategy, n, 0.7), rel=1e-12)


@settings(max_examples=200)
@given(
    st.integers(1, 10_000),
    st.one_of(st.just(1.0), st.floats(1.01, 8.0)),
    st.sampled_from(["linupper", "quadratic", "extremes", "upper"]),
)
def test_cap_safe_temperature_is_the_threshold(n, rho, strategy):
    r0 = rw.cap_safe_temperature(strategy, n, rho)
    if r0 == 0.0:
        assert rw.worst_case_rho(strategy, n, 1e-3) <= rho * (1 + 1e-12)
    elif r0 == math.inf:
        assert rho == 1.0 and rw.worst_case_rho(strategy, n, 1e6) > 1.0
    else:  # the returned float itself is safe (not only a hair above it), and it is tight
        assert rw.worst_case_rho(strategy, n, r0) <= rho
        assert rw.worst_case_rho(strategy, n, r0 * (1 - 1e-6)) > rho


def test_the_gallery_batch_size_is_safe_at_its_cap_safe_temperature():
    """n = 32, linupper, rho = 2 (examples/gallery/plot_batch_weights.py) printed a worst
    case of 2.0000000000000004 at the cap-safe temperature: rounding of the closed form."""
    r = rw.cap_safe_temperature("linupper", 32, 2.0)
    assert rw.worst_case_rho("linupper", 32, r) <= 2.0


@given(hnp.arrays(np.float64, st.integers(2, 30), elements=st.floats(0, 10)))
@settings(max_examples=200)
def test_kl_capped_respects_the_cap_where_linupper_does_not(gaps):
    w = rw.kl_capped_weights(gaps, 1.0, rho=2.0)
    assert w.max() <= 2.0 / gaps.shape[0]


def test_numpy_integers_are_accepted_as_batch_sizes():
    assert rw.worst_case_rho("linupper", np.int64(10), 1.0) == rw.worst_case_rho(
        "linupper", 10, 1.0
    )
    assert rw.cap_safe_temperature("extremes", np.int32(64)) == rw.cap_safe_temperature(
        "extremes", 64
    )


@pytest.mark.parametrize("strategy", ["quadratic", "extremes"])
def test_batches_below_min_batch_are_uniform_and_every_temperature_is_safe(strategy):
    """Both records have min_batch 3: a batch of two has its losses at the two ends, which
    score alike, so the weights are uniform at any temperature. The cap analysis must say
    so exactly (sup rho = 1, and no temperature breaks even the cap rho = 1), and from
    three samples on the bound bites."""
    w = rw.sample_weights(np.array([0.0, 1.0]), strategy, 0.01)
    assert float(rw.rho(w)) == 1.0
    assert rw.worst_case_rho(strategy, 2, 0.01) == 1.0
    assert rw.cap_safe_temperature(strategy, 2, 1.0) == 0.0
    assert rw.worst_case_rho(strategy, 3, 0.01) > 1.4
