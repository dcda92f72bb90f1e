"""Test configuration shared by the whole suite.

Hypothesis runs derandomised (same examples every run, no example database) so that CI is
reproducible; property tests ask for their example counts explicitly (>= 200 where the
issues require it).
"""

import os
import sys
from pathlib import Path

from rwtheory.experiments import pins

# The test process computes what the pinned workers compute (tests compare the two), so it
# pins itself before numpy or torch is loaded (test_pins.py asserts it took effect).
TEST_PROCESS_PINNED = pins.pin_this_process()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# shared helpers (tests/strategies.py) importable from every sub-folder of tests/
sys.path.insert(0, str(Path(__file__).resolve().parent))

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    """A fresh, seeded Generator per test (reproducible)."""
    return np.random.default_rng(20250206)
