"""Loss-based sample reweighting in a PyTorch Lightning module.

    python examples/lm_lightning.py --steps 20                       # one process
    python examples/lm_lightning.py --steps 20 --devices 2           # DDP, 2 CPU processes

Lightning does what it always does -- the ``Trainer`` runs the loop, DDP (``strategy="ddp"``)
averages the gradients, a ``DistributedSampler`` shards the data (in order, so that the
test can rebuild the global batch: rank r takes samples r, r + W, ...), ``self.log_dict`` sends
the numbers to the logger -- and ``training_step`` returns the reweighted loss instead of
the mean: per-sample losses with their scored-token counts, the reweighter (weights on the
global batch of every process, the loss scaled so that DDP's gradient average is the
single-process reweighted gradient), its statistics logged (``rw_objective``,
``rw_token_loss_mean``, ``rw_rho``, ...). The reweighter follows ``self.global_step``; with
``--accumulate K`` Lightning divides each micro-batch's loss by K (weights per micro-batch,
the paper's code).

Data and model as in ``examples/lm_accelerate.py``. ``--dump DIR`` writes every step's
averaged gradients and the per-step objectives (``rank0.pt``) for the test suite.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L
import torch

import rwtheory as rw
from rwtheory.lm import SampleReweighter, per_sample_loss
from rwtheory.lm.model import ByteTransformer


def _data(n: int, seq: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, seq), generator=g)
    labels = x.clone()
    for i in range(n):  # unequal documents: padded tails
        labels[i, 4 + (7 * i) % (seq - 4) :] = -100
    return torch.utils.data.TensorDataset(x, labels)


class ReweightedLM(L.LightningModule):
    def __init__(self, seq_len: int, lr: float, warmup_steps: int = 2):
        super().__init__()
        self.model = ByteTransformer(d_model=32, n_layers=1, n_heads=2, max_len=seq_len)
        self.lr = lr
        self.reweighter = SampleReweighter(
            "linupper", rw.warmup_schedule(0.4, warmup_steps=warmup_steps), token_weighting="global"
        )
        self.grads, self.objectives = [], []

    def training_step(self, batch, batch_idx):
        x, labels = batch
        losses, counts = per_sample_loss(self.model(x), labels, return_counts=True)
        loss, _ = self.reweighter(losses, counts=counts, step=self.global_step)
        stats = self.reweighter.stats  # the checks' one host read already fetched them
        self.log_dict(stats.log_dict("rw_"), rank_zero_only=True)
        self.objectives.append(stats.objective)
        return loss

    def on_before_optimizer_step(self, optimizer):
        self.grads.append({n: p.grad.clone() for n, p in self.model.named_parameters()})

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


def main(argv=None) -> list[float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8, help="samples per process and step")
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--devices", type=int, default=1, help="CPU processes (DDP when > 1)")
    p.add_argument("--accumulate", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=2, help="steps at r = 100 first")
    p.add_argument("--dump", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    L.seed_everything(0, verbose=False)
    module = ReweightedLM(args.seq_len, args.lr, args.warmup_steps)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        max_steps=args.steps,
        accumulate_grad_batches=args.accumulate,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,  # the sampler below: the data in order
    )
    data = _data(4096, args.seq_len, seed=1)
    sampler = torch.utils.data.distributed.DistributedSampler(
        data, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
    )
    trainer.fit(module, torch.utils.data.DataLoader(data, args.batch_size, sampler=sampler))
    if args.dump is not None and trainer.is_global_zero:
        args.dump.mkdir(parents=True, exist_ok=True)
        torch.save({"grads": module.grads, "objective": module.objectives}, args.dump / "rank0.pt")
    return module.objectives


if __name__ == "__main__":
    main()
