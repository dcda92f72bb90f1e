"""One runnable definition per figure or study (installed as ``rwtheory.experiments``).

Each module exposes ``NAME`` and ``build(*, seeds, quick) -> rwtheory.report.figures.FigureResult``
and is registered in ``rwtheory.report.figures.FIGURES``; ``python -m rwtheory.experiments.NAME``
or ``rwtheory figures --only NAME`` regenerates it.
"""
