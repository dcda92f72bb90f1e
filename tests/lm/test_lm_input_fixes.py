"""Regression tests of the LM path's bad-input fixes found by the campaign's Part 4
(``benchmarks/bad_input_surface.py``, issue 22): one test per fix, each with the input the
campaign found and the exact error (or the now-correct result) it must give."""

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rwtheory as rw
from rwtheory.lm import (
    SampleReweighter,
    gather_losses,
    kl_capped,
    per_sample_loss,
    per_sample_loss_from_hidden,
    reweighted_loss,
)
from rwtheory.lm.accumulation import accumulate_gradients
from rwtheory.lm.packing import document_slots, packed_mean, target_slots
from rwtheory.lm.stats import ReweightStats, stats_from_dict

LOSSES = torch.tensor([2.0, 0.5, 3.0, 1.0])


def _batch(seed=0, b=2, t=5, d=3, v=7):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, t, d, generator=g)
    weight = torch.randn(v, d, generator=g)
    return hidden, weight, torch.randint(0, v, (b, t), generator=g)


# ----------------------------------------------------------------- the loss functions
def test_numpy_bools_are_bools_and_tensors_are_not():
    hidden, weight, labels = _batch()
    logits = F.linear(hidden, weight)
    want = per_sample_loss(logits, labels, shift=True, return_counts=True)
    got = per_sample_loss(logits, labels, shift=np.True_, check=np.True_, return_counts=np.True_)
    assert isinstance(got, tuple) and torch.equal(got[0], want[0])
    chunked = per_sample_loss_from_hidden(hidden, weight, labels, check=np.False_)
    torch.testing.assert_close(chunked, want[0])
    assert torch.equal(reweighted_loss(LOSSES, check=np.False_)[1], reweighted_loss(LOSSES)[1])
    assert SampleReweighter(check=np.False_).check is False
    new = torch.tensor([[True, False]])
    assert target_slots(torch.zeros(1, 2, dtype=torch.long), new, np.True_)[1].tolist() == [
        [True, False]
    ]
    with pytest.raises(TypeError, match=r"check must be a bool \(True or False\), got tensor"):
        per_sample_loss(logits, labels, check=torch.tensor(True))


def test_an_ignore_index_beyond_int64_is_named():
    hidden, weight, labels = _batch()
    with pytest.raises(
        ValueError, match=r"ignore_index must be an integer in -9223372036854775808"
    ):
        per_sample_loss(F.linear(hidden, weight), labels, ignore_index=2**70)


def test_hidden_states_of_width_zero_are_named():
    hidden, weight, labels = _batch()
    with pytest.raises(ValueError, match=r"hidden must have a last dimension d >= 1"):
        per_sample_loss_from_hidden(hidden[..., :0], weight[:, :0], labels)


@pytest.mark.parametrize("where", ["weight", "bias"])
def test_a_non_finite_weight_or_bias_is_named_by_the_chunked_path(where):
    hidden, weight, labels = _batch()
    bias = torch.zeros(weight.shape[0])
    (weight if where == "weight" else bias)[labels[0, 1]] = math.nan
    with pytest.raises(
        ValueError, match=rf"hidden, weight and bias gave a non-finite loss .*{where}"
    ):
        per_sample_loss_from_hidden(hidden, weight, labels, bias)


def test_max_documents_beyond_the_row_length_is_named_before_any_allocation():
    hidden, weight, labels = _batch(t=5)
    ids = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 0, 0]])
    for bad in (6, 10**12):
        with pytest.raises(
            ValueError, match=rf"max_documents must be an integer in 1\.\.5, got {bad}"
        ):
            per_sample_loss(F.linear(hidden, weight), labels, document_ids=ids, max_documents=bad)
    out = per_sample_loss(F.linear(hidden, weight), labels, document_ids=ids, max_documents=5)
    assert out.shape == (10,)  # B * D


