"""The claim ledger: the records (claim.py), one provider module per family of claims
(providers/), the renderer of ``paper_checks.md`` (markdown.py) and its collector
(ledger.py), figure saving (figures.py), atomic file writes (files.py) and the step
benchmark's record (overhead.py)."""
