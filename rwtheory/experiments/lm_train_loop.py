r"""A plain PyTorch training loop with loss-based sample reweighting, one process or several.

    python -m rwtheory.experiments.lm_train_loop --steps 200 --strategy linupper
    python -m rwtheory.experiments.lm_train_loop --chunked          # loss from hidden states
    python -m rwtheory.experiments.lm_train_loop --accumulation-steps 4 \
        --weights-over optimizer_step
    torchrun --nproc_per_node 2 -m rwtheory.experiments.lm_train_loop --steps 200   # DDP, gloo

The reweighting adds three lines to an ordinary loop (marked ``# <-``): per-sample losses
instead of the batch mean, the reweighter, and its statistics. Under ``torchrun`` the model
is wrapped in ``DistributedDataParallel`` and the weights are computed on the global batch
(every rank's samples); each rank draws its own samples. Data: the study's three-domain byte
corpus (:mod:`rwtheory.lm.data`); model: :class:`rwtheory.lm.model.ByteTransformer`.

The loss comes from the final hidden states and the tied output projection in chunks
(:func:`rwtheory.lm.per_sample_loss_from_hidden`, no ``B x T x V`` logits) with
``--chunked``, and by default when the vocabulary has at least
:data:`rwtheory.lm.losses.CHUNKED_MIN_VOCAB` entries (the byte model's 256 does not:
``--chunked`` forces it). With ``--accumulation-steps K`` each optimizer step accumulates K
micro-batches (:func:`rwtheory.lm.accumulation.accumulate_gradients`), the weights normalised
per micro-batch (the paper's code) or over the whole step (``--weights-over optimizer_step``).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
import torch.distributed as dist

import rwtheory as rw
from rwtheory.lm import (
    LM_STRATEGIES,
    SampleReweighter,
    per_sample_loss,
    per_sample_loss_from_hidden,
)
from rwtheory.lm.accumulation import accumulate_gradients
from rwtheory.lm.data import build_corpus
from rwtheory.lm.losses import CHUNKED_MIN_VOCAB
from rwtheory.lm.model import ByteTransformer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16, help="samples per rank and step")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--strategy", choices=LM_STRATEGIES, default="linupper")
    p.add_argument("--temperature", type=float, default=0.4)
    p.add_argument("--warmup-steps", type=int, default=20, help="steps at r = 100 first")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--chunked",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="per_sample_loss_from_hidden (no B x T x V logits); default: "
        f"when the vocabulary has >= {CHUNKED_MIN_VOCAB} entries",
    )
    p.add_argument(
        "--accumulation-steps",
        type=int,
        default=1,
        help="micro-batches (of --batch-size samples) per optimizer step",
    )
    p.add_argument(
        "--weights-over",
        choices=("micro_batch", "optimizer_step"),
        default="micro_batch",
        help="normalise the weights per micro-batch (the paper's code) or over the optimizer step",
    )
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None) -> dict:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.accumulation_steps < 1:
        parser.error("argument --accumulation-steps: must be an integer >= 1")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    device = (
        torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if distributed and torch.cuda.is_available()
        else torch.device("cpu")
    )

    corpus = build_corpus(args.seq_len, n_train=4096, n_heldout=8, seed=args.seed)
    torch.manual_seed(args.seed)  # the same initial model on every rank
    model = ByteTransformer(args.d_model, args.layers, 4, max_len=args.seq_len).to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if distributed else None
    net = model if ddp is None else ddp
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    reweighter = SampleReweighter(  # <-
        args.strategy,
        rw.warmup_schedule(args.temperature, args.warmup_steps),
        weights_over=args.weights_over,
    )
    rng = np.random.default_rng([args.seed, rank])  # each rank its own samples
    vocab = model.output_weight.shape[0]
    chunked = vocab >= CHUNKED_MIN_VOCAB if args.chunked is None else args.chunked

    def losses_of(x):
        if chunked:
            return per_sample_loss_from_hidden(net(x, return_hidden=True), model.output_weight, x)
        return per_sample_loss(net(x), x)  # <-

    history = []
    for step in range(args.steps):
        micro = [
            corpus.train[
                torch.from_numpy(rng.choice(corpus.train.shape[0], args.batch_size, replace=False))
            ].to(device)
            for _ in range(args.accumulation_steps)
        ]
        opt.zero_grad(set_to_none=True)
        accumulate_gradients(
            losses_of,
            micro,
            reweighter,  # <-
            ddp_model=ddp,
        )
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        s = reweighter.stats  # one host read; skip it and the loop has none
        assert s is not None  # the step above called the reweighter
        history.append(
            {
                "step": step,
                "mean_loss": s.loss_mean,
                "rho": s.rho,
                "entropy": s.entropy,
                "temperature": s.temperature,
            }
        )
        if rank == 0 and (step % args.log_every == 0 or step == args.steps - 1):
            print(
                f"step {step:4d}  mean loss {s.loss_mean:.3f}  r {s.temperature:g}  "
                f"rho {s.rho:.2f}  entropy {s.entropy:.2f}",
                file=sys.stderr,
            )
    if distributed:
        dist.destroy_process_group()
    return {"history": history, "rank": rank}


if __name__ == "__main__":
    main()
