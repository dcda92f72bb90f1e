"""SampleReweighter in a real loop: strategies as data (callables, kl_capped), burn-in,
token-count weighting, statistics, copies and checkpoints (one process; the multi-rank
checks are in test_reweighter_distributed.py)."""

import copy
import io
import math
import pickle

import pytest
import torch

import rwtheory as rw
from rwtheory.lm import SampleReweighter, kl_capped, per_sample_loss, reweighted_loss
from rwtheory.lm.model import ByteTransformer
from rwtheory.lm.stats import RHO_BIN_EDGES
from rwtheory.lm.syncs import count_host_syncs
from rwtheory.weights.pipeline import linupper

LOSSES = torch.tensor([2.5, 0.3, 4.0, 1.1, 3.3, 0.9], dtype=torch.float64)


def linupper_by_hand(losses):
    """A module-level callable strategy (picklable): the paper's LinUpper score."""
    return linupper(rw.normalize_losses(losses))


# ----------------------------------------------------------------- strategies as data
def test_callable_strategy_equals_the_named_one():
    for fn in (linupper_by_hand, lambda l: linupper(rw.normalize_losses(l))):
        loss, w = reweighted_loss(LOSSES, fn, 0.4)
        loss_ref, w_ref = reweighted_loss(LOSSES, "linupper", 0.4)
        assert torch.equal(w, w_ref) and torch.equal(loss, loss_ref)
        _, w2 = SampleReweighter(fn, 0.4)(LOSSES)
        assert torch.equal(w2, w_ref)
    # a score that is not the pipeline's gives other weights: the callable is really used
    _, w_neg = reweighted_loss(LOSSES, lambda l: -l, 1.0)
    assert torch.equal(w_neg, rw.tempered_softmax(-LOSSES.float(), 1.0))


def test_callable_strategy_bad_output():
    with pytest.raises(
        ValueError,
        match=r"strategy .*<lambda> \(a callable losses -> scores\) must return one value "
        r"per input, shape \(6,\)",
    ):
        reweighted_loss(LOSSES, lambda l: l[:3], 1.0)
    with pytest.raises(ValueError, match=r"strategy .*<lambda> .* must return finite numbers"):
        reweighted_loss(LOSSES, lambda l: l / 0, 1.0)
    with pytest.raises(ValueError, match=r"strategy must be one of .* or a callable"):
        SampleReweighter(3)


@pytest.mark.parametrize("rho", [1.0, 1.5, 2.0, 3.0, math.inf])
def test_kl_capped_is_proposition_1_on_normalised_losses(rho):
    _, w = reweighted_loss(LOSSES, kl_capped(rho), 0.4)
    gaps = rw.normalize_losses(LOSSES.float()) + 1
    assert torch.equal(w, rw.kl_capped_weights(gaps, 0.4, rho))
    assert float(len(LOSSES) * w.max()) <= min(rho, len(LOSSES)) * (1 + 1e-6)
    if rho == 2.0:  # the name means rho = 2
        assert torch.equal(reweighted_loss(LOSSES, "kl_capped", 0.4)[1], w)
    if rho == 1.0:
        assert torch.allclose(w, torch.full_like(w, 1 / 6))


def test_kl_capped_bad_rho():
    for bad in (0.5, math.nan):
        with pytest.raises(ValueError, match="rho must be a number >= 1"):
            kl_capped(bad)
    for bad in ("2", True, None):  # not numbers: a TypeError (rwtheory._array's policy)
        with pytest.raises(TypeError, match="rho must be a real number"):
            kl_capped(bad)


def test_kl_capped_respects_its_cap_on_every_step_of_a_run():
    """A real (tiny) training run with kl_capped(2): rho_t = n max_i w_i <= rho on every
    step, for the trained reweighter and for rho = 1.25 and 3 on the same steps' losses,
    while the uncapped LinUpper at the same temperature breaks the cap on this data."""
    torch.manual_seed(0)
    model = ByteTransformer(d_model=16, n_layers=1, n_heads=2, max_len=16)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    capped = {rho: SampleReweighter(kl_capped(rho), 0.2) for rho in (2.0, 1.25, 3.0)}
    uncapped = SampleReweighter("linupper", 0.2)
    g = torch.Generator().manual_seed(0)
    rhos, free = {rho: [] for rho in capped}, []
    for _ in range(12):
        x = torch.randint(0, 256, (16, 16), generator=g)
        x[:4] = x[0]  # duplicates: low-loss samples later
        losses, counts = per_sample_loss(model(x), x, return_counts=True)
        loss, _ = capped[2.0](losses, counts=counts)
        for rho, rwr in capped.items():
            if rho != 2.0:
                rwr(losses.detach(), counts=counts)
            rhos[rho].append(rwr.stats.rho)
        uncapped(losses.detach(), counts=counts)
        free.append(uncapped.stats.rho)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for rho, seen in rhos.items():
        assert all(r <= rho * (1 + 1e-6) for r in seen), (rho, seen)
        assert max(seen) > 0.99 * rho  # the cap binds
    assert max(free) > 3.0  # and is needed


