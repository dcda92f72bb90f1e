"""The package as a user installs it: the metadata (license, citation, version, typing), a core
install that runs the weighting API without torch, cvxpy, PEPit or matplotlib and names the
extra a command needs, and a source distribution that holds and passes the tests."""

import json
import os
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import rwtheory

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _build(kind: str, out: Path) -> Path:
    """``python -m build --<kind>`` of this checkout into ``out``; the built file."""
    pytest.importorskip("build", reason="the test extra installs build")
    subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("*.whl" if kind == "wheel" else "*.tar.gz")
    return built


def test_metadata_declares_the_license_the_current_way_and_one_version():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Typing :: Typed" in project["classifiers"] and project["keywords"]
    assert (ROOT / "rwtheory" / "py.typed").is_file()
    citation = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert f'version: "{rwtheory.__version__}"' in citation
    assert "arXiv:2502.06733" in citation and "ICLR 2025" in citation
    out = subprocess.run(
        [sys.executable, "-m", "rwtheory", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"rwtheory {rwtheory.__version__}"


def test_one_torch_floor_everywhere():
    """The floor of the extra `lm` is the one constraints.txt names, the pinned wheel
    satisfies it, and no text of the README or the docs names another (the docs read the
    floors from pyproject.toml at build time)."""
    (spec,) = [d for d in PYPROJECT["project"]["optional-dependencies"]["lm"] if "torch" in d]
    floor = spec.removeprefix("torch>=")
    constraints = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert f"torch >= {floor}" in constraints
    pinned = constraints.split("torch==")[1].split()[0]
    assert tuple(map(int, pinned.split("."))) >= tuple(map(int, floor.split(".")))
    import re

    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        named = re.findall(r"torch\s*(?:≥|>=)\s*([0-9.]+)", path.read_text(encoding="utf-8"))
        assert set(named) <= {floor}, (path.name, named)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_core_install_runs_the_weighting_api_and_names_the_extra(tmp_path):
    """The wheel into a fresh venv with its core dependencies only (from the registry), used
    from another folder: the weighting API and the convex engine work, the checking and
    plotting stack is absent, and a computing command says which extra to install, in one
    line, exit 2."""
    wheel = _build("wheel", tmp_path / "dist")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=600, cwd=tmp_path
    )
    code = (
        "import importlib.util, json, rwtheory as rw\n"
        "w = rw.sample_weights([1.0, 2.0, 4.0], strategy='linupper', temperature=1.0)\n"
        "c = rw.kl_capped_weights([0.1, 0.5, 3.0], temperature=0.5, rho=2.0)\n"
        "from rwtheory.convex import engine, problems, schemes\n"
        "p = problems.regression_with_outliers(2, n=60, d=3, n_test=10)\n"
        "t = engine.run(p, schemes.Strategy('linupper', 1.0), steps=30, lr=0.05)\n"
        "loss = t.train_loss[:, [0, -1]].tolist()\n"
        "absent = [m for m in ('torch', 'cvxpy', 'PEPit', 'matplotlib', 'scipy')"
        " if importlib.util.find_spec(m)]\n"
        "print(json.dumps([w.tolist(), c.tolist(), loss, absent]))\n"
    )
    out = subprocess.run(
        [str(py), "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    w, c, loss, present = json.loads(out.stdout)
    assert present == []
    assert all(last < first for first, last in loss)  # the convex engine runs on numpy alone
    assert sum(w) == pytest.approx(1.0) and w[0] < w[1] <= w[2]
    assert sum(c) == pytest.approx(1.0) and max(c) <= 2 / 3 + 1e-12
    cmd = subprocess.run(
        [str(env_dir / "bin" / "rwtheory"), "reproduce"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cmd.returncode == 2 and len(cmd.stderr.strip().splitlines()) == 1, cmd.stderr
    assert "pip install 'rwtheory[all]'" in cmd.stderr
    assert not list(tmp_path.glob("paper_checks.*"))  # nothing written


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_sdist_holds_the_test_suite_and_a_fast_subset_passes_from_it(tmp_path):
    sdist = _build("sdist", tmp_path / "dist")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    (root,) = (tmp_path / "src").iterdir()
    for path in ("LICENSE", "CITATION.cff", "constraints.txt", "tests/conftest.py"):
        assert (root / path).is_file(), path
    assert (root / "tests" / "api_cases.py").is_file() and (root / "docs").is_dir()
    ours = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("*.py")}
    shipped = {p.relative_to(root).as_posix() for p in (root / "tests").rglob("*.py")}
    assert ours <= shipped
    env = {**os.environ, "PYTHONPATH": str(root)}
    probe = subprocess.run(
        [sys.executable, "-c", "import rwtheory; print(rwtheory.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env=env,
    )
    assert Path(probe.stdout.strip()).is_relative_to(root)  # the sdist's code is tested
    fast = [
        "tests/weights/test_pipeline.py",
        "tests/report/test_compare.py",
        "tests/test_layers.py",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *fast],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:]


def test_the_wheel_carries_the_license_and_the_typing_marker(tmp_path):
    wheel = _build("wheel", tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "rwtheory/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: MIT" in meta
    assert "Requires-Dist: torch" in meta and 'extra == "lm"' in meta
