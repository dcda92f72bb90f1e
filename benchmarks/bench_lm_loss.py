"""Per-sample LM loss: chunked from hidden states vs naive from logits, side by side.

    python benchmarks/bench_lm_loss.py [--repeat 5] [--out benchmarks/results/bench_lm_loss.txt]
    python benchmarks/bench_lm_loss.py --device cuda --vocab 32768 131072   # on a GPU

Workload (the issue's): B = 8 samples of T = 1024 tokens, hidden size d = 512, vocabulary
V = 32768 (on CUDA also V = 131072), float32, random hidden states, an output projection with
N(0, 0.02) entries and uniformly random labels. One run = forward and backward of
``sum_b g_b l_b`` (g random per-sample upstream weights, as the reweighting produces) with
respect to the hidden states and the projection:

* naive:   ``per_sample_loss(F.linear(hidden, W), labels)`` -- autograd on the full logits;
* chunked: ``per_sample_loss_from_hidden(hidden, W, labels)`` -- default chunk size
  (``default_chunk_size(V)`` tokens, 512 at V = 32768).

Peak memory.
  CPU: every variant runs in its own fresh subprocess, which (1) runs the same variant once on
  a tiny problem, so that torch's thread pools and kernels are initialised, (2) builds the
  inputs, (3) reads ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` -- the peak resident set so
  far, i.e. the baseline of interpreter + torch + inputs --, (4) runs forward + backward once
  and (5) reads ``ru_maxrss`` again. The difference is the extra peak resident memory of
  forward + backward (the gradients of hidden and W included, in both variants). It counts
  pages actually touched, at page granularity; allocator caching cannot hide memory because
  each variant has its own process.
  CUDA: in one process, ``torch.cuda.reset_peak_memory_stats()`` then
  ``max_memory_allocated() - memory_allocated()`` around the run (torch's own statistics).

Time: one process alternates naive and chunked ``--repeat`` times after one warm-up run each
(CUDA: synchronised); median seconds per run; the ratio is chunked / naive.

The same process also reports how far apart the two paths' losses and gradients are.
Targets (the issue's): peak memory <= 30 % of naive, time <= 1.5x naive.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rwtheory.report.files import atomic_write_text
from rwtheory.lm import default_chunk_size, per_sample_loss, per_sample_loss_from_hidden

B, T, D = 8, 1024, 512
MEMORY_TARGET, TIME_TARGET = 0.30, 1.5


def _inputs(b, t, d, v, device, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    hidden = torch.randn(b, t, d, generator=g).to(device).requires_grad_(True)
    weight = (0.02 * torch.randn(v, d, generator=g)).to(device).requires_grad_(True)
    labels = torch.randint(0, v, (b, t), generator=g).to(device)
    upstream = torch.rand(b, generator=g).to(device)
    return hidden, weight, labels, upstream


def _run(variant, hidden, weight, labels, upstream):
    """Forward + backward once; returns the losses (detached)."""
    if variant == "naive":
        losses = per_sample_loss(F.linear(hidden, weight), labels)
    else:
        losses = per_sample_loss_from_hidden(hidden, weight, labels)
    (losses * upstream).sum().backward()
    return losses.detach()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def child(variant: str, vocab: int) -> None:
    """Subprocess body: peak resident memory of one forward + backward (CPU)."""
    _run(variant, *_inputs(2, 16, 8, 64, torch.device("cpu")))        # initialise kernels
    inputs = _inputs(B, T, D, vocab, torch.device("cpu"))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _run(variant, *inputs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    factor = 1 if sys.platform == "darwin" else 1024                  # bytes vs KiB
    print(json.dumps({"variant": variant, "peak_bytes": (peak - base) * factor}))


def _cpu_peak(variant: str, vocab: int) -> int:
    out = subprocess.run([sys.executable, __file__, "--child", variant, "--vocab", str(vocab)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"]


def _cuda_peak(variant, inputs, device) -> int:
    for p in inputs[:2]:
        p.grad = None
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    _run(variant, *inputs)
    _sync(device)
    return torch.cuda.max_memory_allocated(device) - before


def _differences(inputs):
    hidden, weight = inputs[:2]
    out = {}
    for variant in ("naive", "chunked"):
        hidden.grad = weight.grad = None
        out[variant] = (_run(variant, *inputs), hidden.grad.clone(), weight.grad.clone())
    return [float((a - b).abs().max()) for a, b in zip(out["naive"], out["chunked"],
                                                       strict=True)]


def _times(inputs, device, repeat):
    samples = {"naive": [], "chunked": []}
    for variant in samples:                               # warm-up
        _run(variant, *inputs)
    for k in range(repeat):
        order = ("naive", "chunked") if k % 2 == 0 else ("chunked", "naive")
        for variant in order:
            for p in inputs[:2]:
                p.grad = None
            _sync(device)
            t0 = time.perf_counter()
            _run(variant, *inputs)
            _sync(device)
            samples[variant].append(time.perf_counter() - t0)
    return {v: statistics.median(s) for v, s in samples.items()}


def run(device: torch.device, vocabs, repeat: int) -> tuple[str, bool]:
    lines = [
        f"# bench_lm_loss: B={B} T={T} d={D} float32, forward+backward of sum_b g_b l_b; "
        f"time = median of {repeat} interleaved runs",
        f"# python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "# memory: " + ("ru_maxrss increase, one fresh subprocess per variant" if device.type
                        == "cpu" else "torch.cuda.max_memory_allocated - memory_allocated"),
        f"{'V':>7}{'chunk':>7}{'naive MiB':>11}{'chunked MiB':>13}{'mem ratio':>11}"
        f"{'naive s':>10}{'chunked s':>11}{'time ratio':>12}{'max|dloss|':>12}"
        f"{'max|dgrad_h|':>14}{'max|dgrad_W|':>14}",
    ]
    ok = True
    for vocab in vocabs:
        inputs = _inputs(B, T, D, vocab, device)
        if device.type == "cpu":
            peaks = {v: _cpu_peak(v, vocab) for v in ("naive", "chunked")}
        else:
            peaks = {v: _cuda_peak(v, inputs, device) for v in ("naive", "chunked")}
        diffs = _differences(inputs)
        times = _times(inputs, device, repeat)
        mem_ratio = peaks["chunked"] / peaks["naive"]
        time_ratio = times["chunked"] / times["naive"]
        ok &= mem_ratio <= MEMORY_TARGET and time_ratio <= TIME_TARGET
        lines.append(
            f"{vocab:>7}{default_chunk_size(vocab):>7}{peaks['naive'] / 2**20:>11.0f}"
            f"{peaks['chunked'] / 2**20:>13.0f}{mem_ratio:>11.3f}{times['naive']:>10.2f}"
            f"{times['chunked']:>11.2f}{time_ratio:>12.3f}{diffs[0]:>12.1e}{diffs[1]:>14.1e}"
            f"{diffs[2]:>14.1e}")
        del inputs
    lines.append(f"# targets: memory ratio <= {MEMORY_TARGET}, time ratio <= {TIME_TARGET}: "
                 f"{'met' if ok else 'NOT met'}")
    return "\n".join(lines) + "\n", ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--vocab", type=int, nargs="+", default=None,
                        help="vocabulary sizes (default: 32768; on CUDA 32768 131072)")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the table to this file (atomically)")
    parser.add_argument("--child", choices=("naive", "chunked"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.vocab[0])
        return 0
    if args.repeat < 1:
        parser.error("argument --repeat: must be >= 1")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("argument --device: CUDA is not available")
    vocabs = args.vocab or ([32768, 131072] if device.type == "cuda" else [32768])
    load = os.getloadavg()[0]
    text, _ = run(device, vocabs, args.repeat)
    text += (f"# 1-minute load average before / after: {load:.2f} / {os.getloadavg()[0]:.2f} "
             f"({os.cpu_count()} CPUs; other processes share the machine)\n")
    sys.stdout.write(text)
    if args.out is not None:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
