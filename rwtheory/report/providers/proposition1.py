"""Claims of Proposition 1 and its discussion, checked by :mod:`rwtheory.theory.proposition1`:
``prop1`` (the closed form against cvxpy), ``prop1.no_kl`` (the r = 0 linear programme
discards half the data) and ``prop1.linupper`` (LinUpper is Prop. 1's optimum).

The solvers are reached through the module (``proposition1.prop1_instances``,
``proposition1.kl_capped_weights``) so that a test can swap in a wrong closed form and watch
the status turn to "fails".
"""

from __future__ import annotations

import sys

from rwtheory.report.claim import Claim, Provider, Report
from rwtheory.report.markdown import quantiles, table, within
from rwtheory.report.providers import CHECK

__all__ = ["PROVIDER", "report"]

HOW = f"`{CHECK}` (rwtheory.theory.proposition1); `pytest tests/theory/test_proposition1.py`"


def closed_form_claim(cmp) -> Claim:
    """``prop1``. Fails: an instance where the solver and the closed form disagree by more
    than 1e-6 and the closed form is not the better-certified answer (KKT residuals, computed
    from each answer alone); caveat: disagreements blamed on the solver, or instances it
    could not answer (unchecked)."""
    if cmp.closed_form_suspect:
        status = "fails"
    elif cmp.above_tol or cmp.failures:
        status = "holds with caveat"
    else:
        status = "holds"
    return Claim(
        "prop1",
        "Prop. 1, Eq. 5 (Sec. 4.2, App. C.2)",
        "The weights maximising the KL-regularised Γ numerator under the cap, "
        "min_w −Σ w_i Δ_i + r Σ w_i log(n w_i), Σ w = 1, 0 ≤ w_i ≤ ρ/n, are "
        "w_i = min(exp(Δ_i/r)/Z, ρ/n).",
        False,
        "rwtheory.kl_capped_weights (exact water-filling) equals Clarabel's solution (cvxpy, "
        "tightened tolerances; SCS fallback) within 1e-6 on instances with ties, gaps over 18 "
        "orders of magnitude, temperatures down to 1e-8, ρ in {1, 1.5, 2, 4, n}.",
        HOW,
        status,
        f"max |w_cvxpy − w_closed| = {cmp.max_diff:.2e} on {cmp.instances - len(cmp.failures)}"
        f"/{cmp.instances} instances; {len(cmp.above_tol)} above 1e-6 (scaled spreads up to "
        f"{cmp.max_scaled_spread:.0e}); solver failures {len(cmp.failures)}, SCS fallbacks "
        f"{cmp.fallbacks}",
    )


def no_kl_claim(lp) -> Claim:
    """``prop1.no_kl``: holds iff the LP solution has the predicted structure within 1e-6
    (distinct gaps), the same objective (ties) and no solver failed."""
    zero = lp.zero_fraction_rho2
    return Claim(
        "prop1.no_kl",
        "Sec. 4.2 after Prop. 1",
        '"Without this regularization term, the optimal solution becomes trivial: it '
        "assigns a weight of [2/n] to the samples with the highest losses and zero weight to "
        'the remaining samples ... such a strategy discards half of the dataset"',
        True,
        "The r = 0 linear programme max Σ w_i Δ_i over the capped simplex (Clarabel) "
        "has the solution ρ/n on the top ⌊n/ρ⌋ gaps, the remainder on the next one; "
        "for ρ = 2 the share of zero weights is 1/2 (n even), (n − 1)/(2n) (n odd).",
        HOW,
        "holds"
        if lp.max_diff_distinct <= 1e-6 and lp.max_objective_gap <= 1e-6 and not lp.failures
        else "fails",
        f"LP vs structure: max |diff| {within(lp.max_diff_distinct, 1e-8)} (distinct gaps), "
        f"objective gap {within(lp.max_objective_gap, 1e-8)} (ties) on {lp.instances} "
        f"instances, {len(lp.failures)} failures; zero share at ρ = 2: "
        + ", ".join(f"n={n}: {v:.3g}" for n, v in zero.items()),
        stable=True,
    )


