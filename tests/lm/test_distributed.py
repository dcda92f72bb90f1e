"""A real data-parallel run: two processes on the gloo backend (CPU), the model wrapped in
DistributedDataParallel. Each rank's weights must equal the single-process weights on the
concatenated batch, and the averaged parameter gradients the single-process reweighted
gradients, also for unequal local batch sizes and with a sample that has no scored token."""

import datetime
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import rwtheory as rw
from rwtheory.lm import SampleReweighter, per_sample_loss, reweighted_loss
from rwtheory.lm.model import ByteTransformer

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(240)]

WORLD = 2
SEQ = 12
#: (local batch sizes per rank, strategy, temperature)
CASES = [((4, 4), "linupper", 0.4), ((3, 5), "extremes", 1.0), ((1, 6), "dro_kl", 1.0)]


def _model():
    torch.manual_seed(0)
    return ByteTransformer(d_model=16, n_layers=1, n_heads=2, max_len=SEQ)


def _global_batch(total: int, case: int):
    g = torch.Generator().manual_seed(100 + case)
    x = torch.randint(0, 256, (total, SEQ), generator=g)
    labels = x.clone()
    labels[-1, 1:] = -100          # the last sample (on the last rank) has no scored token
    labels[0, 8:] = -100           # right padding
    return x, labels


def _worker(rank: int, init_file: str, out_dir: str):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=WORLD, timeout=datetime.timedelta(seconds=120))
    try:
        results = []
        for case, (sizes, strategy, temperature) in enumerate(CASES):
            x, labels = _global_batch(sum(sizes), case)
            start = sum(sizes[:rank])
            sl = slice(start, start + sizes[rank])
            model = torch.nn.parallel.DistributedDataParallel(_model())
            losses, counts = per_sample_loss(model(x[sl]), labels[sl], return_counts=True)
            reweighter = SampleReweighter(strategy, temperature)
            loss, w = reweighter(losses, valid=counts > 0)
            loss.backward()
            # the stateless function gives the same weights
            _, w2 = reweighted_loss(losses, strategy, temperature, valid=counts > 0)
            results.append({
                "weights": w, "weights_fn": w2, "local_losses": losses.detach(),
                "valid": counts > 0, "loss": loss.detach(), "stats": reweighter.stats,
                "grads": {n: p.grad.clone() for n, p in model.module.named_parameters()},
            })
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _reference(case: int, sizes, strategy, temperature):
    """Single process, whole batch: weights on the valid samples' float32 losses."""
    x, labels = _global_batch(sum(sizes), case)
    model = _model()
    losses, counts = per_sample_loss(model(x), labels, return_counts=True)
    valid = counts > 0
    lv = losses.detach().float()[valid]
    wv = (rw.dro_kl_weights(lv, temperature) if strategy == "dro_kl"
          else rw.sample_weights(lv, strategy, temperature))
    w = torch.zeros(len(losses))
    w[valid] = wv
    (w * losses).sum().backward()
    return w, {n: p.grad for n, p in model.named_parameters()}, valid


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(tmp / "init"), str(tmp)), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_ranks_weights_equal_single_process_weights(ranks, case):
    sizes, strategy, temperature = CASES[case]
    parts = [ranks[r][case] for r in range(WORLD)]
    assert [len(p["weights"]) for p in parts] == list(sizes)
    # exactly the single-process weights on the concatenation of the ranks' losses
    cat = torch.cat([p["local_losses"] for p in parts]).float()
    valid = torch.cat([p["valid"] for p in parts])
    w_cat = torch.zeros(len(cat))
    w_cat[valid] = (rw.dro_kl_weights(cat[valid], temperature) if strategy == "dro_kl"
                    else rw.sample_weights(cat[valid], strategy, temperature))
    got = torch.cat([p["weights"] for p in parts])
    assert torch.equal(got, w_cat)
    assert torch.equal(got, torch.cat([p["weights_fn"] for p in parts]))
    assert got[-1] == 0 and abs(float(got.sum()) - 1) < 1e-6
    # and, to float32 rounding of the model's forward, the whole-batch single-process ones
    w_ref, _, valid_ref = _reference(case, sizes, strategy, temperature)
    assert torch.equal(valid, valid_ref)
    assert float((got - w_ref).abs().max()) <= 1e-6
    # every rank reports the same global statistics
    assert parts[0]["stats"] == parts[1]["stats"]
    assert parts[0]["stats"].n == sum(sizes) - 1


@pytest.mark.parametrize("case", range(len(CASES)))
def test_ddp_gradients_equal_single_process_reweighted_gradients(ranks, case):
    sizes, strategy, temperature = CASES[case]
    _, grads_ref, _ = _reference(case, sizes, strategy, temperature)
    for r in range(WORLD):
        grads = ranks[r][case]["grads"]
        assert grads.keys() == grads_ref.keys()
        worst = max(float((grads[n] - grads_ref[n]).abs().max()) for n in grads)
        assert worst <= 1e-6, f"rank {r}: max |grad difference| {worst:.2e}"
    # the gradients are not trivially small (the comparison could fail)
    assert max(float(g.abs().max()) for g in grads_ref.values()) > 1e-3
    # the ranks' losses average to the single-process reweighted loss
    total = sum(float(ranks[r][case]["loss"]) for r in range(WORLD)) / WORLD
    x, labels = _global_batch(sum(sizes), case)
    w_ref, _, _ = _reference(case, sizes, strategy, temperature)
    with torch.no_grad():
        ref_loss = float((w_ref * per_sample_loss(_model()(x), labels)).sum())
    assert abs(total - ref_loss) <= 1e-5
