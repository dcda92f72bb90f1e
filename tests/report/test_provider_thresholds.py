"""Every number that decides a status in the report providers, pinned by boundary tests.

Each test feeds a provider's claim function hand-made results just inside and just outside
one threshold -- within 3 %, or exactly at it for a strict comparison -- and asserts that the
status flips there. The boundary values are written out from the thresholds the claims
state (20 applicable runs, 1e-6, 1e-4, 2 %, 0.011 points, ...), not read from the modules'
constants, so moving a threshold by a factor of 1.05 or more makes a test fail. (The cap row
``a5.cap`` has no such number: its status is "holds with caveat" by construction.)"""

import copy
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from rwtheory.report.overhead import StepBenchmark, overhead_claim
from rwtheory.report.providers import paper_tables as pt
from rwtheory.report.providers import pep, proposition1, theorem4, theorems
from rwtheory.theory import nonconvex_checks as nc
from rwtheory.theory import proposition1 as prop1_theory
from rwtheory.theory import randomised


# ---------------------------------------------------------------- Theorems 1-2: runs
def _verification(applicable: int, constant=()) -> randomised.VerificationResult:
    """Every tally with 150 runs, no violation; the rate tallies with ``applicable`` runs
    whose hypotheses held."""
    tallies = [
        randomised.Tally(
            algorithm,
            route,
            name,
            runs=150,
            runs_applicable=applicable if "rate" in name else 150,
            evaluated=1000,
        )
        for algorithm, names in randomised.INEQUALITIES.items()
        for route in "CJ"
        for name in names
    ]
    return randomised.VerificationResult(150, 50, 1e-9, tallies, 0.0, list(constant))


def test_theorem_rows_need_20_applicable_runs():
    assert theorems.thm1_claim(_verification(19)).status == "not checked"
    assert theorems.thm1_claim(_verification(20)).status == "holds"
    assert theorems.thm2_sgd_claim(_verification(19), []).status == "not checked"
    assert theorems.thm2_sgd_claim(_verification(20), []).status == "holds"


def test_momentum_row_needs_20_runs_meeting_the_a_priori_constants():
    def held(c, j, ok=None):
        return [
            randomised.ConstantScheduleTally("C", 50, c, c if ok is None else ok, c),
            randomised.ConstantScheduleTally("J", 50, j, j, j),
        ]

    res = _verification(150, held(10, 9))
    assert theorems.thm2_momentum_claim(res, [], []).status == "not checked"
    res = _verification(150, held(10, 10))
    assert theorems.thm2_momentum_claim(res, [], []).status == "holds with caveat"
    res = _verification(150, held(10, 10, ok=9))  # one run without the coefficient bound
    assert theorems.thm2_momentum_claim(res, [], []).status == "fails"


def test_monte_carlo_excess_fails_theorem_2():
    mc = [SimpleNamespace(algorithm="SGD", exceeds=False)] * 3
    assert theorems.thm2_sgd_claim(_verification(20), mc).status == "holds"
    mc = mc + [SimpleNamespace(algorithm="SGD", exceeds=True)]
    assert theorems.thm2_sgd_claim(_verification(20), mc).status == "fails"


def test_cap_row_counts_failures_only_where_l_max_exceeds_l():
    def dro(spread, failing):
        return SimpleNamespace(
            hypothesis="uncapped DRO-KL",
            facts={"row_spread": spread},
            failing_runs=failing,
            runs=8,
            first_failure_step=5.0,
        )

    assert theorems.cap_claim([dro(1, 5), dro(10, 0)]).status == "fails"
    assert theorems.cap_claim([dro(1, 0), dro(10, 1)]).status == "holds with caveat"


# --------------------------------------------------------------------- Theorem 4
def _nonconvex(rate_runs=(5, 5, 5, 5), minibatch_runs=24, violations=0):
    """Hand-made verification: the full-batch rate applicable on ``rate_runs`` runs per
    weighting class (eta <= 1/L), one-step and pathwise on 24 runs per class and batch
    regime (minibatch: ``minibatch_runs`` in the uniform class)."""
    tallies = {}
    for batch in ("full batch", "minibatch"):
        for k, cls in enumerate(nc.CLASSES):
            for ineq in ("one-step", "pathwise", "rate"):
                if ineq == "rate" and batch == "minibatch":
                    continue
                runs = 24 if ineq != "rate" else rate_runs[k]
                if batch == "minibatch" and cls == "uniform":
                    runs = minibatch_runs
                key = (f"{batch}, {cls}", "η ≤ 1/L", ineq)
                tallies[key] = randomised.Tally(
                    *key,
                    runs=runs,
                    runs_applicable=runs,
                    evaluated=10 * runs,
                    violations=violations if ineq == "one-step" else 0,
                )
    return nc.NonconvexVerification(10, 100, 10, 1e-9, tallies, {}, 0.0)


