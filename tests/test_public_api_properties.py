"""Property-based test of the whole public API (``rwtheory.__all__`` and
``rwtheory.lm.__all__``; ``ReweightingTrainer`` needs the ``hf`` extra and has its own tests).

For generated good *and* bad inputs (``tests/api_cases.py``: every accepted dtype from
float16 to longdouble, numpy and torch, non-contiguous and read-only arrays, magnitudes and
temperatures from 1e-300 to 1e300; NaN/inf, empty, 0-d, 2-D, bool, complex, string, object,
ragged, sparse, meta, nested and masked inputs, out-of-range scalars, 1-element arrays as
scalars), every call either returns a correct result -- checked against a simple float64
reference, or against the result's invariants where that reference cannot be formed -- or
raises a ValueError/TypeError whose message names the argument. No warning escapes.
"""

import pytest
from api_cases import ALL_FUNCTIONS, run_any
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rwtheory
import rwtheory.lm

#: Public names that are not functions to call with inputs.
NOT_CALLABLE = {
    "STRATEGIES",
    "LM_STRATEGIES",
    "IGNORE_INDEX",
    "ReweightStats",
    "ReweightingTrainer",
}


def test_every_public_function_is_covered():
    public = (set(rwtheory.__all__) | set(rwtheory.lm.__all__)) - NOT_CALLABLE
    assert public == set(ALL_FUNCTIONS)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_correct_result_or_an_error_naming_the_argument(fn, data):
    outcome, detail = run_any(data, fn)
    assert outcome in ("correct", "clean_error", "documented_refusal"), f"{outcome}: {detail}"
