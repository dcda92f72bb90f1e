"""Strategy shapes: the weight the paper's pipeline gives each loss of a batch (shared by
Figure 1 and the right panel of Figure 7)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rwtheory._array import describe
from rwtheory.weights.pipeline import sample_weights
from rwtheory.weights.strategies import get_strategy

#: Batch used to draw the shapes: n equally spaced losses, i.e. normalised losses
#: l~ = -1, ..., 1 (delta = 1).
SHAPE_N = 201
DELTA = 1.0


def shape(strategy: str, temperature: float, n: int = SHAPE_N):
    """(l~, n w): normalised loss and the weight relative to uniform (1 = uniform)."""
    losses = np.linspace(0.0, 1.0, n)
    w = np.asarray(sample_weights(losses, strategy, temperature, DELTA))
    return 2 * losses - 1, n * w


def formulas(strategies: Sequence[str]) -> str:
    """The scores of ``strategies`` as each record states them (``formula``, at delta = 1):
    the varying ones first, in order, then the constant ones as ``w = 1/n``."""
    records = [get_strategy(n) for n in strategies]
    varying = [f"{r.name} s = {r.formula or describe(r.score)}" for r in records if not r.constant]
    return ", ".join(varying + [f"{r.name} w = 1/n" for r in records if r.constant])


def shape_text(strategies: Sequence[str], n: int = SHAPE_N) -> str:
    """The caption of a shapes panel drawing ``strategies``."""
    return (
        f"Shapes: n w_i (weight relative to the uniform 1/n) for a batch of n={n} equally "
        f"spaced losses, i.e. normalised losses l~ = -1..1 (delta={DELTA:g}); "
        f"w = softmax(s(l~)/r) with {formulas(strategies)} (rwtheory.sample_weights)."
    )
