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
