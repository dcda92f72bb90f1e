r"""Per-sample language-model losses (THEORY.md §1 item 5; paper App. A.1,
``get_batch_loss_from_logits``).

A sample's loss is the mean token negative log-likelihood over its *non-ignored* target
tokens. With ``shift=True`` (causal LM) the prediction at position t is scored against the
label at position t + 1, so the last position predicts nothing and the first label is never a
target -- the same convention as Hugging Face's ``ForCausalLMLoss``.

Two ways to get the same numbers:

* :func:`per_sample_loss` from the logits ``(B, T, V)`` the model already produced;
* :func:`per_sample_loss_from_hidden` from the final hidden states ``(B, T, d)`` and the output
  projection ``(V, d)``: the logits are computed a chunk of tokens at a time and recomputed
  in the backward pass, so the ``B x T x V`` logits (and their gradient) never exist at once,
  in any dtype.

**Samples without a scored token carry their validity with them.** A sample whose target
tokens are all ``ignore_index`` (e.g. a row of padding) has no loss: 0/0. Both functions return
NaN for it -- never an error, whatever the rest of the batch holds -- and, with
``return_counts=True``, its token count 0. :func:`rwtheory.lm.reweighted_loss` and
:class:`~rwtheory.lm.SampleReweighter` read a NaN loss as "no scored token": the sample gets
weight 0 and contributes nothing (not to the loss, the gradient, or the normalisation of the
other samples' losses), with no extra argument from the caller. The NaN never reaches a
gradient (the division is guarded), and a batch, or a data-parallel rank, made only of padding
is not an error here: only a *global* batch without any scored token is, raised by the
reweighting on every rank at once (:mod:`rwtheory.lm.distributed`). With ``check=True`` (the
default) a non-finite loss of a sample that *has* scored tokens (non-finite logits) raises,
so a NaN that reaches the reweighting always means "no scored token".

**Host synchronisation.** Shapes and dtypes are checked on the host for free. The checks of
the *values* (label range, finite losses) are tensor ops whose two flags take one
device-to-host read (a :class:`LossCheck`); ``check=False`` skips them (no synchronisation;
out-of-range labels then fail inside the kernels -- an IndexError on CPU, a device-side
assert on CUDA -- and a non-finite loss passes through).

**When the value checks raise** (``check=True``). Losses without autograd history (under
``torch.no_grad()``, evaluation) are checked at once: the call raises. Losses with autograd
history carry their unread check (:func:`pending_loss_check`) and are checked *at the latest
in their backward pass*: :func:`rwtheory.lm.reweighted_loss` and
:class:`rwtheory.lm.SampleReweighter` (``check=True``) fetch the flags in their own single
read and raise the same error inside their call, before any backward pass -- so a training
step with the default checks and its statistics logged reads the host once, not three
times; used on their own (``losses.mean().backward()``), the losses raise the same
``ValueError`` from ``backward()`` (a hook on the losses reads the flags there), before any
parameter gets a gradient. A tensor derived from the losses (``losses.float()``,
``losses[mask]``) does not carry the check: its backward pass still catches it.

Everything else is tensor ops on static shapes: under
``torch.compile`` the functions trace without graph breaks (``check=False``) and the number
of padded tokens never changes a shape, so varying padding does not recompile.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias, overload

import torch
import torch.nn.functional as F

from rwtheory._array import check_bool, check_int, check_tensor, zero_gradient_rows
from rwtheory.lm.packing import document_slots, packed_mean, target_slots

__all__ = [
    "CHUNK_BUDGET_BYTES",
    "CHUNKED_MIN_VOCAB",
    "IGNORE_INDEX",
    "LOSS_CHECK_ATTRIBUTE",
    "LossCheck",
    "default_chunk_size",
    "pending_loss_check",
    "per_sample_loss",
    "per_sample_loss_from_hidden",
]

#: The padding label ignored by default (PyTorch's and Hugging Face's convention).
IGNORE_INDEX = -100

#: Memory budget of one chunk's temporary buffers when ``chunk_size`` is left to
#: :func:`default_chunk_size`: 64 MiB, about 170 tokens per chunk at V = 32768 and 42 at
#: V = 131072, so that a batch of a few hundred tokens is chunked too.
CHUNK_BUDGET_BYTES = 64 * 2**20

#: Bytes of temporary buffers per token of a chunk and per vocabulary entry: the chunk's
#: logits in the matmul dtype, their float32 copy and the float32 exp/softmax buffer of
#: log-sum-exp (forward) or of the gradient (backward); 12 is the bound for float32 and
#: for half-precision matmuls alike (2 + 4 + 4 + the half-precision cast of the gradient).
BYTES_PER_LOGIT = 12

#: From this vocabulary size on, the Trainer and the training-loop example take the chunked
#: path by default. Justification (memory, per token): the naive path holds the logits, a
#: float32 copy and their gradient, about 12 V bytes per token against about 2 * 34 d bytes
#: of activations per layer (a transformer block at d_model = d in half precision). At
#: V >= 16384 and d <= 2048 one token's logits outweigh ~1.4 layers' activations and grow
#: with V (Llama-3's 128k: ~11 layers); the chunked path keeps them at a fixed 64 MiB for
#: one extra ``hidden x weight`` product in the backward pass (measured: 1.1x the naive
#: loss time on CPU at V = 32768, benchmarks/bench_lm_loss.py). Below it (byte- and
#: character-level models, tests) the logits are small and the extra product not worth it.
#: Every common subword vocabulary is above it: GPT-2 50257, Llama-2 32000, Mistral 32768,
#: Llama-3 128256.
CHUNKED_MIN_VOCAB = 16384


# ------------------------------------------------------------------------- validation
def _check_tensor(x: Any, name: str, ndim: int, *, floating: bool) -> None:
    check_tensor(x, name, ndim, floating=floating)  # dense, strided, real: rwtheory._array


def _check_flags(shift: Any, check: Any, return_counts: Any) -> tuple[bool, bool, bool]:
    """The three flags as Python bools (numpy bools accepted; never a string, a number or a
    tensor, whose truth would be read silently)."""
    return (
        check_bool(shift, "shift"),
        check_bool(check, "check"),
        check_bool(return_counts, "return_counts"),
    )


def _check_smoothing(label_smoothing: Any) -> float:
    """``label_smoothing`` in [0, 1] (``F.cross_entropy``'s range), a real number."""
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"label_smoothing must be a real number in [0, 1], got {label_smoothing!r}")
    value = float(label_smoothing)
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return value


