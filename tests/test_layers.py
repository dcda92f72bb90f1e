"""The package's layers import one way (README, Layout): weights <- convex <- theory <- report
and experiments, nonconvex (problems on convex's GLM engine) between convex and theory, lm
beside convex on weights, the CLI on top. Read from the source (every
``import rwtheory...`` statement, top-level or inside a function), so a wrong import fails
here even before it would create a cycle at run time."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rwtheory"

#: layer -> the other layers it may import (``_array`` is the shared private helpers module).
ALLOWED = {
    "_array": set(),
    "weights": {"_array"},
    "convex": {"_array", "weights"},
    "nonconvex": {"_array", "weights", "convex"},
    "lm": {"_array", "weights"},
    "theory": {"_array", "weights", "convex", "nonconvex"},
    "report": {"_array", "weights", "convex", "nonconvex", "theory", "experiments"},
    "experiments": {"_array", "weights", "convex", "theory", "lm", "report", "<root>"},
    "cli": {"_array", "report", "experiments", "<root>"},  # _array: InputError; <root>: version
    "__main__": {"cli"},
    "__init__": {"weights", "theory"},
}


def _imports(path: Path) -> set[str]:
    """The layers (first component after ``rwtheory``) that ``path`` imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "rwtheory":
                out.add(parts[1] if len(parts) > 1 else "<root>")
    return out


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else path.stem


def test_every_import_goes_down_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        for target in _imports(path) - {layer}:
            if target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports rwtheory.{target}")
    assert not wrong, "\n".join(wrong)


def test_report_reads_the_figure_registry_in_one_place_only():
    """report -> experiments is the one upward edge: the figures provider reads the registry."""
    users = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.joinpath("report").rglob("*.py")
        if "experiments" in _imports(p)
    ]
    assert users == ["report/providers/figures.py"]


def test_the_probe_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "m.py"
    probe.write_text("def f():\n    from rwtheory.cli import main\n    import rwtheory\n")
    assert _imports(probe) == {"cli", "<root>"}
