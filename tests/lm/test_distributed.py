"""Real data-parallel runs: two processes on the gloo backend (CPU).

* DDP: each rank's weights equal the single-process weights on the concatenated batch, and
  the averaged parameter gradients the single-process reweighted gradients -- for unequal
  local batch sizes, a sample without a scored token, a rank whose whole local batch is
  padding (the job continues), the chunked loss, and ``weights_over="optimizer_step"`` under
  gradient accumulation;
* FSDP2 (``fully_shard``): the reweighted gradients equal DDP's;
* a global batch without any scored token: every rank raises the same error, none hangs (the
  case runs last in the workers: a rank stuck in a collective would fail them at the group's
  120 s timeout, within the module's 300 s test timeout)."""

import datetime
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import rwtheory as rw
from rwtheory.lm import (
    SampleReweighter,
    per_sample_loss,
    per_sample_loss_from_hidden,
    reweighted_loss,
)
from rwtheory.lm.accumulation import accumulate_gradients
from rwtheory.lm.model import ByteTransformer

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(300)]

WORLD = 2
SEQ = 12
#: (local batch sizes per rank, strategy, temperature, loss path, the last rank all padding)
CASES = [
    ((4, 4), "linupper", 0.4, "logits", False),
    ((3, 5), "extremes", 1.0, "logits", False),
    ((1, 6), "dro_kl", 1.0, "logits", False),
    ((3, 3), "linupper", 0.4, "logits", True),
    ((2, 4), "quadratic", 1.0, "chunked", True),
]
# the equality of masked weights with the weights of the valid subset: 2 float32 ulps (the
# masked reductions keep the zeros of the invalid entries in place)
ULPS = 2.4e-7


def _model():
    torch.manual_seed(0)
    return ByteTransformer(d_model=16, n_layers=1, n_heads=2, max_len=SEQ)


def _global_batch(sizes, case: int, last_rank_padding: bool):
    g = torch.Generator().manual_seed(100 + case)
    x = torch.randint(0, 256, (sum(sizes), SEQ), generator=g)
    labels = x.clone()
    labels[-1, 1:] = -100  # the last sample (on the last rank) has no scored token
    labels[0, 8:] = -100  # right padding
    if last_rank_padding:
        labels[sum(sizes[:-1]) :] = -100
    return x, labels


def _losses(net, x, labels, path):
    if path == "chunked":
        core = net.module if hasattr(net, "module") else net
        return per_sample_loss_from_hidden(
            net(x, return_hidden=True), core.output_weight, labels, chunk_size=5
        )
    return per_sample_loss(net(x), labels)


def _init(rank, init_file, seconds):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=WORLD,
        timeout=datetime.timedelta(seconds=seconds),
    )


def _ddp_cases(rank):
    results = []
    for case, (sizes, strategy, temperature, path, pad) in enumerate(CASES):
        x, labels = _global_batch(sizes, case, pad)
        start = sum(sizes[:rank])
        sl = slice(start, start + sizes[rank])
        model = torch.nn.parallel.DistributedDataParallel(_model())
        losses = _losses(model, x[sl], labels[sl], path)
        reweighter = SampleReweighter(strategy, temperature)
        loss, w = reweighter(losses)  # no valid= : NaN marks the empty samples
        loss.backward()
        _, w2 = reweighted_loss(losses, strategy, temperature)
        results.append(
            {
                "weights": w,
                "weights_fn": w2,
                "local_losses": losses.detach(),
                "loss": loss.detach(),
                "stats": reweighter.stats,
                "grads": {n: p.grad.clone() for n, p in model.module.named_parameters()},
            }
        )
    return results


