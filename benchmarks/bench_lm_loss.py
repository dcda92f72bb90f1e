"""Per-sample LM loss: chunked from hidden states vs naive from logits vs a peer, side by side.

    python benchmarks/bench_lm_loss.py [--repeat 5] [--out benchmarks/results/bench_lm_loss.txt]
    python benchmarks/bench_lm_loss.py --device cuda --vocab 32768 131072   # on a GPU

The peer is Apple's cut-cross-entropy (``pip install "rwtheory[peers]"``; skipped with a
message when it is not installed): ``linear_cross_entropy(hidden, W, labels,
impl="torch_compile", reduction="none", shift=True)`` on CPU (its ``torch.compile``d
implementation, the one that runs there), ``impl="cce"`` (its Triton kernel) on CUDA; its
per-token losses are averaged per sample over the scored tokens, as ours.

Workload (the issue's): B = 8 samples of T = 1024 tokens, hidden size d = 512, vocabulary
V = 32768 (on CUDA also V = 131072), float32, random hidden states, an output projection with
N(0, 0.02) entries and uniformly random labels. One run = forward and backward of
``sum_b g_b l_b`` (g random per-sample upstream weights, as the reweighting produces) with
respect to the hidden states and the projection:

* naive:   ``per_sample_loss(F.linear(hidden, W), labels)`` -- autograd on the full logits;
* chunked: ``per_sample_loss_from_hidden(hidden, W, labels)`` -- default chunk size
  (``default_chunk_size(V)`` tokens, 170 at V = 32768);
* cce:     the peer above (compiled once on a small problem before anything is measured).

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

Time: one process cycles through the variants ``--repeat`` times after one warm-up run each
(the order rotates; CUDA: synchronised); median seconds per run; ratios are chunked / naive
and chunked / cce.

The same process also reports how far apart the paths' losses and gradients are.
Targets (the issue's): peak memory <= 30 % of naive, time <= 1.5x naive; against the peer
(CPU): per-sample mean NLL equal to 1e-5, peak memory <= cce's, time <= 1.2x cce's.
CPU threads: ``--threads`` (default 1, as bench_lm_step.py: the machines are shared), the
same for every variant (the peer's compiled code included).
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

from rwtheory.lm import default_chunk_size, per_sample_loss, per_sample_loss_from_hidden
from rwtheory.report.files import atomic_write_text

B, T, D = 8, 1024, 512
MEMORY_TARGET, TIME_TARGET = 0.30, 1.5
PEER_TIME_TARGET, PEER_LOSS_TOL = 1.2, 1e-5


def _peer_available() -> bool:
    try:
        import cut_cross_entropy  # noqa: F401
    except ImportError:
        return False
    return True


def _inputs(b, t, d, v, device, seed=0):
    """Built in place (no temporaries), so that the memory baseline is the inputs alone."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    hidden = torch.empty(b, t, d).normal_(generator=g).to(device).requires_grad_(True)
    weight = torch.empty(v, d).normal_(std=0.02, generator=g).to(device).requires_grad_(True)
    labels = torch.randint(0, v, (b, t), generator=g).to(device)
    upstream = torch.rand(b, generator=g).to(device)
    return hidden, weight, labels, upstream


def _peer_losses(hidden, weight, labels):
    """cut-cross-entropy's per-token losses, averaged per sample over the scored tokens."""
    from cut_cross_entropy import linear_cross_entropy

    impl = "cce" if hidden.device.type == "cuda" else "torch_compile"
    tokens = linear_cross_entropy(hidden, weight, labels, impl=impl, reduction="none",
                                  shift=True)
    counts = (labels[:, 1:] != -100).sum(dim=1)
    return tokens.float().sum(dim=1) / counts


