"""Claims about the paper's figures: one provider per figure definition of
:data:`rwtheory.experiments.FIGURES` that defines ``claims(result)``. The claims' text and
status rules live next to each figure's computation (``rwtheory/experiments/<figure>.py``);
this module only builds the figure (or reuses one already built by ``rwtheory reproduce``)
and collects them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import ModuleType

from rwtheory.report.claim import Provider, Report
from rwtheory.report.scopes import annotate

__all__ = ["figure_provider", "providers"]


def figure_provider(module: ModuleType, results: Mapping | None = None) -> Provider:
    """The provider of the figure defined by ``module``: a result in ``results`` (name ->
    FigureResult, or the exception that building it raised in a worker) is reused,
    otherwise the figure is built with its default seeds (``quick`` selects its small
    configuration). Its claim ids: the module's ``CLAIM_KEYS``, else its ``RULES``."""

    def run(quick: bool) -> Report:
        start = time.process_time()
        result = (results or {}).get(module.NAME) or module.build(seeds=None, quick=quick)
        if isinstance(result, BaseException):
            raise result
        claims = annotate(list(module.claims(result)), module.NAME)
        # optional: a section of details and closing-note lines (theory_vs_practice)
        details = module.details(result) if hasattr(module, "details") else ""
        notes = list(module.notes(result)) if hasattr(module, "notes") else []
        return Report(module.NAME, claims, details, time.process_time() - start, notes)

    keys = tuple(getattr(module, "CLAIM_KEYS", None) or getattr(module, "RULES", {}))
    return Provider(module.NAME, run, stable_rows=True, keys=keys)


def providers(results: Mapping | None = None) -> list[Provider]:
    """One provider per registered figure whose module defines ``claims``, in registry order."""
    from rwtheory.experiments import FIGURES

    return [figure_provider(m, results) for m in FIGURES.values() if hasattr(m, "claims")]