# ----------------------------------------------------------------- burn-in, token weighting
def test_burn_in_is_exact_uniform_then_the_strategy():
    rwr = SampleReweighter("extremes", rw.warmup_schedule(0.4, 3), burn_in_steps=2)
    for k in range(4):
        _, w = rwr(LOSSES)
        if k < 2:
            assert torch.equal(w, torch.full((6,), 1 / 6)) and rwr.stats.burn_in
        else:
            r = 100.0 if k < 3 else 0.4
            assert torch.equal(w, rw.sample_weights(LOSSES.float(), "extremes", r))
            assert not rwr.stats.burn_in and rwr.stats.temperature == r
    with pytest.raises(ValueError, match="burn_in_steps must be an integer >= 0, got -1"):
        SampleReweighter(burn_in_steps=-1)


def test_token_weighting_single_process():
    losses = LOSSES.clone().requires_grad_(True)
    counts = torch.tensor([5, 1, 3, 0, 7, 2])
    valid = counts > 0
    w_ref = torch.zeros(6)
    w_ref[valid] = rw.sample_weights(LOSSES.float()[valid], "linupper", 0.4)
    for mode in ("rank", "global"):
        loss, w = SampleReweighter("linupper", 0.4, token_weighting=mode)(losses, counts=counts)
        assert torch.equal(w, w_ref)  # the weights do not change ...
        n = 6 if mode == "rank" else 5  # ... each term gets B_r c_i / C or n c_i / C
        expect = (w_ref.double() * n * counts / counts.sum() * LOSSES).sum()
        assert float(loss.detach()) == pytest.approx(float(expect), rel=1e-12)
    # with uniform weights "global" is the token-mean loss (Hugging Face's default)
    loss, _ = SampleReweighter("uniform", token_weighting="global")(losses, counts=counts)
    # (to the float32 rounding of the weights 1/5)
    assert float(loss.detach()) == pytest.approx(
        float((counts * LOSSES).sum() / counts.sum()), rel=1e-7
    )
    with pytest.raises(ValueError, match=r"counts \(scored tokens per sample\) is required"):
        SampleReweighter(token_weighting="rank")(LOSSES)
    with pytest.raises(ValueError, match="token_weighting must be one of"):
        SampleReweighter(token_weighting="tokens")
    with pytest.raises(TypeError, match="counts must be an integer torch.Tensor"):
        SampleReweighter()(LOSSES, counts=torch.ones(6))


# ----------------------------------------------------------------- statistics
def test_stats_histogram_and_domain_shares():
    rwr = SampleReweighter("linupper", 0.4)
    domains = torch.tensor([0, 1, 0, 2, 2, 1])
    valid = torch.tensor([True] * 5 + [False])
    _, w = rwr(LOSSES, valid=valid, domain_ids=domains)
    s = rwr.stats
    nw = (5 * w[:5].double()).tolist()
    expect = [
        sum(1 for v in nw if (lo < v <= hi) or (lo == 0 and v == 0))
        for lo, hi in zip(RHO_BIN_EDGES[:-1], RHO_BIN_EDGES[1:], strict=True)
    ]
    assert list(s.histogram) == expect and sum(s.histogram) == 5
    assert set(s.domain_share) == {0, 1, 2}
    for d in (0, 1, 2):
        assert s.domain_share[d] == pytest.approx(float(w[:5][domains[:5] == d].sum()), rel=1e-6)
    assert sum(s.domain_share.values()) == pytest.approx(1.0, abs=1e-6)
    log = s.log_dict()
    assert log["rw_share_domain_2"] == s.domain_share[2] and log["rw_n"] == 5.0
    assert sum(v for k, v in log.items() if k.startswith("rw_hist_")) == pytest.approx(1.0)
    assert "rw_hist_1.5_2" in log and "rw_hist_10_inf" in log
    # stats are computed when read, and only then
    rwr(LOSSES)
    assert rwr._stats is None and rwr.stats.domain_share is None and rwr._stats is not None


