"""numpy and torch through the same code: same kind out, same numbers (1e-12 in float64,
1e-6 in float32), half precision computed in float32."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import STRATEGY_NAMES, gap_batches, loss_batches, temperatures

import rwtheory as rw
from rwtheory.weights.pipeline import batched_sample_weights


def _both(fn, x, *args, dtype=np.float64):
    a = fn(x.astype(dtype), *args)
    b = fn(torch.from_numpy(x.astype(dtype)), *args)
    assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor)
    assert b.dtype == {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    assert a.dtype == dtype
    return a, b.numpy()


@settings(max_examples=200)
@given(loss_batches(low=0.0, high=20.0), st.sampled_from(STRATEGY_NAMES), temperatures)
def test_sample_weights_agree(losses, strategy, r):
    a, b = _both(rw.sample_weights, losses, strategy, r)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    a, b = _both(rw.sample_weights, losses, strategy, r, dtype=np.float32)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@settings(max_examples=200)
@given(gap_batches(max_size=40), st.floats(0.01, 50.0), st.sampled_from([1.0, 1.5, 2.0, 4.0]))
def test_kl_capped_weights_agree(gaps, r, rho):
    a, b = _both(rw.kl_capped_weights, gaps, r, rho)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    a, b = _both(rw.kl_capped_weights, gaps, r, rho, dtype=np.float32)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    # float32 results are float32-accurate, not just self-consistent
    np.testing.assert_allclose(a, rw.kl_capped_weights(gaps, r, rho), rtol=0, atol=1e-6)


@settings(max_examples=200)
@given(loss_batches(low=0.0, high=20.0), st.floats(0.1, 10.0))
def test_dro_kl_gamma_rho_agree(losses, tau):
    a, b = _both(rw.dro_kl_weights, losses, tau)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    gaps = losses - losses.min()
    g_np = float(rw.gamma(a, gaps))
    g_t = float(rw.gamma(torch.from_numpy(a), torch.from_numpy(gaps)))
    assert g_np == pytest.approx(g_t, abs=1e-12)
    assert float(rw.rho(a)) == pytest.approx(float(rw.rho(torch.from_numpy(a))), abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    losses = torch.tensor([1.0, 2.5, 0.25, 4.0], dtype=dtype)
    w = rw.sample_weights(losses, "linupper", 0.4)
    assert w.dtype == torch.float32
    ref = rw.sample_weights(losses.to(torch.float64), "linupper", 0.4)
    torch.testing.assert_close(w.double(), ref, rtol=0, atol=1e-6)
    wk = rw.kl_capped_weights(losses.abs(), 0.4)
    assert wk.dtype == torch.float32


def test_numpy_float16_is_computed_in_float32():
    w = rw.sample_weights(np.array([1.0, 2.0, 3.0], dtype=np.float16), "quadratic", 1.0)
    assert w.dtype == np.float32


def test_integer_input_is_promoted_to_float64():
    assert rw.sample_weights(np.array([1, 2, 3]), "linupper").dtype == np.float64
    assert rw.kl_capped_weights(torch.tensor([1, 2, 3]), 1.0).dtype == torch.float64


def test_results_carry_no_autograd_history_for_kl_capped_but_keep_it_for_the_pipeline():
    x = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64, requires_grad=True)
    assert not rw.kl_capped_weights(x, 1.0).requires_grad
    w = rw.sample_weights(x, "linupper", 1.0)
    assert w.requires_grad  # the pipeline is differentiable; the LM path detaches first


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_gradients_through_the_pipeline_match_finite_differences(strategy):
    """The docstring promises the weights carry the losses' autograd history; gradcheck
    (float64 finite differences) on losses away from the strategies' kinks."""
    losses = torch.tensor([0.3, 1.7, 2.9, 0.8, 3.3, 2.2], dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda l: rw.sample_weights(l, strategy, 0.7), (losses,))
    torch.autograd.gradcheck(lambda l: rw.tempered_softmax(l, 0.7), (losses,))
    torch.autograd.gradcheck(lambda l: rw.dro_kl_weights(l, 0.7), (losses,))


def test_mixed_strategies_in_float32_at_small_temperature():
    """One strategy per row, float32, r = 0.005: exp(s/r) would overflow without the
    max-subtraction (it once returned NaN)."""
    from rwtheory.weights.pipeline import batched_sample_weights

    x = np.random.default_rng(0).random((3, 8)).astype(np.float32)
    w = batched_sample_weights(x, ["linupper", "quadratic", "extremes"], 0.005)
    assert w.dtype == np.float32 and np.all(np.isfinite(w))
    for i, s in enumerate(["linupper", "quadratic", "extremes"]):
        np.testing.assert_allclose(w[i], rw.sample_weights(x[i], s, 0.005), atol=1e-6)