# ----------------------------------------------------------------- the packing helpers
def test_packing_helpers_check_their_arguments():
    labels = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="position_ids or document_ids must be given"):
        document_slots(labels, None, None, None)
    with pytest.raises(TypeError, match="labels must be a torch.Tensor, got ndarray"):
        document_slots(labels.numpy(), labels, None, None)
    slots, new, _ = document_slots(labels, None, torch.tensor([[1, 1, 2], [3, 3, 3]]), None)
    with pytest.raises(TypeError, match=r"shift must be a bool \(True or False\), got 1"):
        target_slots(slots, new, 1)
    with pytest.raises(TypeError, match="new must be a bool tensor, got torch.int64"):
        target_slots(slots, new.long(), True)
    with pytest.raises(ValueError, match=r"new must have the shape of slots \(2, 3\)"):
        target_slots(slots, new[:, :2], True)
    nll, mask = torch.ones(6), torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(TypeError, match="mask must be a bool tensor, got torch.float32"):
        packed_mean(nll, mask.float(), slots, 2)
    with pytest.raises(ValueError, match=r"token_nll must hold one loss per position, 6"):
        packed_mean(nll[:5], mask, slots, 2)
    with pytest.raises(ValueError, match=r"d must be an integer in 1\.\.3, got 4"):
        packed_mean(nll, mask, slots, 4)


def test_packed_mean_drops_and_flags_a_negative_slot_and_takes_int32_slots():
    nll = torch.tensor([1.0, 2.0, 3.0, 4.0])
    mask = torch.ones(1, 4, dtype=torch.bool)
    slots = torch.tensor([[0, -1, 1, 1]], dtype=torch.int32)
    means, counts, over = packed_mean(nll, mask, slots, 2)
    assert means.tolist() == [1.0, 3.5] and counts.tolist() == [1, 2]
    assert over.tolist() == [[False, True, False, False]]


# ----------------------------------------------------------------- strategies and weights
def score_bool(losses):
    return losses > 1


def score_nan(losses):
    return losses * math.nan


def score_wide(losses):
    return losses.double() * 1e300


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (score_bool, r"strategy .*score_bool .* must return real numbers, got dtype torch.bool"),
        (score_nan, r"strategy .*score_nan .* must return finite numbers, got nan at index 0"),
        (lambda l: l.numpy(), r"strategy .*<lambda> .* must return a torch tensor like its input"),
        (lambda l: l * (1 + 0j), r"must return real numbers, got dtype torch.complex64"),
    ],
)
def test_a_callable_strategys_bad_scores_name_the_callable(fn, message):
    with pytest.raises((TypeError, ValueError), match=message):
        reweighted_loss(LOSSES, fn, 1.0)


def test_finite_float64_scores_beyond_float32_are_used():
    loss, w = reweighted_loss(LOSSES, score_wide, 0.5)
    assert w.tolist() == [0.0, 0.0, 1.0, 0.0] and float(loss) == 3.0


def test_kl_capped_keeps_a_python_rho_so_checkpoints_load_with_weights_only():
    for rho in (np.float64(3.0), torch.tensor(3.0), 3):
        assert type(kl_capped(rho).rho) is float
    rew = SampleReweighter(kl_capped(np.float64(3.0)))
    rew(LOSSES)
    buf = io.BytesIO()
    torch.save(rew.state_dict(), buf)
    buf.seek(0)
    fresh = SampleReweighter(kl_capped(3.0))
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert fresh.step == 1


# ----------------------------------------------------------------- process groups, max_local
@pytest.mark.parametrize("group", ["world", 3])
def test_a_group_that_is_no_process_group_is_named(group):
    with pytest.raises(
        TypeError, match="group must be None .* or a torch.distributed ProcessGroup"
    ):
        gather_losses(LOSSES, group)
    with pytest.raises(TypeError, match="group must be None"):
        reweighted_loss(LOSSES, group=group)
    with pytest.raises(TypeError, match="group must be None"):
        SampleReweighter(group=group)