class _Documents:
    """Document boundaries of one call (:mod:`rwtheory.lm.packing`): the target positions'
    document slots ``(B, T)`` and D; ``None`` for whole rows."""

    def __init__(self, slots: torch.Tensor, d: int) -> None:
        self.slots, self.d = slots, d


#: ``(position_ids, document_ids, max_documents)`` of a call, as given (validated by
#: :func:`rwtheory.lm.packing.document_slots`).
Packing: TypeAlias = tuple[Any, Any, Any]
#: ``(mask of scored labels outside [0, V), the labels)`` of ``check=True``, or None.
BadLabels: TypeAlias = tuple[torch.Tensor, torch.Tensor] | None


def _targets(
    labels: Any,
    shape: tuple[int, int, int],
    ignore_index: int,
    shift: bool,
    owner: str,
    check: bool,
    packing: Packing,
) -> tuple[torch.Tensor, torch.Tensor, BadLabels, _Documents | None]:
    """Validate the shape of ``labels`` against a ``(batch, length, vocab)`` prediction tensor
    named ``owner``; return the flat targets (position t scores ``targets[t]``), the mask of
    scored positions ``(B, T)``, (``check``) the mask of scored labels outside ``[0, vocab)``
    (their targets replaced by 0 so that the kernels run) and the :class:`_Documents` of
    ``packing = (position_ids, document_ids, max_documents)`` (None when both ids are None).

    With ``shift`` the labels are shifted left and padded with ``ignore_index`` (the last
    position predicts nothing), which keeps the predictions contiguous: no copy of them.
    Host-side checks only (shapes); nothing here synchronises."""
    batch, length, vocab = shape
    _check_tensor(labels, "labels", 2, floating=False)
    if tuple(labels.shape) != (batch, length):
        raise ValueError(
            f"labels must have shape (batch, length) = {(batch, length)} to match "
            f"{owner}, got {tuple(labels.shape)}"
        )
    if batch == 0:
        raise ValueError(f"{owner} must hold at least one sample, got batch size 0")
    if shift and length < 2:
        raise ValueError(
            f"with shift=True every sample needs at least 2 positions, got "
            f"{owner} of length {length}"
        )
    if not shift and length < 1:
        raise ValueError(f"{owner} must have at least 1 position, got length 0")
    docs = None
    if packing[0] is not None or packing[1] is not None:
        slots, new, d = document_slots(labels, *packing)
        slots, inside = target_slots(slots, new, shift)
        docs = (_Documents(slots, d), inside)
    labels = labels.long()
    if shift:
        labels = F.pad(labels[:, 1:], (0, 1), value=ignore_index)
    mask = labels != ignore_index
    if docs is not None:
        mask = mask & docs[1]
    bad = None
    if check:
        bad = (mask & ((labels < 0) | (labels >= vocab)), labels)
        labels = torch.where(bad[0], 0, labels)
    return labels.reshape(-1), mask, bad, None if docs is None else docs[0]


def _same_device(tensors: dict[str, torch.Tensor | None]) -> None:
    devices = {name: t.device for name, t in tensors.items() if t is not None}
    if len(set(devices.values())) > 1:
        where = ", ".join(f"{name} on {d}" for name, d in devices.items())
        raise ValueError(f"all inputs must be on one device, got {where}")