def _fsdp2_grads(rank):
    """Case 0 under FSDP2 (fully_shard on every block and the root): full gradients."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    sizes, strategy, temperature, path, pad = CASES[3]  # with a rank of padding
    x, labels = _global_batch(sizes, 3, pad)
    start = sum(sizes[:rank])
    sl = slice(start, start + sizes[rank])
    mesh = init_device_mesh("cpu", (WORLD,))
    model = _model()
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    loss, _ = SampleReweighter(strategy, temperature)(per_sample_loss(model(x[sl]), labels[sl]))
    loss.backward()
    return {n: p.grad.full_tensor().clone() for n, p in model.named_parameters()}


def _step_batch():
    """The global batch of the optimizer-step cases: 2 ranks x 2 micro-batches of 3; rank 1's
    second micro-batch (rows 9..11) is all padding."""
    x, labels = _global_batch((6, 6), 9, False)
    labels[9:12] = -100
    return x, labels


def _micro_batches(rank):
    """Rank ``rank``'s two micro-batches of :func:`_step_batch`."""
    x, labels = _step_batch()
    rows = [slice(rank * 6 + k, rank * 6 + k + 3) for k in (0, 3)]
    return [(x[r], labels[r]) for r in rows]


def _accumulated_grads(rank):
    """weights_over='optimizer_step': 2 micro-batches of 3 per rank; last one padding."""
    mine = _micro_batches(rank)
    model = torch.nn.parallel.DistributedDataParallel(_model())
    reweighter = SampleReweighter("linupper", 0.4, weights_over="optimizer_step")
    accumulate_gradients(
        lambda b: per_sample_loss(model(b[0]), b[1]), mine, reweighter, ddp_model=model
    )
    return {n: p.grad.clone() for n, p in model.module.named_parameters()}, reweighter.stats


def _accumulated_token_grads(rank):
    """weights_over='optimizer_step' with global token weighting: 2 micro-batches of 3 per
    rank (the counts come from the loss), the same global batch as :func:`_accumulated_grads`."""
    mine = _micro_batches(rank)
    model = torch.nn.parallel.DistributedDataParallel(_model())
    reweighter = SampleReweighter(
        "linupper", 0.4, weights_over="optimizer_step", token_weighting="global"
    )
    accumulate_gradients(
        lambda b: per_sample_loss(model(b[0]), b[1], return_counts=True),
        mine,
        reweighter,
        ddp_model=model,
    )
    return {n: p.grad.clone() for n, p in model.module.named_parameters()}


def _all_padding(rank) -> str:
    """Every rank's batch is padding: no local raise; the reweighting raises on every rank."""
    model = torch.nn.parallel.DistributedDataParallel(_model())
    x = torch.randint(0, 256, (3, SEQ))
    losses = per_sample_loss(model(x), torch.full_like(x, -100))
    try:
        SampleReweighter("linupper", 0.4)(losses)
    except ValueError as exc:
        return str(exc)
    return "no error"


# ----------------------------------------------------------------- compiled, packed, skipped
PACKED_D, PACKED_V, PACKED_T = 6, 31, 10
#: per rank: rows of packed documents (lengths); rank 1 has a row with a padding tail
PACKED_ROWS = [[[4, 3, 3], [6, 4]], [[2, 5, 3], [7], [3, 3]]]


def _packed_documents():
    g = torch.Generator().manual_seed(21)
    return [
        [
            [
                (
                    torch.randn(n, PACKED_D, generator=g),
                    torch.randint(0, PACKED_V, (n,), generator=g),
                )
                for n in row
            ]
            for row in rows
        ]
        for rows in PACKED_ROWS
    ]


def _pack(rows):
    """Rows of PACKED_T positions, documents end to end and a padding tail; the boundaries
    both as position_ids resets and as document_ids (-1 on the tail)."""
    hidden = torch.zeros(len(rows), PACKED_T, PACKED_D)
    labels = torch.full((len(rows), PACKED_T), -100)
    pos = torch.zeros(len(rows), PACKED_T, dtype=torch.long)
    doc_ids = torch.full((len(rows), PACKED_T), -1)
    for b, docs in enumerate(rows):
        t = 0
        for j, (h, y) in enumerate(docs):
            n = len(y)
            hidden[b, t : t + n], labels[b, t : t + n], pos[b, t : t + n] = h, y, torch.arange(n)
            doc_ids[b, t : t + n] = j
            t += n
        pos[b, t:] = torch.arange(PACKED_T - t)
    return hidden, labels, {"position_ids": pos, "document_ids": doc_ids}


