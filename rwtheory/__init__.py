"""rwtheory: checkable theory and convex experiments for loss-based sample reweighting.

Sow et al., "Dynamic Loss-Based Sample Reweighting for Improved Large Language Model
Pretraining", ICLR 2025. The mathematics is stated in ``docs/theory.md`` (each statement
marked quoted from the paper, reconstructed, or added here). Public API::

    import rwtheory as rw
    rw.sample_weights(losses, strategy="linupper", temperature=1.0)
    rw.kl_capped_weights(gaps, temperature=0.5, rho=2.0)

The public names are loaded on first use (PEP 562), so that ``import rwtheory`` -- and the
command line, :mod:`rwtheory.cli` -- loads no numerical library: the command line pins the
CPU code paths of numpy and torch before they are loaded
(:func:`rwtheory.experiments.pins.pin_this_process`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: The one place the version is written (pyproject.toml reads it).
__version__ = "0.1.0"

if TYPE_CHECKING:  # the names below, for type checkers and readers
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

#: Public name -> the module that defines it.
_HOMES = {
    "kl_capped_weights_bisection": "rwtheory.theory.reference_solvers",
    "dro_kl_weights": "rwtheory.weights.optimal",
    "kl_capped_weights": "rwtheory.weights.optimal",
    **dict.fromkeys(
        (
            "STRATEGIES",
            "cap_safe_temperature",
            "normalize_losses",
            "sample_weights",
            "tempered_softmax",
            "worst_case_rho",
        ),
        "rwtheory.weights.pipeline",
    ),
    **dict.fromkeys(
        ("constant_schedule", "cosine_schedule", "linear_schedule", "warmup_schedule"),
        "rwtheory.weights.schedules",
    ),
    "gamma": "rwtheory.weights.statistics",
    "rho": "rwtheory.weights.statistics",
}

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


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'rwtheory' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
