"""The robustness study's figure of one claim family: one row per claim; one panel per
parameter with the share of settings in each status at each of its levels (stacked bars,
holds / holds with caveat / fails), and a last panel mapping the mean score (holds 1,
caveat 0.5, fails 0) over the two parameters that move the claim's verdict most, each cell
labelled with its number of settings. Returns the plotted numbers as CSV columns."""

from __future__ import annotations

import numpy as np

from rwtheory.experiments.robustness_report import (
    STATUS_ORDER,
    ClaimStats,
    mean_scores,
    score_map,
)

__all__ = ["family_figure"]

COLORS = {"holds": "#2a9d4b", "holds with caveat": "#f0a030", "fails": "#c83c3c"}
COLUMNS = ("claim", "panel", "series", "level", "level2", "share", "settings")


def family_figure(family: str, stats: list[ClaimStats]):
    """(matplotlib figure, columns) for the claims ``stats`` of ``family``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    axes_names = list(stats[0].by_level)
    ncols = len(axes_names) + 1
    fig, grid = plt.subplots(len(stats), ncols, figsize=(2.3 * ncols + 1.5, 2.6 * len(stats)),
                             squeeze=False)
    cols = {k: [] for k in COLUMNS}
    for row, st in zip(grid, stats, strict=True):
        for ax, axis in zip(row[:-1], axes_names, strict=False):
            _shares(ax, st, axis, cols)
        _map(fig, row[-1], st, cols)
        row[0].set_ylabel(f"{st.claim}\nshare of settings", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[s]) for s in STATUS_ORDER]
    fig.tight_layout()
    fig.legend(handles, STATUS_ORDER, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
               fontsize=8, frameon=False)
    fig.suptitle(f"{family}: status of each claim's own rule across the grid (share of "
                 f"settings per level; dots: mean score; title: its spread)", y=1.08,
                 fontsize=10)
    return fig, cols


def _add(cols, claim, panel, series, level, level2, share, settings):
    for k, v in zip(COLUMNS, (claim, panel, series, level, level2, share, settings),
                    strict=True):
        cols[k].append(v)


def _shares(ax, st: ClaimStats, axis: str, cols) -> None:
    levels = st.by_level[axis]
    x = np.arange(len(levels))
    bottom = np.zeros(len(levels))
    totals = np.array([sum(c.values()) for c in levels.values()], dtype=float)
    for status in STATUS_ORDER:
        share = np.array([c[status] for c in levels.values()]) / totals
        ax.bar(x, share, bottom=bottom, color=COLORS[status], width=0.8)
        bottom += share
        for lv, sh, tot in zip(levels, share, totals, strict=True):
            _add(cols, st.claim, axis, status, lv, "", float(sh), int(tot))
    scores = mean_scores(st, axis)
    ax.plot(x, list(scores.values()), "k.-", lw=0.8, ms=4)
    for lv, sc, tot in zip(levels, scores.values(), totals, strict=True):
        _add(cols, st.claim, axis, "mean score", lv, "", float(sc), int(tot))
    ax.set_xticks(x, list(levels), rotation=60, fontsize=6, ha="right")
    ax.set_ylim(0, 1)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_title(f"{axis} ({st.effects[axis]:.2f})", fontsize=7)


def _map(fig, ax, st: ClaimStats, cols) -> None:
    top = st.top_axes
    if len(top) < 2:
        ax.set_axis_off()
        return
    a1, a2 = top
    l1, l2, score, count = score_map(st, a1, a2)
    im = ax.imshow(score, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    for i in range(len(l1)):
        for j in range(len(l2)):
            ax.text(j, i, str(count[i, j]), ha="center", va="center", fontsize=6)
            _add(cols, st.claim, f"map {a1} x {a2}", "mean score", l1[i], l2[j],
                 float(score[i, j]), int(count[i, j]))
    ax.set_xticks(range(len(l2)), l2, rotation=60, fontsize=6, ha="right")
    ax.set_yticks(range(len(l1)), l1, fontsize=6)
    ax.set_xlabel(a2, fontsize=7)
    ax.set_ylabel(a1, fontsize=7)
    ax.set_title("mean score (n settings)", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.05)
