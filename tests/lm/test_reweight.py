"""The reweighted objective in one process: weights from the foundation's pipeline, the loss,
no gradient through the weights, invalid samples, the stateful reweighter, bad input."""

import math

import numpy as np
import pytest
import torch

import rwtheory as rw
from rwtheory.lm import (
    LM_STRATEGIES,
    SampleReweighter,
    gather_losses,
    per_sample_loss,
    reweighted_loss,
)

LOSSES = torch.tensor([2.5, 0.3, 4.0, 1.1, 3.3, 0.9], dtype=torch.float64)


def _reference_weights(x, strategy, r):
    """The foundation's functions, called directly."""
    if strategy == "dro_kl":
        return rw.dro_kl_weights(x, r)
    if strategy == "kl_capped":  # Proposition 1 on the normalised losses, rho = 2
        return rw.kl_capped_weights(rw.normalize_losses(x) + 1, r, 2.0)
    return rw.sample_weights(x, strategy, r)


@pytest.mark.parametrize("strategy", LM_STRATEGIES)
def test_weights_and_loss(strategy):
    losses = LOSSES.clone().requires_grad_(True)
    loss, w = reweighted_loss(losses, strategy, 0.4)
    ref = _reference_weights(LOSSES.float(), strategy, 0.4)
    assert w.dtype == torch.float32 and not w.requires_grad
    assert torch.equal(w, ref)  # the foundation's numbers, in float32
    assert abs(float(w.sum()) - 1) < 1e-6
    assert loss.dtype == torch.float64
    assert float(loss.detach()) == pytest.approx(float((ref.double() * LOSSES).sum()), rel=1e-15)
    # no gradient through the weights: d loss / d l_i = w_i exactly
    (grad,) = torch.autograd.grad(loss, losses)
    assert torch.equal(grad, ref.double())


def test_linupper_down_weights_low_losses():
    _, w = reweighted_loss(LOSSES, "linupper", 0.4)
    order = torch.argsort(LOSSES)
    assert torch.all(torch.diff(w[order]) >= 0)  # non-decreasing in the loss
    assert w[1] < w[0] / 5  # the smallest loss is strongly down-weighted


def test_float32_losses_and_model_gradient():
    torch.manual_seed(0)
    logits = torch.randn(5, 7, 11, requires_grad=True)
    labels = torch.randint(0, 11, (5, 7))
    losses = per_sample_loss(logits, labels)
    loss, w = reweighted_loss(losses, "quadratic", 1.0)
    assert loss.dtype == torch.float32
    loss.backward()
    # the same gradient with the weights as constants
    ref_logits = logits.detach().clone().requires_grad_(True)
    (w * per_sample_loss(ref_logits, labels)).sum().backward()
    torch.testing.assert_close(logits.grad, ref_logits.grad, rtol=0, atol=1e-7)


def test_invalid_samples_get_no_weight_and_do_not_shift_the_others():
    losses = torch.cat([LOSSES, torch.zeros(2, dtype=torch.float64)]).requires_grad_(True)
    valid = torch.tensor([True] * 6 + [False] * 2)
    loss, w = reweighted_loss(losses, "extremes", 0.5, valid=valid)
    ref = rw.sample_weights(LOSSES.float(), "extremes", 0.5)
    # the masked batch is reduced with the zeros of the invalid entries in place (static
    # shapes, no host sync), so the sums may round differently: 2 float32 ulps at most
    torch.testing.assert_close(w[:6], ref, rtol=2.4e-7, atol=0)
    assert torch.equal(w[6:], torch.zeros(2))
    assert float(loss.detach()) == pytest.approx(float((ref.double() * LOSSES).sum()), rel=3e-7)
    # without the mask the zero losses would be the batch minimum and change every weight
    _, w_unmasked = reweighted_loss(losses, "extremes", 0.5)
    assert not torch.allclose(w_unmasked[:6] / w_unmasked[:6].sum(), ref)


def test_without_process_group_gather_is_local():
    glob, start = gather_losses(LOSSES)
    assert start == 0 and torch.equal(glob, LOSSES)


@pytest.mark.parametrize(
    "bad,kind,match",
    [
        (
            torch.tensor([math.nan, math.nan]),
            ValueError,  # NaN = no scored token
            r"per_sample_losses: no sample of the global batch \(all data-parallel ranks "
            r"together\) has a scored token",
        ),
        (
            torch.tensor([1.0, math.nan, math.inf]),
            ValueError,
            r"per_sample_losses must be finite or NaN \(NaN = no scored token\), "
            r"got inf at index 2",
        ),
        (torch.tensor([]), ValueError, r"per_sample_losses must be non-empty"),
        (
            torch.ones(2, 3),
            ValueError,
            r"per_sample_losses must be 1-D \(one loss per sample\), got "
            r"shape \(2, 3\)",
        ),
        (
            torch.tensor([1, 2]),
            TypeError,
            r"per_sample_losses must have a floating dtype, got "
            r"torch.int64",
        ),
        ([1.0, 2.0], TypeError, r"per_sample_losses must be a torch.Tensor, got list"),
    ],
)
def test_bad_losses(bad, kind, match):
    with pytest.raises(kind, match=match):
        reweighted_loss(bad)


