"""The Sphinx extension behind rwtheory's documentation: every number a page shows is read at
build time from an artifact that one of the project's commands writes, never typed.

* :func:`substitutions` -- the values pages insert with MyST substitutions
  (``{{ ledger.counts.total }}``): the claim ledger (``paper_checks.json``, written by
  ``rwtheory check``), the LM study's final numbers (``figures/lm.csv``, ``rwtheory figures``),
  the dependency floors (``pyproject.toml``) and the grid of the robustness study.
* At ``builder-inited`` it writes, under the source folder: ``api/`` (one page per public
  module, autodoc), ``_generated/ledger.md`` (the claim ledger with its figures),
  ``_generated/figures/`` and ``_generated/robustness/`` (copies of the committed figures and
  the robustness study's summary) and ``_generated/benchmarks/`` (the recorded benchmark
  outputs). These paths are git-ignored.
* The role ``{claim}`thm1``` links a claim of the ledger and fails the build for an unknown id.
* ``OPTIONAL_PAGES``: a toctree entry naming one of them is dropped while its page does not
  exist (a page another branch adds).

Nothing here computes a result: it only copies and formats what the artifacts hold.
"""

from __future__ import annotations

import ast
import csv
import importlib
import json
import pkgutil
import re
import shutil
import tomllib
import types
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging

from rwtheory.report.html import headline

LOG = logging.getLogger(__name__)

#: The repository root (set by conf.py).
ROOT: Path = Path(__file__).resolve().parents[2]
#: Packages whose public modules get an API page, each with its submodules.
API_PACKAGES = ("rwtheory", "rwtheory.weights", "rwtheory.convex", "rwtheory.theory", "rwtheory.lm")
#: Pages that may be absent from this checkout (toctree entries naming them are dropped then).
OPTIONAL_PAGES = ("lm",)
#: Where the ledger page lives (the claim role links there).
LEDGER_DOC = "claims"


# ============================================================================ artifacts
def package_version(root: Path) -> str:
    """The version written once, in ``rwtheory/__init__.py`` (pyproject.toml reads it)."""
    text = (root / "rwtheory" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M)[1]


