"""Do the status-rule tests bite? Move each threshold of the claims' status rules and watch.

    python benchmarks/threshold_mutants.py [--only SUBSTRING] [--list]

Every entry of :data:`MUTANTS` moves one threshold of a status rule (an experiment's
``RULES``, the pretraining study's claims, a report provider's status rule) by a factor --
1 % -> 1.1 % or 10 %, 20 runs -> 10, 1e-6 -> 1.1e-6 -- or turns a strict comparison into a
weak one (a tie then counts), in a copy of the package, and runs the tests that pin it
(``tests/experiments/test_rule_thresholds.py``, ``tests/report/test_provider_thresholds.py``
and their neighbours). A mutant is *killed* when a test fails. The script prints one line
per mutant with the failing tests and exits non-zero if one survives, so the table in the
closing note of the work that added these tests can be regenerated.

It complements ``benchmarks/mutation.py`` (mutmut over the theorem checks and Proposition 1's
solver): mutmut mutates every literal and operator of those modules; this script moves the
thresholds of the status rules, which mutmut does not cover, by the factors that matter.
The working tree is never modified (the copy lives in a temporary folder); a few seconds per
mutant (the tests of the pretraining study import torch).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXP = "rwtheory/experiments/"
PROV = "rwtheory/report/providers/"
T_VERDICT = ("tests/experiments/test_verdict.py",)
T_RULES = ("tests/experiments/test_rule_thresholds.py",)
T_LM = ("tests/experiments/test_lm_thresholds.py",)
T_PROV = ("tests/report/test_provider_thresholds.py",)
T_MC = ("tests/theory/test_monte_carlo_exceeds.py", "tests/report/test_provider_thresholds.py")
T_TABLES = ("tests/report/test_provider_thresholds.py", "tests/report/test_paper_tables.py")
T_OVERHEAD = ("tests/report/test_provider_thresholds.py", "tests/report/test_overhead.py")


@dataclass(frozen=True)
class Mutant:
    """Replace ``old`` (exactly once in ``path``) by ``new``, then run ``tests``."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


def _factor(name, path, old, template, values, tests):
    """One mutant per value of ``values``: ``template`` with the value in place of ``{}``."""
    return [Mutant(f"{name} -> {v}", path, old, template.format(v), tests) for v in values]


