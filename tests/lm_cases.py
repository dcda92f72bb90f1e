"""Good and bad inputs for the LM path (``rwtheory.lm``), judged like the rest of the public
surface (``tests/surface_cases.py``: the same :class:`~surface_cases.Args`, the same
:func:`~surface_cases.judge` and outcomes).

Shared by ``tests/lm/test_lm_surface_properties.py`` (which asserts) and
``benchmarks/bad_input_surface.py`` (Part 4, which counts). The entry points
(:data:`SCENARIOS`): ``per_sample_loss`` and ``per_sample_loss_from_hidden`` (every argument,
the packing arguments included, float16/bfloat16/float32/float64, non-contiguous inputs,
masked vocabulary entries, padding), ``gather_losses`` (one process: ``group=None``),
``reweighted_loss`` (every strategy form: names, ``kl_capped(rho)``, user callables good and
bad), ``SampleReweighter`` (construction with every option, a few calls with counts, domain
ids, steps and the optimizer-step scoring pass, then its statistics, ``state_dict`` ->
``load_state_dict`` and ``repr``), a reweighter's call and ``score`` with one bad argument
(which must also leave the reweighter as it was), ``load_state_dict`` with damaged
checkpoints, ``kl_capped``, ``accumulate_gradients``, the packing helpers of
:mod:`rwtheory.lm.packing`, and ``ReweightStats`` / ``stats_from_dict``.

A good call is checked against a simple reference: per-sample (per-document) losses against
a cross entropy written out in float64 (log-sum-exp minus the target logit, smoothing as
``F.cross_entropy`` defines it, the mean over each sample's scored targets) and their
gradients against autograd through it; weights summing to 1 and equal to
:func:`rwtheory.sample_weights` (:func:`rwtheory.dro_kl_weights`,
:func:`rwtheory.kl_capped_weights`, a float64 softmax of a callable's scores) on the same
float32 losses; the reweighted loss against ``sum_i w_i s_i l_i`` with the token scale
``s`` written out; the statistics against the reference weights.

Value checks are the ``check=True`` contract: with ``check=False`` (the documented fast path,
which reads nothing back) only bad types, dtypes, shapes and scalars are drawn, never bad
values (out-of-range labels, non-finite logits or losses, negative counts), which that path
documents it does not read.

Everything here uses only the public API as it stood before the LM part of issue 22 (so that
the same module measures the tree before and after the change).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import strategies as st
from surface_cases import Args, Call, Named

import rwtheory as rw
from rwtheory.lm import (
    SampleReweighter,
    gather_losses,
    kl_capped,
    per_sample_loss,
    per_sample_loss_from_hidden,
    reweighted_loss,
)
from rwtheory.lm import packing as lm_packing
from rwtheory.lm.accumulation import accumulate_gradients
from rwtheory.lm.stats import RHO_BIN_EDGES, ReweightStats, stats_from_dict

FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
#: values that are not bools (``np.True_`` is one: the package's bool policy accepts it)
BAD_FLAGS = ["no", 1, 0, None, 0.0, torch.tensor(True), [True]]
GOOD_FLAGS = [True, False, True, False, np.True_, np.False_]
BAD_POSITIVE = [0.0, -1.0, math.inf, -math.inf, math.nan, "0.5", None, True, [1.0], 1 + 1j]
BAD_INTS = [2.5, "3", True, [2], math.nan]


def _tol(dtype) -> float:
    """Relative/absolute tolerance of a loss computed from inputs of ``dtype`` (float32
    arithmetic for the half precisions and float32; bfloat16 products are rounded to
    bfloat16, the dominant error there)."""
    return {
        torch.float64: 1e-9,
        torch.float32: 2e-5,
        torch.float16: 2e-4,
        torch.bfloat16: 3e-2,
    }[dtype]


def _gen(data, label="seed"):
    return torch.Generator().manual_seed(data.draw(st.integers(0, 2**31 - 1), label=label))


def _noncontiguous(x):
    """The same values, laid out with the first two axes swapped (a strided view)."""
    return x.transpose(0, 1).contiguous().transpose(0, 1)


# ------------------------------------------------------------------ the reference losses
def _starts(labels_shape, position_ids, document_ids):
    """Document starts ``(B, T)`` bool by the rules of :mod:`rwtheory.lm.packing`."""
    b, t = labels_shape
    new = torch.zeros(b, t, dtype=torch.bool)
    new[:, 0] = True
    for ids, rule in ((position_ids, "pos"), (document_ids, "doc")):
        if ids is None:
            continue
        ids = ids.long()
        for i in range(b):
            for j in range(1, t):
                if rule == "pos" and int(ids[i, j]) - int(ids[i, j - 1]) != 1:
                    new[i, j] = True
                if rule == "doc" and int(ids[i, j]) != int(ids[i, j - 1]):
                    new[i, j] = True
    return new


def scored_targets(labels, ignore_index, shift, position_ids=None, document_ids=None):
    """``[(row, position, target, slot)]``: every scored prediction (position ``t`` against
    label ``t + 1`` with ``shift``, never across a document boundary), its token and the
    index of its document in the row (0 for whole rows)."""
    b, t = labels.shape
    packed = position_ids is not None or document_ids is not None
    new = _starts((b, t), position_ids, document_ids)
    slot = new.long().cumsum(1) - 1
    out = []
    for i in range(b):
        for j in range(t):
            k = j + 1 if shift else j
            if k >= t or int(labels[i, k]) == ignore_index:
                continue
            if shift and packed and bool(new[i, k]):
                continue  # the first token of a document is no target of the one before
            out.append((i, j, int(labels[i, k]), int(slot[i, k]) if packed else 0))
    return out


def reference_losses(logits64, labels, ignore_index, shift, eps, packing=None):
    """Per-sample (or, with ``packing = (position_ids, document_ids, D)``, per-document
    ``(B * D,)``) mean token losses of the float64 ``logits64`` ``(B, T, V)`` -- differentiable
    -- and the counts. A scored token of a document beyond the D-th is left out (the
    caller checks that none is drawn for ``check=True``)."""
    b, t, v = logits64.shape
    pos, doc, d = packing if packing is not None else (None, None, 1)
    slots = d if packing is not None else 1
    sums = [[logits64.new_zeros(()) for _ in range(slots)] for _ in range(b)]
    counts = [[0] * slots for _ in range(b)]
    for i, j, y, s in scored_targets(labels, ignore_index, shift, pos, doc):
        if s >= slots:
            continue
        z = logits64[i, j]
        lse = torch.logsumexp(z, 0)
        tok = (1 - eps) * (lse - z[y]) + (eps * (lse - z.mean()) if eps else 0.0)
        sums[i][s] = sums[i][s] + tok
        counts[i][s] += 1
    flat = [
        sums[i][s] / counts[i][s] if counts[i][s] else logits64.new_full((), math.nan)
        for i in range(b)
        for s in range(slots)
    ]
    return torch.stack(flat), torch.tensor([c for row in counts for c in row])


def _same(got, want, tol) -> bool:
    got = got.detach().double()
    want = want.detach().double()
    if got.shape != want.shape or not torch.equal(torch.isnan(got), torch.isnan(want)):
        return False
    m = ~torch.isnan(want)
    return bool(torch.allclose(got[m], want[m], rtol=tol, atol=tol))


def _grad_close(got, want, tol) -> bool:
    if got is None or want is None:
        return got is None and want is None
    scale = 1.0 + float(want.abs().max()) if want.numel() else 1.0
    return bool(torch.isfinite(got).all()) and bool(
        torch.allclose(got.double(), want.double(), rtol=tol, atol=tol * scale)
    )


# ------------------------------------------------------------------ drawing an LM batch
@st.composite
def lm_shape(draw, shift=True):
    return (
        draw(st.integers(1, 3), label="B"),
        draw(st.integers(2 if shift else 1, 6), label="T"),
        draw(st.integers(2, 7), label="V"),
    )


def _labels(data, b, t, v, ignore_index, masked_vocab):
    g = _gen(data, "label seed")
    low = 1 if masked_vocab else 0
    labels = torch.randint(low, v, (b, t), generator=g)
    pad = data.draw(st.lists(st.booleans(), min_size=b * t, max_size=b * t), label="padding")
    labels[torch.tensor(pad).view(b, t)] = ignore_index
    kind = data.draw(st.sampled_from([torch.int64, torch.int64, torch.int32]), label="label dtype")
    return labels.to(kind) if ignore_index >= torch.iinfo(kind).min else labels


def _packing(data, b, t, mode):
    """``(position_ids, document_ids)`` of random documents per row, or ``(None, None)``."""
    if mode == "none":
        return None, None
    lengths = []
    for _ in range(b):
        row, left = [], t
        while left:
            n = data.draw(st.integers(1, left), label="document length")
            row.append(n)
            left -= n
        lengths.append(row)
    pos = torch.tensor([[k for n in row for k in range(n)] for row in lengths])
    doc = torch.tensor(
        [[d * 3 + 1 for d, n in enumerate(row) for _ in range(n)] for row in lengths]
    )
    if mode == "position_ids":
        return pos, None
    if mode == "document_ids":
        return None, doc
    return pos, doc


def _documents_needed(labels, ignore_index, shift, pos, doc) -> int:
    """The smallest max_documents that keeps every scored token (0: nothing scored)."""
    slots = [s for _, _, _, s in scored_targets(labels, ignore_index, shift, pos, doc)]
    return max(slots) + 1 if slots else 0


# ------------------------------------------------------------------ per_sample_loss
def _bad_logits(b, t, v, dtype):
    x = torch.randn(b, t, v).to(dtype)
    return [
        Named(x[0], ("logits",)),
        Named(x.long(), ("logits",)),
        Named(x.to(torch.complex64), ("logits",)),
        Named(x.float().numpy(), ("logits",)),
        Named(x.tolist(), ("logits",)),
        Named(None, ("logits",)),
        Named(x.float().to_sparse(), ("logits",)),
        Named(torch.empty(b, t, v, device="meta"), ("logits",)),
        Named(x[..., :0], ("logits",)),
        Named(x[:0], ("logits", "labels")),
    ]


def _poison_scored(x, where, value, per_token):
    """``x`` with ``value`` at the first scored prediction ``where = (row, position)``: at
    the target logit (``per_token``: the whole vocabulary row)."""
    x = x.clone()
    i, j, y = where
    if per_token:
        x[i, j] = value
    else:
        x[i, j, y] = value
    return x


def _loss_scalars(a, data):
    check = a("check", st.sampled_from(GOOD_FLAGS), st.sampled_from(BAD_FLAGS))
    shift = a("shift", st.sampled_from(GOOD_FLAGS), st.sampled_from(BAD_FLAGS))
    return_counts = a("return_counts", st.sampled_from(GOOD_FLAGS), st.sampled_from(BAD_FLAGS))
    eps = a(
        "label_smoothing",
        st.sampled_from([0.0, 0.0, 0.1, 1.0, np.float64(0.25), np.float32(0.5), 0]),
        st.sampled_from([-0.1, 1.5, math.nan, math.inf, "0.1", None, True, 2**70]),
    )
    ignore_index = a(
        "ignore_index",
        st.sampled_from([-100, -100, np.int64(-100), -1, 99]),
        st.sampled_from([2.5, "x", None, True, 2**70, -(2**63) - 1]),
    )
    return check, shift, return_counts, eps, ignore_index


def _as_bool(flag):
    return bool(flag) if isinstance(flag, (bool, np.bool_)) else flag


def _packing_args(a, data, b, t, labels, ignore_index, shift, check):
    """position_ids, document_ids and max_documents, good or (one of them) bad."""
    mode = data.draw(
        st.sampled_from(["none", "none", "position_ids", "document_ids", "both"]), label="packing"
    )
    pos, doc = _packing(data, b, t, mode)
    bad_ids = [
        Named(torch.zeros(b, t), None),
        Named(torch.zeros(b, t, dtype=torch.bool), None),
        Named(torch.zeros(b, t + 1, dtype=torch.long), None),
        Named([[0] * t] * b, None),
        Named(np.zeros((b, t), dtype=np.int64), None),
    ]

    def ids(name, good):
        bad = st.sampled_from([Named(n.value, (name,)) for n in bad_ids])
        return a(name, st.just(good), bad)

    pos = ids("position_ids", pos)
    doc = ids("document_ids", doc)
    packed = isinstance(pos, torch.Tensor) or isinstance(doc, torch.Tensor)
    good_pos = pos if isinstance(pos, torch.Tensor) and pos.shape == (b, t) else None
    good_doc = doc if isinstance(doc, torch.Tensor) and doc.shape == (b, t) else None
    need = _documents_needed(labels, ignore_index, _as_bool(shift), good_pos, good_doc)
    bad_d = [0, -1, *BAD_INTS]
    if packed and check is True and need >= 2:
        bad_d.append(need - 1)  # a scored document beyond max_documents
    if packed:
        bad_d += [t + 1, 10**12]  # more documents than a row of T positions holds
    good_d = [None] if not packed else [None, max(need, 1), t]
    if not packed:
        bad_d = [2, 1]  # max_documents without document boundaries
    max_documents = a(
        "max_documents", st.sampled_from(good_d), st.sampled_from(bad_d), words=("max_documents",)
    )
    return pos, doc, max_documents


def _is_on(flag) -> bool:
    """Whether a drawn ``check`` is a good True (value-bad inputs are drawn only then)."""
    return isinstance(flag, (bool, np.bool_)) and bool(flag)


def _good_flag(flag, default):
    return bool(flag) if isinstance(flag, (bool, np.bool_)) else default


def _good_int(value, default):
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    return int(value) if ok and -(2**63) <= int(value) < 2**63 else default


def _good_eps(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating)):
        return 0.0
    v = float(value)
    return v if 0.0 <= v <= 1.0 else 0.0


def _first_scored(labels, ii, shift, pos, doc, d):
    for i, j, y, s in scored_targets(labels, ii, shift, pos, doc):
        if d is None or s < d:
            return i, j, y
    return None


def _bad_labels(labels, v, ii, shift, where, check_on):
    b, t = labels.shape
    out = [
        labels.float(),
        labels.bool(),
        labels.tolist(),
        labels.numpy(),
        labels[:, :-1] if t > 1 else labels[:, :0],
        labels[..., None],
        labels[0],
    ]
    if check_on and where is not None:
        i, j, _ = where
        k = j + 1 if shift else j
        for value in (v + 3, -5 if ii != -5 else -6):
            bad = labels.clone()
            bad[i, k] = value
            out.append(bad)
    return [Named(x, ("labels",)) for x in out]


def _poisoned_padding(z, labels, ii, shift, pos, doc, data):
    """Logits rows that are never scored (padding, the last position with ``shift``) set to
    -inf or NaN: they must reach neither a loss nor a gradient."""
    fill = data.draw(st.sampled_from([None, None, -math.inf, math.nan]), label="padding logits")
    if fill is None:
        return z
    used = {(i, j) for i, j, _, _ in scored_targets(labels, ii, shift, pos, doc)}
    z = z.clone()
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            if (i, j) not in used:
                z[i, j] = fill
    return z


def _loss_check(dtype, return_counts, grad, ref_fn):
    """The check of a good loss call: tuple iff return_counts, the dtype, the losses and
    counts against :func:`reference_losses`, the gradients against autograd through it."""

    def check(res):
        out, grads, upstream = res
        if isinstance(out, tuple) != bool(return_counts):
            return False
        losses, counts = out if isinstance(out, tuple) else (out, None)
        want_dtype = torch.float64 if dtype == torch.float64 else torch.float32
        if losses.dtype != want_dtype or losses.requires_grad != grad:
            return False
        leaves, ref, ref_counts = ref_fn()
        if not _same(losses, ref, _tol(dtype)):
            return False
        if counts is not None and not torch.equal(counts, ref_counts):
            return False
        if grad:
            if ref.requires_grad:  # else no scored token at all: every gradient is 0
                torch.where(torch.isnan(ref), 0.0, ref).mul(upstream.double()).sum().backward()
            gtol = {torch.float16: 1e-2, torch.bfloat16: 5e-2}.get(dtype, 1e-4)
            want = [torch.zeros_like(x) if x.grad is None else x.grad for x in leaves]
            return all(_grad_close(g, w, gtol) for g, w in zip(grads, want, strict=True))
        return True

    return check


def _call_loss(fn, args, kwargs, leaves):
    """Call a loss function; with autograd leaves, a backward pass of a random upstream over
    the finite losses (where a deferred value check raises). Returns (output, the leaves'
    gradients, the upstream)."""
    leaves = [x.detach().clone().requires_grad_(True) for x in leaves]
    out = fn(*leaves, *args, **kwargs) if leaves else fn(*args, **kwargs)
    losses = out[0] if isinstance(out, tuple) else out
    upstream = torch.linspace(0.5, 1.5, max(losses.shape[0], 1))[: losses.shape[0]]
    if leaves:
        torch.where(torch.isnan(losses), 0.0, losses).mul(upstream).sum().backward()
    return out, [x.grad for x in leaves], upstream


def scenario_per_sample_loss(data) -> Call:
    """per_sample_loss(logits, labels, ignore_index, shift, return_counts=, check=,
    label_smoothing=, position_ids=, document_ids=, max_documents=)."""
    a = Args(data, 10)
    check, shift, return_counts, eps, ignore_index = _loss_scalars(a, data)
    sh, ii, e = _good_flag(shift, True), _good_int(ignore_index, -100), _good_eps(eps)
    b, t, v = data.draw(lm_shape(shift=sh), label="shape")
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype")
    masked_vocab = e == 0 and data.draw(st.booleans(), label="masked vocabulary")
    z = torch.randn(b, t, v, generator=_gen(data), dtype=torch.float64) * 2
    if masked_vocab:
        z[..., 0] = -math.inf  # never a target (labels from 1)
    labels = _labels(data, b, t, v, ii, masked_vocab)
    pos, doc, max_documents = _packing_args(a, data, b, t, labels, ii, sh, check)
    gp = pos if isinstance(pos, torch.Tensor) and pos.shape == (b, t) else None
    gd = doc if isinstance(doc, torch.Tensor) and doc.shape == (b, t) else None
    d = max_documents if isinstance(max_documents, int) and 1 <= max_documents <= t else None
    where = _first_scored(labels, ii, sh, gp, gd, d)
    z = _poisoned_padding(z, labels, ii, sh, gp, gd, data)
    bad_labels = _bad_labels(labels, v, ii, sh, where, _is_on(check))
    labels = a("labels", st.just(labels), st.sampled_from(bad_labels))
    z = z.to(dtype)
    if data.draw(st.booleans(), label="non-contiguous"):
        z = _noncontiguous(z)
    bad_z = _bad_logits(b, t, v, dtype)
    if _is_on(check) and where is not None:
        bad_z += [
            Named(_poison_scored(z, where, math.nan, False), ("logits",)),
            Named(_poison_scored(z, where, math.inf, False), ("logits",)),
            Named(_poison_scored(z, where, math.nan, True), ("logits",)),
        ]
    logits = a("logits", st.just(z), st.sampled_from(bad_z))
    grad = data.draw(st.booleans(), label="requires_grad") and isinstance(logits, torch.Tensor)
    grad = grad and logits.is_floating_point() and logits.layout == torch.strided
    grad = grad and logits.device.type == "cpu"
    kwargs = dict(
        return_counts=return_counts,
        check=check,
        label_smoothing=eps,
        position_ids=pos,
        document_ids=doc,
        max_documents=max_documents,
    )

    def run():
        if grad:
            return _call_loss(per_sample_loss, (labels, ignore_index, shift), kwargs, [logits])
        return _call_loss(per_sample_loss, (logits, labels, ignore_index, shift), kwargs, [])

    def ref():
        z64 = logits.detach().double().requires_grad_(grad)
        packed = (gp, gd, d or t) if (gp is not None or gd is not None) else None
        r, c = reference_losses(z64, labels, ii, sh, e, packed)
        return [z64], r, c

    return a.call("per_sample_loss", run, _loss_check(dtype, return_counts, grad, ref))


# ------------------------------------------------------------------ per_sample_loss_from_hidden
def _other_float(dtype):
    return torch.float64 if dtype != torch.float64 else torch.float32


def _bad_hidden(h, where, check_on):
    out = [
        h[0],
        h.long(),
        h.to(torch.complex64),
        h.float().numpy(),
        None,
        h.float().to_sparse(),
        torch.empty(h.shape, device="meta"),
        h[:0],
    ]
    if check_on and where is not None:
        i, j, _ = where
        for value in (math.nan, math.inf):
            bad = h.clone()
            bad[i, j, 0] = value
            out.append(bad)
    return [Named(x, ("hidden",)) for x in out]


def _bad_weight(w, where, check_on):
    v, d = w.shape
    out = [
        w[0],
        w[None],
        torch.cat([w, w[:, :1]], 1),
        w.to(_other_float(w.dtype)),
        w.long(),
        w.float().numpy(),
        None,
        w[:0],
    ]
    if check_on and where is not None:
        bad = w.clone()
        bad[where[2], 0] = math.nan
        out.append(bad)
    return [Named(x, ("weight",)) for x in out]


def _bad_bias(w, where, check_on):
    v = w.shape[0]
    zero = torch.zeros(v, dtype=w.dtype)
    out = [
        zero[None],
        torch.zeros(v + 1, dtype=w.dtype),
        zero.long(),
        zero.to(_other_float(w.dtype)),
        zero.float().numpy(),
        zero.tolist(),
    ]
    if check_on and where is not None:
        for value in (math.nan, math.inf):
            bad = zero.clone()
            bad[where[2]] = value
            out.append(bad)
    return [Named(x, ("bias",)) for x in out]


def scenario_per_sample_loss_from_hidden(data) -> Call:
    """per_sample_loss_from_hidden(hidden, weight, labels, bias, ignore_index, shift,
    chunk_size, return_counts=, check=, label_smoothing=, position_ids=, document_ids=,
    max_documents=)."""
    a = Args(data, 12)
    check, shift, return_counts, eps, ignore_index = _loss_scalars(a, data)
    sh, ii, e = _good_flag(shift, True), _good_int(ignore_index, -100), _good_eps(eps)
    b, t, v = data.draw(lm_shape(shift=sh), label="shape")
    dim = data.draw(st.integers(1, 4), label="d")
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype")
    g = _gen(data)
    h = torch.randn(b, t, dim, generator=g, dtype=torch.float64)
    w = torch.randn(v, dim, generator=g, dtype=torch.float64) * 0.7
    labels = _labels(data, b, t, v, ii, False)
    pos, doc, max_documents = _packing_args(a, data, b, t, labels, ii, sh, check)
    gp = pos if isinstance(pos, torch.Tensor) and pos.shape == (b, t) else None
    gd = doc if isinstance(doc, torch.Tensor) and doc.shape == (b, t) else None
    d = max_documents if isinstance(max_documents, int) and 1 <= max_documents <= t else None
    where = _first_scored(labels, ii, sh, gp, gd, d)
    h = _poisoned_padding(h[..., None], labels, ii, sh, gp, gd, data)[..., 0]
    labels = a(
        "labels",
        st.just(labels),
        st.sampled_from(_bad_labels(labels, v, ii, sh, where, _is_on(check))),
    )
    h, w = h.to(dtype), w.to(dtype)
    if data.draw(st.booleans(), label="non-contiguous"):
        h = _noncontiguous(h)
    hidden = a("hidden", st.just(h), st.sampled_from(_bad_hidden(h, where, _is_on(check))))
    if isinstance(hidden, torch.Tensor) and hidden.ndim == 3 and hidden.shape[-1] == 0:
        w = w[:, :0]  # d = 0 on both: the weight matches the hidden states
    weight = a("weight", st.just(w), st.sampled_from(_bad_weight(w, where, _is_on(check))))
    with_bias = data.draw(st.booleans(), label="bias?")
    bias0 = (torch.randn(v, generator=g, dtype=torch.float64) * 0.5).to(dtype)
    bias = a(
        "bias",
        st.just(bias0 if with_bias else None),
        st.sampled_from(_bad_bias(w, where, _is_on(check))),
    )
    chunk_size = a(
        "chunk_size",
        st.sampled_from([None, 1, 2, 3, b * t, b * t + 5, np.int64(2)]),
        st.sampled_from([0, -1, 2.5, "4", True, [2]]),
    )
    trainable = [
        n
        for n, x in (("hidden", hidden), ("weight", weight), ("bias", bias))
        if isinstance(x, torch.Tensor)
        and x.is_floating_point()
        and x.layout == torch.strided
        and x.device.type == "cpu"
        and data.draw(st.booleans(), label=f"{n} requires_grad")
    ]
    kwargs = dict(
        return_counts=return_counts,
        check=check,
        label_smoothing=eps,
        position_ids=pos,
        document_ids=doc,
        max_documents=max_documents,
    )
    values = {"hidden": hidden, "weight": weight, "bias": bias}

    def fn(*leaves):
        args = dict(values, **dict(zip(trainable, leaves, strict=True)))
        return per_sample_loss_from_hidden(
            args["hidden"],
            args["weight"],
            labels,
            args["bias"],
            ignore_index,
            shift,
            chunk_size,
            **kwargs,
        )

    def run():
        return _call_loss(fn, (), {}, [values[n] for n in trainable])

    def ref():
        leaves = {
            n: x.detach().double().requires_grad_(n in trainable)
            for n, x in values.items()
            if x is not None
        }
        used = torch.zeros(b, t, 1, dtype=torch.bool)
        for i, j, _, _ in scored_targets(labels, ii, sh, gp, gd):
            used[i, j] = True
        # never-scored positions projected as 0 (what the package does; their values
        # reach no loss and no gradient)
        z = torch.where(used, leaves["hidden"], 0.0) @ leaves["weight"].T
        if "bias" in leaves:
            z = z + leaves["bias"]
        packed = (gp, gd, d or t) if (gp is not None or gd is not None) else None
        r, c = reference_losses(z, labels, ii, sh, e, packed)
        return [leaves[n] for n in trainable], r, c

    return a.call(
        "per_sample_loss_from_hidden",
        run,
        _loss_check(dtype, return_counts, bool(trainable), ref),
    )


# ------------------------------------------------------------------ gather_losses
class NotAGroup:
    """An object that is no process group."""

    def __repr__(self):
        return "NotAGroup()"


BAD_GROUPS = ["world", 3, NotAGroup(), [None]]


def scenario_gather_losses(data) -> Call:
    """gather_losses(local, group, max_local) in one process (no process group)."""
    a = Args(data, 3)
    n = data.draw(st.integers(0, 6), label="n")
    shape = (n,) if data.draw(st.booleans(), label="1-D?") else (n, 3)
    kind = data.draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bfloat16]))
    x = torch.randn(shape, generator=_gen(data), dtype=torch.float64).to(kind)
    bad_local = [
        x.numpy() if kind != torch.bfloat16 else x.float().numpy(),
        x.tolist(),
        None,
        3.0,
        torch.tensor(1.0),
        x.double().to_sparse(),
        torch.empty(shape, device="meta"),
    ]
    local = a("local", st.just(x), st.sampled_from(bad_local))
    group = a("group", st.just(None), st.sampled_from(BAD_GROUPS))
    bad_max = [0, -1, 2.5, "4", True, [n]] + ([n - 1] if n >= 2 else [])
    max_local = a(
        "max_local",
        st.sampled_from([None, max(n, 1), n + 3, np.int64(max(n, 1))]),
        st.sampled_from(bad_max),
    )

    def run():
        return gather_losses(local, group, max_local)

    def check(res):
        out, start = res
        return (
            start == 0
            and isinstance(out, torch.Tensor)
            and not out.requires_grad
            and out.dtype == x.dtype
            and torch.equal(out, x)
        )

    return a.call("gather_losses", run, check)


# ------------------------------------------------------------------ strategies, weights
def score_identity(losses):
    """Good: the raw losses (the uncapped DRO-KL weights)."""
    return losses


def score_linupper(losses):
    """Good: the paper's linupper on the normalised losses, by hand."""
    return rw.weights.pipeline.linupper(rw.normalize_losses(losses))