def _floors(root: Path) -> dict[str, str]:
    """Lower bounds of the dependencies in pyproject.toml, by package name (lower case,
    extras dropped), plus ``python`` from requires-python."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    out = {"python": project["requires-python"].removeprefix(">=")}
    for spec in specs:
        m = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][0-9.]*)", spec)
        if m:
            out.setdefault(m[1].lower().replace("_", "-"), m[3])
    return out


def _ledger(root: Path) -> dict:
    doc = json.loads((root / "paper_checks.json").read_text(encoding="utf-8"))
    return dict(
        counts=doc["counts"],
        claims={c["id"]: c for c in doc["claims"]},
        order=[c["id"] for c in doc["claims"]],
        notes=doc["notes"],
    )


def _lm_study(root: Path) -> dict:
    """``figures/lm.csv``: the last step, and per quantity and method its value there."""
    lines = (root / "figures" / "lm.csv").read_text(encoding="utf-8").splitlines()
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    ppl = [r for r in rows if r["quantity"].startswith("ppl_")]
    last = max(int(r["step"]) for r in ppl)
    final: dict[str, dict[str, str]] = {}
    for r in ppl:
        if int(r["step"]) == last:
            final.setdefault(r["quantity"].removeprefix("ppl_"), {})[r["method"]] = r["value"]
    seeds = re.search(r"Mean over (\d+) seed", "\n".join(lines[:6]))
    return dict(steps=last, final=final, seeds=seeds[1] if seeds else "")


def _robustness(root: Path) -> dict:
    grid = json.loads((root / "figures" / "robustness" / "grid.json").read_text(encoding="utf-8"))
    return grid


def _lm_api() -> dict:
    """Constants of the LM path that the LM guide (``docs/lm.md``) states, read from
    :mod:`rwtheory.lm.losses` itself so that the page cannot drift from the code:
    ``chunked_min_vocab`` (``CHUNKED_MIN_VOCAB``: from this vocabulary size on the Trainer
    takes the chunked loss by default) and ``chunk_budget_mib`` (``CHUNK_BUDGET_BYTES`` in
    MiB: the default chunk's buffer budget). Importing the module needs torch, which the
    build needs anyway (autodoc of ``rwtheory.lm``, the gallery's LM examples)."""
    from rwtheory.lm import losses

    return dict(
        chunked_min_vocab=str(losses.CHUNKED_MIN_VOCAB),
        chunk_budget_mib=f"{losses.CHUNK_BUDGET_BYTES / 2**20:g}",
    )


def substitutions(root: Path) -> dict:
    """The values pages may insert (MyST substitutions, Jinja syntax)."""
    return dict(
        ledger=_ledger(root),
        lm=_lm_study(root),
        lm_api=_lm_api(),
        floors=_floors(root),
        robustness=_robustness(root),
        version=package_version(root),
    )


# ============================================================================ the ledger page
_CODE = re.compile(r"(`[^`]*`)")


def md_text(text: str) -> str:
    """Ledger text as MyST: code spans and **bold** kept, every other markup character
    escaped (the records hold formulas such as ``x*`` and ``x_{t+1}``)."""
    out = []
    for part in _CODE.split(str(text)):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(part)
            continue
        part = re.sub(r"([\\*_\[\]<>$|{}#~^])", r"\\\1", part)
        out.append(re.sub(r"\\\*\\\*(.+?)\\\*\\\*", r"**\1**", part))
    return " ".join("".join(out).split())


def claim_target(claim_id: str) -> str:
    return "claim-" + claim_id.replace(".", "-")


def _claim_section(c: dict, shown: set[str]) -> list[str]:
    kind = c["statement"]["kind"]
    lines = [
        f"({claim_target(c['id'])})=",
        f"### `{c['id']}` — {md_text(c['section'])}",
        "",
        f"**Status:** {c['status']} · **checked:** {c['scope']}",
        "",
        f"* **The paper** ({kind}): {md_text(c['statement']['text'])}",
        f"* **We check:** {md_text(c['ours'])}",
        f"* **Measured:** {md_text(c['measured'])}",
    ]
    for key, label in (
        ("analogue", "The analogue"),
        ("reason", "Why not here"),
        ("robustness", "Robustness"),
    ):
        if c[key]:
            lines.append(f"* **{label}:** {md_text(c[key])}")
    lines += [f"* **Regenerate:** {md_text(c['command'])}", ""]
    for path in c["evidence"]:
        if not path.endswith(".png"):
            continue
        name = Path(path).stem
        if path in shown:
            lines += [f"The figure: {{ref}}`{name} <figure-{name}>` (shown above).", ""]
        else:
            shown.add(path)
            alt = f"Evidence of {c['id']}: {path}"
            lines += [f"![{md_text(alt)}](/_generated/{path})", ""]
    return lines


def ledger_markdown(ledger: dict) -> str:
    """The ledger page's body: the counts, a summary table, then a section per claim."""
    counts = ledger["counts"]
    lines = [
        f"**{counts['total']} claims.** "
        + " · ".join(f"{k}: **{v}**" for k, v in counts["status"].items())
        + ". How each is checked: "
        + " · ".join(f"{k}: **{v}**" for k, v in counts["scope"].items())
        + ".",
        "",
        "| claim | where in the paper | status | measured (headline) |",
        "|---|---|---|---|",
    ]
    claims = [ledger["claims"][i] for i in ledger["order"]]
    for c in claims:
        lines.append(
            f"| {{claim}}`{c['id']}` | {md_text(c['section'])} | {c['status']} "
            f"| {md_text(headline(c['measured'], 120))} |"
        )
    lines += ["", "## Every claim", ""]
    shown: set[str] = set()
    for c in claims:
        lines += _claim_section(c, shown)
    lines += ["## Notes of the checks", ""] + [f"* {md_text(n)}" for n in ledger["notes"]]
    return "\n".join(lines) + "\n"


# ============================================================================ the figures page
def figure_names() -> tuple[str, ...]:
    """The committed figures, in the registry's order (``rwtheory figures --only NAME``):
    read from :data:`rwtheory.experiments.FIGURES`, never a copy of it."""
    from rwtheory.experiments import FIGURES

    return tuple(FIGURES)


def figure_caption(root: Path, name: str) -> str:
    """A figure's caption: the comment lines that head its CSV (written with the figure)."""
    lines = (root / "figures" / f"{name}.csv").read_text(encoding="utf-8").splitlines()
    return " ".join(line.lstrip("# ").strip() for line in lines if line.startswith("#"))


def _lm_table(study: dict) -> list[str]:
    """Held-out perplexity per domain and method at the study's last step (figures/lm.csv)."""
    domains = list(study["final"])
    methods = list(study["final"][domains[0]])
    lines = [
        f"Held-out perplexity after {study['steps']} steps (mean over {study['seeds']} seeds; "
        "lower is better), read from `figures/lm.csv`:",
        "",
        "| method | " + " | ".join(domains) + " |",
        "|---|" + "---|" * len(domains),
    ]
    lines += [
        f"| {m} | " + " | ".join(study["final"][d][m] for d in domains) + " |" for m in methods
    ]
    return lines + [""]


def figures_markdown(root: Path, ledger: dict) -> str:
    """One section per committed figure: the image, its caption, the claims resting on it."""
    lines = []
    for name in figure_names():
        claims = [
            i for i in ledger["order"] if f"figures/{name}.png" in ledger["claims"][i]["evidence"]
        ]
        lines += [
            f"(figure-{name})=",
            f"## `{name}`",
            "",
            f"![{name}](/_generated/figures/{name}.png)",
            "",
            md_text(figure_caption(root, name)),
            "",
            f"Regenerate: `rwtheory figures --only {name}`. The numbers plotted: "
            f"{{download}}`{name}.csv </_generated/figures/{name}.csv>`.",
            "",
        ]
        if name == "lm":
            lines += _lm_table(_lm_study(root))
        if claims:
            lines += ["Claims it supports: " + ", ".join(f"{{claim}}`{i}`" for i in claims), ""]
    return "\n".join(lines) + "\n"


# ============================================================================ the API pages
def public_modules() -> list[str]:
    """Every public module of :data:`API_PACKAGES` (no path component starting with _)."""
    names = set(API_PACKAGES)
    for pkg_name in API_PACKAGES[1:]:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.add(info.name)
    return sorted(names)


def _module_names(mod) -> tuple[list[str], dict[str, str]]:
    """(names defined in the module, {re-exported name: module it comes from}) of its public
    names: ``__all__``, or else its top-level definitions without a leading underscore."""
    tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))
    imported: dict[str, str] = {}
    defined: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                imported[a.asname or a.name] = node.module
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined += [t.id for t in targets if isinstance(t, ast.Name)]
    public = list(getattr(mod, "__all__", [n for n in defined if not n.startswith("_")]))
    own = [n for n in public if n in defined and n not in imported]
    reexported = {}
    for n in public:
        if n in own:
            continue
        source = imported.get(n)
        if source is None:  # e.g. a lazy __getattr__ name: where the object says it lives
            source = getattr(getattr(mod, n), "__module__", mod.__name__)
        reexported[n] = source
    return own, reexported


