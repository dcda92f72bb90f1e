"""The theory-vs-practice figure and rows (issue 26) on their quick configuration, and the
training-objective decomposition of Figures 7-8 in the robustness study: every status is
its rule applied to the recorded numbers, Figure 7's panels are Figure 7's own runs, and the
decomposition's answers follow from the numbers written beside them."""

import math

import numpy as np
import pytest

from rwtheory.experiments import fig7, fig8, robustness, robustness_report, theory_vs_practice
from rwtheory.experiments.common import resolved_suboptimality, seeds_for
from rwtheory.experiments.robustness_grid import load_grid
from rwtheory.report.providers import figures as figure_providers
from rwtheory.report.providers import practice as rules


@pytest.fixture(scope="module")
def quick():
    result = theory_vs_practice.build(quick=True)
    yield result
    import matplotlib.pyplot as plt

    plt.close("all")


def test_rows_follow_their_rules(quick):
    s = quick.summary
    rows = {c.key: c for c in theory_vs_practice.claims(quick)}
    assert set(rows) == {
        "intro.faster_convergence.convex",
        "thm1_2.predicts_speedup",
        "fig7.training_objective",
    }
    p = s.study.shares["paper"]
    assert rows["intro.faster_convergence.convex"].status == rules.faster_convergence_status(
        p["above"], p["slower"] if p["above"] else 0.0
    )
    c = s.study.correlations["paper", "min", "steps"]
    expect = (
        "not checked"
        if c.pairs < rules.MIN_PAIRS
        else rules.prediction_status(c.pairs, c.low, c.high)
    )
    assert rows["thm1_2.predicts_speedup"].status == expect
    lin = next(r for r in s.records if r["strategy"] == "linupper")
    assert rows["fig7.training_objective"].status == rules.training_objective_status(
        lin["faster_on_training"], lin["better_on_test"]
    )
    for row in rows.values():
        assert not row.stable and any(ch.isdigit() for ch in row.number)


def test_shares_and_correlations_are_those_of_the_pair_table(quick):
    study = quick.summary.study
    t = {k: np.asarray(v, dtype=object) for k, v in study.table.items()}
    g = t["gamma_mean"].astype(float)
    s = t["speedup_steps"].astype(float)
    applies = ~np.isnan(t["predicted_paper_min"].astype(float)) & ~np.isnan(s)
    above = applies & (g > 1 + 1e-9)
    assert study.shares["paper"]["above"] == above.sum()
    if above.any():
        assert study.shares["paper"]["slower"] == pytest.approx((s[above] < 1).mean())
    c = study.correlations["sharp", "min", "final"]
    assert c.pairs == (~np.isnan(t["predicted_sharp_min"].astype(float))).sum()
    assert len(set(map(len, study.table.values()))) == 1


def test_figure7_panels_are_figure7s_own_runs(quick):
    s = quick.summary
    _, own = fig7.measure(seeds_for(None, True), steps=fig7.QUICK_STEPS)
    assert s.fig7 == own
    assert list(s.records) == fig7.decomposition(own)
    for r in s.records:
        v, u = own.strategies[r["strategy"]], own.strategies["uniform"]
        assert r["faster_on_training"] == rules.faster_on_training(
            v.train_to_level, u.train_to_level
        )
        assert r["better_on_test"] == (v.final < u.final)
    # LinUpper's weights move the point GD converges to: f(x_T) - f* stays above uniform's
    assert own.strategies["linupper"].train_final > own.strategies["uniform"].train_final


def test_csv_holds_the_plotted_points(quick):
    cols = quick.columns
    assert list(cols)[:4] == ["panel", "series", "x", "y"]
    assert len({len(v) for v in cols.values()}) == 1
    t = quick.summary.study.table
    a = [i for i, p in enumerate(cols["panel"]) if p == "a"]
    pred, sp = np.asarray(t["predicted_paper_min"]), np.asarray(t["speedup_steps"])
    assert len(a) == int((np.isfinite(pred) & np.isfinite(sp)).sum())
    for i in a:
        assert cols["x"][i] == cols["predicted_paper_min"][i]
        assert cols["y"][i] == cols["speedup_steps"][i]
    drawn = quick.figure.axes[0].collections
    assert sum(len(c.get_offsets()) for c in drawn) == len(a)