def score_rank(losses):
    """Good: integer scores (1 above the median), cast to float by the package."""
    return (losses > losses.median()).long()


def score_wide(losses):
    """Good: finite float64 scores far beyond float32's range."""
    return losses.double() * 1e300


def score_nan(losses):
    return losses * math.nan


def score_inf(losses):
    return losses + math.inf


def score_short(losses):
    return losses[:-1]


def score_2d(losses):
    return losses[:, None]


def score_numpy(losses):
    return losses.numpy()


def score_list(losses):
    return losses.tolist()


def score_python(losses):
    return 0.5


def score_0d(losses):
    return losses.sum()


def score_complex(losses):
    return losses * (1 + 0j)


def score_bool(losses):
    return losses > losses.mean()


def score_none(losses):
    return None


GOOD_SCORES = [score_identity, score_linupper, score_rank, score_wide]
BAD_SCORES = [
    score_nan,
    score_inf,
    score_short,
    score_2d,
    score_numpy,
    score_list,
    score_python,
    score_0d,
    score_complex,
    score_bool,
    score_none,
]
GOOD_STRATEGIES = [
    *(n for n in rw.lm.LM_STRATEGIES),
    kl_capped(1.0),
    kl_capped(1.5),
    kl_capped(4.0),
    kl_capped(math.inf),
    kl_capped(np.float64(3.0)),
    *GOOD_SCORES,
]
BAD_STRATEGY_VALUES = ["nope", "", None, 3, 2.5, ["linupper"], "LinUpper"]


