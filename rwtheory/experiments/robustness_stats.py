"""The robustness study's statistics of one claim over the settings of its family: the
status counts with 95 % Wilson intervals, the status mix at each level of each parameter,
how much each parameter moves the verdict, the settings ranked from most to least
favourable, and the mean score on the grid of two parameters. Read by the study's report
(:mod:`rwtheory.experiments.robustness_report`: tables and words) and its figures
(:mod:`rwtheory.experiments.robustness_plots`), which import it and not each other.

Conventions: a setting's *score* is 1 for holds, 0.5 for holds with caveat, 0 for fails; a
parameter *moves the verdict* by the spread (max - min) of the mean score over its levels,
each level averaged over the other parameters as sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rwtheory.experiments.robustness import Study

__all__ = [
    "SCORE",
    "STATUS_ORDER",
    "ClaimStats",
    "Row",
    "claim_stats",
    "rows",
    "score_cells",
    "score_map",
    "wilson",
]

STATUS_ORDER = ("holds", "holds with caveat", "fails")
SCORE = {"holds": 1.0, "holds with caveat": 0.5, "fails": 0.0}


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval for a share of k in n (scipy.stats.binomtest)."""
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class Row:
    """One (claim, setting) of the study."""

    claim: str
    family: str
    setting: int
    params: dict
    status: str
    margin: float
    numbers: dict


def rows(study: Study, claim: str) -> list[Row]:
    family = claim.split(".")[0]
    out = []
    for s in study.settings[family]:
        v = next(x for x in study.verdicts[(family, s.index)] if x["claim"] == claim)
        out.append(
            Row(claim, family, s.index, dict(s.params), v["status"], v["margin"], v["numbers"])
        )
    return out


@dataclass(frozen=True)
class ClaimStats:
    """Per claim: counts and Wilson intervals by status, the axes ranked by how much they
    move the verdict (``effects``: axis -> spread of the mean score), per axis and level the
    status counts, and the settings ranked from most to least favourable."""

    claim: str
    n: int
    counts: dict[str, int]
    intervals: dict[str, tuple[float, float]]
    effects: dict[str, float]
    by_level: dict[str, dict[str, dict[str, int]]]
    ranked: list[Row]

    @property
    def top_axes(self) -> list[str]:
        return sorted(self.effects, key=lambda a: -self.effects[a])[:2]


def claim_stats(study: Study, claim: str) -> ClaimStats:
    rs = rows(study, claim)
    n = len(rs)
    counts = {s: sum(r.status == s for r in rs) for s in STATUS_ORDER}
    by_level, effects = {}, {}
    for axis, declared in study.grid.axes[claim.split(".")[0]].items():
        levels = {str(v): {s: 0 for s in STATUS_ORDER} for v in declared}  # grid order
        for r in rs:
            levels[str(r.params[axis])][r.status] += 1
        levels = {lv: c for lv, c in levels.items() if sum(c.values())}
        by_level[axis] = levels
        means = [sum(SCORE[s] * k for s, k in c.items()) / sum(c.values()) for c in levels.values()]
        effects[axis] = max(means) - min(means)
    ranked = sorted(rs, key=lambda r: (-SCORE[r.status], -r.margin, r.setting))
    return ClaimStats(
        claim, n, counts, {s: wilson(k, n) for s, k in counts.items()}, effects, by_level, ranked
    )


def score_cells(st: ClaimStats, a1: str, a2: str) -> dict[tuple[str, str], tuple[float, int]]:
    """(level of a1, level of a2) -> (mean score, settings) over the claim's settings."""
    acc: dict[tuple[str, str], tuple[float, int]] = {}
    for r in st.ranked:
        key = (str(r.params[a1]), str(r.params[a2]))
        tot, k = acc.get(key, (0.0, 0))
        acc[key] = (tot + SCORE[r.status], k + 1)
    return {k: (tot / m, m) for k, (tot, m) in acc.items()}


def score_map(
    st: ClaimStats, a1: str, a2: str
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Levels of a1 and a2, and (mean score, settings) on their grid (NaN / 0 if empty)."""
    l1, l2 = list(st.by_level[a1]), list(st.by_level[a2])
    cells = score_cells(st, a1, a2)
    score = np.full((len(l1), len(l2)), np.nan)
    count = np.zeros((len(l1), len(l2)), dtype=int)
    for (v1, v2), (m, k) in cells.items():
        score[l1.index(v1), l2.index(v2)] = m
        count[l1.index(v1), l2.index(v2)] = k
    return l1, l2, score, count