class _PackedHead(torch.nn.Module):
    """A projection and an output matrix: ``forward(h, return_hidden=True)`` gives the hidden
    states for the chunked loss, which reads ``output_weight`` itself (as a model's head)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.proj = torch.nn.Linear(PACKED_D, PACKED_D, bias=False)
        self.output_weight = torch.nn.Parameter(0.5 * torch.randn(PACKED_V, PACKED_D))

    def forward(self, hidden, return_hidden=False):
        h = self.proj(hidden)
        return h if return_hidden else torch.nn.functional.linear(h, self.output_weight)


#: the packed cases on two ranks: the boundaries' form x the loss path
PACKED_CASES = [(i, p) for i in ("position_ids", "document_ids") for p in ("logits", "chunked")]


def _packed_grads(rank):
    """Packed rows on each rank (per-document losses, 4 slots per row), DDP, token-weighted,
    for every case of :data:`PACKED_CASES`."""
    hidden, labels, bounds = _pack(_packed_documents()[rank])
    out = {}
    for ids, path in PACKED_CASES:
        model = torch.nn.parallel.DistributedDataParallel(_PackedHead())
        extra = {ids: bounds[ids], "max_documents": 4, "return_counts": True}
        if path == "logits":
            losses, counts = per_sample_loss(model(hidden), labels, **extra)
        else:
            h = model(hidden, return_hidden=True)
            losses, counts = per_sample_loss_from_hidden(
                h, model.module.output_weight, labels, chunk_size=7, **extra
            )
        reweighter = SampleReweighter("linupper", 0.4, token_weighting="global")
        loss, w = reweighter(losses, counts=counts)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.module.named_parameters()}
        out[ids, path] = {"weights": w, "grads": grads, "n": reweighter.stats.n}
    return out


def _compiled_fullgraph(rank):
    """The reweighter in a fullgraph-compiled step on 2 ranks (local batches 3 and 4, declared
    maximum 4): graph breaks, host reads in the captured graphs, and the weights of eager."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(str(gm.graph))
        return gm.forward

    torch.manual_seed(0)
    weight = torch.randn(5, 3, requires_grad=True)
    mine = SampleReweighter("linupper", 0.4, check=False, max_local_batch=4)
    eager = SampleReweighter("linupper", 0.4, check=False)

    def step(reweighter, x):
        return reweighter((x @ weight.t()).pow(2).mean(dim=1))

    compiled = torch.compile(step, fullgraph=True, backend=backend)
    out = []
    for k in range(3):
        g = torch.Generator().manual_seed(10 * k + rank)
        x = torch.randn(3 + rank, 3, generator=g)
        loss, w = compiled(mine, x)
        ref_loss, ref_w = step(eager, x)
        out.append((w.detach(), ref_w, float(loss), float(ref_loss)))
    return {
        "steps": out,
        "graph_breaks": sum(counters["graph_break"].values()),
        "unique_graphs": counters["stats"]["unique_graphs"],
        "host_reads": sum(  # a read inside the graph would be one of these nodes
            g.count(op)
            for g in graphs
            for op in ("target=item]", "target=tolist]", "_local_scalar_dense")
        ),
        "stats_n": mine.stats.n,
    }


def _skipped(rank):
    """A global batch of padding with empty_batch='skip': loss 0, zero gradients, counted."""
    model = torch.nn.parallel.DistributedDataParallel(_model())
    x = torch.randint(0, 256, (2 + rank, SEQ))
    reweighter = SampleReweighter("linupper", 0.4, empty_batch="skip")
    loss, _ = reweighter(per_sample_loss(model(x), torch.full_like(x, -100)))
    loss.backward()
    grads = max(float(p.grad.abs().max()) for p in model.parameters())
    return {"loss": float(loss), "grads": grads, "skipped": reweighter.stats.skipped}