def strategies_arg(a: Args, name="strategy"):
    bad = st.one_of(
        st.sampled_from(BAD_STRATEGY_VALUES),
        st.sampled_from(BAD_SCORES).map(lambda f: Named(f, (f.__name__,))),
    )
    return a(name, st.sampled_from(GOOD_STRATEGIES), bad)


def temperature_arg(a: Args, name="temperature"):
    good = st.floats(0.05, 50.0).flatmap(
        lambda v: st.sampled_from([v, np.float64(v), np.float32(v), torch.tensor(v)])
    )
    return a(name, good, st.sampled_from(BAD_POSITIVE))


def _r(temperature) -> float:
    return float(temperature)


def reference_weights(x32, strategy, r):
    """The weights of the valid losses ``x32`` (float32 values, as float64 numpy) under a
    good ``strategy`` at temperature ``r``, in float64."""
    if isinstance(strategy, str) and strategy == "dro_kl":
        return rw.dro_kl_weights(x32, r)
    if isinstance(strategy, str) and strategy == "kl_capped":
        strategy = kl_capped(2.0)
    if isinstance(strategy, kl_capped):
        gaps = np.clip(rw.normalize_losses(x32) + 1.0, 0.0, None)
        return rw.kl_capped_weights(gaps, r, strategy.rho)
    if isinstance(strategy, str):
        return rw.sample_weights(x32, strategy, r)
    s = strategy(torch.from_numpy(x32.astype(np.float32)))
    s = s.double().numpy()
    e = np.exp((s - s.max()) / r)
    return e / e.sum()


def _weights_close(got, want, tol=1e-4) -> bool:
    got = np.asarray(got, dtype=np.float64)
    return (
        got.shape == want.shape
        and bool(np.all(np.isfinite(got)))
        and abs(got.sum() - 1.0) <= 1e-5
        and bool(np.allclose(got, want, rtol=tol, atol=1e-6))
    )


