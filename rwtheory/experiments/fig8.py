"""Figure 8: 25 % outliers; uniform, linupper and DRO-KL at one shared learning rate, and
DRO-KL at a smaller rate.

Regenerate with ``rwtheory figures --only fig8 [--seeds N] [--quick]``.

Choices made before running (the paper's were lost): DRO-KL temperature tau = 1 (the middle
of the paper's Table 12 grid {0.4, 1, 2, 5, 10}), linupper r = 1 (as in Figure 7), the
shared rate lr = 0.1 (Figure 7's) and the smaller rate lr / 10. Divergence is drawn
honestly: every seed of DRO-KL at the shared rate is its own line, on a log axis whose
limits are matplotlib's automatic ones (nothing is clipped), ending with a cross where the
run diverged. As a supplement, the summary (not the figure) also reports DRO-KL at the
shared rate for every temperature of Table 12.
"""

from __future__ import annotations

import numpy as np

from rwtheory.report.claim import Claim
from rwtheory.report.figures import FigureResult
from rwtheory.convex.schemes import DROKL, Strategy

from rwtheory.experiments._common import (
    Config,
    Table,
    fmt,
    fmt_steps,
    new_figure,
    problem_text,
    run_grid,
    seeds_for,
    spread,
    steps_to_level,
)

NAME = "fig8"
OUTLIER_FRACTION = 0.25
LR, SMALL_LR = 0.1, 0.01
R_LINUPPER, TAU = 1.0, 1.0
TAU_GRID = (0.4, 1.0, 2.0, 5.0, 10.0)
STEPS, QUICK_STEPS = 2000, 400
COMMAND = "rwtheory figures --only fig8"


def configs() -> list[Config]:
    return [Config("uniform", Strategy("uniform"), LR, f"uniform, lr={LR:g}"),
            Config("linupper", Strategy("linupper", R_LINUPPER), LR,
                   f"linupper (r={R_LINUPPER:g}), lr={LR:g}"),
            Config("dro_kl", DROKL(TAU), LR, f"DRO-KL (tau={TAU:g}), lr={LR:g}"),
            Config("dro_kl_small", DROKL(TAU), SMALL_LR,
                   f"DRO-KL (tau={TAU:g}), lr={SMALL_LR:g}")]


