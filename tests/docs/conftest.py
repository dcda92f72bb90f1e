"""The documentation site, built once per test session (shared by the pytest-xdist workers
through a file lock) from a copy of docs/ in a temporary folder, exactly as the documented
command builds it: warnings are errors and every example of examples/gallery/ runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What a build writes into its source folder; not copied (a stale copy would mask a bug).
GENERATED = ("_build", "_generated", "api", "examples", "sg_execution_times.rst")


def build_site(dest: Path) -> subprocess.CompletedProcess:
    """Copy docs/ to ``dest/docs`` and build it into ``dest/html``."""
    src = dest / "docs"
    shutil.copytree(
        ROOT / "docs",
        src,
        ignore=lambda d, names: (
            [n for n in names if n in GENERATED and Path(d) == ROOT / "docs"]
            + [n for n in names if n == "__pycache__"]
        ),
    )
    env = dict(os.environ, RWTHEORY_DOCS_ROOT=str(ROOT), MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    return subprocess.run(
        [*cmd, str(src), str(dest / "html")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="session")
def docs_site(tmp_path_factory) -> Path:
    """The built site's folder (``index.html`` inside); the build's failure fails the test
    that asks for it, with Sphinx's output."""
    pytest.importorskip("sphinx", reason="the docs extra builds the site")
    from filelock import FileLock

    # one folder for every xdist worker of this session (the documented pattern), and this
    # session's own folder without xdist
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    site = shared / "docs-site"
    with FileLock(str(shared / "docs-site.lock")):
        status = site / "build-status.txt"
        if not status.exists():
            if site.exists():
                shutil.rmtree(site)
            site.mkdir()
            result = build_site(site)
            (site / "build-log.txt").write_text(result.stdout + result.stderr, encoding="utf-8")
            status.write_text(str(result.returncode), encoding="utf-8")
    log = (site / "build-log.txt").read_text(encoding="utf-8")
    assert status.read_text(encoding="utf-8") == "0", f"the docs build failed:\n{log[-6000:]}"
    return site / "html"
