"""Host synchronisations and torch.compile: the reweighting core reads nothing back to the
host with ``check=False`` and traces as one graph (``fullgraph=True``); the chunked loss does
not recompile when the padding changes; statistics cost one read, and only when read.

The compile tests use the ``aot_eager`` backend: whether a function traces without graph
breaks (``fullgraph``) and when it recompiles are decided by dynamo's tracing and guards,
which every backend shares; inductor's C++ code generation would add ~1 min per graph on
this machine without testing anything more about them."""

import pytest
import torch
from torch._dynamo.utils import counters

from rwtheory.lm import SampleReweighter, per_sample_loss, per_sample_loss_from_hidden
from rwtheory.lm.accumulation import accumulate_gradients
from rwtheory.lm.reweight import reweighted_loss
from rwtheory.lm.syncs import count_host_syncs


def _case(b=4, t=16, d=8, v=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, t, d, generator=g, requires_grad=True)
    weight = torch.randn(v, d, generator=g, requires_grad=True)
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[1] = -100  # a sample without scored tokens
    return hidden, weight, labels


@pytest.mark.parametrize("strategy", ["linupper", "extremes", "dro_kl", "uniform"])
def test_core_and_losses_do_no_host_sync_with_check_false(strategy):
    hidden, weight, labels = _case()
    with count_host_syncs() as syncs:
        losses = per_sample_loss_from_hidden(hidden, weight, labels, chunk_size=7, check=False)
        loss, w = reweighted_loss(losses, strategy, 0.4, check=False)
        loss.backward()
        logits_losses = per_sample_loss(
            torch.nn.functional.linear(hidden, weight), labels, check=False
        )
        reweighted_loss(logits_losses, strategy, 0.4, check=False)
    assert syncs.calls == {}
    with count_host_syncs() as syncs:  # the checks: the loss's and the core's in one read
        checked, _ = reweighted_loss(
            per_sample_loss_from_hidden(hidden, weight, labels), strategy, 0.4
        )
        checked.backward()  # the loss's check was read: its hook reads nothing
    assert syncs.calls == {"tolist": 1}
    assert w[1] == 0 and abs(float(w.sum()) - 1) < 1e-6


def test_sync_counter_sees_the_reads_it_claims():
    x = torch.tensor([1.0, 2.0])
    with count_host_syncs() as syncs:
        x.sum().item()
        bool(x.any())
        float(x[0])
        x[x > 1]
        x.nonzero()
    assert syncs.calls == {
        "item": 1,
        "__bool__": 1,
        "__float__": 1,
        "bool-mask indexing": 1,
        "nonzero": 1,
    }


def test_statistics_are_lazy_one_read_over_the_whole_step():
    hidden, weight, labels = _case()
    reweighter = SampleReweighter("linupper", 0.4, check=False)
    with count_host_syncs() as syncs:
        for _ in range(3):  # 3 micro-batches of step 5
            reweighter(per_sample_loss_from_hidden(hidden, weight, labels, check=False), step=5)
    assert syncs.total == 0
    with count_host_syncs() as syncs:
        s = reweighter.stats
        assert reweighter.stats is s  # cached: read once
    assert syncs.calls == {"tolist": 1}
    assert s.step == 5 and s.micro_batches == 3 and s.n == 9  # 3 x 3 valid samples
    # effective weights: each call's weights / 3, so the step's weights sum to 1
    assert s.rho == pytest.approx(9 * s.max_weight) and s.max_weight < 1 / 3
    # check=True: one read per call brings the checks and the statistics; reading them is free
    checked = SampleReweighter("linupper", 0.4)
    losses = per_sample_loss_from_hidden(hidden, weight, labels, check=False)
    with count_host_syncs() as syncs:
        checked(losses, step=5)
        checked(losses, step=5)
        assert syncs.calls == {"tolist": 2}
        t = checked.stats
    assert syncs.calls == {"tolist": 2}
    assert t.n == 6 and t.micro_batches == 2
    assert t.max_weight == pytest.approx(s.max_weight * 3 / 2, rel=1e-6)  # w / 2, not w / 3


