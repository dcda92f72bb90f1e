"""Per-sample LM losses: against a hand computation and F.cross_entropy, the chunked path's
values and gradients against the naive path, what it keeps for backward, and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from rwtheory.lm import per_sample_loss, per_sample_loss_from_hidden
from rwtheory.lm.losses import default_chunk_size


def _hand_loss(logits, labels, ignore_index=-100, shift=True):
    """Loop over samples and tokens in float64: mean -log softmax(target) over scored tokens."""
    out = []
    for b in range(logits.shape[0]):
        total, count = 0.0, 0
        for t in range(logits.shape[1] - (1 if shift else 0)):
            y = int(labels[b, t + 1] if shift else labels[b, t])
            if y == ignore_index:
                continue
            z = logits[b, t].double()
            total += float(torch.logsumexp(z, 0) - z[y])
            count += 1
        out.append(total / count if count else 0.0)
    return torch.tensor(out, dtype=torch.float64)


def _batch(b=4, t=9, v=13, seed=0, pad=True, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, v, generator=g, dtype=dtype) * 3
    labels = torch.randint(0, v, (b, t), generator=g)
    if pad:
        labels[1, 5:] = -100  # right padding
        labels[2, :3] = -100  # left padding
        labels[3, ::2] = -100  # holes
    return logits, labels


@pytest.mark.parametrize("shift", [True, False])
@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_equals_hand_computation(shift, ignore_index):
    logits, labels = _batch(dtype=torch.float64)
    if ignore_index == 0:
        labels = labels.clamp(min=0)  # now 0 is the padding label
    got, counts = per_sample_loss(logits, labels, ignore_index, shift, return_counts=True)
    want = _hand_loss(logits, labels, ignore_index, shift)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    targets = labels[:, 1:] if shift else labels
    assert counts.tolist() == (targets != ignore_index).sum(1).tolist()


def test_equal_lengths_match_cross_entropy_mean():
    logits, labels = _batch(b=5, t=11, v=17, pad=False)
    got = per_sample_loss(logits, labels)
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, 17), labels[:, 1:].reshape(-1))
    assert abs(float(got.mean()) - float(ref)) < 1e-6
    # also with padding that leaves every sample the same number of scored tokens
    labels[:, 4] = -100
    labels[torch.arange(5), 6 + torch.arange(5) % 3] = -100
    got = per_sample_loss(logits, labels)
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, 17), labels[:, 1:].reshape(-1))
    assert abs(float(got.mean()) - float(ref)) < 1e-6


def test_token_mean_weighted_by_counts_matches_cross_entropy_with_padding():
    logits, labels = _batch()
    losses, counts = per_sample_loss(logits, labels, return_counts=True)
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, 13), labels[:, 1:].reshape(-1))
    assert abs(float((losses * counts).sum() / counts.sum()) - float(ref)) < 1e-6


def test_fully_ignored_sample_is_zero_and_gets_no_gradient():
    logits, labels = _batch()
    labels[0, 1:] = -100  # only position 0, never a target with shift
    logits.requires_grad_(True)
    losses, counts = per_sample_loss(logits, labels, return_counts=True)
    assert counts[0] == 0 and torch.isnan(losses[0]) and torch.isfinite(losses[1:]).all()
    torch.where(counts > 0, losses, 0.0).sum().backward()  # what the reweighting does
    assert torch.isfinite(logits.grad).all()
    assert torch.count_nonzero(logits.grad[0]) == 0
    assert torch.count_nonzero(logits.grad[1]) > 0
    # the other samples are unchanged by it
    torch.testing.assert_close(losses[1:], per_sample_loss(logits[1:], labels[1:]))


def test_gradient_of_weighted_sum_matches_hand_formula():
    # d/dz of sum_b g_b l_b at a scored position = g_b (softmax - onehot) / count_b
    logits, labels = _batch(dtype=torch.float64)
    logits.requires_grad_(True)
    g = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=torch.float64)
    losses, counts = per_sample_loss(logits, labels, return_counts=True)
    (losses * g).sum().backward()
    want = torch.zeros_like(logits)
    for b in range(4):
        for t in range(8):
            y = int(labels[b, t + 1])
            if y != -100:
                p = torch.softmax(logits[b, t].detach(), 0)
                p[y] -= 1
                want[b, t] = g[b] * p / counts[b]
    torch.testing.assert_close(logits.grad, want, rtol=1e-12, atol=1e-12)


def test_half_precision_logits_are_scored_in_float32():
    logits, labels = _batch()
    half = logits.to(torch.bfloat16)
    got = per_sample_loss(half, labels)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, per_sample_loss(half.float(), labels), rtol=0, atol=0)


# ----------------------------------------------------------------- the chunked path
def _hidden_case(b=3, t=10, d=6, v=23, seed=1, dtype=torch.float32, bias=True):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, t, d, generator=g, dtype=dtype, requires_grad=True)
    weight = torch.randn(v, d, generator=g, dtype=dtype, requires_grad=True)
    bias_ = torch.randn(v, generator=g, dtype=dtype, requires_grad=True) if bias else None
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[1, 6:] = -100
    labels[2, :2] = -100
    return hidden, weight, bias_, labels


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 1000, None])
@pytest.mark.parametrize("shift", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_chunked_equals_naive_values_and_gradients(chunk_size, shift, bias):
    hidden, weight, bias_, labels = _hidden_case(bias=bias)
    params = [p for p in (hidden, weight, bias_) if p is not None]
    g = torch.tensor([1.0, -0.5, 2.0])
    naive = per_sample_loss(F.linear(hidden, weight, bias_), labels, shift=shift)
    want = torch.autograd.grad((naive * g).sum(), params)
    chunked = per_sample_loss_from_hidden(
        hidden, weight, labels, bias_, shift=shift, chunk_size=chunk_size
    )
    got = torch.autograd.grad((chunked * g).sum(), params)
    torch.testing.assert_close(chunked, naive, rtol=0, atol=1e-5)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert float((a - b).abs().max()) <= 1e-5


def test_chunked_gradcheck_float64():
    hidden, weight, bias, labels = _hidden_case(b=3, t=7, d=3, v=7, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda h, w, c: per_sample_loss_from_hidden(h, w, labels, c, chunk_size=3),
        (hidden, weight, bias),
    )


def test_chunked_frozen_projection_and_fully_ignored_sample():
    hidden, weight, _, labels = _hidden_case(bias=False)
    weight.requires_grad_(False)
    labels[0, 1:] = -100
    losses, counts = per_sample_loss_from_hidden(
        hidden, weight, labels, chunk_size=5, return_counts=True
    )
    assert counts[0] == 0 and torch.isnan(losses[0])
    losses.nansum().backward()
    assert weight.grad is None
    assert torch.count_nonzero(hidden.grad[0]) == 0
    naive = per_sample_loss(F.linear(hidden.detach(), weight), labels)
    torch.testing.assert_close(losses.detach(), naive, rtol=0, atol=1e-6, equal_nan=True)


def test_chunked_bfloat16_close_to_float32():
    hidden, weight, bias, labels = _hidden_case(d=16, v=50)
    hb, wb, bb = (x.detach().to(torch.bfloat16).requires_grad_() for x in (hidden, weight, bias))
    got = per_sample_loss_from_hidden(hb, wb, labels, bb, chunk_size=4)
    ref = per_sample_loss(F.linear(hb, wb, bb), labels)  # the same bf16 logits, naively
    assert got.dtype == torch.float32
    # the logits are rounded to bfloat16 in both; chunking only changes the matmul blocking
    torch.testing.assert_close(got, ref, rtol=0, atol=0.05)
    got.nansum().backward()
    assert hb.grad.dtype == wb.grad.dtype == bb.grad.dtype == torch.bfloat16
    assert all(torch.isfinite(x.grad).all() for x in (hb, wb, bb))


def _saved_numels(fn):
    """Sizes of every tensor autograd saves for backward while ``fn`` runs."""
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sizes


def test_chunked_path_keeps_no_logit_sized_tensor_for_backward():
    b, t, d, v = 4, 64, 8, 512
    hidden = torch.randn(b, t, d, requires_grad=True)
    weight = torch.randn(v, d, requires_grad=True)
    labels = torch.randint(0, v, (b, t))
    full = b * t * v
    naive = _saved_numels(lambda: per_sample_loss(F.linear(hidden, weight), labels))
    chunked = _saved_numels(
        lambda: per_sample_loss_from_hidden(hidden, weight, labels, chunk_size=16)
    )
    assert max(naive) >= full  # the naive path keeps the B x T x V log-softmax
    assert max(chunked) <= max(b * t * d, v * d)  # inputs and per-token numbers only


def test_default_chunk_size_fits_the_memory_budget():
    # 64 MiB / (12 bytes x V): independent of the batch, so a 1024-token batch is chunked
    assert default_chunk_size(32768) == 170
    assert default_chunk_size(131072) == 42
    assert default_chunk_size(8192) == 682 < 1024
    assert default_chunk_size(2**30) == 1
    assert default_chunk_size(32768, budget_bytes=12 * 32768 * 7) == 7
    with pytest.raises(ValueError, match="budget_bytes must be an integer >= 1, got 0"):
        default_chunk_size(32768, budget_bytes=0)


# ----------------------------------------------------------------- bad input
GOOD_LOGITS, GOOD_LABELS = _batch()


@pytest.mark.parametrize(
    "logits,labels,kind,match",
    [
        (
            GOOD_LOGITS,
            GOOD_LABELS[:, :-1],
            ValueError,
            r"labels must have shape \(batch, length\) = \(4, 9\) to match logits, got \(4, 8\)",
        ),
        (GOOD_LOGITS[0], GOOD_LABELS, ValueError, r"logits must be 3-D, got shape \(9, 13\)"),
        (GOOD_LOGITS, GOOD_LABELS[0], ValueError, r"labels must be 2-D, got shape \(9,\)"),
        (GOOD_LOGITS.long(), GOOD_LABELS, TypeError, r"logits must have a floating dtype"),
        (GOOD_LOGITS, GOOD_LABELS.float(), TypeError, r"labels must have an integer dtype"),
        (GOOD_LOGITS, GOOD_LABELS > 0, TypeError, r"labels must have an integer dtype"),
        (
            GOOD_LOGITS.numpy(),
            GOOD_LABELS,
            TypeError,
            r"logits must be a torch.Tensor, got ndarray",
        ),
        (GOOD_LOGITS, GOOD_LABELS.tolist(), TypeError, r"labels must be a torch.Tensor, got list"),
        (GOOD_LOGITS[:0], GOOD_LABELS[:0], ValueError, r"logits must hold at least one sample"),
        (
            GOOD_LOGITS[:, :1],
            GOOD_LABELS[:, :1],
            ValueError,
            r"with shift=True every sample needs at least 2 positions",
        ),
        (
            GOOD_LOGITS,
            GOOD_LABELS.clone().index_put_(
                (torch.tensor([0]), torch.tensor([3])), torch.tensor(13)
            ),
            ValueError,
            r"labels must be token ids in \[0, 13\) or ignore_index \(-100\), got 13 at sample 0, "
            r"position 3",
        ),
        (
            GOOD_LOGITS,
            GOOD_LABELS.clone().index_put_(
                (torch.tensor([2]), torch.tensor([5])), torch.tensor(-1)
            ),
            ValueError,
            r"got -1 at sample 2, position 5",
        ),
    ],
)
def test_bad_input(logits, labels, kind, match):
    with pytest.raises(kind, match=match):
        per_sample_loss(logits, labels)


@pytest.mark.parametrize(
    "value,at_target", [(math.nan, False), (math.inf, False), (-math.inf, True)]
)
def test_non_finite_logits_are_reported(value, at_target):
    logits = GOOD_LOGITS.clone()
    y = int(GOOD_LABELS[2, 5])
    logits[2, 4, y if at_target else (y + 1) % 13] = value
    with pytest.raises(
        ValueError,
        match=r"logits gave a non-finite loss \((nan|inf)\) for "
        r"sample 2: logits must hold finite values",
    ):
        per_sample_loss(logits, GOOD_LABELS)


def test_minus_infinity_off_target_is_a_mask_not_an_error():
    logits = GOOD_LOGITS.clone()
    y = int(GOOD_LABELS[2, 5])
    logits[2, 4, (y + 1) % 13] = -math.inf  # a masked-out token: probability 0
    got = per_sample_loss(logits, GOOD_LABELS)
    want = _hand_loss(logits, GOOD_LABELS)
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)


def test_bad_scalar_arguments():
    with pytest.raises(TypeError, match="ignore_index must be an integer, got -100.0"):
        per_sample_loss(GOOD_LOGITS, GOOD_LABELS, ignore_index=-100.0)
    with pytest.raises(TypeError, match=r"shift must be a bool \(True or False\), got 1"):
        per_sample_loss(GOOD_LOGITS, GOOD_LABELS, shift=1)


def test_bad_input_chunked():
    hidden, weight, bias, labels = _hidden_case()
    with pytest.raises(ValueError, match=r"weight must have shape \(vocab, d\) with d = 6"):
        per_sample_loss_from_hidden(hidden, weight[:, :5], labels)
    with pytest.raises(ValueError, match=r"bias must have shape \(vocab,\) = \(23,\), got \(22,\)"):
        per_sample_loss_from_hidden(hidden, weight, labels, bias[:-1])
    with pytest.raises(
        TypeError,
        match=r"weight must have the dtype of hidden \(torch.float32\) "
        r"outside autocast",
    ):
        per_sample_loss_from_hidden(hidden, weight.double(), labels)
    with pytest.raises(ValueError, match=r"chunk_size must be an integer >= 1, got 0"):
        per_sample_loss_from_hidden(hidden, weight, labels, chunk_size=0)
    with pytest.raises(TypeError, match=r"chunk_size must be an integer, got True"):
        per_sample_loss_from_hidden(hidden, weight, labels, chunk_size=True)
    with pytest.raises(ValueError, match=r"hidden must be 3-D"):
        per_sample_loss_from_hidden(hidden[0], weight, labels)
    with pytest.raises(ValueError, match=r"to match hidden, got \(3, 9\)"):
        per_sample_loss_from_hidden(hidden, weight, labels[:, 1:])
    with (
        torch.no_grad(),
        pytest.raises(
            ValueError,  # no backward: raised at once
            match=r"labels must be token ids in \[0, 23\)",
        ),
    ):
        per_sample_loss_from_hidden(hidden, weight, labels + 23)
    bad = hidden.detach().clone()
    bad[1, 2, 0] = math.nan
    with pytest.raises(
        ValueError, match=r"hidden and weight gave a non-finite loss \(nan\) for sample 1"
    ):
        per_sample_loss_from_hidden(bad, weight.detach(), labels)


@pytest.mark.parametrize("path", ["logits", "hidden"])
def test_checks_of_losses_with_history_raise_in_the_reweighting_or_in_backward(path):
    # with autograd history the value checks are deferred (module docstring, "When the value
    # checks raise"): to the reweighting's one read, else to the backward pass -- where they
    # raise before any parameter gets a gradient
    from rwtheory.lm import SampleReweighter, reweighted_loss

    hidden, weight, bias, labels = _hidden_case()
    bad = labels.clone()
    bad[2, 4] = 23
    match = r"labels must be token ids in \[0, 23\) or ignore_index \(-100\), got 23 at sample 2"

    def losses(y):
        if path == "hidden":
            return per_sample_loss_from_hidden(hidden, weight, y, bias, chunk_size=4)
        return per_sample_loss(F.linear(hidden, weight, bias), y)

    alone = losses(bad)  # no error in the call ...
    with pytest.raises(ValueError, match=match):  # ... but in its backward pass
        alone.nansum().backward()
    assert hidden.grad is None and weight.grad is None and bias.grad is None
    with pytest.raises(ValueError, match=match):
        reweighted_loss(losses(bad))
    reweighter = SampleReweighter("linupper", 0.4)
    with pytest.raises(ValueError, match=match):
        reweighter(losses(bad))
    assert reweighter.step == 0 and reweighter.stats is None  # nothing recorded
    loss, _ = reweighter(losses(labels))  # good labels: no error anywhere
    loss.backward()
    assert reweighter.step == 1 and hidden.grad is not None


# ----------------------------------------------------------------- mixed precision
def _matmul_dtypes(fn):
    """The input dtypes of every matrix product run while ``fn`` runs."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = set()
    products = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default}

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in products:
                seen.update(a.dtype for a in args if isinstance(a, torch.Tensor) and a.ndim == 2)
            return func(*args, **(kwargs or {}))

    with Record():
        fn()
    return seen


