"""Every threshold of the convex figures' status rules, pinned by boundary tests.

Each test builds a figure summary (or, for a threshold applied while summarising, the run
records) by hand just inside and just outside one threshold and asserts that the status
flips exactly there. The boundary
values (3 % either side, or a tie for a strict comparison) are written out from the thresholds
the docstrings state (1 %, 1.1 x, 2/B, ...), not read from the modules' constants, so moving
a threshold by a factor of 1.05 or more makes a test fail.

Summaries are built with :func:`make`: fields a test does not name are NaN, so a field added
to a summary later does not break these tests (the rules under test must not read it)."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest

from rwtheory.experiments import fig1, fig7, fig8, max_weight, r_sensitivity
from rwtheory.experiments.common import Config, Grid

NAN = math.nan


def make(cls, **given):
    """An instance of the dataclass ``cls``: ``given`` fields, NaN for every other one."""
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(given) <= names, set(given) - names
    return cls(**{n: given.get(n, NAN) for n in names})


class _Records:
    """A trajectory stand-in for :class:`Grid`: the given (runs, steps + 1) records, no
    divergence, and NaN for any record not given."""

    def __init__(self, shape, **records):
        self._shape = shape
        self.diverged_at = np.full(shape[0], -1)
        self.__dict__.update(records)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return np.full(self._shape, NAN)


def grid(curves: dict[str, dict[str, np.ndarray]], batch_size=None) -> Grid:
    """One seed per configuration: ``curves[key][record]`` a 1-d array over steps 0..T."""
    keys = list(curves)
    names = {r for c in curves.values() for r in c}
    T1 = len(next(iter(curves[keys[0]].values())))
    records = {r: np.stack([np.asarray(curves[k][r], float) for k in keys]) for r in names}
    configs = [Config(k, None, 0.1, k) for k in keys]
    return Grid(configs, [0], _Records((len(keys), T1), **records), {}, "gd", T1 - 1, batch_size)


def _flat_training_records(monkeypatch, module) -> None:
    """The hand-made grids have no iterates: the records beside the test MSE (issue 26,
    ``common.training_records``) are given as flat ones, which these rules do not read."""

    def records(g: Grid):
        T1 = g.steps + 1
        flat = dict(suboptimality=np.ones((1, T1)), clean_distance=np.ones((1, T1)))
        return {c.key: flat for c in g.configs}

    monkeypatch.setattr(module, "training_records", records)


# ----------------------------------------------------------------------------- fig7
def _fig7(finals, ladders, levels=(0.5, 0.2)):
    runs = {
        k: make(fig7.StrategyResult, final=f, to_level=tuple(ladders[k]), diverged=0)
        for k, f in finals.items()
    }
    return make(fig7.Summary, steps=100, seeds=1, levels=levels, strategies=runs)


FINALS = {"uniform": 0.2, "linupper": 0.1, "quadratic": 0.15, "extremes": 0.3}
LADDER = {"uniform": (5, 20), "linupper": (3, 10), "quadratic": (4, 20), "extremes": (9, None)}


def test_fig7_linupper_fastest_allows_ties_and_nothing_more():
    assert fig7.linupper_fastest(_fig7(FINALS, LADDER)).status == "holds"
    tie = dict(LADDER, linupper=(3, 10), quadratic=(3, 10))  # tied first at both levels
    assert fig7.linupper_fastest(_fig7(FINALS, tie)).status == "holds"
    late = dict(LADDER, linupper=(4, 10), quadratic=(3, 10))  # one step behind at one level
    assert fig7.linupper_fastest(_fig7(FINALS, late)).status == "fails"
    never = dict(LADDER, linupper=(3, None))  # misses a level another strategy reaches
    assert fig7.linupper_fastest(_fig7(FINALS, never)).status == "fails"
    # final: a tie with the best other counts, anything above does not
    assert fig7.linupper_fastest(_fig7(dict(FINALS, linupper=0.15), LADDER)).status == "holds"
    assert fig7.linupper_fastest(_fig7(dict(FINALS, linupper=0.1501), LADDER)).status == "fails"
    assert fig7.linupper_fastest(_fig7(dict(FINALS, linupper=NAN), LADDER)).status == "fails"


def test_fig7_quadratic_beats_uniform_is_strict_on_the_final_and_weak_on_the_ladder():
    ok = dict(LADDER, quadratic=(5, 20))  # ties uniform at both levels
    assert fig7.quadratic_beats_uniform(_fig7(FINALS, ok)).status == "holds"
    late = dict(LADDER, quadratic=(5, 21))
    assert fig7.quadratic_beats_uniform(_fig7(FINALS, late)).status == "holds with caveat"
    missed = dict(LADDER, quadratic=(5, None))
    assert fig7.quadratic_beats_uniform(_fig7(FINALS, missed)).status == "holds with caveat"
    only_q = dict(LADDER, quadratic=(5, 20), uniform=(5, None))  # uniform never gets there
    assert fig7.quadratic_beats_uniform(_fig7(FINALS, only_q)).status == "holds"
    tie = dict(FINALS, quadratic=0.2)
    assert fig7.quadratic_beats_uniform(_fig7(tie, ok)).status == "fails"
    v = fig7.quadratic_beats_uniform(_fig7(FINALS, ok))
    assert v.margin == pytest.approx(math.log(0.2 / 0.15))


def test_fig7_extremes_behind_is_strict():
    assert fig7.extremes_behind(_fig7(FINALS, LADDER)).status == "holds"
    assert fig7.extremes_behind(_fig7(dict(FINALS, extremes=0.2), LADDER)).status == "fails"
    assert fig7.extremes_behind(_fig7(dict(FINALS, extremes=0.2001), LADDER)).status == "holds"


def test_fig7_ladder_is_the_stated_fractions_of_the_initial_mse(monkeypatch):
    """Every strategy's seed-mean curve MSE_0 x 0.99^t: the steps at which it first reaches
    MSE_0 x {0.5, 0.2, 0.1, 0.05, 0.02} (the module docstring's ladder) are 69, 161, 230,
    299, 390; a level 3 % higher or lower would be reached about 3 steps earlier or later."""
    _flat_training_records(monkeypatch, fig7)
    curve = 3.0 * 0.99 ** np.arange(601)
    s = fig7.summarise(
        grid({k: {"test_loss": curve} for k in fig7.STRATEGIES}), lr=0.1, lr_unit="absolute", r=1
    )
    assert s.mse0 == 3.0
    assert s.levels == pytest.approx(tuple(3.0 * f for f in (0.5, 0.2, 0.1, 0.05, 0.02)))
    assert s.strategies["linupper"].to_level == (69, 161, 230, 299, 390)


# ----------------------------------------------------------------------------- fig8
def _fig8(seeds=10, diverged=None, steps=(None, 20), finals=None):
    """steps: (DRO-KL at the small rate, linupper) to 1.1 x linupper's final."""
    div = {"uniform": 0, "linupper": 0, "dro_kl": seeds, "dro_kl_small": 0} | (diverged or {})
    fin = {"uniform": 0.2, "linupper": 0.1, "dro_kl": NAN, "dro_kl_small": 0.3} | (finals or {})
    to = dict(dro_kl_small=steps[0], linupper=steps[1])
    cf = {
        k: make(fig8.ConfigResult, diverged=div[k], final=fin[k], to_linupper_final_x1_1=to.get(k))
        for k in div
    }
    return make(fig8.Summary, steps=100, seeds=seeds, configs=cf, tau_sweep={})


def test_fig8_drokl_diverges_counts_seeds_exactly():
    assert fig8.drokl_diverges_shared_rate(_fig8()).status == "holds"
    assert fig8.drokl_diverges_shared_rate(_fig8()).margin == 1.0
    some = _fig8(diverged={"dro_kl": 9})
    assert fig8.drokl_diverges_shared_rate(some).status == "holds with caveat"
    assert fig8.drokl_diverges_shared_rate(some).margin == pytest.approx(0.9)
    one = _fig8(diverged={"dro_kl": 1})
    assert fig8.drokl_diverges_shared_rate(one).status == "holds with caveat"
    assert fig8.drokl_diverges_shared_rate(_fig8(diverged={"dro_kl": 0})).status == "fails"
    for other in ("uniform", "linupper"):  # one diverged seed of the contrast: no contrast
        v = fig8.drokl_diverges_shared_rate(_fig8(diverged={other: 1}))
        assert v.status == "fails" and v.margin == pytest.approx(0.0)


def test_fig8_drokl_slower_flips_between_a_tie_and_one_step_later():
    assert fig8.drokl_slower_small_rate(_fig8(steps=(21, 20))).status == "holds"
    assert fig8.drokl_slower_small_rate(_fig8(steps=(21, 20))).margin == pytest.approx(0.01)
    assert fig8.drokl_slower_small_rate(_fig8(steps=(20, 20))).status == "fails"
    assert fig8.drokl_slower_small_rate(_fig8(steps=(None, 20))).status == "holds with caveat"
    late = _fig8(steps=(21, 20), diverged={"dro_kl_small": 1})
    assert fig8.drokl_slower_small_rate(late).status == "fails"
    assert fig8.drokl_slower_small_rate(late).margin == -1.0


def test_fig8_linupper_vs_uniform_is_strict():
    assert fig8.linupper_vs_uniform_25pct(_fig8()).status == "holds"
    tie = _fig8(finals={"linupper": 0.2})
    assert fig8.linupper_vs_uniform_25pct(tie).status == "fails"
    all_diverged = _fig8(finals={"uniform": NAN})
    assert fig8.linupper_vs_uniform_25pct(all_diverged).status == "holds"


def test_fig8_level_is_1_1_times_linupper_final(monkeypatch):
    """linupper ends at 1 (flat), DRO-KL at the small rate follows 2 x 0.99^t: it first
    reaches 1.1 x linupper's final at step 60 (1.133 would give 57, 1.068 would give 63)."""
    _flat_training_records(monkeypatch, fig8)
    T1 = 201
    flat, ones = np.ones(T1), np.ones(T1)
    curves = {
        "uniform": {"test_loss": flat, "train_loss": ones, "rho": ones},
        "linupper": {"test_loss": flat, "train_loss": ones, "rho": ones},
        "dro_kl": {"test_loss": flat, "train_loss": ones, "rho": ones},
        "dro_kl_small": {"test_loss": 2 * 0.99 ** np.arange(T1), "train_loss": ones, "rho": ones},
    }
    s = fig8.summarise(grid(curves), tau=fig8.TAU, tau_sweep=(fig8.TAU,))
    assert s.configs["dro_kl_small"].to_linupper_final_x1_1 == 60
    assert s.configs["linupper"].to_linupper_final_x1_1 == 0
    assert fig8.drokl_slower_small_rate(s).status == "holds"


# --------------------------------------------------------------------- r_sensitivity
def _rsens(gaps, uniform=1.0, finals=None):
    """linupper at the grid's temperatures ending at uniform x (1 + gap)."""
    cf = {"uniform": make(r_sensitivity.ConfigResult, final=uniform)}
    for r, g in zip(r_sensitivity.TEMPERATURES, gaps, strict=True):
        cf[f"r{r:g}"] = make(r_sensitivity.ConfigResult, final=uniform * (1 + g))
    for k, v in (finals or {}).items():
        cf[k] = make(r_sensitivity.ConfigResult, final=v)
    return make(r_sensitivity.Summary, steps=100, seeds=3, configs=cf)


SHRINKING = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02)


