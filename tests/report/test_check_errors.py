"""A check that raises is a finding about its own claims, never a crash of the whole ledger:
its claims become "error" rows with the exception, the ledger is still written (and valid),
the command exits non-zero naming the check; argument errors stay argument errors."""

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rwtheory import cli
from rwtheory.experiments import pool
from rwtheory.report import ledger
from rwtheory.report.claim import Claim, Provider, Report
from rwtheory.report.providers import figures as figure_providers

ROOT = Path(__file__).resolve().parents[2]


def _fine(quick):
    return Report("fine", [Claim("fine.one", "s", "p", True, "o", "h", "holds", "1")])


def _broken(quick):
    raise ZeroDivisionError("the check divided by zero")


PROVIDERS = [
    Provider("fine", _fine, keys=("fine.one",)),
    Provider("broken", _broken, keys=("broken.a", "broken.b")),
]


@pytest.fixture
def two_providers(monkeypatch):
    """The ledger's providers replaced by one that works and one that raises, and the
    process pool by a thread of this process (the fakes live here only)."""

    @contextlib.contextmanager
    def one_thread(workers):
        with ThreadPoolExecutor(1) as ex:
            yield ex

    monkeypatch.setattr(pool, "process_pool", one_thread)
    monkeypatch.setattr(ledger, "providers", lambda figure_results=None: list(PROVIDERS))


def test_a_raising_check_marks_its_own_claims_and_the_ledger_is_written(
    two_providers, tmp_path, capsys, monkeypatch
):
    jsonschema = pytest.importorskip("jsonschema")
    monkeypatch.chdir(tmp_path)  # no robustness study here: its rows say "not run"
    out = tmp_path / "checks.md"
    code = cli.main(["check", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "rwtheory: check broken raised ZeroDivisionError: the check divided by zero" in err
    doc = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    rows = {c["id"]: c for c in doc["claims"]}
    assert rows["fine.one"]["status"] == "holds"
    for key in ("broken.a", "broken.b"):
        assert rows[key]["status"] == "error"
        assert "ZeroDivisionError: the check divided by zero" in rows[key]["measured"]
    assert doc["counts"]["status"]["error"] == 2
    schema = json.loads(
        (ROOT / "rwtheory" / "report" / "paper_checks.schema.json").read_text(encoding="utf-8")
    )
    jsonschema.validate(doc, schema)
    assert "ZeroDivisionError" in out.read_text(encoding="utf-8")  # the traceback in details


def test_without_errors_the_counts_have_no_error_entry(two_providers, tmp_path):
    out = tmp_path / "checks.md"
    assert cli.main(["check", "--only", "fine", "--out", str(out)]) == 0
    doc = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert "error" not in doc["counts"]["status"]


def test_an_unknown_provider_is_still_an_argument_error(two_providers, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "--only", "nope", "--out", str(tmp_path / "c.md")])
    assert exc.value.code == 2
    assert "argument --only: unknown provider(s) ['nope']" in capsys.readouterr().err


def test_a_figure_that_raised_in_its_worker_gives_error_rows():
    import types

    mod = types.ModuleType("fake")
    mod.NAME, mod.RULES = "fig9", {"fig9.x": None, "fig9.y": None}
    mod.claims = lambda result: []
    provider = figure_providers.figure_provider(mod, {"fig9": ValueError("bad data")})
    rep = ledger._timed(provider, quick=True)
    assert [(c.key, c.status, c.number) for c in rep.claims] == [
        ("fig9.x", "error", "ValueError: bad data"),
        ("fig9.y", "error", "ValueError: bad data"),
    ]


def test_every_provider_declares_the_claims_it_writes():
    """The ids a provider declares (its rows when it raises) are those it wrote into the
    committed ledger."""
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    written: dict[str, list[str]] = {}
    for c in doc["claims"]:
        written.setdefault(c["provider"], []).append(c["id"])
    declared = {p.name: list(p.keys) for p in ledger.providers()}
    assert declared == written