def _per_sample_mean(
    token_nll: torch.Tensor, mask: torch.Tensor, docs: _Documents | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(B*T,)`` per-position NLL -> the means over the scored tokens of each row ``(B,)``
    (or of each document, ``(B*D,)``: :func:`rwtheory.lm.packing.packed_mean`), NaN for a
    row or document without one, the counts and the mask of scored tokens dropped beyond
    the D-th document (None for rows). The unscored positions are zeroed by ``where`` (so a
    NaN there cannot leak) and the division is guarded, so the NaN of an empty sample never
    reaches a gradient."""
    if docs is not None:
        return packed_mean(token_nll, mask, docs.slots, docs.d)
    batch = mask.shape[0]
    counts = mask.sum(dim=1)
    sums = torch.where(mask.reshape(-1), token_nll, 0.0).view(batch, -1).sum(dim=1)
    means = sums / counts.clamp(min=1).to(sums.dtype)
    return torch.where(counts > 0, means, torch.nan), counts, None


class LossCheck:
    """The value checks of one :func:`per_sample_loss` /
    :func:`per_sample_loss_from_hidden` call with ``check=True``, computed by tensor ops and
    not yet read: ``flags`` is a float64 tensor of :data:`FLAGS` entries ``[a scored label
    outside [0, V), a non-finite loss of a sample with scored tokens, a scored token of a
    document beyond max_documents]``. :meth:`raise_for` raises the clear error for a host
    copy of the flags (reading more only then); :meth:`read` reads the flags itself (one host
    synchronisation). Either marks the check ``done``. The reweighting
    (:func:`rwtheory.lm.reweighted_loss`, :class:`rwtheory.lm.SampleReweighter`) fetches
    ``flags`` in its own one read (:func:`pending_loss_check`)."""

    #: Number of entries of :attr:`flags`.
    FLAGS = 3

    def __init__(
        self,
        losses: torch.Tensor,
        counts: torch.Tensor,
        bad: tuple[torch.Tensor, torch.Tensor],
        over: torch.Tensor | None,
        where: tuple,
    ) -> None:
        self._bad, self._labels = bad
        self._losses = losses.detach()
        self._nonfinite = (counts > 0) & ~torch.isfinite(self._losses)
        self._over = torch.zeros_like(self._bad) if over is None else over
        self._where = where  # (owner, ignore_index, vocab, shift, max_documents)
        flags = [self._bad.any(), self._nonfinite.any(), self._over.any()]
        self.flags = torch.stack(flags).double()
        self.done = False

    def raise_for(self, flags: Sequence[float]) -> None:
        """Raise the ``ValueError`` naming the argument if a host copy ``flags`` of
        :attr:`flags` says a check failed."""
        self.done = True
        owner, ignore_index, vocab, shift, max_documents = self._where
        if flags[0]:
            b, t = (int(i) for i in self._bad.nonzero()[0])
            raise ValueError(
                f"labels must be token ids in [0, {vocab}) or ignore_index "
                f"({ignore_index}), got {int(self._labels[b, t])} at sample {b}, "
                f"position {t + 1 if shift else t}"
            )
        if flags[1]:
            i = int(self._nonfinite.nonzero()[0, 0])
            raise ValueError(
                f"{owner} gave a non-finite loss ({float(self._losses[i])}) for "
                f"sample {i}: {owner} must hold finite values whose loss is finite "
                f"in {self._losses.dtype}"
            )
        if flags[2]:
            b = int(self._over.nonzero()[0, 0])
            raise ValueError(
                f"max_documents must be at least the number of documents with a scored "
                f"token in every row: row {b} has more than {max_documents}"
            )

    def read(self) -> None:
        """Read the flags (one host synchronisation) and raise if a check failed; nothing
        when the check is already done."""
        if not self.done:
            self.raise_for(self.flags.tolist())


#: Attribute of the losses under which :func:`per_sample_loss` leaves its :class:`LossCheck`.
LOSS_CHECK_ATTRIBUTE = "rw_loss_check"


def pending_loss_check(losses: Any) -> LossCheck | None:
    """The :class:`LossCheck` that ``losses`` (an output of :func:`per_sample_loss` or
    :func:`per_sample_loss_from_hidden` with ``check=True``) carries and that nobody has
    read yet; None otherwise (also for any tensor derived from them)."""
    check = getattr(losses, LOSS_CHECK_ATTRIBUTE, None)
    return check if isinstance(check, LossCheck) and not check.done else None


def _attach_check(losses: torch.Tensor, check: LossCheck) -> None:
    """``check=True``: the value checks of ``losses``, deferred when there is a backward
    pass to catch them (see the module docstring, "When the value checks raise")."""
    if not losses.requires_grad:  # no backward pass will come: read now
        check.read()
        return
    setattr(losses, LOSS_CHECK_ATTRIBUTE, check)
    losses.register_hook(lambda grad: check.read())  # returns None: grad passes unchanged


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16/bfloat16 predictions are scored in float32; float32/64 in their own dtype."""
    return torch.float64 if dtype == torch.float64 else torch.float32


#: The range of ``ignore_index``: the labels are compared as int64.
_INT64 = (-(2**63), 2**63 - 1)


def _check_call(
    check: Any,
    shift: Any,
    return_counts: Any,
    ignore_index: Any,
    label_smoothing: Any,
    packing: Packing,
) -> tuple[bool, bool, bool, int, float]:
    """The scalar arguments shared by both loss functions, validated (host only): returns
    ``(shift, check, return_counts, ignore_index, label_smoothing)`` as Python values."""
    flags = _check_flags(shift, check, return_counts)
    if packing[2] is not None and packing[0] is None and packing[1] is None:
        raise ValueError(
            "max_documents needs document boundaries: pass position_ids or document_ids "
            "with it (packed sequences), or leave it None"
        )
    ignore_index = check_int(ignore_index, "ignore_index", minimum=_INT64[0], maximum=_INT64[1])
    return (*flags, ignore_index, _check_smoothing(label_smoothing))


def _finish(
    losses: torch.Tensor,
    counts: torch.Tensor,
    bad: BadLabels,
    over: torch.Tensor | None,
    where: tuple,
    check: bool,
    return_counts: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    if check:
        assert bad is not None  # _targets computes it with check
        _attach_check(losses, LossCheck(losses, counts, bad, over, where))
    return (losses, counts) if return_counts else losses


# ------------------------------------------------------------------------- from logits
# The overloads give the return type of each value of ``return_counts`` (the losses, or
# (losses, counts)) to a caller's type checker; they repeat the signature, as overloads must.
@overload
def per_sample_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int = ...,
    shift: bool = ...,
    *,
    return_counts: Literal[False] = ...,
    check: bool = ...,
    label_smoothing: float = ...,
    position_ids: torch.Tensor | None = ...,
    document_ids: torch.Tensor | None = ...,
    max_documents: int | None = ...,
) -> torch.Tensor: ...


@overload
def per_sample_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int = ...,
    shift: bool = ...,
    *,
    return_counts: Literal[True],
    check: bool = ...,
    label_smoothing: float = ...,
    position_ids: torch.Tensor | None = ...,
    document_ids: torch.Tensor | None = ...,
    max_documents: int | None = ...,
) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def per_sample_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int = ...,
    shift: bool = ...,
    *,
    return_counts: bool,
    check: bool = ...,
    label_smoothing: float = ...,
    position_ids: torch.Tensor | None = ...,
    document_ids: torch.Tensor | None = ...,
    max_documents: int | None = ...,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def per_sample_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
    shift: bool = True,
    *,
    return_counts: bool = False,
    check: bool = True,
    label_smoothing: float = 0.0,
    position_ids: torch.Tensor | None = None,
    document_ids: torch.Tensor | None = None,
    max_documents: int | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""Mean token NLL of every sample: ``(B,)`` from logits ``(B, T, V)`` and labels ``(B, T)``.

    .. math:: \ell_b = \frac{1}{|S_b|}\sum_{t \in S_b} -\log \mathrm{softmax}(z_{b,t})_{y_{b,t+1}},
              \qquad S_b = \{t : y_{b,t+1} \ne \text{ignore\_index}\}

    (with ``shift=False`` the label at t itself). For samples with equally many scored tokens
    the mean of the result equals ``F.cross_entropy``'s token mean.

    Parameters
    ----------
    logits : float tensor ``(B, T, V)``, B >= 1. float16/bfloat16 are scored in float32 (a
        float32 copy of the logits is made, as Hugging Face's loss does; use
        :func:`per_sample_loss_from_hidden` when that memory matters).
    labels : integer tensor ``(B, T)`` of token ids in ``[0, V)`` or ``ignore_index``; a row
        without any scored token is allowed (its loss is NaN).
    ignore_index : label value that is not scored (padding), default -100.
    shift : score position t against label t + 1 (causal LM). Needs T >= 2.
    return_counts : also return the number of scored tokens per sample (``(B,)`` int64).
    check : check the values (labels in range, finite losses of scored samples) at the
        cost of one host synchronisation -- shared with the reweighting's, and deferred to the
        reweighting or the backward pass when the losses have autograd history (module
        docstring, "When the value checks raise"); ``False`` skips it.
    label_smoothing : epsilon in [0, 1] (default 0): each token's loss is
        ``(1 - eps) * nll + eps * mean_v(-log p_v)``, ``F.cross_entropy``'s and Hugging Face's
        ``LabelSmoother``'s definition.
    position_ids, document_ids : optional ``(B, T)`` integer tensors marking packed
        documents (:mod:`rwtheory.lm.packing`): then the losses are per *document*.
    max_documents : documents per row D with ``position_ids``/``document_ids`` (an integer
        >= 1; default T); see :mod:`rwtheory.lm.packing`.

    Returns
    -------
    ``(B,)`` losses (float32, or float64 for float64 logits) with the autograd history of
    ``logits``; NaN for a sample without scored tokens, which the reweighting gives weight 0
    (see the module docstring). With document boundaries ``(B * D,)``, one per document slot.
    With ``return_counts``: ``(losses, counts)``.

    Raises ``TypeError``/``ValueError`` naming the argument for a wrong type, dtype or shape,
    and (``check=True``) labels outside ``[0, V)`` and non-finite logits (reported through the
    loss of the first affected sample; raised in the call, in the reweighting or in the
    backward pass, see the module docstring). A batch without any scored token is *not* an
    error.
    """
    _check_tensor(logits, "logits", 3, floating=True)
    packing = (position_ids, document_ids, max_documents)
    shift, check, return_counts, ignore_index, eps = _check_call(
        check, shift, return_counts, ignore_index, label_smoothing, packing
    )
    batch, length, vocab = logits.shape
    if vocab == 0:
        raise ValueError(
            f"logits must have a vocabulary dimension >= 1, got shape {tuple(logits.shape)}"
        )
    if isinstance(labels, torch.Tensor):
        _same_device({"logits": logits, "labels": labels})
    targets, mask, bad, docs = _targets(
        labels, (batch, length, vocab), ignore_index, shift, "logits", check, packing
    )
    flat = logits.reshape(-1, vocab)
    cdt = _compute_dtype(logits.dtype)
    if flat.dtype != cdt:
        flat = flat.to(cdt)
    flat = zero_gradient_rows(flat, mask.reshape(-1))  # ignored rows of -inf: gradient 0
    if docs is not None:  # a prediction across a document boundary is not scored
        targets = torch.where(mask.reshape(-1), targets, ignore_index)
    token_nll = F.cross_entropy(
        flat, targets, ignore_index=ignore_index, reduction="none", label_smoothing=eps
    )
    losses, counts, over = _per_sample_mean(token_nll, mask, docs)
    where = ("logits", ignore_index, vocab, shift, None if docs is None else docs.d)
    return _finish(losses, counts, bad, over, where, check, return_counts)


# ------------------------------------------------------------------------- from hidden
def default_chunk_size(vocab: int, budget_bytes: int = CHUNK_BUDGET_BYTES) -> int:
    """Tokens per chunk whose temporary buffers (:data:`BYTES_PER_LOGIT` bytes per logit)
    fit in ``budget_bytes``: 170 tokens at V = 32768 with the default 64 MiB, 42 at
    V = 131072; at least 1. It depends on the vocabulary only, never on the batch, so the
    memory stays within the budget whatever the batch size, and small batches are chunked
    too."""
    vocab = check_int(vocab, "vocab", minimum=1)
    budget_bytes = check_int(budget_bytes, "budget_bytes", minimum=1)
    return max(1, budget_bytes // (BYTES_PER_LOGIT * vocab))


def _matmul_dtype(device_type: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype of the products: autocast's when autocast is on for this device type and
    ``dtype`` is one it casts (float32 or half precision), else ``dtype``."""
    if dtype != torch.float64 and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return dtype