OQ = SimpleNamespace(cells=[])
MC = [SimpleNamespace(exceeds=False)] * 4


def test_thm4_needs_20_applicable_runs_for_every_inequality():
    ok = theorem4.thm4_claim(_nonconvex(rate_runs=(5, 5, 5, 5)), MC, OQ)
    assert ok.status == "holds with caveat"
    assert "rate hypothesis (η ≤ 1/L) held in 20 full-batch runs" in ok.number
    short = theorem4.thm4_claim(_nonconvex(rate_runs=(5, 5, 5, 4)), MC, OQ)
    assert short.status == "not checked"
    assert "too few runs for full batch rate: 19" in short.number
    # pooled over the weighting classes: one class alone below 20 is enough evidence
    assert theorem4.thm4_claim(_nonconvex((17, 1, 1, 1)), MC, OQ).status == "holds with caveat"
    mini = _nonconvex(minibatch_runs=24 - 6)  # minibatch one-step and pathwise: 18 + 3 x 24
    assert theorem4.thm4_claim(mini, MC, OQ).status == "holds with caveat"
    assert mini.short_of_runs() == {}


def test_thm4_minimum_counts_each_inequality_and_batch_regime():
    res = _nonconvex()
    assert res.applicable_runs("minibatch", "one-step") == 96
    assert res.short_of_runs(97) == {
        "full batch one-step": 96,
        "full batch pathwise": 96,
        "full batch rate": 20,
        "minibatch one-step": 96,
        "minibatch pathwise": 96,
    }


def test_thm4_a_violation_or_a_monte_carlo_excess_fails_even_without_enough_runs():
    assert theorem4.thm4_claim(_nonconvex((0, 0, 0, 0), violations=1), MC, OQ).status == "fails"
    bad = MC + [SimpleNamespace(exceeds=True)]
    assert theorem4.thm4_claim(_nonconvex((0, 0, 0, 0)), bad, OQ).status == "fails"


def test_thm4_is_not_checked_when_no_step_met_the_rate_hypothesis():
    """Two real instances, both with eta > 1/L: the one-step and pathwise inequalities are
    evaluated on 24 runs each, the rate on none -- no status from a vacuous rate."""
    res = nc.verify(2, steps=4, seed=18)
    assert all(i.step_factor > 1 for i in nc.sample_instances(2, 18))
    assert res.violations == 0 and res.short_of_runs() == {"full batch rate": 0}
    assert theorem4.thm4_claim(res, MC, OQ).status == "not checked"


def _nonconvex_case(ratio, hypotheses_hold=True):
    return SimpleNamespace(
        hypotheses_hold=hypotheses_hold, ratio=ratio, n=2, steps=1, eta_L=0.5, weights="vertex"
    )


def test_thm4_pep_allows_1e_6_relative_above_the_bound():
    assert theorem4.pep_claim([_nonconvex_case(1 + 0.97e-6)]).status == "holds"
    assert theorem4.pep_claim([_nonconvex_case(1 + 1.03e-6)]).status == "fails"
    broken = [_nonconvex_case(1 + 0.97e-6), _nonconvex_case(7.5, hypotheses_hold=False)]
    assert theorem4.pep_claim(broken).status == "holds"  # eta > 1/L is reported, not judged


