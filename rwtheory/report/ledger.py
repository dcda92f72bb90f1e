"""``paper_checks.md``: every claim of the paper, how we check it, and what we measured.

:func:`collect` runs the providers of :mod:`rwtheory.report.providers` -- one module per
family of claims, each ``run(quick) -> Report`` -- in a fixed order (theorems, Proposition 1,
PEP, the cap, the overhead, then the figures in registry order), adds a "not checked" row
for every claim of :mod:`rwtheory.report.providers.unchecked` whose provider is absent, and
:func:`write` turns them into the ledger document
(:func:`rwtheory.report.records.ledger_record`) and writes it twice, as ``paper_checks.md``
(:func:`rwtheory.report.markdown.render_markdown`) and ``paper_checks.json``, atomically. To
add a family of claims, add a provider module and list it in :func:`providers`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from rwtheory.report import markdown, records
from rwtheory.report.claim import Provider, Report, error_report
from rwtheory.report.files import atomic_write_text
from rwtheory.report.providers import (
    cap,
    figures,
    overhead,
    paper_tables,
    pep,
    proposition1,
    theorem4,
    theorems,
)
from rwtheory.report.providers.unchecked import PLACEHOLDERS, placeholder

__all__ = ["check_names", "collect", "errors", "providers", "run_provider", "write"]


def providers(figure_results: Mapping | None = None) -> list[Provider]:
    """Every provider of this checkout, in table order. ``figure_results`` (name ->
    FigureResult) reuses figures already built (``rwtheory reproduce``)."""
    own = [m.PROVIDER for m in (theorems, theorem4, proposition1, pep, cap, overhead)]
    return own + figures.providers(figure_results) + [paper_tables.PROVIDER]


def run_provider(name: str, quick: bool, figure_results: Mapping | None = None) -> Report:
    """Run the provider ``name`` of :func:`providers`; its report's ``seconds`` is the CPU
    time it took in this process. A provider that raises gives its error report
    (:func:`~rwtheory.report.claim.error_report`) instead of ending the ledger."""
    return _timed({p.name: p for p in providers(figure_results)}[name], quick)


def check_names(only: Sequence[str], figure_results: Mapping | None = None) -> None:
    """Raise ValueError naming the unknown provider names of ``only`` (before any run)."""
    every = [p.name for p in providers(figure_results)]
    unknown = sorted(set(only) - set(every))
    if unknown:
        raise ValueError(f"unknown provider(s) {unknown}; choose from {every}")


def _timed(provider: Provider, quick: bool) -> Report:
    """Run ``provider``: its report, or its error report when it raises (an exception of the
    check is a finding about its own claims; an interrupt still ends the run, and a worker
    without the CPU pins refuses before, in :func:`rwtheory.experiments.job.check_task`)."""
    start = time.process_time()
    try:
        rep = provider.run(quick)
    except Exception as exc:
        return error_report(provider, exc, time.process_time() - start)
    rep.seconds = rep.seconds or time.process_time() - start
    return rep


def errors(reports: Sequence[Report]) -> dict[str, str]:
    """Provider -> the exception of every check in ``reports`` that raised."""
    return {r.provider: c.number for r in reports for c in r.claims if c.status == "error"}


def collect(
    quick: bool = False,
    *,
    stable_only: bool = False,
    figure_results: Mapping | None = None,
    only: Sequence[str] | None = None,
    robustness: Mapping[str, str] | None = None,
    done: Mapping[str, Report] | None = None,
) -> list[Report]:
    """Run the providers (``only``: these names; ``stable_only``: those that may give
    deterministic rows; ``done``: reports already computed, by provider name, e.g. in worker
    processes by ``rwtheory reproduce``) and, unless ``only`` is given, a placeholder report
    for every absent provider of
    :data:`~rwtheory.report.providers.unchecked.PLACEHOLDERS`."""
    from tqdm.auto import tqdm

    every = providers(figure_results)
    active = every
    if only is not None:
        check_names(only, figure_results)
        active = [p for p in every if p.name in only]
    if stable_only:
        active = [p for p in active if p.stable_rows]
    reports = []
    for p in tqdm(active, desc="checks", unit="provider", file=sys.stderr, leave=False):
        rep = (done or {}).get(p.name) or _timed(p, quick)
        if robustness:  # how far each empirical verdict generalises (rwtheory robustness)
            rep.claims = [
                replace(c, robustness=robustness[c.key]) if c.key in robustness else c
                for c in rep.claims
            ]
        reports.append(rep)
    names = {p.name for p in every}
    missing = [placeholder(name) for name in PLACEHOLDERS if name not in names]
    if missing and only is None:
        reports.append(Report("placeholders", missing))
    return reports


def write(
    path: str | Path, reports: Sequence[Report], *, quick: bool, figures: str | Path | None = None
) -> tuple[Path, Path]:
    """Write ``path`` (markdown) and the same records as JSON beside it (``.json``), each
    atomically (a crash leaves the previous files untouched). Returns both paths.
    ``figures``: the folder of the figures the claims rest on, recorded in the JSON relative
    to the ledger's folder (for ``rwtheory report``)."""
    path = Path(path)
    rel = None
    if figures is not None:
        rel = Path(os.path.relpath(Path(figures).resolve(), path.resolve().parent)).as_posix()
    doc = records.ledger_record(reports, quick=quick, figures=rel)
    json_path = path.with_suffix(".json")
    text_md, text_json = markdown.render_markdown(doc), records.dumps(doc)  # both, then write
    atomic_write_text(json_path, text_json)
    return atomic_write_text(path, text_md), json_path