@pytest.mark.parametrize("hidden_dtype", [torch.bfloat16, torch.float32])
def test_chunked_under_autocast_multiplies_in_bfloat16_and_matches_naive(hidden_dtype):
    hidden, weight, bias, labels = _hidden_case(b=3, t=24, d=32, v=96)
    h = hidden.detach().to(hidden_dtype).requires_grad_()  # e.g. bf16 activations
    params = (h, weight, bias)  # fp32 master weights
    g = torch.tensor([1.0, -0.5, 2.0])

    def run(chunked):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses = (
                per_sample_loss_from_hidden(h, weight, labels, bias, chunk_size=10)
                if chunked
                else per_sample_loss(F.linear(h, weight, bias), labels)
            )
        out["losses"] = losses
        out["grads"] = torch.autograd.grad((torch.nan_to_num(losses) * g).sum(), params)

    out = {}
    assert _matmul_dtypes(lambda: run(True)) == {torch.bfloat16}  # forward and backward
    chunked = dict(out)
    run(False)
    assert chunked["losses"].dtype == torch.float32
    # both round the logits to bfloat16; they differ by bfloat16 rounding only (values of
    # order 1: a few bf16 ulps = 2**-8 each)
    torch.testing.assert_close(chunked["losses"], out["losses"], rtol=0, atol=2e-2, equal_nan=True)
    for got, want, p in zip(chunked["grads"], out["grads"], params, strict=True):
        assert got.dtype == p.dtype
        scale = float(want.abs().max())
        assert float((got.float() - want.float()).abs().max()) <= 2e-2 * scale
    # and they are not trivially equal to the float32 result (the products ran in bf16)
    ref = per_sample_loss(F.linear(hidden.detach(), weight.detach(), bias.detach()), labels)
    assert float(torch.nan_to_num(chunked["losses"].detach() - ref.detach()).abs().max()) > 1e-4
