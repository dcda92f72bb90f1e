r"""The step clock of a :class:`rwtheory.lm.SampleReweighter` inside ``torch.compile``.

A reweighter owns a Python step counter and a temperature schedule ``step -> r``. Traced by
``torch.compile``, reading them would bake the step's value into the graph behind a guard, so
every step would compile a new graph (eight times, then run eager; with ``fullgraph=True``,
fail at the recompile limit). Here they are evaluated *outside* the graph instead: the graph
calls one opaque custom operator, ``rwtheory::reweighter_clock``, that runs in Python at run
time -- it reads the reweighter's step, evaluates the schedule and the burn-in there, advances
the step by one and returns ``[step, temperature, burn-in]`` as a float64 host tensor. The
graph never sees a Python number that changes from step to step, so it compiles once; the
schedule can be any Python callable, evaluated exactly as in eager mode.

The operator mutates a small host tensor of the reweighter (its ``token``), declared to
torch, so the compiler neither drops nor merges the calls. It reads nothing from an
accelerator: the values live on the host (no device synchronisation); the weights use them
as host scalars.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Protocol

import torch

__all__ = ["register", "tick"]


class Clocked(Protocol):
    """What the clock needs of its owner (a :class:`~rwtheory.lm.SampleReweighter`)."""

    def _clock(self) -> tuple[int, float, bool]: ...


#: Live reweighters by handle (weak: a reweighter that is gone is not kept alive).
_LIVE: weakref.WeakValueDictionary[int, Clocked] = weakref.WeakValueDictionary()
_HANDLES = itertools.count(1)


def register(owner: Clocked) -> tuple[int, torch.Tensor]:
    """A new ``(handle, token)`` for ``owner``, which must have a method ``_clock() ->
    (step, temperature, burn_in)`` that also advances its step."""
    handle = next(_HANDLES)
    _LIVE[handle] = owner
    return handle, torch.zeros((), dtype=torch.int64)


@torch.library.custom_op("rwtheory::reweighter_clock", mutates_args=("token",))
def _reweighter_clock(token: torch.Tensor, handle: int) -> torch.Tensor:
    step, temperature, burn_in = _LIVE[handle]._clock()
    token.fill_(step + 1)
    return torch.tensor([step, temperature, float(burn_in)], dtype=torch.float64)


@_reweighter_clock.register_fake
def _(token: torch.Tensor, handle: int) -> torch.Tensor:
    return torch.empty(3, dtype=torch.float64)


def tick(handle: int, token: torch.Tensor) -> torch.Tensor:
    """``[step, temperature, burn_in]`` (float64, host) of the reweighter ``handle``'s
    current step, which advances by one; an opaque operator for ``torch.compile``."""
    return torch.ops.rwtheory.reweighter_clock(token, handle)
