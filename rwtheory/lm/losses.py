r"""Per-sample language-model losses (THEORY.md §1 item 5; paper App. A.1,
``get_batch_loss_from_logits``).

A sample's loss is the mean token negative log-likelihood over its *non-ignored* target
tokens. With ``shift=True`` (causal LM) the prediction at position t is scored against the
label at position t + 1, so the last position predicts nothing and the first label is never a
target -- the same convention as Hugging Face's ``ForCausalLMLoss``.

Two ways to get the same numbers:

* :func:`per_sample_loss` from the logits ``(B, T, V)`` the model already produced;
* :func:`per_sample_loss_from_hidden` from the final hidden states ``(B, T, d)`` and the output
  projection ``(V, d)``: the logits are computed ``chunk_size`` tokens at a time and recomputed
  in the backward pass, so the ``B x T x V`` logits (and their gradient) never exist at once.

**Samples without a target token.** A sample whose target tokens are all ``ignore_index``
(e.g. a row of padding) has no loss. Both functions return 0 for it (never NaN) and, with
``return_counts=True``, its token count 0; pass ``valid=counts > 0`` to
:func:`rwtheory.lm.reweighted_loss` (the :class:`~rwtheory.lm.SampleReweighter`, the Trainer
integration and the examples do) and it gets weight 0 and contributes nothing -- neither to
the loss, nor to the gradient, nor to the normalisation of the other samples' losses. A batch
in which *every* sample is fully ignored is an error. (Under data parallelism that error is
raised on the one rank whose local batch it is, while the others wait in the gather of
:func:`rwtheory.lm.reweighted_loss` until the process group's timeout: keep at least one
scored token per local batch.)
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from rwtheory._array import check_tensor, zero_gradient_rows

__all__ = ["IGNORE_INDEX", "default_chunk_size", "per_sample_loss", "per_sample_loss_from_hidden"]

#: The padding label ignored by default (PyTorch's and Hugging Face's convention).
IGNORE_INDEX = -100

#: Elements of one chunk of logits when ``chunk_size`` is left to :func:`default_chunk_size`
#: (2**24 float32 numbers = 64 MiB per chunk buffer).
CHUNK_ELEMENTS = 2**24


# ------------------------------------------------------------------------- validation
def _check_tensor(x, name: str, ndim: int, *, floating: bool):
    check_tensor(x, name, ndim, floating=floating)  # dense, strided, real: rwtheory._array


def _check_int(value, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _targets(labels, batch: int, length: int, vocab: int, ignore_index: int, shift: bool,
             owner: str):
    """Validate ``labels`` against a ``(batch, length, vocab)`` prediction tensor named
    ``owner`` and return the flat targets (position t scores ``targets[t]``), the mask of
    scored positions and the number of scored tokens per sample.

    With ``shift`` the labels are shifted left and padded with ``ignore_index`` (the last
    position predicts nothing), which keeps the predictions contiguous: no copy of them."""
    _check_tensor(labels, "labels", 2, floating=False)
    if tuple(labels.shape) != (batch, length):
        raise ValueError(f"labels must have shape (batch, length) = {(batch, length)} to match "
                         f"{owner}, got {tuple(labels.shape)}")
    if batch == 0:
        raise ValueError(f"{owner} must hold at least one sample, got batch size 0")
    if shift and length < 2:
        raise ValueError(f"with shift=True every sample needs at least 2 positions, got "
                         f"{owner} of length {length}")
    if not shift and length < 1:
        raise ValueError(f"{owner} must have at least 1 position, got length 0")
    labels = labels.long()
    if shift:
        labels = F.pad(labels[:, 1:], (0, 1), value=ignore_index)
    mask = labels != ignore_index
    bad = mask & ((labels < 0) | (labels >= vocab))
    if bool(bad.any()):
        b, t = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"labels must be token ids in [0, {vocab}) or ignore_index "
                         f"({ignore_index}), got {int(labels[b, t])} at sample {b}, position "
                         f"{t + 1 if shift else t}")
    counts = mask.sum(dim=1)
    if not bool(counts.any()):
        raise ValueError(f"labels: every target token of every sample equals ignore_index "
                         f"({ignore_index}); a batch needs at least one scored token"
                         + (" (with shift=True the first label of a sample is never a target)"
                            if shift else ""))
    return labels.reshape(-1), mask.reshape(-1), counts


def _same_device(tensors: dict[str, torch.Tensor | None]) -> None:
    devices = {name: t.device for name, t in tensors.items() if t is not None}
    if len(set(devices.values())) > 1:
        where = ", ".join(f"{name} on {d}" for name, d in devices.items())
        raise ValueError(f"all inputs must be on one device, got {where}")


def _per_sample_mean(token_nll, counts, batch: int, owner: str):
    """``(B*T,)`` per-position NLL (0 where not scored) -> ``(B,)`` means over scored tokens;
    0 for a sample with none. Non-finite results are reported, never returned."""
    sums = token_nll.view(batch, -1).sum(dim=1)
    losses = sums / counts.clamp(min=1).to(sums.dtype)
    finite = torch.isfinite(losses.detach())
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0, 0])
        raise ValueError(f"{owner} gave a non-finite loss ({float(losses[i].detach())}) for "
                         f"sample {i}: "
                         f"{owner} must hold finite values")
    return losses


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16/bfloat16 predictions are scored in float32; float32/64 in their own dtype."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# ------------------------------------------------------------------------- from logits
def per_sample_loss(logits, labels, ignore_index: int = IGNORE_INDEX, shift: bool = True, *,
                    return_counts: bool = False):
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
    labels : integer tensor ``(B, T)`` of token ids in ``[0, V)`` or ``ignore_index``.
    ignore_index : label value that is not scored (padding), default -100.
    shift : score position t against label t + 1 (causal LM). Needs T >= 2.
    return_counts : also return the number of scored tokens per sample (``(B,)`` int64).

    Returns
    -------
    ``(B,)`` losses (float32, or float64 for float64 logits) with the autograd history of
    ``logits``; 0 for a sample without scored tokens (see the module docstring: pass
    ``valid=counts > 0`` to the reweighting so that it gets no weight).
    With ``return_counts``: ``(losses, counts)``.

    Raises ``TypeError``/``ValueError`` naming the argument for a wrong type, dtype or shape,
    labels outside ``[0, V)``, a batch in which no token is scored, and non-finite logits
    (reported through the loss of the first affected sample).
    """
    _check_tensor(logits, "logits", 3, floating=True)
    ignore_index = _check_int(ignore_index, "ignore_index")
    if not isinstance(shift, bool):
        raise TypeError(f"shift must be a bool, got {shift!r}")
    batch, length, vocab = logits.shape
    if vocab == 0:
        raise ValueError("logits must have a vocabulary dimension >= 1, got shape "
                         f"{tuple(logits.shape)}")
    if isinstance(labels, torch.Tensor):
        _same_device({"logits": logits, "labels": labels})
    targets, mask, counts = _targets(labels, batch, length, vocab, ignore_index, shift, "logits")
    flat = logits.reshape(-1, vocab)
    cdt = _compute_dtype(logits.dtype)
    if flat.dtype != cdt:
        flat = flat.to(cdt)
    flat = zero_gradient_rows(flat, mask)  # ignored rows of -inf: gradient 0, not NaN
    token_nll = F.cross_entropy(flat, targets, ignore_index=ignore_index, reduction="none")
    losses = _per_sample_mean(token_nll, counts, batch, "logits")
    return (losses, counts) if return_counts else losses