def _worker(rank: int, init_file: str, out_dir: str):
    _init(rank, init_file, 120)
    try:
        out = {
            "ddp": _ddp_cases(rank),
            "fsdp2": _fsdp2_grads(rank),
            "accumulated": _accumulated_grads(rank),
            "accumulated_tokens": _accumulated_token_grads(rank),
            "packed": _packed_grads(rank),
            "compiled": _compiled_fullgraph(rank),
            "skipped": _skipped(rank),
            "all_padding": _all_padding(rank),
        }
        torch.save(out, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _reference(case: int):
    """Single process, whole batch: weights on the valid samples' float32 losses."""
    sizes, strategy, temperature, path, pad = CASES[case]
    x, labels = _global_batch(sizes, case, pad)
    model = _model()
    losses = _losses(model, x, labels, path)
    valid = ~torch.isnan(losses)
    lv = losses.detach().float()[valid]
    wv = (
        rw.dro_kl_weights(lv, temperature)
        if strategy == "dro_kl"
        else rw.sample_weights(lv, strategy, temperature)
    )
    w = torch.zeros(len(losses))
    w[valid] = wv
    loss = (w[valid] * losses[valid]).sum()
    loss.backward()
    return w, {n: p.grad for n, p in model.named_parameters()}, valid, float(loss.detach())


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(tmp / "init"), str(tmp)), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def _worst(grads, ref):
    assert grads.keys() == ref.keys()
    return max(float((grads[n] - ref[n]).abs().max()) for n in grads)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_ranks_weights_equal_single_process_weights(ranks, case):
    sizes, strategy, temperature, _, pad = CASES[case]
    parts = [ranks[r]["ddp"][case] for r in range(WORLD)]
    assert [len(p["weights"]) for p in parts] == list(sizes)
    # the single-process weights on the concatenation of the ranks' valid losses
    cat = torch.cat([p["local_losses"] for p in parts]).float()
    valid = ~torch.isnan(cat)
    w_cat = torch.zeros(len(cat))
    w_cat[valid] = (
        rw.dro_kl_weights(cat[valid], temperature)
        if strategy == "dro_kl"
        else rw.sample_weights(cat[valid], strategy, temperature)
    )
    got = torch.cat([p["weights"] for p in parts])
    torch.testing.assert_close(got, w_cat, rtol=ULPS, atol=0)
    assert torch.equal(got, torch.cat([p["weights_fn"] for p in parts]))
    assert torch.equal(got[~valid], torch.zeros(int((~valid).sum())))
    assert abs(float(got.sum()) - 1) < 1e-6
    if pad:  # the whole last rank: weight 0, loss 0
        assert int(valid[-sizes[-1] :].sum()) == 0 and float(parts[-1]["loss"]) == 0.0
    # and, to float32 rounding of the model's forward, the whole-batch single-process ones
    w_ref, _, valid_ref, _ = _reference(case)
    assert torch.equal(valid, valid_ref)
    assert float((got - w_ref).abs().max()) <= 1e-6
    # every rank reports the same global statistics
    assert parts[0]["stats"] == parts[1]["stats"]
    assert parts[0]["stats"].n == int(valid.sum())


@pytest.mark.parametrize("case", range(len(CASES)))
def test_ddp_gradients_equal_single_process_reweighted_gradients(ranks, case):
    _, grads_ref, _, ref_loss = _reference(case)
    for r in range(WORLD):
        worst = _worst(ranks[r]["ddp"][case]["grads"], grads_ref)
        assert worst <= 1e-6, f"rank {r}: max |grad difference| {worst:.2e}"
    # the gradients are not trivially small (the comparison could fail)
    assert max(float(g.abs().max()) for g in grads_ref.values()) > 1e-3
    # the ranks' losses average to the single-process reweighted loss
    total = sum(float(ranks[r]["ddp"][case]["loss"]) for r in range(WORLD)) / WORLD
    assert abs(total - ref_loss) <= 1e-5


def test_fsdp2_gradients_equal_ddp_gradients(ranks):
    for r in range(WORLD):
        worst = _worst(ranks[r]["fsdp2"], ranks[r]["ddp"][3]["grads"])
        assert worst <= 1e-6, f"rank {r}: FSDP2 vs DDP max |grad difference| {worst:.2e}"


def test_optimizer_step_weights_over_every_micro_batch_of_every_rank(ranks):
    x, labels = _step_batch()
    model = _model()
    losses = per_sample_loss(model(x), labels)
    valid = ~torch.isnan(losses)
    w = rw.sample_weights(losses.detach().float()[valid], "linupper", 0.4)
    (w * losses[valid]).sum().backward()
    ref = {n: p.grad for n, p in model.named_parameters()}
    for r in range(WORLD):
        grads, stats = ranks[r]["accumulated"]
        assert _worst(grads, ref) <= 1e-6
        assert stats.n == 9 and stats.micro_batches == 1
        assert stats.max_weight == pytest.approx(float(w.max()), rel=1e-6)


