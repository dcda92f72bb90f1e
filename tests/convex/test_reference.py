"""run == run_reference: the batched engine computes, for every run, what the literal loop of
rwtheory.convex.reference computes -- for every method (GD, SGD, heavy ball) and every scheme
family (each registered strategy, Prop. 1's capped weights, DRO-KL, the adversaries), with and
without an interpolation point."""

import warnings

import numpy as np
import pytest

from rwtheory.convex import engine
from rwtheory.convex.adversaries import DirichletWeights, RandomCapped, SmallestGaps
from rwtheory.convex.problems import consistent_least_squares, regression_with_outliers
from rwtheory.convex.reference import run_reference
from rwtheory.convex.schemes import DROKL, KLCapped, Strategy
from rwtheory.weights.pipeline import normalize_losses
from rwtheory.weights.strategies import get_strategy, registered_strategies

#: every scheme family; several of them share each engine call below
SCHEMES = [
    *(Strategy(name, 0.7) for name in registered_strategies()),
    KLCapped(0.5, 2.0),
    DROKL(1.0),
    DirichletWeights(3, 0.5),
    SmallestGaps(2.0),
    RandomCapped(1, 2.0, 0.1),
]
METHODS = [("gd", None), ("sgd", 8), ("heavy_ball", None), ("heavy_ball", 8)]
STEPS = 25
TOL = 1e-12


def _problems():
    yield "interpolation", consistent_least_squares(2, n=24, d=5, row_spread=3.0)
    yield "outliers", regression_with_outliers(2, n=30, d=4, n_test=10)


def _relative(a, b):
    """max over steps of ||a_t - b_t|| / ||b_t|| (rows of the last axis)."""
    scale = np.maximum(np.linalg.norm(b, axis=-1), 1e-300)  # x_0 may be 0
    return float(np.max(np.linalg.norm(a - b, axis=-1) / scale))


@pytest.mark.parametrize("method,batch", METHODS, ids=lambda v: str(v))
@pytest.mark.parametrize("kind,problem", list(_problems()), ids=["interpolation", "outliers"])
def test_run_equals_run_reference(kind, problem, method, batch):
    lr = 0.3 / float(problem.max_smoothness().max())
    lam = np.arange(STEPS + 1) / 2.0
    rows = np.repeat(np.arange(2), len(SCHEMES))
    schemes = SCHEMES * 2
    x0 = np.random.default_rng(7).standard_normal((len(rows), problem.d))
    tr = engine.run(
        problem,
        schemes,
        rows=rows,
        method=method,
        lr=lr,
        steps=STEPS,
        batch_size=batch,
        lambdas=lam if method == "heavy_ball" else None,
        x0=x0,
        keep_weights=True,
        keep_losses=True,
    )
    assert not tr.diverged.any()
    for i, (scheme, row) in enumerate(zip(schemes, rows, strict=True)):
        ref = run_reference(
            problem.take([row]),
            scheme,
            method,
            lr,
            STEPS,
            batch,
            lam if method == "heavy_ball" else None,
            x0[i],
        )
        where = f"{scheme.label} on row {row}"
        assert _relative(tr.iterates[i], ref.iterates) <= TOL, where
        assert _relative(tr.weights[i], ref.weights) <= TOL, where
        assert _relative(tr.losses[i], ref.losses) <= TOL, where
        np.testing.assert_allclose(tr.train_loss[i], ref.train_loss, rtol=1e-10, err_msg=where)
        if batch is not None:
            np.testing.assert_array_equal(tr.batches[i], ref.batches)
    # the runs moved and the schemes differ: equal trajectories would prove little
    assert np.all(tr.train_loss[:, -1] < tr.train_loss[:, 0])
    assert len({tr.iterates[i, -1].tobytes() for i in range(len(SCHEMES))}) == len(SCHEMES)


def test_the_comparison_rejects_a_broken_heavy_ball_step(monkeypatch):
    """An engine whose heavy-ball average uses lambda_t instead of lambda_{t+1} is caught."""
    problem = consistent_least_squares(1, n=24, d=5)
    lam = np.arange(STEPS + 1) / 2.0
    lr = 0.3 / float(problem.max_smoothness()[0])
    ref = run_reference(problem, Strategy("linupper", 0.7), "heavy_ball", lr, STEPS, lambdas=lam)

    def broken(self, g, t):
        g *= self.lr
        self.x_prev[...] = self.x
        self.z -= g
        self.x *= self.lam[t]
        self.x += self.z
        self.x /= self.lam[t] + 1

    monkeypatch.setattr(engine._Iterate, "update", broken)
    tr = engine.run(
        problem, Strategy("linupper", 0.7), method="heavy_ball", lr=lr, steps=STEPS, lambdas=lam
    )
    assert _relative(tr.iterates[0], ref.iterates) > 1e-6


