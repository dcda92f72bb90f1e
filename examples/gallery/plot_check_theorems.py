"""
Check Theorems 1 and 2 on your own least-squares problem
========================================================

Theorems 1-2 bound reweighted gradient descent, minibatch SGD and heavy ball on a convex
finite sum with an *interpolation* point x* (every sample's loss is minimal there). A
least-squares problem ``A x = b`` with ``b = A x*`` is one. This example wraps your own
``A`` and ``x*`` in a :class:`~rwtheory.convex.problems.LeastSquares`, runs the batched
engine and evaluates each inequality on the recorded trajectory: every check returns the
two sides ``observed <= bound``.
"""

# %%
# Your problem
# ------------
# ``LeastSquares`` stacks R problems of the same shape (one per run): ``A`` is
# ``(R, n, d)`` and ``b`` is ``(R, n)``. One problem is ``R = 1``, hence ``A[None]``. With
# more unknowns than samples (n < d) and ``b = A x*`` the problem interpolates.
import matplotlib.pyplot as plt
import numpy as np

from rwtheory.convex import engine, schemes
from rwtheory.convex.problems import LeastSquares
from rwtheory.theory import theorems

rng = np.random.default_rng(1)
n, d = 40, 60
A = rng.standard_normal((n, d)) * rng.uniform(0.2, 3.0, size=(n, 1))  # rows of unequal norm
x_star = rng.standard_normal(d)
problem = LeastSquares(A=A[None], b=(A @ x_star)[None], x_star=x_star[None])
L, L_max = problem.smoothness()[0], problem.max_smoothness()[0]
print(f"L = {L:.3f} (smoothness of the average), L_max = {L_max:.3f} (of the worst sample)")

# %%
# Theorem 1: reweighted gradient descent
# --------------------------------------
# The paper's step is ``1 / (4 L)`` for weights capped at twice the uniform one. Route C is
# the paper's proof (smoothness ``rho_t L``, which needs the cap); Route J needs no cap but
# the smoothness ``L_max`` of the worst sample. ``effective_smoothness`` gives each route's
# constant at every step.
scheme = schemes.Strategy("linupper", temperature=2.0)
gd = engine.run(problem, scheme, lr=1 / (4 * L), steps=200)
for route in ("C", "J"):
    L_hat = theorems.effective_smoothness(problem, gd, route)
    one_step = theorems.gd_one_step(gd, L_hat)
    rate = theorems.gd_rate(gd, L_hat)
    print(
        f"route {route}: one-step violations {int(one_step.violated().sum())} "
        f"of {int(one_step.evaluated.sum())}; rate violations {int(rate.violated().sum())} "
        f"of {int(rate.evaluated.sum())} horizons where its step-size hypothesis holds"
    )
print("max rho_t =", float(gd.rho.max()), " min Gamma_t =", float(gd.gamma.min()))

# %%
# How tight is the rate?
# ----------------------
# ``observed`` is the average gap over the first k steps, ``bound`` is
# ``||x_0 - x*||^2 / (eta Gamma k)``. Their ratio says how much the proof gives away.
rate = theorems.gd_rate(gd, theorems.effective_smoothness(problem, gd, "C"))
k = np.arange(1, rate.observed.shape[1] + 1)
fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.loglog(k, rate.observed[0], label="observed: mean gap over the first k steps")
ax.loglog(k, rate.bound[0], "--", label="Theorem 1's bound")
ax.set_xlabel("horizon k")
ax.legend(fontsize="small")
fig.tight_layout()
print("largest observed/bound:", float(rate.tightness().max()))

# %%
# Theorem 2 (i): minibatch SGD
# ----------------------------
# Batches of b samples drawn without replacement; the inequality holds on every path, with
# the batch's own smoothness in Route C.
sgd = engine.run(problem, scheme, method="sgd", batch_size=8, lr=1 / (4 * L_max), steps=300)
for route in ("C", "J"):
    path = theorems.sgd_pathwise(sgd, theorems.effective_smoothness(problem, sgd, route))
    print(f"SGD route {route}: pathwise violations {int(path.violated().sum())}")

# %%
# Theorem 2 (ii): heavy ball
# --------------------------
# The iterate-moving-average form with a momentum schedule ``lambda_t`` (here constant
# after the first step).
steps = 200
lambdas = np.r_[0.0, np.full(steps, 2.0)]
hb = engine.run(problem, scheme, method="heavy_ball", lambdas=lambdas, lr=1 / (4 * L), steps=steps)
for route in ("C", "J"):
    path = theorems.heavy_ball_pathwise(hb, theorems.effective_smoothness(problem, hb, route))
    print(f"heavy ball route {route}: pathwise violations {int(path.violated().sum())}")

# %%
# A broken hypothesis is caught
# -----------------------------
# A check is only useful if it can fail. Route C's inequality with the *measured* rho_t is a
# theorem; the paper's rate instead assumes the cap :math:`\rho_t \le 2`. DRO-KL's uncapped weights
# break that cap: evaluated with the smoothness ``2 L`` that the cap would give, the one-step
# inequality fails at every step where it can be evaluated, and at the paper's step size the
# run diverges.
dro = engine.run(problem, schemes.DROKL(temperature=1.0), lr=1 / (4 * L), steps=50)
assumed_cap = theorems.gd_one_step(dro, np.full_like(dro.rho, 2 * L))
print(
    f"DRO-KL with the cap assumed: {int(assumed_cap.violated().sum())} violations in "
    f"{int(assumed_cap.evaluated.sum())} evaluated steps; largest rho_t {np.nanmax(dro.rho):.1f}; "
    f"diverged: {bool(dro.diverged[0])}"
)
plt.show()
