"""Property-based test of the LM path's whole public surface (issue 22, Part 4 of
``benchmarks/bad_input_surface.py``): for generated good and bad inputs of every entry point
of ``rwtheory.lm`` (``tests/lm_cases.py``: wrong types, shapes, dtypes -- float16, bfloat16,
integers --, ranges, non-finite values, bad user callables, damaged checkpoints), every call
either returns a correct result -- checked against a float64 reference written out -- or
raises one ValueError/TypeError whose message names the bad argument (a user's callable by
its name), and a reweighter whose call raised is left as it was."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lm_cases import SCENARIOS
from surface_cases import GOOD_OUTCOMES, judge

FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", list(SCENARIOS))
@FAST
@given(data=st.data())
def test_a_correct_result_or_an_error_naming_the_argument(name, data):
    outcome, detail = judge(SCENARIOS[name](data))
    assert outcome in GOOD_OUTCOMES, f"{outcome}: {detail}"
