"""``paper_checks.md``: every claim of the paper, how we check it, and what we measured.

:func:`collect` runs the providers of :mod:`rwtheory.report.providers` -- one module per
family of claims, each ``run(quick) -> Report`` -- in a fixed order (theorems, Proposition 1,
PEP, the cap, the overhead, then the figures in registry order), adds a "not checked" row
for every claim of :mod:`rwtheory.report.providers.unchecked` whose provider is absent, and
:func:`write` renders them (:func:`rwtheory.report.markdown.render`) into the file
atomically. To add a family of claims, add a provider module and list it in
:func:`providers`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rwtheory.report import markdown
from rwtheory.report.claim import Provider, Report
from rwtheory.report.files import atomic_write_text
from rwtheory.report.providers import (cap, figures, overhead, pep, proposition1, theorem4,
                                       theorems)
from rwtheory.report.providers.unchecked import PLACEHOLDERS, placeholder

__all__ = ["collect", "providers", "write"]


def providers(figure_results: Mapping | None = None) -> list[Provider]:
    """Every provider of this checkout, in table order. ``figure_results`` (name ->
    FigureResult) reuses figures already built (``rwtheory reproduce``)."""
    own = [m.PROVIDER for m in (theorems, theorem4, proposition1, pep, cap, overhead)]
    return own + figures.providers(figure_results)


def collect(quick: bool = False, *, stable_only: bool = False,
            figure_results: Mapping | None = None,
            only: Sequence[str] | None = None) -> list[Report]:
    """Run the providers (``only``: these names; ``stable_only``: those that may give
    deterministic rows) and, unless ``only`` is given, a placeholder report for every
    absent provider of :data:`~rwtheory.report.providers.unchecked.PLACEHOLDERS`."""
    from tqdm.auto import tqdm

    every = providers(figure_results)
    active = every
    if only is not None:
        unknown = set(only) - {p.name for p in every}
        if unknown:
            raise ValueError(f"unknown provider(s) {sorted(unknown)}; choose from "
                             f"{[p.name for p in every]}")
        active = [p for p in every if p.name in only]
    if stable_only:
        active = [p for p in active if p.stable_rows]
    reports = []
    for p in tqdm(active, desc="checks", unit="provider", file=sys.stderr, leave=False):
        start = time.process_time()
        rep = p.run(quick)
        rep.seconds = rep.seconds or time.process_time() - start
        reports.append(rep)
    names = {p.name for p in every}
    missing = [placeholder(name) for name in PLACEHOLDERS if name not in names]
    if missing and only is None:
        reports.append(Report("placeholders", missing))
    return reports


def write(path: str | Path, reports: Sequence[Report], *, quick: bool) -> Path:
    """Render and write atomically (a crash leaves the previous file untouched)."""
    return atomic_write_text(path, markdown.render(reports, quick=quick))
