"""The status rules of the theorem rows (rwtheory.report.providers.theorems) can fail: a rate
row with too few applicable runs is "not checked", a violation is "fails", the carry-over
and steps-above-limits rows need the wrong variants to fail."""

from rwtheory.report.providers import theorems as rows
from rwtheory.theory import randomised
from rwtheory.theory.broken_hypotheses import CarryOverFinding, StepsAboveLimits


def _result(applicable: int, violations: int = 0) -> randomised.VerificationResult:
    tallies = []
    for algorithm, names in randomised.INEQUALITIES.items():
        for route in "CJ":
            for name in names:
                rate = "rate" in name
                tallies.append(
                    randomised.Tally(
                        algorithm,
                        route,
                        name,
                        runs=150,
                        runs_applicable=applicable if rate else 150,
                        evaluated=1000,
                        violations=violations if name == "one-step" else 0,
                    )
                )
    return randomised.VerificationResult(150, 50, 1e-9, tallies, 0.0)


def test_rate_rows_need_applicable_runs():
    assert rows.thm1_claim(_result(150)).status == "holds"
    assert rows.thm1_claim(_result(0)).status == "not checked"
    assert rows.thm1_claim(_result(randomised.MIN_APPLICABLE_RUNS - 1)).status == "not checked"
    assert rows.thm1_sharp_claim(_result(0)).status == "not checked"
    assert rows.thm2_sgd_sharp_claim(_result(150)).status == "holds"
    assert rows.thm1_claim(_result(150, violations=3)).status == "fails"
    assert rows.thm1_claim(_result(0, violations=3)).status == "fails"


def _carry(next_=0, current=3, gamma=3):
    return [
        CarryOverFinding(
            "least squares, n=8, alternating_cap (rho=2)",
            6,
            40,
            {"next": next_, "current": current, "gamma": gamma},
            {"next": 0, "current": 10, "gamma": 10},
        ),
        CarryOverFinding(
            "least squares, n=8, linupper (r=0.4)",
            6,
            40,
            {"next": 0, "current": 0, "gamma": 0},
            {"next": 0, "current": 0, "gamma": 5},
        ),
    ]


def test_carry_over_row():
    res = _result(150)
    assert rows.carry_over_claim(res, _carry()).status == "holds"
    assert rows.carry_over_claim(res, _carry(next_=1)).status == "fails"
    assert rows.carry_over_claim(res, _carry(current=0)).status == "not checked"


def _above(right=0, wrong=5):
    return [
        StepsAboveLimits("squared", "GD", 24, 1000, right, 0, 0, {"1e-12·L̂": wrong}, 0.5),
        StepsAboveLimits(
            "huber", "SGD", 24, 1000, 0, 0, 0, {"1e-12·L̂": 0, "ρ_t·L for ρ_t·L_B": wrong}, 0.9
        ),
    ]


def test_steps_above_row():
    assert rows.steps_above_claim(_above()).status == "holds"
    assert rows.steps_above_claim(_above(right=2)).status == "fails"
    assert rows.steps_above_claim(_above(wrong=0)).status == "not checked"