def _losses_values(data, b, *, nan_ok=True, all_nan=False):
    vals = data.draw(st.lists(st.floats(-2.0, 30.0), min_size=b, max_size=b), label="losses")
    x = torch.tensor(vals, dtype=torch.float64)
    if all_nan:
        return x * math.nan
    if nan_ok and b > 1:
        nan = data.draw(st.lists(st.booleans(), min_size=b, max_size=b), label="NaN losses")
        nan[data.draw(st.integers(0, b - 1), label="one valid")] = False
        x[torch.tensor(nan)] = math.nan
    return x


#: The dtypes a reweighter reads counts of (bad counts of other dtypes keep every sample).
INT_COUNT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _kept_index(x, valid=None, counts=None):
    """The first sample an infinite loss would be read at (None: no such sample): kept by
    ``valid``, or -- without it -- by ``counts > 0``; a NaN loss replaced by an infinity
    counts (it no longer marks "no scored token"). An infinity at a sample left out is no
    error (it weighs 0, like padding: :mod:`rwtheory.lm.reweight`, "Validity")."""

    def dense(t):
        return isinstance(t, torch.Tensor) and t.layout is torch.strided and t.shape == x.shape

    if dense(valid) and valid.dtype == torch.bool:
        kept = valid
    elif valid is None and dense(counts) and counts.dtype in INT_COUNT_DTYPES:
        kept = counts > 0
    else:
        kept = torch.ones(x.shape, dtype=torch.bool)
    where = kept.nonzero().flatten().tolist()
    return where[0] if where else None


def _bad_losses(x, check_on, name="per_sample_losses", empty_bad=True, at=0):
    """Bad per-sample losses for ``x``; with the checks on, infinities at sample ``at`` (one
    that counts: :func:`_kept_index`; None: no infinity is bad)."""
    b = x.shape[0]
    out = [
        x.float().numpy(),
        x.tolist(),
        None,
        x.long(),
        x.to(torch.complex64),
        x[None],
        x[0] if b else torch.tensor(1.0),
        x[:0],
        x.double().to_sparse(),
        torch.empty(b, device="meta"),
    ]
    if check_on:
        for v in (math.inf, -math.inf) if at is not None else ():
            bad = x.clone()
            bad[at] = v
            out.append(bad)
        if empty_bad:  # no valid sample (with empty_batch="raise")
            out.append(x * math.nan)
        out.append(torch.full((b,), 1e300, dtype=torch.float64))  # beyond float32
    return _named(name, out)


def _valid_arg(a: Args, data, x, allow_empty):
    """``valid``: None or a bool tensor keeping a sample with a finite loss (or not, when an
    empty global batch is allowed); bad: other dtypes, shapes, kinds."""
    b = x.shape[0]
    flags = data.draw(st.lists(st.booleans(), min_size=b, max_size=b), label="valid")
    finite = (~torch.isnan(x)).nonzero().flatten().tolist()
    if finite and not allow_empty:
        flags[finite[data.draw(st.integers(0, len(finite) - 1), label="kept")]] = True
    v = torch.tensor(flags, dtype=torch.bool)
    bad = [
        Named(v.long(), ("valid",)),
        Named(v.float(), ("valid",)),
        Named(v.tolist(), ("valid",)),
        Named(v.numpy(), ("valid",)),
        Named(torch.ones(b + 1, dtype=torch.bool), ("valid",)),
        Named(v.to_sparse(), ("valid",)),
    ]
    return a("valid", st.sampled_from([None, v]), st.sampled_from(bad))


def _max_local_arg(a: Args, name, b_max):
    bad = [0, -1, 2.5, "8", True, [b_max]] + ([b_max - 1] if b_max >= 2 else [])
    return a(
        name,
        st.sampled_from([None, None, b_max, b_max + 2, np.int64(b_max)]),
        st.sampled_from(bad),
        words=(name,),
    )


def _trainable(x) -> bool:
    """Whether ``x`` can be an autograd leaf (a dense floating CPU tensor)."""
    return (
        isinstance(x, torch.Tensor)
        and x.is_floating_point()
        and x.layout == torch.strided
        and x.device.type == "cpu"
    )


def _values32(x) -> np.ndarray:
    """The losses as the package weighs them: float32 values, as float64 numpy."""
    return x.detach().float().double().numpy()


def scenario_reweighted_loss(data) -> Call:
    """reweighted_loss(per_sample_losses, strategy, temperature, group, valid=, check=,
    empty_batch=, max_local_batch=)."""
    a = Args(data, 8)
    check = a("check", st.sampled_from(GOOD_FLAGS), st.sampled_from(BAD_FLAGS))
    empty_batch = a(
        "empty_batch",
        st.sampled_from(["raise", "raise", "skip"]),
        st.sampled_from(["ignore", None, 1, ["skip"], "Skip"]),
    )
    empty_ok = empty_batch == "skip" or not _is_on(check)
    strategy = strategies_arg(a)
    temperature = temperature_arg(a)
    group = a("group", st.just(None), st.sampled_from(BAD_GROUPS))
    b = data.draw(st.integers(1, 8), label="B")
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype")
    all_nan = empty_ok and data.draw(st.integers(0, 9), label="empty?") == 0
    x = _losses_values(data, b, all_nan=all_nan).to(dtype)
    valid = _valid_arg(a, data, x, empty_ok)
    bad_x = _bad_losses(x, _is_on(check), empty_bad=not empty_ok, at=_kept_index(x, valid))
    losses = a("per_sample_losses", st.just(x), st.sampled_from(bad_x))
    max_local_batch = _max_local_arg(a, "max_local_batch", b)
    grad = data.draw(st.booleans(), label="requires_grad") and _trainable(losses)

    def run():
        leaf = losses.detach().clone().requires_grad_(True) if grad else losses
        loss, w = reweighted_loss(
            leaf,
            strategy,
            temperature,
            group,
            valid=valid,
            check=check,
            empty_batch=empty_batch,
            max_local_batch=max_local_batch,
        )
        if grad and loss.requires_grad:
            loss.backward()
        return loss, w, leaf.grad if grad else None

    def check_(res):
        loss, w, g = res
        loss = loss.detach()
        m = ~torch.isnan(x) if valid is None else (~torch.isnan(x) & valid)
        if w.dtype != torch.float32 or w.shape != x.shape or w.requires_grad:
            return False
        if loss.dtype != torch.promote_types(x.dtype, torch.float32):
            return False
        if not bool(m.any()):
            return float(loss) == 0.0 and float(w.abs().sum()) == 0.0
        want = reference_weights(_values32(x[m]), strategy, _r(temperature))
        if not (_weights_close(w[m].numpy(), want) and bool((w[~m] == 0).all())):
            return False
        ref = float((torch.from_numpy(want) * x[m].double()).sum())
        scale = float((torch.from_numpy(want) * x[m].double().abs()).sum()) + 1e-6
        if abs(float(loss) - ref) > 1e-4 * scale:
            return False
        if grad:
            gtol = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-6
            want_g = torch.where(m, w, 0.0).double()
            return g is not None and bool(torch.allclose(g.double(), want_g, rtol=gtol, atol=gtol))
        return True

    return a.call("reweighted_loss", run, check_)


# ------------------------------------------------------------------ kl_capped
def scenario_kl_capped(data) -> Call:
    """kl_capped(rho)(losses, temperature): Proposition 1 on the normalised losses + 1."""
    a = Args(data, 3)
    rho = a(
        "rho",
        st.sampled_from([1.0, 1.5, 2.0, 4.0, math.inf, np.float64(3.0), 2, np.int64(3)]),
        st.sampled_from([0.5, 0.0, -1.0, math.nan, -math.inf, "2", None, True, [2.0], 1 + 1j]),
    )
    temperature = temperature_arg(a)
    b = data.draw(st.integers(1, 8), label="B")
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype")
    x = _losses_values(data, b, nan_ok=False).to(dtype)
    bad = [
        x.float().numpy(),
        x.tolist(),
        None,
        x.long(),
        x.to(torch.complex64),
        x[None],
        torch.tensor(1.0),
        x[:0],
        x.double().to_sparse(),
        torch.empty(b, device="meta"),
    ]
    for v in (math.nan, math.inf):
        y = x.clone()
        y[-1] = v
        bad.append(y)
    losses = a("losses", st.just(x), st.sampled_from(_named("losses", bad)))

    def run():
        return kl_capped(rho)(losses, temperature)

    def check(w):
        x64 = x.double().numpy()
        gaps = np.clip(rw.normalize_losses(x64) + 1.0, 0.0, None)
        want = rw.kl_capped_weights(gaps, _r(temperature), float(rho))
        cap = float(rho) / b * (1 + 1e-5) + 1e-7
        want_dtype = torch.float64 if dtype == torch.float64 else torch.float32
        return (
            isinstance(w, torch.Tensor)
            and w.dtype == want_dtype
            and _weights_close(w.numpy(), want, 1e-3)
            and float(w.max()) <= cap
        )

    return a.call("kl_capped", run, check)


# ------------------------------------------------------------------ SampleReweighter
def temp_decay(k):
    """Good schedule: 1 / (1 + k)."""
    return 1.0 / (1 + k)


def temp_nan(k):
    return math.nan


def temp_negative(k):
    return -1.0


def temp_str(k):
    return "0.5"


def temp_none(k):
    return None


def temp_raises(k):
    raise ZeroDivisionError("user schedule failed")


GOOD_SCHEDULES = [
    rw.constant_schedule(0.7),
    rw.warmup_schedule(0.4, 2),
    rw.linear_schedule(2.0, 0.5, 3),
    rw.cosine_schedule(1.0, 0.3, 4),
    temp_decay,
]
BAD_SCHEDULES = [temp_nan, temp_negative, temp_str, temp_none, temp_raises]


def schedule_arg(a: Args):
    good = st.one_of(
        st.floats(0.05, 20.0).flatmap(lambda v: st.sampled_from([v, np.float64(v)])),
        st.sampled_from(GOOD_SCHEDULES),
    )
    bad = st.one_of(
        st.sampled_from(_named("temperature", BAD_POSITIVE)),
        st.sampled_from(BAD_SCHEDULES).map(lambda f: Named(f, ("temperature", f.__name__))),
    )
    return a("temperature", good, bad)


def _temperature_at(temperature, k) -> float:
    return float(temperature(k)) if callable(temperature) else float(temperature)


