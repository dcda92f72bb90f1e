"""``rwtheory compare``: identical trees agree; a moved digit is located (column, row, absolute
and relative size) without a verdict change; a changed status or robustness k/N disagrees."""

import json
import shutil
from pathlib import Path

import pytest

from rwtheory import cli
from rwtheory.report.compare import compare_trees, csv_differences, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trees(tmp_path):
    """A copy of the committed outputs (the reference) and a second copy (the run)."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    for tree in (ref, run):
        (tree / "figures" / "robustness").mkdir(parents=True)
        for name in ("paper_checks.json", "paper_checks.md"):
            shutil.copy(ROOT / name, tree / name)
        for f in (ROOT / "figures").glob("*.csv"):
            shutil.copy(f, tree / "figures" / f.name)
        shutil.copy(ROOT / "figures/robustness/summary.csv", tree / "figures/robustness")
    return ref, run


def test_identical_trees_agree(trees):
    c = compare_trees(*trees)
    assert c.agree and set(c.files.values()) == {"identical"}
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    assert c.claims == len(doc["claims"]) and c.robustness_claims == 10
    assert "AGREE" in render(c)


def test_a_moved_digit_is_located_but_does_not_disagree(trees):
    ref, run = trees
    path = run / "figures" / "fig7.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    i = next(k for k, ln in enumerate(lines) if ln.startswith("left,linupper (r=1),7,"))
    cells = lines[i].rstrip("\n").split(",")
    old = float(cells[3])
    cells[3] = repr(old * (1 + 1e-6))
    lines[i] = ",".join(cells) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    c = compare_trees(ref, run)
    assert c.agree and c.files["figures/fig7.csv"] == "differs"
    (diff,) = c.columns["figures/fig7.csv"]
    assert diff.column == "y" and diff.row == "left, linupper (r=1)"
    assert diff.abs_diff == pytest.approx(abs(old) * 1e-6, rel=1e-6)
    assert diff.rel_diff == pytest.approx(1e-6, rel=1e-6)


def test_a_changed_status_and_a_changed_count_disagree(trees, capsys):
    ref, run = trees
    doc = json.loads((run / "paper_checks.json").read_text(encoding="utf-8"))
    doc["claims"][0]["status"] = "fails" if doc["claims"][0]["status"] != "fails" else "holds"
    (run / "paper_checks.json").write_text(json.dumps(doc), encoding="utf-8")
    summary = run / "figures/robustness/summary.csv"
    text = summary.read_text(encoding="utf-8").replace(
        "fig7.linupper_fastest,130,4,", "fig7.linupper_fastest,130,5,"
    )
    summary.write_text(text, encoding="utf-8")
    c = compare_trees(ref, run)
    assert not c.agree
    assert list(c.statuses) == [doc["claims"][0]["id"]]
    assert list(c.robustness) == ["fig7.linupper_fastest"]
    code = cli.main(["compare", "--run", str(run), "--reference", str(ref)])
    out = capsys.readouterr().out
    assert code == 1 and "DIFFER" in out and doc["claims"][0]["id"] in out


def test_the_cli_exits_0_when_every_status_agrees(trees, capsys):
    ref, run = trees
    assert cli.main(["compare", "--run", str(run), "--reference", str(ref)]) == 0
    n = len(json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))["claims"])
    assert f"claim statuses: {n} of {n} equal" in capsys.readouterr().out


def test_missing_files_and_shape_changes_are_reported(trees):
    ref, run = trees
    (run / "figures" / "fig1.csv").unlink()
    c = compare_trees(ref, run)
    assert c.files["figures/fig1.csv"] == "missing"
    assert csv_differences("a,b\n1,2\n", "a,c\n1,2\n") == "the header differs"
    assert csv_differences("a\n1\n2\n", "a\n1\n") == "2 rows in the reference, 1 in the run"
    assert csv_differences("a,b\nx,1\n", "a,b\ny,1\n") == "column 'a' row 1: 'x' vs 'y'"
