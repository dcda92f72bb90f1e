r"""Does the bound predict practice? The status rules of the rows that connect Theorems 1-2's
factor :math:`\Gamma` with measured convergence (issue 26), fixed before any of their data
was computed.

The paper's argument (Sec. 1, Sec. 4.2): down-weighting low-loss samples makes
:math:`\Gamma > 1`, :math:`\Gamma` divides the rate bound, hence "faster convergence"; Figure 7
is offered as support. Two places are checked, with the definitions below.

**Where the theorems apply** (interpolating convex problems; :mod:`rwtheory.theory.practice`).
A *pair* is one reweighted run and one uniform run on the same instance: the same data, the
same start :math:`x_0`, the same step size :math:`\eta`, the same momentum schedule (heavy
ball) and the same minibatches (the engine draws them from the problem's seed,
:func:`rwtheory.convex.engine.sample_batches`), for the same T steps. With
:math:`a_t = f(x_t) - f(x^\star)` (:math:`a_0` is the same for both runs):

* *measured speed-up (steps)*: levels :math:`\ell_k = a_0 10^{-k}`, k = 1..8;
  :math:`\tau_k` the first t with :math:`a_t \le \ell_k`, censored at T + 1 when never
  reached (a diverged run reaches nothing after it diverges); the speed-up is the geometric
  mean of :math:`\tau_k^{\rm uniform}/\tau_k^{\rm reweighted}` over the levels reached by at
  least one run of the pair (> 1: reweighting was faster), undefined when neither run reaches
  :math:`\ell_1`;
* *measured speed-up (final)*: :math:`a_T^{\rm uniform}/a_T^{\rm reweighted}`;
* *predicted factor* of a form (the paper's or THEORY §3's sharp one) with a
  :math:`\Gamma`-statistic (the run's min :math:`\Gamma_t`, i.e. the theorem's
  :math:`\Gamma`, or its mean :math:`\bar\Gamma`): the ratio of the two runs' rate bounds at
  the horizon T, uniform's over the reweighted run's, each evaluated on the instance's proof
  route with its :math:`\Gamma_t` replaced by the statistic; defined only where the bound's
  hypotheses hold for both runs.

**Where the figures live** (the outlier regression of Figures 7-8, no interpolation).
:math:`f^\star` is the minimum of the *unweighted* training objective f (least squares on
every training sample, outliers included), :math:`a_t = f(x_t) - f^\star` on the seed-mean
curve, and the ladder is Figure 7's, :math:`a_0 \times (0.5, 0.2, 0.1, 0.05, 0.02)`
(:func:`faster_on_training`, :func:`better_on_test`).

Every rule is a pure function of a few numbers; ``tests/report/test_practice_rules.py`` pins
each threshold (moving one by a factor fails a test).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from rwtheory.report.claim import Claim

__all__ = [
    "CONFIDENCE",
    "MIN_PAIRS",
    "RESAMPLES",
    "SLOWER_FAILS",
    "SLOWER_HOLDS",
    "STRONG",
    "WEAK",
    "faster_convergence_status",
    "prediction_status",
    "better_on_test",
    "faster_on_training",
    "training_objective_status",
]

#: A rule on pairs needs at least this many pairs (else "not checked").
MIN_PAIRS = 50
#: Spearman's rank correlation: "strong" from 0.5, "at most weak" below 0.3 (the usual
#: reading of correlation sizes, Cohen 1988).
STRONG, WEAK = 0.5, 0.3
#: Share of the pairs with mean Gamma_t > 1 that were slower than uniform: "holds" up to
#: 10 %, "fails" beyond one half (then Gamma > 1 does not even say "faster" more often than not).
SLOWER_HOLDS, SLOWER_FAILS = 0.10, 0.5
#: The bootstrap interval of the rank correlation: percentile interval of this confidence
#: over this many resamples of the pairs (with replacement, a seeded generator).
CONFIDENCE, RESAMPLES = 0.95, 2000


def faster_convergence_status(pairs_above: int, slower_share: float) -> str:
    r"""Status of ``intro.faster_convergence.convex``: "reweighting with :math:`\Gamma > 1`
    converges faster", where Theorems 1-2 apply.

    Inputs: over the pairs whose *paper-form* rate bound applies to both runs and whose steps
    speed-up is defined, ``pairs_above`` = the number of pairs with mean
    :math:`\Gamma_t > 1` (beyond 1e-9) and ``slower_share`` = the share of those whose steps
    speed-up is < 1.

    "not checked" with fewer than :data:`MIN_PAIRS` such pairs; else "holds" iff
    ``slower_share`` <= :data:`SLOWER_HOLDS`, "fails" iff it is > :data:`SLOWER_FAILS`,
    "holds with caveat" in between.
    """
    if pairs_above < MIN_PAIRS:
        return "not checked"
    if not math.isfinite(slower_share) or not 0 <= slower_share <= 1:
        raise ValueError(f"slower_share must be a share in [0, 1], got {slower_share!r}")
    if slower_share <= SLOWER_HOLDS:
        return "holds"
    return "fails" if slower_share > SLOWER_FAILS else "holds with caveat"


def prediction_status(pairs: int, low: float, high: float) -> str:
    r"""Status of ``thm1_2.predicts_speedup``: "the bound's factor predicts the measured
    speed-up", where Theorems 1-2 apply.

    Inputs: over the pairs whose *paper-form* rate bound applies to both runs and whose steps
    speed-up is defined (``pairs`` of them), Spearman's rank correlation between the
    predicted factor of the paper's form with the theorem's :math:`\Gamma = \min_t\Gamma_t`
    and the measured steps speed-up, and its :data:`CONFIDENCE` bootstrap interval
    [``low``, ``high``] (:data:`RESAMPLES` resamples). The other forms and statistics (sharp
    form, mean :math:`\Gamma_t`, final-gap speed-up) are reported beside it, not judged.

    "not checked" with fewer than :data:`MIN_PAIRS` pairs; else "holds" iff ``low`` >=
    :data:`STRONG` (a strong rank correlation, established), "fails" iff ``high`` <
    :data:`WEAK` (at most a weak one), "holds with caveat" otherwise.
    """
    if pairs < MIN_PAIRS:
        return "not checked"
    if not (math.isfinite(low) and math.isfinite(high) and -1 <= low <= high <= 1):
        raise ValueError(f"[low, high] must be an interval in [-1, 1], got [{low!r}, {high!r}]")
    if low >= STRONG:
        return "holds"
    return "fails" if high < WEAK else "holds with caveat"


def faster_on_training(steps: Sequence[int | None], uniform_steps: Sequence[int | None]) -> bool:
    r"""Does a strategy speed up the unweighted training objective against uniform?

    ``steps[k]`` / ``uniform_steps[k]``: the first step at which the seed-mean
    :math:`f(x_t) - f^\star` is at most level k of the ladder (None: never). True iff (i) the
    strategy reaches every level that uniform reaches, no later, and (ii) it reaches some
    level strictly earlier than uniform, or a level that uniform never reaches. Equal
    ladders are not a speed-up.
    """
    if len(steps) != len(uniform_steps):
        raise ValueError(
            f"steps and uniform_steps must have one entry per level, got {len(steps)} and "
            f"{len(uniform_steps)}"
        )
    earlier = False
    for s, u in zip(steps, uniform_steps, strict=True):
        if u is not None and (s is None or s > u):
            return False
        if s is not None and (u is None or s < u):
            earlier = True
    return earlier


def better_on_test(final: float, uniform_final: float) -> bool:
    """Does a strategy improve the clean test MSE against uniform? True iff its seed-mean
    final clean test MSE is finite and strictly below uniform's (a strategy with a diverged
    seed, NaN or inf, is not better)."""
    return math.isfinite(final) and (not math.isfinite(uniform_final) or final < uniform_final)


def training_objective_status(faster: bool, better: bool) -> str:
    r"""Status of ``fig7.training_objective``: at Figure 7's own setting, is LinUpper
    faster than uniform on what Theorems 1-2 bound, the unweighted training objective
    (:func:`faster_on_training`), and does Figure 7's metric, the clean test MSE, agree
    (:func:`better_on_test`)?

    "holds" iff faster on the training objective and better on clean test MSE; "holds with
    caveat" iff faster on the training objective but not better on clean test MSE (the
    optimisation is faster; the figure measures something else); "fails" iff not faster on
    the training objective (whatever the test MSE).
    """
    if not faster:
        return "fails"
    return "holds" if better else "holds with caveat"


# ====================================================================== the rows
# (added after the rules above were committed; nothing below decides a status)
HOW = (
    "`rwtheory figures --only theory_vs_practice` (rwtheory.theory.practice, "
    "rwtheory.experiments.theory_vs_practice); `rwtheory robustness` "
    "(figures/robustness/decomposition.md); `pytest tests/theory/test_pairing.py "
    "tests/report/test_practice_rules.py tests/experiments/test_theory_vs_practice.py`"
)
ANALOGUE = (
    "keeps: the paper's weightings (its four strategies over r, DRO-KL, Proposition 1's "
    "KL-capped weights) in the setting Theorems 1-2 are about (convex per-sample losses with a "
    "common minimiser: least squares, Huber, log-cosh; GD, minibatch SGD, heavy ball), each run "
    "against uniform on the same instance, start, step and batches; drops: LLM pretraining "
    "(non-convex, no interpolation, perplexity) -- this is the convex half of the claim"
)


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.0f} %"


def _corr(c) -> str:
    return f"{c.rho:.2f} [{c.low:.2f}, {c.high:.2f}] (n = {c.pairs})"


def faster_convergence_claim(study) -> Claim:
    """``intro.faster_convergence.convex`` from a :class:`rwtheory.theory.practice.PracticeStudy`
    (status: :func:`faster_convergence_status`)."""
    p, s = study.shares["paper"], study.shares["sharp"]
    steps = [x for x in study.table["speedup_steps"] if math.isfinite(x)]
    undefined = len(study.table["speedup_steps"]) - len(steps)
    # a claim's fields, one a line (key, title, statement, ...): the shape of every claim
    return Claim(
        "intro.faster_convergence.convex",
        "Sec. 1 (contributions), with Thms. 1-2 (Sec. 4.2)",
        '"our approach leads to notably improved performance and faster convergence" (Sec. 1), '
        "argued by the theory: down-weighting low-loss samples makes Γ > 1, and Γ divides the "
        "rate bound (reconstructed)",
        False,
        f"Where Theorems 1-2 apply ({study.count} interpolating instances x GD, SGD, heavy "
        f"ball, {study.steps} steps): among the pairs (reweighted vs uniform on the same "
        f"instance, start, step and batches) whose paper-form rate bound applies to both runs, "
        f"those with mean Γ_t > 1 reach the levels a_0 10^-k (k = 1..8) sooner than uniform. "
        f"holds if at most {_pct(SLOWER_HOLDS)} of them are slower, fails if more than "
        f"{_pct(SLOWER_FAILS)} are, else holds with caveat ({MIN_PAIRS} such pairs at least).",
        HOW,
        faster_convergence_status(p["above"], p["slower"] if p["above"] else 0.0),
        f"paper form applies: {p['above']} pairs with Γ̄ > 1, {_pct(p['slower'])} of them "
        f"slower than uniform; {p['below']} with Γ̄ < 1, {_pct(p['faster'])} of them faster. "
        f"Sharp form applies: {s['above']} pairs with Γ̄ > 1, {_pct(s['slower'])} slower; "
        f"{s['below']} with Γ̄ < 1, {_pct(s['faster'])} faster. Median steps speed-up over all "
        f"{len(steps)} pairs where it is defined: {statistics.median(steps):.3g} "
        f"({undefined} pairs where neither run reached a_0/10 in {study.steps} steps)",
        scope="small analogue",
        analogue=ANALOGUE,
    )


def _regime_text(study) -> str:
    """Where the prediction fails, computed: the axis along which the wrong-side share moves
    most, and the one along which the rank correlation (sharp form) moves most."""
    axis, spread, worst = study.top_regime("wrong")
    if worst is None:
        return "no axis has two levels with enough pairs"
    rows = [r for r in study.regimes if r.axis == axis]
    best = min(rows, key=lambda r: r.wrong)
    text = (
        f"the sign of Γ̄ - 1 gets the sign of the speed-up wrong most often along {axis} "
        f"(spread {spread:.2f}): {_pct(worst.wrong)} of {worst.pairs} pairs at {axis} = "
        f"{worst.level} (median speed-up {worst.median_speedup:.3g}, median Γ̄ "
        f"{worst.median_gamma:.3g}) against {_pct(best.wrong)} of {best.pairs} at {best.level}"
    )
    axis, spread, weak = study.top_regime("spearman")
    if weak is not None:
        strong = max(
            (r for r in study.regimes if r.axis == axis and math.isfinite(r.spearman)),
            key=lambda r: r.spearman,
        )
        text += (
            f"; the ranking (Spearman, sharp form, min Γ_t) moves most along {axis} "
            f"(spread {spread:.2f}): {weak.spearman:.2f} over {weak.pairs} pairs at {axis} = "
            f"{weak.level} against {strong.spearman:.2f} over {strong.pairs} at {strong.level}"
        )
    return text


def _undefined(study, form: str) -> str:
    pred = study.table[f"predicted_{form}_min"]
    applies = [s for p, s in zip(pred, study.table["speedup_steps"], strict=True) if p == p]
    return f"{sum(s != s for s in applies)}/{len(applies)}"


def prediction_claim(study) -> Claim:
    """``thm1_2.predicts_speedup`` (status: :func:`prediction_status`)."""
    c = study.correlations
    primary = c["paper", "min", "steps"]
    others = "; ".join(
        f"{form} form, {stat} Γ_t, {m}: {_corr(c[form, stat, m])}"
        for form in ("paper", "sharp")
        for stat in ("min", "mean")
        for m in ("steps", "final")
        if (form, stat, m) != ("paper", "min", "steps")
    )
    status = (
        "not checked"
        if primary.pairs < MIN_PAIRS
        else prediction_status(primary.pairs, primary.low, primary.high)
    )
    # a claim's fields, one a line (key, title, statement, ...): the shape of every claim
    return Claim(
        "thm1_2.predicts_speedup",
        "Thms. 1-2 (Sec. 4.2, App. C)",
        "A larger Γ gives a smaller bound, hence faster convergence than uniform weights "
        "(reconstructed: the rate bound is divided by Γ)",
        False,
        "The bound's predicted factor -- uniform's rate bound over the reweighted run's at the "
        "horizon, same η, each with its own Γ_t -- ranks the measured speed-ups (steps to "
        "a_0 10^-k). Judged on the paper's form with the theorem's Γ = min_t Γ_t, over the "
        f"pairs where it applies to both runs: holds if the {_pct(CONFIDENCE)} bootstrap "
        f"interval of Spearman's rank correlation ({RESAMPLES} resamples) starts at "
        f"{STRONG} or above, fails if it ends below {WEAK}, else holds with caveat.",
        HOW,
        status,
        f"Spearman (paper form, min Γ_t, steps speed-up): {_corr(primary)}; {others}. "
        f"The steps speed-up is undefined (neither run reached a_0/10 in {study.steps} "
        f"steps) in {_undefined(study, 'paper')} of the pairs where the paper form applies. "
        f"Where the prediction fails: {_regime_text(study)}",
        scope="small analogue",
        analogue=ANALOGUE,
    )


def _ladder(steps) -> str:
    return "/".join("never" if t is None else str(t) for t in steps)


def training_objective_claim(fig7, records: Sequence[dict]) -> Claim:
    """``fig7.training_objective`` from Figure 7's summary at its own setting
    (:class:`rwtheory.experiments.fig7.Summary`, with the training-objective fields) and its
    decomposition records (:func:`rwtheory.experiments.fig7.decomposition`); status:
    :func:`training_objective_status` for LinUpper."""
    st = fig7.strategies
    lin = next(r for r in records if r["strategy"] == "linupper")
    per = "; ".join(
        f"{r['strategy']}: {'faster' if r['faster_on_training'] else 'not faster'} on "
        f"training, {'better' if r['better_on_test'] else 'not better'} on test"
        for r in records
    )
    finals = ", ".join(
        f"{k} {v.train_final:.3g} / {v.final:.4g} / {v.clean_distance_final:.4g}"
        for k, v in st.items()
    )
    return Claim(
        "fig7.training_objective",
        "App. B.2, Fig. 7 (offered as support for Sec. 1's faster convergence)",
        "The results from Figure 7 clearly show that LinUpper outperforms all other "
        "reweighting strategies and the uniform baseline, achieving the fastest convergence.",
        True,
        f"At Figure 7's own setting (GD, lr = {fig7.lr:g}, r = {fig7.r:g}, {fig7.steps} steps, "
        f"{fig7.seeds} seeds; no interpolation), measured on what Theorems 1-2 bound, the "
        f"unweighted training objective f(x_t) - f* (f* its least-squares minimum, outliers "
        f"included): LinUpper reaches every level (f(x_0) - f*) x (0.5, 0.2, 0.1, 0.05, "
        f"0.02) that uniform reaches no later and one earlier (faster on training), and its "
        f"final clean test MSE is below uniform's (better on test). holds: both; holds with "
        f"caveat: faster on training only (the figure measures something else); fails: not "
        f"faster on training.",
        HOW,
        training_objective_status(lin["faster_on_training"], lin["better_on_test"]),
        "steps to the training levels (seed mean): "
        + "; ".join(f"{k} {_ladder(v.train_to_level)}" for k, v in st.items())
        + f"; final f(x_T) - f* / clean test MSE / ||x_T - x*_clean||²: {finals}; {per}",
    )


def details(study, fig7, records: Sequence[dict]) -> str:
    """The section of ``paper_checks.md`` behind the three rows: every correlation, the
    wrong-side shares, the regimes and Figure 7's decomposition."""
    from rwtheory.report.markdown import table

    corr = [
        [form, stat, m, c.pairs, c.rho, c.low, c.high]
        for (form, stat, m), c in study.correlations.items()
    ]
    shares = [
        [form, v["pairs"], v["above"], _pct(v["slower"]), v["below"], _pct(v["faster"])]
        for form, v in study.shares.items()
    ]
    regimes = [
        [r.axis, r.level, r.pairs, _pct(r.wrong), r.median_speedup, r.median_gamma, r.spearman]
        for r in study.regimes
    ]
    decomposition = [
        [
            r["strategy"],
            _ladder(fig7.strategies[r["strategy"]].train_to_level),
            r["numbers"]["train_final"],
            r["numbers"]["test_final"],
            r["numbers"]["clean_distance_final"],
            "yes" if r["faster_on_training"] else "no",
            "yes" if r["better_on_test"] else "no",
        ]
        for r in records
    ]
    u = fig7.strategies["uniform"]
    return "\n\n".join(
        [
            "## Does the bound predict practice? (issue 26)",
            f"{study.count} instances of the randomised checks (interpolating least squares, "
            f"Huber, log-cosh) with the paper's weightings, {study.steps} steps of GD, SGD and "
            f"heavy ball, {len(study.table['algorithm'])} pairs in all; each reweighted run "
            "against uniform on the same instance, start x_0 = 0, step, momentum schedule and "
            "batches (rwtheory.theory.pairing). Speed-up > 1: reweighting was faster (steps: "
            "geometric mean of the ratio of steps to a_0 10^-k, k = 1..8, censored at T + 1; "
            "final: ratio of f(x_T) - f*). Predicted factor: uniform's rate bound over the "
            "reweighted run's at T, each with its own Γ_t (min: the theorem's Γ; mean), NaN "
            f"where the form's hypotheses fail. Spearman with a {_pct(CONFIDENCE)} percentile "
            f"bootstrap interval ({study.resamples} resamples, seed {study.seed}).",
            table(["form", "Γ statistic", "speed-up", "pairs", "Spearman", "low", "high"], corr),
            "Where each form applies: pairs, those with mean Γ_t > 1 and the share of them "
            "slower than uniform, those with mean Γ_t < 1 and the share of them faster.",
            table(["form", "pairs", "Γ̄ > 1", "slower", "Γ̄ < 1", "faster"], shares),
            "Regimes (pairs where the sharp form applies; levels with at least 10 judged "
            "pairs): the share where the sign of Γ̄ - 1 gets the sign of the speed-up wrong. "
            f"{_regime_text(study)}.",
            table(
                [
                    "axis",
                    "level",
                    "pairs",
                    "wrong side",
                    "median speed-up",
                    "median Γ̄",
                    "Spearman (sharp, min Γ)",
                ],
                regimes,
            ),
            f"### Figure 7 on the training objective\n\nAt Figure 7's setting, f(x_0) - f* = "
            f"{fig7.train0:.4g} (uniform's steps to its ladder {_ladder(u.train_to_level)}, "
            f"final {u.train_final:.3g}, clean test MSE {u.final:.4g}, ||x_T - x*_clean||² "
            f"{u.clean_distance_final:.4g}); the robustness study gives the same per setting "
            "(figures/robustness/decomposition.md).",
            table(
                [
                    "strategy",
                    "steps to training levels",
                    "final f - f*",
                    "clean test MSE",
                    "||x_T - x*_clean||²",
                    "faster on training",
                    "better on test",
                ],
                decomposition,
            ),
        ]
    )


