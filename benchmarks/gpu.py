"""The CUDA measurements of the LM path, in one script (<= 6 minutes on one H200).

    python benchmarks/gpu.py --out benchmarks/results/gpu            # on a CUDA machine
    python benchmarks/gpu.py --out /tmp/gpu --dry-run                # logic check, CPU, tiny

Sections (each writes its part of the results even when another fails; a missing peer is
recorded as "not installed" and the rest goes on):

1. **loss**: forward + backward of ``sum_b g_b l_b`` (random per-sample upstream weights, as
   the reweighting produces) w.r.t. the hidden states and the output projection, bfloat16
   inputs, B x T = 16 x 1024 = 16k tokens, d = 2048, V = 32k / 128k / 256k:

   * ``ours``: :func:`rwtheory.lm.per_sample_loss_from_hidden` at its default chunk size
     (a 64 MiB budget: 170 / 42 / 21 tokens per chunk);
   * ``ours_1g``: the same with a 1 GiB chunk budget (2730 / 682 / 341 tokens), to show what
     the chunk size costs on a GPU;
   * ``cce``: cut-cross-entropy ``linear_cross_entropy(..., impl="cce", reduction="none",
     shift=True)`` (its CUDA kernel);
   * ``liger``: Liger-Kernel's ``LigerFusedLinearCrossEntropyLoss(reduction="none")`` on the
     shifted tokens.

   Per-token losses of the peers are averaged per sample over the scored tokens, as ours.
   Time: CUDA events around forward + backward, 2 warm-ups, median of 5 (rotating order);
   memory: ``max_memory_allocated`` minus the allocation before the run (inputs excluded,
   gradients included); NLL: max |per-sample mean NLL difference| to ours. The goal (issue
   23): ours <= 1.3x the faster peer's time at <= its memory.
2. **step**: the reweighting overhead of a training step of a GPT-2-small-sized model
   (``transformers.GPT2LMHeadModel``, 12 layers, d 768, V 50257, random init, 8 x 1024
   tokens, bf16 autocast, AdamW): the stock loss (``model(..., labels=...).loss``) against
   ours -- per-sample losses from the logits + ``SampleReweighter`` (the reweighting alone)
   and from the hidden states, chunked + ``SampleReweighter`` (what ``ReweightingTrainer``
   does) -- paired: the variants alternate step by step, median step times and the median
   of the paired ratios.
3. **syncs**: host synchronisations of the reweighting core on CUDA, counted by
   ``torch.cuda.set_sync_debug_mode("warn")`` (each sync is a warning): the core with
   ``check=False`` eager, the reweighter inside ``torch.compile(fullgraph=True)`` for 5
   steps, and the default checked call (one read by design). Also: float16 hidden states
   whose logits exceed float16's range give finite losses (the float32-output products).

``--dry-run``: CPU (or whatever device), tiny shapes, one repeat -- exercises every code path
of ours, the timing and the result writing; the peers are recorded as not installed or as
failing without CUDA. Results: ``gpu.txt`` and ``gpu.json`` in ``--out`` (written
atomically).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import platform
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # rwtheory from a checkout

from rwtheory.lm import SampleReweighter, per_sample_loss, per_sample_loss_from_hidden
from rwtheory.lm.losses import BYTES_PER_LOGIT, default_chunk_size
from rwtheory.report.files import atomic_write_text

FULL = {"b": 16, "t": 1024, "d": 2048, "vocabs": (32768, 131072, 262144), "repeat": 5}
DRY = {"b": 2, "t": 16, "d": 8, "vocabs": (64, 256), "repeat": 1}
GIB = 2**30


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Timer:
    """CUDA events on CUDA, perf_counter elsewhere; seconds."""

    def __init__(self, device):
        self.device = device

    def __call__(self, fn) -> float:
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


# ------------------------------------------------------------------------ 1. the loss
def _per_sample(tokens, labels):
    """Per-token losses (B, T-1) or (B*(T-1),) of the shifted targets -> per-sample means."""
    tokens = tokens.float().reshape(labels.shape[0], -1)
    scored = (labels[:, 1:] != -100).sum(dim=1)
    return tokens.sum(dim=1) / scored


def _variants(d: int, vocab: int) -> dict:
    """name -> fn(hidden, weight, labels) -> per-sample losses, or a string why not."""
    out = {
        "ours": lambda h, w, y: per_sample_loss_from_hidden(h, w, y, check=False),
        "ours_1g": lambda h, w, y: per_sample_loss_from_hidden(
            h, w, y, chunk_size=default_chunk_size(vocab, GIB), check=False
        ),
    }
    try:
        from cut_cross_entropy import linear_cross_entropy

        def cce(h, w, y):
            t = linear_cross_entropy(h, w, y, impl="cce", reduction="none", shift=True)
            return _per_sample(t, y)

        out["cce"] = cce
    except ImportError:
        out["cce"] = "not installed"
    try:
        from liger_kernel.transformers.fused_linear_cross_entropy import (
            LigerFusedLinearCrossEntropyLoss,
        )

        liger_loss = LigerFusedLinearCrossEntropyLoss(reduction="none")

        def liger(h, w, y):
            t = liger_loss(w, h[:, :-1].reshape(-1, d), y[:, 1:].reshape(-1))
            return _per_sample(t, y)

        out["liger"] = liger
    except ImportError:
        out["liger"] = "not installed"
    return out


def _inputs(shape, vocab, device, dtype, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    b, t, d = shape
    hidden = torch.randn(b, t, d, generator=g).to(device, dtype).requires_grad_(True)
    weight = (torch.randn(vocab, d, generator=g) * 0.02).to(device, dtype).requires_grad_(True)
    labels = torch.randint(0, vocab, (b, t), generator=g).to(device)
    upstream = torch.rand(b, generator=g).to(device)
    return hidden, weight, labels, upstream


def _one_vocab(cfg, vocab, device, dtype, timer) -> dict:
    shape = (cfg["b"], cfg["t"], cfg["d"])
    hidden, weight, labels, upstream = _inputs(shape, vocab, device, dtype)
    variants = _variants(cfg["d"], vocab)
    res = {"vocab": vocab, "chunk": default_chunk_size(vocab), "variants": {}}
    runnable, losses = {}, {}
    for name, fn in variants.items():
        if isinstance(fn, str):
            res["variants"][name] = {"status": fn}
            continue

        def run(fn=fn):
            hidden.grad = weight.grad = None
            out = fn(hidden, weight, labels)
            (out * upstream).sum().backward()
            return out.detach()

        try:  # first call: warm-up (compiles/autotunes kernels), losses, peak memory
            run()
            _sync(device)
            hidden.grad = weight.grad = None
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
            losses[name] = run().float()
            _sync(device)
            peak = (
                torch.cuda.max_memory_allocated(device) - before if device.type == "cuda" else None
            )
            res["variants"][name] = {
                "status": "ok",
                "peak_mib": None if peak is None else peak / 2**20,
            }
            runnable[name] = run
        except Exception as exc:  # any failure (a peer that fails is recorded, not fatal)
            res["variants"][name] = {"status": f"failed: {type(exc).__name__}: {exc}"[:300]}
    times = {name: [] for name in runnable}
    names = list(runnable)
    for k in range(cfg["repeat"]):
        for name in names[k % max(len(names), 1) :] + names[: k % max(len(names), 1)]:
            times[name].append(timer(runnable[name]))
    for name in runnable:
        entry = res["variants"][name]
        entry["time_ms"] = 1e3 * statistics.median(times[name])
        if "ours" in losses and name != "ours":
            entry["max_nll_diff_to_ours"] = float((losses[name] - losses["ours"]).abs().max())
    _peer_ratios(res)
    return res


def _peer_ratios(res) -> None:
    v = res["variants"]
    peers = [p for p in ("cce", "liger") if v.get(p, {}).get("status") == "ok"]
    if v.get("ours", {}).get("status") != "ok" or not peers:
        res["vs_faster_peer"] = "no peer ran"
        return
    fast = min(peers, key=lambda p: v[p]["time_ms"])
    out = {"peer": fast, "time_ratio": v["ours"]["time_ms"] / v[fast]["time_ms"]}
    if v["ours"].get("peak_mib") is not None and v[fast].get("peak_mib"):
        out["memory_ratio"] = v["ours"]["peak_mib"] / v[fast]["peak_mib"]
    out["goal_met"] = out["time_ratio"] <= 1.3 and out.get("memory_ratio", 0.0) <= 1.0
    res["vs_faster_peer"] = out


def loss_section(cfg, device, dtype, deadline: float) -> list:
    timer, out = _Timer(device), []
    for vocab in cfg["vocabs"]:
        if time.perf_counter() > deadline:  # keep time for the other sections
            out.append({"vocab": vocab, "skipped": "time budget of the loss section spent"})
            log(f"loss: V = {vocab} skipped (time budget)")
            continue
        log(f"loss: V = {vocab}")
        out.append(_one_vocab(cfg, vocab, device, dtype, timer))
        log(f"loss: V = {vocab} done: {json.dumps(out[-1]['variants'], default=str)[:400]}")
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


# ------------------------------------------------------------------------ 2. the step
def _gpt2(cfg, device):
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(**cfg["gpt2"], resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(config).to(device)


def _step_fns(model, device, dtype):
    """name -> one training step (forward, loss, backward, AdamW) of ``model``."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    reweighter = SampleReweighter("linupper", 0.4)  # the defaults: checks on, one read
    autocast = (
        torch.autocast(device.type, dtype=dtype)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )
    head = model.get_output_embeddings()

    def stock(x):
        with autocast:
            loss = model(input_ids=x, labels=x).loss
        return loss

    def logits(x):
        with autocast:
            z = model(input_ids=x).logits
        return reweighter(per_sample_loss(z, x))[0]

    def chunked(x):
        with autocast:
            h = model.transformer(input_ids=x).last_hidden_state
            losses = per_sample_loss_from_hidden(h, head.weight, x)
        return reweighter(losses)[0]

    def wrap(loss_fn):
        def step(x):
            opt.zero_grad(set_to_none=True)
            loss_fn(x).backward()
            opt.step()

        return step

    return {"stock": wrap(stock), "ours_logits": wrap(logits), "ours_chunked": wrap(chunked)}


