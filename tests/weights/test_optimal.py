"""Proposition 1's closed form (docs/theory.md §5): a KKT certificate, agreement with the
reference solvers of rwtheory.theory.reference_solvers (cvxpy, bisection) and its known limits."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import gap_batches

import rwtheory as rw
from rwtheory.theory.reference_solvers import kl_capped_weights_bisection, kl_capped_weights_cvxpy
from rwtheory.weights import optimal
from rwtheory.weights.optimal import batched_kl_capped_weights

RHOS = st.one_of(st.sampled_from([1.0, 1.5, 2.0, 4.0]), st.floats(1.0, 6.0))


def assert_kkt(w, gaps, r, rho, rtol=1e-9):
    """Independent optimality certificate of w for docs/theory.md §5's problem (KKT conditions,
    written with differences of gaps so that it holds at any scale):

    * sum w = 1, 0 <= w <= rho/n;
    * uncapped entries (w < rho/n): log w_i - log w_h = (gap_i - gap_h)/r, where h is the
      largest uncapped entry (checked for weights above 1e-300: subnormals carry no relative
      precision); an entry that underflowed to 0 must have a log-weight below -700;
    * capped entries: (gap_i - gap_h)/r >= log(rho/n) - log w_h.
    """
    n = gaps.shape[0]
    cap = min(rho / n, 1.0)
    assert abs(w.sum() - 1) <= 1e-12 and np.all(w >= 0) and w.max() <= cap
    uncapped = w < cap * (1 - 1e-12)
    if not uncapped.any():
        return
    h = np.flatnonzero(uncapped)[np.argmax(w[uncapped])]
    if w[h] == 0:  # the capped entries hold all the mass; the rest underflowed
        return
    with np.errstate(over="ignore"):
        d = (gaps - gaps[h]) / r  # may be -inf: exp(-inf) = 0
    pos = uncapped & (w > 1e-300)  # subnormal weights carry no relative precision
    lhs = np.log(w[pos]) - np.log(w[h])
    np.testing.assert_allclose(lhs, d[pos], rtol=rtol, atol=1e-11)
    zero = uncapped & (w == 0)
    assert np.all(d[zero] + np.log(w[h]) < -700)
    capped = ~uncapped
    assert np.all(d[capped] >= np.log(cap) - np.log(w[h]) - 1e-9 * (1 + np.abs(d[capped])))


def objective(w, gaps, r):
    """-sum w*gaps + r * sum w log(n w) (0 log 0 = 0)."""
    n = len(w)
    safe = np.where(w > 0, w, 1.0)
    return -(w @ gaps) + r * np.sum(np.where(w > 0, w * np.log(n * safe), 0.0))


# ------------------------------------------------------------------ properties (>= 200)
@settings(max_examples=300)
@given(gap_batches(max_size=40, high=100.0), st.floats(1e-3, 1e3), RHOS)
def test_on_simplex_and_never_above_the_cap(gaps, r, rho):
    w = rw.kl_capped_weights(gaps, r, rho)
    n = gaps.shape[0]
    assert np.all(w >= 0)
    assert abs(w.sum() - 1) <= 1e-12
    assert w.max() <= min(rho / n, 1.0)


@settings(max_examples=250)
@given(
    gap_batches(min_size=1, max_size=10, high=10.0),
    st.floats(0.05, 20.0),
    st.one_of(RHOS, st.just(math.inf)),
)
def test_equals_the_cvxpy_solution(gaps, r, rho):
    w = rw.kl_capped_weights(gaps, r, rho)
    ref, attempt, status, residual = kl_capped_weights_cvxpy(gaps, r, rho)
    assert np.abs(w - ref).max() <= 1e-6, (attempt, status, residual)
    # and the closed form is at least as good as the solver's point
    assert objective(w, gaps, r) <= objective(np.clip(ref, 0, None), gaps, r) + 1e-9


@settings(max_examples=250)
@given(gap_batches(min_size=1, max_size=50, high=10.0), st.floats(0.01, 50.0), RHOS)
def test_equals_bisection(gaps, r, rho):
    w = rw.kl_capped_weights(gaps, r, rho)
    wb = kl_capped_weights_bisection(gaps, r, rho, tol=1e-13)
    np.testing.assert_allclose(w, wb, rtol=0, atol=1e-11)


@settings(max_examples=250)
@given(gap_batches(min_size=2, max_size=40), st.floats(0.01, 100.0), RHOS)
def test_weights_are_monotone_in_the_gap_and_equal_on_ties(gaps, r, rho):
    w = rw.kl_capped_weights(gaps, r, rho)
    order = np.argsort(gaps, kind="stable")
    assert np.all(np.diff(w[order]) >= -1e-15)
    for v in np.unique(gaps):
        tied = w[gaps == v]
        assert tied.max() - tied.min() <= 1e-15


@settings(max_examples=250)
@given(
    st.integers(2, 40),
    st.sampled_from([1.0, 1.5, 2.0, 3.0, 4.0, 7.5]),
    st.randoms(use_true_random=False),
)
def test_zero_temperature_limit_is_the_lp_structure(n, rho, random):
    """r -> 0: rho/n on the top floor(n/rho) gaps, the remainder on the next one
    ("half the data discarded" for rho = 2)."""
    gaps = np.array(random.sample(range(1000), n), dtype=float) / 10  # distinct, >= 0.1 apart
    w = rw.kl_capped_weights(gaps, 1e-8, rho)
    order = np.argsort(-gaps)
    cap = min(rho / n, 1.0)
    k = math.floor(n / rho) if rho <= n else 1
    expected = np.zeros(n)
    expected[order[:k]] = cap
    if k < n:
        expected[order[k]] = 1 - k * cap
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-12)
    if rho == 2.0:  # the paper's remark: without the KL term half the data gets no weight
        assert np.sum(w > 1e-12) == math.ceil(n / 2)


@settings(max_examples=200)
@given(gap_batches(min_size=1, max_size=30, high=1e3), st.floats(1e-6, 1e6))
def test_rho_one_is_uniform(gaps, r):
    np.testing.assert_array_equal(
        rw.kl_capped_weights(gaps, r, 1.0), np.full(gaps.shape[0], 1 / gaps.shape[0])
    )


@settings(max_examples=200)
@given(
    gap_batches(min_size=1, max_size=30, high=100.0), st.floats(0.01, 100.0), st.floats(1.0, 3.0)
)
def test_rho_at_least_n_is_dro_kl(gaps, r, factor):
    n = gaps.shape[0]
    w = rw.kl_capped_weights(gaps, r, factor * n)
    np.testing.assert_allclose(w, rw.dro_kl_weights(gaps, r), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(rw.kl_capped_weights(gaps, r, math.inf), w, rtol=1e-13)


@settings(max_examples=200)
@given(gap_batches(min_size=1, max_size=30, high=1.0), RHOS)
def test_infinite_temperature_limit_is_uniform(gaps, rho):
    w = rw.kl_capped_weights(gaps, 1e12, rho)
    np.testing.assert_allclose(w, np.full(gaps.shape[0], 1 / gaps.shape[0]), rtol=1e-11)


# ------------------------------------------------------------------ extreme inputs
@pytest.mark.parametrize("r", [1e-8, 1e-4, 1.0, 1e4, 1e8])
@pytest.mark.parametrize("rho", [1.5, 2.0, 4.0])
def test_gaps_spanning_1e_minus_300_to_1e300(r, rho):
    rng = np.random.default_rng(7)
    gaps = 10.0 ** rng.uniform(-300, 300, size=64)
    gaps[:4] = [0.0, 1e-300, 1e300, 1e300]  # zero, tiny, and a tie at the top
    w = rw.kl_capped_weights(gaps, r, rho)
    n = gaps.shape[0]
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    assert abs(w.sum() - 1) <= 1e-12 and w.max() <= rho / n
    assert w[2] == w[3] == rho / n  # the tied largest gaps are capped
    assert_kkt(w, gaps, r, rho)


@settings(max_examples=300)
@given(
    hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(-300, 300)),
    st.floats(-8, 8),
    st.one_of(RHOS, st.just(math.inf)),
)
def test_kkt_certificate_over_extreme_scales(log_gaps, log_r, rho):
    gaps = 10.0**log_gaps
    gaps[log_gaps < -299] = 0.0
    r = 10.0**log_r
    assert_kkt(rw.kl_capped_weights(gaps, r, rho), gaps, r, rho)


@settings(max_examples=200)
@given(gap_batches(min_size=1, max_size=40, high=100.0), st.floats(1e-3, 1e3), RHOS)
def test_kkt_certificate_on_moderate_inputs(gaps, r, rho):
    assert_kkt(rw.kl_capped_weights(gaps, r, rho), gaps, r, rho)


def test_overflowing_scaled_gaps_fall_back_to_block_water_filling():
    """(gap spread)/r beyond float64 range: entries infinitely smaller than the head get
    mass only when the cap forces it, and then share it by their own relative values."""
    w = rw.kl_capped_weights(np.array([1e300, 0.0, 0.0, 0.0]), 1e-12, 2.0)
    np.testing.assert_allclose(w, [0.5, 1 / 6, 1 / 6, 1 / 6], rtol=1e-15)
    w = rw.kl_capped_weights(np.array([1e300, 1e-300, 0.0, 5e299, 1e299]), 1e-12, 2.0)
    np.testing.assert_allclose(w, [0.4, 0.0, 0.0, 0.4, 0.2], rtol=1e-15)


@pytest.mark.parametrize("r", [1e-8, 1e8])
def test_temperature_extremes(r):
    gaps = np.array([3.0, 1.0, 2.0, 2.0, 0.0, 5.0])
    w = rw.kl_capped_weights(gaps, r, 2.0)
    if r == 1e-8:
        np.testing.assert_allclose(w, [1 / 3, 0, 1 / 3 * 0.5, 1 / 3 * 0.5, 0, 1 / 3], atol=1e-15)
    else:
        np.testing.assert_allclose(w, np.full(6, 1 / 6), rtol=1e-7)


def test_batched_rows_match_single_rows(rng):
    gaps = rng.exponential(size=(5, 3, 17))
    gaps[0, 0, :3] = gaps[0, 0, 3]  # ties
    wb = batched_kl_capped_weights(gaps, 0.3, 2.0)
    for idx in np.ndindex(5, 3):
        np.testing.assert_array_equal(wb[idx], rw.kl_capped_weights(gaps[idx], 0.3, 2.0))


def test_gamma_of_optimal_weights_beats_uniform_and_linupper(rng):
    """Prop. 1's weights maximise the KL-regularised numerator of Gamma; at small r that
    makes Gamma at least linupper's on the same gaps (used as losses)."""
    gaps = rng.exponential(size=256)
    w_opt = rw.kl_capped_weights(gaps, 0.05, 2.0)
    w_lin = rw.sample_weights(gaps, "linupper", 1.0)
    assert float(rw.gamma(w_opt, gaps)) > float(rw.gamma(w_lin, gaps)) > 1.0


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(0, 10)), st.floats(0.05, 5.0))
@settings(max_examples=200)
def test_dro_kl_is_softmax_of_raw_losses(losses, tau):
    e = np.exp((losses - losses.max()) / tau)
    np.testing.assert_allclose(rw.dro_kl_weights(losses, tau), e / e.sum(), rtol=1e-13)


