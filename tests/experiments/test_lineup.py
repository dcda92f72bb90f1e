"""A strategy a user registers reaches the figures and the study without an edit of a figure
module: Figure 1's panels, Figure 7's runs, shapes and caption (its formula from its record),
and the Figure 7 family's decomposition records -- in this process and, through plugins, in
the worker processes; the claims stay judged on the paper's strategies."""

import csv
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from rwtheory.cli import main
from rwtheory.experiments import fig1, fig7, lineup
from rwtheory.weights.strategies import StrategyRecord, registered_strategies

PLUGIN = '''
from rwtheory.weights.strategies import StrategyRecord, register_strategy


def softsquare(normalized, delta=1.0):
    """s = l~^2 / delta: up-weights both ends, more gently than Extremes."""
    return normalized**2 / delta


register_strategy(
    StrategyRecord("softsquare", softsquare, lambda delta: float(delta), formula="l~^2")
)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plugin module ``rw_plugin_test`` importable here and in spawned workers."""
    (tmp_path / "rw_plugin_test.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    yield "rw_plugin_test"
    sys.modules.pop("rw_plugin_test", None)


def _rows(path: Path) -> list[dict]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(lines))


def test_figure_7_runs_draws_and_captions_a_registered_strategy(plugin):
    plain = fig7.build(quick=True)
    with lineup.plugins([plugin]) as loaded:
        assert loaded == (plugin,) and lineup.user_strategies() == ("softsquare",)
        result = fig7.build(quick=True)
    assert "softsquare" not in registered_strategies()  # the registry is restored
    s = result.summary
    assert list(s.strategies) == [*fig7.STRATEGIES, "softsquare"]
    assert "softsquare s = l~^2" in result.caption
    assert {"softsquare (r=1)"} <= set(result.columns["series"])
    # the paper's claims are judged on the paper's strategies: same statuses, same numbers
    assert [(c.key, c.status) for c in fig7.claims(result)] == [
        (c.key, c.status) for c in fig7.claims(plain)
    ]
    assert [d["strategy"] for d in fig7.decomposition(s)] == [
        "linupper",
        "quadratic",
        "extremes",
        "softsquare",
    ]


def test_without_a_user_strategy_the_caption_is_the_papers():
    """The caption's formulas come from the records, in the words the figures always used."""
    result = fig1.build(quick=True)
    assert (
        "w = softmax(s(l~)/r) with linupper s = min(l~ + 1, 1), quadratic s = 1 - l~^2, "
        "extremes s = |l~|, uniform w = 1/n" in result.caption
    )


def test_the_command_line_loads_the_plugin_in_its_workers(plugin, tmp_path):
    out = tmp_path / "figs"
    code = main(
        ["--plugin", plugin, "figures", "--only", "fig1", "--quick", "--out", str(out)]
        + ["--workers", "1"]
    )
    assert code == 0
    panels = {row["panel"] for row in _rows(out / "fig1.csv")}
    assert panels == {"linupper", "quadratic", "extremes", "softsquare"}
    assert "softsquare" not in registered_strategies()


@pytest.mark.slow
def test_a_robustness_run_records_the_registered_strategy(plugin, tmp_path):
    out = tmp_path / "study"
    code = main(
        ["--plugin", plugin, "robustness", "--grid", "quick", "--only", "fig7"]
        + ["--out", str(out), "--workers", "2"]
    )
    assert code == 0
    strategies = {row["strategy"] for row in _rows(out / "fig7_decomposition.csv")}
    assert strategies == {"linupper", "quadratic", "extremes", "softsquare"}


def test_a_plugin_that_cannot_be_imported_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--plugin", "no_such_module_rw", "figures", "--only", "fig1", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert "argument --plugin" in err and "no_such_module_rw" in err


def test_entry_points_register_records_iterables_and_callables(monkeypatch):
    def score(x, delta=1.0):
        return x / delta

    def record(name):
        return StrategyRecord(name, score, lambda delta: 2.0 * delta, formula="l~")

    one, two, three = record("ep_one"), record("ep_two"), record("ep_three")
    points = [
        types.SimpleNamespace(name="a", value="pkg:one", load=lambda: one),
        types.SimpleNamespace(name="b", value="pkg:many", load=lambda: [two]),
        types.SimpleNamespace(name="c", value="pkg:fn", load=lambda: lambda: three),
    ]
    monkeypatch.setattr(lineup.metadata, "entry_points", lambda group: points)
    with lineup.plugins([]):
        assert lineup.user_strategies() == ("ep_one", "ep_two", "ep_three")
        assert lineup.figure_strategies(("uniform",)) == ("uniform", "ep_one", "ep_two", "ep_three")
    assert not {"ep_one", "ep_two", "ep_three"} & set(registered_strategies())
    points[:] = [types.SimpleNamespace(name="d", value="pkg:bad", load=lambda: 42)]
    with pytest.raises(ValueError, match=r"plugin entry point 'd' \(pkg:bad\) must give"):
        with lineup.plugins([]):
            pass


def test_the_console_script_finds_a_plugin_file_in_the_current_folder(tmp_path):
    """``rwtheory --plugin NAME`` for a file NAME.py in the folder the user is in, with no
    PYTHONPATH: found here and in the worker processes, as ``python -m rwtheory`` finds it."""
    (tmp_path / "my_strategy.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    script = Path(sys.executable).with_name("rwtheory")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(script), "--plugin", "my_strategy", "figures", "--only", "fig1", "--quick"]
        + ["--out", "figs", "--workers", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    panels = {row["panel"] for row in _rows(tmp_path / "figs" / "fig1.csv")}
    assert panels == {"linupper", "quadratic", "extremes", "softsquare"}


def test_figure_8_and_the_max_weight_figure_run_a_registered_strategy_beside_the_papers(plugin):
    """Figure 8 (at the shared rate, linupper's r) and the max-weight figure (r = 1 and 2)
    run, summarise and caption a registered strategy; their claims are judged on the paper's
    configurations alone, with the same statuses and numbers as without it."""
    from rwtheory.experiments import fig8, max_weight

    plain = {m: m.build(quick=True) for m in (fig8, max_weight)}
    with lineup.plugins([plugin]):
        got = {m: m.build(quick=True) for m in (fig8, max_weight)}
    for m in (fig8, max_weight):
        assert [(c.key, c.status, c.number) for c in m.claims(got[m])] == [
            (c.key, c.status, c.number) for c in m.claims(plain[m])
        ]
        assert "registered softsquare" in got[m].caption and "softsquare s = l~^2" in got[m].caption
        assert "softsquare" not in plain[m].caption
    assert list(got[fig8].summary.configs) == [*fig8.PAPER_KEYS, "softsquare"]
    assert [d["strategy"] for d in fig8.decomposition(got[fig8].summary)] == [
        "linupper",
        "dro_kl",
        "softsquare",
    ]
    assert {"softsquare_r1", "softsquare_r2"} <= set(got[max_weight].summary.configs)
    assert {"softsquare (r=1), lr=0.1"} <= set(got[fig8].columns["series"])
