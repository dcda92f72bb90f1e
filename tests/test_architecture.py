"""The package's structure rules (issue 9): small functions, private names kept private, and
light imports for the weighting and LM paths.

* no function or method in ``rwtheory/`` longer than 80 lines of code (docstrings, comments and
  blank lines not counted);
* no ``_private`` name imported across modules, except from ``rwtheory._array`` (the one
  private helpers module).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rwtheory"
MAX_LINES = 80


def _code_lines(node: ast.AST, source_lines: list[str]) -> int:
    """Lines of ``node`` holding code: not blank, not a comment, not inside a docstring."""
    doc = set()
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            doc.update(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for n in range(node.lineno, node.end_lineno + 1):
        text = source_lines[n - 1].strip()
        if text and not text.startswith("#") and n not in doc:
            count += 1
    return count


def function_lengths():
    """(lines of code, 'path:function') for every function of the package."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append(
                    (_code_lines(node, lines), f"{path.relative_to(PACKAGE.parent)}:{node.name}")
                )
    return sorted(out, reverse=True)


def test_no_function_longer_than_80_lines_of_code():
    long = [(n, f) for n, f in function_lengths() if n > MAX_LINES]
    assert not long, long


def test_the_line_counter_counts_code_only():
    src = 'def f():\n    """doc\n\n    more doc"""\n    # a comment\n\n    x = 1\n    return x\n'
    node = ast.parse(src).body[0]
    assert _code_lines(node, src.splitlines()) == 3  # def, x = 1, return


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # the package's own private names (a library's internals, such as numpy's CPU
            # tables read by experiments/pins.py, are that module's documented choice)
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("rwtheory")
            ):
                if node.module.endswith("_array"):
                    continue
                private_module = any(
                    p.startswith("_") and p != "__future__" for p in node.module.split(".")
                )
                names = [a.name for a in node.names if a.name.startswith("_")]
                if private_module or names:
                    offenders.append(
                        f"{path.relative_to(PACKAGE.parent)}: from {node.module} "
                        f"import {', '.join(a.name for a in node.names)}"
                    )
    assert not offenders, offenders