def test_a_default_step_with_its_statistics_logged_reads_the_host_once():
    # per_sample_loss and the reweighter at their defaults (check=True), forward, backward,
    # stats read: the loss's value check, the global batch's check and the statistics share
    # one tolist (the target: <= 1 per step when the statistics are logged)
    hidden, weight, labels = _case()
    reweighter, stats = SampleReweighter("linupper", 0.4), {}
    for path in ("hidden", "logits"):
        with count_host_syncs() as syncs:
            if path == "hidden":
                losses = per_sample_loss_from_hidden(hidden, weight, labels, chunk_size=7)
            else:
                losses = per_sample_loss(torch.nn.functional.linear(hidden, weight), labels)
            loss, _ = reweighter(losses)
            loss.backward()
            stats[path] = reweighter.stats
        assert syncs.calls == {"tolist": 1}, path
        assert stats[path].n == 3 and stats[path].step == reweighter.step - 1
    ref = SampleReweighter("linupper", 0.4, check=False)
    ref(per_sample_loss_from_hidden(hidden, weight, labels, chunk_size=7, check=False))
    assert ref.stats == stats["hidden"]  # the same numbers, read lazily


def test_core_compiles_fullgraph():
    torch._dynamo.reset()

    def core(losses):
        return reweighted_loss(losses, "linupper", 0.4, check=False)

    compiled = torch.compile(core, fullgraph=True, backend="aot_eager")
    losses = torch.tensor([2.5, float("nan"), 0.3, 4.0, 1.1], requires_grad=True)
    loss, w = compiled(losses)
    ref_loss, ref_w = core(losses)
    assert torch.equal(w, ref_w) and w[1] == 0
    (grad,) = torch.autograd.grad(loss, losses)
    assert torch.equal(grad, torch.where(torch.isnan(losses), 0.0, ref_w))
    # a host read inside would break the graph: the checked path cannot compile fullgraph
    with pytest.raises(Exception, match="(?i)graph break|unsupported|tolist|data-dependent"):
        torch.compile(
            lambda x: reweighted_loss(x, "linupper", 0.4, check=True),
            fullgraph=True,
            backend="aot_eager",
        )(losses)


def test_chunked_loss_does_not_recompile_when_the_padding_changes():
    torch._dynamo.reset()
    counters.clear()
    hidden, weight, _ = _case()

    def loss_fn(h, w, y):
        losses = per_sample_loss_from_hidden(h, w, y, chunk_size=16, check=False)
        return reweighted_loss(losses, "linupper", 0.4, check=False)[0]

    compiled = torch.compile(loss_fn, backend="aot_eager")
    g = torch.Generator().manual_seed(1)
    for k in range(6):  # 6 padding patterns
        labels = torch.randint(0, 50, (4, 16), generator=g)
        labels[:, 16 - 2 * k :] = -100
        labels[k % 4, :] = -100 if k else labels[k % 4, :]
        got = compiled(hidden, weight, labels)
        torch.testing.assert_close(got, loss_fn(hidden, weight, labels), rtol=1e-6, atol=0)
    assert counters["frames"]["ok"] == 1  # compiled once, never again
    assert counters["stats"]["unique_graphs"] == 1
    assert sum(counters["graph_break"].values()) == 0