def _config_args(a: Args, data):
    """Every constructor argument of SampleReweighter, good or (one of them) bad."""
    return dict(
        strategy=strategies_arg(a),
        temperature=schedule_arg(a),
        group=a("group", st.just(None), st.sampled_from(BAD_GROUPS)),
        weights_over=a(
            "weights_over",
            st.sampled_from(["micro_batch", "micro_batch", "optimizer_step"]),
            st.sampled_from(["step", None, 1, "Micro_batch", ["micro_batch"]]),
        ),
        check=a("check", st.sampled_from(GOOD_FLAGS), st.sampled_from(BAD_FLAGS)),
        burn_in_steps=a(
            "burn_in_steps",
            st.sampled_from([0, 0, 1, 3, np.int64(2)]),
            st.sampled_from([-1, 2.5, True, "2", None, [1]]),
        ),
        token_weighting=a(
            "token_weighting",
            st.sampled_from([None, None, "rank", "global"]),
            st.sampled_from(["tokens", 1, ["rank"], "Rank", True]),
        ),
        empty_batch=a(
            "empty_batch",
            st.sampled_from(["raise", "raise", "skip"]),
            st.sampled_from(["ignore", None, 1, ["skip"]]),
        ),
    )


def _draw_micro_batch(data, token_weighting, empty_ok, k):
    """One call's good inputs: losses (float16..float64), counts (with token weighting, or
    at random), valid (at random), domain ids (at random)."""
    b = data.draw(st.integers(1, 6), label=f"B{k}")
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label=f"dtype{k}")
    all_nan = empty_ok and data.draw(st.integers(0, 7), label=f"empty{k}") == 0
    x = _losses_values(data, b, all_nan=all_nan).to(dtype)
    counts = None
    if token_weighting is not None or data.draw(st.booleans(), label=f"counts{k}"):
        c = data.draw(st.lists(st.integers(1, 9), min_size=b, max_size=b), label=f"c{k}")
        counts = torch.tensor(c)
        counts[torch.isnan(x)] = 0  # no scored token: the NaN losses
        if data.draw(st.booleans(), label=f"int32 counts{k}"):
            counts = counts.int()
    domains = None
    if data.draw(st.booleans(), label=f"domains{k}"):
        domains = torch.tensor(data.draw(st.lists(st.integers(0, 2), min_size=b, max_size=b)))
    return dict(x=x, counts=counts, domains=domains)


def _valid_of(batch):
    x, counts = batch["x"], batch["counts"]
    valid = ~torch.isnan(x)
    return valid if counts is None else valid & (counts > 0)


def token_scale(mode, counts, valid):
    """The token scale of :class:`SampleReweighter` written out (float64): 1 without token
    weighting; ``"rank"``: ``c_i B / sum_valid c``; ``"global"``: ``n c_i / sum_valid c``."""
    if mode is None:
        return torch.ones(valid.shape, dtype=torch.float64)
    c = torch.where(valid, counts.long(), 0).double()
    total = max(float(c.sum()), 1.0)
    factor = counts.shape[0] if mode == "rank" else int(valid.sum())
    return c * (factor / total)


def expected_weights(strategy, r, burn, x, valid):
    """Reference weights (float64 numpy) of one global batch; 0 where not valid."""
    w = np.zeros(x.shape[0])
    if bool(valid.any()):
        n = int(valid.sum())
        w[valid.numpy()] = (
            np.full(n, 1.0 / n) if burn else reference_weights(_values32(x[valid]), strategy, r)
        )
    return w


def simulate(cfg, batches, steps):
    """The reference run of a fresh reweighter with configuration ``cfg`` over ``batches``
    (``steps``: each call's ``step=`` or None): per call (expected weights, expected loss),
    and the records ``(weights, losses, valid, counts, scale, domains)`` of the last
    optimizer step, its (step, temperature, burn-in) and the reweighter's final step."""
    burn_in, mode = int(cfg["burn_in_steps"]), cfg["token_weighting"]
    out = []
    if cfg["weights_over"] == "optimizer_step":
        x = torch.cat([bt["x"].double() for bt in batches])
        valid = torch.cat([_valid_of(bt) for bt in batches])
        counts = (
            None if batches[0]["counts"] is None else torch.cat([bt["counts"] for bt in batches])
        )
        r = _temperature_at(cfg["temperature"], 0)
        w = expected_weights(cfg["strategy"], r, 0 < burn_in, x, valid)
        scale = token_scale(mode, counts, valid)
        start = 0
        for bt in batches:
            end = start + bt["x"].shape[0]
            part = slice(start, end)
            m = valid[part]
            loss = float(
                (torch.from_numpy(w[part]) * scale[part] * torch.where(m, x[part], 0.0)).sum()
            )
            out.append((w[part], loss))
            start = end
        domains = None
        if all(bt["domains"] is not None for bt in batches):
            domains = torch.cat([bt["domains"] for bt in batches])
        return out, [(w, x, valid, counts, scale, domains)], (0, r, 0 < burn_in), 1
    group, key, now = [], None, 0
    for bt, s in zip(batches, steps, strict=True):
        k = now if s is None else s
        r = _temperature_at(cfg["temperature"], k)
        burn = k < burn_in
        valid = _valid_of(bt)
        x = bt["x"].double()
        w = expected_weights(cfg["strategy"], r, burn, x, valid)
        scale = token_scale(mode, bt["counts"], valid)
        loss = float((torch.from_numpy(w) * scale * torch.where(valid, x, 0.0)).sum())
        out.append((w, loss))
        record = (w, x, valid, bt["counts"], scale, bt["domains"])
        same = s is not None and key == (k, r, burn)
        group, key = ([*group, record] if same else [record]), (k, r, burn)
        now = k + 1
    return out, group, key, now


def _histogram(w_eff, valid, n):
    nw = n * w_eff
    out = []
    for lo, hi in zip(RHO_BIN_EDGES[:-1], RHO_BIN_EDGES[1:], strict=True):
        inside = ((nw > lo) | (lo == 0)) & (nw <= hi) & valid
        out.append(int(inside.sum()))
    return tuple(out)


def _close(a_, b_, rel=1e-5, abs_=1e-7) -> bool:
    if a_ is None or b_ is None:
        return a_ is None and b_ is None
    if math.isnan(a_) or math.isnan(b_):
        return math.isnan(a_) and math.isnan(b_)
    return math.isclose(a_, b_, rel_tol=rel, abs_tol=abs_)


def stats_match(stats, records, key, got):
    """The reweighter's statistics against the step's reference ``records`` (see
    :func:`simulate`) and the weights ``got`` that its calls returned."""
    k = len(records)
    valid = torch.cat([r[2] for r in records])
    n = int(valid.sum())
    w_eff = (torch.cat(got) / k).double()  # the effective weights, as the package forms them
    w_ref = np.concatenate([r[0] for r in records]) / k
    x32 = torch.cat([r[1].float().double() for r in records])
    scale = torch.cat([r[4] for r in records])
    if (stats.n, stats.micro_batches, stats.step, stats.burn_in) != (n, k, key[0], key[2]):
        return False
    skipped = sum(not bool(r[2].any()) for r in records)
    counts = [r[3] for r in records]
    token_mean = None
    if n and all(c is not None for c in counts):
        c = torch.where(valid, torch.cat(counts).long(), 0).double()
        token_mean = float((c * torch.where(valid, x32, 0.0)).sum() / c.sum())
    shares = None
    if all(r[5] is not None for r in records):
        d = torch.cat([r[5] for r in records])
        shares = {
            int(i): float(torch.where(valid & (d == i), w_eff, 0.0).sum()) for i in d.unique()
        }
    objective = float((torch.from_numpy(w_ref) * scale * torch.where(valid, x32, 0.0)).sum())
    xs = x32[valid]
    return (
        _close(stats.temperature, key[1], 1e-12)
        and stats.max_weight == float(w_eff.max())
        and _close(stats.rho, n * stats.max_weight, 1e-12)
        and _close(float(stats.max_weight), float(w_ref.max()), 1e-4, 1e-6)
        and _close(stats.entropy, float(-torch.xlogy(w_eff, w_eff).sum()), 1e-9, 1e-12)
        and stats.histogram == _histogram(w_eff, valid, n)
        and stats.skipped == skipped
        and _close(stats.loss_mean, float(xs.mean()) if n else math.nan, 1e-5, 1e-6)
        and _close(stats.loss_spread, float(xs.max() - xs.min()) if n else math.nan, 1e-5, 1e-5)
        and _close(stats.objective, objective, 1e-4, 1e-5 * (1 + float(xs.abs().sum())))
        and _close(stats.token_loss_mean, token_mean, 1e-5, 1e-6)
        and (stats.domain_share is None) == (shares is None)
        and (shares is None or _shares_close(stats.domain_share, shares))
    )


def _shares_close(got, want) -> bool:
    return set(got) == set(want) and all(_close(got[k], want[k], 1e-6, 1e-7) for k in want)


