"""Bad input: a ValueError/TypeError naming the argument and what is allowed, never a NaN
and never a traceback from deep inside numpy."""

import math

import numpy as np
import pytest
import torch

import rwtheory as rw
from rwtheory.weights.optimal import batched_kl_capped_weights
from rwtheory.weights.pipeline import batched_sample_weights

GOOD = np.array([0.5, 1.0, 2.0])


@pytest.mark.parametrize(
    "bad,kind,match",
    [
        (np.array([1.0, np.nan]), ValueError, r"losses must be finite, got nan at index 1"),
        (np.array([np.inf, 1.0]), ValueError, r"losses must be finite, got inf at index 0"),
        (torch.tensor([1.0, -math.inf]), ValueError, r"losses must be finite, got -inf at index 1"),
        (np.array([]), ValueError, r"losses must be non-empty"),
        (np.ones((2, 3)), ValueError, r"losses must be 1-D, got shape \(2, 3\)"),
        (np.float64(3.0), ValueError, r"losses must be 1-D, got shape \(\)"),
        ("abc", TypeError, r"losses must be a numpy array or a torch tensor, got str"),
        (np.array([True, False]), TypeError, r"losses must hold real numbers, got dtype bool"),
        (np.array([1 + 2j]), TypeError, r"losses must hold real numbers, got complex"),
        ([[1.0], [1.0, 2.0]], TypeError, r"losses must be a rectangular array"),
    ],
)
def test_bad_losses(bad, kind, match):
    with pytest.raises(kind, match=match):
        rw.sample_weights(bad)


@pytest.mark.parametrize("r", [0.0, -1.0, math.inf, math.nan])
def test_bad_temperature_is_refused_by_every_entry_point(r):
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        rw.sample_weights(GOOD, "linupper", r)
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        rw.kl_capped_weights(GOOD, r)
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        batched_kl_capped_weights(np.atleast_2d(GOOD), r)
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        rw.dro_kl_weights(GOOD, r)


def test_temperature_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"temperature must be a real number"):
        rw.sample_weights(GOOD, "linupper", "hot")
    with pytest.raises(TypeError, match=r"temperature must be a real number"):
        rw.sample_weights(GOOD, "linupper", None)


def test_unknown_strategy():
    with pytest.raises(
        ValueError,
        match=r"strategy must be one of \['extremes', 'linupper', "
        r"'quadratic', 'uniform', 'upper'\], got 'linear'",
    ):
        rw.sample_weights(GOOD, "linear")


@pytest.mark.parametrize("delta", [0.0, -1.0, math.inf])
def test_bad_delta(delta):
    with pytest.raises(ValueError, match=r"delta must be a finite number > 0"):
        rw.normalize_losses(GOOD, delta)


@pytest.mark.parametrize("rho", [0.999, 0.0, -2.0, math.nan])
def test_bad_rho(rho):
    with pytest.raises(ValueError, match=r"rho must be >= 1"):
        rw.kl_capped_weights(GOOD, 1.0, rho)


def test_negative_or_non_finite_gaps():
    with pytest.raises(ValueError, match=r"gaps must be >= 0.*got minimum -0.5"):
        rw.kl_capped_weights(np.array([1.0, -0.5]), 1.0)
    with pytest.raises(ValueError, match=r"gaps must be finite, got nan at index 0"):
        rw.kl_capped_weights(np.array([np.nan, 1.0]), 1.0)
    with pytest.raises(ValueError, match=r"gaps must be finite, got inf at index 1"):
        rw.kl_capped_weights(torch.tensor([1.0, math.inf]), 1.0)
    with pytest.raises(ValueError, match=r"gaps must be >= 0"):
        rw.gamma(np.array([0.5, 0.5]), np.array([1.0, -1.0]))