def step_section(cfg, device, dtype) -> dict:
    model = _gpt2(cfg, device)
    steps = _step_fns(model, device, dtype)
    g = torch.Generator().manual_seed(1)
    b, t, v = cfg["step_batch"], cfg["gpt2"]["n_positions"], cfg["gpt2"]["vocab_size"]
    x = torch.randint(0, v, (b, t), generator=g).to(device)
    timer, names = _Timer(device), list(steps)
    for name in names:  # warm-up
        for _ in range(2):
            steps[name](x)
    log("step: warm-up done")
    samples = {n: [] for n in names}
    for k in range(cfg["pairs"]):
        for name in names[k % 3 :] + names[: k % 3]:
            samples[name].append(timer(lambda name=name: steps[name](x)))
    out = {"model": cfg["gpt2"], "batch": [b, t], "pairs": cfg["pairs"], "variants": {}}
    for name in names:
        out["variants"][name] = {"median_ms": 1e3 * statistics.median(samples[name])}
        if name != "stock":
            paired = [a / s for a, s in zip(samples[name], samples["stock"], strict=True)]
            out["variants"][name]["ratio_of_medians"] = statistics.median(
                samples[name]
            ) / statistics.median(samples["stock"])
            out["variants"][name]["median_paired_ratio"] = statistics.median(paired)
    return out