def test_large_r_uniform_needs_a_gap_below_1_percent():
    inside, outside = _rsens(SHRINKING + (0.0097,)), _rsens(SHRINKING + (0.0103,))
    assert r_sensitivity.large_r_uniform(inside).status == "holds"
    assert r_sensitivity.large_r_uniform(outside).status == "fails"
    assert r_sensitivity.large_r_uniform(inside).margin == pytest.approx(math.log(0.01 / 0.0097))
    # below the gap but not shrinking with r: caveat; the last step up by 8 % is enough
    bumpy = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.009, 0.0097)
    assert r_sensitivity.large_r_uniform(_rsens(bumpy)).status == "holds with caveat"
    # "shrinks" is weak: equal consecutive gaps still shrink
    flat = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.0097, 0.0097)
    assert r_sensitivity.large_r_uniform(_rsens(flat)).status == "holds"
    # a negative gap (linupper below uniform) counts by its size
    assert r_sensitivity.large_r_uniform(_rsens(SHRINKING + (-0.0097,))).status == "holds"
    assert r_sensitivity.large_r_uniform(_rsens(SHRINKING + (-0.0103,))).status == "fails"


def test_large_r_uniform_with_a_diverged_run_fails():
    s = _rsens(SHRINKING + (0.0,), finals={"r100": NAN})
    assert r_sensitivity.large_r_uniform(s).status == "fails"