def notes(study, fig7, records: Sequence[dict]) -> list[str]:
    """The closing note's lines: does Γ predict the speed-up where the theorems apply, and
    what Figure 7's failure is a failure of."""
    c = study.correlations["paper", "min", "steps"]
    cs = study.correlations["sharp", "min", "steps"]
    p = study.shares["paper"]
    st = fig7.strategies
    lin, uni = st["linupper"], st["uniform"]
    earlier = sum(
        a is not None and (b is None or a < b)
        for a, b in zip(lin.train_to_level, uni.train_to_level, strict=True)
    )
    combos = ", ".join(
        f"{r['strategy']} {'faster' if r['faster_on_training'] else 'not faster'}/"
        f"{'better' if r['better_on_test'] else 'not better'}"
        for r in records
    )
    return [
        f"Does Γ predict the speed-up where Theorems 1-2 apply? Spearman between the paper "
        f"form's predicted factor (min Γ_t) and the measured steps speed-up {_corr(c)} "
        f"(sharp form {_corr(cs)}); of the {p['above']} pairs with Γ̄ > 1, {_pct(p['slower'])} "
        f"were slower than uniform, of the {p['below']} with Γ̄ < 1, {_pct(p['faster'])} "
        f"faster; {_regime_text(study)}.",
        f"Figure 7 on the training objective (training / test): {combos}. LinUpper reaches "
        f"{earlier} of the {len(lin.train_to_level)} training levels before uniform, then "
        f"settles at f(x_T) - f* = {lin.train_final:.3g} (uniform {uni.train_final:.3g}) with "
        f"||x_T - x*_clean||² = {lin.clean_distance_final:.3g} (uniform "
        f"{uni.clean_distance_final:.3g}): "
        + (
            "its weights change the point it converges to (its weighted objective's "
            "minimiser), not only its speed."
            if lin.train_final > 1e-3 * fig7.train0
            else "it converges to f's minimiser too."
        ),
    ]