MUTANTS: list[Mutant] = [
    # ------------------------------------------------------------------ verdict.log_ratio
    Mutant(
        "log_ratio: diverged side signs swapped",
        EXP + "verdict.py",
        "return -math.inf if fa else math.inf",
        "return math.inf if fa else -math.inf",
        T_VERDICT,
    ),
    Mutant(
        "log_ratio: both diverged -> +inf",
        EXP + "verdict.py",
        "    if fa == fb:\n        return 0.0",
        "    if fa == fb:\n        return math.inf",
        T_VERDICT,
    ),
    Mutant(
        "log_ratio: 0 allowed (a >= 0)",
        EXP + "verdict.py",
        "if not (a > 0 and b > 0):",
        "if not (a >= 0 and b > 0):",
        T_VERDICT,
    ),
    Mutant(
        "log_ratio: no under/overflow branch",
        EXP + "verdict.py",
        "if 0 < q < math.inf else",
        "if True else",
        T_VERDICT,
    ),
    # ------------------------------------------------------------------------------ fig7
    Mutant(
        "fig7.linupper_fastest: tie at a level fails",
        EXP + "fig7.py",
        "mine is None or mine > min(reached)",
        "mine is None or mine >= min(reached)",
        T_RULES,
    ),
    Mutant(
        "fig7.linupper_fastest: tie on the final fails",
        EXP + "fig7.py",
        'finals["linupper"] <= best_other',
        'finals["linupper"] < best_other',
        T_RULES,
    ),
    Mutant(
        "fig7.quadratic_beats_uniform: tie on the final holds",
        EXP + "fig7.py",
        'below = _final(s, "quadratic") < _final(s, "uniform")',
        'below = _final(s, "quadratic") <= _final(s, "uniform")',
        T_RULES,
    ),
    Mutant(
        "fig7.quadratic_beats_uniform: tie at a level is late",
        EXP + "fig7.py",
        "(b is None or a <= b)",
        "(b is None or a < b)",
        T_RULES,
    ),
    Mutant(
        "fig7.extremes_behind: tie holds",
        EXP + "fig7.py",
        'ok = finals["extremes"] > worst_other',
        'ok = finals["extremes"] >= worst_other',
        T_RULES,
    ),
    Mutant(
        "fig7.LEVELS x 1.05",
        EXP + "fig7.py",
        "LEVELS = (0.5, 0.2, 0.1, 0.05, 0.02)",
        "LEVELS = (0.525, 0.21, 0.105, 0.0525, 0.021)",
        T_RULES,
    ),
    Mutant(
        "fig7.LEVELS / 1.05",
        EXP + "fig7.py",
        "LEVELS = (0.5, 0.2, 0.1, 0.05, 0.02)",
        "LEVELS = (0.476, 0.1905, 0.0952, 0.0476, 0.01905)",
        T_RULES,
    ),
    # ------------------------------------------------------------------------------ fig8
    Mutant(
        "fig8.drokl_diverges: every seed -> all but one",
        EXP + "fig8.py",
        '"holds" if n_div == s.seeds else',
        '"holds" if n_div >= s.seeds - 1 else',
        T_RULES,
    ),
    Mutant(
        "fig8.drokl_diverges: none -> at most one fails",
        EXP + "fig8.py",
        '"fails" if others or n_div == 0 else',
        '"fails" if others or n_div <= 1 else',
        T_RULES,
    ),
    Mutant(
        "fig8.drokl_slower: a tie is slower",
        EXP + "fig8.py",
        "t_small <= t_lin)",
        "t_small < t_lin)",
        T_RULES,
    ),
    Mutant(
        "fig8.drokl_slower: one diverged seed allowed",
        EXP + "fig8.py",
        "if small.diverged > 0 or",
        "if small.diverged > 1 or",
        T_RULES,
    ),
    *_factor(
        "fig8 level 1.1 x linupper's final",
        EXP + "fig8.py",
        "level = 1.1 * lin.final",
        "level = {} * lin.final",
        (1.155, 1.0476),
        T_RULES,
    ),
    Mutant(
        "fig8.linupper_vs_uniform: tie holds",
        EXP + "fig8.py",
        '"holds" if lin_v < uni_v else "fails"',
        '"holds" if lin_v <= uni_v else "fails"',
        T_RULES,
    ),
    # --------------------------------------------------------------------- r_sensitivity
    *_factor(
        "r_sensitivity.NEAR_UNIFORM 0.01",
        EXP + "r_sensitivity.py",
        "NEAR_UNIFORM = 0.01",
        "NEAR_UNIFORM = {}",
        (0.1, 0.0105, 0.00952),
        T_RULES,
    ),
    Mutant(
        "r_sensitivity.large_r_uniform: strictly shrinking",
        EXP + "r_sensitivity.py",
        "rel[a] >= rel[b] for a, b",
        "rel[a] > rel[b] for a, b",
        T_RULES,
    ),
    Mutant(
        "r_sensitivity.small_r_hurts: a tie is worse",
        EXP + "r_sensitivity.py",
        "worse = s.final(small) > s.final(best_r)",
        "worse = s.final(small) >= s.final(best_r)",
        T_RULES,
    ),
    Mutant(
        "r_sensitivity.small_r_hurts: a tie beats uniform",
        EXP + "r_sensitivity.py",
        "if s.final(best_r) < s.uniform_final\n",
        "if s.final(best_r) <= s.uniform_final\n",
        T_RULES,
    ),
    # ------------------------------------------------------------------------ max_weight
    *_factor(
        "max_weight.CAP_RTOL 1e-12",
        EXP + "max_weight.py",
        "CAP_RTOL = 1e-12",
        "CAP_RTOL = {}",
        (1e-11, 1.05e-12, 0.952e-12),
        T_RULES,
    ),
    Mutant("max_weight.RHO 2 -> 2.2", EXP + "max_weight.py", "RHO = 2.0", "RHO = 2.2", T_RULES),
    Mutant(
        "max_weight.linupper_below_cap: 0.1 % of steps allowed",
        EXP + "max_weight.py",
        "r1_ok, r2_ok = r1.frac_above_cap == 0, r2.frac_above_cap == 0",
        "r1_ok, r2_ok = r1.frac_above_cap <= 1e-3, r2.frac_above_cap <= 1e-3",
        T_RULES,
    ),
    Mutant(
        "max_weight.drokl_exceeds_cap: above on 0.1 % of steps",
        EXP + "max_weight.py",
        "ok = dro.frac_above_cap > 0 and cap.frac_above_cap == 0",
        "ok = dro.frac_above_cap > 1e-3 and cap.frac_above_cap == 0",
        T_RULES,
    ),
    Mutant(
        "max_weight.drokl_exceeds_cap: kl_capped may exceed on 0.1 %",
        EXP + "max_weight.py",
        "ok = dro.frac_above_cap > 0 and cap.frac_above_cap == 0",
        "ok = dro.frac_above_cap > 0 and cap.frac_above_cap <= 1e-3",
        T_RULES,
    ),
    # ------------------------------------------------------------------------------ fig1
    *_factor(
        "fig1.MONOTONE_ATOL 1e-12",
        EXP + "fig1.py",
        "MONOTONE_ATOL = 1e-12",
        "MONOTONE_ATOL = {}",
        (1.05e-12, 0.952e-12),
        T_RULES,
    ),
    *_factor(
        "fig1.SYMMETRY_RTOL 1e-12",
        EXP + "fig1.py",
        "SYMMETRY_RTOL = 1e-12",
        "SYMMETRY_RTOL = {}",
        (1.05e-12, 0.952e-12),
        T_RULES,
    ),
    Mutant(
        "fig1 symmetry: numpy's default atol 1e-8 back",
        EXP + "fig1.py",
        "rtol=SYMMETRY_RTOL, atol=0.0",
        "rtol=SYMMETRY_RTOL, atol=1e-8",
        T_RULES,
    ),
    Mutant(
        "fig1 claim: ratio ties count as decreasing",
        EXP + "fig1.py",
        "s[nm, a].ratio > s[nm, b].ratio",
        "s[nm, a].ratio >= s[nm, b].ratio",
        T_RULES,
    ),
    # --------------------------------------------------------------------------- lm study
    *_factor(
        "lm.MATCH_TOLERANCE 1 %",
        EXP + "lm_pretrain.py",
        "MATCH_TOLERANCE = 0.01",
        "MATCH_TOLERANCE = {}",
        (0.1, 0.0105, 0.00952),
        T_LM,
    ),
    Mutant(
        "lm.linupper_vs_uniform: half the domains is a majority",
        EXP + "lm_pretrain.py",
        "2 * len(matched) > len(learnable)",
        "2 * len(matched) >= len(learnable)",
        T_LM,
    ),
    *_factor(
        "lm.RHO_RTOL 1e-6",
        EXP + "lm_pretrain.py",
        "RHO_RTOL = 1e-6",
        "RHO_RTOL = {}",
        (1e-5, 1.05e-6, 0.952e-6),
        T_LM,
    ),
    Mutant(
        "lm cap 2 -> 2.2",
        EXP + "lm_pretrain.py",
        "above = 2 * (1 + RHO_RTOL)",
        "above = 2.2 * (1 + RHO_RTOL)",
        T_LM,
    ),
    Mutant(
        "lm.verdict: a tie at the spread is a difference",
        EXP + "lm_pretrain.py",
        'word = "tie" if abs(diff) <= spread else',
        'word = "tie" if abs(diff) < spread else',
        T_LM,
    ),
    *_factor(
        "lm.verdict: spread x factor",
        EXP + "lm_pretrain.py",
        'word = "tie" if abs(diff) <= spread else',
        'word = "tie" if abs(diff) <= {} * spread else',
        (1.05, 0.952),
        T_LM,
    ),
    Mutant(
        "lm._beats: a tie at the spread beats",
        EXP + "lm_pretrain.py",
        "return final[b][d] - final[a][d] > max(spread[a][d], spread[b][d])",
        "return final[b][d] - final[a][d] >= max(spread[a][d], spread[b][d])",
        T_LM,
    ),
    Mutant(
        "lm._beats: spread x 1.05",
        EXP + "lm_pretrain.py",
        "return final[b][d] - final[a][d] > max(spread[a][d], spread[b][d])",
        "return final[b][d] - final[a][d] > 1.05 * max(spread[a][d], spread[b][d])",
        T_LM,
    ),
    Mutant(
        "lm.cap: 0.1 % of steps above allowed",
        EXP + "lm_pretrain.py",
        '"holds" if s["fraction_of_steps_with_rho_above_2"]["linupper"] == 0 else "fails"',
        '"holds" if s["fraction_of_steps_with_rho_above_2"]["linupper"] <= 1e-3 else "fails"',
        T_LM,
    ),
    Mutant(
        "lm.kl_capped_respects_cap: 0.1 % of steps above allowed",
        EXP + "lm_pretrain.py",
        '"holds" if s["fraction_of_steps_with_rho_above_2"]["kl_capped"] == 0 else "fails"',
        '"holds" if s["fraction_of_steps_with_rho_above_2"]["kl_capped"] <= 1e-3 else "fails"',
        T_LM,
    ),
    Mutant(
        "lm.cap_in_practice: the noise domain counts",
        EXP + "lm_pretrain.py",
        '    learnable = [d for d in DOMAINS if d != "noise"]\n    hurts',
        "    learnable = list(DOMAINS)\n    hurts",
        T_LM,
    ),
    # ----------------------------------------------------------- Theorems 1-2 (randomised)
    *_factor(
        "randomised.MIN_APPLICABLE_RUNS 20",
        "rwtheory/theory/randomised.py",
        "MIN_APPLICABLE_RUNS = 20",
        "MIN_APPLICABLE_RUNS = {}",
        (10, 19, 21),
        T_PROV,
    ),
    Mutant(
        "Tally.status: exactly the minimum is too few",
        "rwtheory/theory/randomised.py",
        'return "holds" if self.runs_applicable >= min_runs else "not checked"',
        'return "holds" if self.runs_applicable > min_runs else "not checked"',
        T_PROV,
    ),
    Mutant(
        "thm2.ii: exactly the minimum of constant-schedule runs is too few",
        PROV + "theorems.py",
        'status = "holds with caveat" if held >= MIN_APPLICABLE_RUNS else "not checked"',
        'status = "holds with caveat" if held > MIN_APPLICABLE_RUNS else "not checked"',
        T_PROV,
    ),
    Mutant(
        "thm2.i: one Monte Carlo excess allowed",
        PROV + "theorems.py",
        "mc_bad > 0),",
        "mc_bad > 1),",
        T_PROV,
    ),
    Mutant(
        "thm1.cap: row spread 10 counted as L_max ~ L",
        PROV + "theorems.py",
        'spread = [b for b in dro if b.facts["row_spread"] > 1]',
        'spread = [b for b in dro if b.facts["row_spread"] > 10]',
        T_PROV,
    ),
    Mutant(
        "thm1.cap: one breaking run is not enough",
        PROV + "theorems.py",
        '"holds with caveat" if breaks > 0 else "fails"',
        '"holds with caveat" if breaks > 1 else "fails"',
        T_PROV,
    ),
    # --------------------------------------------------------------------- Theorem 4
    *_factor(
        "nonconvex_checks.MIN_APPLICABLE_RUNS (thm4) 20",
        "rwtheory/theory/nonconvex_checks.py",
        "MIN_APPLICABLE_RUNS = randomised.MIN_APPLICABLE_RUNS",
        "MIN_APPLICABLE_RUNS = {}",
        (0, 10, 19, 21),
        T_PROV,
    ),
    Mutant(
        "thm4: exactly the minimum is too few",
        "rwtheory/theory/nonconvex_checks.py",
        "return {k: v for k, v in counts.items() if v < min_runs}",
        "return {k: v for k, v in counts.items() if v <= min_runs}",
        T_PROV,
    ),
    Mutant(
        "thm4: the rate not counted",
        "rwtheory/theory/nonconvex_checks.py",
        '    ("full batch", "rate"),\n',
        "",
        T_PROV,
    ),
    *_factor(
        "thm4.pep PEP_RTOL 1e-6",
        PROV + "theorem4.py",
        "PEP_RTOL = 1e-6",
        "PEP_RTOL = {}",
        (1e-5, 1.05e-6, 0.952e-6),
        T_PROV,
    ),
    *_factor(
        "EXCEEDS_STDERRS 3",
        "rwtheory/theory/theorems/sgd.py",
        "EXCEEDS_STDERRS = 3.0",
        "EXCEEDS_STDERRS = {}",
        (2.0, 3.15, 2.857),
        T_MC,
    ),
    # ------------------------------------------------------------------ Proposition 1
    *_factor(
        "prop1 compare_with_cvxpy tol 1e-6",
        "rwtheory/theory/proposition1.py",
        "    tol: float = 1e-6,\n    scs_max_n",
        "    tol: float = {},\n    scs_max_n",
        (1.05e-6, 0.952e-6),
        T_PROV,
    ),
    *_factor(
        "prop1.no_kl max_diff_distinct 1e-6",
        PROV + "proposition1.py",
        "if lp.max_diff_distinct <= 1e-6 and",
        "if lp.max_diff_distinct <= {} and",
        (1.05e-6, 0.952e-6),
        T_PROV,
    ),
    *_factor(
        "prop1.no_kl max_objective_gap 1e-6",
        PROV + "proposition1.py",
        "lp.max_objective_gap <= 1e-6 and not",
        "lp.max_objective_gap <= {} and not",
        (1.05e-6, 0.952e-6),
        T_PROV,
    ),
    *_factor(
        "prop1.linupper total variation 1e-9",
        PROV + "proposition1.py",
        "identical = all(x.tv_quantiles[-1] <= 1e-9 for x in lin)",
        "identical = all(x.tv_quantiles[-1] <= {} for x in lin)",
        (1.05e-9, 0.952e-9),
        T_PROV,
    ),
    # ------------------------------------------------------------------------- PEP
    *_factor(
        "pep.SOLVER_RTOL 1e-4",
        "rwtheory/theory/pep.py",
        "SOLVER_RTOL = 1e-4",
        "SOLVER_RTOL = {}",
        (1e-3, 1.05e-4, 0.952e-4),
        T_PROV,
    ),
    *_factor(
        "thm1.pep_sanity 1e-4",
        PROV + "pep.py",
        '"holds" if err <= 1e-4 else "fails"',
        '"holds" if err <= {} else "fails"',
        (1.05e-4, 0.952e-4),
        T_PROV,
    ),
    # -------------------------------------------------------------------- overhead
    *_factor(
        "overhead.TARGET_RATIO 1.02",
        "rwtheory/report/overhead.py",
        "TARGET_RATIO = 1.02",
        "TARGET_RATIO = {}",
        (1.2, 1.021, 1.019),
        T_OVERHEAD,
    ),
    # --------------------------------------------------------------- paper's tables
    Mutant(
        "tab2.extremes_lags: last on 3 of 4 tasks enough",
        PROV + "paper_tables.py",
        '"fails" if last < 4 else "holds"',
        '"fails" if last < 3 else "holds"',
        T_TABLES,
    ),
    *_factor(
        "paper_tables.MEAN_TOL 0.011",
        PROV + "paper_tables.py",
        "MEAN_TOL = 0.011",
        "MEAN_TOL = {}",
        (0.01155, 0.01048),
        T_TABLES,
    ),
    *_factor(
        "paper_tables._mean_consistent a unit of the digit",
        PROV + "paper_tables.py",
        "return abs(mean - reported) <= 10.0**-decimals + 1e-9",
        "return abs(mean - reported) <= {} * 10.0**-decimals + 1e-9",
        (1.05, 0.952),
        T_TABLES,
    ),
    *_factor(
        "a5.cap_7b rho <= 2",
        PROV + "paper_tables.py",
        '"holds" if rho_sup <= 2 else "fails"',
        '"holds" if rho_sup {} else "fails"',
        ("<= 2.2", "<= 1.9", "< 2"),
        T_TABLES,
    ),
    Mutant(
        "conclusion.consistent: as many better as worse holds",
        PROV + "paper_tables.py",
        '"holds with caveat" if b > w else "fails"',
        '"holds with caveat" if b >= w else "fails"',
        T_TABLES,
    ),
    Mutant(
        "tab1.scale: a tie grows",
        PROV + "paper_tables.py",
        'grows = mean_gain["GPT2-medium"] > max(',
        'grows = mean_gain["GPT2-medium"] >= max(',
        T_TABLES,
    ),
    Mutant(
        "tab12.dro_kl: a tie outperforms",
        PROV + "paper_tables.py",
        'ok = TABLE12["linupper"][4] > TABLE12[best_dro][4]',
        'ok = TABLE12["linupper"][4] >= TABLE12[best_dro][4]',
        T_TABLES,
    ),
    Mutant(
        "tab1.linupper_5of7: 5 -> 4 domains",
        PROV + "paper_tables.py",
        "ok = b + t == 5 and",
        "ok = b + t == 4 and",
        T_TABLES,
    ),
    Mutant(
        "tab2.linupper_3of4: 3 -> 4 tasks",
        PROV + "paper_tables.py",
        '"holds" if n_lin == 3 else "fails"',
        '"holds" if n_lin == 4 else "fails"',
        T_TABLES,
    ),
    Mutant(
        "tab3.domain_reweighting: 8 -> 7 pairs",
        PROV + "paper_tables.py",
        '"holds" if better == 8 and',
        '"holds" if better >= 7 and',
        T_TABLES,
    ),
]


