"""The records of ``paper_checks.md``: :class:`Claim` (one row: a claim of the paper, how we
check it, what we measured), :class:`Report` (what one check found: rows plus a section of
details) and :class:`Provider` (a named check that produces a report).

Every check -- a theorem function, a figure definition, a benchmark -- reports what it found
about the paper as :class:`Claim` objects; the providers of :mod:`rwtheory.report.providers`
wrap them into reports and ``rwtheory check`` (:mod:`rwtheory.report.ledger`) collects them
into the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SCOPES", "STATUSES", "Claim", "Provider", "Quantity", "Report", "error_report"]

#: The allowed values of :attr:`Claim.status` (the verdict). ``"error"``: the check itself
#: raised before it could judge the claim (:func:`error_report`); a finding about the check,
#: not about the paper, and counted only where it occurs.
STATUSES = ("holds", "holds with caveat", "fails", "not checked", "error")

#: How a claim is checked (:attr:`Claim.scope`):
#:
#: * ``"checked here"``: the claim itself, in the paper's own setting (or with the parameters the
#:   paper lost chosen and stated), by a command of this package;
#: * ``"small analogue"``: a scaled-down analogue here; :attr:`Claim.analogue` says what it keeps
#:   and what it drops;
#: * ``"paper's numbers"``: the experiment cannot run here, but the claim's wording is checked
#:   against the numbers the paper itself reports (its tables survived extraction);
#:   :attr:`Claim.reason` says why the experiment cannot run here;
#: * ``"not checkable here"``: neither; :attr:`Claim.reason` gives the exact reason and what it
#:   would take.
SCOPES = ("checked here", "small analogue", "paper's numbers", "not checkable here")


@dataclass(frozen=True)
class Quantity:
    """One measured number with its unit (``""`` for a dimensionless ratio or count)."""

    name: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class Claim:
    """A claim of the paper and the verdict of one check.

    key : stable identifier, e.g. ``"thm1.route_c"`` or ``"fig7.linupper_fastest"``.
    section : where the paper makes it, e.g. ``"Thm. 1 (Sec. 4.2)"`` or ``"App. B.2, Fig. 7"``.
    paper : the paper's statement; ``quoted`` says whether verbatim or reconstructed (the
        extracted text lost every formula, so most mathematical statements are
        reconstructions, docs/theory.md).
    ours : our precise statement of what is checked (assumptions included).
    how : the command that checks it (e.g. ``rwtheory check``, ``pytest tests/...``).
    status : one of :data:`STATUSES`.
    number : the measured number(s) behind the status, formatted for the table.
    stable : True when the row is identical between ``rwtheory check --quick`` and the
        full run (exact facts, seeded quick configurations), so the committed table can be
        compared with a quick run in the tests.
    scope : one of :data:`SCOPES` (how it is checked); ``analogue`` and ``reason`` explain a
        small analogue and a claim not checkable here.
    quantities : the numbers behind the status with units (for ``paper_checks.json``).
    evidence : repository paths of the figures and CSVs the row rests on.
    robustness : how far an empirical verdict generalises (e.g. "holds in k of N settings").
    """

    key: str
    section: str
    paper: str
    quoted: bool
    ours: str
    how: str
    status: str
    number: str
    stable: bool = False
    scope: str = "checked here"
    analogue: str = ""
    reason: str = ""
    quantities: tuple[Quantity, ...] = ()
    evidence: tuple[str, ...] = ()
    robustness: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        if self.scope == "small analogue" and not self.analogue.strip():
            raise ValueError("analogue must say what a small analogue keeps and drops")
        if self.scope in ("paper's numbers", "not checkable here") and not self.reason.strip():
            raise ValueError(
                f"reason must say why claim {self.key!r} (scope {self.scope!r}, "
                f"status {self.status!r}) is not checked here"
            )
        for name in ("key", "section", "paper", "ours", "how", "number"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} must be a non-empty string")


@dataclass
class Report:
    """What one provider found: claims (table rows), a markdown section of details and lines
    for the closing note; ``seconds``: CPU time spent (printed by the CLI, not written)."""

    provider: str
    claims: list[Claim]
    details: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Provider:
    """A named check: ``run(quick) -> Report``. ``stable_rows``: it may produce rows with
    ``stable=True`` (the consistency test runs such providers in ``--quick`` mode).
    ``keys``: the ids of the claims it judges (the rows marked ``"error"`` when it raises;
    tests tie them to the rows it writes)."""

    name: str
    run: Callable[[bool], Report]
    stable_rows: bool = True
    keys: tuple[str, ...] = ()


def error_report(provider: Provider, exc: BaseException, seconds: float = 0.0) -> Report:
    """The report of a check that raised: each of its claims (``provider.keys``, or one row
    named after the provider when it declares none) gets the status ``"error"`` with the
    exception in the row, and the traceback goes into the details."""
    import traceback

    text = f"{type(exc).__name__}: {exc}".strip()
    why = f"the check `{provider.name}` raised {text}"
    rows = [
        Claim(
            key,
            "n/a (the check raised)",
            "n/a: the check raised before it could state this claim",
            False,
            f"Not judged: {why}.",
            f"`rwtheory check --only {provider.name}`",
            "error",
            text,
        )
        for key in provider.keys or (f"{provider.name}.error",)
    ]
    trace = "".join(traceback.format_exception(exc)).rstrip()
    details = f"The check `{provider.name}` raised:\n\n```\n{trace}\n```"
    return Report(provider.name, rows, details, seconds, [f"{provider.name}: {why}"])
