"""The README's set-up commands are what CI runs, and the README's claims table is generated
from the same records as paper_checks.md."""

import json
from pathlib import Path

from rwtheory.report.markdown import README_BEGIN, README_END, readme_block, replace_readme_block

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> tuple[str, str]:
    """The README's set-up commands: the first bash block's install-and-run and test lines."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("```bash")
    block = lines[start + 1 : lines.index("```", start + 1)]
    main = next(c for c in block if c.endswith("rwtheory reproduce"))
    test = next(c for c in block if "pytest" in c)
    return main, test


def test_readme_commands_install_the_local_cpu_wheel():
    """Both set-up commands pin torch through constraints.txt (the local CPU wheel, no CUDA
    download) and install what they run: the package for reproduce, the test extra for
    pytest."""
    main, test = _commands()
    for cmd in (main, test):
        assert "pip install" in cmd and "-c constraints.txt" in cmd
    assert '".[test]"' in test
    constraints = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert any(line.startswith("torch") for line in constraints.splitlines())


def test_ci_runs_exactly_the_readme_test_command():
    _, test = _commands()
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
