"""Paired runs against uniform and the speed-ups measured on them (rwtheory.theory.pairing,
rwtheory.theory.practice; issue 26): a 3-sample instance computed by hand, and tests that
break when the pairing is broken (different batches, starts or step sizes)."""

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from rwtheory.convex import engine
from rwtheory.convex.problems import LeastSquares, consistent_least_squares
from rwtheory.convex.schemes import DROKL, Strategy
from rwtheory.theory import pairing, practice

E = math.e
# f_i(x) = (a_i x)^2 / 2, a = (1, 1, 2), x* = 0: the losses are (1/2, 1/2, 2) x^2, normalised
# to (-1, -1, 1) at every x, so LinUpper (r = 1) gives the constant weights (1, 1, e)/(2 + e).
# GD with lr 0.1: x_{t+1} = (1 - 0.1 c) x_t, c = sum_i w_i a_i^2; a_t = a_0 (1 - 0.1 c)^2t.
C_UNIFORM = 2.0  # (1 + 1 + 4) / 3
C_LINUPPER = (2 + 4 * E) / (2 + E)
GAMMA = C_LINUPPER / C_UNIFORM  # sum_i w_i Delta_i / mean_i Delta_i, every step
Q_UNIFORM = (1 - 0.1 * C_UNIFORM) ** 2  # 0.64
Q_LINUPPER = (1 - 0.1 * C_LINUPPER) ** 2  # 0.5288
# first t with q^t <= 10^-k, k = 1..8: ceil(k ln 10 / ln(1/q)), worked out by hand
# (uniform: 5.159 k; LinUpper: 3.614 k)
UNIFORM_STEPS = (6, 11, 16, 21, 26, 31, 37, 42)
LINUPPER_STEPS = (4, 8, 11, 15, 19, 22, 26, 29)
T = 50  # x_0 = 1e4: the losses' spread stays far above the normalisation's 1e-6 for 50 steps


def three_samples() -> LeastSquares:
    return LeastSquares(
        A=np.array([[[1.0], [1.0], [2.0]]]),
        b=np.zeros((1, 3)),
        x_star=np.zeros((1, 1)),
        params=dict(seeds=[0]),
    )


@pytest.fixture(scope="module")
def hand_pair():
    return pairing.paired_run(
        three_samples(), [Strategy("linupper", 1.0)], method="gd", lr=0.1, steps=T, x0=[[1e4]]
    )


def test_the_hand_ladders_follow_the_closed_form():
    for k in range(1, 9):
        assert UNIFORM_STEPS[k - 1] == math.ceil(k * math.log(10) / -math.log(Q_UNIFORM))
        assert LINUPPER_STEPS[k - 1] == math.ceil(k * math.log(10) / -math.log(Q_LINUPPER))


def test_three_sample_instance_by_hand(hand_pair):
    rw, un = hand_pair.reweighted, hand_pair.uniform
    t = np.arange(T + 1)
    assert rw.gap[0, 0] == un.gap[0, 0] == pytest.approx(1e8)  # (1/3)(1/2+1/2+2) 1e8
    np.testing.assert_allclose(un.gap[0] / un.gap[0, 0], Q_UNIFORM**t, rtol=1e-11)
    np.testing.assert_allclose(rw.gap[0] / rw.gap[0, 0], Q_LINUPPER**t, rtol=1e-11)
    np.testing.assert_allclose(rw.gamma[0], GAMMA, rtol=1e-12)
    np.testing.assert_allclose(un.gamma[0], 1.0, rtol=1e-12)
    sp = pairing.speedups(rw.gap, un.gap)
    assert tuple(sp.uniform_steps[0]) == UNIFORM_STEPS
    assert tuple(sp.reweighted_steps[0]) == LINUPPER_STEPS
    by_hand = math.prod(u / r for u, r in zip(UNIFORM_STEPS, LINUPPER_STEPS, strict=True))
    assert sp.steps[0] == pytest.approx(by_hand ** (1 / 8), rel=1e-12)
    assert sp.final[0] == pytest.approx((Q_UNIFORM / Q_LINUPPER) ** T, rel=1e-9)


@pytest.mark.parametrize("route", ["C", "J"])
def test_predicted_factor_by_hand(hand_pair, route):
    """Both rates apply (Route C: eta rho_t L = 0.1 x 3e/(2+e) x 2 = 0.35; Route J:
    eta L_max = 0.4), mu = 1 for both runs, Gamma_t constant: every predicted factor is
    Gamma = (2 + 4e) / (2 (2 + e))."""
    got = practice.predicted_factors(hand_pair, three_samples(), [route])
    assert set(got) == {(f, s) for f in practice.FORMS for s in practice.STATISTICS}
    for v in got.values():
        assert v[0] == pytest.approx(GAMMA, rel=1e-12)


