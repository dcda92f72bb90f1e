"""Non-convex finite sums for Theorem 4 (THEORY §6): :mod:`rwtheory.nonconvex.problems`."""