def test_max_local_batch_below_the_local_batch_is_named_in_one_process_too():
    with pytest.raises(
        ValueError, match=r"max_local_batch must be >= this rank's local batch \(4\)"
    ):
        reweighted_loss(LOSSES, max_local_batch=2)
    with pytest.raises(ValueError, match=r"max_local_batch must be an integer >= 1, got 0"):
        reweighted_loss(LOSSES, max_local_batch=0)
    rew = SampleReweighter(max_local_batch=3)
    with pytest.raises(ValueError, match=r"max_local_batch must be >= this rank's local batch"):
        rew(LOSSES)
    assert rew.step == 0
    step = SampleReweighter(weights_over="optimizer_step", max_local_batch=5)
    step.score(LOSSES)
    step.score(LOSSES[:2])  # the step's 6 samples are gathered together
    with pytest.raises(
        ValueError, match=r"max_local_batch must be >= this rank's local batch \(6\)"
    ):
        step(LOSSES)
    assert step.step == 0


def test_tensors_without_dense_data_are_named():
    with pytest.raises(TypeError, match="local must be a dense"):
        gather_losses(LOSSES.to_sparse())
    with pytest.raises(TypeError, match="local must hold data"):
        gather_losses(torch.empty(3, device="meta"))
    with pytest.raises(TypeError, match="valid must be a dense"):
        reweighted_loss(LOSSES, valid=torch.ones(4, dtype=torch.bool).to_sparse())
    with pytest.raises(TypeError, match="counts must be a dense"):
        SampleReweighter(token_weighting="rank")(LOSSES, counts=torch.ones(4).long().to_sparse())
    for bad in (torch.ones(4, dtype=torch.complex64), torch.ones(4).long().to_sparse()):
        with pytest.raises(TypeError, match="domain_ids must"):
            SampleReweighter()(LOSSES, domain_ids=bad)


# ----------------------------------------------------------------- schedules
def failing_schedule(k):
    raise ZeroDivisionError("no temperature")


def test_a_failing_schedule_is_named_at_construction_and_at_its_step():
    with pytest.raises(
        ValueError,
        match=r"the schedule .*failing_schedule must map step 0 .* "
        r"it raised ZeroDivisionError: no temperature",
    ):
        SampleReweighter("linupper", failing_schedule)
    rew = SampleReweighter("linupper", lambda k: 0.5 if k == 0 else 1 / (k - 1))
    rew(LOSSES)
    with pytest.raises(ValueError, match="must map step 1 to a finite number > 0"):
        rew(LOSSES)
    assert rew.step == 1
    with pytest.raises(ValueError, match="step must be an integer >= 0, got -1"):
        rew.temperature(-1)
    late = SampleReweighter("linupper", lambda k: 0.5 if k < 3 else -1.0)
    with pytest.raises(ValueError, match=r"temperature at step 4 must be a finite number > 0"):
        late(LOSSES, step=4)
    assert late.step == 0  # a call that raises leaves the step as it was
    with pytest.raises(ValueError, match=r"max_local_batch must be >= this rank's local batch"):
        SampleReweighter(max_local_batch=2)(LOSSES, step=2)


# ----------------------------------------------------------------- the optimizer step
def test_optimizer_step_domain_ids_reach_the_statistics():
    rew = SampleReweighter(weights_over="optimizer_step")
    rew.score(LOSSES)
    rew.score(LOSSES[:2])
    _, w1 = rew(LOSSES, domain_ids=torch.tensor([0, 1, 0, 1]))
    _, w2 = rew(LOSSES[:2], domain_ids=torch.tensor([1, 1]))
    w = torch.cat([w1, w2]).double()
    share = rew.stats.domain_share
    assert share[0] == pytest.approx(float(w[[0, 2]].sum()), rel=1e-12)
    assert share[1] == pytest.approx(float(w[[1, 3, 4, 5]].sum()), rel=1e-12)


