"""CPU cost that issue 26's work adds to the main job (``rwtheory reproduce``), measured with
``time.process_time`` in one process with one BLAS thread (as in the job's workers).

    python benchmarks/bench_practice.py [--settings 8] [--out benchmarks/results/bench_practice.txt]

1. The figure task ``theory_vs_practice`` (its full configuration): the study
   (:func:`rwtheory.theory.practice.study`), Figure 7's runs with the iterates kept, the
   drawing and saving (PNG, PDF, CSV into a temporary folder).
2. The robustness study's extra work for Figures 7 and 8 (every setting now keeps its
   iterates and computes f(x_t) - f* and ||x_t - x*_clean||^2): on the first ``--settings``
   settings of each family of the default grid, the grid's runs without the iterates
   (``run_grid(keep_iterates=False)``, what the study ran before) against the same runs with
   them plus :func:`rwtheory.experiments.common.training_records`, alternating, side by side
   in one process; the extra CPU of the sample is scaled to the family's size.

On a machine shared with other jobs process_time still counts only this process's CPU, but
caches and memory bandwidth are shared: say so with the numbers.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from rwtheory.convex.problems import seed_list  # noqa: E402
from rwtheory.experiments import fig7, fig8, theory_vs_practice  # noqa: E402
from rwtheory.experiments.common import run_grid, training_records  # noqa: E402
from rwtheory.experiments.robustness_grid import load_grid  # noqa: E402
from rwtheory.report.figures import save  # noqa: E402
from rwtheory.report.files import atomic_write_text  # noqa: E402


def figure_task() -> dict:
    t0 = time.process_time()
    result = theory_vs_practice.build(quick=False)
    t1 = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        save(result, tmp)
    t2 = time.process_time()
    study = result.summary.study.seconds
    return dict(build=t1 - t0, study=study, figure7=t1 - t0 - study, save=t2 - t1, total=t2 - t0)


def _configs(family: str, kwargs: dict):
    """The configs and run_grid arguments of a setting, as the family's measure builds them."""
    k = dict(kwargs)
    lr, r = k.pop("lr"), k.pop("r")
    if family == "fig7":
        return fig7.configs(lr, r), k
    tau = k.pop("tau")
    return fig8.configs(lr, r, tau, lr * fig8.SMALL_LR / fig8.LR), k


def robustness_overhead(per_family: int) -> dict:
    grid = load_grid("default")
    out = {}
    for family in ("fig7", "fig8"):
        settings = grid.settings(family)
        old = new = 0.0
        for s in settings[:per_family]:
            configs, k = _configs(family, s.kwargs())
            steps, seeds = k.pop("steps"), seed_list(grid.seeds)
            for keep in (False, True):
                t = time.process_time()
                g = run_grid(configs, seeds, steps=steps, keep_iterates=keep, **k)
                if keep:
                    training_records(g)
                    new += time.process_time() - t
                else:
                    old += time.process_time() - t
        n = len(settings)
        out[family] = dict(
            sampled=min(per_family, n),
            settings=n,
            old=old,
            new=new,
            ratio=new / old,
            extra_full=(new - old) * n / min(per_family, n),
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", type=int, default=8)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    fig = figure_task()
    rob = robustness_overhead(args.settings)
    lines = [
        f"# bench_practice on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other jobs), one BLAS thread",
        f"theory_vs_practice figure task: {fig['total']:.1f} s CPU (study {fig['study']:.1f} s, "
        f"Figure 7 runs {fig['figure7']:.1f} s, drawing and saving {fig['save']:.1f} s)",
    ]
    extra = fig["total"]
    for family, r in rob.items():
        lines.append(
            f"robustness {family}: {r['sampled']} of {r['settings']} default settings, runs "
            f"without iterates {r['old']:.1f} s vs with iterates + records {r['new']:.1f} s CPU "
            f"(x{r['ratio']:.3f}); scaled to the family: +{r['extra_full']:.1f} s"
        )
        extra += r["extra_full"]
    lines.append(f"added to the main job: about {extra:.0f} s CPU (target <= 90 s)")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
