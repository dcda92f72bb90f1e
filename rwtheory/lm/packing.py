r"""Packed sequences: several documents per row, weighted per *document*.

Pretraining loaders pack documents end to end into fixed-length rows. Transformers'
``DataCollatorWithFlattening`` marks where each document starts by restarting
``position_ids`` at 0 (and sets the first label of each document to -100); other loaders
give a ``document_ids`` tensor. With either, :func:`rwtheory.lm.per_sample_loss` and
:func:`rwtheory.lm.per_sample_loss_from_hidden` return one loss per *document*, which the
reweighting weighs like any sample.

**Boundaries** (the conventions, stated once):

* ``position_ids`` ``(B, T)``: a document starts at position 0 of each row and wherever
  ``position_ids[b, t] - position_ids[b, t-1] != 1`` -- transformers' own rule for packed
  rows (``masking_utils.find_packed_sequence_indices``), so a reset to 0 starts one;
* ``document_ids`` ``(B, T)`` (any integers): a document starts at position 0 of each row
  and wherever the id changes (documents are contiguous runs; an id that reappears later in
  the row starts a new document);
* both given: a document starts where either says so.

**Scored targets.** With ``shift=True`` position t predicts the label at t + 1; that
prediction is scored only when t and t + 1 lie in the same document, so the first token of a
document is never a target of the previous one's last position -- exactly what the same
document gets alone in a padded row (its first label is never a target). Padding positions
are documents without scored tokens like any other.

**Layout.** Row b holds at most ``max_documents`` = D documents (default: T, which any row
satisfies; D is at most T -- a row of T positions holds at most T documents, so a larger D
would only add empty slots): the losses are ``(B * D,)``, entry ``b * D + k`` the k-th
document of row b, NaN where row b has fewer than k + 1 documents or the document has no
scored token (weight 0 in the reweighting, as for padded rows). The shape depends on B, T
and D only, never on the data: ``torch.compile`` does not recompile when the number of
documents per row changes.
A document beyond the D-th of its row with a scored token is an error with ``check=True``
(one more flag in the loss's one value read); with ``check=False`` its tokens are dropped.

**Sums.** Per document, the scored tokens' losses are added with ``scatter_add`` (float32,
or float64 for float64 inputs); on CUDA its order follows torch's determinism setting
(``torch.use_deterministic_algorithms``), so two runs may differ in the last bits without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from rwtheory._array import check_bool, check_int, check_tensor

__all__ = ["document_slots", "packed_mean", "target_slots"]


def _starts_from(
    ids: Any,
    name: str,
    batch: int,
    length: int,
    device: torch.device,
    rule: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    check_tensor(ids, name, 2, floating=False)
    if tuple(ids.shape) != (batch, length):
        raise ValueError(
            f"{name} must have shape (batch, length) = {(batch, length)} to match labels, "
            f"got {tuple(ids.shape)}"
        )
    if ids.device != device:
        raise ValueError(f"{name} must be on the device of labels ({device}), got {ids.device}")
    ids = ids.long()
    new = torch.ones_like(ids, dtype=torch.bool)
    new[:, 1:] = rule(ids[:, 1:], ids[:, :-1])
    return new


def document_slots(
    labels: torch.Tensor, position_ids: Any, document_ids: Any, max_documents: Any
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(slots, new, D)``: the 0-based index of each position's document in its row
    ``(B, T)`` int64, the document starts ``(B, T)`` bool, and D (``max_documents``
    validated: an integer in 1..T, default T). ``labels`` is the ``(B, T)`` integer label
    tensor the ids belong to; at least one of ``position_ids``/``document_ids`` is given.
    Host-side checks of shapes, dtypes and devices only."""
    check_tensor(labels, "labels", 2, floating=False)
    if position_ids is None and document_ids is None:
        raise ValueError(
            "position_ids or document_ids must be given (the document boundaries of packed "
            "rows), got neither"
        )
    batch, length = labels.shape
    starts = []
    if position_ids is not None:
        starts.append(
            _starts_from(
                position_ids, "position_ids", batch, length, labels.device, lambda a, b: a - b != 1
            )
        )
    if document_ids is not None:
        starts.append(
            _starts_from(
                document_ids, "document_ids", batch, length, labels.device, lambda a, b: a != b
            )
        )
    d = (
        length
        if max_documents is None
        else check_int(max_documents, "max_documents", minimum=1, maximum=max(length, 1))
    )
    new = starts[0] if len(starts) == 1 else starts[0] | starts[1]
    return new.long().cumsum(dim=1) - 1, new, d