def test_optimizer_step_domain_ids_for_some_training_passes_only_give_no_shares():
    """As in micro-batch mode (shares when every call of the step gave domain ids), the
    shares of a step whose training passes gave ids for a part of its batch only are None,
    not the shares of that part read as the step's."""
    for first, second in ((torch.tensor([0, 1, 0, 1]), None), (None, torch.tensor([1, 1]))):
        rew = SampleReweighter(weights_over="optimizer_step")
        rew.score(LOSSES)
        rew.score(LOSSES[:2])
        rew(LOSSES, domain_ids=first)
        rew(LOSSES[:2], domain_ids=second)
        assert rew.step == 1 and rew.stats.domain_share is None


def test_optimizer_step_failing_training_pass_changes_nothing():
    rew = SampleReweighter(weights_over="optimizer_step")
    rew.score(LOSSES + math.inf)  # caught when the step's weights are computed
    with pytest.raises(ValueError, match="per_sample_losses must be finite or NaN"):
        rew(LOSSES, step=7)
    assert rew.step == 0
    with pytest.raises(ValueError, match=r"per_sample_losses must have the shape of the scored"):
        rew(LOSSES[:3])
    rew.discard_step()
    rew.score(LOSSES)
    loss, _ = rew(LOSSES)
    assert rew.step == 1 and math.isfinite(float(loss))
    rew.score(LOSSES[:2])  # the next step starts from its own micro-batches only
    _, w = rew(LOSSES[:2])
    fresh = SampleReweighter(weights_over="optimizer_step")
    fresh.score(LOSSES[:2])
    assert torch.equal(w, fresh(LOSSES[:2])[1]) and rew.step == 2


