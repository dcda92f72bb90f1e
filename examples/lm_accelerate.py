"""Loss-based sample reweighting in a Hugging Face Accelerate training loop.

    python examples/lm_accelerate.py --steps 20                          # one process
    accelerate launch --multi_gpu --num_processes 2 examples/lm_accelerate.py --cpu
    accelerate launch --multi_gpu --num_processes 8 examples/lm_accelerate.py   # 8 GPUs

(``accelerate launch --multi_gpu`` starts the processes with torchrun; the script's
``--cpu`` makes them ``Accelerator(cpu=True)``: gloo on the CPU, as the test suite runs it.)

Accelerate does what it always does -- ``prepare`` wraps the model in DDP and shards the
data loader, ``accumulate`` handles gradient accumulation, ``backward`` the scaling -- and
the reweighting adds three lines (marked ``# <-``): per-sample losses with their scored-token
counts, the reweighter on them (the weights are computed on the global batch of every
process; the loss is scaled so that DDP's gradient average is the single-process reweighted
gradient), and its statistics in the log. With ``--gradient-accumulation-steps K``
Accelerate divides each micro-batch's loss by K: the weights are normalised per micro-batch
(``weights_over="micro_batch"``, the paper's code).

Data: random byte sequences with padded tails (the example shows the wiring, not a model
worth training); model: :class:`rwtheory.lm.model.ByteTransformer`. ``--dump DIR`` writes
every step's averaged gradients and the per-step objectives (``rank0.pt``), which the test suite
compares with the same script run in one process on the same global batches.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

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


def main(argv=None) -> list[float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8, help="samples per process and step")
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--gradient-accumulation-steps", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=2, help="steps at r = 100 first")
    p.add_argument("--cpu", action="store_true", help="train on the CPU (gloo between processes)")
    p.add_argument("--dump", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps, cpu=args.cpu
    )
    set_seed(0)
    model = ByteTransformer(d_model=32, n_layers=1, n_heads=2, max_len=args.seq_len)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    loader = torch.utils.data.DataLoader(
        _data(4096, args.seq_len, seed=1), batch_size=args.batch_size, shuffle=False
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    reweighter = SampleReweighter(  # <-
        "linupper",
        rw.warmup_schedule(0.4, warmup_steps=args.warmup_steps),
        token_weighting="global",
    )
    history, grads = [], []
    for step, (x, labels) in enumerate(loader):
        if step == args.steps * args.gradient_accumulation_steps:
            break
        with accelerator.accumulate(model):
            losses, counts = per_sample_loss(model(x), labels, return_counts=True)  # <-
            k = step // args.gradient_accumulation_steps  # the optimizer step
            loss, _ = reweighter(losses, counts=counts, step=k)  # <-
            accelerator.backward(loss)
            if accelerator.sync_gradients:  # the step's averaged gradients, for --dump
                named = accelerator.unwrap_model(model).named_parameters()
                grads.append({n: q.grad.clone() for n, q in named})
            optimizer.step()
            optimizer.zero_grad()
        if accelerator.sync_gradients:
            s = reweighter.stats
            history.append(s.objective)
            accelerator.print(
                f"step {s.step:3d}  objective {s.objective:.4f}  token-mean loss "
                f"{s.token_loss_mean:.4f}  rho {s.rho:.2f}"
            )
    if args.dump is not None and accelerator.is_main_process:
        args.dump.mkdir(parents=True, exist_ok=True)
        torch.save({"grads": grads, "objective": history}, args.dump / "rank0.pt")
    # every rank reaches the end before any destroys the process group: a rank that tore
    # down its gloo connections while rank 0 was still writing was once seen to abort
    # ("terminate called without an active exception") under a loaded machine
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return history


if __name__ == "__main__":
    main()