@pytest.mark.parametrize("n", [2048, 5000, 65536])
@pytest.mark.parametrize("r", [1e-3, 0.05, 1.0, 30.0])
@pytest.mark.parametrize("dist", ["exponential", "lognormal", "ties"])
def test_long_rows_take_the_bracketed_path_and_stay_exact(n, r, dist):
    """Rows of >= BRACKET_MIN_N sort only the candidates; the answer must be the same as
    sorting everything (the batched path with one row) and satisfy KKT."""
    rng = np.random.default_rng(n)
    gaps = {
        "exponential": rng.exponential(size=n),
        "lognormal": rng.lognormal(0.0, 1.5, size=n),
        "ties": rng.integers(0, 5, size=n).astype(float),
    }[dist]
    w = rw.kl_capped_weights(gaps, r, 2.0)
    assert_kkt(w, gaps, r, 2.0)
    np.testing.assert_allclose(
        w, batched_kl_capped_weights(gaps[None, :], r, 2.0)[0], rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize(
    "n,rho",
    [(36, 3.999999999999999), (10, 2.0000000000000004), (7, 7 / 3), (100, 1.0000000000000002)],
)
def test_caps_that_leave_almost_no_mass_for_the_head(n, rho):
    """n / rho a hair off an integer: the last position with mass left holds 1 - p c ~ 1e-16
    (found by hypothesis under another example order)."""
    for gaps in (np.zeros(n), np.arange(n, dtype=float)):
        w = rw.kl_capped_weights(gaps, 1.0, rho)
        assert_kkt(w, gaps, 1.0, rho)


@pytest.mark.parametrize(
    "n,r,rho,dtype,tol",
    [
        (70_000, 5.2, 1.0001, np.float64, 1e-12),
        (1_000_000, 5.2, 1.0001, np.float64, 1e-12),
        (50_000, 0.044, 2.0, np.float32, 2e-6),
        (3000, 1.0, 2.0, np.float64, 1e-12),
    ],
)
def test_sum_to_one_does_not_degrade_with_n(n, r, rho, dtype, tol):
    """Found by review: a sequential cumulative sum as the normaliser drifted to 7.8e-12 at
    n = 1e6 (float64) and 3.5e-5 at n = 5e4 (float32, tied gaps)."""
    gaps = np.zeros(n, dtype=dtype)
    gaps[0] = 1.0
    w = rw.kl_capped_weights(gaps, r, rho)
    assert abs(float(w.astype(np.float64).sum()) - 1) <= tol
    rows = np.stack([gaps, gaps[::-1]])[:, :5000]
    wb = batched_kl_capped_weights(rows, r, rho)
    assert np.all(np.abs(wb.astype(np.float64).sum(-1) - 1) <= tol)


@pytest.mark.parametrize("r", [1e-39, 1e-50])
def test_a_temperature_below_float32_is_widened(r):
    """float32 gaps with a temperature float32 cannot hold as a normal number: computed in
    float64, returned in float32, equal to the float64 weights rounded once (mutation
    testing: the widening line's mutants survived the tests of this selection)."""
    gaps = np.float32([0.5, 2.0, 1.0, 4.0, 3.0, 0.25])
    w = rw.kl_capped_weights(gaps, r, 2.0)
    assert w.dtype == np.float32
    np.testing.assert_array_equal(
        w, rw.kl_capped_weights(gaps.astype(np.float64), r, 2.0).astype(np.float32)
    )
    np.testing.assert_allclose(w, [0, 1 / 3, 0, 1 / 3, 1 / 3, 0], rtol=1e-6, atol=0)  # the top 3
    wb = batched_kl_capped_weights(np.stack([gaps, gaps[::-1]]), r, 2.0)
    assert wb.dtype == np.float32
    np.testing.assert_array_equal(wb[0], w)


@pytest.mark.parametrize("n", [50, 5000])
def test_underflow_is_not_an_error_even_where_numpy_raises(n):
    """exp of scaled gaps far below the maximum underflows to 0 on purpose (the relative
    path then takes over); a caller who made numpy raise on underflow must still get the
    weights, not a FloatingPointError (mutation testing: errstate's ``under`` dropped)."""
    gaps = np.linspace(0.0, 1000.0, n)
    expected = rw.kl_capped_weights(gaps, 1.0, 2.0)
    with np.errstate(under="raise"):
        w = rw.kl_capped_weights(gaps, 1.0, 2.0)
    np.testing.assert_array_equal(w, expected)
    assert abs(w.sum() - 1) <= 1e-12


def _p_max_definition(n, cap):
    """The last p in [0, n - 1] with 1 - p*cap > 0 in floating point, by scanning them all."""
    return max(p for p in range(n) if 1 - p * cap > 0)


def _rounding_edge_caps():
    """(n, cap = rho/n) with rho = n/k and its float neighbours: fl(1/cap) then falls next to
    the whole number k, on either side, as often as not (n = 6, rho = 1.2: fl(1/cap) = 5.0
    although 1 - 5*cap > 0)."""
    out = []
    for n in (6, 7, 11, 24, 97, 100, 1000, 4099):
        for k in sorted({1, 2, 3, 5, 7, 10, n // 3, n // 2, n - 1}):
            rho = n / k
            for r in (
                math.nextafter(math.nextafter(rho, 0), 0),
                math.nextafter(rho, 0),
                rho,
                math.nextafter(rho, math.inf),
            ):
                if 1 < r <= n:
                    out.append((n, r / n))
    return out


def test_p_max_is_its_definition():
    """Mutation testing: the loop that climbs from the estimate ceil(1/cap) - 1 survived every
    test (its mutants -- `p + 2 < n`, `(p + 1) / cap`, `(p + 2) * cap`, `> 1` -- stop early),
    as no test used a cap at which fl(1/cap) rounds below a whole number. At these caps the
    estimate is one short in 12 of the 233 cases; the result must equal the definition,
    and the estimate must never be too high (the proof in _p_max's docstring)."""
    cases = _rounding_edge_caps()
    short = 0
    for n, cap in cases:
        expected = _p_max_definition(n, cap)
        assert optimal._p_max(n, cap) == expected, (n, cap)
        start = min(n - 1, math.ceil(1 / cap) - 1)
        assert start <= expected, (n, cap)
        short += start < expected
    assert short > 0  # the climbing loop is exercised, not just present


@settings(max_examples=300)
@given(st.integers(2, 10**6), st.floats(1.0, 1e6, exclude_min=True))
def test_p_max_start_is_never_too_high(n, rho):
    """The proof in _p_max's docstring, checked on random caps: the estimate ceil(1/cap) - 1
    never has 1 - p*cap <= 0 (that is why no loop lowers it)."""
    rho = min(rho, float(n))
    if rho <= 1:
        return
    cap = rho / n
    p = min(n - 1, math.ceil(1 / cap) - 1)
    assert p == 0 or 1 - p * cap > 0
    assert optimal._p_max(n, cap) >= p


# ------------------------------------------------------------------ the bracket's certificate
def _misleading_row(n, seed):
    """Gaps up to 600 (scaled spread near float64's exp range) whose strided sample (every
    (n // 512)-th entry, the bracket's first sample) sees only gaps below 1: the estimate of
    the capping threshold is far off and only the exact mass test can reject it."""
    rng = np.random.default_rng(seed)
    gaps = rng.uniform(0, 600, n)
    gaps[:: n // 512] = rng.uniform(0, 1, gaps[:: n // 512].shape[0])
    return gaps


@pytest.mark.parametrize("n", [8192, 20000])
@pytest.mark.parametrize("rho", [1.0001, 1.01, 2.0])
def test_a_misleading_sample_cannot_certify_a_wrong_bracket(n, rho):
    """Found by mutation testing (benchmarks/mutation.py): the upper end of the bracket was
    certified with (sum of candidates) - (sum above it), which cancels to noise when the
    capped entries hold almost all of e; a bracket below the threshold passed and the weights
    summed to 0.97 (n = 8192, rho = 1.01)."""
    gaps = _misleading_row(n, seed=n)
    w = rw.kl_capped_weights(gaps, 1.0, rho)
    assert abs(w.sum() - 1) <= 1e-12
    assert_kkt(w, gaps, 1.0, rho)
    np.testing.assert_allclose(
        w, kl_capped_weights_bisection(gaps, 1.0, rho, tol=1e-13), rtol=0, atol=1e-11
    )
    np.testing.assert_allclose(
        w, batched_kl_capped_weights(gaps[None, :], 1.0, rho)[0], rtol=1e-12, atol=1e-15
    )


def _assert_small_bracket_is_exact(gaps, r, rho, sample):
    """Solve one row with the bracket on (from 64 entries), a strided sample of ``sample``
    entries and a finish size of 4, so that poor estimates and several stages happen: the
    weights must sum to 1, satisfy KKT and equal sorting the whole row (the batched path)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(optimal, "BRACKET_MIN_N", 64)
        mp.setattr(optimal, "BRACKET_SAMPLE", sample)
        mp.setattr(optimal, "BRACKET_FINISH", 4)
        w = rw.kl_capped_weights(gaps, r, rho)
    assert abs(w.sum() - 1) <= 1e-12
    assert_kkt(w, gaps, r, rho)
    np.testing.assert_allclose(
        w, batched_kl_capped_weights(gaps[None, :], r, rho)[0], rtol=1e-12, atol=1e-15
    )


@settings(max_examples=200)
@given(
    st.integers(64, 400),
    st.sampled_from(["exponential", "lognormal", "ties", "sorted", "misleading"]),
    st.integers(0, 2**32 - 1),
    st.floats(0.01, 10.0),
    RHOS,
)
def test_the_bracket_is_exact_whatever_its_sample_size(n, dist, seed, r, rho):
    """The sampled estimate only proposes a bracket; the exact mass test decides. With a
    sample of 8 and a finish size of 4 (``BRACKET_SAMPLE``, ``BRACKET_FINISH``) on rows of
    64+ entries, estimates are poor, brackets get rejected and widened, and several stages
    run, so every branch of the certificate decides the answer: it must equal sorting the
    whole row (the batched path) and satisfy KKT."""
    rng = np.random.default_rng(seed)
    gaps = {
        "exponential": lambda: rng.exponential(size=n),
        "lognormal": lambda: rng.lognormal(0.0, 2.0, size=n),
        "ties": lambda: rng.integers(0, 6, size=n).astype(float),
        "sorted": lambda: np.sort(rng.exponential(size=n))[::-1].copy(),
        "misleading": lambda: np.where(
            np.arange(n) % 8 == 0, rng.uniform(0, 1, n), rng.uniform(0, 60, n)
        ),
    }[dist]()
    _assert_small_bracket_is_exact(gaps, r, rho, sample=8)


def _sample_sees_high_row(n, seed):
    """Gaps whose every (n // 8)-th entry -- half of a 16-entry strided sample -- lies at the
    top of the row (50..60), while about 30 % of the others lie in 30..50 and the rest in
    0..5: the sample's estimate of the capping threshold is too high, so it can propose a
    lower end of the bracket above the threshold (capped entries settled as free)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return np.where(
        i % (n // 8) == 0,
        rng.uniform(50, 60, n),
        np.where(rng.random(n) < 0.3, rng.uniform(30, 50, n), rng.uniform(0, 5, n)),
    )


@pytest.mark.timeout(60)
def test_a_bracket_that_settles_nothing_ends_the_stages():
    """70 % of the gaps tied at 0, the rest in 0..30, r = 0.1, rho = 1.01, a 16-entry sample:
    the estimate sits mid-sample, the bracket is (-inf, inf) at once and settles nothing, so
    the stages must stop and sort the rest (mutation testing: `settled` always true loops
    forever here -- it survived, as no test reached this state)."""
    rng = np.random.default_rng(0)
    gaps = np.where(rng.random(280) < 0.7, 0.0, rng.uniform(0, 30, 280))
    _assert_small_bracket_is_exact(gaps, 0.1, 1.01, sample=16)


def test_finish_with_every_candidate_capped():
    """The long-row path's last step, given the state in which no candidate is free: three
    candidates e = 1, 0.9, 0.8 above 37 free entries of e = 0.001 with cap 0.2 -- (*) fails
    at every candidate, so all three take the cap and the free entries share the rest. This
    is the exact optimum of the whole row (mutation testing: this branch -- reached by the
    bracket only when its lower end sits exactly at theta* -- had 3 survivors)."""
    r, rho = 1.0, 8.0
    e = np.r_[1.0, 0.9, 0.8, np.full(37, 0.001)]
    gaps = r * np.log(e) + 10.0
    cap = rho / e.shape[0]
    e_row = np.exp((gaps - gaps.max()) / r)
    w = optimal._finish(
        e_row.copy(),
        np.sort(e_row[:3]),
        0,
        float(e_row[3:].sum()),
        cap,
        optimal._p_max(e_row.shape[0], cap),
        np,
    )
    np.testing.assert_allclose(w[:3], cap, rtol=1e-15)
    assert abs(w.sum() - 1) <= 1e-12
    np.testing.assert_allclose(w, rw.kl_capped_weights(gaps, r, rho), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "n, seed, r, rho", [(200, 1644794486, 5.0, 1.01), (1000, 1766748283, 0.5, 2.0)]
)
def test_a_lower_end_above_the_threshold_is_rejected(n, seed, r, rho):
    """Mutation testing (benchmarks/mutation.py) left the lower end's certificate
    cap * (#(e >= lo) + sum_{e < lo} e / lo) >= 1 untested: loosening its count (k_below
    taken as 0, n + n_below, or n_below's bookkeeping broken across stages) survived every
    test, as no sample had proposed a lower end above the threshold. These rows make the
    sample (16 entries, finish size 4, so that several stages run) do so; the found
    instances kill all four mutants. The weights must equal sorting the whole row."""
    _assert_small_bracket_is_exact(_sample_sees_high_row(n, seed), r, rho, sample=16)


# ------------------------------------------------------------------ batched rows at the edges
_NEAR_ONE = st.sampled_from([1.0000000000000002, 1.0001, 1.01, 1.1, 1.2, 1.3])


@settings(max_examples=250)
@given(
    st.integers(1, 4),
    st.integers(2, 12),
    st.integers(0, 2**32 - 1),
    st.sampled_from([1e-3, 0.3, 3.0]),
    st.one_of(RHOS, _NEAR_ONE),
)
def test_batched_rows_equal_single_rows(b, n, seed, r, rho):
    """The batched path (counted head, _count_head) and the 1-D path (its own count) share
    no head-finding code: rows must agree to rounding (a batch takes the relative path for
    every row once one row needs it; exp's rounding then differs by |scaled gap| ulp, up to
    ~1.6e-13 relative), also when rho < n / (n - 1) puts the head at the last position with mass
    left, so that only the smallest entry stays free."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(size=(b, n)) * rng.choice([1.0, 30.0], size=(b, 1))
    gaps[0, : n // 2] = gaps[0, n // 2]  # ties in the first row
    wb = batched_kl_capped_weights(gaps, r, rho)
    for i in range(b):
        np.testing.assert_allclose(
            wb[i], rw.kl_capped_weights(gaps[i], r, rho), rtol=1e-12, atol=1e-300
        )


def test_batched_default_cap_is_the_papers_2():
    gaps = np.array([[0.0, 1.0, 2.0, 5.0], [3.0, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(
        batched_kl_capped_weights(gaps, 0.5), batched_kl_capped_weights(gaps, 0.5, 2.0)
    )
    assert batched_kl_capped_weights(gaps, 0.5).max() == 2.0 / 4  # the cap binds
    np.testing.assert_array_equal(
        rw.kl_capped_weights(gaps[0], 0.5), rw.kl_capped_weights(gaps[0], 0.5, 2.0)
    )
    with pytest.raises(ValueError, match=r"gaps must be 1-D, got shape \(2, 4\)"):
        rw.kl_capped_weights(gaps, 0.5)  # rows: batched_kl_capped_weights


@pytest.mark.parametrize("gaps", [[100.0, 0.0, 0.0, 0.0], [1.0, 0.0, 3.0, 2.0]])
def test_float32_rows_stay_float32_on_every_path(gaps):
    """[100, 0, 0, 0] at r = 1 passes float32's exp range (the relative path); the other
    row takes the sorting path."""
    g = np.array(gaps, dtype=np.float32)
    for w in (rw.kl_capped_weights(g, 1.0, 2.0), batched_kl_capped_weights(g[None], 1.0, 2.0)):
        assert w.dtype == np.float32
        assert abs(float(w.astype(np.float64).sum()) - 1) <= 1e-6 and w.max() <= 0.5


def test_batched_rows_with_huge_scaled_spreads_are_independent():
    """Rows past float64's exp range (the relative doubling-scan path) differ in where their
    head sits; each row must be solved on its own (sorting, counting and normalising
    along the last axis only)."""
    gaps = np.array(
        [
            [1e300, 0.0, 0.0, 0.0, 1e-300, 5e299],
            [0.0, 2e300, 1e300, 3e300, 1e299, 0.0],
            [1.0, 0.0, 1e300, 2.0, 3.0, 4.0],
        ]
    )
    for rho in (1.2, 2.0, 4.0):
        wb = batched_kl_capped_weights(gaps, 1e-12, rho)
        for i in range(gaps.shape[0]):
            np.testing.assert_allclose(
                wb[i], rw.kl_capped_weights(gaps[i], 1e-12, rho), rtol=1e-12, atol=1e-300
            )
            assert_kkt(wb[i], gaps[i], 1e-12, rho)


@pytest.mark.parametrize("k_free", [1, 2, 7])
def test_long_rows_with_all_but_a_few_entries_capped(k_free):
    """rho close to 1 on a long row: all tied top entries are capped and the last few
    positions with mass left hold the head (the bracketed path's count at its limit)."""
    n = 4096
    gaps = np.full(n, 10.0)
    gaps[:k_free] = np.linspace(0.0, 1.0, k_free)
    rho = n / (n - k_free) * (1 - 1e-4)  # caps n - k_free entries: just under the mass 1
    w = rw.kl_capped_weights(gaps, 1.0, rho)
    assert_kkt(w, gaps, 1.0, rho)
    assert np.all(w[k_free:] == rho / n) and np.all(w[:k_free] < rho / n)
    np.testing.assert_allclose(
        w, batched_kl_capped_weights(gaps[None, :], 1.0, rho)[0], rtol=1e-12, atol=1e-15
    )
