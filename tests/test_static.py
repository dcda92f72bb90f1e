"""Lint and types at 0 findings (issue 25, item 4): ``ruff check``, ``ruff format --check``
and ``mypy`` as configured in ``pyproject.toml`` (the rules, the files, the strictness per
package), each run by the interpreter of the tests (``python -m ...``) from the repository's
root.

A tool that is not installed is a skip with a message on a developer's machine, and a
failure under CI (``CI`` set), whose install (the ``test`` extra, through ``lint``) has them:
a check that silently stops running is not a check.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m tool args`` in the repository's root; skipped (failed under CI) when the
    tool is not installed."""
    if importlib.util.find_spec(tool) is None:
        message = f"{tool} is not installed (pip install -e '.[lint]')"
        if os.environ.get("CI"):
            pytest.fail(message + ": CI must run the static checks")
        pytest.skip(message)
    return subprocess.run(
        [sys.executable, "-m", tool, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_ruff_check_finds_nothing():
    out = _run("ruff", "check", "--output-format", "concise", ".")
    findings = [ln for ln in out.stdout.splitlines() if re.match(r"\S+:\d+:\d+: ", ln)]
    assert out.returncode == 0 and not findings, (
        f"ruff check: {len(findings)} finding(s)\n" + out.stdout[-6000:] + out.stderr[-2000:]
    )


def test_ruff_format_would_change_nothing():
    out = _run("ruff", "format", "--check", ".")
    changed = re.search(r"(\d+) files? would be reformatted", out.stdout)
    assert out.returncode == 0 and changed is None, (
        "ruff format would change files\n" + out.stdout[-6000:] + out.stderr[-2000:]
    )


@pytest.mark.slow  # a cold run analyses torch, numpy and transformers: ~1-2 min on 2 cores
def test_mypy_finds_nothing():
    out = _run("mypy")  # files and settings: [tool.mypy] of pyproject.toml
    findings = [ln for ln in out.stdout.splitlines() if ": error:" in ln]
    assert out.returncode == 0 and not findings, (
        f"mypy: {len(findings)} error(s)\n" + out.stdout[-6000:] + out.stderr[-2000:]
    )


def test_the_checks_see_findings(tmp_path):
    """The checks above can fail: a file with lint findings, a formatting change and a type
    error, checked with the project's settings, gives each tool's findings."""
    bad = tmp_path / "probe.py"
    bad.write_text(
        "import os, sys\n\n\ndef f(x: int) -> str:\n    return x\n\n\ny = {'a':1}\n",
        encoding="utf-8",
    )
    config = str(ROOT / "pyproject.toml")
    lint = _run("ruff", "check", "--config", config, "--output-format", "concise", str(bad))
    assert lint.returncode == 1 and "F401" in lint.stdout and "E401" in lint.stdout, lint.stdout
    fmt = _run("ruff", "format", "--config", config, "--check", str(bad))
    assert fmt.returncode == 1 and "1 file would be reformatted" in fmt.stdout, fmt.stdout
    types = _run("mypy", "--config-file", config, str(bad))
    assert types.returncode == 1 and "[return-value]" in types.stdout, types.stdout


#: A suppression and what must follow it on the same line: a noqa with its codes, then
#: "(why)"; a type ignore with its codes, then "# why"
#: (pyproject.toml's rule: every ignore says why). E402 alone
#: (an import after the set-up above it: environment, sys.path, matplotlib's backend, an
#: importorskip) is exempt: the set-up it follows is the reason.
SUPPRESSION = re.compile(r"#\s*(noqa|type:\s*ignore)\b(?P<codes>[:\[][^#(]*)?(?P<rest>.*)$")


def unexplained_suppressions(text: str) -> list[int]:
    """Line numbers of ``text`` with a ``noqa`` or ``type: ignore`` that gives no reason: no
    parenthesised words after a noqa's codes, no comment after a type ignore's codes."""
    bad = []
    for number, line in enumerate(text.splitlines(), 1):
        m = SUPPRESSION.search(line)
        if m is None or line.lstrip().startswith("#") or '"' in line[m.start() :]:
            continue  # prose about suppressions (a comment line, a string), not one
        if m[1] == "noqa" and (m["codes"] or "").strip(": ") == "E402":
            continue
        rest = m["rest"].strip()
        reason = re.match(r"\(\w.*\)$", rest) if m[1] == "noqa" else re.match(r"#\s*\w", rest)
        if reason is None:
            bad.append(number)
    return bad


def test_every_suppression_says_why():
    sources = [
        p
        for folder in ("rwtheory", "tests", "benchmarks", "examples", "docs")
        for p in sorted((ROOT / folder).rglob("*.py"))
        if "_build" not in p.parts
    ]
    bad = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sources
        for n in unexplained_suppressions(p.read_text(encoding="utf-8"))
    ]
    assert bad == []


@pytest.mark.parametrize(
    "line, unexplained",
    [
        ("x = 1  # noqa: E731  (a one-line helper)", []),
        ("x = 1  # noqa: E731", [1]),
        ("x = 1  # noqa", [1]),
        ("import numpy as np  # noqa: E402", []),
        ("import numpy as np  # noqa: E402, F401", [1]),
        ("x: int = None  # type: ignore[assignment]  # set by the checks", []),
        ("x: int = None  # type: ignore[assignment]", [1]),
        ("x: int = None  # type: ignore", [1]),
    ],
)
def test_the_suppression_rule_needs_a_reason(line, unexplained):
    assert unexplained_suppressions(line) == unexplained