def test_speedups_censor_unreached_levels_and_count_divergence():
    a0 = 1.0
    rw = np.array([[a0, 0.05, 0.005, 0.005], [a0, 0.5, np.nan, np.nan], [a0, 0.9, 0.8, 0.7]])
    un = np.array([[a0, 0.5, 0.05, 0.02], [a0, 0.05, 0.02, 0.01], [a0, 0.95, 0.9, 0.85]])
    sp = pairing.speedups(rw, un, levels=(0.1, 0.01))
    # pair 0: rw reaches 0.1 at 1, 0.01 at 2; uniform 0.1 at 2, 0.01 never (censored at T+1=4)
    assert sp.steps[0] == pytest.approx(math.sqrt(2 / 1 * 4 / 2))
    assert sp.final[0] == pytest.approx(0.02 / 0.005)
    # pair 1: rw diverged (NaN) before 0.1; uniform 0.1 at 1, 0.01 at 3: (1/4 * 3/4)^(1/2)
    assert sp.steps[1] == pytest.approx(math.sqrt(1 / 4 * 3 / 4))
    assert sp.final[1] == 0.0
    # pair 2: neither reaches the first level: undefined
    assert math.isnan(sp.steps[2])
    with pytest.raises(ValueError, match="gap curves"):
        pairing.speedups(rw, un[:, :3])


# ---------------------------------------------------------------------- breaking the pairing
def _problem(runs=3):
    return consistent_least_squares(list(range(runs)), n=24, d=8, condition=10.0, row_spread=3.0)


def test_uniform_against_uniform_is_no_speed_up():
    """A pair whose 'reweighted' run is uniform too: if the two runs saw different batches,
    starts, step sizes or data, the speed-ups would not be 1."""
    p = _problem()
    lr = 0.5 / p.max_smoothness()  # every rate applies (eta L_max <= 1/2)
    pair = pairing.paired_run(
        p, [pairing.UNIFORM] * 3, method="sgd", lr=lr, steps=400, batch_size=4
    )
    sp = pairing.speedups(pair.reweighted.gap, pair.uniform.gap)
    np.testing.assert_array_equal(sp.steps, 1.0)
    np.testing.assert_allclose(sp.final, 1.0, rtol=1e-9)
    for v in practice.predicted_factors(pair, p, ["C", "J", "C"]).values():
        np.testing.assert_allclose(v, 1.0, rtol=1e-9)


def test_paired_runs_share_batches_start_and_step():
    p = _problem()
    x0 = np.random.default_rng(5).standard_normal((3, 8))
    pair = pairing.paired_run(
        p, [DROKL(1.0)] * 3, method="sgd", lr=0.01, steps=30, batch_size=5, x0=x0
    )
    rw, un = pair.reweighted, pair.uniform
    np.testing.assert_array_equal(rw.batches, un.batches)
    np.testing.assert_array_equal(rw.lr, un.lr)
    np.testing.assert_allclose(rw.dist2[:, 0], np.sum((x0 - p.x_star) ** 2, axis=1), rtol=1e-14)
    np.testing.assert_allclose(un.dist2[:, 0], rw.dist2[:, 0], rtol=1e-14)
    assert rw.labels == ["dro_kl (tau=1.0)"] * 3 and un.labels == ["uniform"] * 3
    # batches differ between rows (different seeds): the equality above is not vacuous
    assert not np.array_equal(rw.batches[0], rw.batches[1])


def _separate(p, *, seed_shift=0, x0_shift=0.0, lr_factor=1.0):
    """Reweighted and uniform runs from two engine calls, the uniform one changed."""
    q = LeastSquares(
        A=p.A, b=p.b, x_star=p.x_star, params=dict(seeds=[s + seed_shift for s in p.seeds()])
    )
    kw = dict(method="sgd", steps=20, batch_size=4, keep_iterates=False)
    rw = engine.run(p, Strategy("linupper", 1.0), lr=0.01, **kw)
    un = engine.run(q, pairing.UNIFORM, lr=0.01 * lr_factor, x0=np.full((3, 8), x0_shift), **kw)
    return pairing.Pair(rw, un)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(seed_shift=1), "minibatches"),
        (dict(x0_shift=0.5), "starts"),
        (dict(lr_factor=1.5), "step sizes"),
    ],
)
def test_check_pairing_names_what_differs(change, message):
    p = _problem()
    pairing.check_pairing(_separate(p))  # the same batches, start and step: paired
    with pytest.raises(ValueError, match=message):
        pairing.check_pairing(_separate(p, **change))


def test_take_runs_keeps_every_per_run_record():
    p = _problem()
    tr = engine.run(p, Strategy("quadratic", 1.0), method="sgd", lr=0.01, steps=5, batch_size=3)
    sub = pairing.take_runs(tr, [2, 0])
    np.testing.assert_array_equal(sub.batches, tr.batches[[2, 0]])
    np.testing.assert_array_equal(sub.gap, tr.gap[[2, 0]])
    assert sub.seeds == [tr.seeds[2], tr.seeds[0]] and sub.runs == 2