# ----------------------------------------------------------------- copies and checkpoints
SCHEDULES = [
    0.7,
    rw.constant_schedule(0.7),
    rw.warmup_schedule(0.4, 2),
    rw.linear_schedule(2.0, 0.5, 4),
    rw.cosine_schedule(2.0, 0.5, 4, begin=1),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("strategy", ["linupper", kl_capped(1.5), linupper_by_hand])
def test_pickle_and_deepcopy_with_every_builtin_schedule(schedule, strategy):
    rwr = SampleReweighter(strategy, schedule, burn_in_steps=1, token_weighting="global")
    counts = torch.tensor([3, 4, 5, 6, 7, 8])
    rwr(LOSSES, counts=counts)
    copies = [pickle.loads(pickle.dumps(rwr)), copy.deepcopy(rwr)]
    for other in copies:
        assert other.step == 1 and other.stats == rwr.stats
    for k in range(5):  # the copies continue exactly as the original (schedule, burn-in)
        x = LOSSES * (k + 1) + torch.arange(6.0, dtype=torch.float64) ** 2
        a = rwr(x, counts=counts)
        for other in copies:
            b = other(x, counts=counts)
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
            assert other.stats == rwr.stats


def _run(steps, resume_at=None):
    """Train a tiny model `steps` steps; with `resume_at`, checkpoint there (model,
    optimizer, reweighter through torch.save / torch.load(weights_only=True)) and continue
    in fresh objects."""

    def fresh():
        torch.manual_seed(0)
        model = ByteTransformer(d_model=16, n_layers=1, n_heads=2, max_len=12)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        rwr = SampleReweighter(
            kl_capped(2.0), rw.warmup_schedule(0.3, 3), burn_in_steps=2, token_weighting="rank"
        )
        return model, opt, rwr

    model, opt, rwr = fresh()
    g = torch.Generator().manual_seed(5)
    batches = [torch.randint(0, 256, (6, 12), generator=g) for _ in range(steps)]
    for k, x in enumerate(batches):
        if k == resume_at:
            buf = io.BytesIO()
            torch.save(
                {"model": model.state_dict(), "opt": opt.state_dict(), "rw": rwr.state_dict()}, buf
            )
            buf.seek(0)
            state = torch.load(buf, weights_only=True)
            model, opt, rwr = fresh()
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            rwr.load_state_dict(state["rw"])
            assert rwr.stats is not None and rwr.stats.step == k - 1
        labels = x.clone()
        labels[k % 6, 7:] = -100
        losses, counts = per_sample_loss(model(x), labels, return_counts=True)
        loss, _ = rwr(losses, counts=counts)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, rwr


@pytest.mark.parametrize("resume_at", [1, 4])  # inside the burn-in, after the warm-up
def test_checkpoint_resume_is_bit_identical(resume_at):
    ref, rwr_ref = _run(7)
    got, rwr_got = _run(7, resume_at)
    assert rwr_got.step == rwr_ref.step == 7 and rwr_got.stats == rwr_ref.stats
    for (name, a), (_, b) in zip(ref.state_dict().items(), got.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_load_state_dict_refuses_another_configuration():
    state = SampleReweighter("linupper", rw.warmup_schedule(0.4, 5)).state_dict()
    with pytest.raises(ValueError, match=r"configuration differs in \['schedule'\]"):
        SampleReweighter("linupper", rw.warmup_schedule(0.4, 6)).load_state_dict(state)
    with pytest.raises(ValueError, match=r"differs in \['burn_in_steps', 'strategy'\]"):
        SampleReweighter(kl_capped(), rw.warmup_schedule(0.4, 5), burn_in_steps=3).load_state_dict(
            state
        )
    with pytest.raises(ValueError, match="state must be a dict"):
        SampleReweighter().load_state_dict([1])


def test_optimizer_step_scoring_fetches_the_losses_checks_in_its_one_read():
    # losses with autograd history passed to score(): their deferred value check is read
    # with the step's weights (one read), and raises there -- before any training pass
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 6, 11, generator=g, requires_grad=True)
    labels = torch.randint(0, 11, (3, 6), generator=g)
    bad = labels.clone()
    bad[1, 3] = 11
    reweighter = SampleReweighter("linupper", 0.4, weights_over="optimizer_step")
    reweighter.score(per_sample_loss(logits, bad))  # no error yet
    with pytest.raises(
        ValueError,
        match=r"labels must be token ids in \[0, 11\) or "
        r"ignore_index \(-100\), got 11 at sample 1",
    ):
        reweighter(per_sample_loss(logits, labels))
    good = SampleReweighter("linupper", 0.4, weights_over="optimizer_step")
    good.score(per_sample_loss(logits, labels))
    with count_host_syncs() as syncs:
        loss, w = good(per_sample_loss(logits, labels, check=False))
    assert syncs.calls == {"tolist": 1} and good.step == 1
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-6)
