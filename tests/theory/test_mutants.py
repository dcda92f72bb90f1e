"""Regression tests for the wrong code an independent audit wrote into the theorem checks and
that the earlier tests let through. Each test below fails under its mutant (checked by
applying the mutant to the source; see ``benchmarks/mutation.py`` for the systematic run):

1. every L_hat replaced by 1e-12 L_hat (``effective_smoothness``);
2. SGD Route C with rho_t L in place of rho_t L_{B_t};
3. Gamma's sign flipped, which made the rate rows read "holds" with no applicable run;
4. the heavy-ball carry-over with rho_t or Gamma_t in place of rho_{t+1}.
"""

import numpy as np
import pytest

from rwtheory.convex import engine
from rwtheory.convex.adversaries import AlternatingCap
from rwtheory.convex.problems import consistent_least_squares
from rwtheory.convex.schemes import KLCapped, Strategy
from rwtheory.theory import randomised, theorems


@pytest.fixture(scope="module")
def problem():
    return consistent_least_squares(4, n=16, d=8, condition=10.0, row_spread=10.0)


# ------------------------------------------------------------------ 1 and 2: L_hat
def test_effective_smoothness_is_rho_times_the_batch_eigenvalue(problem):
    """Route C: rho_t * lambda_max(A_B^T A_B / b), recomputed from the batch rows; Route J:
    max_i ||a_i||^2. Kills 'L_hat -> 1e-12 L_hat' and 'rho_t L for rho_t L_{B_t}'."""
    tr = engine.run(
        problem, Strategy("linupper", 1.0), method="sgd", batch_size=4, lr=0.01, steps=6
    )
    C = theorems.effective_smoothness(problem, tr, "C")
    for r in range(tr.runs):
        for t in range(tr.steps):
            rows = problem.A[r, tr.batches[r, t]]
            lam = np.linalg.eigvalsh(rows.T @ rows / rows.shape[0])[-1]
            np.testing.assert_allclose(C[r, t], tr.rho[r, t] * lam, rtol=1e-12)
    J = theorems.effective_smoothness(problem, tr, "J")
    np.testing.assert_allclose(
        J, np.broadcast_to((problem.A**2).sum(-1).max(-1)[:, None], J.shape), rtol=1e-12
    )
    gd = engine.run(problem, Strategy("linupper", 1.0), lr=0.01, steps=4)
    L = np.linalg.eigvalsh(np.swapaxes(problem.A, 1, 2) @ problem.A / problem.n)[:, -1]
    np.testing.assert_allclose(
        theorems.effective_smoothness(problem, gd, "C"), gd.rho * L[:, None], rtol=1e-12
    )


@pytest.mark.parametrize("method", ["gd", "sgd"])
def test_a_too_small_l_hat_shows_at_steps_above_the_limit(problem, method):
    """With eta up to 1.99/L_hat the sharp one-step inequality tells a right L_hat (no
    violation) from 1e-12 L_hat and, for SGD's Route C, from rho_t L (violations)."""
    L, L_max = problem.smoothness(), problem.max_smoothness()
    b = 4 if method == "sgd" else None
    L_b = L if b is None else np.minimum(L_max, problem.n * L / b)
    kw = dict(method=method, batch_size=b) if b else {}
    tr = engine.run(problem, KLCapped(0.5, 2.0), lr=1.99 / (2 * L_b), steps=60, **kw)
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    check = theorems.sgd_one_step_sharp
    assert not check(tr, L_hat).violated().any()
    assert check(tr, 1e-12 * L_hat).violated().sum() > 0
    if method == "sgd":
        assert check(tr, tr.rho * L[:, None]).violated().sum() > 0
    # ... which steps below the paper's limit cannot do
    small = engine.run(problem, KLCapped(0.5, 2.0), lr=0.5 / (2 * 2 * L_b), steps=60, **kw)
    assert (
        not theorems.sgd_one_step(small, 1e-12 * theorems.effective_smoothness(problem, small, "C"))
        .violated()
        .any()
    )


@pytest.mark.slow
def test_the_randomised_verification_can_fail(monkeypatch):
    """The quick verification (steps above the limits included) reports violations when
    every L_hat is 1e-12 times too small -- the ledger's counts can fail."""
    true = theorems.effective_smoothness
    monkeypatch.setattr(
        theorems, "effective_smoothness", lambda p, tr, route: 1e-12 * true(p, tr, route)
    )
    res = randomised.verify(16, steps=30, seed=0)
    assert res.violations > 0
    assert res.tally("GD", "C", "one-step (sharp)").violations > 0


# ------------------------------------------------------------------ 3: Gamma's sign
def test_rates_are_applicable_on_monotone_weights(problem):
    """Weights non-decreasing in the gap have Gamma_t >= 1 > 0: the rates are applicable at
    every horizon (a sign flip of Gamma makes them inapplicable everywhere)."""
    L = problem.smoothness()
    tr = engine.run(problem, Strategy("linupper", 1.0), lr=1 / (4 * 2 * L), steps=20)
    assert np.all(tr.gamma >= 1 - 1e-12)
    L_hat = theorems.effective_smoothness(problem, tr, "C")
    for rate in (theorems.gd_rate, theorems.gd_rate_sharp):
        assert rate(tr, L_hat).applicable.all(), rate.__name__


def test_rate_rows_need_applicable_runs():
    """A rate tally with no applicable run is "not checked", never "holds" (the quick
    verification's rate rows have enough applicable runs:
    ``test_theorems.py::test_randomised_verification_quick_has_no_violations``)."""
    dead = randomised.Tally("GD", "C", "rate", runs=150, runs_applicable=0)
    assert dead.status() == "not checked"
    assert randomised.combined_status([dead]) == "not checked"


# ------------------------------------------------------------------ 4: carry-over
@pytest.mark.parametrize(
    "form", [theorems.heavy_ball_weighted_sum, theorems.heavy_ball_weighted_sum_sharp]
)
def test_coefficient_form_holds_where_rho_t_or_gamma_t_would_fail(problem, form):
    """AlternatingCap: rho_{t+1} = 4 while rho_t = Gamma_t = 1 at even t. The proved form
    (rho_{t+1}) holds; a form with rho_t or Gamma_t in its place is violated in every run."""
    L = problem.smoothness()
    T = 40
    tr = engine.run(
        problem,
        AlternatingCap(4.0),
        method="heavy_ball",
        lr=1 / (4 * L),
        steps=T,
        lambdas=np.r_[0.0, np.full(T, 10.0)],
    )
    L_hat = theorems.effective_smoothness(problem, tr, "J")
    assert not form(tr, L_hat).violated().any()
    assert form(tr, L_hat, carry="current").violated().any(axis=1).all()
    c = theorems.heavy_ball_coefficients(tr, L_hat)
    lam, eta = tr.lambdas, tr.lr[:, None]
    by_hand = (1 - eta * L_hat[:, :-1] + np.r_[0.0, lam[1 : T - 1]]) * tr.gamma[:, :-1] - lam[
        1:T
    ] * tr.rho[:, 1:]
    np.testing.assert_allclose(c[:, :-1], by_hand, rtol=1e-12)
