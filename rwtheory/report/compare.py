"""``rwtheory compare``: how far a run's outputs agree with the committed ones.

For a user on a machine whose CPU code paths cannot be pinned to the reference machine's
(ARM, Apple silicon: :mod:`rwtheory.experiments.pins`), or anyone who wants to know whether
their regenerated outputs agree. Two output trees are compared, each laid out as the
repository: ``paper_checks.md`` and ``paper_checks.json`` (the ledger) and ``figures/``
(with the robustness study in ``figures/robustness/``):

* every file of the reference tree: byte-identical, missing, or different -- for a CSV, per
  numeric column the largest absolute and relative difference and the row where it occurs
  (the row named by its text columns); a column or row count that differs is said so;
* every claim's status in the two ledgers;
* every robustness claim's holds / caveat / fails counts out of N settings
  (``figures/robustness/summary.csv``).

Agreement means every status and every k/N is equal (exit status 0); printed digits may
differ (a different CPU rounds differently in the last bits, which chaotic runs amplify).
Assumption: a relative difference is taken against the reference value, where it is not 0.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ColumnDiff", "Comparison", "compare_trees", "csv_differences", "render"]

#: The reference tree's files that are compared (globs relative to its root).
PATTERNS = ("paper_checks.md", "paper_checks.json", "figures/*.*", "figures/robustness/*.*")


@dataclass(frozen=True)
class ColumnDiff:
    """The largest difference in one numeric column of a CSV: absolute and relative (to the
    reference value) and the row where the absolute one occurs (its text cells)."""

    column: str
    abs_diff: float
    rel_diff: float
    row: str


@dataclass
class Comparison:
    """The outcome of :func:`compare_trees`. ``files``: path -> ``"identical"``,
    ``"missing"`` or ``"differs"``; ``columns``: CSV path -> its differing columns, or a
    one-line reason when the tables cannot be compared cell by cell; ``statuses``: claim id
    -> (reference, run) for the claims whose status differs (None: absent);
    ``robustness``: claim -> (reference k/N, run k/N) where they differ."""

    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, list[ColumnDiff] | str] = field(default_factory=dict)
    statuses: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    robustness: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    claims: int = 0
    robustness_claims: int = 0

    @property
    def agree(self) -> bool:
        """Every status and every robustness k/N equal (digits may differ)."""
        return not self.statuses and not self.robustness


def _table(text: str) -> list[list[str]]:
    """A CSV of this package without its ``#`` comment lines."""
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return list(csv.reader(io.StringIO("\n".join(lines))))


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def csv_differences(reference: str, run: str) -> list[ColumnDiff] | str:
    """Per numeric column of two CSV texts, the largest difference (columns that agree are
    left out); a one-line reason instead when their headers or row counts differ."""
    ref, new = _table(reference), _table(run)
    if not ref or not new or ref[0] != new[0]:
        return "the header differs"
    if len(ref) != len(new):
        return f"{len(ref) - 1} rows in the reference, {len(new) - 1} in the run"
    header, diffs = ref[0], []
    for j, name in enumerate(header):
        worst: tuple[float, float, int] | None = None
        for i, (a, b) in enumerate(zip(ref[1:], new[1:], strict=True)):
            x, y = _number(a[j]), _number(b[j])
            if a[j] == b[j] or x is None or y is None:
                if a[j] != b[j]:
                    return f"column {name!r} row {i + 1}: {a[j]!r} vs {b[j]!r}"
                continue
            d = abs(x - y) if not (math.isnan(x) and math.isnan(y)) else 0.0
            rel = d / abs(x) if x not in (0.0,) and math.isfinite(x) else math.inf
            if worst is None or d > worst[0] or math.isnan(d):
                worst = (d, rel, i)
        if worst is not None:
            row = ref[worst[2] + 1]
            label = ", ".join(c for c in row if _number(c) is None) or f"row {worst[2] + 1}"
            diffs.append(ColumnDiff(name, worst[0], worst[1], label))
    return diffs


def _statuses(ledger: Path) -> dict[str, str]:
    doc = json.loads(ledger.read_text(encoding="utf-8"))
    return {c["id"]: c["status"] for c in doc["claims"]}


def _robustness(summary: Path) -> dict[str, str]:
    """Claim -> "holds h, caveat c, fails f of N" from a robustness summary.csv."""
    rows = _table(summary.read_text(encoding="utf-8"))
    head = rows[0]
    out = {}
    for r in rows[1:]:
        v = dict(zip(head, r, strict=True))
        out[v["claim"]] = (
            f"holds {v['holds']}, caveat {v['caveat']}, fails {v['fails']} of {v['settings']}"
        )
    return out


def _differing(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def compare_trees(reference: str | Path, run: str | Path) -> Comparison:
    """Compare the output tree ``run`` with ``reference`` (module docstring)."""
    reference, run = Path(reference), Path(run)
    out = Comparison()
    for pattern in PATTERNS:
        for path in sorted(reference.glob(pattern)):
            rel = path.relative_to(reference).as_posix()
            other = run / rel
            if not other.is_file():
                out.files[rel] = "missing"
                continue
            same = path.read_bytes() == other.read_bytes()
            out.files[rel] = "identical" if same else "differs"
            if not same and path.suffix == ".csv":
                out.columns[rel] = csv_differences(
                    path.read_text(encoding="utf-8"), other.read_text(encoding="utf-8")
                )
    ledger = Path("paper_checks.json")
    if (reference / ledger).is_file():
        ref = _statuses(reference / ledger)
        new = _statuses(run / ledger) if (run / ledger).is_file() else {}
        out.claims, out.statuses = len(ref), _differing(ref, new)
    summary = Path("figures/robustness/summary.csv")
    if (reference / summary).is_file():
        ref = _robustness(reference / summary)
        new = _robustness(run / summary) if (run / summary).is_file() else {}
        out.robustness_claims, out.robustness = len(ref), _differing(ref, new)
    return out


def _g(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"


def render(c: Comparison) -> str:
    """A short plain-text table of :func:`compare_trees`' outcome."""
    identical = sum(v == "identical" for v in c.files.values())
    lines = [f"files: {identical} of {len(c.files)} byte-identical"]
    for path, state in c.files.items():
        if state == "identical":
            continue
        diff = c.columns.get(path)
        if isinstance(diff, str):
            lines.append(f"  {state:<9} {path}: {diff}")
        elif diff:
            lines.append(f"  {state:<9} {path}: {len(diff)} column(s) differ")
            lines += [
                f"            {d.column}: max abs {_g(d.abs_diff)}, rel {_g(d.rel_diff)} at {d.row}"
                for d in sorted(diff, key=lambda d: -d.rel_diff)[:5]
            ]
        else:
            lines.append(f"  {state:<9} {path}")
    lines.append(
        f"claim statuses: {c.claims - len(c.statuses)} of {c.claims} equal"
        if c.claims
        else "claim statuses: no ledger in the reference"
    )
    lines += [f"  {k}: {a} -> {b}" for k, (a, b) in c.statuses.items()]
    lines.append(
        f"robustness k/N: {c.robustness_claims - len(c.robustness)} of {c.robustness_claims} equal"
        if c.robustness_claims
        else "robustness k/N: no study in the reference"
    )
    lines += [f"  {k}: {a} -> {b}" for k, (a, b) in c.robustness.items()]
    lines.append("AGREE: every status and k/N equal" if c.agree else "DIFFER: see above")
    return "\n".join(lines)
