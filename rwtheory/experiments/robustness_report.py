"""What the robustness study shows, written under ``figures/robustness/``:

* ``grid.json``: the grid that produced them and the package version;
* ``<family>_settings.csv``: one row per (claim, setting): the setting's parameters, the
  status, the rule's margin and the numbers the rule compared;
* ``summary.csv`` and ``summary.md``: per claim, the counts of holds / holds with caveat /
  fails with a 95 % Wilson interval for each share (scipy), the parameters that move the
  verdict most, where it flips (in words), and the most and least favourable settings;
* ``<family>_decomposition.csv`` and ``decomposition.md`` (families whose module defines
  ``decomposition``, issue 26): per setting and reweighting strategy, whether it speeds up
  the unweighted training objective and whether it improves the clean test MSE against
  uniform, the numbers behind both, and the count of each combination;
* ``<family>.png`` and ``<family>.csv`` (the plotted numbers): per claim, the status shares
  against each parameter and a 2-D map over the two parameters that move it most
  (:mod:`rwtheory.experiments.robustness_plots`; PNG only: these are diagnostics, not paper
  figures, and PDF rendering doubled the study's output time).

Every file starts with comment lines naming the grid (with its digest), the seeds and the
package version. Conventions: a setting's *score* is 1 for holds, 0.5 for holds with caveat,
0 for fails; a parameter *moves the verdict* by the spread (max - min) of the mean score
over its levels, each level averaged over the other parameters as sampled.
:func:`ledger_notes` gives the text for the claim rows of ``paper_checks.md``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from rwtheory._array import InputValueError, parse_json, read_text
from rwtheory.experiments.robustness import Study, claim_keys
from rwtheory.experiments.robustness_grid import FAMILIES, Setting, StudyGrid
from rwtheory.experiments.robustness_stats import (
    SCORE,
    STATUS_ORDER,
    ClaimStats,
    Row,
    claim_stats,
    rows,
    score_cells,
)
from rwtheory.report.files import csv_bytes, write_files_atomically

__all__ = [
    "DECOMPOSITION_CLAIM",
    "ClaimStats",
    "claim_stats",
    "combination_counts",
    "ledger_notes",
    "load",
    "write",
]


# ---------------------------------------------------------------------- words
def _setting_text(r: Row) -> str:
    return f"#{r.setting} (" + ", ".join(f"{k}={v}" for k, v in r.params.items()) + ")"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def counts_text(st: ClaimStats, study: Study) -> str:
    """'holds in k of N settings (...)' with the Wilson intervals."""
    parts = [
        f"{st.counts[s]} {s} [{_pct(st.intervals[s][0])}, {_pct(st.intervals[s][1])}]"
        for s in STATUS_ORDER
    ]
    g = study.grid
    return (
        f"holds in {st.counts['holds']} of {st.n} settings (grid {g.name} {g.digest()}, "
        f"{g.seeds} seeds each; " + ", ".join(parts) + "; 95 % Wilson intervals)"
    )


def flip_text(st: ClaimStats) -> str:
    """Where the verdict flips, in words: the status mix at each level of the parameter that
    moves it most, and the best and worst cells of the two that move it most."""
    present = [s for s in STATUS_ORDER if st.counts[s]]
    if len(present) == 1:
        return f"no flip in the grid: {present[0]} in all {st.n} settings"
    a1, *rest = st.top_axes
    levels = "; ".join(
        f"{lv}: " + "/".join(str(c[s]) for s in STATUS_ORDER) for lv, c in st.by_level[a1].items()
    )
    text = (
        f"moves most with {a1} (spread of mean score {st.effects[a1]:.2f}; "
        f"holds/caveat/fails by level: {levels})"
    )
    if rest:
        a2 = rest[0]
        cells = score_cells(st, a1, a2)
        best = max(cells.items(), key=lambda kv: (kv[1][0], kv[1][1]))
        worst = min(cells.items(), key=lambda kv: (kv[1][0], -kv[1][1]))
        text += (
            f", then {a2} ({st.effects[a2]:.2f}); best cell {a1}={best[0][0]}, "
            f"{a2}={best[0][1]}: mean score {best[1][0]:.2f} over {best[1][1]} settings; "
            f"worst {a1}={worst[0][0]}, {a2}={worst[0][1]}: {worst[1][0]:.2f} over "
            f"{worst[1][1]}"
        )
    return text


def ledger_notes(study: Study) -> dict[str, str]:
    """Claim key -> "holds in k of N settings (grid ...); <where it flips>" for the claim
    rows of ``paper_checks.md``; and, when the study holds Figure 7's decomposition records,
    their combination counts for the row :data:`DECOMPOSITION_CLAIM`."""
    out = {}
    for claim in study.claims:
        st = claim_stats(study, claim)
        out[claim] = f"Robustness: {counts_text(st, study)}; {flip_text(st)}."
    if any(study.records.get((f, s.index)) for f, ss in study.settings.items() for s in ss):
        out[DECOMPOSITION_CLAIM] = f"Robustness: {decomposition_text(study)}."
    return out


# ---------------------------------------------------------------------- decomposition
#: The ledger row whose robustness note the decomposition counts give (issue 26).
DECOMPOSITION_CLAIM = "fig7.training_objective"
#: (faster on the training objective?, better on clean test MSE?) -> short label.
COMBINATIONS = {
    (True, True): "faster on training, better on test",
    (True, False): "faster on training, not better on test",
    (False, True): "not faster on training, better on test",
    (False, False): "not faster on training, not better on test",
}


def _record_families(study: Study) -> list[str]:
    return [
        f for f, ss in study.settings.items() if any(study.records.get((f, s.index)) for s in ss)
    ]


def combination_counts(study: Study, family: str) -> dict[str, dict[str, int]]:
    """Strategy -> combination label (:data:`COMBINATIONS`) -> number of settings."""
    out: dict[str, dict[str, int]] = {}
    for s in study.settings[family]:
        for r in study.records.get((family, s.index), []):
            counts = out.setdefault(r["strategy"], dict.fromkeys(COMBINATIONS.values(), 0))
            counts[COMBINATIONS[bool(r["faster_on_training"]), bool(r["better_on_test"])]] += 1
    return out


def decomposition_text(study: Study) -> str:
    """The combination counts of every family with records, in words."""
    parts = []
    for family in _record_families(study):
        n = len(study.settings[family])
        for strategy, counts in combination_counts(study, family).items():
            parts.append(
                f"{family} {strategy} over {n} settings: "
                + ", ".join(f"{label} {k}" for label, k in counts.items())
            )
    g = study.grid
    return f"grid {g.name} {g.digest()}, {g.seeds} seeds each; " + "; ".join(parts)


def decomposition_columns(study: Study, family: str) -> dict[str, list]:
    """One row per (setting, strategy): the setting's parameters, both answers, their
    combination and the numbers behind them."""
    recs = [
        (s, r) for s in study.settings[family] for r in study.records.get((family, s.index), [])
    ]
    axes = list(dict(recs[0][0].params))
    numbers = sorted({k for _, r in recs for k in r["numbers"]})
    cols: dict[str, list] = {
        "setting": [],
        **{a: [] for a in axes},
        "strategy": [],
        "faster_on_training": [],
        "better_on_test": [],
        "combination": [],
        **{f"number_{k}": [] for k in numbers},
    }
    for s, r in recs:
        params = dict(s.params)
        cols["setting"].append(s.index)
        for a in axes:
            cols[a].append(params[a])
        faster, better = bool(r["faster_on_training"]), bool(r["better_on_test"])
        cols["strategy"].append(r["strategy"])
        cols["faster_on_training"].append(int(faster))
        cols["better_on_test"].append(int(better))
        cols["combination"].append(COMBINATIONS[faster, better])
        for k in numbers:
            v = r["numbers"].get(k)
            cols[f"number_{k}"].append("" if v is None else v)
    return cols


def decomposition_markdown(study: Study) -> str:
    lines = [
        header(study).lstrip("# ").strip(),
        "",
        "Per setting and reweighting strategy, against uniform on the same seeds (issue 26): "
        "faster on the unweighted training objective = reaches every level of the ladder "
        "(f(x_0) - f*) x {0.5, 0.2, 0.1, 0.05, 0.02} that uniform reaches no later, and one "
        "earlier (or one uniform never reaches), on the seed-mean curve; better on test = "
        "lower seed-mean final clean test MSE "
        "(rwtheory.report.providers.practice.faster_on_training / better_on_test).",
        "",
    ]
    for family in _record_families(study):
        lines += [f"## {family} ({len(study.settings[family])} settings)", ""]
        lines += ["| strategy | " + " | ".join(COMBINATIONS.values()) + " |"]
        lines += ["|---" * (1 + len(COMBINATIONS)) + "|"]
        for strategy, counts in combination_counts(study, family).items():
            lines.append(f"| {strategy} | " + " | ".join(str(k) for k in counts.values()) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------- files
def header(study: Study) -> str:
    g = study.grid
    return (
        f"# rwtheory robustness study, rwtheory {study.version}; grid {g.name} "
        f"(digest {g.digest()}: {g.settings_per_family} settings per family, sample seed "
        f"{g.sample_seed}, base setting {'included' if g.include_base else 'not included'}),"
        f" seeds 0..{g.seeds - 1} per setting\n"
    )


def settings_columns(study: Study, family: str) -> dict[str, list]:
    claims = [c for c in study.claims if c.startswith(family + ".")]
    all_rows = [r for c in claims for r in rows(study, c)]
    axes = list(all_rows[0].params)
    numbers = sorted({k for r in all_rows for k in r.numbers})  # same order from any source
    cols: dict[str, list] = {
        "claim": [],
        "setting": [],
        **{a: [] for a in axes},
        "status": [],
        "margin": [],
        **{f"rule_{k}": [] for k in numbers},
    }
    for r in all_rows:
        cols["claim"].append(r.claim)
        cols["setting"].append(r.setting)
        for a in axes:
            cols[a].append(r.params[a])
        cols["status"].append(r.status)
        cols["margin"].append(r.margin)
        for k in numbers:
            v = r.numbers.get(k)
            cols[f"rule_{k}"].append("" if v is None else v)
    return cols


def summary_columns(study: Study, stats: Sequence[ClaimStats]) -> dict[str, list]:
    cols: dict[str, list] = {
        k: []
        for k in (
            "claim",
            "settings",
            "holds",
            "holds_low",
            "holds_high",
            "caveat",
            "caveat_low",
            "caveat_high",
            "fails",
            "fails_low",
            "fails_high",
            "top_axis",
            "second_axis",
            "most_favourable",
            "least_favourable",
            "flips",
        )
    }
    for st in stats:
        vals = [st.claim, st.n]
        for s in STATUS_ORDER:
            vals += [st.counts[s], *st.intervals[s]]
        top = st.top_axes + [""] * (2 - len(st.top_axes))
        vals += [*top, _setting_text(st.ranked[0]), _setting_text(st.ranked[-1]), flip_text(st)]
        for k, v in zip(cols, vals, strict=True):
            cols[k].append(v)
    return cols


def summary_markdown(study: Study, stats: Sequence[ClaimStats]) -> str:
    lines = [
        header(study).lstrip("# ").strip(),
        "",
        "Each claim's own status rule (the code that sets its status in paper_checks.md) "
        "applied at every setting of the grid (rwtheory/experiments/robustness_grid.py "
        "argues the grid). Score: holds 1, caveat 0.5, fails 0.",
        "",
    ]
    lines += joint_lines(study) + [""]
    for st in stats:
        lines += [
            f"## `{st.claim}`",
            "",
            f"* {counts_text(st, study)}",
            f"* where it flips: {flip_text(st)}",
            "* most favourable: "
            + "; ".join(f"{r.status} {_setting_text(r)}" for r in st.ranked[:3]),
            "* least favourable: "
            + "; ".join(f"{r.status} {_setting_text(r)}" for r in st.ranked[::-1][:3]),
            "",
        ]
    return "\n".join(lines)


def joint_holds(study: Study, family: str) -> list[int]:
    """Settings of ``family`` where every claim of the family studied holds at once (for
    Fig. 7: the paper's ordering, linupper first, quadratic ahead of uniform, extremes
    last)."""
    claims = [c for c in study.claims if c.startswith(family + ".")]
    return [
        s.index
        for s in study.settings[family]
        if all(
            v["status"] == "holds"
            for v in study.verdicts[(family, s.index)]
            if v["claim"] in claims
        )
    ]


def joint_lines(study: Study) -> list[str]:
    lines = ["## Every claim of a family at once", ""]
    for family, settings in study.settings.items():
        claims = [c for c in study.claims if c.startswith(family + ".")]
        ok = joint_holds(study, family)
        shown = "; ".join(_setting_text(r) for r in rows(study, claims[0]) if r.setting in ok[:5])
        lines.append(
            f"* {family} ({', '.join(c.split('.', 1)[1] for c in claims)}): all hold "
            f"in {len(ok)} of {len(settings)} settings" + (f", e.g. {shown}" if ok else "")
        )
    return lines


def write(study: Study, out: str | Path) -> list[Path]:
    """Write every output of the study into ``out`` (each file atomically, all rendered
    in memory first)."""
    from rwtheory.experiments.robustness_plots import family_figure

    out = Path(out)
    head = header(study).encode()
    stats = [claim_stats(study, c) for c in study.claims]
    blobs = {
        out / "summary.csv": head + csv_bytes(summary_columns(study, stats)),
        out / "summary.md": summary_markdown(study, stats).encode(),
        out / "grid.json": (
            json.dumps(dict(study.grid.as_dict(), version=study.version), indent=1) + "\n"
        ).encode(),
    }
    families = list(dict.fromkeys(c.split(".")[0] for c in study.claims))
    with_records = _record_families(study)
    for family in with_records:
        blobs[out / f"{family}_decomposition.csv"] = head + csv_bytes(
            decomposition_columns(study, family)
        )
    if with_records:
        blobs[out / "decomposition.md"] = decomposition_markdown(study).encode()
    for family in families:
        blobs[out / f"{family}_settings.csv"] = head + csv_bytes(settings_columns(study, family))
        fam_stats = [st for st in stats if st.claim.startswith(family + ".")]
        figure, columns = family_figure(family, fam_stats)
        blobs.update(_render(figure, out / family))
        blobs[out / f"{family}.csv"] = head + csv_bytes(columns)
    return write_files_atomically(blobs)


def _render(figure, stem: Path) -> dict[Path, bytes]:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    figure.savefig(buf, format="png", metadata={"Software": None}, dpi=110)
    plt.close(figure)
    return {stem.with_suffix(".png"): buf.getvalue()}


def load(out: str | Path) -> Study:
    """The study whose outputs :func:`write` left in ``out`` (``grid.json`` and the
    ``<family>_settings.csv`` files), e.g. for :func:`ledger_notes` without a rerun.

    Everything read is checked first: ``out`` must be a folder holding ``grid.json``, which
    must be UTF-8 JSON valid against ``$defs/study_file`` of the grid schema
    (:func:`rwtheory.experiments.robustness_grid.grid_schema`), and every row of a settings
    file must name a claim of its family, one of its settings, a status and a finite margin;
    an error names the file (and the line) and what is wrong."""
    out = Path(out)
    if not (out / "grid.json").is_file():
        raise InputValueError(
            f"robustness study folder must hold grid.json (written by `rwtheory robustness`), "
            f"got {str(out)!r}"
        )
    what = f"{str(out / 'grid.json')!r}"
    meta = parse_json(read_text(out / "grid.json", what), what)
    grid = StudyGrid.from_dict(meta, what, study_file=True)
    claims: list[str] = []
    settings: dict[str, list[Setting]] = {}
    verdicts: dict[tuple[str, int], list[dict]] = {}
    for family in FAMILIES:
        path = out / f"{family}_settings.csv"
        if not path.exists():
            continue
        settings[family] = grid.settings(family)
        for row in _settings_rows(path, family, len(settings[family])):
            claims.append(row["claim"])
            verdicts.setdefault((family, row["setting"]), []).append(
                {k: row[k] for k in ("claim", "status", "margin", "numbers")}
            )
    order = [k for f in settings for k in claim_keys(f)]
    claims = [k for k in order if k in set(claims)]
    records: dict[tuple[str, int], list[dict]] = {key: [] for key in verdicts}
    for family in settings:
        for index, record in _load_records(out / f"{family}_decomposition.csv"):
            records[(family, index)].append(record)
    return Study(grid, tuple(claims), settings, verdicts, meta["version"], records)


def _load_records(path: Path) -> list[tuple[int, dict]]:
    """(setting index, record) of every row of a ``<family>_decomposition.csv`` (none when
    the file is absent), in file order."""
    if not path.exists():
        return []
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return [
        (
            int(row["setting"]),
            dict(
                strategy=row["strategy"],
                faster_on_training=row["faster_on_training"] == "1",
                better_on_test=row["better_on_test"] == "1",
                numbers={
                    k[7:]: float(v) if v else None
                    for k, v in row.items()
                    if k.startswith("number_")
                },
            ),
        )
        for row in csv.DictReader(lines)
    ]


def _settings_rows(path: Path, family: str, n_settings: int) -> list[dict]:
    """The checked rows of a ``<family>_settings.csv``."""
    text = read_text(path, f"{str(path)!r}")
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    keys = claim_keys(family)
    rows = []
    for i, row in enumerate(csv.DictReader(lines), start=2):
        where = f"{str(path)!r} row {i}"
        try:
            setting, margin = int(row["setting"]), float(row["margin"])
            numbers = {
                k[5:]: float(v) if v else None for k, v in row.items() if k.startswith("rule_")
            }
            claim, status = row["claim"], row["status"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputValueError(
                f"{where} must have a claim, an integer setting, a status and a numeric "
                f"margin and rule_* values ({type(exc).__name__}: {exc})"
            ) from None
        if claim not in keys or status not in SCORE or not 0 <= setting < n_settings:
            raise InputValueError(
                f"{where} must name a claim of {keys}, a status of {tuple(SCORE)} and a "
                f"setting in 0..{n_settings - 1}, got {claim!r}, {status!r}, {setting}"
            )
        rows.append(
            dict(claim=claim, status=status, margin=margin, numbers=numbers, setting=setting)
        )
    return rows