# ---------------------------------------------------------------------- helpers
def test_unweighted_optimum_and_distance():
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((2, 30, 4)), rng.standard_normal((2, 30))
    xs, f_star = pairing.unweighted_optimum(LeastSquares(A=A, b=b))
    for k in range(2):
        x = np.linalg.solve(A[k].T @ A[k], A[k].T @ b[k])  # normal equations
        np.testing.assert_allclose(xs[k], x, rtol=1e-10)
        assert f_star[k] == pytest.approx(0.5 * np.mean((A[k] @ x - b[k]) ** 2), rel=1e-12)
    it = np.zeros((2, 3, 4))
    it[1, 2] = [1.0, 2.0, 0.0, 0.0]
    np.testing.assert_allclose(pairing.distance_to(it, np.zeros((2, 4)))[1], [0, 0, 5.0])


def test_spearman_interval():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(200)
    y = x + rng.standard_normal(200)
    y[3] = np.nan
    c = practice.spearman_interval(x, y, resamples=500, seed=3)
    ok = ~np.isnan(y)
    assert c.pairs == 199
    assert c.rho == pytest.approx(spearmanr(x[ok], y[ok])[0], rel=1e-12)
    assert c.low < c.rho < c.high and c.high - c.low < 0.3
    assert practice.spearman_interval(x, y, resamples=500, seed=3) == c  # seeded
    assert practice.spearman_interval(x, y, resamples=500, seed=4) != c
    with pytest.raises(ValueError, match="resamples"):
        practice.spearman_interval(x, y, resamples=0)


def test_mean_and_min_gamma_give_their_own_factors():
    """Gamma_t varies along a LinUpper run: the paper form's factor with the mean is the
    ratio of the two runs' mean Gamma_t, with the min the ratio of their min Gamma_t."""
    p = _problem(1)
    pair = pairing.paired_run(
        p, [Strategy("linupper", 0.5)], method="gd", lr=0.1 / p.max_smoothness(), steps=40
    )
    g_rw, g_u = pair.reweighted.gamma[0], pair.uniform.gamma[0]
    assert g_rw.max() - g_rw.min() > 0.05  # the two statistics differ here
    got = practice.predicted_factors(pair, p, ["J"])
    assert got["paper", "mean"][0] == pytest.approx(g_rw.mean() / g_u.mean(), rel=1e-12)
    assert got["paper", "min"][0] == pytest.approx(g_rw.min() / g_u.min(), rel=1e-12)


def test_wrong_side_and_regimes_on_a_made_up_table():
    table = dict(
        gamma_mean=[1.2, 1.2, 0.8, 0.8, 1.0, 1.3],
        speedup_steps=[1.5, 0.9, 1.1, 0.7, 2.0, math.nan],
        predicted_sharp_min=[1.2, 1.1, 0.9, 0.8, 1.0, 1.3],
        **{a: ["x"] * 6 for a in practice.AXES},
    )
    wrong, judged = practice.wrong_side(table)
    # judged: Gamma-bar != 1 and a defined speed-up; wrong: above but slower, below but faster
    assert judged.tolist() == [True, True, True, True, False, False]
    assert wrong.tolist() == [False, True, True, False, False, False]
    # two step regimes of 12 pairs: none wrong at "small", 9 of 12 at "large"
    g = [1.2] * 6 + [0.8] * 6
    table = dict(
        gamma_mean=g + g,
        speedup_steps=[1.5] * 6 + [0.7] * 6 + [0.9] * 3 + [1.5] * 3 + [1.1] * 6,
        predicted_sharp_min=g + g,
        **{a: ["x"] * 24 for a in practice.AXES},
    )
    table["step"] = ["small"] * 12 + ["large"] * 12
    rows = practice.regimes(table, np.ones(24, bool))
    by = {(r.axis, r.level): r for r in rows}
    assert by["step", "small"].wrong == 0 and by["step", "large"].wrong == 0.75
    assert by["algorithm", "x"].pairs == 24 and by["algorithm", "x"].wrong == 9 / 24
    study = practice.PracticeStudy(24, 1, 0, 1, table, {}, {}, rows, 0.0)
    axis, spread, worst = study.top_regime("wrong")
    assert (axis, spread, worst.level) == ("step", 0.75, "large")
    assert practice.regimes(table, np.zeros(24, bool)) == []  # the mask selects the pairs


def test_shares_count_a_tie_as_neither_slower_nor_faster():
    from rwtheory.theory.practice import _shares

    table = dict(gamma_mean=[1.2, 1.2, 1.2, 0.8, 0.8], speedup_steps=[1.0, 0.9, 1.3, 1.0, 1.2])
    got = _shares(table, np.ones(5, bool))
    assert got == dict(pairs=5, above=3, slower=1 / 3, below=2, faster=0.5)