def _logits(
    hm: torch.Tensor, wm: torch.Tensor, bm: torch.Tensor | None, cdt: torch.dtype
) -> torch.Tensor:
    """The chunk's logits ``hm @ wm.T + bm`` in the compute dtype ``cdt``. float16 products
    are formed with a float32 *output* (float16's range ends at 65504, where float32 logits
    would still fit): on CUDA by ``torch.mm(..., out_dtype=torch.float32)`` (float16 inputs,
    float32 accumulation and result), elsewhere by multiplying float32 copies. bfloat16 and
    float32/64 products keep their dtype (bfloat16 has float32's range)."""
    if hm.dtype == torch.float16:
        if hm.device.type == "cuda":
            z = torch.mm(hm, wm.t(), out_dtype=torch.float32)
        else:
            z = torch.mm(hm.float(), wm.float().t())
        return z if bm is None else z.add_(bm.float())
    return F.linear(hm, wm, bm).to(cdt)


def _shifted_logits(
    hm: torch.Tensor, wm: torch.Tensor, bm: torch.Tensor | None, lse: torch.Tensor, cdt: torch.dtype
) -> torch.Tensor:
    """``hm @ wm.T + bm - lse`` in the compute dtype. Without a bias and with the products in
    the compute dtype, the subtraction rides on the product (``addmm``'s input term)."""
    if bm is None and hm.dtype == cdt:
        return torch.addmm(-lse, hm, wm.t())
    return _logits(hm, wm, bm, cdt).sub_(lse)


