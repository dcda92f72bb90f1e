"""The claim ledger: the claim record, its providers, the renderer of ``paper_checks.md`` and
the one way figures and files are written."""
