"""Property-based test of the public surface added since issue 13 (issue 22): the strategy
registry and user score functions, the cap analysis, the bisection, the batched pipeline,
the problems, the engines and their user schemes, schedules and losses, grids, study
folders, ledgers and the CLI.

For generated good and bad inputs (``tests/surface_cases.py``: wrong types, shapes and
ranges, non-finite values, bad user callables, malformed files), every call either returns
a correct result -- checked against a simple reference -- or raises a ValueError/TypeError
whose message names the bad argument (a user's callable by its name). Every bad command
line exits with status 2 and one line naming the argument. Generated damage of a ledger or
a grid is either refused with the place it breaks the schema, or the document is usable:
a ledger renders, a grid's every setting builds its problem.
"""

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from surface_cases import (
    GOOD_OUTCOMES,
    LEDGER,
    SCENARIOS,
    TINY_GRID,
    cli_commands,
    judge,
    judge_command,
)

from rwtheory._array import InputError
from rwtheory.cli import main
from rwtheory.convex.problems import regression_with_outliers
from rwtheory.experiments.robustness_grid import load_grid
from rwtheory.report.html import render_html
from rwtheory.report.records import check_ledger

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", list(SCENARIOS))
@FAST
@given(data=st.data())
def test_a_correct_result_or_an_error_naming_the_argument(name, data):
    outcome, detail = judge(SCENARIOS[name](data))
    assert outcome in GOOD_OUTCOMES, f"{outcome}: {detail}"


# ------------------------------------------------------------------ the command line
def _bad_commands(folder):
    return [c for c in cli_commands(folder) if c.bad]


def _labels():
    """Stable test ids (the same in every xdist worker): position and what is damaged."""
    import shutil
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp(prefix="cli-ids-"))
    try:
        cmds = _bad_commands(tmp)
        return [f"{i}-{c.label}" for i, c in enumerate(cmds)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


LABELS = _labels()


@pytest.fixture(scope="module")
def bad_commands(tmp_path_factory):
    return _bad_commands(tmp_path_factory.mktemp("cli-cases"))


@pytest.mark.parametrize("index", range(len(LABELS)), ids=LABELS)
def test_every_bad_command_exits_2_with_one_line_naming_the_argument(index, bad_commands, capsys):
    cmd = bad_commands[index]
    with pytest.raises(SystemExit) as exit_:
        main(cmd.argv)
    err = capsys.readouterr().err
    assert judge_command(cmd, exit_.value.code, err) == "clean", (cmd.argv, exit_.value.code, err)


# ------------------------------------------------------------------ generated damage
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(doc, prefix=()):
    """Every key path of a JSON document (capped per list at its first 3 items)."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            yield from _paths(v, prefix + (i,))


def _replace(doc, path, value):
    doc = copy.deepcopy(doc)
    if not path:
        return value
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


LEDGER_DOC = json.loads(LEDGER.read_text(encoding="utf-8"))
LEDGER_PATHS = [p for p in _paths(LEDGER_DOC) if "details" not in p[:1] or len(p) < 3]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(LEDGER_PATHS), value=JSON_VALUES)
def test_a_damaged_ledger_is_refused_at_its_place_or_renders(path, value):
    doc = _replace(LEDGER_DOC, path, value)
    try:
        check_ledger(doc)
    except InputError as exc:
        assert str(exc).startswith("ledger: ") and "at $" in str(exc) or "counts" in str(exc)
        return
    assert "<html" in render_html(doc)


GRID_PATHS = list(_paths(TINY_GRID))[1:]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(GRID_PATHS), value=JSON_VALUES | st.sampled_from([math.nan, 0.5, 2]))
def test_a_damaged_grid_is_refused_by_name_or_every_setting_builds(path, value):
    grid = _replace(TINY_GRID, path, value)
    try:
        g = load_grid(grid)
    except (ValueError, TypeError) as exc:
        assert isinstance(exc, InputError) and str(exc).startswith("grid"), exc
        return
    for family in ("fig7", "fig8", "r_sensitivity", "max_weight"):
        for s in g.settings(family):
            kw = s.kwargs()
            p = regression_with_outliers(
                1,
                n=kw["n"],
                d=kw["d"],
                n_test=2,
                noise=kw["noise"],
                outlier_fraction=kw["outlier_fraction"],
                outlier_feature_law=kw["outlier_feature_law"],
                outlier_feature_df=kw["outlier_feature_df"],
                outlier_feature_scale=kw["outlier_feature_scale"],
                outlier_target_scale=kw["outlier_target_scale"],
            )
            assert kw["steps"] >= 1 and kw.get("batch", 1) <= p.n