def linupper_claim(lin) -> Claim:
    """``prop1.linupper``: holds iff LinUpper's weights equal the optimum (total variation
    ≤ 1e-9 at every step of every run)."""
    tv = ", ".join(f"r={x.temperature:g}: {x.tv_quantiles[1]:.2g}" for x in lin)
    gam = ", ".join(
        f"r={x.temperature:g}: {x.gamma_linupper[1]:.3g} vs {x.gamma_optimum[1]:.3g}" for x in lin
    )
    rho = ", ".join(f"r={x.temperature:g}: {x.max_rho_linupper:.3g}" for x in lin)
    identical = all(x.tv_quantiles[-1] <= 1e-9 for x in lin)
    return Claim(
        "prop1.linupper",
        "Sec. 4.2 before Prop. 1",
        '"applying Eq. 4 on top of our strategy LinUpper, in fact, corresponds to the optimal '
        "strategy that minimizes a KL-divergence regularized version of [the bound] in "
        'Theorem 1"',
        True,
        "LinUpper's weights equal Prop. 1's optimum with gaps := normalised losses, the same r "
        "and ρ = 2, step by step along GD runs on the regression with outliers.",
        HOW,
        "holds" if identical else "fails",
        f"not identical: median total variation {tv}; median Γ LinUpper vs optimum {gam}; "
        f"max ρ of LinUpper {rho} (the optimum has ρ ≤ 2 by construction)",
    )


def report(quick: bool) -> Report:
    """Closed form vs cvxpy on 40 (quick) or 300 instances, the LP limit on 100, LinUpper vs
    the optimum along GD runs (1 seed × 50 steps quick, 4 × 200 full)."""
    from tqdm.auto import tqdm

    from rwtheory.theory import proposition1

    count = 40 if quick else 300
    with tqdm(total=count, desc="prop1 cvxpy", unit="inst", file=sys.stderr, leave=False) as bar:
        # no "SCS alone" measurement (scs_max_n=0): SCS stopped at 20 000 iterations
        # returns machine-dependent points (max 2.5e-1, 8/202 above 1e-6 on one machine,
        # 5.8e-1, 12/202 and 1 failure on another), so the ledger would not regenerate
        # byte-identically; it is no part of the claim (Clarabel is the reference)
        cmp = proposition1.compare_with_cvxpy(
            proposition1.prop1_instances(count, 0), scs_max_n=0, progress=bar.update
        )
    lp = proposition1.lp_check(100, seed=0)
    lin = proposition1.linupper_vs_optimum(seeds=1 if quick else 4, steps=50 if quick else 200)
    claims = [closed_form_claim(cmp), no_kl_claim(lp), linupper_claim(lin)]
    return Report("prop1", claims, _details(cmp, lp, lin), cmp.seconds)


PROVIDER = Provider(
    "prop1",
    report,
    keys=(
        "prop1",
        "prop1.no_kl",
        "prop1.linupper",
    ),
)


def _details(cmp, lp, lin) -> str:
    fam = table(
        ["family", "max |w_cvxpy − w_closed|"], [[k, f"{v:.2e}"] for k, v in cmp.per_family.items()]
    )
    notes = "".join(f"\n* above 1e-6: {a}" for a in cmp.above_tol)
    notes += "".join(f"\n* solver failure: {f}" for f in cmp.failures)
    lin_rows = [
        [
            x.temperature,
            quantiles(x.tv_quantiles),
            quantiles(x.gamma_linupper),
            quantiles(x.gamma_optimum),
            x.max_rho_linupper,
        ]
        for x in lin
    ]
    return (
        f"## Proposition 1 against cvxpy\n\n{cmp.instances} instances; Clarabel through "
        f"`rwtheory.theory.reference_solvers.kl_capped_weights_cvxpy` (tightened "
        f"tolerances, answer chosen by its KKT residual), SCS (eps 1e-10) as the fallback "
        f"when Clarabel fails. SCS alone is not reported: its answers after 20 000 "
        f"iterations differ between machines.\n\n{fam}\n{notes}\n\n"
        f"LP limit (r = 0): {lp.instances} instances, max |w_LP − vertex| "
        f"{within(lp.max_diff_distinct, 1e-8)} (distinct gaps), objective gap "
        f"{within(lp.max_objective_gap, 1e-8)} (ties); `kl_capped_weights` at "
        f"r = 1e-9 × spread vs the vertex: {within(lp.small_r_max_diff, 1e-8)}.\n\n"
        f"### LinUpper vs Proposition 1's optimum\n\n{lin[0].setting}; quantiles "
        f"q5 / q50 / q95 / max over steps and seeds.\n\n"
        + table(["r", "total variation", "Γ LinUpper", "Γ optimum", "max ρ LinUpper"], lin_rows)
    )
