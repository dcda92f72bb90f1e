"""Mutation score of the theorem checks and of Proposition 1's solver.

    pip install -c constraints.txt -e ".[test,mutation]"
    python benchmarks/mutation.py [--only theorems|prop1] [--diffs] [--max-children N]
                                  [--report-only]

Runs mutmut (configured in ``pyproject.toml``, ``[tool.mutmut]``: the fast tests of
``tests/theory`` and ``tests/weights``, slow tests deselected) over

* ``theorems``: every function of ``rwtheory/theory/theorems/``;
* ``prop1``: Proposition 1's solver in ``rwtheory/weights/optimal.py`` --
  :func:`rwtheory.weights.optimal.kl_capped_weights`, its batched form and the helpers they call
  (:data:`PROP1_FUNCTIONS`); the file's other functions (DRO-KL, the bisection and cvxpy
  references, the KKT residual) are mutated by mutmut too but not counted here.

and prints, per group, killed / survived / other (timeouts, suspicious, no tests) and the
mutation score killed / (killed + survived), then the surviving mutants by name (``--diffs``:
with their diffs, ``mutmut show NAME``). mutmut keeps its results in ``mutants/`` and reruns
only what changed; the first run takes tens of minutes on a 2-core machine (timings on a
loaded machine are noisy). Surviving mutants are either killed by a new test or argued
equivalent in a comment beside the mutated code (the closing note lists them).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter

#: Proposition 1's solver: kl_capped_weights, its batched form and the helpers they call.
PROP1_FUNCTIONS = (
    "check_rho",
    "check_gaps",
    "_linear_span",
    "_p_max",
    "_count_head",
    "_limit_numpy",
    "_limit_values",
    "_limit",
    "_sorted_spread",
    "_bracketed_spread",
    "_finish",
    "_relative_suffix_sums",
    "_relative_spread",
    "_kl_capped",
    "kl_capped_weights",
    "batched_kl_capped_weights",
)

GROUPS = {
    "theorems": ["rwtheory.theory.theorems.*"],
    "prop1": [f"rwtheory.weights.optimal.x_{f}__mutmut_*" for f in PROP1_FUNCTIONS],
}


def _group_of(name: str) -> str | None:
    if name.startswith("rwtheory.theory.theorems."):
        return "theorems"
    m = re.match(r"rwtheory\.weights\.optimal\.x_(.+)__mutmut_\d+$", name)
    if m and m.group(1) in PROP1_FUNCTIONS:
        return "prop1"
    return None


def _argument_line(name: str) -> str:
    """``file:line`` of the first line mentioning "mutant" or "mutation note" in the comment
    block just above the mutated function or inside it (comments and docstring) -- where its
    equivalence argument lives -- or "no comment found"."""
    import ast
    import pathlib

    m = re.match(r"(.+)\.x(?:_|ǁ(\w+)ǁ)(\w+?)__mutmut_\d+$", name)
    if not m:
        return "no comment found"
    module, func = m.group(1), m.group(3).lstrip("_") if not m.group(2) else m.group(3)
    path = pathlib.Path(*module.split(".")).with_suffix(".py")
    if not path.exists():
        return "no comment found"
    text = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(text))):
        if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") == func:
            start = node.lineno - 1 - len(node.decorator_list)
            while start > 0 and text[start - 1].lstrip().startswith("#"):
                start -= 1  # the comment block right above the def
            for i in range(start, node.end_lineno):
                if re.search(r"mutant|mutation note", text[i], re.IGNORECASE):
                    return f"{path}:{i + 1}"
    return "no comment found"


def _mutmut() -> str:
    exe = shutil.which("mutmut") or shutil.which(
        "mutmut", path=str(__import__("pathlib").Path(sys.executable).parent)
    )
    if exe is None:
        sys.exit('mutmut is not installed: pip install -c constraints.txt -e ".[mutation]"')
    return exe


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only",
        choices=sorted(GROUPS),
        action="append",
        help="mutate only this group (repeatable; default: both)",
    )
    ap.add_argument("--diffs", action="store_true", help="print the surviving mutants' diffs")
    ap.add_argument(
        "--max-children",
        type=int,
        default=None,
        help="mutmut's parallel workers (default: mutmut's choice)",
    )
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="print the stored results of the last run without running mutmut",
    )
    args = ap.parse_args(argv)
    groups = args.only or sorted(GROUPS)
    exe = _mutmut()
    cmd = [exe, "run", *[p for g in groups for p in GROUPS[g]]]
    if args.max_children:
        cmd[2:2] = ["--max-children", str(args.max_children)]
    if not args.report_only:
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    out = subprocess.run(
        [exe, "results", "--all", "true"], check=True, capture_output=True, text=True
    ).stdout
    status: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m and _group_of(m.group(1)) in groups:
            status[m.group(1)] = m.group(2).strip()
    for g in groups:
        names = [n for n in status if _group_of(n) == g]
        c = Counter(status[n] for n in names)
        killed, survived = c.get("killed", 0), c.get("survived", 0)
        score = killed / (killed + survived) if killed + survived else float("nan")
        other = {k: v for k, v in c.items() if k not in ("killed", "survived")}
        print(
            f"{g}: {len(names)} mutants, killed {killed}, survived {survived}, other {other}; "
            f"mutation score {score:.3f} (killed / (killed + survived))"
        )
        for n in sorted(n for n in names if status[n] == "survived"):
            print(f"  survived: {n}  (argument: {_argument_line(n)})")
            if args.diffs:
                diff = subprocess.run([exe, "show", n], capture_output=True, text=True).stdout
                print("    " + "\n    ".join(diff.strip().splitlines()[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