def _check_pair(a: Any, a_name: str, b: Any, b_name: str, *, b_bool: bool) -> None:
    """Host-side checks of two ``(B, T)`` tensors of one row layout: ``a`` integer, ``b``
    bool (``b_bool``) or integer, the same shape."""
    check_tensor(a, a_name, 2, floating=False)
    if not isinstance(b, torch.Tensor):
        raise TypeError(f"{b_name} must be a torch.Tensor, got {type(b).__name__}")
    if b_bool and b.dtype != torch.bool:
        raise TypeError(f"{b_name} must be a bool tensor, got {b.dtype}")
    if not b_bool:
        check_tensor(b, b_name, 2, floating=False)
    if tuple(b.shape) != tuple(a.shape):
        raise ValueError(
            f"{b_name} must have the shape of {a_name} {tuple(a.shape)}, got {tuple(b.shape)}"
        )


def target_slots(
    slots: torch.Tensor, new: torch.Tensor, shift: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The document of each target position and the mask of predictions that stay inside
    their document (see the module docstring, "Scored targets"). ``slots`` ``(B, T)``
    integer and ``new`` ``(B, T)`` bool as :func:`document_slots` returns them; ``shift`` a
    bool."""
    _check_pair(slots, "slots", new, "new", b_bool=True)
    if not check_bool(shift, "shift"):
        return slots, torch.ones_like(new)
    inside = F.pad(~new[:, 1:], (0, 1), value=False)  # t and t + 1 in one document
    return F.pad(slots[:, 1:], (0, 1), value=0), inside


def packed_mean(
    token_nll: torch.Tensor, mask: torch.Tensor, slots: torch.Tensor, d: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-document means ``(B * D,)`` (NaN: no scored token), the counts ``(B * D,)`` and the
    mask of scored tokens dropped: those whose slot lies outside ``[0, D)`` (beyond the D-th
    document, or negative). ``token_nll`` ``(B*T,)`` floating, ``mask`` ``(B, T)`` bool,
    ``slots`` ``(B, T)`` integer, ``d`` an integer in 1..T. Unscored positions enter through
    ``where`` (a NaN there cannot leak) and the division is guarded, as for whole rows.
    Host-side checks of types and shapes only (the slots' values are not read)."""
    _check_pair(slots, "slots", mask, "mask", b_bool=True)
    check_tensor(token_nll, "token_nll", 1, floating=True)
    if token_nll.shape[0] != slots.numel():
        raise ValueError(
            f"token_nll must hold one loss per position, {slots.numel()} = B x T for slots "
            f"of shape {tuple(slots.shape)}, got {token_nll.shape[0]}"
        )
    d = check_int(d, "d", minimum=1, maximum=max(slots.shape[1], 1))
    batch, slots = slots.shape[0], slots.long()
    over = mask & ((slots >= d) | (slots < 0))
    keep = mask & ~over
    index = torch.where(keep, slots, d)  # dropped and unscored tokens into an extra bin
    nll = torch.where(keep, token_nll.view(batch, -1), 0.0)
    sums = torch.zeros(batch, d + 1, dtype=nll.dtype, device=nll.device)
    sums = sums.scatter_add(1, index, nll)[:, :d].reshape(-1)
    counts = torch.zeros(batch, d + 1, dtype=torch.int64, device=nll.device)
    counts = counts.scatter_add(1, index, keep.long())[:, :d].reshape(-1)
    means = sums / counts.clamp(min=1).to(sums.dtype)
    return torch.where(counts > 0, means, torch.nan), counts, over