def build(*, seeds: int | None = None, quick: bool = False) -> FigureResult:
    seed_ids = seeds_for(seeds, quick)
    steps = QUICK_STEPS if quick else STEPS
    cfgs = configs()
    sweep = [Config(f"dro_kl_tau{tau:g}", DROKL(tau), LR) for tau in TAU_GRID if tau != TAU]
    grid = run_grid(cfgs + sweep, seed_ids, steps=steps, desc=NAME,
                    outlier_fraction=OUTLIER_FRACTION)
    S = len(seed_ids)
    fig, (ax, ax2) = new_figure(2)
    table = Table()
    t = np.arange(1, steps + 1)
    summary = {"steps": steps, "seeds": S}
    for c in cfgs:
        for panel, axis, name in (("test", ax, "test_loss"), ("train", ax2, "train_loss")):
            curves = grid.field(c.key, name)
            div = grid.diverged_at(c.key)
            if (div >= 0).any():   # every seed its own line, ending where it diverged
                color = None
                for j, seed in enumerate(seed_ids):
                    ok = np.isfinite(curves[j, 1:])
                    line, = axis.plot(t[ok], curves[j, 1:][ok], color=color, lw=0.8,
                                      label=c.label + " (each seed)" if j == 0 else None)
                    color = line.get_color()
                    table.add(panel, f"{c.label} seed {seed}", t[ok], curves[j, 1:][ok])
                    if div[j] >= 1:
                        k = div[j] - 1   # last finite iterate
                        axis.plot([k], [curves[j, k]], "x", color=color, ms=8, mew=2)
                        table.add(panel, f"{c.label} seed {seed} diverged after", [k],
                                  [curves[j, k]])
            else:
                mean, lo, hi = spread(curves)
                line, = axis.plot(t, mean[1:], label=c.label)
                axis.fill_between(t, lo[1:], hi[1:], color=line.get_color(), alpha=0.2, lw=0)
                table.add(panel, c.label, t, mean[1:], lo[1:], hi[1:])
        div = grid.diverged_at(c.key)
        test = grid.field(c.key, "test_loss")
        train = grid.field(c.key, "train_loss")
        summary[f"{c.key}_diverged"] = int((div >= 0).sum())
        summary[f"{c.key}_diverged_at"] = div.tolist()
        summary[f"{c.key}_max_train_ratio"] = float(np.nanmax(train / train[:, :1]))
        ok = div < 0
        summary[f"{c.key}_final"] = float(test[ok, -1].mean()) if ok.any() else float("nan")
        summary[f"{c.key}_max_rho"] = float(np.nanmax(grid.field(c.key, "rho")))
    lin_final = summary["linupper_final"]
    for c in cfgs:
        test = grid.field(c.key, "test_loss")
        ok = grid.diverged_at(c.key) < 0
        mean = test[ok].mean(axis=0) if ok.any() else np.full(steps + 1, np.nan)
        summary[f"{c.key}_to_linupper_final_x1.1"] = steps_to_level(mean, 1.1 * lin_final)
        for k in (10, 100, 1000):
            if k <= steps:
                summary[f"{c.key}_at{k}"] = float(mean[k])
    summary["tau_sweep"] = {}
    for tau in TAU_GRID:
        key = "dro_kl" if tau == TAU else f"dro_kl_tau{tau:g}"
        div = grid.diverged_at(key)
        summary["tau_sweep"][tau] = dict(
            diverged=int((div >= 0).sum()),
            max_train_ratio=float(np.nanmax(grid.field(key, "train_loss")
                                            / grid.field(key, "train_loss")[:, :1])),
            max_rho=float(np.nanmax(grid.field(key, "rho"))))
    L = grid.extra.get("L")
    for axis, what in ((ax, "clean test MSE"), (ax2, "training loss f(x_t)")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("step t")
        axis.set_ylabel(what)
        axis.grid(alpha=0.3, which="both")
    ax.set_title(f"{int(OUTLIER_FRACTION * 100)} % outliers, {S} seeds: test")
    ax2.set_title("training loss (x: diverged, f > 1e10 f(x_0))")
    ax.legend(fontsize=7)
    fig.tight_layout()
    del L
    caption = (
        f"Figure 8 analogue: {int(OUTLIER_FRACTION * 100)} % outliers. Full-batch reweighted "
        f"GD for {steps} steps: uniform, linupper (r={R_LINUPPER:g}, delta=1) and DRO-KL "
        f"(w = softmax(l/tau) on the raw losses, tau={TAU:g}, uncapped) at the shared lr={LR:g}, "
        f"and DRO-KL at lr={SMALL_LR:g}. Left: clean test MSE; right: training loss f(x_t); "
        f"log-log, steps 1..{steps}, automatic axis limits. Configurations without divergence: "
        f"line = mean over {S} seeds, band = min..max. A configuration with a diverged seed "
        f"(DRO-KL at lr={LR:g}: {summary['dro_kl_diverged']}/{S} seeds diverged) is drawn seed "
        f"by seed, each line ending with a cross at its last iterate before divergence "
        f"(divergence: f(x_t) non-finite or > 1e10 f(x_0)). {problem_text(grid.problem_params)}")
    return FigureResult(NAME, fig, table.columns(), caption, summary)


def claims(result: FigureResult) -> list[Claim]:
    s = result.summary
    S = s["seeds"]
    n_div = s["dro_kl_diverged"]
    sweep = "; ".join(f"tau={tau:g}: {v['diverged']}/{S} diverged, max f(x_t)/f(x_0) "
                      f"{fmt(v['max_train_ratio'], 3)}, max rho {fmt(v['max_rho'], 3)}"
                      for tau, v in s["tau_sweep"].items())
    others = (f"uniform {s['uniform_diverged']}/{S}, linupper {s['linupper_diverged']}/{S} "
              f"diverged (max rho {fmt(s['linupper_max_rho'], 3)})")
    div_status = ("holds" if n_div == S else "holds with caveat" if n_div > 0 else "fails")
    small_div = s["dro_kl_small_diverged"]
    t_small = s["dro_kl_small_to_linupper_final_x1.1"]
    t_lin = s["linupper_to_linupper_final_x1.1"]
    # slower: reaches linupper's level later; never reaching it (it converges, to a worse
    # point) is not "slower convergence" but a worse limit: caveat, said in the number
    if small_div > 0 or (t_small is not None and t_lin is not None and t_small <= t_lin):
        slow_status = "fails"
    elif t_small is None:
        slow_status = "holds with caveat"
    else:
        slow_status = "holds"
    at = [k for k in (10, 100, 1000) if f"linupper_at{k}" in s]
    setting = (f"{int(OUTLIER_FRACTION * 100)} % outliers, full-batch GD, {s['steps']} steps, "
               f"{S} seeds")
    return [
        Claim(key="fig8.drokl_diverges_shared_rate", section="App. B.3, Fig. 8",
              paper="because it focuses heavily on the hard samples, DRO-KL diverges when we "
                    "use the same learning rate as the other two methods (our LinUpper method "
                    "& the Uniform baseline)",
              quoted=True,
              ours=f"{setting}: at lr={LR:g}, where uniform and linupper (r={R_LINUPPER:g}) "
                   f"converge, DRO-KL (tau={TAU:g}, chosen a priori) diverges (f(x_t) "
                   f"non-finite or > 1e10 f(x_0)): holds if on every seed, holds with caveat "
                   f"if on some, fails if on none",
              how=COMMAND, status=div_status,
              number=f"DRO-KL tau={TAU:g}: {n_div}/{S} seeds diverged (at steps "
                     f"{[d for d in s['dro_kl_diverged_at'] if d >= 0]}); largest f(x_t)/f(x_0) "
                     f"{fmt(s['dro_kl_max_train_ratio'], 3)}; {others}. Table-12 sweep at "
                     f"lr={LR:g}: {sweep}"),
        Claim(key="fig8.drokl_slower_small_rate", section="App. B.3, Fig. 8",
              paper="The DRO-KL method requires a smaller learning rate to converge, in which "
                    "case it converges slower than our method.",
              quoted=True,
              ours=f"{setting}: DRO-KL (tau={TAU:g}) at lr={SMALL_LR:g} does not diverge and "
                   f"needs more steps than linupper at lr={LR:g} to bring the seed-mean test "
                   f"MSE to 1.1 x linupper's final value: holds if it gets there later, holds "
                   f"with caveat if it converges without ever getting there (a worse limit, "
                   f"not slower convergence), fails if it diverges or gets there first",
              how=COMMAND, status=slow_status,
              number=f"DRO-KL lr={SMALL_LR:g}: {small_div}/{S} diverged, steps to "
                     f"{fmt(1.1 * s['linupper_final'])}: {fmt_steps(t_small)} vs linupper "
                     f"{fmt_steps(t_lin)}; mean test MSE at steps {at}: DRO-KL "
                     + "/".join(fmt(s[f'dro_kl_small_at{k}']) for k in at) + " vs linupper "
                     + "/".join(fmt(s[f'linupper_at{k}']) for k in at)
                     + f"; final: DRO-KL {fmt(s['dro_kl_small_final'])}, linupper "
                       f"{fmt(s['linupper_final'])}, uniform {fmt(s['uniform_final'])}"),
        Claim(key="fig8.linupper_vs_uniform_25pct", section="App. B.3, Fig. 8",
              paper="LinUpper handles outliers better than the baselines (reconstructed from "
                    "'which we attribute to its ability to handle outliers'; Fig. 8's curves "
                    "were lost)",
              quoted=False,
              ours=f"{setting}: linupper (r={R_LINUPPER:g}) ends with a lower seed-mean clean "
                   f"test MSE than uniform at the shared lr={LR:g}",
              how=COMMAND,
              status="holds" if s["linupper_final"] < s["uniform_final"] else "fails",
              number=f"final test MSE linupper {fmt(s['linupper_final'])} vs uniform "
                     f"{fmt(s['uniform_final'])}"),
    ]
