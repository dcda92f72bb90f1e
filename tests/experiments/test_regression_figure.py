"""The scaffold of the regression figures (rwtheory.experiments.regression_figure): a figure's
``measure`` runs its configs with the figure's defaults unless the setting overrides them,
frees the iterates once summarised while the training-objective records stay readable, and a
claim row takes its status from the claim's rule and its command from the figure."""

import numpy as np
import pytest

from rwtheory.experiments import fig7, max_weight, r_sensitivity
from rwtheory.experiments.common import run_grid, training_records
from rwtheory.experiments.regression_figure import RegressionFigure
from rwtheory.experiments.verdict import Verdict

SMALL = dict(n=40, d=5, n_test=50)


def test_measure_frees_the_iterates_and_keeps_the_training_records():
    """fig7 summarises with the iterates (the training objective), then drops them; the
    records it summarised are still what ``training_records`` answers, the same numbers as
    on a grid that keeps its iterates."""
    grid, summary = fig7.measure([0, 1], steps=60, **SMALL)
    assert grid.trajectory.iterates is None
    records = training_records(grid)
    kept = run_grid(
        fig7.configs(), [0, 1], steps=60, outlier_fraction=0.1, keep_iterates=True, **SMALL
    )
    fresh = training_records(kept)
    assert list(records) == list(fresh) == [c.key for c in grid.configs]
    for key in records:
        for name in ("suboptimality", "clean_distance"):
            np.testing.assert_array_equal(records[key][name], fresh[key][name])
    u = summary.strategies["uniform"]
    assert u.clean_distance_final == float(fresh["uniform"]["clean_distance"][:, -1].mean())


def test_measure_takes_the_figure_defaults_unless_the_setting_overrides_them():
    grid, _ = r_sensitivity.measure([0], steps=12, **SMALL)
    assert grid.steps == 12 and grid.method == "gd"
    assert grid.problem_params["outlier_fraction"] == r_sensitivity.OUTLIER_FRACTION == 0.1
    grid, _ = r_sensitivity.measure([0], steps=12, outlier_fraction=0.3, **SMALL)
    assert grid.problem_params["outlier_fraction"] == 0.3
    grid, summary = max_weight.measure([0], steps=5, batch=8, **SMALL)
    assert grid.method == "sgd" and grid.batch_size == summary.batch == 8
    assert grid.problem_params["outlier_fraction"] == max_weight.OUTLIER_FRACTION


def test_a_claim_row_has_its_rules_status_and_the_figures_command():
    figure = RegressionFigure("figx", 10, 5, 0.25)
    rules = {
        "figx.a": lambda s: Verdict("holds with caveat", 0.0),
        "figx.b": lambda s: Verdict("fails" if s < 0 else "holds", float(s)),
    }
    words = dict(section="Sec. 1", paper="p", quoted=False, ours="o", number="1")
    a = figure.claim(rules, 3, "figx.a", **words)
    assert (a.key, a.status, a.how) == (
        "figx.a",
        "holds with caveat",
        "rwtheory figures --only figx",
    )
    assert figure.claim(rules, -1, "figx.b", **words).status == "fails"
    assert figure.claim(rules, 1, "figx.b", **words).status == "holds"
    assert figure.outliers == "25 % outliers"
    with pytest.raises(KeyError):
        figure.claim(rules, 1, "figx.c", **words)
