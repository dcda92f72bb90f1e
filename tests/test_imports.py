"""What importing the package costs: the runtime parts (rwtheory, rwtheory.weights,
rwtheory.lm) must not pull in the checking and plotting stack (cvxpy, PEPit, matplotlib), and
the public names of rwtheory.__all__ resolve. Each import runs in a fresh interpreter, since
this test process has long imported everything."""

import json
import subprocess
import sys

import pytest

import rwtheory

HEAVY = ("cvxpy", "PEPit", "matplotlib")


def _loaded_after(statement: str) -> dict[str, bool]:
    code = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    return json.loads(out.splitlines()[-1])


@pytest.mark.parametrize(
    "statement",
    [
        "import rwtheory.weights",  # runs rwtheory/__init__ too (the reference solvers included)
        "import rwtheory.lm",
    ],
)
def test_runtime_imports_leave_the_checking_stack_alone(statement):
    assert _loaded_after(statement) == dict.fromkeys(HEAVY, False)


def test_every_public_name_resolves():
    for name in rwtheory.__all__:
        assert getattr(rwtheory, name) is not None, name


def test_the_lazy_namespace_lists_exactly_the_names_it_can_load():
    """``rwtheory.__all__`` and the table that loads the names on first use agree, and
    ``import rwtheory`` alone (the command line's first step) loads no numerical library."""
    assert sorted(rwtheory.__all__) == sorted(rwtheory._HOMES)
    assert _loaded_after("import rwtheory, rwtheory.cli") == dict.fromkeys(HEAVY, False)
    out = subprocess.run(
        [sys.executable, "-c", "import sys, rwtheory.cli; print('numpy' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False"