def test_batched_torch_matches_numpy():
    rng = np.random.default_rng(3)
    losses = rng.exponential(size=(4, 9))
    a = batched_sample_weights(losses, "extremes", 0.7)
    b = batched_sample_weights(torch.from_numpy(losses), "extremes", 0.7)
    np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_stays_on_device():
    x = torch.rand(300, dtype=torch.float64, device="cuda")
    for w in (rw.sample_weights(x, "linupper", 0.5), rw.kl_capped_weights(x, 0.5)):
        assert w.device.type == "cuda"
    np.testing.assert_allclose(
        rw.kl_capped_weights(x, 0.5).cpu().numpy(),
        rw.kl_capped_weights(x.cpu().numpy(), 0.5),
        atol=1e-12,
    )


@pytest.mark.parametrize("n", [5, 300, 5000])
@pytest.mark.parametrize("scale", [1.0, 1e6])
def test_kl_capped_pure_torch_path_matches_numpy(n, scale):
    """CPU tensors go through a numpy view; CUDA tensors run the same code on torch ops.
    That torch path is exercised here on CPU (no GPU in CI): short, long (bracketed) and
    huge-spread (relative) rows, float64 and float32."""
    import array_api_compat as aac

    from rwtheory.weights.optimal import _kl_capped

    rng = np.random.default_rng(n)
    gaps = rng.exponential(size=n) * scale
    gaps[: n // 5] = gaps[0]  # ties
    for r in (0.05, 1.0, 20.0):
        ref = rw.kl_capped_weights(gaps, r, 2.0)
        t = torch.from_numpy(gaps)
        out = _kl_capped(t, r, 2.0, aac.array_namespace(t))
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
        np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-12)
        t32 = t.float()
        out32 = _kl_capped(t32, r, 2.0, aac.array_namespace(t32))
        assert out32.dtype == torch.float32
        np.testing.assert_allclose(
            out32.numpy(), rw.kl_capped_weights(gaps.astype(np.float32), r, 2.0), atol=1e-6
        )


# ------------------------------------------------------------------ precision follows the input
TINY_R = [1e-50, 1e-39, 1e-300]


@pytest.mark.parametrize("r", TINY_R)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_a_temperature_below_float32_is_computed_exactly_not_as_nan(r, kind):
    """float32 cannot hold r: the weights are computed in float64 and returned in float32;
    at these temperatures they are the limit (mass on the top scores, ties split)."""
    x = np.float32([0.5, 2.0, 1.0, 4.0, 4.0])
    xin = torch.from_numpy(x) if kind == "torch" else x
    as_np = (lambda w: w.numpy()) if kind == "torch" else (lambda w: w)
    cases = {
        "sample_weights": (rw.sample_weights(xin, "linupper", r), [0, 0, 0, 0.5, 0.5]),
        "tempered_softmax": (rw.tempered_softmax(xin, r), [0, 0, 0, 0.5, 0.5]),
        "dro_kl_weights": (rw.dro_kl_weights(xin, r), [0, 0, 0, 0.5, 0.5]),
        # cap rho/n = 0.4: the two top gaps capped, the rest on the next one
        "kl_capped_weights": (rw.kl_capped_weights(xin, r), [0, 0.2, 0, 0.4, 0.4]),
    }
    for name, (w, expected) in cases.items():
        assert w.dtype in (np.float32, torch.float32), name
        np.testing.assert_allclose(as_np(w), expected, rtol=0, atol=1e-6, err_msg=name)


def test_the_bisection_refuses_what_its_bracket_cannot_resolve():
    x = np.array([0.5, 2.0, 1.0, 4.0, 4.0])
    with pytest.raises(ValueError, match=r"temperature must be >= 7.\d+e-10 for these gaps"):
        rw.kl_capped_weights_bisection(x, 1e-50)
    np.testing.assert_allclose(
        rw.kl_capped_weights_bisection(x, 1e-9), [0, 0.2, 0, 0.4, 0.4], atol=1e-6
    )


