"""rwtheory: checkable theory and convex experiments for loss-based sample reweighting.

Sow et al., "Dynamic Loss-Based Sample Reweighting for Improved Large Language Model
Pretraining", ICLR 2025. The mathematics is stated in ``docs/theory.md`` (each statement
marked quoted from the paper, reconstructed, or added here). Public API::

    import rwtheory as rw
    rw.sample_weights(losses, strategy="linupper", temperature=1.0)
    rw.kl_capped_weights(gaps, temperature=0.5, rho=2.0)
"""

from rwtheory.theory.reference_solvers import kl_capped_weights_bisection
from rwtheory.weights.optimal import dro_kl_weights, kl_capped_weights
from rwtheory.weights.pipeline import (
    STRATEGIES,
    cap_safe_temperature,
    normalize_losses,
    sample_weights,
    tempered_softmax,
    worst_case_rho,
)
from rwtheory.weights.schedules import (
    constant_schedule,
    cosine_schedule,
    linear_schedule,
    warmup_schedule,
)
from rwtheory.weights.statistics import gamma, rho

__version__ = "0.1.0"

__all__ = [
    "STRATEGIES",
    "cap_safe_temperature",
    "constant_schedule",
    "cosine_schedule",
    "dro_kl_weights",
    "gamma",
    "kl_capped_weights",
    "kl_capped_weights_bisection",
    "linear_schedule",
    "normalize_losses",
    "rho",
    "sample_weights",
    "tempered_softmax",
    "warmup_schedule",
    "worst_case_rho",
]
