"""The LLM-scale loss path in torch (THEORY.md §1 items 4-5).

::

    from rwtheory.lm import per_sample_loss, SampleReweighter
    import rwtheory as rw

    reweighter = SampleReweighter("linupper", rw.warmup_schedule(0.4, warmup_steps=500))
    losses = per_sample_loss(logits, labels)   # (B,) token means; NaN: no scored token
    loss, weights = reweighter(losses)         # global batch under DDP; NaN rows weigh 0
    loss.backward()

* :mod:`rwtheory.lm.losses`: per-sample losses from logits, or from hidden states and the
  output projection in chunks (never materialising the B x T x V logits).
* :mod:`rwtheory.lm.reweight`: the reweighted objective on the global batch across
  data-parallel ranks; :mod:`rwtheory.lm.reweighter`: the stateful :class:`SampleReweighter`
  of a training loop; :mod:`rwtheory.lm.strategies`: strategies as data (names,
  :class:`kl_capped`, callables).
* :mod:`rwtheory.lm.distributed`: the global batch across ranks and its one check (an
  all-padding global batch raises on every rank at once).
* :mod:`rwtheory.lm.accumulation`: gradient accumulation, weights per micro-batch (the
  paper's code) or over the optimizer step (a no-grad scoring pass).
* :mod:`rwtheory.lm.packing`: packed sequences (several documents per row), weighted per
  document.
* :mod:`rwtheory.lm.clock`: the reweighter's step clock inside ``torch.compile``.
* :mod:`rwtheory.lm.syncs`: counting host synchronisations (benchmarks, tests).
* :mod:`rwtheory.lm.hf`: ``ReweightingTrainer``, a Hugging Face ``Trainer`` subclass (needs
  the ``rwtheory[hf]`` extra; imported only when used).
* the per-stack guide (Trainer, Accelerate, Lightning, torchrun): ``docs/lm.md``.
* :mod:`rwtheory.lm.data`, :mod:`rwtheory.lm.model`: the corpus and the byte-level transformer
  of the small pretraining study (``experiments/lm_pretrain.py``).
"""

from typing import Any

from rwtheory.lm.losses import (
    IGNORE_INDEX,
    default_chunk_size,
    per_sample_loss,
    per_sample_loss_from_hidden,
)
from rwtheory.lm.reweight import gather_losses, reweighted_loss
from rwtheory.lm.reweighter import SampleReweighter
from rwtheory.lm.stats import ReweightStats
from rwtheory.lm.strategies import LM_STRATEGIES, kl_capped

__all__ = [
    "IGNORE_INDEX",
    "LM_STRATEGIES",
    "ReweightStats",
    "ReweightingTrainer",
    "SampleReweighter",
    "default_chunk_size",
    "gather_losses",
    "kl_capped",
    "per_sample_loss",
    "per_sample_loss_from_hidden",
    "reweighted_loss",
]


def __getattr__(name: str) -> Any:
    # transformers is optional (the ``hf`` extra): import it only when the Trainer is asked for
    if name == "ReweightingTrainer":
        from rwtheory.lm.hf import ReweightingTrainer

        return ReweightingTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
