"""The weighting mathematics: the paper's pipeline, Proposition 1's exact weights, DRO-KL,
the cap analysis, Γ and ρ, and temperature schedules.

Depends on numpy, torch (optional at call time) and array-api-compat only: importing it never
imports cvxpy, PEPit or matplotlib.
"""