def test_small_r_hurts_is_strict_on_both_comparisons():
    # smallest r worst, best r (r=100, gap 0.02 below uniform) beats uniform
    s = _rsens((1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.0, -0.02))
    assert r_sensitivity.small_r_hurts(s).status == "holds"
    assert r_sensitivity.small_r_hurts(s).numbers["best_r"] == 100.0
    # best r ties uniform: not "beats" -> caveat
    tie = _rsens((1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.0))
    assert r_sensitivity.small_r_hurts(tie).status == "holds with caveat"
    # the smallest r is itself the best (ties the best): fails
    flat = _rsens((0.0,) * 8)
    assert r_sensitivity.small_r_hurts(flat).status == "fails"
    assert r_sensitivity.small_r_hurts(s).margin == pytest.approx(math.log(2.0 / 0.98))


# ------------------------------------------------------------------------ max_weight
def _mw(r1=0.0, r2=0.0, dro=0.5, cap=0.0):
    cf = {
        "linupper_r1": make(max_weight.ConfigResult, frac_above_cap=r1, max_rho=2.5),
        "linupper_r2": make(max_weight.ConfigResult, frac_above_cap=r2, max_rho=1.9),
        "dro_kl": make(max_weight.ConfigResult, frac_above_cap=dro, max_rho=64.0, diverged=0),
        "kl_capped": make(max_weight.ConfigResult, frac_above_cap=cap, max_rho=2.0),
    }
    return make(max_weight.Summary, steps=100, seeds=1, batch=64, configs=cf)