# ----------------------------------------------------------------- accumulate_gradients
def test_accumulate_gradients_checks_its_arguments_and_outputs_and_restores_the_reweighter():
    theta = torch.nn.Parameter(torch.tensor([0.5, -1.0]))
    x = [torch.randn(3, 2, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    rew = SampleReweighter(weights_over="optimizer_step")
    cases = [
        (3, x, None, TypeError, "per_sample_losses must be a callable"),
        (lambda b: b @ theta, 3, None, TypeError, "micro_batches must be a sequence"),
        (lambda b: b @ theta, x, 3, TypeError, "ddp_model must be None or a Distributed"),
        (lambda b: (b @ theta, None, 1), x, None, ValueError, "must return losses or .* of 3"),
        (lambda b: (b @ theta).tolist(), x, None, TypeError, "must return a torch.Tensor"),
        (lambda b: (b @ theta).detach(), x, None, ValueError, "with autograd history"),
    ]
    for fn, batches, ddp, err, message in cases:
        with pytest.raises(err, match=message):
            accumulate_gradients(fn, batches, rew, ddp_model=ddp)
        assert rew.step == 0 and theta.grad is None
        rew.state_dict()  # between steps: nothing scored or pending is left
    accumulate_gradients(lambda b: (b @ theta) ** 2, x, rew)
    assert rew.step == 1 and theta.grad is not None


# ----------------------------------------------------------------- statistics, checkpoints
def _state():
    """A checkpoint of a step with negative losses (any real losses are weighed)."""
    rew = SampleReweighter("linupper", 0.4, token_weighting="global")
    losses, counts = torch.tensor([-2.0, -0.5, 1.0]), torch.tensor([3, 1, 2])
    rew(losses, counts=counts, domain_ids=torch.tensor([0, 1, 1]))
    return rew.state_dict()


def test_stats_built_by_hand_are_checked():
    good = _state()["stats"]
    assert ReweightStats(**good).as_dict() == good
    for key, value, message in [
        ("burn_in", "no", r"ReweightStats.burn_in must be a bool"),
        ("n", -1, r"ReweightStats.n must be an integer >= 0"),
        ("max_weight", -0.5, r"ReweightStats.max_weight must be >= 0"),
        ("domain_share", [0.5], r"ReweightStats.domain_share must be None or a dict"),
        ("skipped", 2, r"ReweightStats.skipped must be <= micro_batches \(1\)"),
        ("temperature", 0.0, r"ReweightStats.temperature must be a finite number > 0"),
    ]:
        with pytest.raises((TypeError, ValueError), match=message):
            ReweightStats(**{**good, key: value})
    stats = ReweightStats(**{**good, "max_weight": math.nan, "n": np.int64(3)})  # check=False
    assert math.isnan(stats.max_weight) and type(stats.n) is int
    with pytest.raises(TypeError, match="prefix must be a string, got int"):
        stats.log_dict(3)


def test_checkpoints_with_numpy_numbers_and_negative_losses_load():
    state = _state()
    stats = state["stats"]
    assert stats["token_loss_mean"] == pytest.approx(-0.75)  # (-6 - 0.5 + 2) / 6
    numpy = {
        k: np.float64(v) if type(v) is float else np.int64(v) if type(v) is int else v
        for k, v in stats.items()
    }
    fresh = SampleReweighter("linupper", 0.4, token_weighting="global")
    fresh.load_state_dict({**state, "stats": numpy})
    assert fresh.stats.as_dict() == stats and type(fresh.stats.n) is int


def test_a_domain_share_above_one_by_rounding_loads_and_contradictions_do_not():
    stats = _state()["stats"]
    # a share of 1.00000003 (one domain, float32 weights summed in float64: seen by the
    # campaign) is rounding, not a contradiction
    shares = {0: 0.0, 1: 1.0 + 3e-8}
    assert stats_from_dict({**stats, "domain_share": shares}).domain_share == shares
    for edit, message in [
        ({"rho": stats["rho"] * 2}, r"\['rho'\] must be n \* max_weight"),
        ({"histogram": [4] + [0] * 8}, r"\['histogram'\] must count the n = 3 weighted samples"),
        ({"skipped": 2}, r"\['skipped'\] must be <= micro_batches \(1\)"),
        ({"domain_share": {0: 0.8, 1: 0.7}}, r"\['domain_share'\] must sum to at most 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            stats_from_dict({**stats, **edit})
    with pytest.raises(TypeError, match="where must be a string"):
        stats_from_dict(stats, 3)


def test_rw_names_stay_flat():
    assert rw.lm.SampleReweighter is SampleReweighter


def test_an_infinite_loss_is_named_before_the_callable_strategy_it_made_fail():
    losses = torch.tensor([math.nan, -math.inf, 7.5])
    for check in (True, False):
        with pytest.raises(
            ValueError, match=r"per_sample_losses must be finite or NaN .* got -inf at index 1"
        ):
            reweighted_loss(losses, lambda l: l, 1.0, check=check)
    # an infinite loss at a sample left out (valid=False) weighs 0, like padding
    loss, w = reweighted_loss(losses, lambda l: l, 1.0, valid=torch.tensor([True, False, True]))
    assert w.tolist() == [0.0, 0.0, 1.0] and float(loss) == 7.5


def test_accumulate_gradients_names_a_function_without_counts_under_token_weighting():
    theta = torch.nn.Parameter(torch.tensor([0.5, -1.0]))
    x = [torch.randn(3, 2, generator=torch.Generator().manual_seed(i)) for i in range(2)]

    def losses_only(batch):
        return (batch @ theta) ** 2

    for over in ("micro_batch", "optimizer_step"):
        rew = SampleReweighter(weights_over=over, token_weighting="rank")
        with pytest.raises(
            ValueError,
            match=r"per_sample_losses \(.*losses_only\) must return \(losses, counts\) with the "
            r"reweighter's token_weighting='rank'",
        ):
            accumulate_gradients(losses_only, x, rew)
        assert rew.step == 0 and theta.grad is None
