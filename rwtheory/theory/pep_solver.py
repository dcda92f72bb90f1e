"""Solving a performance-estimation problem (PEPit) the one way this package does it.

Both PEP modules (:mod:`rwtheory.theory.pep`, convex; :mod:`rwtheory.theory.pep_nonconvex`,
Theorem 4) build a :class:`PEPit.PEP` and hand it here: :func:`solve` runs it through
cvxpy with tight solver tolerances and turns every solver failure (an exception of the
solver's own type, no value, a non-finite value) into a RuntimeError; :func:`with_fallback`
tries Clarabel, then SCS where Clarabel fails. :class:`WorstCaseRow` is what a row of
their tables has in common.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

__all__ = ["SOLVERS", "WorstCaseRow", "solve", "tolerances", "with_fallback"]

#: The solvers tried, in order, and their display names.
SOLVERS = (("CLARABEL", "Clarabel"), ("SCS", "SCS"))


def tolerances(solver: str) -> dict:
    """cvxpy keyword arguments: duality gap and feasibility to 1e-10 (Clarabel), 1e-9 and
    up to 200,000 iterations (SCS, a first-order method); none for another solver."""
    if solver == "CLARABEL":
        return dict(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    if solver == "SCS":
        return dict(eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
    return {}


def solve(problem, solver: str) -> float:
    """The optimal value of the PEP ``problem`` with ``solver``; RuntimeError on failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = problem.solve(wrapper="cvxpy", solver=solver, verbose=0, **tolerances(solver))
        except Exception as exc:  # the solver's own exception types
            raise RuntimeError(f"{solver} failed: {exc}") from None
    if value is None or not math.isfinite(value):
        raise RuntimeError(f"{solver} returned no value")
    return float(value)


def with_fallback(worst: Callable[..., float], *args, **kwargs) -> tuple[float, str]:
    """``worst(*args, solver=..., **kwargs)`` with Clarabel, else SCS; (value, solver used).
    The last solver's RuntimeError propagates."""
    for i, (solver, name) in enumerate(SOLVERS):
        try:
            return worst(*args, solver=solver, **kwargs), name
        except RuntimeError:
            if i == len(SOLVERS) - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class WorstCaseRow:
    """A row of a PEP table (a dataclass with the fields ``worst_case`` and ``bound``):
    its :attr:`ratio`, above 1 where the worst case exceeds the bound."""

    worst_case: float
    bound: float

    @property
    def ratio(self) -> float:
        """worst case / bound."""
        return self.worst_case / self.bound
