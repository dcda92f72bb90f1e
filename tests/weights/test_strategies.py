"""The strategy registry: one record per strategy, read by every consumer.

A toy strategy registered in one place (one StrategyRecord, no fused form) works in the four
consumers -- the weighting pipeline, the batched engine through the Strategy scheme, the cap
analysis and the schemes -- and is gone from all of them once unregistered."""

import math

import numpy as np
import pytest

import rwtheory as rw
from rwtheory.convex import engine
from rwtheory.convex.problems import regression_with_outliers
from rwtheory.convex.reference import run_reference
from rwtheory.convex.schemes import Strategy
from rwtheory.weights import strategies
from rwtheory.weights.pipeline import batched_sample_weights


def lower(normalized, delta=1.0):
    """Toy "Lower": s = (delta - l~)/2, the mirror of Upper -- favours the small losses.
    Range [0, delta]; the smallest loss alone takes the top score."""
    return (delta - normalized) / 2


TOY = strategies.StrategyRecord("lower", lower, lambda delta: float(delta))


@pytest.fixture
def toy():
    strategies.register_strategy(TOY)
    try:
        yield TOY
    finally:
        strategies.unregister_strategy("lower")


def test_a_registered_strategy_runs_through_every_consumer(toy):
    losses = np.array([1.0, 2.0, 4.0, 3.0])  # l~ = -1, -1/3, 1, 1/3
    # 1. the pipeline: softmax(((delta - l~)/2) / r), by hand
    s = (1 - np.array([-1.0, -1 / 3, 1.0, 1 / 3])) / 2
    e = np.exp(s / 0.5)
    np.testing.assert_allclose(rw.sample_weights(losses, "lower", 0.5), e / e.sum(), rtol=1e-14)
    assert rw.STRATEGIES["lower"] is lower
    # 2. the scheme
    scheme = Strategy("lower", 0.5)
    assert scheme.label == "lower (r=0.5)"
    np.testing.assert_allclose(scheme(losses[None], 0)[0], e / e.sum(), rtol=1e-14)
    # 3. the engine (generic fused path), batched with a built-in strategy, equals the
    # literal loop and the pipeline on the losses it saw
    p = regression_with_outliers(2, n=40, d=4, n_test=10)
    tr = engine.run(
        p,
        [scheme, Strategy("linupper", 0.5)] * 2,
        rows=[0, 0, 1, 1],
        lr=0.05,
        steps=20,
        keep_weights=True,
        keep_losses=True,
    )
    for i, row in ((0, 0), (2, 1)):
        ref = run_reference(p.take([row]), scheme, "gd", 0.05, 20)
        np.testing.assert_allclose(tr.iterates[i], ref.iterates, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(
            tr.weights[i], batched_sample_weights(tr.losses[i], "lower", 0.5), rtol=1e-12
        )
    # the toy weights differ from LinUpper's: a run of the wrong strategy would show
    assert not np.allclose(tr.weights[0], tr.weights[1], rtol=1e-3)
    # 4. the cap analysis: one sample at the top (the smallest loss), n - 1 at the bottom
    n, r = 9, 0.5
    worst = np.r_[0.0, np.ones(n - 1)]
    rho = n * float(rw.sample_weights(worst, "lower", r).max())
    assert rho == pytest.approx(rw.worst_case_rho("lower", n, r), rel=1e-12)
    assert rho == pytest.approx(n * math.exp(1 / r) / (math.exp(1 / r) + n - 1), rel=1e-12)
    r0 = rw.cap_safe_temperature("lower", n, 2.0)
    assert (
        rw.worst_case_rho("lower", n, r0 * (1 + 1e-9))
        <= 2
        < rw.worst_case_rho("lower", n, r0 * (1 - 1e-6))
    )


def test_unregistered_strategy_is_gone_everywhere(toy):
    strategies.unregister_strategy("lower")
    try:
        assert "lower" not in rw.STRATEGIES
        for call in (
            lambda: rw.sample_weights(np.ones(3), "lower"),
            lambda: Strategy("lower"),
            lambda: rw.worst_case_rho("lower", 4, 1.0),
        ):
            with pytest.raises(ValueError, match=r"strategy must be one of \["):
                call()
    finally:
        strategies.register_strategy(TOY)  # for the fixture's teardown


def test_registry_keeps_the_public_mapping():
    """rw.STRATEGIES is the name -> score view of the records, read-only."""
    assert rw.STRATEGIES["linupper"] is strategies.linupper
    assert all(
        rw.STRATEGIES[name] is strategies.get_strategy(name).score
        for name in strategies.registered_strategies()
    )
    with pytest.raises(TypeError):
        rw.STRATEGIES["x"] = lower  # read-only: register_strategy is the way in


def test_bad_records():
    with pytest.raises(ValueError, match="already registered"):
        strategies.register_strategy(strategies.get_strategy("linupper"))
    with pytest.raises(ValueError, match="top_count must be an integer >= 1"):
        strategies.StrategyRecord("x", lower, float, top_count=0)
    with pytest.raises(ValueError, match="min_batch must be an integer > top_count"):
        strategies.StrategyRecord("x", lower, float, top_count=2, min_batch=2)
    with pytest.raises(TypeError, match="record must be a StrategyRecord"):
        strategies.register_strategy(lower)


# ------------------------------------------------------------------ user code, checked (issue 22)
def flatten(normalized, delta=1.0):
    """Fine on a 1-D batch, wrong on the engine's (K, m, b) blocks: one value per row lost."""
    return (delta - normalized).reshape(-1) / 2


def test_a_score_is_tried_at_construction_and_checked_again_where_used():
    with pytest.raises(
        ValueError, match=r"the score of strategy 'x' \(.*\.<lambda>\) must return finite"
    ):
        strategies.StrategyRecord("x", lambda t, d: t * np.nan, float)
    with pytest.raises(
        ValueError, match=r"must return one value per input, shape \(65,\), got shape \(64,\)"
    ):
        strategies.StrategyRecord("x", lambda t, d: t[:-1], float)
    with pytest.raises(TypeError, match=r"must return a numpy array like its input, got float"):
        strategies.StrategyRecord("x", lambda t, d: 0.5, float)
    with pytest.raises(
        ValueError,
        match=r"score_range of strategy 'x' .* at delta=1 must be a finite number >= 0, got -1.0",
    ):
        strategies.StrategyRecord("x", lower, lambda d: -1)
    with pytest.raises(
        ValueError, match=r"score_range .* must be at least the spread of the scores"
    ):
        strategies.StrategyRecord("x", lower, lambda d: 0.5)
    # a score that passes the 1-D trial but breaks on the engine's blocks: named where used
    rec = strategies.register_strategy(strategies.StrategyRecord("flat", flatten, float))
    try:
        assert rw.sample_weights(np.array([1.0, 2.0, 3.0]), "flat").shape == (3,)
        p = regression_with_outliers(2, n=10, d=2, n_test=2)
        with pytest.raises(
            ValueError,
            match=r"the score of strategy 'flat' \(.*flatten\) must return one value per input",
        ):
            engine.run(p, Strategy("flat"), lr=0.1, steps=2)
    finally:
        strategies.unregister_strategy(rec.name)


def test_record_fields_are_typed_and_numpy_integers_are_integers():
    with pytest.raises(TypeError, match=r"constant must be a bool \(True or False\), got 'no'"):
        strategies.StrategyRecord("x", lower, float, constant="no")
    with pytest.raises(TypeError, match=r"replace must be a bool \(True or False\), got 'no'"):
        strategies.register_strategy(TOY, replace="no")
    rec = strategies.StrategyRecord("x", lower, float, top_count=np.int64(1), min_batch=np.int64(3))
    assert (rec.top_count, rec.min_batch) == (1, 3) and type(rec.top_count) is int
    with pytest.raises(ValueError, match="constant must be False for strategy 'x'"):
        strategies.StrategyRecord("x", lower, float, constant=True)


def test_float64_scores_of_float32_losses_are_weighted_in_float64():
    """A registered score may return a wider dtype: its finite scores must not overflow in a
    conversion of the package's own; the weights come back in the losses' dtype."""

    def huge(t, delta=1.0):
        return np.asarray(t, dtype=np.float64) * 1e300

    strategies.register_strategy(strategies.StrategyRecord("huge", huge, lambda d: 2e300 * d))
    try:
        w = rw.sample_weights(np.array([1.0, 2.0, 3.0], np.float32), "huge", 1e300)
        assert w.dtype == np.float32
        np.testing.assert_allclose(
            w, np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum(), rtol=1e-6
        )
    finally:
        strategies.unregister_strategy("huge")
