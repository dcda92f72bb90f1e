"""The cap of App. A.5 (``a5.cap``): does the LinUpper pipeline guarantee ρ_t = n·max w ≤ 2?
Answered exactly by :func:`rwtheory.weights.pipeline.worst_case_rho` (the supremum over all
loss batches) at the paper's temperatures; deterministic, so quick and full runs agree."""

from __future__ import annotations

from rwtheory.report.claim import Claim, Provider, Report
from rwtheory.report.markdown import table
from rwtheory.report.providers import CHECK

__all__ = ["PROVIDER", "SIZES", "TEMPERATURES", "report"]

#: Batch sizes of the details table (the claim quotes the largest).
SIZES = (2, 3, 5, 8, 64, 512, 4096, 65536)
#: The paper's temperatures: r = 0.4 (GPT-2), 1 (Llama-1.4B), 2 (Llama-7B).
TEMPERATURES = (0.4, 1.0, 2.0)


def cap_claim() -> Claim:
    """``a5.cap``: always "holds with caveat" -- the paper's observation (the measured
    maximum weights stay below 2/B) is true of its runs, but the pipeline itself does not
    guarantee the cap: the measured number says for which (r, n) the supremum exceeds 2."""
    from rwtheory.weights.pipeline import cap_safe_temperature, worst_case_rho

    sup = {r: worst_case_rho("linupper", SIZES[-1], r) for r in TEMPERATURES}
    first = {
        r: next((n for n in range(2, 4097) if worst_case_rho("linupper", n, r) > 2), None)
        for r in TEMPERATURES
    }
    safe = cap_safe_temperature("linupper", SIZES[-1])
    measured = (
        "sup over batches of n max w (LinUpper): "
        + ", ".join(
            f"r={r:g}: {sup[r]:.4g}"
            + (f" (> 2 from n = {first[r]})" if first[r] else " (≤ 2 for every n)")
            for r in TEMPERATURES
        )
        + f"; every n is safe iff r ≥ {safe:.4f} (1/ln 2 as n grows)"
    )
    return Claim(
        "a5.cap",
        "App. A.5 (and Thm. 1's remark)",
        '"To demonstrate that in practice the upper bound of [ρ ≤ 2] is, in fact, satisfied '
        "by our LinUpper method, we provide the distribution of the maximum weights per step "
        '... clearly below the upper bound"',
        True,
        "Does the LinUpper pipeline guarantee ρ_t = n·max w ≤ 2? Exact supremum over all "
        "loss batches (rwtheory.worst_case_rho; search in tests/weights/test_cap.py) at the "
        "paper's temperatures r = 0.4 (GPT-2), 1 (Llama-1.4B), 2 (Llama-7B).",
        f"`{CHECK}`; `pytest tests/weights/test_cap.py`",
        "holds with caveat",
        measured,
        stable=True,
    )


def report(quick: bool) -> Report:
    """The claim and the table of sup n·max w over ``SIZES`` × ``TEMPERATURES`` (``quick``
    changes nothing: the numbers are exact)."""
    from rwtheory.weights.pipeline import worst_case_rho

    rows = [[r] + [f"{worst_case_rho('linupper', n, r):.4f}" for n in SIZES] for r in TEMPERATURES]
    details = (
        "## The cap of App. A.5\n\nExact sup of n·max w over all batches of n "
        "losses, LinUpper:\n\n" + table(["r"] + [f"n={n}" for n in SIZES], rows)
    )
    return Report("cap", [cap_claim()], details)


PROVIDER = Provider("cap", report, keys=("a5.cap",))