# ----------------------------------------------------------------- Proposition 1
def test_closed_form_against_the_solver_within_1e_6(monkeypatch):
    inst = [prop1_theory.Prop1Instance(np.array([0.0, 1.0, 2.0, 3.0]), 1.0, 2.0, "hand")]
    exact = np.asarray(prop1_theory.kl_capped_weights(inst[0].gaps, 1.0, 2.0))

    def compare(d, solver_residual=1.0):
        shift = np.array([d, -d, 0.0, 0.0])
        monkeypatch.setattr(
            prop1_theory,
            "reference_weights",
            lambda g, r, rho: (exact + shift, "Clarabel", "optimal", solver_residual),
        )
        return prop1_theory.compare_with_cvxpy(inst, scs_max_n=0)

    assert proposition1.closed_form_claim(compare(0.97e-6)).status == "holds"
    cmp = compare(1.03e-6)
    assert len(cmp.above_tol) == 1 and cmp.closed_form_suspect == 0
    assert proposition1.closed_form_claim(cmp).status == "holds with caveat"
    # the solver's answer better certified than the closed form's: evidence against it
    assert proposition1.closed_form_claim(compare(1.03e-6, 0.0)).status == "fails"


@pytest.mark.parametrize("field", ["max_diff_distinct", "max_objective_gap"])
def test_no_kl_structure_within_1e_6(field):
    def lp(**given):
        v = dict(max_diff_distinct=0.0, max_objective_gap=0.0) | given
        return SimpleNamespace(zero_fraction_rho2={4: 0.5}, failures=[], instances=100, **v)

    assert proposition1.no_kl_claim(lp(**{field: 0.97e-6})).status == "holds"
    assert proposition1.no_kl_claim(lp(**{field: 1.03e-6})).status == "fails"


def test_linupper_is_the_optimum_within_1e_9_total_variation():
    def lin(tv):
        return [
            SimpleNamespace(
                temperature=1.0,
                tv_quantiles=[0.0, 0.0, 0.0, tv],
                gamma_linupper=[1.0] * 4,
                gamma_optimum=[1.0] * 4,
                max_rho_linupper=1.5,
            )
        ]

    assert proposition1.linupper_claim(lin(0.97e-9)).status == "holds"
    assert proposition1.linupper_claim(lin(1.03e-9)).status == "fails"


# ------------------------------------------------------------------ PEP, Thms 1-2
def _pep_case(form, ratio):
    return SimpleNamespace(form=form, ratio=ratio, n=2, steps=1, rho=2.0, gamma=1.0)


def test_pep_rows_allow_the_solver_accuracy_1e_4():
    assert pep.tightness_claim([_pep_case("paper", 1 + 0.97e-4)]).status == "holds"
    assert pep.tightness_claim([_pep_case("paper", 1 + 1.03e-4)]).status == "fails"
    assert pep.sharp_tightness_claim([_pep_case("sharp", 1 + 0.97e-4)]).status == "holds"
    assert pep.sharp_tightness_claim([_pep_case("sharp", 1 + 1.03e-4)]).status == "fails"

    def hb(ratio):
        return [SimpleNamespace(ratio=ratio, worst_case=1.0, worst_case_gd=1.0, bound_gd=2.0)]

    assert pep.heavy_ball_claim(hb(1 + 0.97e-4)).status == "holds"
    assert pep.heavy_ball_claim(hb(1 + 1.03e-4)).status == "fails"


def test_pep_sanity_within_1e_4_of_the_formula():
    assert pep.sanity_claim([(1, 0.5, 0.25 + 0.97e-4, 0.25)]).status == "holds"
    assert pep.sanity_claim([(1, 0.5, 0.25 - 1.03e-4, 0.25)]).status == "fails"


# ----------------------------------------------------------------------- overhead
def test_overhead_is_nearly_zero_up_to_2_percent():
    bench = StepBenchmark(1.0, 1.0, 0.5, 0.1, "tiny model", "cpu")
    assert overhead_claim(replace(bench, ratio=1.0194)).status == "holds with caveat"
    assert overhead_claim(replace(bench, ratio=1.0206)).status == "fails"


# ------------------------------------------------------------- the paper's tables
def _by_key(claims):
    return {c.key: c for c in claims}


def test_extremes_lags_needs_last_place_on_all_four_tasks(monkeypatch):
    t2 = copy.deepcopy(pt.TABLE2)
    t2["extremes"] = (20.0, 20.0, 40.0, 55.2, 32.5)  # last on 3 tasks, third on PiQA
    monkeypatch.setattr(pt, "TABLE2", t2)
    c = _by_key(pt.table2_claims())["tab2.extremes_lags"]
    assert {q.name: q.value for q in c.quantities}["tasks where extremes is last"] == 3
    assert c.status == "fails"
    t2["extremes"] = (20.0, 20.0, 40.0, 50.0, 32.5)
    assert _by_key(pt.table2_claims())["tab2.extremes_lags"].status == "holds"