def _logsumexp_(z: torch.Tensor) -> torch.Tensor:
    """Row-wise ``torch.logsumexp(z, 1)`` by its own formula (a row maximum of +-inf taken as
    0), but overwriting ``z`` with ``exp(z - max)`` instead of allocating that temporary:
    the forward pass then holds one ``chunk x V`` buffer, not two."""
    m = z.amax(dim=1, keepdim=True)
    m.masked_fill_(m.isinf(), 0.0)
    return z.sub_(m).exp_().sum(dim=1).log_().add_(m.squeeze(1))


def _rows(h: torch.Tensor, mask: torch.Tensor, s: int, e: int, mdt: torch.dtype) -> torch.Tensor:
    """Rows s:e of the hidden states in the matmul dtype, the unscored ones replaced by 0: a
    NaN or inf hidden state at a position that is never scored (e.g. padding) then cannot
    reach the logits, the log-sum-exp or any gradient (the logits path zeroes them too)."""
    return torch.where(mask[s:e, None], h[s:e], 0).to(mdt)


def _forward(
    ctx: Any,
    device_type: str,
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    mask: torch.Tensor,
    chunk_size: int,
    eps: float,
) -> torch.Tensor:
    """Forward of :class:`_LinearCrossEntropy` (see there)."""
    mdt = _matmul_dtype(device_type, h.dtype)
    cdt = _compute_dtype(mdt)
    wm = weight.to(mdt)
    bm = None if bias is None else bias.to(mdt)
    rows = h.shape[0]
    nll = torch.empty(rows, dtype=cdt, device=h.device)
    lse = torch.empty(rows, dtype=cdt, device=h.device)
    for s in range(0, rows, chunk_size):
        e = min(s + chunk_size, rows)
        z = _logits(_rows(h, mask, s, e, mdt), wm, bm, cdt)
        target = z.gather(1, targets[s:e, None]).squeeze(1)
        if eps:  # label smoothing: (1 - eps) z_y + eps mean_v z_v
            target = (1.0 - eps) * target + eps * z.mean(dim=1)
        lse[s:e] = _logsumexp_(z)  # z is overwritten: no chunk-size copy
        nll[s:e] = lse[s:e] - target
        del z
    ctx.save_for_backward(h, weight, bias, targets, mask, lse)
    ctx.chunk_size, ctx.eps = chunk_size, eps
    return nll