def _round_trip(rew, cfg):
    """``state_dict`` through ``torch.save``/``torch.load(weights_only=True)`` into a fresh
    reweighter of the same configuration: (fresh reweighter, the loaded state)."""
    import io

    buf = io.BytesIO()
    torch.save(rew.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    fresh = SampleReweighter(**cfg)
    fresh.load_state_dict(state)
    return fresh


def _same_stats(a_, b_) -> bool:
    if a_ is None or b_ is None:
        return a_ is None and b_ is None
    da, db = a_.as_dict(), b_.as_dict()
    return set(da) == set(db) and all(
        (isinstance(da[k], float) and isinstance(db[k], float) and _close(da[k], db[k], 0, 0))
        or da[k] == db[k]
        for k in da
    )


def _run_reweighter(rew, batches, steps):
    got = []
    if rew.weights_over == "optimizer_step":  # the scoring pass, then the training passes
        for bt in batches:
            rew.score(bt["x"], counts=bt["counts"])
    for bt, s in zip(batches, steps, strict=True):
        kw = {"step": s} if s is not None else {}
        got.append(rew(bt["x"], counts=bt["counts"], domain_ids=bt["domains"], **kw))
    return got


def _good(cfg_value, default):
    return cfg_value if isinstance(cfg_value, str) and cfg_value in default else default[0]


def _strategy_used(batches, steps, burn_in, over) -> bool:
    """Whether a reweighter's strategy is called at all on these calls: a step after the
    burn-in whose global batch has a valid sample."""
    if over == "optimizer_step":
        return 0 >= burn_in and any(bool(_valid_of(bt).any()) for bt in batches)
    now = 0
    for bt, s in zip(batches, steps, strict=True):
        k = now if s is None else int(s)
        if k >= burn_in and bool(_valid_of(bt).any()):
            return True
        now = k + 1
    return False


def scenario_reweighter(data) -> Call:
    """SampleReweighter(...) with every option, 1-3 calls (the optimizer-step mode: scored
    first), then its statistics, state_dict -> torch.save/load -> load_state_dict into a
    fresh reweighter, and repr."""
    a = Args(data, 10)
    cfg = _config_args(a, data)
    over = _good(cfg["weights_over"], ("micro_batch", "optimizer_step"))
    tw = cfg["token_weighting"] if cfg["token_weighting"] in ("rank", "global") else None
    empty_ok = cfg["empty_batch"] == "skip" or not _is_on(cfg["check"])
    k = data.draw(st.integers(1, 3), label="calls")
    batches = [_draw_micro_batch(data, tw, empty_ok and over == "micro_batch", i) for i in range(k)]
    if over == "optimizer_step" and any(bt["counts"] is None for bt in batches):
        for bt in batches:  # counts to every score() call of a step or to none (else an error)
            bt["counts"] = None
    if (
        over == "optimizer_step"
        and empty_ok
        and data.draw(st.integers(0, 5), label="empty step") == 0
    ):
        for bt in batches:  # a whole step without a scored token
            bt["x"] = bt["x"] * math.nan
            if bt["counts"] is not None:
                bt["counts"] = bt["counts"] * 0
    sizes = [bt["x"].shape[0] for bt in batches]
    cfg["max_local_batch"] = _max_local_arg(
        a, "max_local_batch", sum(sizes) if over == "optimizer_step" else max(sizes)
    )
    steps = [None] * k
    if over == "micro_batch" and data.draw(st.booleans(), label="explicit step"):
        steps = [data.draw(st.sampled_from([0, 2, 5, np.int64(3)]), label="step")] * k
    if "strategy" in a.bad and callable(cfg["strategy"]):
        burn = _good_int(cfg["burn_in_steps"], 0)
        if not _strategy_used(batches, steps, burn, over):
            del a.bad["strategy"]  # a bad callable never called (burn-in, empty batches)

    def run():
        rew = SampleReweighter(**cfg)
        got = _run_reweighter(rew, batches, steps)
        fresh = _round_trip(rew, cfg)
        return rew, got, fresh, repr(rew)

    def check(res):
        rew, got, fresh, text = res
        good = dict(cfg, weights_over=over, token_weighting=tw)
        if isinstance(good["strategy"], str) and good["strategy"] == "kl_capped":
            good["strategy"] = kl_capped(2.0)
        calls, records, key, final = simulate(good, batches, steps)
        for (loss, w), (w_ref, loss_ref), bt in zip(got, calls, batches, strict=True):
            loss, valid = float(loss.detach()), _valid_of(bt)
            if w.dtype != torch.float32 or bool((w[~valid] != 0).any()):
                return False
            if bool(valid.any()) and not bool(np.allclose(w.numpy(), w_ref, rtol=1e-4, atol=1e-6)):
                return False
            scale = 1e-5 * (1 + float(torch.nan_to_num(bt["x"].double()).abs().sum()))
            if not math.isfinite(loss) or abs(loss - loss_ref) > 1e-4 * abs(loss_ref) + scale:
                return False
        tail = (
            [w for _, w in got][-len(records) :] if over == "micro_batch" else [w for _, w in got]
        )
        return (
            rew.step == final
            and stats_match(rew.stats, records, key, tail)
            and fresh.step == rew.step
            and _same_stats(fresh.stats, rew.stats)
            and isinstance(text, str)
            and text.startswith("SampleReweighter(")
        )

    return a.call("SampleReweighter", run, check)


# ------------------------------------------------------------------ a call with a bad argument
class StateChanged(Exception):
    """A call that raised left the reweighter changed (counted as ``deep``)."""


def _snapshot(rew):
    stats = rew.stats
    try:
        rew.state_dict()
        between_steps = True
    except RuntimeError:
        between_steps = False
    return rew.step, None if stats is None else stats.as_dict(), between_steps


def _unchanged(rew, before, run):
    """``run()``; if it raises a ValueError/TypeError, the reweighter must be as it was."""
    try:
        return run()
    except (ValueError, TypeError) as exc:
        after = _snapshot(rew)
        if not _same_snapshot(after, before):
            raise StateChanged(
                f"a failing call changed the reweighter: {before} -> {after}"
            ) from exc
        raise


def _same_snapshot(x, y) -> bool:
    return (
        x[0] == y[0]
        and x[2] == y[2]
        and (
            (x[1] is None and y[1] is None)
            or (x[1] is not None and y[1] is not None and _same_dicts(x[1], y[1]))
        )
    )


def _same_dicts(x, y) -> bool:
    return set(x) == set(y) and all(
        (isinstance(x[k], float) and isinstance(y[k], float) and _close(x[k], y[k], 0, 0))
        or x[k] == y[k]
        for k in x
    )


def _bad_counts(c, check_on):
    b = c.shape[0]
    out = [c.float(), c.bool(), c.tolist(), c.numpy(), c[:-1] if b > 1 else c[:0], c[None]]
    out += [c.to_sparse(), c.to(torch.complex64)]
    if check_on:
        neg = c.clone()
        neg[-1] = -3
        out.append(neg)
    return _named("counts", out)


def _bad_domains(d):
    b = d.shape[0]
    out = [
        d.float(),
        d.to(torch.complex64),
        d.bool(),
        d.tolist(),
        torch.zeros(b + 1, dtype=torch.long),
    ]
    out += [d.to_sparse(), d[None]]
    return _named("domain_ids", out)


def scenario_reweighter_call(data) -> Call:
    """A reweighter after one good step, called (scored, for ``weights_over="optimizer_step"``)
    with one bad argument: per_sample_losses, counts, valid, domain_ids, step. A call that
    raises must leave the reweighter as it was."""
    a = Args(data, 5)
    over = data.draw(st.sampled_from(["micro_batch", "optimizer_step"]), label="weights_over")
    tw = data.draw(st.sampled_from([None, "rank", "global"]), label="token_weighting")
    check = data.draw(st.booleans(), label="check")
    b0, b1 = (_draw_micro_batch(data, tw, False, i) for i in range(2))
    c1 = b1["counts"] if b1["counts"] is not None else torch.ones(b1["x"].shape, dtype=torch.long)
    counts = a("counts", st.just(b1["counts"]), st.sampled_from(_bad_counts(c1, check)))
    valid = _valid_arg(a, data, b1["x"], False)
    at = _kept_index(b1["x"], valid, counts)
    x = a(
        "per_sample_losses", st.just(b1["x"]), st.sampled_from(_bad_losses(b1["x"], check, at=at))
    )
    d1 = torch.arange(b1["x"].shape[0]) % 2
    domain_ids = a("domain_ids", st.sampled_from([None, d1]), st.sampled_from(_bad_domains(d1)))
    step = a(
        "step",
        st.sampled_from([None, 1, 4, np.int64(2)]),
        st.sampled_from([-1, 2.5, "3", True, [1], math.nan]),
    )
    cfg = dict(strategy="linupper", temperature=0.5, weights_over=over, token_weighting=tw)
    cfg["check"] = check

    def run():
        rew = SampleReweighter(**cfg)
        if over == "optimizer_step":
            rew.score(b0["x"], counts=b0["counts"])
        rew(b0["x"], counts=b0["counts"])
        before = _snapshot(rew)
        if over == "optimizer_step":
            _unchanged(rew, before, lambda: rew.score(x, counts=counts, valid=valid))
            before = _snapshot(rew)
        kw = {} if step is None else {"step": step}
        return _unchanged(
            rew, before, lambda: rew(x, counts=counts, valid=valid, domain_ids=domain_ids, **kw)
        )

    def check_(res):
        loss, w = res
        v = ~torch.isnan(x)
        if counts is not None:
            v = v & (counts > 0)
        if valid is not None:
            v = v & valid
        want = expected_weights("linupper", 0.5, False, x.double(), v)
        scale = token_scale(tw, counts, v)
        ref = float((torch.from_numpy(want) * scale * torch.where(v, x.double(), 0.0)).sum())
        tol = 1e-4 * (1 + float(torch.nan_to_num(x.double()).abs().sum()))
        return (
            bool(np.allclose(w.numpy(), want, rtol=1e-4, atol=1e-6))
            and abs(float(loss.detach()) - ref) <= tol
        )

    return a.call(f"SampleReweighter({over}) call", run, check_)


# ------------------------------------------------------------------ checkpoints
def _checkpoint(data):
    """A real reweighter state (token weighting, domain ids at random) and its config."""
    cfg = dict(strategy="linupper", temperature=0.4, token_weighting="global")
    rew = SampleReweighter(**cfg)
    for i in range(data.draw(st.integers(1, 2), label="calls")):
        bt = _draw_micro_batch(data, "global", False, i)
        rew(bt["x"], counts=bt["counts"], domain_ids=bt["domains"], step=3)
    return cfg, rew.state_dict()


STAT_KEYS = [f for f in ReweightStats.__dataclass_fields__]


def _stats_damage(stats):
    """(edit, words, expected stats or None) for one damaged or re-typed stats field: bad
    edits name the key; good edits (numpy numbers, old checkpoints) load as the values."""
    out = []
    for key in STAT_KEYS:
        for bad in ("x", None, True, [1], math.nan, math.inf, -1, 10**6 + 0.5):
            if key == "domain_share" and bad is None:
                continue  # None: no domain ids (good)
            if key == "token_loss_mean" and bad is None:
                continue
            if key in ("loss_spread", "loss_mean", "objective") and bad is math.nan:
                continue  # NaN: an empty step (good)
            if key in ("loss_mean", "objective") and bad in (-1, 10**6 + 0.5):
                continue  # any finite number
            if (
                key in ("rho", "entropy", "temperature", "loss_spread", "token_loss_mean")
                and bad == 10**6 + 0.5
            ):
                continue  # a large positive number is in range (consistency aside)
            if key == "step" and bad == 10**6 + 0.5:
                continue
            out.append((key, bad))
    return out


BAD_STATE_EDITS = [
    ("not a dict", lambda s: [s], ("state",)),
    ("None", lambda s: None, ("state",)),
    ("extra key", lambda s: {**s, "extra": 1}, ("state", "extra")),
    ("no step", lambda s: {k: v for k, v in s.items() if k != "step"}, ("step",)),
    ("step -1", lambda s: {**s, "step": -1}, ("step",)),
    ("step 2.5", lambda s: {**s, "step": 2.5}, ("step",)),
    ("step True", lambda s: {**s, "step": True}, ("step",)),
    ("step str", lambda s: {**s, "step": "3"}, ("step",)),
    ("config str", lambda s: {**s, "config": "x"}, ("config",)),
    ("config list", lambda s: {**s, "config": []}, ("config",)),
    (
        "config strategy",
        lambda s: {**s, "config": {**s["config"], "strategy": "uniform"}},
        ("config",),
    ),
    ("config burn-in", lambda s: {**s, "config": {**s["config"], "burn_in_steps": 2}}, ("config",)),
    (
        "config schedule",
        lambda s: {**s, "config": {**s["config"], "schedule": {"type": "x"}}},
        ("config",),
    ),
    ("stats str", lambda s: {**s, "stats": "x"}, ("stats",)),
    ("stats list", lambda s: {**s, "stats": [1]}, ("stats",)),
    ("stats unknown key", lambda s: {**s, "stats": {**s["stats"], "color": 1}}, ("stats", "color")),
    (
        "stats missing rho",
        lambda s: {**s, "stats": {k: v for k, v in s["stats"].items() if k != "rho"}},
        ("rho",),
    ),
    (
        "rho != n max_weight",
        lambda s: {**s, "stats": {**s["stats"], "rho": s["stats"]["rho"] * 3 + 1}},
        ("rho", "max_weight"),
    ),
    (
        "histogram != n",
        lambda s: {**s, "stats": {**s["stats"], "histogram": [s["stats"]["n"] + 1] + [0] * 8}},
        ("histogram",),
    ),
    (
        "histogram length",
        lambda s: {**s, "stats": {**s["stats"], "histogram": [1, 2]}},
        ("histogram",),
    ),
    (
        "histogram bool",
        lambda s: {**s, "stats": {**s["stats"], "histogram": [True] + [0] * 8}},
        ("histogram",),
    ),
    (
        "skipped > micro_batches",
        lambda s: {**s, "stats": {**s["stats"], "skipped": s["stats"]["micro_batches"] + 1}},
        ("skipped", "micro_batches"),
    ),
    (
        "max_weight > 1",
        lambda s: {**s, "stats": {**s["stats"], "max_weight": 1.5, "rho": 1.5 * s["stats"]["n"]}},
        ("max_weight",),
    ),
    (
        "domain shares > 1",
        lambda s: {**s, "stats": {**s["stats"], "domain_share": {0: 0.8, 1: 0.7}}},
        ("domain_share",),
    ),
    (
        "domain share nan",
        lambda s: {**s, "stats": {**s["stats"], "domain_share": {0: math.nan}}},
        ("domain_share",),
    ),
    (
        "domain share bool key",
        lambda s: {**s, "stats": {**s["stats"], "domain_share": {True: 0.5}}},
        ("domain_share",),
    ),
    (
        "domain share list",
        lambda s: {**s, "stats": {**s["stats"], "domain_share": [0.5]}},
        ("domain_share",),
    ),
]


def _np_numbers(stats):
    """The stats with numpy scalars for Python numbers (as a checkpoint written through
    numpy may hold them)."""
    out = dict(stats)
    for k, v in stats.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            out[k] = np.int64(v)
        elif isinstance(v, float):
            out[k] = np.float64(v)
    return out


GOOD_STATE_EDITS = [
    ("unchanged", lambda s: s),
    ("step numpy", lambda s: {**s, "step": np.int64(s["step"])}),
    ("no stats", lambda s: {**s, "stats": None}),
    ("no config", lambda s: {**s, "config": None}),
    (
        "old stats",
        lambda s: {
            **s,
            "stats": {
                k: v
                for k, v in s["stats"].items()
                if k not in ("skipped", "objective", "token_loss_mean", "micro_batches")
            },
        },
    ),
    ("numpy numbers", lambda s: {**s, "stats": _np_numbers(s["stats"])}),
    (
        "histogram tuple",
        lambda s: {**s, "stats": {**s["stats"], "histogram": tuple(s["stats"]["histogram"])}},
    ),
]


def scenario_load_state_dict(data) -> Call:
    """SampleReweighter.load_state_dict of a real checkpoint, damaged (one key: a wrong type,
    a value out of range, statistics that contradict each other, another configuration) or
    re-typed (numpy numbers, older checkpoints)."""
    a = Args(data, 1)
    cfg, state = _checkpoint(data)
    field_edits = [
        (f"stats[{k!r}]={v!r}", (lambda s, k=k, v=v: {**s, "stats": {**s["stats"], k: v}}), (k,))
        for k, v in _stats_damage(state["stats"])
    ]
    bad = st.sampled_from(BAD_STATE_EDITS + field_edits).map(lambda e: Named(e, e[2]))
    label, edit = a("state", st.sampled_from(GOOD_STATE_EDITS), bad)[:2]
    damaged = edit(_copy_state(state))

    def run():
        fresh = SampleReweighter(**cfg)
        try:
            fresh.load_state_dict(damaged)
        except (ValueError, TypeError):
            if fresh.step != 0 or fresh.stats is not None:
                raise StateChanged("a failing load_state_dict changed the reweighter") from None
            raise
        return fresh

    def check(fresh):
        if fresh.step != int(state["step"]):
            return False
        if damaged.get("stats") is None:
            return fresh.stats is None
        got = fresh.stats.as_dict()
        defaults = {f.name: f.default for f in ReweightStats.__dataclass_fields__.values()}
        for k, v in got.items():
            want = state["stats"][k] if k in damaged["stats"] else defaults[k]
            if not _plain(v) or not _same_dicts({k: v}, {k: want}):
                return False
        return True

    return a.call(f"load_state_dict({label})", run, check)


def _plain(v) -> bool:
    """A value as a checkpoint stores it: Python scalars, tuples of ints, dicts, None."""
    if isinstance(v, tuple):
        return all(type(c) is int for c in v)
    if isinstance(v, dict):
        return all(type(k) is int and type(x) is float for k, x in v.items())
    return v is None or type(v) in (int, float, bool)


def _copy_state(state):
    import copy

    return copy.deepcopy(state)


# ------------------------------------------------------------------ accumulate_gradients
class TinyModel(torch.nn.Module):
    """Per-sample squared errors of a linear map: losses ``(B,)`` with autograd history."""

    def __init__(self):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.tensor([0.5, -1.0, 0.25], dtype=torch.float64))

    def losses(self, batch):
        X, y = batch
        return (X @ self.theta - y) ** 2


