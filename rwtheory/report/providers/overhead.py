"""The "nearly zero computational overhead" claim (``overhead``), from the step benchmark
(:func:`rwtheory.report.overhead.overhead_claim`); the same row in quick and full runs."""

from __future__ import annotations

from rwtheory.report.claim import Provider, Report

__all__ = ["PROVIDER", "report"]


def report(quick: bool) -> Report:
    """The overhead row (``quick`` changes nothing: no timing is done here)."""
    from rwtheory.report.overhead import overhead_claim

    return Report("overhead", [overhead_claim()])


PROVIDER = Provider("overhead", report, keys=("overhead",))