#: The gradients of :class:`_LinearCrossEntropy`'s inputs (h, weight, bias; None for the
#: others, and for an input that needs none).
_Grads: TypeAlias = tuple[
    torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None, None, None
]


def _backward(ctx: Any, device_type: str, grad_nll: torch.Tensor) -> _Grads:
    """Backward of :class:`_LinearCrossEntropy` (see there)."""
    h, weight, bias, targets, mask, lse = ctx.saved_tensors
    need_h, need_w, need_b = ctx.needs_input_grad[:3]
    mdt = _matmul_dtype(device_type, h.dtype)
    cdt, eps = lse.dtype, ctx.eps
    wm, rows, chunk = weight.to(mdt), h.shape[0], ctx.chunk_size
    bm = None if bias is None else bias.to(mdt)
    grad_h = torch.empty_like(h) if need_h else None
    grad_w = torch.zeros(weight.shape, dtype=cdt, device=weight.device) if need_w else None
    grad_b = (
        torch.zeros(bias.shape, dtype=cdt, device=bias.device)
        if need_b and bias is not None
        else None
    )
    g = grad_nll.to(cdt)[:, None]
    for s in range(0, rows, chunk):
        e = min(s + chunk, rows)
        hm = _rows(h, mask, s, e, mdt)
        p = _shifted_logits(hm, wm, bm, lse[s:e, None], cdt)  # z - lse
        p.exp_()  # softmax
        p.scatter_add_(
            1, targets[s:e, None], torch.full((e - s, 1), eps - 1.0, dtype=cdt, device=p.device)
        )
        if eps:  # d/dz of eps * (lse - mean z): eps (softmax - 1/V)
            p.sub_(eps / p.shape[1])
        # the upstream factor scales rows: applied to the (chunk x d) operands and results,
        # not to the (chunk x V) matrix (one pass over it fewer)
        pm = p.to(mdt)
        if grad_h is not None:
            grad_h[s:e] = (pm @ wm) * g[s:e].to(mdt)
        if grad_w is not None:
            if mdt == cdt:
                grad_w.addmm_(pm.t(), hm * g[s:e])
            else:  # half precision: multiply in it, accumulate in float32
                grad_w.add_(pm.t() @ (hm * g[s:e].to(mdt)))
        if grad_b is not None:
            grad_b.add_(p.t() @ g[s:e, 0])
        del p, pm
    if grad_w is not None:
        grad_w = grad_w.to(weight.dtype)
    if grad_b is not None:
        grad_b = grad_b.to(bias.dtype)
    return grad_h, grad_w, grad_b, None, None, None, None


