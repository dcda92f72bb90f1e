"""Counting host synchronisations: the calls that make the host wait for a tensor's value.

On CUDA, torch itself can report them (``torch.cuda.set_sync_debug_mode``); on CPU nothing
waits, so :func:`count_host_syncs` counts the Python-level calls that *would* force one on an
accelerator: reading a value (``item``, ``tolist``, ``bool``/``int``/``float``/index
conversion, ``numpy``) and the ops whose output shape depends on the data (``nonzero``,
boolean-mask indexing, ``masked_select``). It is a measuring tool for the benchmarks and
tests, not for production (it patches ``torch.Tensor`` methods while active; not
thread-safe).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["SyncCounter", "count_host_syncs"]

_READS = (
    "item",
    "tolist",
    "__bool__",
    "__int__",
    "__float__",
    "__index__",
    "numpy",
    "nonzero",
    "masked_select",
)


class SyncCounter:
    """Counts per call name; ``total`` is their sum."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def hit(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _is_bool_mask(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool and i.ndim > 0 for i in items)


@contextlib.contextmanager
def count_host_syncs() -> Iterator[SyncCounter]:
    """``with count_host_syncs() as counter: ...`` -- counts the calls listed in the module
    docstring made while the block runs (by any code, torch's own Python included)."""
    counter = SyncCounter()
    saved = {name: getattr(torch.Tensor, name) for name in (*_READS, "__getitem__", "__setitem__")}
    saved_fn = {name: getattr(torch, name) for name in ("nonzero", "masked_select")}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            counter.hit(name)
            return fn(*args, **kwargs)

        return wrapped

    def getitem(self: torch.Tensor, index: Any) -> Any:
        if _is_bool_mask(index):
            counter.hit("bool-mask indexing")
        return saved["__getitem__"](self, index)

    def setitem(self: torch.Tensor, index: Any, value: Any) -> Any:
        if _is_bool_mask(index):
            counter.hit("bool-mask indexing")
        return saved["__setitem__"](self, index, value)

    try:
        for name in _READS:
            setattr(torch.Tensor, name, wrap(name, saved[name]))
        for name, fn in saved_fn.items():
            setattr(torch, name, wrap(name, fn))
        for name, fn in (("__getitem__", getitem), ("__setitem__", setitem)):
            setattr(torch.Tensor, name, fn)
        yield counter
    finally:
        for name, fn in saved.items():
            setattr(torch.Tensor, name, fn)
        for name, fn in saved_fn.items():
            setattr(torch, name, fn)
