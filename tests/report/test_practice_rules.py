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


# ---------------------------------------------------------------------- rows on made-up data
from types import SimpleNamespace  # noqa: E402

from rwtheory.theory import practice  # noqa: E402


def _study(paper, sharp, shares=None):
    """A made-up study: the primary (paper, min, steps) and every other correlation."""
    corr = {
        (f, s, m): practice.Correlation(*(paper if f == "paper" else sharp))
        for f in ("paper", "sharp")
        for s in ("min", "mean")
        for m in ("steps", "final")
    }
    sh = shares or dict(pairs=100, above=80, slower=0.05, below=20, faster=0.1)
    table = dict(speedup_steps=[1.2, math.nan], predicted_paper_min=[1.1, 0.9])
    return SimpleNamespace(
        count=10,
        steps=50,
        seed=0,
        resamples=10,
        table=table,
        correlations=corr,
        shares={"paper": sh, "sharp": sh},
        regimes=[],
        top_regime=lambda measure="wrong": ("", 0.0, None),
    )


def test_prediction_row_is_judged_on_the_paper_form_with_min_gamma():
    strong, weak = (100, 0.8, 0.7, 0.9), (100, 0.1, -0.05, 0.25)
    assert rules.prediction_claim(_study(strong, weak)).status == "holds"
    assert rules.prediction_claim(_study(weak, strong)).status == "fails"
    assert rules.prediction_claim(_study((40, 0.9, 0.8, 1.0), strong)).status == "not checked"


def test_faster_convergence_row_reads_the_paper_forms_shares():
    s = _study((100, 0.8, 0.7, 0.9), (100, 0.8, 0.7, 0.9))
    s.shares["sharp"] = dict(pairs=100, above=80, slower=0.9, below=20, faster=0.1)
    assert rules.faster_convergence_claim(s).status == "holds"  # the paper form's 5 %


def _fig7(lin_ladder):
    def result(ladder, final):
        return SimpleNamespace(
            train_to_level=ladder, train_final=0.01, final=final, clean_distance_final=0.02
        )

    strategies = {
        "uniform": result((4, 8, 12), 0.03),
        "linupper": result(lin_ladder, 0.02),
        "extremes": result((5, 9, None), 0.05),
    }
    return SimpleNamespace(strategies=strategies, lr=0.1, r=1.0, steps=100, seeds=3, train0=1.0)


def test_training_objective_row_judges_linupper():
    f7 = _fig7((3, 7, 11))
    records = [
        dict(strategy="linupper", faster_on_training=True, better_on_test=True),
        dict(strategy="extremes", faster_on_training=False, better_on_test=False),
    ]
    assert rules.training_objective_claim(f7, records).status == "holds"
    records[0]["better_on_test"] = False
    assert rules.training_objective_claim(f7, records).status == "holds with caveat"
    records[0]["faster_on_training"] = False
    assert rules.training_objective_claim(f7, records).status == "fails"
