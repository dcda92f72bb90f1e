"""Convex experiments: least-squares problems, weighting schemes, adversaries and the batched
engine (GD, minibatch SGD, heavy ball over many runs at once)."""