def _canonical(name: str, module: str, seen=()) -> str:
    """The module that defines ``name``, following re-exports."""
    mod = importlib.import_module(module)
    own, reexported = _module_names(mod)
    if name in own or name not in reexported or module in seen:
        return module
    return _canonical(name, reexported[name], (*seen, module))


def _first_line(obj) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    if not doc or type(obj).__doc__ == obj.__doc__ and not callable(obj):
        return ""
    first = " ".join(doc.split("\n\n")[0].split())

    def role(m):  # reST roles and literals as MyST: math stays math, the rest is code
        body = m[2].lstrip("~")
        return f"{{math}}`{body}`" if m[1] == ":math:" else f"`{body}`"

    return re.sub(r"(:[\w:]+:)?`([^`]*)`", role, first.replace("``", "`")).replace("|", "\\|")


def api_page(module: str) -> str:
    mod = importlib.import_module(module)
    own, reexported = _module_names(mod)
    lines = [f"# `{module}`", ""]
    directive = ["```{eval-rst}", f".. automodule:: {module}"]
    if own:
        directive.append(f"   :members: {', '.join(own)}")
    else:
        directive.append("   :no-members:")
    lines += directive + ["```", ""]
    if reexported:
        lines += [
            "## Names this module re-exports",
            "",
            "| name | defined in | summary |",
            "|---|---|---|",
        ]
        for n, src in reexported.items():
            home = _canonical(n, src)
            summary = _first_line(getattr(mod, n))
            lines.append(f"| {{py:obj}}`{n} <{home}.{n}>` | `{home}` | {summary} |")
        lines.append("")
    subs = [m for m in public_modules() if m.rpartition(".")[0] == module]
    if subs:
        lines += ["## Modules", ""] + [f"* [`{m}`]({m}.md)" for m in subs] + [""]
    return "\n".join(lines)


def api_index() -> str:
    mods = public_modules()
    lines = [
        "# API reference",
        "",
        "One page per public module, generated from the docstrings. The flat namespaces "
        "(`rwtheory` for the weighting API, `rwtheory.lm` for the LLM loss path) list the "
        "names they re-export and link each to the module that defines it.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *mods,
        "```",
        "",
    ]
    return "\n".join(lines)


