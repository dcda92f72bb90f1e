"""The report from any folder: links computed from where the page is written, the figures
of the ledger actually rendered, the README touched only when asked; ``check`` without a
robustness study says so instead of dropping its lines."""

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from rwtheory import cli
from rwtheory.report import ledger
from rwtheory.report.claim import Claim, Report

ROOT = Path(__file__).resolve().parents[2]


def _links(page: Path) -> tuple[list[str], list[str]]:
    """(image sources, other hrefs that are not anchors) of a written page."""
    text = page.read_text(encoding="utf-8")
    srcs = [html.unescape(s) for s in re.findall(r'<img src="([^"]+)"', text)]
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"#][^"]*)"', text)]
    return srcs, hrefs


def _resolve(page: Path, link: str) -> Path:
    return (page.parent / link).resolve()


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A ledger with its figures in one folder, the current folder another one, outside the
    repository (so that no link can lean on the repository's layout)."""
    run = tmp_path / "run"
    (run / "figs").mkdir(parents=True)
    for png in (ROOT / "figures").glob("*.png"):
        shutil.copy(png, run / "figs" / png.name)
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    (run / "x.json").write_text(json.dumps(doc), encoding="utf-8")
    (run / "x.md").write_text("# ledger\n", encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return run


def test_report_outside_the_repository_links_every_image_and_its_own_ledger(elsewhere):
    out = elsewhere.parent / "pages" / "r"
    code = cli.main(
        ["report", "--ledger", str(elsewhere / "x.json"), "--out", str(out)]
        + ["--figures", str(elsewhere / "figs")]
    )
    assert code == 0
    page = out / "index.html"
    srcs, hrefs = _links(page)
    assert len(srcs) >= 6
    assert all(_resolve(page, s).is_file() for s in srcs), srcs
    assert all(_resolve(page, s).parent == (elsewhere / "figs").resolve() for s in srcs)
    ledger_links = [h for h in hrefs if h.endswith((".md", ".json"))]
    assert sorted(_resolve(page, h).name for h in ledger_links) == ["x.json", "x.md"]
    assert all(_resolve(page, h).is_file() for h in ledger_links)


def test_the_figures_default_to_the_folder_the_ledger_records(elsewhere):
    doc = json.loads((elsewhere / "x.json").read_text(encoding="utf-8"))
    doc["figures"] = "figs"
    (elsewhere / "x.json").write_text(json.dumps(doc), encoding="utf-8")
    out = elsewhere / "report"
    assert cli.main(["report", "--ledger", str(elsewhere / "x.json"), "--out", str(out)]) == 0
    srcs, _ = _links(out / "index.html")
    assert srcs and all(_resolve(out / "index.html", s).is_file() for s in srcs)


def test_ledger_write_records_the_figures_folder_relative_to_the_ledger(tmp_path):
    claim = Claim("a.b", "s", "p", True, "o", "h", "holds", "1")
    path, json_path = ledger.write(
        tmp_path / "l" / "checks.md",
        [Report("x", [claim])],
        quick=True,
        figures=tmp_path / "f" / "g",
    )
    assert json.loads(json_path.read_text(encoding="utf-8"))["figures"] == "../f/g"


def test_report_touches_the_readme_only_when_asked(elsewhere):
    from rwtheory.report.markdown import README_BEGIN, README_END

    readme = Path("README.md")
    readme.write_text(f"# r\n{README_BEGIN}\nold\n{README_END}\n", encoding="utf-8")
    before = readme.read_bytes()
    args = ["report", "--ledger", str(elsewhere / "x.json"), "--out", "rep"]
    assert cli.main(args) == 0
    assert readme.read_bytes() == before
    assert cli.main([*args, "--readme", "README.md"]) == 0
    assert readme.read_bytes() != before


def test_check_without_a_robustness_study_says_so(tmp_path, capsys):
    notes = cli._robustness_notes(tmp_path / "nowhere")
    err = capsys.readouterr().err
    assert "no robustness study in" in err and str(tmp_path / "nowhere") in err
    assert notes and all(v.startswith("not run") for v in notes.values())
    assert "fig7.linupper_fastest" in notes
