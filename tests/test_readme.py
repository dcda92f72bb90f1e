"""The README's first lines give exactly two set-up commands, and CI runs the second one."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