# ============================================================================ writing
def _write(path: Path, text: str) -> None:
    """Write only when the content changes (keeps Sphinx's incremental build incremental)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _copy_tree(src: Path, dst: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        for f in sorted(src.glob(pattern)):
            target = dst / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_bytes() != f.read_bytes():
                shutil.copyfile(f, target)


def generate(app) -> None:
    src = Path(app.srcdir)
    gen = src / "_generated"
    _copy_tree(ROOT / "figures", gen / "figures", ("*.png", "*.csv", "robustness/*.png"))
    _copy_tree(
        ROOT / "figures" / "robustness",
        gen / "robustness",
        ("summary.md", "decomposition.md", "*.csv"),
    )
    _copy_tree(ROOT / "benchmarks" / "results", gen / "benchmarks", ("*.txt",))
    _copy_tree(ROOT / "rwtheory" / "experiments", gen / "grids", ("robustness_grids.toml",))
    ledger = _ledger(ROOT)
    _write(gen / "ledger.md", ledger_markdown(ledger))
    _write(gen / "figures.md", figures_markdown(ROOT, ledger))
    api = src / "api"
    wanted = {f"{m}.md": api_page(m) for m in public_modules()}
    wanted["index.md"] = api_index()
    for stale in api.glob("*.md") if api.exists() else []:
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        _write(api / name, text)


# ============================================================================ docstrings
_SECTION = re.compile(r"^(Parameters|Attributes|Returns|Yields|Raises|Other Parameters)\s*$")
_ITEM = re.compile(r"^([\w*][\w*, ]*?) : (.*)$")


def describe_not_type(app, what, name, obj, options, lines) -> None:
    """The package's numpy-style sections write ``name : description`` (there is no type
    column: the types are in the signatures); napoleon would read the description as a type
    and cross-reference each of its words. Rewrite such items as ``name`` + an indented
    description before napoleon parses them."""
    i, section, base = 0, False, 0
    while i < len(lines):
        line = lines[i]
        if (
            _SECTION.match(line.strip())
            and i + 1 < len(lines)
            and set(lines[i + 1].strip()) == {"-"}
        ):
            section, base = True, len(line) - len(line.lstrip())
            i += 2
            continue
        indent = len(line) - len(line.lstrip())
        if section and line.strip() and indent < base:
            section = False
        if (
            section
            and line.strip() == ""
            and i + 1 < len(lines)
            and lines[i + 1].strip()
            and (len(lines[i + 1]) - len(lines[i + 1].lstrip()) == base)
            and not _ITEM.match(lines[i + 1].strip())
        ):
            section = False  # prose after the section: two blank lines end it for napoleon
            lines.insert(i, "")
            i += 2
            continue
        m = _ITEM.match(line.strip()) if section and indent == base else None
        if m:
            lines[i : i + 1] = [" " * base + m[1], " " * (base + 4) + m[2]]
            i += 2
            continue
        i += 1


# ============================================================================ roles, hooks
def claim_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{claim}`id``` -> a link to the claim's section of the ledger page; an id that
    paper_checks.json does not hold is an error."""
    if text not in _ledger(ROOT)["claims"]:
        msg = inliner.reporter.error(f"unknown claim id {text!r} (not in paper_checks.json)")
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    ref = addnodes.pending_xref(
        rawtext,
        refdomain="std",
        reftype="ref",
        reftarget=claim_target(text),
        refexplicit=True,
        refwarn=True,
    )
    ref += nodes.literal(text, text)
    return [ref], []


def drop_missing_optional_pages(app, docname, source) -> None:
    """Remove toctree lines naming an :data:`OPTIONAL_PAGES` page that does not exist."""
    text = source[0]
    for page in OPTIONAL_PAGES:
        if not any((Path(app.srcdir) / f"{page}{s}").exists() for s in (".md", ".rst")):
            text = re.sub(rf"(?m)^{re.escape(page)}\s*$\n?", "", text)
    source[0] = text


def alias_source(app, modname: str, fullname: str) -> str | None:
    """The module whose source shows a documented type alias (viewcode's
    ``viewcode-follow-imported``): an alias such as ``Record = tuple[...]`` reports its origin's
    module (``builtins``, ``typing``), which has no source page; the alias is defined where it
    is documented. Every other object is left to viewcode (``None``)."""
    value = importlib.import_module(modname)
    for part in fullname.split("."):
        value = getattr(value, part, None)
    is_alias = isinstance(value, types.GenericAlias | types.UnionType) or (
        type(value).__module__ == "typing" and not isinstance(value, type)
    )
    return modname if is_alias else None


def setup(app):
    app.connect("viewcode-follow-imported", alias_source)
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", describe_not_type, priority=400)
    app.connect("source-read", drop_missing_optional_pages)
    app.add_role("claim", claim_role)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
