"""Adversarial weighting schemes (rwtheory.convex.adversaries): simplex, cap, determinism."""

import numpy as np
import pytest

import rwtheory as rw
from rwtheory.convex.adversaries import (
    DirichletWeights,
    RandomCapped,
    SmallestGaps,
    capped_lowest_first,
)
from rwtheory.weights.statistics import batched_gamma, batched_rho


@pytest.fixture
def losses(rng):
    return rng.exponential(size=(6, 11))


@pytest.mark.parametrize(
    "scheme",
    [DirichletWeights(0, 0.3), SmallestGaps(2.0), RandomCapped(2, 1.5, 0.1)],
    ids=lambda s: s.label,
)
def test_weights_on_the_simplex_and_deterministic(scheme, losses):
    w = scheme(losses, 3)
    assert w.shape == losses.shape and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(-1), 1, atol=1e-12)
    np.testing.assert_array_equal(w, scheme(losses, 3))
    # a row's weights do not depend on the other rows of the call
    np.testing.assert_array_equal(w[2:3], scheme(losses[2:3], 3))


def test_capped_schemes_respect_their_cap(losses):
    for scheme in (SmallestGaps(2.0), RandomCapped(0, 2.0, 0.01)):
        assert np.all(np.asarray(batched_rho(scheme(losses, 0))) <= 2 + 1e-12)


def test_smallest_gaps_minimises_gamma_under_the_cap(losses, rng):
    """Gamma of SmallestGaps is the smallest any capped weight vector can reach (<= 1)."""
    w = SmallestGaps(2.0)(losses, 0)
    g = np.asarray(batched_gamma(w, losses))
    assert np.all(g <= 1 + 1e-12)
    for _ in range(50):
        other = np.asarray(rw.kl_capped_weights(rng.random(11), 0.05, 2.0))
        for row, gi in zip(losses, g, strict=True):
            assert float(rw.gamma(other, row)) >= gi - 1e-12


def test_dirichlet_changes_with_the_step_and_small_concentration_is_spiky(losses):
    s = DirichletWeights(0, 0.05)
    assert not np.array_equal(s(losses, 0), s(losses, 1))
    assert np.median(np.asarray(batched_rho(s(losses, 0)))) > 4


def test_capped_lowest_first_ties_and_rho_one():
    w = capped_lowest_first(np.array([[1.0, 1.0, 1.0, 1.0]]), 2.0)
    np.testing.assert_allclose(w, [[0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(capped_lowest_first(np.array([[3.0, 1.0, 2.0]]), 1.0), [[1 / 3] * 3])


def test_bad_parameters():
    with pytest.raises(ValueError, match="rho"):
        SmallestGaps(0.5)
    with pytest.raises(ValueError, match="concentration"):
        DirichletWeights(0, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        RandomCapped(0, 2.0, -1.0)


@pytest.mark.parametrize(
    "scheme", [DirichletWeights(0, 0.3), RandomCapped(2, 1.5, 0.1)], ids=lambda s: s.label
)
def test_random_adversaries_give_a_run_the_same_numbers_alone_or_batched(scheme):
    """The draws depend on (seed, step) only, not on the losses' last bits: the same run
    alone and batched with others (different GEMM shapes, different rounding) stays equal.
    Seeding by a hash of the loss bytes, as before, moved these runs by ~0.1."""
    from rwtheory.convex import engine
    from rwtheory.convex.problems import consistent_least_squares
    from rwtheory.convex.schemes import Strategy

    p = consistent_least_squares(3, n=20, d=6, row_spread=3.0)
    eta = 0.2 / p.max_smoothness().max()
    tr = engine.run(
        p, [scheme] * 3 + [Strategy("linupper", 1.0)] * 3, rows=[0, 1, 2] * 2, lr=eta, steps=50
    )
    for i in range(3):
        alone = engine.run(p.take([i]), scheme, lr=eta, steps=50)
        np.testing.assert_allclose(alone.iterates[0], tr.iterates[i], rtol=0, atol=1e-12)
