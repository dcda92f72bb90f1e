"""The package's layers import one way (README, Layout): weights <- convex <- theory <- report
and experiments, nonconvex (problems on convex's GLM engine) between convex and theory, lm
beside convex on weights, the CLI on top. Read from the source (every
``import rwtheory...`` statement, top-level or inside a function), so a wrong import fails
here even before it would create a cycle at run time."""

import ast
import graphlib
from pathlib import Path

import pytest

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


# ------------------------------------------------------------------ module import circles
def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def module_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (top-level or inside a function). ``from
    pkg import sub`` names the submodule ``pkg.sub`` (importing a submodule runs its package's
    ``__init__`` first in any case, so that edge is not a dependency of the importer)."""

    def owner(name: str) -> str | None:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in modules else None

    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {owner(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found |= {
                    owner(f"{node.module}.{a.name}")
                    if f"{node.module}.{a.name}" in modules
                    else owner(node.module)
                    for a in node.names
                }
        graph[name] = found - {None, name}
    return graph


def test_no_import_circle_between_modules():
    """Imports point one way module by module too (the layers above allow report and
    experiments to import each other, so a circle there would pass them)."""
    try:
        order = list(graphlib.TopologicalSorter(module_graph(_modules())).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import circle: {' -> '.join(err.args[1])}")
    assert "rwtheory.experiments.robustness_stats" in order


def test_the_circle_check_finds_a_circle(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from rwtheory.b import g\n")
    (tmp_path / "b.py").write_text("from rwtheory import a\n")
    graph = module_graph({"rwtheory.a": tmp_path / "a.py", "rwtheory.b": tmp_path / "b.py"})
    assert graph == {"rwtheory.a": {"rwtheory.b"}, "rwtheory.b": {"rwtheory.a"}}
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(graph).static_order())