def test_gamma_and_rho_need_simplex_weights():
    with pytest.raises(ValueError, match=r"weights must sum to 1"):
        rw.gamma(np.array([0.5, 0.6]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"weights must be >= 0"):
        rw.rho(np.array([1.5, -0.5]))
    with pytest.raises(ValueError, match=r"weights and gaps must have the same shape"):
        rw.gamma(np.array([0.5, 0.5]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match=r"gaps must be the same kind of array"):
        rw.gamma(np.array([0.5, 0.5]), torch.tensor([1.0, 2.0]))


def test_batched_functions_reject_per_row_temperature_that_is_not_positive():
    with pytest.raises(ValueError, match=r"temperature must be finite and > 0 everywhere"):
        batched_sample_weights(np.ones((2, 3)), "linupper", np.array([[1.0], [0.0]]))


def test_worst_case_rho_arguments():
    with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
        rw.worst_case_rho("linupper", 0, 1.0)
    with pytest.raises(ValueError, match=r"rho must be a finite number >= 1"):
        rw.cap_safe_temperature("linupper", 10, 0.5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rw.constant_schedule(0.0),
        lambda: rw.warmup_schedule(1.0, -1),
        lambda: rw.warmup_schedule(math.nan, 10),
        lambda: rw.linear_schedule(1.0, 0.0, 10),
    ],
)
def test_bad_schedule_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_schedule_steps_must_be_integers():
    with pytest.raises(TypeError, match=r"steps must be an integer, got 1.5"):
        rw.cosine_schedule(1.0, 2.0, 1.5)


def test_schedule_step_must_be_a_non_negative_integer():
    s = rw.warmup_schedule(0.4, 10)
    with pytest.raises(ValueError, match=r"step must be an integer >= 0, got -1"):
        s(-1)
    for step in (2.5, "3", True, None):
        with pytest.raises(TypeError, match=r"step must be an integer, got"):
            s(step)


def test_no_nan_ever_leaves_the_pipeline_on_extreme_but_valid_input():
    losses = np.array([1e308, -1e308, 0.0, 1e-308])
    for s in rw.STRATEGIES:
        w = rw.sample_weights(losses, s, 1e-300)
        assert np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-12
    w = rw.dro_kl_weights(losses, 1e-300)
    assert np.all(np.isfinite(w))


# ------------------------------------------------------------------ exotic arrays
def _nested():
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")  # "prototype stage"
        return torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda: torch.tensor([1.0, 2.0, 3.0]).to_sparse(),
            r"losses must be a dense \(strided\) "
            r"tensor, got layout torch.sparse_coo",
        ),
        (lambda: torch.ones(2, 2).to_sparse_csr(), r"losses must be a dense"),
        (
            lambda: torch.empty(3, device="meta"),
            r"losses must hold data, got a tensor on the 'meta'",
        ),
        (_nested, r"losses must be a dense tensor, got a nested tensor"),
        (
            lambda: np.ma.masked_array([1.0, 2.0], mask=[0, 1]),
            r"losses must be a plain numpy array",
        ),
        (lambda: np.array(["0.5", "1"]), r"losses must hold real numbers, got dtype <U3"),
        (lambda: np.array([1.0, None]), r"losses must hold real numbers, got dtype object"),
        (lambda: np.array(["2020-01-01"], dtype="datetime64[D]"), r"losses must hold real numbers"),
        (lambda: torch.tensor([1 + 1j, 2]), r"losses must hold real numbers, got complex"),
        (lambda: [0.5, "1"], r"losses must hold real numbers"),
    ],
)
def test_exotic_arrays_are_a_type_error_naming_the_argument(make, match):
    bad = make()
    with pytest.raises(TypeError, match=match):
        rw.sample_weights(bad)


@pytest.mark.parametrize(
    "fn",
    [
        lambda bad: rw.kl_capped_weights(bad, 1.0),
        lambda bad: rw.dro_kl_weights(bad, 1.0),
        lambda bad: rw.tempered_softmax(bad, 1.0),
        lambda bad: rw.rho(bad),
    ],
)
def test_sparse_input_is_refused_by_every_function(fn):
    with pytest.raises(TypeError, match=r"must be a dense \(strided\) tensor"):
        fn(torch.tensor([0.5, 0.5]).to_sparse())


