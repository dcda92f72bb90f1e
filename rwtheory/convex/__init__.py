"""Convex experiments: least-squares problems (``problems``), weighting schemes (``schemes``,
``adversaries``), one run as a literal loop (``reference``) and the batched engine (``engine``:
GD, minibatch SGD, heavy ball over many runs at once), built from its layout (``layout``),
fused weights (``fused``) and recorder (``trajectory``)."""
