"""A small byte-level causal transformer (GPT-2 style, pre-norm), plain torch.

Used by the pretraining study (``experiments/lm_pretrain.py``), the training-loop example
and the benchmarks. Vocabulary: the 256 byte values. The output projection is tied to the
token embedding (as in GPT-2), so :attr:`ByteTransformer.output_weight` together with
:meth:`ByteTransformer.hidden` feeds :func:`rwtheory.lm.per_sample_loss_from_hidden`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rwtheory._array import check_int

__all__ = ["BYTE_VOCAB", "ByteTransformer"]

#: Vocabulary size of a byte-level model.
BYTE_VOCAB = 256


class _Block(nn.Module):
    """Pre-norm block: x + attn(ln(x)), then x + mlp(ln(x)); causal attention via SDPA."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        shape = (b, t, self.n_heads, c // self.n_heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class ByteTransformer(nn.Module):
    """Decoder-only transformer over bytes.

    Parameters
    ----------
    d_model : width (divisible by ``n_heads``).
    n_layers, n_heads : depth and attention heads.
    max_len : longest sequence (learned position embeddings).
    vocab_size : 256 for bytes.

    ``forward(idx)`` maps ``(B, T)`` int64 token ids to ``(B, T, vocab_size)`` logits;
    ``hidden(idx)`` (or ``forward(idx, return_hidden=True)``) gives the final (normed) hidden
    states ``(B, T, d_model)``. Weights are
    initialised N(0, 0.02) (GPT-2), biases 0; seed torch before constructing for
    reproducibility.
    """

    def __init__(
        self,
        d_model: int = 128,
        n_layers: int = 2,
        n_heads: int = 4,
        max_len: int = 256,
        vocab_size: int = BYTE_VOCAB,
    ) -> None:
        super().__init__()
        for name, v in (
            ("d_model", d_model),
            ("n_layers", n_layers),
            ("n_heads", n_heads),
            ("max_len", max_len),
            ("vocab_size", vocab_size),
        ):
            check_int(v, name, minimum=1)
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.max_len = max_len
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def output_weight(self) -> torch.Tensor:
        """The ``(vocab, d_model)`` output projection (tied to the token embedding)."""
        return self.tok.weight

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.max_len:
            raise ValueError(f"idx has {t} positions, more than max_len = {self.max_len}")
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(self, idx: torch.Tensor, return_hidden: bool = False) -> torch.Tensor:
        """Logits ``(B, T, V)``; with ``return_hidden`` the final hidden states instead (go
        through ``forward`` rather than :meth:`hidden` when the model is wrapped in
        ``DistributedDataParallel``, whose gradient synchronisation hooks into ``forward``)."""
        h = self.hidden(idx)
        return h if return_hidden else F.linear(h, self.output_weight)