# ------------------------------------------------------------------ scalars
@pytest.mark.parametrize(
    "value,kind,match",
    [
        (np.complex128(1.0), TypeError, r"temperature must be a real number, got the complex"),
        (1 + 0j, TypeError, r"temperature must be a real number, got the complex"),
        (
            np.array([1.0]),
            TypeError,
            r"temperature must be a number or a 0-d array, got an "
            r"array of shape \(1,\)",
        ),
        (torch.tensor([[1.0]]), TypeError, r"temperature must be a number or a 0-d array"),
        (np.array("1.0"), TypeError, r"temperature must hold real numbers"),
        (np.bool_(True), TypeError, r"temperature must be a real number"),
        (torch.tensor(1.0, device="meta"), TypeError, r"temperature must hold data"),
    ],
)
def test_scalars_are_numbers_or_0d_arrays_only(value, kind, match):
    with pytest.raises(kind, match=match):
        rw.sample_weights(GOOD, "linupper", value)


def test_0d_arrays_and_numpy_scalars_are_accepted_as_scalars():
    ref = rw.sample_weights(GOOD, "linupper", 0.5)
    for r in (np.float32(0.5), np.array(0.5), torch.tensor(0.5), np.int64(1) / 2):
        np.testing.assert_array_equal(rw.sample_weights(GOOD, "linupper", r), ref)


def test_unbroadcastable_batched_temperature_names_the_argument():
    with pytest.raises(
        ValueError,
        match=r"temperature must be a number or an array "
        r"broadcastable to the losses' shape \(2, 3\), got "
        r"shape \(3, 1\)",
    ):
        batched_sample_weights(np.ones((2, 3)), "linupper", np.ones((3, 1)))


@pytest.mark.parametrize("delta", [0.0, math.nan, -1.0, math.inf, 1e308])
def test_scheme_delta_is_validated(delta):
    from rwtheory.convex.schemes import Strategy

    with pytest.raises(ValueError, match=r"delta must be a (finite number > 0|number in)"):
        Strategy("quadratic", 1.0, delta=delta)


def test_scheme_temperature_is_validated():
    from rwtheory.convex.schemes import Strategy

    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        Strategy("linupper", -1.0)
    Strategy("linupper", rw.constant_schedule(0.5))  # a schedule validates itself


def test_huge_delta_is_exact_and_a_delta_beyond_the_dtype_is_refused():
    np.testing.assert_array_equal(rw.normalize_losses(np.full(3, 2.0), delta=1e302), 0.0)
    np.testing.assert_array_equal(
        rw.normalize_losses(np.array([0.0, 1.0]), delta=1e302), [-1e302, 1e302]
    )
    with pytest.raises(ValueError, match=r"delta must be in \[1.2e-38, 8.5e\+37\] for float32"):
        rw.normalize_losses(np.float32([1, 2]), delta=1e302)
    with pytest.raises(ValueError, match=r"delta must be a number in \[2.22507e-308, "):
        rw.sample_weights(GOOD, "linupper", 1.0, delta=1e308)
    # the pipeline itself computes a float32 batch with such a delta in float64
    w = rw.sample_weights(np.float32([1, 2, 4]), "linupper", 1e300, delta=1e300)
    ref = rw.sample_weights(np.float64([1, 2, 4]), "linupper", 1e300, delta=1e300)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, ref.astype(np.float32), rtol=0, atol=0)


def test_load_state_dict_names_its_argument():
    from rwtheory.lm import SampleReweighter

    for state in (None, [("step", 1)]):
        with pytest.raises((TypeError, ValueError), match=r"state must be a dict"):
            SampleReweighter().load_state_dict(state)


def test_an_overflow_is_never_blamed_on_finite_losses():
    from rwtheory.lm import reweighted_loss

    losses = torch.tensor([1.0, 1e300], dtype=torch.float64)
    with pytest.raises(
        ValueError,
        match=r"per_sample_losses must be within torch.float32's "
        r"range \(\|x\| <= 3.403e\+38; the weights are "
        r"computed in float32\), got 1e\+300 at index 1",
    ):
        reweighted_loss(losses, "linupper", 1.0)
    if np.finfo(np.longdouble).max > np.finfo(np.float64).max:  # x86: 80-bit longdouble
        with pytest.raises(
            ValueError,
            match=r"losses must be within float64's range "
            r"\(\|x\| <= 1.798e\+308\), got 1e\+4000 at index 1",
        ):
            rw.sample_weights(np.array([np.longdouble(1), np.longdouble("1e4000")]))


