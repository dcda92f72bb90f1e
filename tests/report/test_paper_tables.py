"""The large-scale claims checked against the paper's own tables
(rwtheory.report.providers.paper_tables).

Each test pins a count computed from the transcribed tables and shows that the status rule
reacts to the table: change one number and the verdict changes."""

import copy

import pytest

from rwtheory.report.providers import paper_tables as pt


def _by_key():
    return {c.key: c for c in pt.claims()}


def test_counts_match_the_paper_text():
    c = _by_key()
    assert c["tab1.linupper_5of7"].status == "holds"
    assert "5/7 domains (4 better, 1 tied" in c["tab1.linupper_5of7"].number
    assert c["tab2.linupper_3of4"].status == "holds"
    assert c["llama1_4b.tasks"].status == "holds"  # 6 + 1 tie of 13, 5 of 6: 11 of 19
    assert c["llama7b.tasks"].status == "holds"  # 9 of 13, 5 of 6: 14 of 19
    assert c["tab3.domain_reweighting"].status == "holds"
    assert c["tab12.dro_kl"].status == "holds"


def test_the_extremes_claim_contradicts_table_2():
    c = _by_key()["tab2.extremes_lags"]
    assert c.status == "fails"
    assert {q.name: q.value for q in c.quantities}["tasks where extremes is last"] == 0
    assert {q.name: q.value for q in c.quantities}["extremes mean rank"] == 2


def test_lost_gains_are_restored_from_the_task_rows():
    q = {x.name: x.value for x in _by_key()["llama1_4b.average"].quantities}
    assert q["LUR gain"] == pytest.approx(0.65, abs=0.011)  # Table 4 reports 0.66
    assert q["QA gain"] == pytest.approx(1.72, abs=0.011)
    q7 = {x.name: x.value for x in _by_key()["llama7b.average"].quantities}
    assert q7["LUR gain"] == pytest.approx(1.44, abs=0.011)


def test_conclusion_counts_every_task_result():
    q = {x.name: x.value for x in _by_key()["conclusion.consistent"].quantities}
    assert q["task results better"] + q["task results worse"] + 1 == 4 + 19 + 19  # one tie


def test_7b_cap_is_guaranteed_by_the_temperature():
    c = _by_key()["a5.cap_7b"]
    assert c.status == "holds"
    q = {x.name: x.value for x in c.quantities}
    assert q["sup rho over n"] == pytest.approx(2.718281828**0.5, rel=1e-5)
    assert q["sup rho at n=128"] < q["sup rho over n"] < 2


def test_verdicts_react_to_the_tables(monkeypatch):
    t2 = copy.deepcopy(pt.TABLE2)
    t2["extremes"] = (20.0, 20.0, 40.0, 50.0, 32.5)
    monkeypatch.setattr(pt, "TABLE2", t2)
    assert _by_key()["tab2.extremes_lags"].status == "holds"
    t3 = copy.deepcopy(pt.TABLE3)
    t3["DoReMi + LinUpper"] = (27.0, 27.9, 54.5, 56.1, 41.4)
    monkeypatch.setattr(pt, "TABLE3", t3)
    assert _by_key()["tab3.domain_reweighting"].status == "fails"
    llama = copy.deepcopy(pt.LLAMA)
    llama["7B"]["QA"]["SciQ"] = (95.20, 95.30)
    monkeypatch.setattr(pt, "LLAMA", llama)
    assert _by_key()["llama7b.tasks"].status == "fails"  # 15 of 19, not 14
    llama["7B"]["means"]["QA"] = (48.15, 49.50)
    assert _by_key()["llama7b.average"].status == "fails"  # reported mean inconsistent


def test_every_row_names_why_it_cannot_be_rerun_here():
    for c in pt.claims():
        if c.scope != "checked here":
            assert len(c.reason) > 40, c.key