def _tiny_batches(data, k):
    g = _gen(data, "batch seed")
    out = []
    for _ in range(k):
        b = data.draw(st.integers(1, 4), label="micro-batch size")
        out.append(
            (
                torch.randn(b, 3, generator=g, dtype=torch.float64),
                torch.randn(b, generator=g, dtype=torch.float64),
            )
        )
    return out


class NoSync:
    """An object without ``no_sync``."""

    def __repr__(self):
        return "NoSync()"


def _loss_fns(model):
    def plain(batch):
        return model.losses(batch)

    def with_counts(batch):
        losses = model.losses(batch)
        return losses, torch.full(losses.shape, 2, dtype=torch.long)

    def returns_list(batch):
        return model.losses(batch).tolist()

    def returns_triple(batch):
        losses = model.losses(batch)
        return losses, torch.ones(losses.shape, dtype=torch.long), None

    def returns_detached(batch):
        return model.losses(batch).detach()

    def returns_numpy(batch):
        return model.losses(batch).detach().numpy()

    return [plain, with_counts], [returns_list, returns_triple, returns_detached, returns_numpy, 3]


def scenario_accumulate_gradients(data) -> Call:
    """accumulate_gradients(per_sample_losses, micro_batches, reweighter, ddp_model=) over a
    tiny model: the gradient against the weights of :func:`simulate` (every micro-batch on
    its own, or over the optimizer step), or one clean error that changes neither the
    reweighter nor the gradients."""
    a = Args(data, 4)
    model = TinyModel()
    good_fns, bad_fns = _loss_fns(model)
    over = data.draw(st.sampled_from(["micro_batch", "optimizer_step"]), label="weights_over")
    tw = data.draw(st.sampled_from([None, "rank", "global"]), label="token_weighting")
    if tw is not None:
        good_fns = good_fns[1:]  # token weighting needs the counts
    fn = a(
        "per_sample_losses",
        st.sampled_from(good_fns),
        st.sampled_from(bad_fns).map(
            lambda f: Named(f, ("per_sample_losses", getattr(f, "__name__", "per_sample_losses")))
        ),
    )
    k = data.draw(st.integers(1, 3), label="micro-batches")
    batches = _tiny_batches(data, k)
    micro = a(
        "micro_batches",
        st.sampled_from([batches, tuple(batches)]),
        st.sampled_from([[], 3, None]),
    )
    rew = SampleReweighter("linupper", 0.5, weights_over=over, token_weighting=tw)
    reweighter = a("reweighter", st.just(rew), st.sampled_from(["x", None, SampleReweighter]))
    ddp = a("ddp_model", st.just(None), st.sampled_from([3, "x", NoSync()]))

    def run():
        try:
            total = accumulate_gradients(fn, micro, reweighter, ddp_model=ddp)
        except (ValueError, TypeError):
            if rew.step != 0 or model.theta.grad is not None or not _snapshot(rew)[2]:
                raise StateChanged(
                    "a failing accumulate_gradients changed its reweighter"
                ) from None
            raise
        return total, model.theta.grad.clone()

    def check(res):
        total, grad = res
        counts = [torch.full((b[1].shape[0],), 2, dtype=torch.long) for b in batches]
        theta = model.theta.detach().clone().requires_grad_(True)
        losses = [(bx @ theta - by) ** 2 for bx, by in batches]
        with_counts = getattr(fn, "__name__", "") == "with_counts"
        cfg = dict(
            strategy="linupper",
            temperature=0.5,
            burn_in_steps=0,
            token_weighting=tw,
            weights_over=over,
        )
        bts = [
            dict(x=l.detach(), counts=c if with_counts else None, domains=None)
            for l, c in zip(losses, counts, strict=True)
        ]
        calls, _, _, _ = simulate(cfg, bts, [0] * k if over == "micro_batch" else [None] * k)
        ref = 0.0
        for (w, _), l, bt in zip(calls, losses, bts, strict=True):
            v = _valid_of(bt)
            term = (torch.from_numpy(w) * token_scale(tw, bt["counts"], v) * l).sum()
            ref = ref + (term / k if over == "micro_batch" else term)
        ref.backward()
        return (
            rew.step == 1
            and bool(torch.allclose(grad, theta.grad, rtol=1e-5, atol=1e-8))
            and math.isclose(float(total), float(ref.detach()), rel_tol=1e-5, abs_tol=1e-8)
        )

    return a.call(f"accumulate_gradients({over})", run, check)


