"""The outcome of one claim's status rule on one figure summary.

A status rule is a pure function ``rule(summary) -> Verdict`` of a figure's typed summary.
The same rule sets the status of the claim's row in ``paper_checks.md`` (the figure module's
``claims``) and the status of every setting of the robustness study
(:mod:`rwtheory.experiments.robustness`), so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rwtheory.report.claim import STATUSES

__all__ = ["Rule", "Verdict", "diverged_as_inf", "log_ratio"]


@dataclass(frozen=True)
class Verdict:
    """status : one of ``holds``, ``holds with caveat``, ``fails``.
    margin : a signed number, larger = more favourable to the claim (each rule documents
        its own); used only to rank settings from most to least favourable.
    numbers : the numbers the rule compared, by name (written beside the status)."""

    status: str
    margin: float
    numbers: Mapping[str, float | int | None] = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES[:3]:
            raise ValueError(f"status must be one of {STATUSES[:3]}, got {self.status!r}")


#: A status rule: a pure function of one figure's summary.
Rule = Callable[[object], Verdict]


def log_ratio(a: float, b: float) -> float:
    """log(a / b) for positive finite a, b; +-inf when one side is non-finite (a diverged
    run counts as infinitely bad), 0 when both are, and 0 when a or b is <= 0 (no ranking).
    A quotient that under- or overflows float64 is taken as log(a) - log(b)."""
    fa, fb = math.isfinite(a), math.isfinite(b)
    if fa and fb:
        if not (a > 0 and b > 0):
            return 0.0
        q = a / b
        return math.log(q) if 0 < q < math.inf else math.log(a) - math.log(b)
    if fa == fb:
        return 0.0
    return -math.inf if fa else math.inf


def diverged_as_inf(value: float) -> float:
    """``value`` (a seed-mean final loss), or +inf when it is not finite: a configuration with
    a diverged seed has a NaN mean, and counts as infinitely bad rather than as a tie."""
    return value if math.isfinite(value) else math.inf
