"""The authors' exact objective over 1, 2 and 4 gloo ranks: SampleReweighter with
``token_weighting="rank"`` and ``burn_in_steps`` against their training step's formula written
out by hand (reference code ``src/trainer.py``: share of the rank's scored tokens, world size
times local batch size, no reweighting during the burn-in), on padded batches; plus the
rank-count-invariant ``"global"`` mode and ``kl_capped`` through the cross-rank gather."""

import datetime
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import rwtheory as rw
from rwtheory.lm import SampleReweighter, kl_capped, per_sample_loss
from rwtheory.lm.model import ByteTransformer

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(300)]

TOTAL, SEQ, R = 8, 12, 0.4


def _model():
    torch.manual_seed(0)
    return ByteTransformer(d_model=16, n_layers=1, n_heads=2, max_len=SEQ)


def _global_batch():
    g = torch.Generator().manual_seed(11)
    x = torch.randint(0, 256, (TOTAL, SEQ), generator=g)
    labels = x.clone()
    for i, length in enumerate((12, 4, 9, 3, 12, 6, 10, 5)):  # right padding
        labels[i, length:] = -100
    return x, labels


def _authors_loss(losses, counts, step: int, burn_in: int):
    """Their training step, transcribed (weights in float64): len_norms = share of the
    rank's scored tokens; burn-in: sum(len_norms * losses); then weights of the all-gathered
    losses (normalise, LinUpper, exp((f - max f)/r), normalise) and
    sum(w * len_norms * losses) * W * B."""
    world = dist.get_world_size()
    len_norms = counts / counts.sum()
    if step < burn_in:
        return torch.sum(len_norms * losses)
    bufs = [torch.zeros_like(losses) for _ in range(world)]  # their fallback branch
    dist.all_gather(bufs, losses.detach())
    gathered = torch.stack(bufs, dim=0)
    with torch.no_grad():
        # in float64: their float32 form 2l/den - (lmax + lmin)/den cancels (~1e-5 relative
        # at these spreads); the formula, not its rounding, is what is compared
        gathered = gathered.double()
        lmin, lmax = gathered.min().item(), gathered.max().item()
        den = max(lmax - lmin, 1e-6)
        h = 2.0 * gathered.view(-1) / den - (lmax + lmin) / den
        f = torch.minimum(h + 1.0, torch.ones_like(h))
        g = torch.exp((f - f.max().item()) / R)
        weights = g / g.sum()
        device_weights = weights.view(world, -1)[dist.get_rank(), :]
    return torch.sum(device_weights * len_norms * losses) * world * len(device_weights)


def _worker(rank: int, world: int, init_file: str, out_dir: str):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )
    try:
        x, labels = _global_batch()
        per = TOTAL // world
        sl = slice(rank * per, (rank + 1) * per)
        model = _model()
        params = list(model.parameters())
        ours = SampleReweighter("linupper", R, burn_in_steps=1, token_weighting="rank")
        glob = SampleReweighter("linupper", R, burn_in_steps=1, token_weighting="global")
        capped = SampleReweighter(kl_capped(2.0), R)
        out = {"steps": []}
        for step in range(2):
            losses, counts = per_sample_loss(model(x[sl]), labels[sl], return_counts=True)
            mine, _ = ours(losses, counts=counts)
            theirs = _authors_loss(losses, counts, step, burn_in=1)
            g_mine = torch.autograd.grad(mine, params, retain_graph=True)
            g_theirs = torch.autograd.grad(theirs, params, retain_graph=True)
            loss_glob, _ = glob(losses, counts=counts)
            _, w_capped = capped(losses, counts=counts)
            out["steps"].append(
                {
                    "mine": mine.detach(),
                    "theirs": theirs.detach(),
                    "grad_gap": max(
                        float((a - b).abs().max()) for a, b in zip(g_mine, g_theirs, strict=True)
                    ),
                    "grad_scale": max(float(b.abs().max()) for b in g_theirs),
                    "global": loss_glob.detach(),
                    "local_losses": losses.detach(),
                    "counts": counts,
                    "w_capped": w_capped,
                    "rho_capped": capped.stats.rho,
                }
            )
        torch.save(out, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _float32_weight_error(parts, step: int) -> float:
    """Bound on the relative error of our float32 weights against their float64 ones (the
    reference computes its weights in float64): the normalisation l~ = (l - mid) / half in
    float32 errs by up to ~4 eps |l|max / half (rounding of mid, of the difference and of
    half), LinUpper passes it on, and exp(f / r) / sum turns an absolute error e of f into a
    relative error of at most 2 e / r per weight -- so 8 eps |l|max / (half r) for the
    objective and the gradients. At these losses (l ~ 5.6, spread ~0.14) it is ~2e-4; an
    error of the formula (token shares, world size, burn-in) is of order 1."""
    losses = torch.cat([p["steps"][step]["local_losses"] for p in parts]).double()
    half = float(losses.max() - losses.min()) / 2
    eps = torch.finfo(torch.float32).eps
    return 8 * eps * float(losses.abs().max()) / (half * R)


@pytest.fixture(scope="module", params=[1, 2, 4])
def ranks(request, tmp_path_factory):
    world = request.param
    tmp = tmp_path_factory.mktemp(f"world{world}")
    mp.spawn(_worker, args=(world, str(tmp / "init"), str(tmp)), nprocs=world, join=True)
    return world, [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(world)]


def test_token_weighting_rank_is_the_authors_objective(ranks):
    world, parts = ranks
    for step in range(2):  # step 0: burn-in (no reweighting); step 1: LinUpper at r = 0.4
        tol = 1e-6 if step == 0 else _float32_weight_error(parts, step)
        for r in range(world):
            s = parts[r]["steps"][step]
            assert float(s["mine"]) == pytest.approx(float(s["theirs"]), rel=tol, abs=0)
            assert s["grad_gap"] <= tol * s["grad_scale"], (world, step, r, s["grad_gap"], tol)
            assert s["grad_scale"] > 1e-3
    # the two steps differ (the burn-in really is another objective)
    assert abs(float(parts[0]["steps"][0]["mine"]) - float(parts[0]["steps"][1]["mine"])) > 1e-4


def test_token_weighting_global_and_kl_capped_do_not_depend_on_the_rank_count(ranks):
    world, parts = ranks
    for step in range(2):
        s = [parts[r]["steps"][step] for r in range(world)]
        losses = torch.cat([p["local_losses"] for p in s])
        counts = torch.cat([p["counts"] for p in s])
        # the data-parallel average of the ranks' losses is the single-process objective
        avg = sum(float(p["global"]) for p in s) / world
        single = SampleReweighter("linupper", R, burn_in_steps=1, token_weighting="global")
        ref, _ = single(losses, counts=counts, step=step)
        assert avg == pytest.approx(float(ref), rel=1e-6)
        if step == 0:  # burn-in + global share: the global token mean
            assert avg == pytest.approx(float((counts * losses).sum() / counts.sum()), rel=1e-6)
        # Proposition 1's weights through the gather equal the single-process ones
        w = torch.cat([p["w_capped"] for p in s])
        gaps = rw.normalize_losses(losses.float()) + 1
        assert torch.equal(w, rw.kl_capped_weights(gaps, R, 2.0))
        assert all(p["rho_capped"] <= 2.0 * (1 + 1e-6) for p in s)