def run(mutant: Mutant, copy: Path) -> tuple[bool, list[str]]:
    """(killed, failing test ids) of one mutant, in the copy ``copy`` of the repository."""
    target = copy / mutant.path
    original = target.read_text(encoding="utf-8")
    if mutant.old and original.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: {mutant.old!r} occurs {original.count(mutant.old)}x")
    if mutant.old:
        target.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
    try:
        env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *mutant.tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        target.write_text(original, encoding="utf-8")
    failed = re.findall(r"^FAILED (\S+)", out.stdout, flags=re.M)
    if out.returncode not in (0, 1):  # 2..5: interrupted, usage or collection error
        failed.append(f"(pytest exit {out.returncode}: collection or import error)")
    return out.returncode != 0, failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the mutants whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    chosen = [m for m in MUTANTS if args.only is None or args.only in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name}  [{m.path}]")
        return 0
    survived = 0
    with tempfile.TemporaryDirectory(prefix="threshold_mutants_") as tmp:
        copy = Path(tmp)
        for part in ("rwtheory", "tests", "benchmarks"):
            shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
        # control: unmutated, every test set passes (else a "kill" would mean nothing)
        for tests in dict.fromkeys(m.tests for m in chosen):
            _, failed = run(Mutant("control", chosen[0].path, "", "", tests), copy)
            if failed:
                raise SystemExit(f"unmutated tests fail in the copy: {failed}")
        for m in chosen:
            killed, failed = run(m, copy)
            survived += not killed
            names = dict.fromkeys(f.split("::")[-1].split("[")[0] for f in failed)
            tests = ", ".join(names) or "-"
            say(f"{'killed  ' if killed else 'SURVIVED'} | {m.name} | {tests}")
    say(f"{len(chosen) - survived}/{len(chosen)} mutants killed")
    if args.out is not None:
        from rwtheory.report.files import atomic_write_text

        head = "# python benchmarks/threshold_mutants.py" + (
            f" --only {args.only}" if args.only else ""
        )
        atomic_write_text(args.out, "\n".join([head, *lines]) + "\n")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