def test_the_lm_path_at_a_tiny_temperature():
    from rwtheory.lm import SampleReweighter, reweighted_loss

    losses = torch.tensor([1.0, 2.0, 3.0, 3.0])
    _, w = reweighted_loss(losses, "linupper", 1e-50)
    # linupper: every loss at or above the mid-range scores delta: [0, 0.5, 1, 1] -> ties
    np.testing.assert_array_equal(w.numpy(), np.float32([0, 1 / 3, 1 / 3, 1 / 3]))
    _, w = SampleReweighter("dro_kl", 1e-45)(losses)
    np.testing.assert_array_equal(w.numpy(), np.float32([0, 0, 0.5, 0.5]))


def test_float32_temperatures_that_fit_are_computed_in_float32():
    x = np.float32([0.5, 2.0, 1.0])
    w = rw.tempered_softmax(x, 0.3)
    e = np.exp((x - x.max()) / np.float32(0.3))
    np.testing.assert_array_equal(w, e / e.sum())


def test_longdouble_is_computed_in_float64():
    x = np.array([1e6, 1e6 + 0.01, 1e6 + 0.02], dtype=np.longdouble)
    w = rw.sample_weights(x, "linupper", 1.0)
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w, rw.sample_weights(x.astype(np.float64), "linupper", 1.0))
    np.testing.assert_allclose(w, [0.155362, 0.422319, 0.422319], atol=1e-6)


def test_extreme_magnitudes_do_not_overflow_inside_the_softmax():
    # s - max s would be -3.4e308 (float64) / -6.8e38 (float32): formed from halves instead
    for dtype, big in ((np.float64, 1e308), (np.float32, 3e38)):
        w = rw.dro_kl_weights(np.array([-big, big], dtype=dtype), big)
        np.testing.assert_allclose(w, [1 / (1 + math.exp(2)), 1 / (1 + math.exp(-2))], rtol=1e-6)
        assert w.dtype == dtype


def test_simplex_tolerance_follows_the_input_dtype():
    assert float(rw.rho(np.full(1000, 1 / 1000, np.float16))) == pytest.approx(1.0, abs=1e-3)
    assert float(rw.rho(torch.full((1000,), 1 / 1000, dtype=torch.bfloat16))) == pytest.approx(
        1.0, abs=1e-2
    )
    with pytest.raises(ValueError, match=r"weights must sum to 1"):  # float64: still strict
        rw.rho(np.full(1000, 1 / 1000) * (1 + 1e-6))


# ------------------------------------------------------------------ masked logits
def test_masked_logits_give_finite_gradients_equal_to_cross_entropy():
    from rwtheory.lm import per_sample_loss, per_sample_loss_from_hidden

    g = torch.Generator().manual_seed(0)
    B, T, d, V = 2, 5, 4, 7
    hidden = torch.randn(B, T, d, generator=g, dtype=torch.float64)
    weight = torch.randn(V, d, generator=g, dtype=torch.float64)
    bias = torch.zeros(V, dtype=torch.float64)
    bias[:2] = -math.inf  # a masked vocabulary
    labels = torch.randint(2, V, (B, T), generator=g)
    labels[0, 3:] = -100  # padding
    logits = (hidden @ weight.T + bias).detach()
    logits[0, 2:] = -math.inf  # padded positions fully masked
    logits[:, -1] = -math.inf  # the last position predicts nothing
    z = logits.clone().requires_grad_(True)
    per_sample_loss(z, labels).sum().backward()
    assert torch.isfinite(z.grad).all()
    # reference: F.cross_entropy on the scored positions only, summed per sample / count
    zr = logits.clone().requires_grad_(True)
    tgt = labels[:, 1:]
    nll = F.cross_entropy(
        zr[:, :-1].reshape(-1, V)[tgt.reshape(-1) != -100],
        tgt.reshape(-1)[tgt.reshape(-1) != -100],
        reduction="none",
    )
    counts = (tgt != -100).sum(1)
    (nll[: int(counts[0])].sum() / counts[0] + nll[int(counts[0]) :].sum() / counts[1]).backward()
    torch.testing.assert_close(z.grad, torch.nan_to_num(zr.grad, nan=0.0), rtol=1e-12, atol=0)
    assert torch.isfinite(zr.grad[:, :-1][tgt != -100]).all()
    # the chunked path with the masked bias: the same gradients for the scored logits
    h = hidden.clone().requires_grad_(True)
    per_sample_loss_from_hidden(h, weight, labels, bias, chunk_size=3).sum().backward()
    h2 = hidden.clone().requires_grad_(True)
    per_sample_loss(h2 @ weight.T + bias, labels).sum().backward()
    assert torch.isfinite(h.grad).all()
    torch.testing.assert_close(h.grad, h2.grad, rtol=1e-12, atol=1e-14)
