"""Strategy shapes: the weight the paper's pipeline gives each loss of a batch (shared by
Figure 1 and the right panel of Figure 7)."""

from __future__ import annotations

import numpy as np

from rwtheory.weights.pipeline import sample_weights

#: Batch used to draw the shapes: n equally spaced losses, i.e. normalised losses
#: l~ = -1, ..., 1 (delta = 1).
SHAPE_N = 201
DELTA = 1.0


def shape(strategy: str, temperature: float, n: int = SHAPE_N):
    """(l~, n w): normalised loss and the weight relative to uniform (1 = uniform)."""
    losses = np.linspace(0.0, 1.0, n)
    w = np.asarray(sample_weights(losses, strategy, temperature, DELTA))
    return 2 * losses - 1, n * w


def shape_text(n: int = SHAPE_N) -> str:
    return (
        f"Shapes: n w_i (weight relative to the uniform 1/n) for a batch of n={n} equally "
        f"spaced losses, i.e. normalised losses l~ = -1..1 (delta={DELTA:g}); "
        f"w = softmax(s(l~)/r) with linupper s = min(l~ + 1, 1), quadratic s = 1 - l~^2, "
        f"extremes s = |l~|, uniform w = 1/n (rwtheory.sample_weights)."
    )
