r"""The ledger as data: one JSON record per claim, the counts, and the schema they follow.

``paper_checks.md``, ``paper_checks.json``, the HTML report and the README's claims table are
four views of the same records: :func:`ledger_record` builds the document from the
:class:`~rwtheory.report.claim.Claim` objects of the providers, and every renderer reads that
document. ``paper_checks.schema.json`` (beside this module, shipped with the package) is the
JSON Schema of the document; ``tests/report/test_records.py`` validates the committed file.

Numbers with units: a claim may state its :attr:`~rwtheory.report.claim.Claim.quantities`
explicitly; otherwise the numbers of its measured text are extracted (:func:`extract_numbers`)
with the words before each number as its name and a unit only when one follows the number
(``%``, ``s``, ``ms``, ``MiB``, ``GiB``, ``×``; "3/10" gives 3 with unit "of 10") -- an
empty unit means a ratio, a count or a value in the quantity's own units (losses,
perplexities).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources

from rwtheory._array import InputValueError, check_document, parse_json, read_text
from rwtheory.report.claim import SCOPES, STATUSES, Claim

__all__ = [
    "SCHEMA_VERSION",
    "check_ledger",
    "claim_record",
    "dumps",
    "extract_numbers",
    "ledger_record",
    "load_ledger",
    "load_schema",
]

SCHEMA_VERSION = "1.0"

_NUMBER = re.compile(
    r"(?P<name>[A-Za-zρΓτλη_][^;:=(){}\[\]\d]{0,40}?)?\s*[:=≈≤≥<>]?\s*"
    r"(?P<value>[-+−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?P<den>/\d+)?\s*"
    r"(?P<unit>%|ms|s\b|MiB|GiB|×|x\b)?"
)


def extract_numbers(text: str, limit: int = 24) -> list[dict]:
    """The numbers of a measured text, each with the words before it and its unit (at most
    ``limit``, in order). Deterministic; used where a claim gives no explicit quantities."""
    out = []
    for m in _NUMBER.finditer(text):
        raw = m.group("value").replace("−", "-")
        try:
            value = float(raw)
        except ValueError:  # pragma: no cover - the pattern only matches numbers
            continue
        name = " ".join((m.group("name") or "").split()).strip(" ,.-–'\"`*|")
        unit = {"x": "×"}.get(m.group("unit") or "", m.group("unit") or "")
        if m.group("den"):  # "3/10": a count out of a total
            unit = f"of {m.group('den')[1:]}"
        out.append({"name": name or "value", "value": value, "unit": unit})
        if len(out) == limit:
            break
    return out


def claim_record(c: Claim, provider: str) -> dict:
    """One claim as a JSON-ready dict (see the schema for the meaning of each field)."""
    numbers = (
        [{"name": q.name, "value": float(q.value), "unit": q.unit} for q in c.quantities]
        if c.quantities
        else extract_numbers(c.number)
    )
    return {
        "id": c.key,
        "section": c.section,
        "provider": provider,
        "statement": {"kind": "quoted" if c.quoted else "reconstructed", "text": c.paper},
        "ours": c.ours,
        "command": c.how,
        "status": c.status,
        "scope": c.scope,
        "analogue": c.analogue,
        "reason": c.reason,
        "measured": c.number,
        "numbers": numbers,
        "evidence": list(c.evidence),
        "robustness": c.robustness,
        "deterministic": bool(c.stable),
    }


def _counts(records: Sequence[dict], field: str, values: Sequence[str]) -> dict:
    """Rows per value; ``"error"`` (a check that raised) only when some row has it."""
    counts = {v: sum(r[field] == v for r in records) for v in values}
    if not counts.get("error", 1):
        del counts["error"]
    return counts


def ledger_record(reports, *, quick: bool, figures: str | None = None) -> dict:
    """The whole ledger document from the providers' reports (``Report`` objects with
    ``provider``, ``claims`` and ``details``); ``figures``: the folder of the figures the
    claims rest on, relative to the ledger's folder (recorded when given)."""
    records = [claim_record(c, r.provider) for r in reports for c in r.claims]
    ids = [r["id"] for r in records]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"claim ids must be unique, repeated: {dup}")
    return {
        "schema_version": SCHEMA_VERSION,
        "title": "Paper checks: Sow et al., ICLR 2025 (loss-based sample reweighting)",
        "generated_by": "rwtheory check --quick" if quick else "rwtheory check",
        **({"figures": figures} if figures else {}),
        "counts": {
            "status": _counts(records, "status", STATUSES),
            "scope": _counts(records, "scope", SCOPES),
            "total": len(records),
        },
        "claims": records,
        "details": [{"provider": r.provider, "markdown": r.details} for r in reports if r.details],
        "notes": [n for r in reports for n in r.notes],
    }


def dumps(doc: dict) -> str:
    """The canonical text of a ledger document (stable key order, UTF-8, trailing newline)."""
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def load_schema() -> dict:
    """The JSON Schema of :func:`ledger_record`'s document."""
    text = (
        resources.files("rwtheory.report")
        .joinpath("paper_checks.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def check_ledger(doc, what: str = "ledger") -> dict:
    """``doc`` if it is a ledger document: valid against :func:`load_schema` (an error gives
    the JSON path and the schema path of the rule broken, e.g. a negative count, an unknown
    scope, a claim id such as ``../../etc``), with unique claim ids and counts that are the
    tallies of its claims (what no schema can say). Errors start with ``what``."""
    check_document(doc, load_schema(), what)
    ids = [c["id"] for c in doc["claims"]]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputValueError(f"{what}: claim ids must be unique, repeated: {dup}")
    want = {
        "status": _counts(doc["claims"], "status", STATUSES),
        "scope": _counts(doc["claims"], "scope", SCOPES),
        "total": len(doc["claims"]),
    }
    if doc["counts"] != want:
        raise InputValueError(
            f"{what}: at $.counts: the counts must be the tallies of the claims, {want}, "
            f"got {doc['counts']}"
        )
    return doc


def load_ledger(path) -> dict:
    """The ledger document in the JSON file ``path`` (``paper_checks.json``), checked by
    :func:`check_ledger`; a missing, unreadable, non-UTF-8, empty or non-JSON file is an
    error naming the file, as is a document that breaks the schema."""
    what = f"ledger {str(path)!r}"
    return check_ledger(parse_json(read_text(path, what), what), what)
