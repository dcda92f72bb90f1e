"""Bad input: a ValueError/TypeError naming the argument and what is allowed, never a NaN
and never a traceback from deep inside numpy."""

import math

import numpy as np
import pytest
import torch

import rwtheory as rw
from rwtheory.weights.pipeline import batched_sample_weights

GOOD = np.array([0.5, 1.0, 2.0])


@pytest.mark.parametrize("bad,kind,match", [
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
])
def test_bad_losses(bad, kind, match):
    with pytest.raises(kind, match=match):
        rw.sample_weights(bad)


@pytest.mark.parametrize("r", [0.0, -1.0, math.inf, math.nan])
def test_bad_temperature(r):
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        rw.sample_weights(GOOD, "linupper", r)
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        rw.kl_capped_weights(GOOD, r)
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        rw.dro_kl_weights(GOOD, r)


def test_temperature_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"temperature must be a real number"):
        rw.sample_weights(GOOD, "linupper", "hot")
    with pytest.raises(TypeError, match=r"temperature must be a real number"):
        rw.sample_weights(GOOD, "linupper", None)


def test_unknown_strategy():
    with pytest.raises(ValueError, match=r"strategy must be one of \['extremes', 'linupper', "
                                         r"'quadratic', 'uniform', 'upper'\], got 'linear'"):
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


@pytest.mark.parametrize("make", [
    lambda: rw.constant_schedule(0.0),
    lambda: rw.warmup_schedule(1.0, -1),
    lambda: rw.warmup_schedule(math.nan, 10),
    lambda: rw.linear_schedule(1.0, 0.0, 10),
    lambda: rw.cosine_schedule(1.0, 2.0, 1.5),
])
def test_bad_schedule_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_schedule_step_must_be_a_non_negative_integer():
    s = rw.warmup_schedule(0.4, 10)
    for step in (-1, 2.5, "3"):
        with pytest.raises(ValueError, match=r"step must be an integer >= 0"):
            s(step)


def test_no_nan_ever_leaves_the_pipeline_on_extreme_but_valid_input():
    losses = np.array([1e308, -1e308, 0.0, 1e-308])
    for s in rw.STRATEGIES:
        w = rw.sample_weights(losses, s, 1e-300)
        assert np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-12
    w = rw.dro_kl_weights(losses, 1e-300)
    assert np.all(np.isfinite(w))