# ------------------------------------------------------------------------ 3. syncs
def _count_syncs(device, fn) -> int | str:
    if device.type != "cuda":
        from rwtheory.lm.syncs import count_host_syncs

        with count_host_syncs() as counter:
            fn()
        return counter.total
    _sync(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(w.message).lower() for w in caught)


def sync_section(cfg, device) -> dict:
    from rwtheory.lm import reweighted_loss

    g = torch.Generator().manual_seed(2)
    weight = torch.randn(64, 32, generator=g).to(device).requires_grad_(True)
    x = torch.randn(cfg["b"] * 4, 32, generator=g).to(device)
    backend = "inductor" if device.type == "cuda" else "aot_eager"
    out = {
        "method": "torch.cuda.set_sync_debug_mode"
        if device.type == "cuda"
        else "count_host_syncs (CPU proxy)"
    }

    def losses():
        return (x @ weight.t()).pow(2).mean(dim=1)

    def core():
        reweighted_loss(losses(), "linupper", 0.4, check=False)[0].backward()

    core()
    out["core_check_false_eager"] = _count_syncs(device, core)
    reweighter = SampleReweighter("linupper", 0.4, check=False)
    compiled = torch.compile(lambda: reweighter(losses())[0], fullgraph=True, backend=backend)
    compiled().backward()  # compile outside the count
    out["reweighter_compiled_fullgraph_5_steps"] = _count_syncs(
        device, lambda: [compiled().backward() for _ in range(5)]
    )
    checked = SampleReweighter("linupper", 0.4)
    out["reweighter_default_checked_1_step"] = _count_syncs(
        device, lambda: checked(losses())[0].backward()
    )
    h = (torch.randn(2, 4, 32, generator=g) * 100).to(device, torch.float16)
    w = (torch.randn(64, 32, generator=g) * 100).to(device, torch.float16)
    y = torch.randint(0, 64, (2, 4), generator=g).to(device)
    fp16 = per_sample_loss_from_hidden(h, w, y, check=False)
    ref = per_sample_loss(torch.nn.functional.linear(h.float(), w.float()), y, check=False)
    out["float16_large_logits"] = {
        "max_abs_logit": float(torch.nn.functional.linear(h.float(), w.float()).abs().max()),
        "finite": bool(torch.isfinite(fp16).all()),
        "max_rel_diff_to_float32": float(((fp16 - ref).abs() / ref.abs()).max()),
    }
    return out


