"""The main job of ``rwtheory reproduce`` as independent tasks on one pool of processes.

The job is: every figure of :data:`rwtheory.experiments.FIGURES` (the LM study as one task
per (method, seed) training run), every claim check of
:func:`rwtheory.report.ledger.providers` that is not a figure's, and the robustness study's
chunks (submitted by :func:`rwtheory.experiments.robustness.run_study` to the same pool).
The tasks share nothing, so they run on one :func:`rwtheory.experiments.pool.process_pool`:
:func:`submit` queues the figures and checks, longest first (a pool starts its tasks in
submission order, so the many short robustness chunks, queued after them, even out the cores
at the end); :func:`finish` waits for them. Each regression figure is saved by the worker
that builds it, the LM study's figure by this process once its runs are back; the results
(without their drawings) and the checks' reports come back here for the ledger. Every task
owns its seeds, so the outputs are the same bytes whatever the number of workers.
"""

from __future__ import annotations

import functools
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from pathlib import Path

from rwtheory import experiments
from rwtheory.experiments import pins
from rwtheory.report import figures, ledger
from rwtheory.report.claim import Report
from rwtheory.report.figures import FigureResult

__all__ = [
    "Pending",
    "check_providers",
    "check_task",
    "failures",
    "figure_task",
    "finish",
    "submit",
]


@dataclass
class Pending:
    """The job's queued tasks: the whole figures' and the checks' futures, and, for each
    figure split into runs, its configuration and its runs' futures."""

    figures_out: Path
    quick: bool
    figures: dict[str, Future]
    checks: dict[str, Future]
    runs: dict[str, tuple[object, dict]]


def split(module) -> bool:
    """Does the figure module split into runs? (``study_config(quick=)``,
    ``submit_runs(config, executor)`` and ``assemble(config, runs, quick)``, as the LM study
    does: its runs take minutes each, the regression figures seconds in all.)"""
    return all(hasattr(module, f) for f in ("study_config", "submit_runs", "assemble"))


def figure_task(name: str, out: Path, quick: bool, seeds: int | None = None) -> FigureResult:
    """Build figure ``name``, save it into ``out`` and return its result without the drawing
    (closed by :func:`rwtheory.report.figures.save`; the claims read the numbers only).
    Refuses to compute in a process without the CPU pins (:mod:`rwtheory.experiments.pins`)."""
    pins.require_pinned()
    result = experiments.FIGURES[name].build(seeds=seeds, quick=quick)
    figures.save(result, out)
    return replace(result, figure=None)


def check_providers() -> list[str]:
    """The checks that are not a figure's, in the ledger's order."""
    return [p.name for p in ledger.providers() if p.name not in experiments.FIGURES]


def check_task(name: str, quick: bool) -> Report:
    """Run the ledger's provider ``name`` (in a pinned process, as :func:`figure_task`)."""
    pins.require_pinned()
    return ledger.run_provider(name, quick)


def submit(
    pool: Executor,
    *,
    quick: bool,
    figures_out: Path,
    names: list[str] | None = None,
    seeds: int | None = None,
    checks: bool = True,
) -> Pending:
    """Queue the figures ``names`` (default: all) and, ``checks``, every check on ``pool``:
    the runs of split figures, then the checks, then the other figures (longest first;
    measured on 2 cores: a run of the LM study ~20-40 s, the theorem and PEP checks minutes, a
    regression figure a few seconds). ``seeds``: the figures' seeds (None: their own)."""
    names = list(experiments.FIGURES) if names is None else names
    runs = {}
    for name in names:
        module = experiments.FIGURES[name]
        if split(module):
            cfg = module.study_config(seeds=seeds, quick=quick)
            runs[name] = (cfg, module.submit_runs(cfg, pool))
    queued = {
        name: pool.submit(check_task, name, quick) for name in (check_providers() if checks else [])
    }
    whole = {
        name: pool.submit(figure_task, name, figures_out, quick, seeds)
        for name in names
        if name not in runs
    }
    return Pending(figures_out, quick, whole, queued, runs)


def finish(pending: Pending) -> tuple[dict[str, FigureResult | Exception], dict[str, Report]]:
    """Wait for the queued tasks and save the split figures; returns the figures' results by
    name (in registry order) and the checks' reports by provider name. A figure whose task
    raised is returned as its exception (its claims become the ledger's "error" rows, the
    other figures are still saved); a worker refusing to compute unpinned, or an interrupt,
    ends the job."""
    results: dict[str, FigureResult | Exception] = {
        name: _outcome(f.result) for name, f in pending.figures.items()
    }
    for name, (cfg, runs) in pending.runs.items():
        results[name] = _outcome(functools.partial(_assemble, pending, name, cfg, runs))
    reports = {name: f.result() for name, f in pending.checks.items()}
    return {name: results[name] for name in experiments.FIGURES if name in results}, reports


def _assemble(pending: Pending, name: str, cfg, runs) -> FigureResult:
    result = experiments.FIGURES[name].assemble(cfg, runs, pending.quick)
    figures.save(result, pending.figures_out)
    return replace(result, figure=None)


def _outcome(compute):
    """``compute()``, or the exception it raised (not an interrupt, not an unpinned worker)."""
    try:
        return compute()
    except pins.UnpinnedProcess:
        raise
    except Exception as exc:
        return exc


def failures(results: dict) -> dict[str, str]:
    """Figure name -> its exception, for the figures of :func:`finish` that raised."""
    return {n: f"{type(r).__name__}: {r}" for n, r in results.items() if isinstance(r, Exception)}
