"""The checks behind ``paper_checks.md``, one module per family of claims of the paper.

Each module defines the claims it checks -- the paper's statement, our precise statement, the
status rule and the measured number side by side -- and exposes ``PROVIDER``, a
:class:`rwtheory.report.claim.Provider` whose ``run(quick)`` returns a
:class:`rwtheory.report.claim.Report`:

* :mod:`.theorems`: Theorems 1-2 and the cap remark, randomised verification
  (:mod:`rwtheory.theory.randomised`, :mod:`rwtheory.theory.broken_hypotheses`);
* :mod:`.proposition1`: Proposition 1 against cvxpy, the LP limit, LinUpper vs the optimum
  (:mod:`rwtheory.theory.proposition1`);
* :mod:`.pep`: tight worst cases of Theorem 1 with PEPit (:mod:`rwtheory.theory.pep`);
* :mod:`.cap`: the cap discussion of App. A.5, exact (:func:`rwtheory.worst_case_rho`);
* :mod:`.overhead`: "nearly zero overhead", from the step benchmark
  (:mod:`rwtheory.report.overhead`);
* :mod:`.figures`: one provider per figure definition that defines ``claims(result)``;
* :mod:`.unchecked`: claims no provider checks yet ("not checked" rows).

:mod:`rwtheory.report.ledger` collects them; :mod:`rwtheory.report.markdown` renders them.
"""

#: The command named in the "how" column of every row.
CHECK = "rwtheory check"
