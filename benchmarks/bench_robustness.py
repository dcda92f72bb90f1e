"""Throughput of the robustness study on 2 worker processes against 1, side by side.

    python benchmarks/bench_robustness.py [--settings 16] [--repeat 1]
                                          [--out benchmarks/results/bench_robustness.txt]

Workload: the first ``--settings`` settings of each family of the default grid's sample,
restricted to problems of n x d <= 300 x 100 and runs of <= 1000 steps so that one
measurement takes a minute, not ten (a grid file written to a temporary folder; the chunks
are computed from scratch in a fresh output folder each time; writing the figures is not
timed). ``rwtheory.experiments.robustness.run_study`` is timed end to end (wall clock,
worker start-up included) with ``workers=1`` and ``workers=2``, alternating, ``--repeat``
times; the report gives the best wall time of each, the throughput in settings per second
and the ratio (target: 2 workers >= 1.7 x 1 worker on a 2-core machine). The bytes of the
two studies' verdicts are compared (they must be equal). On a machine shared with other
jobs the ratio measures the cores this job could get, not the code: say so with the number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from rwtheory.experiments import robustness
from rwtheory.experiments.robustness_grid import FAMILIES, load_grid
from rwtheory.report.files import atomic_write_text


def bench_grid(per_family: int) -> dict:
    """The default grid's axes, cut to the cheaper levels (see the module docstring)."""
    base = load_grid("default").as_dict()
    axes = dict(base["axes"]["fig7"])
    axes = {
        k: v
        for k, v in axes.items()
        if k in ("n_d", "noise", "outlier_features", "outlier_targets", "lr", "steps")
    }
    axes["n_d"] = ["300x20", "300x100", "100x90"]
    axes["steps"] = [s for s in axes["steps"] if s <= 1000]
    grid = dict(
        seeds=base["seeds"],
        sample_seed=base["sample_seed"],
        settings_per_family=per_family,
        include_base=False,
        axes=axes,
    )
    for family in FAMILIES:
        grid[family] = {k: v for k, v in base["axes"][family].items() if k not in axes}
    return grid


def timed(grid, workers: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        study = robustness.run_study(grid, workers=workers, out=out)
        wall = time.perf_counter() - start
    verdicts = json.dumps({f"{k[0]}:{k[1]}": v for k, v in study.verdicts.items()}, sort_keys=True)
    return wall, verdicts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", type=int, default=16, help="settings per family")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_robustness.txt"))
    args = p.parse_args(argv)
    grid = load_grid(bench_grid(args.settings))
    n = sum(len(grid.settings(f)) for f in FAMILIES)
    best = {1: float("inf"), 2: float("inf")}
    outputs = {}
    for _ in range(args.repeat):
        for workers in (1, 2):
            wall, verdicts = timed(grid, workers)
            best[workers] = min(best[workers], wall)
            outputs[workers] = verdicts
    ratio = best[1] / best[2]
    lines = [
        "bench_robustness: rwtheory robustness throughput, --workers 2 vs --workers 1",
        f"machine: {platform.platform()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end (shared machine: the ratio measures the cores "
        f"this job could get)",
        f"workload: {n} settings ({args.settings} per family), {grid.seeds} seeds each, "
        f"chunks of {robustness.CHUNK}; best of {args.repeat} wall-clock run(s)",
        f"1 worker : {best[1]:.1f} s, {n / best[1]:.2f} settings/s",
        f"2 workers: {best[2]:.1f} s, {n / best[2]:.2f} settings/s",
        f"throughput ratio 2 workers / 1 worker: {ratio:.2f} (target >= 1.7)",
        f"same verdicts from both: {outputs[1] == outputs[2]}",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    atomic_write_text(args.out, text)
    return 0 if outputs[1] == outputs[2] else 1


if __name__ == "__main__":
    raise SystemExit(main())
