"""Packed sequences: a packed batch (several documents per row, boundaries from position_ids
resets or document ids) gives the same per-document losses, weights and gradients as the
same documents unpacked into padded rows; compiled, the number of documents per row may
change without a recompile (the multi-rank case is in test_distributed.py)."""

import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.utils import counters

from rwtheory.lm import (
    SampleReweighter,
    per_sample_loss,
    per_sample_loss_from_hidden,
    reweighted_loss,
)

V, D_MODEL = 29, 6
#: documents per packed row (lengths); padding tails are 0-length "documents" of -100
ROWS = [[5, 3, 4], [7, 2], [2, 2, 2, 3]]
T = 12


def _documents(seed=0):
    g = torch.Generator().manual_seed(seed)
    docs = []
    for lengths in ROWS:
        for n in lengths:
            docs.append(
                (
                    torch.randn(n, D_MODEL, generator=g, dtype=torch.float64),
                    torch.randint(0, V, (n,), generator=g),
                )
            )
    return docs


def _packed(docs, ids="position_ids"):
    """Rows of T positions: the documents end to end, the tail padded (labels -100); the
    first label of each document is kept (our boundary rule must not score it)."""
    hidden = torch.zeros(len(ROWS), T, D_MODEL, dtype=torch.float64)
    labels = torch.full((len(ROWS), T), -100)
    pos = torch.zeros(len(ROWS), T, dtype=torch.long)
    doc_ids = torch.zeros(len(ROWS), T, dtype=torch.long)
    k = 0
    for b, lengths in enumerate(ROWS):
        t = 0
        for j, n in enumerate(lengths):
            h, y = docs[k]
            hidden[b, t : t + n], labels[b, t : t + n] = h, y
            pos[b, t : t + n] = torch.arange(n)
            doc_ids[b, t : t + n] = 10 * b + j
            t, k = t + n, k + 1
        pos[b, t:] = torch.arange(T - t)  # the tail: one more (unscored) document
        doc_ids[b, t:] = -1
    return (
        hidden,
        labels,
        {"position_ids": pos} if ids == "position_ids" else {"document_ids": doc_ids},
    )


def _unpacked(docs):
    n = max(len(y) for _, y in docs)
    hidden = torch.zeros(len(docs), n, D_MODEL, dtype=torch.float64)
    labels = torch.full((len(docs), n), -100)
    for i, (h, y) in enumerate(docs):
        hidden[i, : len(y)], labels[i, : len(y)] = h, y
    return hidden, labels


def _slots(max_documents):
    """Index of each document in the packed (B * D,) layout, in document order."""
    return [b * max_documents + j for b, lengths in enumerate(ROWS) for j in range(len(lengths))]


@pytest.mark.parametrize("ids", ["position_ids", "document_ids"])
@pytest.mark.parametrize("path", ["logits", "chunked"])
@pytest.mark.parametrize("max_documents", [None, 5])
def test_packed_equals_unpacked_padded(ids, path, max_documents):
    docs = _documents()
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(V, D_MODEL, generator=g, dtype=torch.float64)
    grads, out = [], []
    for packed in (True, False):
        hidden, labels, extra = _packed(docs, ids) if packed else (*_unpacked(docs), {})
        if packed:
            extra["max_documents"] = max_documents
        h = hidden.clone().requires_grad_(True)
        w = weight.clone().requires_grad_(True)
        if path == "logits":
            losses, counts = per_sample_loss(F.linear(h, w), labels, return_counts=True, **extra)
        else:
            losses, counts = per_sample_loss_from_hidden(
                h, w, labels, chunk_size=5, return_counts=True, **extra
            )
        reweighter = SampleReweighter("linupper", 0.4, token_weighting="global")
        loss, weights = reweighter(losses, counts=counts)
        loss.backward()
        out.append((losses.detach(), counts, weights, reweighter.stats))
        grads.append(w.grad)
    d = T if max_documents is None else max_documents
    (lp, cp, wp, sp), (lu, cu, wu, su) = out
    assert lp.shape == (len(ROWS) * d,)
    keep = torch.tensor(_slots(d))
    torch.testing.assert_close(lp[keep], lu, rtol=1e-12, atol=1e-12)
    assert torch.equal(cp[keep], cu)
    assert torch.equal(cu, torch.tensor([len(y) - 1 for _, y in docs]))
    rest = torch.ones_like(lp, dtype=torch.bool)
    rest[keep] = False
    assert bool(torch.isnan(lp[rest]).all()) and float(wp[rest].abs().max()) == 0.0
    torch.testing.assert_close(wp[keep], wu, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-9)
    assert sp.n == su.n == len(docs)


def test_more_documents_than_declared_is_an_error_naming_max_documents():
    docs = _documents()
    hidden, labels, extra = _packed(docs)
    weight = torch.randn(V, D_MODEL, dtype=torch.float64)
    with pytest.raises(
        ValueError, match=r"max_documents must be at least .* row 2 has more than 3"
    ):
        per_sample_loss(F.linear(hidden, weight), labels, max_documents=3, **extra)
    # unscored tail documents beyond the maximum are fine (row 2 has 4 documents + a tail)
    per_sample_loss(F.linear(hidden, weight), labels, max_documents=4, **extra)
    with pytest.raises(ValueError, match="max_documents needs document boundaries"):
        per_sample_loss(F.linear(hidden, weight), labels, max_documents=4)
    with pytest.raises(ValueError, match=r"position_ids must have shape \(batch, length\)"):
        per_sample_loss(F.linear(hidden, weight), labels, position_ids=extra["position_ids"][:, 1:])
    with pytest.raises(TypeError, match="document_ids must have an integer dtype"):
        per_sample_loss(F.linear(hidden, weight), labels, document_ids=hidden[..., 0])
    with pytest.raises(ValueError, match=r"max_documents must be an integer in 1\.\.12, got 0"):
        per_sample_loss(F.linear(hidden, weight), labels, max_documents=0, **extra)


@pytest.mark.slow
def test_compiled_packed_loss_does_not_recompile_when_the_documents_per_row_change():
    torch._dynamo.reset()
    counters.clear()
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(V, D_MODEL, generator=g)
    hidden = torch.randn(3, T, D_MODEL, generator=g)

    def step(h, w, y, pos):
        losses = per_sample_loss_from_hidden(
            h, w, y, chunk_size=8, check=False, position_ids=pos, max_documents=6
        )
        return reweighted_loss(losses, "linupper", 0.4, check=False)

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    for k in range(5):  # 1..5 documents per row
        labels = torch.randint(0, V, (3, T), generator=g)
        cuts = sorted(torch.randperm(T - 1, generator=g)[:k].add(1).tolist())
        pos = torch.zeros(3, T, dtype=torch.long)
        start = 0
        for c in [*cuts, T]:
            pos[:, start:c] = torch.arange(c - start)
            start = c
        got_loss, got_w = compiled(hidden, weight, labels, pos)
        ref_loss, ref_w = step(hidden, weight, labels, pos)
        torch.testing.assert_close(got_w, ref_w, rtol=1e-6, atol=1e-7)
        lengths = torch.tensor([*cuts, T]).diff(prepend=torch.tensor([0]))
        assert int((got_w > 0).sum()) == 3 * int((lengths >= 2).sum())  # scored documents
    assert counters["stats"]["unique_graphs"] == 1
    assert sum(counters["graph_break"].values()) == 0