def test_optimizer_step_with_global_token_weighting_equals_one_big_batch(ranks):
    """2 ranks x 2 micro-batches, weights and token shares over the whole step, equal the
    same samples as one batch in one process (the one-process form of this check is in
    tests/lm/test_reweighter_inputs.py)."""
    x, labels = _step_batch()
    model = _model()
    losses, counts = per_sample_loss(model(x), labels, return_counts=True)
    loss, _ = SampleReweighter("linupper", 0.4, token_weighting="global")(losses, counts=counts)
    loss.backward()
    ref = {n: p.grad for n, p in model.named_parameters()}
    for r in range(WORLD):
        assert _worst(ranks[r]["accumulated_tokens"], ref) <= 1e-6


# ----------------------------------------------------------------- a global batch of padding
def test_all_ranks_padding_raises_the_same_error_everywhere_without_hanging(ranks):
    # run last in each worker (after every collective of the other cases): had one rank
    # raised before the gather, the other would have waited in it until the group's
    # 120 s timeout and the workers (and this module's 300 s test timeout) would have failed
    messages = [ranks[r]["all_padding"] for r in range(WORLD)]
    assert messages[0] == messages[1]
    assert messages[0].startswith(
        "per_sample_losses: no sample of the global batch (all "
        "data-parallel ranks together) has a scored token"
    )


# ----------------------------------------------------------------- compiled, packed, skipped
@pytest.mark.parametrize("ids, path", PACKED_CASES)
def test_packed_documents_on_two_ranks_equal_unpacked_single_process(ranks, ids, path):
    """Per-document weights and DDP gradients of packed rows on 2 ranks (boundaries from
    position_ids or document_ids; the logits or the chunked loss) equal those of the same
    documents unpacked and padded, one per row, in one process."""
    docs = [d for rows in _packed_documents() for row in rows for d in row]
    n = max(len(y) for _, y in docs)
    hidden = torch.zeros(len(docs), n, PACKED_D)
    labels = torch.full((len(docs), n), -100)
    for i, (h, y) in enumerate(docs):
        hidden[i, : len(y)], labels[i, : len(y)] = h, y
    head = _PackedHead()
    losses, counts = per_sample_loss(head(hidden), labels, return_counts=True)
    reweighter = SampleReweighter("linupper", 0.4, token_weighting="global")
    loss, w = reweighter(losses, counts=counts)
    loss.backward()
    got = torch.cat([ranks[r]["packed"][ids, path]["weights"] for r in range(WORLD)])
    slots = [
        b * 4 + j
        for b, row in enumerate([row for rows in PACKED_ROWS for row in rows])
        for j in range(len(row))
    ]
    torch.testing.assert_close(got[slots], w, rtol=1e-6, atol=1e-7)
    assert float(got.sum()) == pytest.approx(1.0, abs=1e-6)
    for r in range(WORLD):
        case = ranks[r]["packed"][ids, path]
        for name, p in head.named_parameters():
            worst = float((case["grads"][name] - p.grad).abs().max())
            assert worst <= 1e-6, f"rank {r}, {name}: {worst:.2e}"
        assert case["n"] == len(docs)


def test_reweighter_compiles_fullgraph_on_two_ranks_without_host_reads(ranks):
    for r in range(WORLD):
        c = ranks[r]["compiled"]
        assert c["graph_breaks"] == 0 and c["unique_graphs"] == 1 and c["host_reads"] == 0
        for w, ref_w, loss, ref_loss in c["steps"]:
            torch.testing.assert_close(w, ref_w, rtol=1e-6, atol=1e-7)
            assert loss == pytest.approx(ref_loss, rel=1e-6)
        assert c["stats_n"] == 7  # the padding rows of the declared maximum carry no weight


def test_empty_global_batch_skipped_on_every_rank(ranks):
    for r in range(WORLD):
        assert ranks[r]["skipped"] == {"loss": 0.0, "grads": 0.0, "skipped": 1}
