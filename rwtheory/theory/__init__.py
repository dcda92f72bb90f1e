"""The theory checks: theorem inequalities with the ``(observed, bound)`` contract, randomised
verification, broken-hypothesis studies, PEP worst cases and the Proposition 1 check."""