def test_llama_reported_means_within_0_011_points(monkeypatch):
    llama = copy.deepcopy(pt.LLAMA)
    qa = llama["7B"]["QA"].values()
    exact = (sum(u for u, _ in qa) / 6, sum(lu for _, lu in qa) / 6)
    monkeypatch.setattr(pt, "LLAMA", llama)
    llama["7B"]["means"]["QA"] = (exact[0] + 0.01067, exact[1] - 0.01067)
    assert _by_key(pt.llama_claims())["llama7b.average"].status == "holds"
    llama["7B"]["means"]["QA"] = (exact[0] + 0.01133, exact[1])
    assert _by_key(pt.llama_claims())["llama7b.average"].status == "fails"


def test_table3_mean_rows_within_a_unit_of_the_reported_digit(monkeypatch):
    t3 = copy.deepcopy(pt.TABLE3)
    monkeypatch.setattr(pt, "TABLE3", t3)
    row = t3["DoGE"][:4]
    t3["DoGE"] = row + (sum(row) / 4 + 0.097,)
    assert _by_key(pt.table3_claims())["tab3.domain_reweighting"].status == "holds"
    t3["DoGE"] = row + (sum(row) / 4 - 0.103,)
    assert _by_key(pt.table3_claims())["tab3.domain_reweighting"].status == "fails"


def test_table3_needs_all_8_pairs_improved(monkeypatch):
    """One (task, baseline) pair not improved -- a tie on a task the paragraph does not quote,
    the Mean row still consistent -- fails the row."""
    t3 = copy.deepcopy(pt.TABLE3)
    monkeypatch.setattr(pt, "TABLE3", t3)
    t3["DoGE + LinUpper"] = (28.6, 27.5, 53.2, 56.3, 41.4)  # LogiQA 2: 27.5, as DoGE alone
    c = _by_key(pt.table3_claims())["tab3.domain_reweighting"]
    assert {q.name: q.value for q in c.quantities}["pairs improved"] == 7
    assert c.status == "fails"
    t3["DoGE + LinUpper"] = (28.6, 27.6, 53.2, 56.3, 41.4)
    assert _by_key(pt.table3_claims())["tab3.domain_reweighting"].status == "holds"


def test_7b_cap_holds_up_to_rho_2_included(monkeypatch):
    import rwtheory.weights.pipeline as pipeline

    for sup, status in ((1.94, "holds"), (2.0, "holds"), (2.06, "fails")):
        monkeypatch.setattr(pipeline, "worst_case_rho", lambda strategy, n, r, s=sup: s)
        assert pt.cap_7b_claims()[0].status == status, sup


def test_conclusion_needs_more_task_results_better_than_worse(monkeypatch):
    monkeypatch.setattr(pt, "TABLE2", {"linupper": (1.0,) * 5, "uniform": (1.0,) * 5})
    rows = {"a": (1.0, 2.0), "b": (2.0, 1.0)}
    monkeypatch.setattr(pt, "LLAMA", {"x": {"LUR": rows, "QA": {}}})
    assert pt.conclusion_claims()[0].status == "fails"  # 1 better, 4 tied, 1 worse
    rows["c"] = (1.0, 1.5)
    assert pt.conclusion_claims()[0].status == "holds with caveat"


def test_strict_comparisons_of_the_tables(monkeypatch):
    """A tie is not "more significant" (Table 1's gain across sizes) nor "outperforms"
    (Table 12's means)."""
    t1 = copy.deepcopy(pt.TABLE1)
    monkeypatch.setattr(pt, "TABLE1", t1)
    assert _by_key(pt.table1_claims())["tab1.scale"].status == "holds with caveat"
    lin = list(t1["GPT2-small"]["linupper"])
    lin[7] = round(t1["GPT2-small"]["uniform"][7] - 0.03, 2)  # GPT2-medium's gain
    t1["GPT2-small"]["linupper"] = tuple(lin)
    assert _by_key(pt.table1_claims())["tab1.scale"].status == "fails"
    t12 = copy.deepcopy(pt.TABLE12)
    monkeypatch.setattr(pt, "TABLE12", t12)
    assert pt.table12_claims()[0].status == "holds"
    t12["DRO-KL 5.0"] = t12["DRO-KL 5.0"][:4] + (t12["linupper"][4],)
    assert pt.table12_claims()[0].status == "fails"
