"""Hypothesis strategies shared by the property tests."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

STRATEGY_NAMES = ["uniform", "linupper", "quadratic", "extremes", "upper"]


def loss_batches(min_size=1, max_size=64, low=-1e3, high=1e3):
    """1-D float64 batches of finite losses."""
    return hnp.arrays(
        np.float64,
        st.integers(min_size, max_size),
        elements=st.floats(low, high, allow_nan=False, allow_infinity=False),
    )


def gap_batches(min_size=1, max_size=12, high=10.0):
    """1-D float64 batches of loss gaps >= 0, with ties likely (small grid mixed in)."""
    grid = st.sampled_from([0.0, 0.5, 1.0, 2.0])
    cont = st.floats(0.0, high, allow_nan=False, allow_infinity=False)
    return hnp.arrays(np.float64, st.integers(min_size, max_size), elements=st.one_of(grid, cont))


temperatures = st.floats(0.05, 20.0)
