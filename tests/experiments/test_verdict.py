"""verdict.log_ratio, the margin of the figures' status rules, on every branch: two finite
positive numbers, a diverged run on either side (inf or NaN), both diverged, and the
non-positive values it is not defined for."""

import math

import pytest

from rwtheory.experiments.verdict import Verdict, log_ratio

INF, NAN = math.inf, math.nan


def test_finite_positive_values_give_the_log_of_their_ratio():
    assert log_ratio(3.0, 1.5) == pytest.approx(math.log(2.0))
    assert log_ratio(1.5, 3.0) == pytest.approx(-math.log(2.0))
    assert log_ratio(0.7, 0.7) == 0.0
    # a quotient that under- or overflows float64 still gives the log of the ratio
    assert log_ratio(1e-300, 1e300) == pytest.approx(-600 * math.log(10))
    assert log_ratio(1e300, 1e-300) == pytest.approx(600 * math.log(10))


@pytest.mark.parametrize("diverged", [INF, -INF, NAN])
def test_a_diverged_side_is_infinitely_bad(diverged):
    """log(a / b) with a diverged run (+inf, -inf or NaN: a seed-mean over a diverged seed) on
    one side is +inf when it is a (a infinitely larger) and -inf when it is b."""
    assert log_ratio(diverged, 2.0) == INF
    assert log_ratio(2.0, diverged) == -INF


@pytest.mark.parametrize("a", [INF, -INF, NAN])
@pytest.mark.parametrize("b", [INF, -INF, NAN])
def test_both_diverged_is_a_tie(a, b):
    assert log_ratio(a, b) == 0.0


@pytest.mark.parametrize(("a", "b"), [(0.0, 1.0), (1.0, 0.0), (0.0, 0.0), (-1.0, 2.0), (2.0, -1.0)])
def test_zero_or_negative_values_give_zero_not_an_error(a, b):
    """Outside its domain (a or b <= 0, finite) the margin is 0: no ranking, no
    ZeroDivisionError or math domain error from inside the rule."""
    assert log_ratio(a, b) == 0.0


def test_verdict_refuses_a_status_a_rule_cannot_give():
    assert Verdict("holds with caveat", 0.0).status == "holds with caveat"
    with pytest.raises(ValueError, match="status must be one of"):
        Verdict("not checked", 0.0)