def _make_linear_cross_entropy(device_type: str) -> type[torch.autograd.Function]:
    """The chunked autograd function for one device type (``torch.amp.custom_fwd`` binds its
    device type when the class is made)."""

    class _LinearCrossEntropy(torch.autograd.Function):
        r"""Token NLL of rows ``h`` (M, d) under ``softmax(h W^T + b)``, chunk by chunk.

        Forward keeps only the per-row log-sum-exp (M numbers). Backward recomputes each
        chunk's logits, turns them into ``softmax - onehot`` in place and accumulates

            grad_h = diag(g) P W,   grad_W += P^T diag(g) h,   grad_b += P^T g,

        so its peak extra memory is a few ``chunk x V`` buffers. Costs one more ``h W^T``
        product than autograd on the full logits (4 products instead of 3).

        Mixed precision (``custom_fwd``/``custom_bwd``: backward runs in forward's autocast
        state): the products run in autocast's dtype when autocast is on (bf16 hidden with an
        fp32 weight is the usual case), else in the inputs' dtype; log-sum-exp, softmax and
        the accumulation of grad_W and grad_b are float32 (float64 for float64 inputs); each
        gradient is returned in its input's dtype."""

        # forward's parameters repeat _forward's (after device_type): autograd.Function
        # passes apply()'s arguments positionally, and the body lives at module level so that
        # mypy and the tests see it once for both device types
        @staticmethod
        @torch.amp.custom_fwd(device_type=device_type)
        def forward(
            ctx: Any,
            h: torch.Tensor,
            weight: torch.Tensor,
            bias: torch.Tensor | None,
            targets: torch.Tensor,
            mask: torch.Tensor,
            chunk_size: int,
            eps: float,
        ) -> torch.Tensor:
            return _forward(ctx, device_type, h, weight, bias, targets, mask, chunk_size, eps)

        @staticmethod
        @torch.autograd.function.once_differentiable
        @torch.amp.custom_bwd(device_type=device_type)
        def backward(  # type: ignore[override]  # once_differentiable types ctx positional
            ctx: Any, grad_nll: torch.Tensor
        ) -> _Grads:
            return _backward(ctx, device_type, grad_nll)

    return _LinearCrossEntropy


_LINEAR_CROSS_ENTROPY: dict[str, type[torch.autograd.Function]] = {}


def _linear_cross_entropy(device_type: str) -> type[torch.autograd.Function]:
    if device_type not in _LINEAR_CROSS_ENTROPY:
        _LINEAR_CROSS_ENTROPY[device_type] = _make_linear_cross_entropy(device_type)
    return _LINEAR_CROSS_ENTROPY[device_type]


for _device_type in ("cpu", "cuda"):  # made at import: torch.compile then sees fixed classes
    _linear_cross_entropy(_device_type)


