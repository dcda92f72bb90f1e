r"""The global batch of per-sample losses across data-parallel ranks, and its one check.

Every rank contributes its local per-sample losses and their validity (NaN = no scored
token, see :mod:`rwtheory.lm.losses`); :func:`global_batch` gathers both with one collective
into the same global tensor on every rank, in rank order. Because every rank then holds the
same numbers, :func:`check_global_batch` reaches the same verdict on every rank: a global
batch without any scored token raises the same ``ValueError`` everywhere at once, *after*
the collective -- no rank raises while the others wait in a collective (which would hang on
NCCL or drop the connection on gloo). A rank whose local batch is all padding is not an
error: its samples get weight 0, its loss is 0 and its gradient is 0, and data parallelism
averages it with the others as usual.

Host synchronisation: one read of the local sizes under data parallelism (ranks may hold
different numbers of samples, so the collective's buffer size must be known on the host),
none without a process group; the check is one more read (skipped by the callers'
``check=False``): :func:`check_global_batch` on its own, or its flags
(:func:`global_batch_flags`) fetched together with other numbers in one read
(:func:`rwtheory.lm.reweight.read_checks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

from rwtheory._array import _check_torch_storage, check_int

__all__ = [
    "check_global_batch",
    "check_group",
    "check_max_local",
    "gather_losses",
    "global_batch",
    "global_batch_flags",
    "raise_for_flags",
    "world",
]


def world(group: dist.ProcessGroup | None = None) -> tuple[int, int]:
    """(rank, world size) in ``group``; (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


def check_group(group: Any) -> dist.ProcessGroup | None:
    """``group`` validated: None (the default group: the world when ``torch.distributed`` is
    initialised, else one process) or a ``torch.distributed.ProcessGroup``; anything else
    is a ``TypeError`` (without a process group it would otherwise be ignored silently)."""
    if group is None:
        return None
    if dist.is_available() and isinstance(group, dist.ProcessGroup):
        return group
    raise TypeError(
        f"group must be None (the default process group) or a torch.distributed "
        f"ProcessGroup, got {type(group).__name__}"
    )


def check_max_local(
    max_local: Any, local_size: int, name: str = "max_local", what: str = ""
) -> int | None:
    """``max_local`` (None, or an integer >= 1 and >= this rank's ``local_size``) as a Python
    int or None; the error names ``name`` (``what`` says what the local batch is). Checked in
    one process too, where it is not used, so that a value that would fail under data
    parallelism fails on one machine already."""
    if max_local is None:
        return None
    max_local = check_int(max_local, name, minimum=1)
    if local_size > max_local:
        raise ValueError(
            f"{name} must be >= this rank's local batch ({local_size}{what}), got {max_local}"
        )
    return max_local


def _check_local(local: Any) -> None:
    if not isinstance(local, torch.Tensor):
        raise TypeError(
            f"local must be a torch.Tensor (this rank's per-sample values along dim 0), "
            f"got {type(local).__name__}"
        )
    _check_torch_storage(local, "local")  # dense, strided, with data
    if local.ndim == 0:
        raise ValueError("local must have at least 1 dimension (samples along dim 0), got 0-d")


def gather_losses(
    local: torch.Tensor, group: dist.ProcessGroup | None = None, max_local: int | None = None
) -> tuple[torch.Tensor, int]:
    """All ranks' ``local`` tensors concatenated along dim 0 in rank order, and this rank's
    offset.

    Returns ``(global, start)`` with ``global[start:start + len(local)]`` equal to ``local``.
    Ranks may hold different lengths along dim 0 (the tensors are padded to the longest for
    the collective, which costs one host read of the lengths); the other dimensions and the
    dtype must agree. With ``max_local`` (an integer >= every rank's length, the same on
    every rank) there is no host read: each rank's block is padded with zeros to
    ``max_local`` rows, ``global`` holds ``world_size * max_local`` rows (the padding rows
    included, rank r's block from ``r * max_local``) and ``start = rank * max_local`` -- the
    form that compiles with ``torch.compile(fullgraph=True)``. Works on any backend whose
    ``all_gather`` supports the tensor's device (gloo: CPU; NCCL: CUDA). Without an
    initialised process group, returns ``(local, 0)``. The result carries no autograd
    history.
    """
    _check_local(local)
    group = check_group(group)
    max_local = check_max_local(max_local, local.shape[0])
    local = local.detach()
    rank, size = world(group)
    if size == 1:
        return local, 0
    if max_local is not None:
        return torch.cat(_gather_padded(local, max_local, size, group)), rank * max_local
    n = torch.tensor([local.shape[0]], dtype=torch.int64, device=local.device)
    counts = [torch.empty_like(n) for _ in range(size)]
    dist.all_gather(counts, n, group=group)
    sizes: list[int] = torch.cat(counts).tolist()  # the one host read (buffer sizes)
    parts = _gather_padded(local, max(sizes), size, group)
    glob = torch.cat([p[:k] for p, k in zip(parts, sizes, strict=True)])
    return glob, sum(sizes[:rank])


def _gather_padded(
    local: torch.Tensor, rows: int, size: int, group: dist.ProcessGroup | None
) -> list[torch.Tensor]:
    """Every rank's ``local`` padded with zeros to ``rows`` rows, in rank order."""
    padded = local.new_zeros((rows, *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded, group=group)
    return parts


def global_batch(
    losses: torch.Tensor,
    valid: torch.Tensor,
    group: dist.ProcessGroup | None = None,
    *,
    columns: Sequence[torch.Tensor] = (),
    max_local: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], int, int]:
    """Gathered float32 losses and validity of the global batch (one collective), the
    gathered extra ``columns`` (1-D tensors of the shape of ``losses``, gathered as float32
    in the same collective; a list, empty without them), this rank's offset in it and the
    world size. ``valid`` is a bool tensor of the shape of ``losses``. ``max_local``: see
    :func:`gather_losses` (the padding rows are invalid), validated by the caller
    (:func:`check_max_local`)."""
    _, size = world(group)
    parts = [losses.detach().float(), valid.float(), *(c.detach().float() for c in columns)]
    local = torch.stack(parts, dim=1)
    glob, start = gather_losses(local, group, max_local) if size > 1 else (local, 0)
    return glob[:, 0], glob[:, 1] > 0.5, list(glob[:, 2:].unbind(1)), start, size


def global_batch_flags(glob: torch.Tensor, gvalid: torch.Tensor) -> torch.Tensor:
    """``[no valid sample, an infinite valid loss]`` as a float tensor (no host read), for
    callers that fetch it together with other numbers; see :func:`raise_for_flags`."""
    bad = gvalid & ~torch.isfinite(glob)
    return torch.stack([~gvalid.any(), bad.any()]).float()


def raise_for_flags(
    flags: Sequence[float], glob: torch.Tensor, gvalid: torch.Tensor, *, empty_ok: bool = False
) -> None:
    """Raise for the host copy ``flags`` of :func:`global_batch_flags` (the same on every
    rank, so every rank raises the same error); ``empty_ok``: a global batch without a valid
    sample is not an error (``empty_batch="skip"``)."""
    if flags[0] and not empty_ok:
        raise ValueError(
            "per_sample_losses: no sample of the global batch (all data-parallel "
            "ranks together) has a scored token -- every loss is NaN or marked "
            "invalid; at least one sample must carry weight (empty_batch='skip' "
            "skips such a batch instead)"
        )
    if flags[1]:
        i = int((gvalid & ~torch.isfinite(glob)).nonzero()[0, 0])
        raise ValueError(
            f"per_sample_losses must be finite or NaN (NaN = no scored token), "
            f"got {float(glob[i])} at index {i} of the global batch"
        )


def check_global_batch(glob: torch.Tensor, gvalid: torch.Tensor) -> None:
    """Raise the same ``ValueError`` on every rank if the global batch has no sample with a
    scored token, or an infinite loss. One host read (two flags)."""
    raise_for_flags(global_batch_flags(glob, gvalid).tolist(), glob, gvalid)