# ------------------------------------------------------------------------- from hidden
def default_chunk_size(vocab: int) -> int:
    """Tokens per chunk so that one chunk of logits holds about :data:`CHUNK_ELEMENTS`
    numbers (512 tokens at V = 32768, 128 at V = 131072), at least 1."""
    vocab = _check_int(vocab, "vocab", minimum=1)
    return max(1, CHUNK_ELEMENTS // vocab)


def _chunk_logits(h, weight, bias, cdt):
    """Logits of one chunk of rows, in the compute dtype (float32 unless float64)."""
    z = F.linear(h, weight, bias)
    return z if z.dtype == cdt else z.to(cdt)


class _LinearCrossEntropy(torch.autograd.Function):
    r"""Token NLL of rows ``h`` (M, d) under ``softmax(h W^T + b)``, chunk by chunk.

    Forward keeps only the per-row log-sum-exp (M numbers). Backward recomputes each chunk's
    logits, turns them into ``g (softmax - onehot)`` in place, and accumulates

        grad_h = P W,   grad_W += P^T h,   grad_b += sum_rows P,

    so its peak extra memory is a few ``chunk x V`` buffers. Costs one more ``h W^T`` product
    than autograd on the full logits (4 products instead of 3)."""

    @staticmethod
    def forward(ctx, h, weight, bias, targets, chunk_size: int):
        cdt = _compute_dtype(h.dtype)
        rows = h.shape[0]
        nll = torch.empty(rows, dtype=cdt, device=h.device)
        lse = torch.empty(rows, dtype=cdt, device=h.device)
        for s in range(0, rows, chunk_size):
            e = min(s + chunk_size, rows)
            z = _chunk_logits(h[s:e], weight, bias, cdt)
            lse[s:e] = torch.logsumexp(z, dim=1)
            nll[s:e] = lse[s:e] - z.gather(1, targets[s:e, None]).squeeze(1)
            del z
        ctx.save_for_backward(h, weight, bias, targets, lse)
        ctx.chunk_size = chunk_size
        return nll

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_nll):
        h, weight, bias, targets, lse = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        cdt = lse.dtype
        rows, chunk = h.shape[0], ctx.chunk_size
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=cdt, device=weight.device) if need_w else None
        grad_b = (torch.zeros(bias.shape, dtype=cdt, device=bias.device)
                  if need_b and bias is not None else None)
        grad_nll = grad_nll.to(cdt)
        for s in range(0, rows, chunk):
            e = min(s + chunk, rows)
            p = _chunk_logits(h[s:e], weight, bias, cdt)
            p.sub_(lse[s:e, None]).exp_()                                  # softmax
            p[torch.arange(e - s, device=p.device), targets[s:e]] -= 1     # - onehot
            p.mul_(grad_nll[s:e, None])                                    # * upstream
            pw = p if p.dtype == weight.dtype else p.to(weight.dtype)
            if grad_h is not None:
                grad_h[s:e] = pw @ weight
            if grad_w is not None:
                if pw.dtype == cdt:
                    grad_w.addmm_(pw.t(), h[s:e])
                else:  # half precision: multiply in it, accumulate in float32
                    grad_w.add_((pw.t() @ h[s:e]).to(cdt))
            if grad_b is not None:
                grad_b.add_(p.sum(dim=0))
            del p, pw
        if grad_w is not None and grad_w.dtype != weight.dtype:
            grad_w = grad_w.to(weight.dtype)
        if grad_b is not None and grad_b.dtype != bias.dtype:
            grad_b = grad_b.to(bias.dtype)
        return grad_h, grad_w, grad_b, None, None