def test_max_weight_rules_allow_no_step_above_the_cap():
    one_step = 1 / 2000  # one step of one seed above the cap
    assert max_weight.linupper_below_cap(_mw()).status == "holds"
    assert max_weight.linupper_below_cap(_mw()).margin == pytest.approx(0.1)  # 2 - 1.9
    assert max_weight.linupper_below_cap(_mw(r1=one_step)).status == "holds with caveat"
    assert max_weight.linupper_below_cap(_mw(r2=one_step)).status == "fails"
    assert max_weight.drokl_exceeds_cap(_mw()).status == "holds"
    assert max_weight.drokl_exceeds_cap(_mw(dro=one_step)).status == "holds"
    assert max_weight.drokl_exceeds_cap(_mw(dro=0.0)).status == "fails"
    assert max_weight.drokl_exceeds_cap(_mw(cap=one_step)).status == "fails"


def test_max_weight_counts_a_step_above_2_over_b_up_to_rounding_only():
    """rho_t = B max_i w_i^t is above the cap 2 when it exceeds 2 (1 + 1e-12): 2 (1 + 0.97e-12)
    is rounding, 2 (1 + 1.03e-12) and 2.1 are above; 1.9 is below."""
    B = 64
    values = {
        "at_cap": [2.0, 2.0, 2.0],
        "rounding": [2.0, 2 * (1 + 0.97e-12), 1.0],
        "just_above": [2.0, 2 * (1 + 1.03e-12), 1.0],
        "above": [1.9, 2.1, 1.0],
    }
    s = max_weight.summarise(
        grid({k: {"rho": np.array(v)} for k, v in values.items()}, batch_size=B)
    )
    frac = {k: v.frac_above_cap for k, v in s.configs.items()}
    assert frac == {"at_cap": 0.0, "rounding": 0.0, "just_above": 1 / 3, "above": 1 / 3}
    assert s.configs["above"].max_rho == pytest.approx(2.1)


# ------------------------------------------------------------------------------ fig1
def test_fig1_shape_facts_tolerances():
    """non-decreasing up to a dip of 1e-12; symmetric up to 1e-12 relative, with no absolute
    slack (weights of order 1e-2 would hide an asymmetry of 1e-8 behind one)."""
    y = np.array([0.5, 1.0, 1.0, 2.0])
    assert fig1.shape_facts(y).monotone
    assert fig1.shape_facts(y).ratio == 4.0
    assert fig1.shape_facts(y - np.array([0, 0, 0.97e-12, 0])).monotone
    assert not fig1.shape_facts(y - np.array([0, 0, 1.03e-12, 0])).monotone
    s = np.array([0.01, 0.5, 0.01])
    assert fig1.shape_facts(s).symmetric
    assert fig1.shape_facts(s * np.array([1, 1, 1 + 0.97e-12])).symmetric
    assert not fig1.shape_facts(s * np.array([1, 1, 1 + 1.03e-12])).symmetric
    assert not fig1.shape_facts(np.array([0.01, 0.5, 0.01 + 1e-9])).symmetric


def test_fig1_claim_needs_every_property_and_a_strict_decrease():
    def facts(ratio=lambda r: math.exp(1 / r), monotone=True, symmetric=True):
        return fig1.Summary(
            {
                (n, r): fig1.ShapeFacts(ratio(r), monotone, symmetric)
                for n in fig1.STRATEGIES
                for r in fig1.TEMPERATURES
            }
        )

    def status(summary):
        return fig1.claims(SimpleNamespace(summary=summary))[0].status

    assert status(facts()) == "holds"
    assert status(facts(monotone=False)) == "fails"
    assert status(facts(symmetric=False)) == "fails"
    assert status(facts(ratio=lambda r: 2.0 if r >= 1 else math.exp(1 / r))) == "fails"  # tie


def test_every_threshold_mutant_still_finds_its_text(monkeypatch):
    """benchmarks/threshold_mutants.py moves each threshold by replacing one exact piece of
    code; a refactor that rewrites that piece leaves the mutant stale and stops the script
    (4aa52fc did so for fig7's tie rule, unnoticed until the script was run). Each mutant's
    text must occur exactly once in its file, and the replacement must change it."""
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        "threshold_mutants", root / "benchmarks" / "threshold_mutants.py"
    )
    mutants = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mutants)  # dataclasses look the module up
    spec.loader.exec_module(mutants)
    stale = [
        (m.name, (root / m.path).read_text(encoding="utf-8").count(m.old))
        for m in mutants.MUTANTS
        if (root / m.path).read_text(encoding="utf-8").count(m.old) != 1 or m.old == m.new
    ]
    assert stale == []