def _check_projection(hidden: Any, weight: Any, bias: Any) -> tuple[int, int, int, int]:
    """Shapes and dtypes of ``hidden``, ``weight``, ``bias``; returns (B, T, d, V)."""
    _check_tensor(hidden, "hidden", 3, floating=True)
    _check_tensor(weight, "weight", 2, floating=True)
    if bias is not None:
        _check_tensor(bias, "bias", 1, floating=True)
    batch, length, dim = hidden.shape
    if dim == 0:
        raise ValueError(
            f"hidden must have a last dimension d >= 1 (the model width), got shape "
            f"{tuple(hidden.shape)}"
        )
    vocab = weight.shape[0]
    if weight.shape[1] != dim or vocab == 0:
        raise ValueError(
            f"weight must have shape (vocab, d) with d = {dim} (the last dimension "
            f"of hidden) and vocab >= 1, got {tuple(weight.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (vocab,):
        raise ValueError(f"bias must have shape (vocab,) = ({vocab},), got {tuple(bias.shape)}")
    if not torch.is_autocast_enabled(hidden.device.type):
        for name, t in (("weight", weight), ("bias", bias)):
            if t is not None and t.dtype != hidden.dtype:
                raise TypeError(
                    f"{name} must have the dtype of hidden ({hidden.dtype}) "
                    f"outside autocast, got {t.dtype} (under torch.autocast "
                    f"mixed dtypes are cast to the autocast dtype)"
                )
    return batch, length, dim, vocab


# Overloads: as for per_sample_loss.
@overload
def per_sample_loss_from_hidden(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    bias: torch.Tensor | None = ...,
    ignore_index: int = ...,
    shift: bool = ...,
    chunk_size: int | None = ...,
    *,
    return_counts: Literal[False] = ...,
    check: bool = ...,
    label_smoothing: float = ...,
    position_ids: torch.Tensor | None = ...,
    document_ids: torch.Tensor | None = ...,
    max_documents: int | None = ...,
) -> torch.Tensor: ...


@overload
def per_sample_loss_from_hidden(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    bias: torch.Tensor | None = ...,
    ignore_index: int = ...,
    shift: bool = ...,
    chunk_size: int | None = ...,
    *,
    return_counts: Literal[True],
    check: bool = ...,
    label_smoothing: float = ...,
    position_ids: torch.Tensor | None = ...,
    document_ids: torch.Tensor | None = ...,
    max_documents: int | None = ...,
) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def per_sample_loss_from_hidden(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    bias: torch.Tensor | None = ...,
    ignore_index: int = ...,
    shift: bool = ...,
    chunk_size: int | None = ...,
    *,
    return_counts: bool,
    check: bool = ...,
    label_smoothing: float = ...,
    position_ids: torch.Tensor | None = ...,
    document_ids: torch.Tensor | None = ...,
    max_documents: int | None = ...,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def per_sample_loss_from_hidden(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    bias: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    shift: bool = True,
    chunk_size: int | None = None,
    *,
    return_counts: bool = False,
    check: bool = True,
    label_smoothing: float = 0.0,
    position_ids: torch.Tensor | None = None,
    document_ids: torch.Tensor | None = None,
    max_documents: int | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r""":func:`per_sample_loss` of the logits ``hidden @ weight.T + bias``, without ever
    materialising them.

    The hidden states are projected ``chunk_size`` tokens at a time; only each token's
    log-sum-exp is kept for the backward pass, which recomputes the chunk's logits (a custom
    autograd function). Memory beyond the inputs and gradients is a few ``chunk_size x V``
    buffers (:data:`CHUNK_BUDGET_BYTES` with the default chunk size) instead of several
    ``B x T x V`` tensors; the price is one more ``hidden x weight`` product in the backward
    pass. Every position is projected, scored or not: the shapes never depend on the
    padding, so ``torch.compile`` does not recompile when the padding changes (the ignored
    positions cost their share of compute and get zero gradient; their hidden states are
    replaced by 0 before the product, so a NaN there reaches no gradient).

    Parameters
    ----------
    hidden : float tensor ``(B, T, d)``, the final hidden states (after the final norm).
    weight : ``(V, d)`` output projection (``nn.Linear(d, V).weight``; for tied embeddings the
        embedding matrix). Outside autocast it must have the dtype of ``hidden``; under
        ``torch.autocast`` any float dtypes mix (e.g. bfloat16 hidden, float32 weight) and the
        products run in the autocast dtype, like ``F.linear`` would.
    labels : integer tensor ``(B, T)``, as for :func:`per_sample_loss`.
    bias : optional ``(V,)`` output bias.
    ignore_index, shift, return_counts, check, label_smoothing : as for :func:`per_sample_loss`.
    position_ids, document_ids, max_documents : as for :func:`per_sample_loss`.
    chunk_size : tokens per chunk (an integer >= 1); default :func:`default_chunk_size`.

    Returns the same losses as :func:`per_sample_loss` on the full logits (float32,
    float64 for float64 inputs; NaN for a sample without scored tokens), with gradients for
    ``hidden``, ``weight`` and ``bias`` in their own dtypes. Precision: log-sum-exp and
    softmax are float32 (float64 for float64 inputs); bfloat16 products give bfloat16
    logits, rounded to float32 before them (as the logits path under autocast); float16
    products give float32 logits (:func:`_logits`), so logits beyond float16's 65504 do not
    overflow. Double backward is not supported.
    """
    batch, length, dim, vocab = _check_projection(hidden, weight, bias)
    packing = (position_ids, document_ids, max_documents)
    shift, check, return_counts, ignore_index, eps = _check_call(
        check, shift, return_counts, ignore_index, label_smoothing, packing
    )
    chunk_size = (
        default_chunk_size(vocab)
        if chunk_size is None
        else check_int(chunk_size, "chunk_size", minimum=1)
    )
    if isinstance(labels, torch.Tensor):
        _same_device({"hidden": hidden, "weight": weight, "bias": bias, "labels": labels})
    targets, mask, bad, docs = _targets(
        labels, (batch, length, vocab), ignore_index, shift, "hidden", check, packing
    )
    fn = _linear_cross_entropy(hidden.device.type)
    flat_mask = mask.reshape(-1)
    safe = torch.where(flat_mask, targets, 0)  # ignored positions score token 0, unused
    token_nll = fn.apply(hidden.reshape(-1, dim), weight, bias, safe, flat_mask, chunk_size, eps)
    losses, counts, over = _per_sample_mean(token_nll, mask, docs)
    owner = "hidden, weight and bias" if bias is not None else "hidden and weight"
    where = (owner, ignore_index, vocab, shift, None if docs is None else docs.d)
    return _finish(losses, counts, bad, over, where, check, return_counts)
