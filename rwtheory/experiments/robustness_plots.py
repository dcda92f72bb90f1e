"""The robustness study's figure of one claim family. Top row, one panel per parameter:
for each claim of the family (one colour each), the share of settings where the claim holds
(solid) and where it holds at least with caveat (dashed) at each level of the parameter,
marginally over the other parameters as sampled. Bottom row, one panel per claim: the mean
score (holds 1, caveat 0.5, fails 0) on the grid of the two parameters that move that
claim's verdict most, each cell labelled with its number of settings. Returns the plotted
numbers as CSV columns."""

from __future__ import annotations

import numpy as np

from rwtheory.experiments.robustness_stats import ClaimStats, score_map

__all__ = ["family_figure"]

COLUMNS = ("claim", "panel", "series", "level", "level2", "value", "settings")


def family_figure(family: str, stats: list[ClaimStats]):
    """(matplotlib figure, columns) for the claims ``stats`` of ``family``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(stats[0].by_level)
    fig = plt.figure(figsize=(2.2 * len(names), 6.4))
    outer = fig.add_gridspec(
        2, 1, height_ratios=[1, 1.3], hspace=0.75, left=0.06, right=0.98, top=0.82, bottom=0.14
    )
    row = outer[0].subgridspec(1, len(names), wspace=0.45)
    top = [fig.add_subplot(row[i]) for i in range(len(names))]
    slots = max(len(stats), 3)
    row = outer[1].subgridspec(1, slots, wspace=0.7)
    bottom = [fig.add_subplot(row[i]) for i in range(slots)]
    cols: dict[str, list] = {k: [] for k in COLUMNS}
    for ax, axis in zip(top, names, strict=True):
        _shares(ax, stats, axis, cols)
    for ax, st in zip(bottom, stats, strict=False):
        _map(ax, st, cols)
    for ax in bottom[len(stats) :]:
        ax.set_axis_off()
    top[0].set_ylabel("share of settings", fontsize=7)
    handles, labels = top[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=min(4, len(labels)),
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.5, 0.95),
    )
    fig.suptitle(
        f"{family}: status of each claim's own rule across the grid "
        f"(solid: holds, dashed: holds or holds with caveat; bottom: mean score on "
        f"the two parameters that move the verdict most)",
        fontsize=8,
        y=0.985,
    )
    return fig, cols


def _add(cols, *values):
    for k, v in zip(COLUMNS, values, strict=True):
        cols[k].append(v)


def _shares(ax, stats: list[ClaimStats], axis: str, cols) -> None:
    levels = list(stats[0].by_level[axis])
    x = np.arange(len(levels))
    for i, st in enumerate(stats):
        counts = st.by_level[axis]
        totals = np.array([sum(counts[lv].values()) for lv in levels], dtype=float)
        holds = np.array([counts[lv]["holds"] for lv in levels]) / totals
        some = holds + np.array([counts[lv]["holds with caveat"] for lv in levels]) / totals
        color = f"C{i}"
        ax.plot(x, holds, "o-", color=color, ms=3, lw=1, label=st.claim)
        ax.plot(x, some, "s--", color=color, ms=2, lw=0.8)
        for lv, h, s, n in zip(levels, holds, some, totals, strict=True):
            _add(cols, st.claim, axis, "holds", lv, "", float(h), int(n))
            _add(cols, st.claim, axis, "holds or caveat", lv, "", float(s), int(n))
    ax.set_xticks(x, levels, rotation=60, fontsize=6, ha="right")
    ax.set_ylim(-0.03, 1.03)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_title(axis, fontsize=7)
    ax.grid(alpha=0.3)


def _map(ax, st: ClaimStats, cols) -> None:
    top = st.top_axes
    if len(top) < 2:
        ax.set_axis_off()
        return
    a1, a2 = top
    l1, l2, score, count = score_map(st, a1, a2)
    ax.imshow(score, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    for i in range(len(l1)):
        for j in range(len(l2)):
            ax.text(j, i, str(count[i, j]), ha="center", va="center", fontsize=6)
            _add(
                cols,
                st.claim,
                f"map {a1} x {a2}",
                "mean score",
                l1[i],
                l2[j],
                float(score[i, j]),
                int(count[i, j]),
            )
    ax.set_xticks(range(len(l2)), l2, rotation=60, fontsize=6, ha="right")
    ax.set_yticks(range(len(l1)), l1, fontsize=6)
    ax.set_xlabel(a2, fontsize=7)
    ax.set_ylabel(a1, fontsize=7)
    ax.set_title(f"{st.claim.split('.', 1)[1]}: mean score", fontsize=7)
