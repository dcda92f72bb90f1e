"""The README's first lines give exactly two set-up commands, CI runs the second one, and the
README's claims table is generated from the same records as paper_checks.md."""

import json
from pathlib import Path

from rwtheory.report.markdown import README_BEGIN, README_END, readme_block, replace_readme_block

ROOT = Path(__file__).resolve().parents[2]


def _first_block() -> list[str]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "```bash", "the README must open with the set-up commands"
    end = lines.index("```", 1)
    return lines[1:end]


def test_readme_opens_with_the_main_job_and_the_test_command():
    main, test = _first_block()  # exactly two commands
    assert main.endswith("rwtheory reproduce") and "pip install" in main
    assert test.endswith("pytest -n 2") and '".[test]"' in test
    for cmd in (main, test):
        assert "-c constraints.txt" in cmd  # the local CPU torch wheel, not a CUDA download


def test_ci_runs_exactly_the_readme_test_command():
    _, test = _first_block()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == test


def test_readme_claims_table_is_generated_from_the_ledger():
    """The README's claims table is the block `rwtheory report` writes from paper_checks.json:
    it cannot drift from paper_checks.md and the HTML report, which read the same records."""
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(README_BEGIN) == 1 and readme.count(README_END) == 1
    assert readme_block(doc) in readme
    assert replace_readme_block(readme, doc) == readme
    for claim in doc["claims"]:
        assert f"| `{claim['id']}` |" in readme
