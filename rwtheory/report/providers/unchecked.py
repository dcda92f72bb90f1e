"""Claims of the paper that no provider of this package checks: each becomes a "not checked"
row naming why, until a provider of the same name is added to :mod:`rwtheory.report.ledger`
(then its placeholder is dropped)."""

from __future__ import annotations

from rwtheory.report.claim import Claim
from rwtheory.report.providers import CHECK

__all__ = ["PLACEHOLDERS", "placeholder"]

#: provider name -> (key, section, paper statement, quoted?, why it is not checked).
PLACEHOLDERS: dict[str, tuple[str, str, str, bool, str]] = {}


def placeholder(provider: str) -> Claim:
    """The "not checked" row standing in for ``provider``."""
    key, section, paper, quoted, why = PLACEHOLDERS[provider]
    return Claim(
        key,
        section,
        paper,
        quoted,
        f"Not checked: {why}.",
        f"`{CHECK}`",
        "not checked",
        "n/a (provider missing)",
        stable=True,
        reason=why,
    )