# ------------------------------------------------------------------------ report
def _text(results: dict) -> str:
    lines = [f"# benchmarks/gpu.py: {results['env']}"]
    for item in results.get("loss", []):
        if not isinstance(item, dict) or "variants" not in item:  # skipped, failed
            lines.append(f"loss: {item}")
            continue
        lines.append(f"V = {item['vocab']} (ours' default chunk {item['chunk']} tokens)")
        for name, v in item["variants"].items():
            if v.get("status") != "ok":
                lines.append(f"  {name:<8} {v.get('status')}")
                continue
            peak = "n/a" if v.get("peak_mib") is None else f"{v['peak_mib']:.0f} MiB"
            diff = v.get("max_nll_diff_to_ours")
            lines.append(
                f"  {name:<8} {v['time_ms']:9.2f} ms  peak {peak:>10}"
                + ("" if diff is None else f"  max|NLL - ours| {diff:.2e}")
            )
        lines.append(f"  ours vs the faster peer: {item.get('vs_faster_peer')}")
    step = results.get("step")
    if isinstance(step, dict) and "variants" in step:
        lines.append(f"step ({step['batch']} tokens, {step['pairs']} rotations):")
        for name, v in step["variants"].items():
            lines.append(f"  {name:<13} " + ", ".join(f"{k} {x:.4g}" for k, x in v.items()))
    else:
        lines.append(f"step: {step}")
    lines.append(f"syncs: {json.dumps(results.get('syncs'), default=str)}")
    lines.append(f"# total {results['seconds']:.0f} s")
    return "\n".join(lines) + "\n"


def _guarded(results, key, fn) -> None:
    t0 = time.perf_counter()
    try:
        results[key] = fn()
    except Exception as exc:  # any failure (one failing section must not lose the others)
        results[key] = f"failed: {type(exc).__name__}: {exc}"[:500]
        traceback.print_exc()
    log(f"{key}: {time.perf_counter() - t0:.1f} s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for gpu.txt and gpu.json")
    p.add_argument("--dry-run", action="store_true", help="tiny shapes, any device, 1 repeat")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument(
        "--budget-s",
        type=float,
        default=330.0,
        help="seconds for the whole script; a vocabulary of the loss section not started "
        "by 60%% of it is skipped (recorded as such)",
    )
    args = p.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type != "cuda" and not args.dry_run:
        p.error("argument --device: the measurements need CUDA (use --dry-run to check the logic)")
    cfg = dict(DRY if args.dry_run else FULL)
    cfg["gpt2"] = (
        {"vocab_size": 128, "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2}
        if args.dry_run
        else {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12}
    )
    cfg["step_batch"], cfg["pairs"] = (2, 2) if args.dry_run else (8, 15)
    dtype = torch.bfloat16
    t0 = time.perf_counter()
    results = {
        "env": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
            "cut_cross_entropy": _version("cut-cross-entropy"),
            "liger_kernel": _version("liger-kernel"),
            "transformers": _version("transformers"),
            "dry_run": args.dry_run,
            "bytes_per_logit_budget": BYTES_PER_LOGIT,
        }
    }
    log(f"start: {results['env']}")
    deadline = t0 + 0.6 * args.budget_s  # the loss section's share of the budget
    _guarded(results, "loss", lambda: loss_section(cfg, device, dtype, deadline))
    _guarded(results, "step", lambda: step_section(cfg, device, dtype))
    _guarded(results, "syncs", lambda: sync_section(cfg, device))
    results["seconds"] = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        args.out / "gpu.json", json.dumps(results, indent=2, default=str, allow_nan=True) + "\n"
    )
    text = _text(results)
    atomic_write_text(args.out / "gpu.txt", text)
    sys.stdout.write(text)
    return 0 if all(not isinstance(results[k], str) for k in ("loss", "step", "syncs")) else 1


if __name__ == "__main__":
    sys.exit(main())
