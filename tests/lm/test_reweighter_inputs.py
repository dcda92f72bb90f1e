"""SampleReweighter: bad inputs (counts, checkpoints, gather) refused by name before any
state changes; empty global batches skipped on request; the optimizer-step token weighting
equal to one big batch; the step's objective and unweighted token-mean loss in the stats."""

import math
import re

import numpy as np
import pytest
import torch

import rwtheory as rw
from rwtheory.lm import SampleReweighter, gather_losses, per_sample_loss, reweighted_loss
from rwtheory.lm.accumulation import accumulate_gradients
from rwtheory.lm.model import ByteTransformer

LOSSES = torch.tensor([2.5, 0.3, 4.0, 1.1, 3.3, 0.9])
COUNTS = torch.tensor([4, 1, 7, 3, 2, 5])


# ----------------------------------------------------------------- counts
@pytest.mark.parametrize("check", [True, False])
def test_bool_counts_are_refused(check):
    with pytest.raises(TypeError, match=r"counts must be an integer torch.Tensor .*torch.bool"):
        SampleReweighter(token_weighting="rank", check=check)(LOSSES, counts=COUNTS > 2)


def test_negative_counts_are_refused_in_the_calls_one_read():
    bad = COUNTS.clone()
    bad[3] = -4
    for mode in ("rank", "global", None):
        reweighter = SampleReweighter(token_weighting=mode)
        with pytest.raises(
            ValueError, match=r"counts must be scored-token counts >= 0, got -4 at sample 3"
        ):
            reweighter(LOSSES, counts=bad)
        assert reweighter.step == 0 and reweighter.stats is None  # nothing recorded


def test_counts_of_another_shape_or_device_are_refused():
    with pytest.raises(ValueError, match=r"counts must have the shape of per_sample_losses \(6,\)"):
        SampleReweighter(token_weighting="global")(LOSSES, counts=COUNTS[:5])
    with pytest.raises(TypeError, match="counts must be an integer torch.Tensor"):
        SampleReweighter(token_weighting="global")(LOSSES, counts=COUNTS.tolist())


# ----------------------------------------------------------------- checkpoints
def _state():
    reweighter = SampleReweighter("linupper", 0.4)
    reweighter(LOSSES)
    return reweighter.state_dict()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.update(config="x"), r"state\['config'\] must be a dict from config\(\)"),
        (lambda s: s.update(step=-1), r"state\['step'\] must be an integer >= 0, got -1"),
        (lambda s: s.update(step=True), r"state\['step'\] must be an integer >= 0, got True"),
        (lambda s: s.update(extra=1), r"state has unknown keys \['extra'\]"),
        (lambda s: s.update(stats="x"), r"state\['stats'\] must be a dict"),
        (
            lambda s: s["stats"].update(rho="high"),
            r"state\['stats'\]\['rho'\] must be a finite number >= 0, got 'high'",
        ),
        (
            lambda s: s["stats"].update(rho=math.nan),
            r"state\['stats'\]\['rho'\] must be a finite number >= 0, got nan",
        ),
        (
            lambda s: s["stats"].update(n=-4),
            r"state\['stats'\]\['n'\] must be an integer >= 0, got -4",
        ),
        (
            lambda s: s["stats"].update(max_weight=1.5),
            r"state\['stats'\]\['max_weight'\] must be a number in \[0, 1\]",
        ),
        (
            lambda s: s["stats"].update(temperature=0.0),
            r"state\['stats'\]\['temperature'\] must be a finite number > 0",
        ),
        (
            lambda s: s["stats"].update(histogram=[1, 2]),
            r"state\['stats'\]\['histogram'\] must be a list of 9 counts",
        ),
        (
            lambda s: s["stats"].update(burn_in="no"),
            r"state\['stats'\]\['burn_in'\] must be a bool",
        ),
        (lambda s: s["stats"].update(color=1), r"state\['stats'\] has unknown keys \['color'\]"),
        (lambda s: s["stats"].pop("entropy"), r"state\['stats'\] must have the key 'entropy'"),
        (
            lambda s: s["config"].update(strategy="uniform"),
            r"state\['config'\]: the checkpoint's configuration differs in \['strategy'\]",
        ),
    ],
)
def test_load_state_dict_names_the_bad_key_and_changes_nothing(edit, message):
    state = _state()
    edit(state)
    reweighter = SampleReweighter("linupper", 0.4)
    reweighter(LOSSES[:3])
    before = (reweighter.step, reweighter.stats)
    with pytest.raises(ValueError, match=message):
        reweighter.load_state_dict(state)
    assert (reweighter.step, reweighter.stats) == before


