"""Loss-level fixes: flags that must be bools, float16 products that must not overflow,
never-scored NaN hidden states that must not reach a gradient, and label smoothing equal to
``F.cross_entropy``'s (and so to the Hugging Face Trainer's ``LabelSmoother``)."""

import pytest
import torch
import torch.nn.functional as F

from rwtheory.lm import per_sample_loss, per_sample_loss_from_hidden


def _case(b=3, t=9, d=6, v=23, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, t, d, generator=g, dtype=torch.float64).to(dtype)
    weight = torch.randn(v, d, generator=g, dtype=torch.float64).to(dtype)
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, 6:] = -100
    return hidden, weight, labels


@pytest.mark.parametrize("value", ["no", 1, None, 0.0])
def test_return_counts_and_check_must_be_bools(value):
    hidden, weight, labels = _case()
    logits = F.linear(hidden, weight)
    for name in ("return_counts", "check", "shift"):
        with pytest.raises(
            TypeError, match=rf"{name} must be a bool \(True or False\), got {value!r}"
        ):
            per_sample_loss(logits, labels, **{name: value})
        with pytest.raises(
            TypeError, match=rf"{name} must be a bool \(True or False\), got {value!r}"
        ):
            per_sample_loss_from_hidden(hidden, weight, labels, **{name: value})


def test_float16_products_do_not_overflow_where_float32_logits_fit():
    hidden, weight, labels = _case()
    hidden, weight = (hidden * 100).half(), (weight * 100).half()  # |logits| ~1e5
    z32 = F.linear(hidden.float(), weight.float())
    assert float(z32.abs().max()) > 65504  # beyond float16's range, within float32's
    assert bool(torch.isinf(F.linear(hidden, weight)).any())  # float16 logits overflow
    h = hidden.clone().requires_grad_(True)
    got = per_sample_loss_from_hidden(h, weight, labels, chunk_size=4)
    got.sum().backward()
    ref_h = hidden.float().requires_grad_(True)
    ref = per_sample_loss(F.linear(ref_h, weight.float()), labels)
    ref.sum().backward()
    assert bool(torch.isfinite(got).all())
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-3)
    assert bool(torch.isfinite(h.grad).all())
    torch.testing.assert_close(h.grad.float(), ref_h.grad, rtol=1e-2, atol=1.0)


@pytest.mark.parametrize("bias", [False, True])
def test_nan_hidden_states_at_never_scored_positions_reach_no_gradient(bias):
    hidden, weight, labels = _case()
    b = torch.randn(weight.shape[0], generator=torch.Generator().manual_seed(5)) if bias else None
    # sample 0 is padding from position 6 on: its positions 5.. predict nothing (shift)
    # and the last position of every row never predicts anything
    poisoned = hidden.clone()
    poisoned[0, 5:] = torch.nan
    poisoned[:, -1] = torch.inf
    clean = hidden.clone()
    clean[0, 5:] = 0.0
    clean[:, -1] = 0.0
    grads = []
    for h0 in (poisoned, clean):
        h = h0.clone().requires_grad_(True)
        w = weight.clone().requires_grad_(True)
        bb = None if b is None else b.clone().requires_grad_(True)
        losses = per_sample_loss_from_hidden(h, w, labels, bb, chunk_size=4)
        losses.sum().backward()
        grads.append((losses.detach(), h.grad, w.grad, None if bb is None else bb.grad))
    for got, want in zip(*grads, strict=True):
        if want is None:
            continue
        assert bool(torch.isfinite(got).all())
        assert torch.equal(got, want)
    assert float(grads[0][1][0, 5:].abs().max()) == 0.0


@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_label_smoothing_is_cross_entropys(eps):
    hidden, weight, labels = _case(dtype=torch.float64)
    logits = F.linear(hidden, weight)
    # by hand: F.cross_entropy per token with label_smoothing, averaged per sample
    tgt = F.pad(labels[:, 1:], (0, 1), value=-100)
    tok = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        tgt.reshape(-1),
        reduction="none",
        label_smoothing=eps,
        ignore_index=-100,
    ).view(labels.shape)
    mask = tgt != -100
    want = (tok * mask).sum(1) / mask.sum(1)
    z = logits.clone().requires_grad_(True)
    got = per_sample_loss(z, labels, label_smoothing=eps)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    h = hidden.clone().requires_grad_(True)
    w = weight.clone().requires_grad_(True)
    chunked = per_sample_loss_from_hidden(h, w, labels, chunk_size=4, label_smoothing=eps)
    torch.testing.assert_close(chunked, want, rtol=1e-12, atol=1e-12)
    up = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    (chunked * up).sum().backward()
    h2 = hidden.clone().requires_grad_(True)
    w2 = weight.clone().requires_grad_(True)
    (per_sample_loss(F.linear(h2, w2), labels, label_smoothing=eps) * up).sum().backward()
    torch.testing.assert_close(h.grad, h2.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w.grad, w2.grad, rtol=1e-10, atol=1e-12)
    if eps:  # smoothing changes the loss (the comparison above could fail)
        assert float((want - per_sample_loss(logits, labels)).abs().max()) > 1e-3


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.1", True, None])
def test_bad_label_smoothing(bad):
    hidden, weight, labels = _case()
    err = TypeError if isinstance(bad, (str, bool)) or bad is None else ValueError
    with pytest.raises(err, match=r"label_smoothing must be .*in \[0, 1\]"):
        per_sample_loss(F.linear(hidden, weight), labels, label_smoothing=bad)
    with pytest.raises(err, match=r"label_smoothing must be .*in \[0, 1\]"):
        per_sample_loss_from_hidden(hidden, weight, labels, label_smoothing=bad)
