"""Claims about the paper's figures: one provider per figure definition in
:mod:`rwtheory.experiments` that defines ``claims(result)``. The claims' text and status
rules live next to each figure's computation (``rwtheory/experiments/<figure>.py``); this
module only runs the figure (or reuses one already built by ``rwtheory reproduce``) and
collects them."""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping

from rwtheory.report.claim import Provider, Report

__all__ = ["figure_provider", "providers"]


def figure_provider(name: str, results: Mapping | None = None) -> Provider:
    """The provider of figure ``name``: ``results`` (name -> FigureResult) are reused, other
    figures are built (``quick`` selects their small configuration)."""
    def run(quick: bool) -> Report:
        from rwtheory.report import figures

        start = time.process_time()
        module = importlib.import_module(figures.FIGURES[name])
        result = (results or {}).get(name) or figures.build(name, quick=quick)
        claims = list(module.claims(result))
        return Report(name, claims, "", time.process_time() - start)

    return Provider(name, run, stable_rows=True)


def providers(results: Mapping | None = None) -> list[Provider]:
    """One provider per registered figure whose module defines ``claims``, in registry order."""
    from rwtheory.report.figures import FIGURES

    return [figure_provider(name, results) for name, module in FIGURES.items()
            if hasattr(importlib.import_module(module), "claims")]