# ------------------------------------------------------------------ the packing helpers
def _ref_slots(labels_shape, pos, doc):
    new = _starts(labels_shape, pos, doc)
    return new.long().cumsum(1) - 1, new


def _ref_target_slots(slots, new, shift):
    if not shift:
        return slots, torch.ones_like(new)
    b, t = slots.shape
    out_slots = torch.zeros_like(slots)
    inside = torch.zeros_like(new)
    for i in range(b):
        for j in range(t - 1):
            out_slots[i, j] = slots[i, j + 1]
            inside[i, j] = not bool(new[i, j + 1])
    return out_slots, inside


def _ref_packed_mean(nll, mask, slots, d):
    b, t = mask.shape
    sums = [[0.0] * d for _ in range(b)]
    counts = [[0] * d for _ in range(b)]
    over = torch.zeros(b, t, dtype=torch.bool)
    for i in range(b):
        for j in range(t):
            if not bool(mask[i, j]):
                continue
            s = int(slots[i, j])
            if 0 <= s < d:
                sums[i][s] += float(nll[i * t + j])
                counts[i][s] += 1
            else:
                over[i, j] = True
    means = [
        sums[i][s] / counts[i][s] if counts[i][s] else math.nan for i in range(b) for s in range(d)
    ]
    return (
        torch.tensor(means, dtype=torch.float64),
        torch.tensor([c for row in counts for c in row]),
        over,
    )


def _named(name, values) -> list:
    """``values`` as bad values of the argument ``name`` (the error must name it)."""
    return [Named(v, (name,)) for v in values]


def _bad_2d(x, name, *, integer):
    b, t = x.shape
    out = [
        x.float() if integer else x.long(),
        x.tolist(),
        x.numpy(),
        x[0],
        torch.zeros(b, t + 1, dtype=x.dtype),
    ]
    if integer:
        out.append(x.bool())
    return _named(name, out)


def scenario_packing(data) -> Call:
    """rwtheory.lm.packing: document_slots, target_slots and packed_mean called directly."""
    a = Args(data, 4)
    fn = data.draw(st.sampled_from(["document_slots", "target_slots", "packed_mean"]), label="fn")
    b, t = data.draw(st.integers(1, 3), label="B"), data.draw(st.integers(1, 6), label="T")
    mode = data.draw(st.sampled_from(["position_ids", "document_ids", "both"]), label="ids")
    pos, doc = _packing(data, b, t, mode)
    labels = torch.randint(0, 5, (b, t), generator=_gen(data))
    slots, new = _ref_slots((b, t), pos, doc)
    if fn == "document_slots":
        labels_ = a(
            "labels", st.just(labels), st.sampled_from(_bad_2d(labels, "labels", integer=True))
        )
        bad_ids = st.sampled_from(
            [None] * 0 + _bad_2d(torch.zeros(b, t, dtype=torch.long), "ids", integer=True)
        )
        pos_ = a(
            "position_ids", st.just(pos), bad_ids.map(lambda n: Named(n.value, ("position_ids",)))
        )
        doc_ = a(
            "document_ids", st.just(doc), bad_ids.map(lambda n: Named(n.value, ("document_ids",)))
        )
        if pos_ is None and doc_ is None:
            pos_ = pos  # one of them must be given
        if a("no ids", st.just(False), st.just(True), words=("position_ids", "document_ids")):
            pos_ = doc_ = None
        d = a(
            "max_documents",
            st.sampled_from([None, t, max(int(slots.max()) + 1, 1)]),
            st.sampled_from([0, -1, t + 1, 10**12, *BAD_INTS]),
        )

        def run():
            return lm_packing.document_slots(labels_, pos_, doc_, d)

        def check(res):
            s, n, dd = res
            return (
                torch.equal(s, slots) and torch.equal(n, new) and dd == (t if d is None else int(d))
            )

        return a.call("packing.document_slots", run, check)
    if fn == "target_slots":
        slots_ = a("slots", st.just(slots), st.sampled_from(_bad_2d(slots, "slots", integer=True)))
        new_ = a(
            "new",
            st.just(new),
            st.sampled_from(
                _named(
                    "new",
                    (
                        new.long(),
                        new.tolist(),
                        new.numpy(),
                        torch.ones(b, t + 1, dtype=torch.bool),
                    ),
                )
            ),
        )
        shift = a("shift", st.sampled_from(GOOD_FLAGS), st.sampled_from(BAD_FLAGS))

        def run():
            return lm_packing.target_slots(slots_, new_, shift)

        def check(res):
            s, inside = res
            ws, wi = _ref_target_slots(slots, new, bool(shift))
            return (
                torch.equal(s, ws)
                and torch.equal(inside.bool(), wi.bool())
                and inside.dtype == torch.bool
            )

        return a.call("packing.target_slots", run, check)
    g = _gen(data, "nll seed")
    nll = torch.rand(b * t, generator=g, dtype=torch.float64).to(
        data.draw(st.sampled_from([torch.float32, torch.float64]))
    )
    mask = torch.rand(b, t, generator=g) > 0.3
    nll = torch.where(mask.reshape(-1), nll, math.nan)  # never-scored positions may hold NaN
    s0 = slots.clone()
    if data.draw(st.booleans(), label="negative slot"):
        s0[0, -1] = -1  # documented: an out-of-range slot is dropped and flagged
    nll_ = a(
        "token_nll",
        st.just(nll),
        st.sampled_from(
            _named("token_nll", (nll.long(), nll.view(b, t), nll[:-1], nll.tolist(), nll.numpy()))
        ),
    )
    mask_ = a(
        "mask",
        st.just(mask),
        st.sampled_from(
            _named(
                "mask",
                (
                    mask.long(),
                    mask.float(),
                    mask.tolist(),
                    mask[0],
                    torch.ones(b, t + 1, dtype=torch.bool),
                ),
            )
        ),
    )
    slots_ = a("slots", st.just(s0), st.sampled_from(_bad_2d(s0, "slots", integer=True)))
    d = a(
        "d",
        st.sampled_from([1, t, max(int(slots.max()) + 1, 1), np.int64(t)]),
        st.sampled_from([0, -1, t + 1, 10**12, *BAD_INTS]),
    )

    def run():
        return lm_packing.packed_mean(nll_, mask_, slots_, d)

    def check(res):
        means, counts, over = res
        wm, wc, wo = _ref_packed_mean(nll.double(), mask, s0, int(d))
        return _same(means, wm, 1e-6) and torch.equal(counts, wc) and torch.equal(over, wo)

    return a.call("packing.packed_mean", run, check)


# ------------------------------------------------------------------ ReweightStats
def _real_stats(data):
    cfg, state = _checkpoint(data)
    return state["stats"]


BAD_STATS_FIELDS = {
    "step": [-1, 2.5, "3", None, True],
    "temperature": [0.0, -1.0, math.nan, math.inf, "1", None, True],
    "n": [-1, 2.5, "3", None, True],
    "max_weight": ["x", None, True, -0.5],
    "rho": ["x", None, True, -1.0],
    "entropy": ["x", None, True],
    "loss_spread": ["x", None, True, -1.0],
    "loss_mean": ["x", None, True],
    "burn_in": ["no", 1, None],
    "histogram": [[1, 2], "x", [True] + [0] * 8, [-1] + [0] * 8, None],
    "domain_share": ["x", [0.5], {True: 0.5}, {"a": 0.5}, {0: "x"}],
    "micro_batches": [0, -1, 2.5, None, True],
    "skipped": [-1, 2.5, None, True],
    "objective": ["x", None, True],
    "token_loss_mean": ["x", True, [1.0]],
}


def scenario_stats(data) -> Call:
    """ReweightStats(...) built by hand (one field of a real step's statistics changed),
    its as_dict / log_dict(prefix), and stats_from_dict(stored, where)."""
    a = Args(data, 3)
    base = _real_stats(data)
    fn = data.draw(st.sampled_from(["ReweightStats", "stats_from_dict"]), label="fn")
    key = data.draw(st.sampled_from(sorted(BAD_STATS_FIELDS)), label="field")
    nan_fields = ["max_weight", "rho", "entropy", "loss_spread", "loss_mean", "objective"]
    good_values = [base[key]]
    if fn == "ReweightStats" and key in nan_fields:
        good_values.append(math.nan)  # a statistic of a step with NaN weights (check=False)
    if key == "histogram":
        good_values.append(tuple(base[key]))
    value = a(key, st.sampled_from(good_values), st.sampled_from(BAD_STATS_FIELDS[key]))
    prefix = a("prefix", st.sampled_from(["rw_", "", "train/"]), st.sampled_from([3, None, b"rw"]))
    where = a(
        "where", st.sampled_from(["state['stats']", "stats"]), st.sampled_from([3, None, ["x"]])
    )
    fields = dict(base, **{key: value})
    if key == "skipped" and not isinstance(value, bool) and isinstance(value, int):
        fields["micro_batches"] = max(base["micro_batches"], value)

    def run():
        stats = ReweightStats(**fields) if fn == "ReweightStats" else stats_from_dict(fields, where)
        return stats, stats.as_dict(), stats.log_dict(prefix)

    def check(res):
        stats, d, logged = res
        want = dict(fields, histogram=tuple(fields["histogram"]))
        return (
            _same_dicts(d, want)
            and all(isinstance(k, str) and k.startswith(prefix) for k in logged)
            and all(type(v) is float for v in logged.values())
            and _close(logged[f"{prefix}rho"], float(stats.rho), 0, 0)
        )

    if fn == "ReweightStats":
        a.bad.pop("where", None)  # not an argument of the constructor
    return a.call(fn, run, check)


SCENARIOS = {
    "per_sample_loss": scenario_per_sample_loss,
    "per_sample_loss_from_hidden": scenario_per_sample_loss_from_hidden,
    "gather_losses": scenario_gather_losses,
    "reweighted_loss": scenario_reweighted_loss,
    "kl_capped": scenario_kl_capped,
    "SampleReweighter": scenario_reweighter,
    "SampleReweighter call/score": scenario_reweighter_call,
    "load_state_dict": scenario_load_state_dict,
    "accumulate_gradients": scenario_accumulate_gradients,
    "packing helpers": scenario_packing,
    "ReweightStats/stats_from_dict": scenario_stats,
}