# ------------------------------------------------------------------ schedules
def test_schedules_are_exact_at_their_end_points_and_stay_between_them():
    assert rw.linear_schedule(1.0, 1e-17, 10)(10) == 1e-17
    assert rw.linear_schedule(1.0, 1e-17, 10)(0) == 1.0
    assert rw.cosine_schedule(1e-17, 1.0, 10)(0) == 1e-17
    assert rw.cosine_schedule(1e-17, 1.0, 10)(10) == 1.0
    assert rw.linear_schedule(1e300, 1e-300, 10)(5) == pytest.approx(5e299, rel=1e-15)
    big = np.finfo(np.float64).max
    for make in (rw.linear_schedule, rw.cosine_schedule):
        for start, end in ((1e-17, 1.0), (1.0, 1e-17), (big, big / 3), (5e-324, big)):
            s = make(start, end, 7, begin=3)
            values = [s(k) for k in range(15)]
            assert values[:4] == [start] * 4 and values[10:] == [end] * 5
            assert all(min(start, end) <= v <= max(start, end) and v > 0 for v in values)


def test_the_largest_finite_gap_is_accepted():
    """A gap equal to the dtype's largest finite value is valid (only NaN, inf and negative
    gaps are refused)."""
    for dtype in (np.float64, np.float32):
        big = np.finfo(dtype).max
        w = rw.kl_capped_weights(np.array([0.0, big], dtype=dtype), 1.0)
        assert w.dtype == dtype and float(w[1]) == 1.0


@pytest.mark.parametrize("bad", ["2", None, 1 + 0j])
def test_rho_of_the_wrong_type_is_named(bad):
    with pytest.raises(TypeError, match=r"^rho must be a real number"):
        rw.kl_capped_weights(GOOD, 1.0, bad)


# ------------------------------------------------------------------ issue 22
def test_cap_analysis_at_any_batch_size():
    """n beyond float64 (10**400) gives the limit e^{delta/r}, not an OverflowError; numpy
    integers are integers."""
    assert rw.worst_case_rho("linupper", 10**400, 0.5) == pytest.approx(math.exp(2), rel=1e-15)
    assert rw.cap_safe_temperature("linupper", 10**400) == pytest.approx(1 / math.log(2), rel=1e-15)
    assert rw.worst_case_rho("linupper", np.int64(10), 1.0) == rw.worst_case_rho(
        "linupper", 10, 1.0
    )
    with pytest.raises(TypeError, match="n must be an integer, got '10'"):
        rw.worst_case_rho("linupper", "10", 1.0)


def test_bisection_refuses_too_few_iterations_before_iterating():
    g = np.array([0.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"max_iter must be >= 36 for these gaps and tol=1e-10"):
        rw.kl_capped_weights_bisection(g, 0.5, 2.0, max_iter=10)
    with pytest.raises(ValueError, match=r"max_iter must be an integer >= 1, got 0"):
        rw.kl_capped_weights_bisection(g, 0.5, 2.0, max_iter=0)
    w = rw.kl_capped_weights_bisection(g, 0.5, 2.0, max_iter=36)
    assert abs(w.sum() - 1) < 1e-9
    # a tolerance below float64's resolution stops where the bracket no longer halves
    np.testing.assert_allclose(
        rw.kl_capped_weights_bisection(g, 0.5, 2.0, tol=1e-300),
        rw.kl_capped_weights(g, 0.5, 2.0),
        atol=1e-15,
    )


def test_batched_pipeline_takes_list_temperatures_and_names_a_bad_strategy():
    X = np.array([[1.0, 2.0, 4.0], [3.0, 1.0, 2.0]])
    w = batched_sample_weights(X, "linupper", [[0.5], [2.0]])
    np.testing.assert_allclose(w[1], rw.sample_weights(X[1], "linupper", 2.0), rtol=1e-15)
    with pytest.raises(TypeError, match="strategy must be a registered name or a list of names"):
        batched_sample_weights(X, None)