def test_the_comparison_rejects_a_broken_fused_form():
    """A fused form of LinUpper that forgets the flat top (no min(l~, 0)) is caught by the
    weights, although every other part of the run is right."""
    from rwtheory.weights import strategies

    honest = strategies.get_strategy("linupper")

    def no_flat_top(q, row, out):
        np.subtract(q, row.mid, out=out)
        out *= row.kr

    strategies.register_strategy(
        strategies.StrategyRecord(
            "linupper",
            honest.score,
            honest.score_range,
            fused=strategies.FusedForm(no_flat_top, bounded=False),
        ),
        replace=True,
    )
    try:
        problem = regression_with_outliers(1, n=30, d=4, n_test=10)
        tr = engine.run(problem, Strategy("linupper", 0.7), lr=0.05, steps=5, keep_weights=True)
    finally:
        strategies.register_strategy(honest, replace=True)
    ref = run_reference(problem, Strategy("linupper", 0.7), "gd", 0.05, 5)
    assert _relative(tr.weights[0], ref.weights) > 1e-3


@pytest.mark.parametrize(
    "temperature", [1e-310, lambda t: 1.0 if t < 2 else 1e-310], ids=["constant", "schedule"]
)
def test_dro_kl_at_a_temperature_whose_reciprocal_overflows(temperature):
    """DROKL takes any finite temperature > 0. Below 1 / float max (~5.6e-309) 1/tau is inf,
    and (l - l_max) * inf is NaN at the row's largest loss; the public softmax divides by tau
    and gives the limit, all the weight on the largest loss. The engine must give the same
    run: no NaN, no warning, no false divergence, rho_t = b."""
    assert 1e-310 < 1.0 / np.finfo(np.float64).max  # 1/tau overflows
    problem = regression_with_outliers(1, n=30, d=4, n_test=10)
    scheme = DROKL(temperature)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = engine.run(problem, scheme, lr=0.05, steps=6, keep_weights=True)
    ref = run_reference(problem, scheme, "gd", 0.05, 6)
    assert np.all(ref.weights[2:].max(axis=-1) == 1.0)  # one-hot from step 2 on
    assert tr.diverged_at[0] == -1
    assert _relative(tr.weights[0], ref.weights) <= TOL
    assert _relative(tr.iterates[0], ref.iterates) <= TOL
    np.testing.assert_array_equal(tr.rho[0, 2:], 30.0)


def _near_top(scores: np.ndarray) -> np.ndarray:
    """The samples of each row whose score is the row's maximum up to rounding."""
    top = scores.max(axis=-1, keepdims=True)
    return scores >= top - 1e-12 * np.maximum(np.abs(top), 1.0)


@pytest.mark.parametrize("strategy", ["linupper", "quadratic", "extremes", "upper"])
@pytest.mark.parametrize(
    "temperature",
    [1e-310, 1e-200, 1e-4, lambda t: 1.0 if t < 2 else 1e-310],
    ids=["below_1/max", "tiny", "small", "schedule"],
)
def test_every_strategy_gives_the_limit_at_any_accepted_temperature(strategy, temperature):
    """At a tiny r the tempered softmax puts all the weight on the row's top scores. The fused
    engine must give that limit for every strategy, as the public pipeline does: no NaN (k/r
    or |l~|/r overflowing to inf, then inf - inf), no warning, no false divergence.

    Rounding of the scores (~1e-16) is amplified by 1/r in the weights: at r = 1e-4 the
    engine and the reference agree to 1e-12/r; below that, where samples tie at the top
    (Extremes' two ends, both at |l~| = delta), which of them a last bit favours differs
    between the two computations, so the engine is checked against the limit itself: a
    probability vector on the samples whose public score is the row's top up to rounding."""
    problem = regression_with_outliers(1, n=30, d=4, n_test=10)
    scheme = Strategy(strategy, temperature)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = engine.run(problem, scheme, lr=0.05, steps=6, keep_weights=True)
    assert tr.diverged_at[0] == -1
    W = tr.weights[0]
    assert np.all(np.isfinite(W)) and np.all(W >= 0)
    np.testing.assert_allclose(W.sum(axis=-1), 1.0, rtol=1e-12)
    if temperature == 1e-4:
        ref = run_reference(problem, scheme, "gd", 0.05, 6)
        assert _relative(W, ref.weights) <= TOL / temperature
        return
    losses = problem.losses(tr.iterates[0, :-1])  # (T, n): the losses the weights saw
    scores = np.stack([get_strategy(strategy).score(normalize_losses(row), 1.0) for row in losses])
    tiny = [t for t in range(W.shape[0]) if not callable(temperature) or t >= 2]
    assert np.all(W[tiny][~_near_top(scores[tiny])] == 0.0)
    if strategy != "extremes":  # no tie at the top but linupper's flat one: the reference's
        ref = run_reference(problem, scheme, "gd", 0.05, 6)
        assert _relative(W, ref.weights) <= TOL


def test_reference_arguments():
    p = consistent_least_squares(2, n=10, d=3)
    with pytest.raises(ValueError, match="problem_row must hold one run"):
        run_reference(p, Strategy("uniform"), "gd", 0.1, 3)
    with pytest.raises(ValueError, match="method must be one of"):
        run_reference(p.take([0]), Strategy("uniform"), "adam", 0.1, 3)