def test_a_good_checkpoint_round_trips_and_old_ones_load():
    state = _state()
    fresh = SampleReweighter("linupper", 0.4)
    fresh.load_state_dict(state)
    assert fresh.step == 1 and fresh.stats.as_dict() == state["stats"]
    old = {
        k: v
        for k, v in state["stats"].items()
        if k not in ("skipped", "objective", "token_loss_mean")
    }
    fresh.load_state_dict({**state, "stats": old})  # written before those fields existed
    assert fresh.stats.skipped == 0 and fresh.stats.token_loss_mean is None


# ----------------------------------------------------------------- gather, repr, failed calls
@pytest.mark.parametrize("bad", [np.ones(3), [1.0, 2.0], None, 3.0])
def test_gather_losses_names_its_argument(bad):
    with pytest.raises(TypeError, match=r"local must be a torch.Tensor"):
        gather_losses(bad)
    with pytest.raises(ValueError, match=r"max_local must be >= this rank's local batch \(6\)"):
        gather_losses(LOSSES, max_local=3)


def test_a_failing_call_changes_nothing_and_repr_still_works():
    schedule = rw.warmup_schedule(0.4, 3)
    reweighter = SampleReweighter("linupper", lambda k: schedule(k) if k < 10 else -1.0)
    reweighter(LOSSES)
    with pytest.raises(TypeError, match="per_sample_losses must be a torch.Tensor"):
        reweighter([1.0, 2.0], step=50)  # a bad call with a step where the schedule fails
    assert reweighter.step == 1
    assert repr(reweighter) == "SampleReweighter(strategy='linupper', step=1, temperature=100)"
    reweighter.step = 50  # the schedule fails here: repr says so instead of raising
    assert re.search(r"the schedule fails at step 50: \w*ValueError", repr(reweighter))
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        reweighter(LOSSES, step=-1)
    assert reweighter.step == 50


# ----------------------------------------------------------------- empty global batches
def test_empty_batch_skip_gives_zero_loss_and_gradient_and_is_counted():
    torch.manual_seed(0)
    model = ByteTransformer(d_model=16, n_layers=1, n_heads=2, max_len=8)
    x = torch.randint(0, 256, (3, 8))
    padding = torch.full_like(x, -100)
    skip_hint = r"no sample of the global batch .* \(empty_batch='skip' skips"
    with pytest.raises(ValueError, match=skip_hint):
        SampleReweighter()(per_sample_loss(model(x), padding))
    reweighter = SampleReweighter("linupper", 0.4, empty_batch="skip")
    loss, w = reweighter(per_sample_loss(model(x), padding))
    loss.backward()
    assert float(loss) == 0.0 and float(w.abs().sum()) == 0.0
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and float(g.abs().max()) == 0.0 for g in grads)
    s = reweighter.stats
    assert s.skipped == 1 and s.n == 0 and math.isnan(s.loss_mean) and s.objective == 0.0
    # within an accumulated step: one skipped micro-batch of two, the other trains
    reweighter(per_sample_loss(model(x), padding), step=5)
    reweighter(per_sample_loss(model(x), x), step=5)
    assert reweighter.stats.skipped == 1 and reweighter.stats.micro_batches == 2
    assert reweighter.stats.n == 3
    loss, _ = reweighted_loss(per_sample_loss(model(x), padding), empty_batch="skip")
    assert float(loss) == 0.0
    with pytest.raises(ValueError, match=r"empty_batch must be one of \['raise', 'skip'\]"):
        SampleReweighter(empty_batch="ignore")


