"""The status rules of the providers: each turns to "fails" when the code it checks is
broken on purpose, and stays as reported with the real code."""

import math
import re

import numpy as np
import pytest

import rwtheory as rw
from rwtheory.report.providers import cap
from rwtheory.report.providers import proposition1 as prop1_provider
from rwtheory.theory import proposition1


def test_prop1_status_can_fail_when_the_closed_form_is_wrong(monkeypatch):
    """Review finding: the status once matched a text that every disagreement contained, so
    a wrong closed form still read 'holds with caveat'. With a deliberately wrong closed
    form the row must say 'fails'; with the real one it does not."""
    instances = proposition1.prop1_instances(300, 0)[7::50]  # six families, rho != 1
    monkeypatch.setattr(proposition1, "prop1_instances", lambda count, seed: instances)
    real = proposition1.kl_capped_weights

    def row():
        return next(c for c in prop1_provider.report(True).claims if c.key == "prop1")

    assert row().status == "holds"
    monkeypatch.setattr(
        proposition1, "kl_capped_weights", lambda g, r, rho: 0.9 * real(g, r, rho) + 0.1 / len(g)
    )
    assert row().status == "fails"


def _parse_table(details: str) -> tuple[list[str], list[list[str]]]:
    lines = [ln for ln in details.splitlines() if ln.startswith("| ")]
    split = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return split[0], split[1:]


def test_cap_table_cells_are_attained_by_the_pipeline():
    """Every cell of the cap table is n·max w of the batch [0]*(n-1) + [1] run through the
    actual LinUpper pipeline (the supremum is attained there; that nothing exceeds it is
    tests/weights/test_cap.py's search), to the 4 printed decimals."""
    rep = cap.report(quick=True)
    header, rows = _parse_table(rep.details)
    sizes = [int(h.removeprefix("n=")) for h in header[1:]]
    assert tuple(sizes) == cap.SIZES and len(rows) == len(cap.TEMPERATURES)
    for row, r in zip(rows, cap.TEMPERATURES, strict=True):
        assert float(row[0]) == r
        for cell, n in zip(row[1:], sizes, strict=True):
            losses = np.r_[np.zeros(n - 1), 1.0]
            attained = n * float(rw.sample_weights(losses, "linupper", r).max())
            assert float(cell) == pytest.approx(attained, abs=5e-5), (r, n)


def test_cap_claim_numbers_are_the_threshold_and_the_limit():
    """The claim quotes, per r, the sup at n = 65536 (close to e^{1/r}, its limit) and the
    first n whose sup exceeds 2; and the temperature above which every n is safe."""
    number = cap.cap_claim().number
    for r in cap.TEMPERATURES:
        sup = rw.worst_case_rho("linupper", cap.SIZES[-1], r)
        assert sup == pytest.approx(math.exp(1 / r), rel=1e-3)
        assert f"r={r:g}: {sup:.4g}" in number
        first = re.search(rf"r={r:g}: [0-9.]+ \(> 2 from n = (\d+)\)", number)
        if first is None:
            assert f"r={r:g}: {sup:.4g} (≤ 2 for every n)" in number
            assert sup <= 2
        else:
            n = int(first.group(1))
            assert (
                rw.worst_case_rho("linupper", n - 1, r) <= 2 < rw.worst_case_rho("linupper", n, r)
            )
    safe = float(re.search(r"safe iff r ≥ ([0-9.]+)", number).group(1))
    assert rw.worst_case_rho("linupper", cap.SIZES[-1], safe + 1e-4) <= 2
    assert rw.worst_case_rho("linupper", cap.SIZES[-1], safe - 1e-3) > 2
