r"""Temperature schedules: plain callables ``schedule(step) -> r`` (THEORY.md §1 step 4).

The paper keeps r = 100 (weights nearly uniform) for a warm-up, then uses the target value
(GPT-2: 0.4, Llama-1.4B: 1, Llama-7B: 2). Linear and cosine annealing are the natural smooth
versions. Every schedule is a frozen dataclass (picklable, comparable, printable) whose
``__call__`` takes a step ``k >= 0`` (an integer: ``TypeError`` otherwise, ``ValueError`` below
0) and returns a finite temperature > 0. The annealing schedules are exact at their end
points (``start`` at ``begin``, ``end`` from ``begin + steps`` on) and never leave the
interval between them: they interpolate as ``(1 - c) start + c end`` (never
``start + c (end - start)``, which rounds ``end = 1e-17`` after ``start = 1`` to 0 and
overflows for ``start = 1e300, end = -...``), clipped to ``[min(start, end), max(start, end)]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rwtheory._array import check_int, check_positive_finite

__all__ = ["constant_schedule", "cosine_schedule", "linear_schedule", "warmup_schedule"]

#: The paper's warm-up temperature (App. A.2): large enough that the weights are ~uniform.
PAPER_WARMUP_TEMPERATURE = 100.0


def _check_step(step: Any) -> int:
    return check_int(step, "step", minimum=0)


def _check_steps(value: Any, name: str) -> int:
    return check_int(value, name, minimum=0)


def _between(start: float, end: float, c: float) -> float:
    """(1 - c) start + c end for c in [0, 1]: exactly start at c = 0 and end at c = 1, and
    clipped into [min, max] of the two (the sum of two rounded products may land an ulp
    outside, or overflow to inf near the largest float)."""
    value = (1.0 - c) * start + c * end
    return min(max(value, min(start, end)), max(start, end))


@dataclass(frozen=True)
class constant_schedule:  # lower case: a schedule is used like a function (optax style)
    """r(k) = ``value`` for every step."""

    value: float

    def __post_init__(self) -> None:
        check_positive_finite(self.value, "value")

    def __call__(self, step: int) -> float:
        _check_step(step)
        return float(self.value)


@dataclass(frozen=True)
class warmup_schedule:  # lower case, as constant_schedule
    """The paper's schedule: r(k) = ``warmup_value`` (100) for k < ``warmup_steps``, then
    ``target``."""

    target: float
    warmup_steps: int
    warmup_value: float = PAPER_WARMUP_TEMPERATURE

    def __post_init__(self) -> None:
        check_positive_finite(self.target, "target")
        check_positive_finite(self.warmup_value, "warmup_value")
        _check_steps(self.warmup_steps, "warmup_steps")

    def __call__(self, step: int) -> float:
        k = _check_step(step)
        return float(self.warmup_value if k < self.warmup_steps else self.target)


@dataclass(frozen=True)
class linear_schedule:  # lower case, as constant_schedule
    """r moves linearly from ``start`` to ``end`` over steps [``begin``, ``begin + steps``],
    constant outside."""

    start: float
    end: float
    steps: int
    begin: int = 0

    def __post_init__(self) -> None:
        check_positive_finite(self.start, "start")
        check_positive_finite(self.end, "end")
        _check_steps(self.steps, "steps")
        _check_steps(self.begin, "begin")

    def _fraction(self, step: int) -> float:
        k = _check_step(step)
        if self.steps == 0:
            return 0.0 if k < self.begin else 1.0
        return min(max((k - self.begin) / self.steps, 0.0), 1.0)

    def __call__(self, step: int) -> float:
        return _between(float(self.start), float(self.end), self._fraction(step))


@dataclass(frozen=True)
class cosine_schedule(linear_schedule):  # lower case, as constant_schedule
    """r follows half a cosine from ``start`` to ``end`` over [``begin``, ``begin + steps``]:
    r = end + (start - end) (1 + cos(pi f)) / 2, f the fraction of the way."""

    def __call__(self, step: int) -> float:
        f = self._fraction(step)
        # c = (1 - cos(pi f)) / 2: exactly 0 at f = 0 and 1 at f = 1 (cos(pi) = -1 exactly)
        return _between(float(self.start), float(self.end), 0.5 * (1 - math.cos(math.pi * f)))