def per_sample_loss_from_hidden(hidden, weight, labels, bias=None,
                                ignore_index: int = IGNORE_INDEX, shift: bool = True,
                                chunk_size: int | None = None, *, return_counts: bool = False):
    r""":func:`per_sample_loss` of the logits ``hidden @ weight.T + bias``, without ever
    materialising them.

    The scored positions' hidden states are projected ``chunk_size`` tokens at a time; only
    each token's log-sum-exp is kept for the backward pass, which recomputes the chunk's
    logits (a custom autograd function). Memory beyond the inputs and gradients is a few
    ``chunk_size x V`` buffers instead of several ``B x T x V`` tensors; the price is one more
    ``hidden x weight`` product in the backward pass. Positions whose label is ignored are
    skipped entirely (no compute).

    Parameters
    ----------
    hidden : float tensor ``(B, T, d)``, the final hidden states (after the final norm).
    weight : ``(V, d)`` output projection (``nn.Linear(d, V).weight``; for tied embeddings the
        embedding matrix), same dtype and device as ``hidden``.
    labels : integer tensor ``(B, T)``, as for :func:`per_sample_loss`.
    bias : optional ``(V,)`` output bias, same dtype.
    ignore_index, shift, return_counts : as for :func:`per_sample_loss`.
    chunk_size : tokens per chunk (an integer >= 1); default :func:`default_chunk_size`.

    Returns the same ``(B,)`` losses as :func:`per_sample_loss` on the full logits (float32,
    float64 for float64 inputs; half-precision inputs are multiplied in their own dtype and
    scored in float32), with gradients for ``hidden``, ``weight`` and ``bias``. Double
    backward is not supported.
    """
    _check_tensor(hidden, "hidden", 3, floating=True)
    _check_tensor(weight, "weight", 2, floating=True)
    if bias is not None:
        _check_tensor(bias, "bias", 1, floating=True)
    ignore_index = _check_int(ignore_index, "ignore_index")
    if not isinstance(shift, bool):
        raise TypeError(f"shift must be a bool, got {shift!r}")
    batch, length, dim = hidden.shape
    vocab = weight.shape[0]
    if weight.shape[1] != dim or vocab == 0:
        raise ValueError(f"weight must have shape (vocab, d) with d = {dim} (the last dimension "
                         f"of hidden) and vocab >= 1, got {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (vocab,):
        raise ValueError(f"bias must have shape (vocab,) = ({vocab},), got {tuple(bias.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != hidden.dtype:
            raise TypeError(f"{name} must have the dtype of hidden ({hidden.dtype}), "
                            f"got {t.dtype}")
    chunk_size = default_chunk_size(vocab) if chunk_size is None else _check_int(
        chunk_size, "chunk_size", minimum=1)
    if isinstance(labels, torch.Tensor):
        _same_device({"hidden": hidden, "weight": weight, "bias": bias, "labels": labels})
    targets, mask, counts = _targets(labels, batch, length, vocab, ignore_index, shift, "hidden")
    rows = mask.nonzero().squeeze(1)
    flat = hidden.reshape(-1, dim)
    if rows.shape[0] == flat.shape[0]:  # nothing ignored: no gather
        h_rows, t_rows = flat, targets
    else:
        h_rows, t_rows = flat.index_select(0, rows), targets.index_select(0, rows)
    nll_rows = _LinearCrossEntropy.apply(h_rows, weight, bias, t_rows, chunk_size)
    if rows.shape[0] == flat.shape[0]:
        token_nll = nll_rows
    else:
        token_nll = nll_rows.new_zeros(flat.shape[0]).index_copy(0, rows, nll_rows)
    losses = _per_sample_mean(token_nll, counts, batch, "hidden")
    return (losses, counts) if return_counts else losses