def test_the_figure_provider_returns_rows_details_and_notes(quick):
    rep = figure_providers.figure_provider(theory_vs_practice, {"theory_vs_practice": quick}).run(
        True
    )
    assert [c.key for c in rep.claims] == [c.key for c in theory_vs_practice.claims(quick)]
    assert rep.details.startswith("## Does the bound predict practice?")
    assert len(rep.notes) == 2 and "Spearman" in rep.notes[0]
    assert all(
        c.evidence == ("figures/theory_vs_practice.png", "figures/theory_vs_practice.csv")
        for c in rep.claims
    )


def test_resolved_suboptimality():
    assert resolved_suboptimality(1e-9, 1.0) == 0.0
    assert resolved_suboptimality(1.23456e-3, 1.0) == 1.235e-3
    assert math.isnan(resolved_suboptimality(math.nan, 1.0))


# ---------------------------------------------------------------------- robustness
TINY = dict(
    seeds=3,
    sample_seed=1,
    settings_per_family=2,
    include_base=False,
    axes=dict(
        n_d=["40x5"],
        noise=[0.1],
        outlier_features=["gaussian:1", "gaussian:10"],
        outlier_targets=[1.0],
        lr=["0.1", "0.5/L"],
        steps=[60],
    ),
    fig7=dict(outlier_fraction=[0.1], r=[1.0]),
    fig8=dict(outlier_fraction=[0.25], r=[1.0], tau=[1.0]),
    r_sensitivity=dict(outlier_fraction=[0.1]),
    max_weight=dict(outlier_fraction=[0.1], batch=[8], tau=[1.0]),
)


@pytest.mark.parametrize("family, module", [("fig7", fig7), ("fig8", fig8)])
def test_settings_record_the_decomposition(family, module):
    setting = load_grid(TINY).settings(family)[0]
    verdicts, records = robustness.measure_setting(setting, 3)
    assert verdicts == robustness.run_setting(setting, 3)
    kwargs = setting.kwargs() | ({"tau_sweep": ()} if family == "fig8" else {})
    _, summary = module.measure(list(range(3)), **kwargs)
    assert [r["strategy"] for r in records] == [
        r["strategy"] for r in module.decomposition(summary)
    ]
    for r in records:
        n = r["numbers"]
        ladder = [n[f"train_steps_{k}"] for k in range(5)]
        uniform = [n[f"uniform_train_steps_{k}"] for k in range(5)]
        assert r["faster_on_training"] == rules.faster_on_training(ladder, uniform)
        assert r["better_on_test"] == rules.better_on_test(n["test_final"], n["uniform_test_final"])


def test_decomposition_files_and_ledger_note(tmp_path):
    study = robustness.run_study(load_grid(TINY), only=["fig7"], workers=1, out=tmp_path)
    robustness_report.write(study, tmp_path)
    lines = (tmp_path / "fig7_decomposition.csv").read_text().splitlines()
    assert lines[0].startswith("# rwtheory robustness study")
    assert len(lines) == 2 + 2 * 3  # header lines, 2 settings x 3 strategies
    note = robustness_report.ledger_notes(study)[robustness_report.DECOMPOSITION_CLAIM]
    counts = robustness_report.combination_counts(study, "fig7")
    assert set(counts) == {"linupper", "quadratic", "extremes"}
    for strategy, c in counts.items():
        assert sum(c.values()) == 2
        assert f"fig7 {strategy} over 2 settings: " in note
    # read back from the files, the study writes the same files
    robustness_report.write(robustness_report.load(tmp_path), tmp_path / "again")
    for name in ("fig7_decomposition.csv", "decomposition.md"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / name).read_bytes()


def test_training_records_measure_from_the_unweighted_minimum():
    """f* is the minimum of the unweighted objective: no iterate goes below it, and uniform GD
    (which minimises f) converges to it while LinUpper stops above."""
    from rwtheory.experiments.common import run_grid, training_records

    grid = run_grid(fig7.configs(), [0, 1], steps=400, outlier_fraction=0.1, keep_iterates=True)
    rec = training_records(grid)
    for key, r in rec.items():
        assert np.all(r["suboptimality"] >= -1e-12), key
    assert np.all(rec["uniform"]["suboptimality"][:, -1] < 1e-10)
    assert np.all(rec["linupper"]["suboptimality"][:, -1] > 1e-4)
    x_true = grid.extra["problem"].x_true
    np.testing.assert_allclose(rec["uniform"]["clean_distance"][:, 0], (x_true**2).sum(axis=1))