# ----------------------------------------------------------------- token weighting, step
def _model_and_batches(k=3, b=4, t=10, seed=0):
    torch.manual_seed(seed)
    model = ByteTransformer(d_model=16, n_layers=1, n_heads=2, max_len=t)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randint(0, 256, (k * b, t), generator=g)
    labels = x.clone()
    for i in range(k * b):
        labels[i, 2 + (3 * i) % (t - 2) :] = -100  # unequal scored tokens
    labels[1] = -100  # a sample without a scored token: n (valid) < B (all samples)
    return model, [(x[j * b : (j + 1) * b], labels[j * b : (j + 1) * b]) for j in range(k)]


@pytest.mark.parametrize("mode", ["rank", "global"])
def test_optimizer_step_token_weighting_equals_one_big_batch(mode):
    grads, losses = [], []
    for accumulate in (True, False):
        model, batches = _model_and_batches()

        def fn(batch, model=model):
            return per_sample_loss(model(batch[0]), batch[1], return_counts=True)

        if accumulate:
            reweighter = SampleReweighter(
                "linupper", 0.4, weights_over="optimizer_step", token_weighting=mode
            )
            total = accumulate_gradients(fn, batches, reweighter)
        else:
            big = (torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
            reweighter = SampleReweighter("linupper", 0.4, token_weighting=mode)
            l, c = fn(big)
            total, _ = reweighter(l, counts=c)
            total.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        losses.append((float(total), reweighter.stats))
    worst = max(float((a - b).abs().max()) for a, b in zip(*grads, strict=True))
    assert worst <= 1e-6
    assert max(float(g.abs().max()) for g in grads[1]) > 1e-3
    assert losses[0][0] == pytest.approx(losses[1][0], rel=1e-6)
    assert losses[0][1].objective == pytest.approx(losses[1][1].objective, rel=1e-6)


@pytest.mark.parametrize("given", [(True, False), (False, True)])
def test_optimizer_step_counts_for_some_micro_batches_only_are_refused(given):
    """Counts feed the step's token statistics: given to some scoring calls of a step and
    not to others, the step cannot be weighted consistently (before: a TypeError from inside
    torch.cat, or the later counts silently dropped)."""
    reweighter = SampleReweighter("linupper", 0.4, weights_over="optimizer_step")
    halves = (LOSSES[:3], LOSSES[3:]), (COUNTS[:3], COUNTS[3:])
    for losses, counts, with_counts in zip(*halves, given, strict=True):
        reweighter.score(losses, counts=counts if with_counts else None)
    with pytest.raises(
        ValueError, match=r"counts must be given to every score\(\) call .* 1 of its 2"
    ):
        reweighter(LOSSES[:3])
    assert reweighter.step == 0


def test_uniform_global_token_weighting_is_the_exact_token_mean():
    model, batches = _model_and_batches(k=1)
    x, labels = batches[0]
    losses, counts = per_sample_loss(model(x), labels, return_counts=True)
    reweighter = SampleReweighter("uniform", 1.0, token_weighting="global")
    loss, _ = reweighter(losses, counts=counts)
    # the token mean as transformers' ForCausalLMLoss computes it
    logits = model(x)
    ref = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    assert float(loss) == pytest.approx(float(ref), rel=1e-6)
    s = reweighter.stats
    assert s.token_loss_mean == pytest.approx(float(ref), rel=1e-6)
    assert s.objective == pytest.approx(float(loss), rel=1e-6)


def test_stats_carry_the_objective_and_the_token_mean_loss():
    reweighter = SampleReweighter("linupper", 0.4, token_weighting="rank")
    loss, w = reweighter(LOSSES, counts=COUNTS)
    s = reweighter.stats
    assert s.objective == pytest.approx(float(loss), rel=1e-6)
    tm = float((LOSSES * COUNTS).sum() / COUNTS.sum())
    assert s.token_loss_mean == pytest.approx(tm, rel=1e-6)
    assert s.log_dict()["rw_token_loss_mean"] == pytest.approx(tm, rel=1e-6)
    assert s.log_dict()["rw_objective"] == pytest.approx(float(loss), rel=1e-6)
    plain = SampleReweighter("linupper", 0.4)
    loss2, w2 = plain(LOSSES)
    assert (
        plain.stats.token_loss_mean is None and "rw_token_loss_mean" not in plain.stats.log_dict()
    )
    assert plain.stats.objective == pytest.approx(float((w2 * LOSSES).sum()), rel=1e-6)