def test_accumulation_micro_batch_mode_equals_the_mean_of_micro_batch_objectives():
    hidden, weight, labels = _case(b=6)
    batches = [(hidden[:3], labels[:3]), (hidden[3:], labels[3:])]

    def fn(batch):
        return per_sample_loss_from_hidden(batch[0], weight, batch[1])

    reweighter = SampleReweighter("extremes", 0.5)
    total = accumulate_gradients(fn, batches, reweighter)
    got = weight.grad.clone()
    weight.grad = None
    ref = sum(reweighted_loss(fn(b), "extremes", 0.5)[0] for b in batches) / 2
    ref.backward()
    torch.testing.assert_close(got, weight.grad, rtol=1e-6, atol=1e-7)
    assert float(total) == pytest.approx(float(ref.detach()), rel=1e-6)
    assert reweighter.step == 1 and reweighter.stats.micro_batches == 2
    with pytest.raises(RuntimeError, match="score\\(\\) is for weights_over='optimizer_step'"):
        reweighter.score(fn(batches[0]))
    step = SampleReweighter(weights_over="optimizer_step")
    with pytest.raises(RuntimeError, match="call score\\(\\) on every micro-batch"):
        step(fn(batches[0]))
    with pytest.raises(ValueError, match="weights_over must be one of"):
        SampleReweighter(weights_over="step")


def test_reweighter_inside_fullgraph_compiles_once_over_20_steps_of_a_schedule():
    """The step, the warm-up schedule (r = 100 until step 6, then 0.4) and the burn-in
    (uniform until step 3) change during the run; the compiled step must not recompile
    after its first call and must equal eager to float32 rounding."""
    import rwtheory as rw

    torch._dynamo.reset()
    counters.clear()
    schedule = rw.warmup_schedule(0.4, warmup_steps=6)
    mine = SampleReweighter("linupper", schedule, check=False, burn_in_steps=3)
    eager = SampleReweighter("linupper", schedule, check=False, burn_in_steps=3)
    g = torch.Generator().manual_seed(4)
    weight = torch.randn(5, 3, generator=g, requires_grad=True)

    def step(reweighter, x, empty):
        losses = (x @ weight.t()).pow(2).mean(dim=1)  # 4 per-sample losses with history
        return reweighter(torch.where(empty, torch.nan, losses))  # NaN: no scored token

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    for k in range(20):
        x = torch.randn(4, 3, generator=g)
        empty = torch.arange(4) == (k % 4 if k % 5 == 0 else -1)
        loss, w = compiled(mine, x, empty)
        (grad,) = torch.autograd.grad(loss, weight)
        ref_loss, ref_w = step(eager, x, empty)
        (ref_grad,) = torch.autograd.grad(ref_loss, weight)
        torch.testing.assert_close(w, ref_w, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-6)
        assert mine.step == eager.step == k + 1
        s, t = mine.stats, eager.stats
        assert (s.step, s.temperature, s.burn_in, s.n) == (t.step, t.temperature, t.burn_in, t.n)
    assert counters["stats"]["unique_graphs"] == 1  # compiled on the first step only
    assert sum(counters["graph_break"].values()) == 0
    assert mine.stats.temperature == 0.4 and not mine.stats.burn_in


@pytest.mark.slow
def test_inductor_compiles_the_chunked_loss_and_the_core_to_eager_values_and_gradients():
    """The default backend once, end to end (the other compile tests use ``aot_eager``, see
    the module docstring): inductor generates and compiles C++ for the chunked loss and the
    reweighting core in one fullgraph region; the objective and both gradients equal eager's
    to float32 rounding of reordered sums: a difference of at most 1e-5 of the tensor's
    largest entry (inductor fuses and reorders the reductions, so an entry near zero may
    differ relatively more). Skipped where no C++ compiler is."""
    import shutil

    if not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("no C++ compiler: inductor cannot generate CPU code here")
    torch._dynamo.reset()
    hidden, weight, labels = _case()

    def loss_fn(h, w, y):
        losses = per_sample_loss_from_hidden(h, w, y, chunk_size=7, check=False)
        return reweighted_loss(losses, "linupper", 0.4, check=False)[0]

    compiled = torch.compile(loss_fn, fullgraph=True)  # backend: inductor (the default)
    got = compiled(hidden, weight, labels)
    want = loss_fn(hidden, weight, labels)
    grads = torch.autograd.grad(got, (hidden, weight))
    wanted = torch.autograd.grad(want, (hidden, weight))
    for g, w in zip((got, *grads), (want, *wanted), strict=True):
        assert float((g - w).abs().max()) <= 1e-5 * float(w.abs().max())
