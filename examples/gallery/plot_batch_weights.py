"""
Weights for a batch of losses
=============================

The paper's pipeline, Proposition 1's capped weights and the cap guarantee, on one batch of
per-sample losses. Everything here is numpy; the same calls take torch tensors (same device,
same dtype back).
"""

# %%
# A batch of losses
# -----------------
# Any 1-D array of per-sample losses: here most of them small and a few large (as in a batch
# with some hard or noisy samples).
import matplotlib.pyplot as plt
import numpy as np

import rwtheory as rw

rng = np.random.default_rng(0)
losses = np.concatenate([rng.gamma(2.0, 0.5, size=28), rng.uniform(4.0, 6.0, size=4)])
n = losses.size

# %%
# The paper's pipeline
# --------------------
# ``rw.sample_weights`` is Algorithm 1: normalise the losses to :math:`[-1, 1]`, score them
# with a strategy (``linupper`` up-weights the losses above the mid-range), then a tempered
# softmax at temperature ``r``. The three steps are public too.
w_linupper = rw.sample_weights(losses, strategy="linupper", temperature=0.4)

normalized = rw.normalize_losses(losses)  # in [-1, 1]
scores = rw.STRATEGIES["linupper"](normalized)  # the strategy's score s(l~)
same = rw.tempered_softmax(scores, temperature=0.4)
print("pipeline == its three steps:", np.allclose(w_linupper, same))
print("sum of weights:", w_linupper.sum())
print("rho = n max w:", rw.rho(w_linupper))

# %%
# Is the paper's cap respected?
# -----------------------------
# Theorem 1 assumes no weight above twice the uniform one, :math:`\rho = n \max_i w_i \le 2`. The
# pipeline does not enforce it. ``rw.worst_case_rho`` is the exact supremum of rho over every
# batch of n losses at a temperature, and ``rw.cap_safe_temperature`` the smallest
# temperature at which every batch respects the cap.
print("worst batch at r = 0.4:", rw.worst_case_rho("linupper", n, 0.4))
r_safe = rw.cap_safe_temperature("linupper", n, rho=2.0)
print("cap-safe temperature:", r_safe)
print("worst batch at that temperature:", rw.worst_case_rho("linupper", n, r_safe))

# %%
# Proposition 1: the optimal capped weights
# -----------------------------------------
# ``rw.kl_capped_weights(gaps, temperature, rho)`` is the exact solution of the
# KL-regularised problem of Proposition 1, ``w_i = min(exp(gap_i / r) / Z, rho / n)``.
#
# *Gaps.* The proposition is stated for loss gaps ``f_i(x) - f_i(x*) >= 0``, the distance of
# each sample's loss to its value at the optimum. A training batch has no ``x*`` at hand, so
# the LM path (``rwtheory.lm.kl_capped``) uses the normalised losses shifted to ``[0, 2]``:
# the same normalisation as the pipeline, so that ``r`` means the same in both. The shift
# matters: ``rw.normalize_losses`` alone returns negative values, which are not gaps and are
# refused. The clip removes a rounding-level negative value at the smallest loss.
gaps = np.clip(rw.normalize_losses(losses) + 1.0, 0.0, None)
w_capped = rw.kl_capped_weights(gaps, temperature=0.4, rho=2.0)
print("rho of the capped weights:", rw.rho(w_capped))
try:
    rw.kl_capped_weights(rw.normalize_losses(losses), temperature=0.4)
except ValueError as err:
    print("normalised losses as gaps:", err)

# %%
# Gamma: how much the weights favour large gaps
# ---------------------------------------------
# Theorem 1's rate improves with ``Gamma = sum_i w_i gap_i / mean(gap)``: one for uniform
# weights, above one when the weights down-weight small gaps.
for name, w in [("uniform", np.full(n, 1 / n)), ("linupper", w_linupper), ("capped", w_capped)]:
    print(f"{name:9s} Gamma = {rw.gamma(w, gaps):.3f}   rho = {rw.rho(w):.3f}")

# %%
# The weights against the losses
# ------------------------------
order = np.argsort(losses)
fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.plot(losses[order], n * w_linupper[order], "o-", label="linupper, r = 0.4 (pipeline)")
ax.plot(losses[order], n * w_capped[order], "s-", label="Prop. 1 capped, r = 0.4, rho = 2")
ax.axhline(2.0, color="k", ls="--", lw=1, label="the cap: twice the uniform weight")
ax.axhline(1.0, color="grey", ls=":", lw=1, label="uniform")
ax.set_xlabel("per-sample loss")
ax.set_ylabel("n x weight")
ax.legend(fontsize="small")
fig.tight_layout()
plt.show()
