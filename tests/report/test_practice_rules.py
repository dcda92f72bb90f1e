"""The status rules of issue 26's rows (rwtheory.report.providers.practice), pinned: each
threshold sits between two cases whose statuses differ, so moving it by a factor (up or
down) fails a test."""

import math

import pytest

from rwtheory.report.providers import practice as rules


def test_thresholds_are_the_declared_ones():
    assert (rules.MIN_PAIRS, rules.STRONG, rules.WEAK) == (50, 0.5, 0.3)
    assert (rules.SLOWER_HOLDS, rules.SLOWER_FAILS) == (0.10, 0.5)
    assert (rules.CONFIDENCE, rules.RESAMPLES) == (0.95, 2000)


@pytest.mark.parametrize(
    "pairs, share, status",
    [
        (49, 0.0, "not checked"),
        (50, 0.0, "holds"),
        (50, 0.10, "holds"),
        (50, 0.11, "holds with caveat"),
        (50, 0.5, "holds with caveat"),
        (50, 0.51, "fails"),
        (50, 0.45, "holds with caveat"),  # SLOWER_FAILS x 0.8 flips this one
        (50, 0.55, "fails"),  # SLOWER_FAILS x 1.25 flips this one
        (50, 0.085, "holds"),  # SLOWER_HOLDS x 0.8 flips this one
        (50, 0.12, "holds with caveat"),  # SLOWER_HOLDS x 1.25 flips this one
        (40, 1.0, "not checked"),  # MIN_PAIRS x 0.8 flips this one
        (62, 0.0, "holds"),  # MIN_PAIRS x 1.25 flips this one
    ],
)
def test_faster_convergence_rule(pairs, share, status):
    assert rules.faster_convergence_status(pairs, share) == status


@pytest.mark.parametrize(
    "pairs, low, high, status",
    [
        (49, 0.9, 0.95, "not checked"),
        (50, 0.5, 0.9, "holds"),
        (50, 0.45, 0.9, "holds with caveat"),  # STRONG x 0.8 flips this one
        (50, 0.55, 0.9, "holds"),  # STRONG x 1.25 flips this one
        (50, 0.0, 0.3, "holds with caveat"),
        (50, 0.0, 0.29, "fails"),
        (50, -0.5, 0.25, "fails"),  # WEAK x 0.8 flips this one
        (50, -0.5, 0.35, "holds with caveat"),  # WEAK x 1.25 flips this one
        (40, -0.5, -0.4, "not checked"),  # MIN_PAIRS x 0.8 flips this one
        (62, -0.5, -0.4, "fails"),  # MIN_PAIRS x 1.25 flips this one
    ],
)
def test_prediction_rule(pairs, low, high, status):
    assert rules.prediction_status(pairs, low, high) == status


def test_rules_refuse_impossible_inputs():
    with pytest.raises(ValueError, match="slower_share"):
        rules.faster_convergence_status(60, 1.5)
    with pytest.raises(ValueError, match="slower_share"):
        rules.faster_convergence_status(60, math.nan)
    with pytest.raises(ValueError, match="interval"):
        rules.prediction_status(60, 0.6, 0.5)
    with pytest.raises(ValueError, match="interval"):
        rules.prediction_status(60, math.nan, 0.5)
    with pytest.raises(ValueError, match="one entry per level"):
        rules.faster_on_training([1, 2], [1])


@pytest.mark.parametrize(
    "steps, uniform, faster",
    [
        ([3, 5, None], [4, 6, None], True),  # earlier at every level both reach
        ([4, 5, 9], [4, 6, None], True),  # tie, then earlier, then a level uniform misses
        ([4, 6, 9], [4, 6, None], True),  # the same, then a level uniform never reaches
        ([4, 6, None], [4, 6, None], False),  # equal ladders are not a speed-up
        ([3, 7, None], [4, 6, None], False),  # later at one level
        ([3, 5, None], [4, 6, 9], False),  # misses a level uniform reaches
        ([None, None, None], [None, None, None], False),
        ([None, None, None], [4, 6, 9], False),
    ],
)
def test_faster_on_training(steps, uniform, faster):
    assert rules.faster_on_training(steps, uniform) is faster


def test_better_on_test():
    assert rules.better_on_test(0.1, 0.2)
    assert not rules.better_on_test(0.2, 0.2)  # strictly below
    assert not rules.better_on_test(0.3, 0.2)
    assert not rules.better_on_test(math.nan, 0.2)  # a diverged seed is not better
    assert not rules.better_on_test(math.inf, math.inf)
    assert rules.better_on_test(0.3, math.inf)  # uniform diverged, the strategy did not


def test_training_objective_rule():
    assert rules.training_objective_status(True, True) == "holds"
    assert rules.training_objective_status(True, False) == "holds with caveat"
    assert rules.training_objective_status(False, True) == "fails"
    assert rules.training_objective_status(False, False) == "fails"