def _run(variant, hidden, weight, labels, upstream):
    """Forward + backward once; returns the losses (detached)."""
    if variant == "naive":
        losses = per_sample_loss(F.linear(hidden, weight), labels)
    elif variant == "chunked":
        losses = per_sample_loss_from_hidden(hidden, weight, labels)
    else:
        losses = _peer_losses(hidden, weight, labels)
    (losses * upstream).sum().backward()
    return losses.detach()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def child(variant: str, vocab: int, threads: int) -> None:
    """Subprocess body: peak resident memory of one forward + backward (CPU)."""
    torch.set_num_threads(threads)
    _run(variant, *_inputs(2, 16, 8, 64, torch.device("cpu")))        # initialise kernels
    inputs = _inputs(B, T, D, vocab, torch.device("cpu"))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _run(variant, *inputs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    factor = 1 if sys.platform == "darwin" else 1024                  # bytes vs KiB
    print(json.dumps({"variant": variant, "peak_bytes": (peak - base) * factor}))


def _cpu_peak(variant: str, vocab: int, threads: int) -> int:
    out = subprocess.run([sys.executable, __file__, "--child", variant, "--vocab", str(vocab),
                          "--threads", str(threads)], capture_output=True, text=True, check=True)
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


def _differences(inputs, variants):
    """max |difference| of (losses, grad hidden, grad W) of each variant from chunked."""
    hidden, weight = inputs[:2]
    out = {}
    for variant in variants:
        hidden.grad = weight.grad = None
        out[variant] = (_run(variant, *inputs), hidden.grad.clone(), weight.grad.clone())
    return {v: [float((a - b).abs().max()) for a, b in zip(out[v], out["chunked"],
                                                          strict=True)]
            for v in variants if v != "chunked"}


def _times(inputs, device, repeat, variants):
    samples = {v: [] for v in variants}
    for variant in samples:                               # warm-up
        _run(variant, *inputs)
    for k in range(repeat):
        order = variants[k % len(variants):] + variants[:k % len(variants)]
        for variant in order:
            for p in inputs[:2]:
                p.grad = None
            _sync(device)
            t0 = time.perf_counter()
            _run(variant, *inputs)
            _sync(device)
            samples[variant].append(time.perf_counter() - t0)
    return {v: statistics.median(s) for v, s in samples.items()}


def run(device: torch.device, vocabs, repeat: int, threads: int) -> tuple[str, bool]:
    variants = ["naive", "chunked"] + (["cce"] if _peer_available() else [])
    lines = [
        f"# bench_lm_loss: B={B} T={T} d={D} float32, forward+backward of sum_b g_b l_b; "
        f"time = median of {repeat} interleaved runs",
        f"# python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}, "
        f"{threads} torch threads, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "# memory: " + ("ru_maxrss increase, one fresh subprocess per variant" if device.type
                        == "cpu" else "torch.cuda.max_memory_allocated - memory_allocated"),
        "# peer: " + ("cut-cross-entropy " + _peer_version() + (" impl='cce'" if device.type
                      == "cuda" else " impl='torch_compile'") if "cce" in variants else
                      "cut-cross-entropy not installed (pip install 'rwtheory[peers]'): skipped"),
    ]
    ok = True
    for vocab in vocabs:
        inputs = _inputs(B, T, D, vocab, device)
        if device.type == "cpu":
            peaks = {v: _cpu_peak(v, vocab, threads) for v in variants}
        else:
            peaks = {v: _cuda_peak(v, inputs, device) for v in variants}
        diffs = _differences(inputs, variants)
        times = _times(inputs, device, repeat, variants)
        lines.append(f"V = {vocab}, chunk = {default_chunk_size(vocab)} tokens")
        lines.append(f"  {'variant':<9}{'peak MiB':>10}{'median s':>10}{'max|dloss|':>12}"
                     f"{'max|dgrad_h|':>14}{'max|dgrad_W|':>14}   (differences from chunked)")
        for v in variants:
            d = diffs.get(v, [0.0, 0.0, 0.0])
            lines.append(f"  {v:<9}{peaks[v] / 2**20:>10.0f}{times[v]:>10.2f}{d[0]:>12.1e}"
                         f"{d[1]:>14.1e}{d[2]:>14.1e}")
        mem, tim = peaks["chunked"] / peaks["naive"], times["chunked"] / times["naive"]
        met = mem <= MEMORY_TARGET and tim <= TIME_TARGET
        lines.append(f"  chunked / naive: memory {mem:.3f} (target <= {MEMORY_TARGET}), time "
                     f"{tim:.3f} (target <= {TIME_TARGET}): {'met' if met else 'NOT met'}")
        ok &= met
        if "cce" in variants:
            mem, tim = peaks["chunked"] / peaks["cce"], times["chunked"] / times["cce"]
            met = mem <= 1.0 and tim <= PEER_TIME_TARGET and diffs["cce"][0] <= PEER_LOSS_TOL
            lines.append(f"  chunked / cce:   memory {mem:.3f} (target <= 1), time {tim:.3f} "
                         f"(target <= {PEER_TIME_TARGET}), per-sample mean NLL max|diff| "
                         f"{diffs['cce'][0]:.1e} (target <= {PEER_LOSS_TOL}): "
                         f"{'met' if met else 'NOT met'}")
            ok &= met
        del inputs
    lines.append(f"# all targets: {'met' if ok else 'NOT met'}")
    return "\n".join(lines) + "\n", ok


def _peer_version() -> str:
    import cut_cross_entropy

    return getattr(cut_cross_entropy, "__version__", "?")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--vocab", type=int, nargs="+", default=None,
                        help="vocabulary sizes (default: 32768; on CUDA 32768 131072)")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the table to this file (atomically)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for every variant (default 1)")
    parser.add_argument("--child", choices=("naive", "chunked", "cce"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("argument --threads: must be >= 1")
    if args.child:
        child(args.child, args.vocab[0], args.threads)
        return 0
    if args.repeat < 1:
        parser.error("argument --repeat: must be >= 1")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("argument --device: CUDA is not available")
    vocabs = args.vocab or ([32768, 131072] if device.type == "cuda" else [32768])
    load = os.getloadavg()[0]
    text, _ = run(device, vocabs, args.repeat, args.threads)
    text += (f"# 1-minute load average before / after: {load:.2f} / {os.getloadavg()[0]:.2f} "
             f"({os.cpu_count()} CPUs; other processes share the machine)\n")
    sys.stdout.write(text)
    if args.out is not None:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