def test_bad_arguments():
    with pytest.raises(
        ValueError,
        match=r"strategy must be one of \['dro_kl', 'extremes', "
        r"'kl_capped', 'linupper', 'quadratic', 'uniform', "
        r"'upper'\], a kl_capped\(rho\) or a callable",
    ):
        reweighted_loss(LOSSES, "linear")
    for r in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            reweighted_loss(LOSSES, "linupper", r)
    with pytest.raises(TypeError, match="valid must be a bool torch.Tensor"):
        reweighted_loss(LOSSES, valid=torch.ones(6))
    with pytest.raises(
        ValueError,
        match=r"valid must have the shape of per_sample_losses "
        r"\(6,\), got \(5,\)",
    ):
        reweighted_loss(LOSSES, valid=torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="no sample of the global batch"):
        reweighted_loss(LOSSES, valid=torch.zeros(6, dtype=torch.bool))


# ----------------------------------------------------------------- SampleReweighter
def test_reweighter_follows_the_warmup_schedule_and_reports():
    rwr = SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=2))
    seen = []
    for k in range(4):
        loss, w = rwr(LOSSES)
        s = rwr.stats
        seen.append(s.temperature)
        ref = rw.sample_weights(LOSSES.float(), "linupper", s.temperature)
        assert torch.equal(w, ref) and s.step == k
        assert s.n == 6
        assert s.max_weight == pytest.approx(float(ref.max()), rel=1e-7)
        assert s.rho == pytest.approx(6 * float(ref.max()), rel=1e-7)
        assert s.rho == pytest.approx(float(rw.rho(ref)), rel=1e-6)
        assert s.entropy == pytest.approx(float(-(ref * ref.log()).sum()), rel=1e-5)
        assert s.loss_spread == pytest.approx(3.7, rel=1e-6)
        assert s.loss_mean == pytest.approx(float(LOSSES.mean()), rel=1e-6)
    assert seen == [100.0, 100.0, 0.4, 0.4]
    assert rwr.step == 4
    # r = 100 is nearly uniform (rho <= e^{1/100}); r = 0.4 is not
    warm = SampleReweighter("linupper", 100.0)
    warm(LOSSES)
    assert 1.0 < warm.stats.rho <= math.exp(1 / 100) + 1e-6
    assert rwr.stats.rho > 1.5


def test_reweighter_uniform_entropy_is_log_n_and_step_argument():
    rwr = SampleReweighter("uniform")
    rwr(LOSSES, step=7)
    assert rwr.stats.step == 7 and rwr.step == 8
    assert rwr.stats.rho == pytest.approx(1.0, abs=1e-6)  # 6 x float32(1/6)
    assert rwr.stats.entropy == pytest.approx(math.log(6), rel=1e-6)
    state = rwr.state_dict()
    other = SampleReweighter("uniform")
    other.load_state_dict(state)
    assert other.step == 8
    assert repr(other) == "SampleReweighter(strategy='uniform', step=8, temperature=1)"


def test_reweighter_bad_configuration():
    with pytest.raises(ValueError, match="strategy must be one of"):
        SampleReweighter("upperlin")
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        SampleReweighter("linupper", 0.0)
    with pytest.raises(ValueError, match=r"temperature at step 0 must be a finite number > 0"):
        SampleReweighter("linupper", lambda k: -1.0)
    late = SampleReweighter("linupper", lambda k: 1.0 if k < 1 else math.nan)
    late(LOSSES)
    with pytest.raises(ValueError, match="temperature at step 1 must be a finite number > 0"):
        late(LOSSES)
    with pytest.raises(ValueError, match="step must be an integer >= 0, got -1"):
        SampleReweighter()(LOSSES, step=-1)
    rw_np = SampleReweighter("linupper", rw.warmup_schedule(0.4, 3))
    rw_np(LOSSES, step=np.int64(5))  # numpy integers are integers (found by review)
    assert rw_np.step == 6 and rw_np.stats.temperature == 0.4
    rw_np.load_state_dict({"step": np.int64(2)})
    assert rw_np.step == 2
    with pytest.raises(ValueError, match=r"state\['step'\] must be an integer >= 0"):
        SampleReweighter().load_state_dict({"step": 1.5})
