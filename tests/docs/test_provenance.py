"""No number typed by hand, and nothing named that does not exist (docs/contributing.md, "No
number typed by hand").

The prose of README.md, of the hand-written pages of docs/ and of the text blocks of the
gallery examples is read the way MyST reads it (markdown-it with MyST's plugins), so that
code, math, substitutions, roles and link targets are told apart from the text a reader sees.
Every number in that text must be a reference, part of a name or a citation (the rule's
classes below); every module path, repository path, CLI command and claim id must exist.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import io
import json
import re
from functools import cache
from pathlib import Path

import pytest

from rwtheory.report.markdown import README_BEGIN, README_END

pytest.importorskip("myst_parser", reason="the docs extra (myst-parser) reads the pages")

from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

ROOT = Path(__file__).resolve().parents[2]
#: Hand-written pages (generated ones live in docs/_generated, docs/api, docs/examples).
PAGES = sorted((ROOT / "docs").glob("*.md"))
EXAMPLES = sorted((ROOT / "examples" / "gallery").glob("*.py"))
SOURCES = [ROOT / "README.md", *PAGES, *EXAMPLES]

# ----------------------------------------------------------------------------- the rule
NUMBER = re.compile(r"(?<![\w.])[-+−]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")
_REF_WORDS = (
    r"Theorems?|Thms?\.|Propositions?|Prop\.|Lemmas?|Assumptions?|Algorithms?|Sections?|"
    r"Secs?\.|§|Appendix|Appendices|App\.|Eqs?\.|Equations?|Figures?|Figs?\.|Tables?|Tabs?\.|"
    r"Corollary|Definition"
)
_REF_NUM = r"[A-Z]?\d+(?:\.\d+)*(?:\s*\([ivx]+\))?"
REFERENCE = re.compile(
    rf"(?:{_REF_WORDS})\s*{_REF_NUM}(?:\s*(?:–|-|,|and|or|&)\s*(?:{_REF_WORDS})?\s*{_REF_NUM})*"
)
CITATION = re.compile(
    r"\b\d{4}\.\d{4,5}\b"  # arXiv identifier
    r"|\b[A-Z][\w.&-]*\s(?:19|20)\d\d\b"  # ICLR 2025, Teboulle 2014
    r"|et al\.,?\s\(?(?:19|20)\d\d\)?"  # Sebbouh et al. (2021)
)
HEADING_NUMBER = re.compile(r"^\d+(?:\.\d+)*\.(?=\s)")
#: A word with a letter in front (GPT-2, Llama-7B, float32, AVX-512, A.5) or a digit joined to
#: letters by a hyphen (1-D): a name. Not a name if it carries a relation (r=0.4).
NAME = re.compile(r"^(?:[^\W\d_][\w.\-+/·]*\d[\w.\-+/·]*|\d+-[^\W\d_]+)$")
RELATION = re.compile(r"[=<>≤≥≈~]")
ONLY_NUMBER = re.compile(r"^[\s\d.,×x%+\-−e]*\d[\s\d.,×x%+\-−e]*$")


def _exempt_spans(text: str, heading: bool) -> list[tuple[int, int]]:
    spans = [m.span() for m in REFERENCE.finditer(text)]
    spans += [m.span() for m in CITATION.finditer(text)]
    if heading and (m := HEADING_NUMBER.match(text)):
        spans.append(m.span())
    for m in re.finditer(r"\S+", text):
        word = m.group().strip("()[]{},;:!?\"'“”‘’*")
        if word and NAME.match(word) and not RELATION.search(word):
            spans.append(m.span())
    return spans


def hand_numbers(text: str, heading: bool = False) -> list[str]:
    """The numbers of a piece of prose that no class of the rule covers."""
    spans = _exempt_spans(text, heading)
    out = []
    for m in NUMBER.finditer(text):
        if not any(a <= m.start() and m.end() <= b for a, b in spans):
            out.append(m.group())
    return out


# ----------------------------------------------------------------------------- reading
@cache
def _parser():
    config = MdParserConfig(
        enable_extensions={"dollarmath", "substitution", "colon_fence", "deflist"}
    )
    return create_md_parser(config, RendererHTML)


def _gallery_markdown(path: Path) -> str:
    """The text a gallery example shows: its docstring and the comment blocks after ``# %%``
    (sphinx-gallery's reST, close enough to markdown for finding numbers and names)."""
    src = path.read_text(encoding="utf-8")
    doc = re.match(r'\s*"""(.*?)"""', src, re.S)
    parts = [doc.group(1)] if doc else []
    for block in re.findall(r"^# %%\n((?:#.*\n)+)", src, re.M):
        parts.append("\n".join(line[2:] for line in block.splitlines()))
    return "\n\n".join(parts)


def source_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return _gallery_markdown(path)
    if path.name == "README.md":  # the generated block is the generator's (test_readme.py)
        text = text[: text.index(README_BEGIN)] + text[text.index(README_END) + len(README_END) :]
    return text


def tokens(path: Path):
    """(kind, content, heading) of every inline piece of a source: see :func:`text_tokens`."""
    return text_tokens(source_text(path))


def text_tokens(text: str):
    """(kind, content, heading) of every inline piece of markdown ``text``: kind is "text",
    "code", "role:NAME", "link"; fences come as ("fence", content, False)."""
    out = []
    heading = False
    for tok in _parser().parse(text):
        if tok.type == "heading_open":
            heading = True
        elif tok.type == "heading_close":
            heading = False
        elif tok.type == "fence":
            out.append(("fence", tok.content, False))
        elif tok.type == "inline":
            first = True
            for c in tok.children or []:
                if c.type == "text":
                    out.append(("text", c.content, heading and first))
                elif c.type == "code_inline":
                    out.append(("code", c.content, False))
                elif c.type == "myst_role":
                    out.append((f"role:{c.meta.get('name')}", c.content, False))
                elif c.type == "link_open":
                    out.append(("link", c.attrs.get("href", ""), False))
                first = False
    return out


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


# ----------------------------------------------------------------------------- the rule's tests
@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_no_number_typed_by_hand(path):
    found = []
    for kind, content, heading in tokens(path):
        if kind == "text":
            found += [(n, content.strip()[:80]) for n in hand_numbers(content, heading)]
        elif kind == "code" and ONLY_NUMBER.match(content):
            found.append((content, "a code span that is only a number"))
    assert found == [], f"numbers typed by hand in {path.name} (number, context): {found}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("after 400 steps the perplexity is 11.28", ["400", "11.28"]),
        ("the engine takes 1.34× its floor", ["1.34"]),
        ("r=0.4 and ρ≈3.6", ["0.4", "3.6"]),
        ("76 % of steps, 3x faster", ["76", "3"]),
        ("Theorems 1–2, Sec. 4.2, App. C.1, Table 12, Figures 7-8, §5, Eq. 4", []),
        ("Thm. 2 (ii) and Tables 4 and 5", []),
        ("GPT-2, Llama-7B, Llama-1.4B, float32, AVX-512, 1-D, x86_64", []),
        ("ICLR 2025, (Sebbouh, Gower & Defazio, COLT 2021), Sebbouh et al. (2021)", []),
        ("arXiv:2502.06733 and 2502.06733", []),
        ("in 2025 we ran 2000 steps", ["2025", "2000"]),
    ],
)
def test_the_rule_tells_hand_numbers_from_exempt_ones(text, expected):
    assert hand_numbers(text) == expected


def test_heading_numbers_are_exempt_only_in_headings():
    assert hand_numbers("3. Theorem 1", heading=True) == []
    assert hand_numbers("3 runs diverged", heading=True) == ["3"]


# ----------------------------------------------------------------------------- what is named exists
MODULE_PATH = re.compile(r"\b(?:rwtheory(?:\.\w+)+|rw\.\w+)")
REPO_PATH = re.compile(
    r"^(?:rwtheory|tests|benchmarks|figures|docs|examples|report|\.ci)/[\w./-]*$"
)
CLI = re.compile(r"(?<![\w.])(?<!import )rwtheory\s+([a-z]+)\b([^`|;&\n]*)")
CLAIM_LIKE = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+$")
#: A first component shaped like a numbered statement of the paper (``thm3``, ``fig9``,
#: ``tab12``, ``prop2``): a claim's family even before the ledger has a claim in it.
PAPER_FAMILY = re.compile(r"^(?:thm|prop|fig|tab)\d+$")
FILE_SUFFIX = re.compile(r"\.(?:md|json|csv|py|toml|txt|png|pdf|html|rst|cfg|yaml|yml)$")


def resolves(dotted: str) -> bool:
    """``rwtheory.a.b.c`` (or ``rw.x``) is an importable module or an attribute of one."""
    if dotted.startswith("rw."):
        dotted = "rwtheory." + dotted[3:]
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


@cache
def _ledger_ids() -> frozenset[str]:
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    return frozenset(c["id"] for c in doc["claims"])


@cache
def _ledger_families() -> frozenset[str]:
    """The first components of the ledger's ids (``thm1``, ``fig7``, ``lm``, ``tab1``, ...)."""
    return frozenset(i.split(".")[0] for i in _ledger_ids())


def names_a_claim(span: str) -> bool:
    """Whether a code span stands for a claim id: dotted lower-case words, not a file name,
    whose first component is the family of a claim in paper_checks.json or shaped like a
    numbered statement of the paper (:data:`PAPER_FAMILY`). Other dotted spans
    (``accelerator.prepare``, ``self.log_dict``, ``stats.skipped``, ``rwtheory.lm``: module
    paths are checked by :func:`test_module_paths_exist`) are not claims."""
    if not CLAIM_LIKE.match(span) or FILE_SUFFIX.search(span):
        return False
    family = span.split(".")[0]
    return family in _ledger_families() or PAPER_FAMILY.match(family) is not None


def unknown_claim_ids(pieces) -> list[str]:
    """The claim ids named by ``{claim}`` roles and claim-shaped code spans of ``pieces``
    (:func:`text_tokens`' triples) that paper_checks.json does not hold."""
    named = [c for kind, c, _ in pieces if kind == "role:claim"]
    named += [c for kind, c, _ in pieces if kind == "code" and names_a_claim(c)]
    return [c for c in named if c not in _ledger_ids()]


@cache
def _help(command: str) -> str | None:
    """The ``--help`` text of ``rwtheory COMMAND``, or None if it is not a command."""
    from rwtheory.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            main([command, "--help"])
        except SystemExit as exc:
            return out.getvalue() if exc.code == 0 else None
    return None


def _code_pieces(path: Path) -> list[str]:
    return [c for kind, c, _ in tokens(path) if kind in ("code", "fence")]


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_module_paths_exist(path):
    pieces = [c for kind, c, _ in tokens(path) if kind in ("code", "fence", "text")]
    names = {m.group() for piece in pieces for m in MODULE_PATH.finditer(piece)}
    assert [n for n in sorted(names) if not resolves(n)] == []


#: Outputs of a documented command (the site's build), absent from a fresh clone.
BUILT = ("docs/_build/",)


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_repository_paths_exist(path):
    spans = [c.strip() for kind, c, _ in tokens(path) if kind == "code"]
    paths = [s for s in spans if REPO_PATH.match(s) and not s.startswith(BUILT)]
    assert [p for p in paths if not (ROOT / p).exists()] == []


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_cli_commands_and_options_exist(path):
    bad = []
    for piece in _code_pieces(path):
        for m in CLI.finditer(piece):
            command, rest = m.group(1), m.group(2)
            text = _help(command)
            if text is None:
                bad.append(f"rwtheory {command}")
                continue
            bad += [
                f"rwtheory {command} {opt}"
                for opt in re.findall(r"--[\w-]+", rest)
                if opt not in text
            ]
    assert bad == []


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_claim_ids_exist(path):
    assert unknown_claim_ids(tokens(path)) == []


#: The code spans a text names as ledger rows: "row `a5.cap`", "rows `tab1.*`, `llama*`".
ROW_REFERENCE = re.compile(r"\brows? ((?:`[^`]+`(?:,? (?:and |or )?)?)+)")


def unknown_row_references(text: str) -> list[str]:
    """The spans ``text`` names as rows (:data:`ROW_REFERENCE`; a span may be a glob such as
    ``tab1.*``) that match no claim id of paper_checks.json."""
    spans = [s for m in ROW_REFERENCE.finditer(text) for s in re.findall(r"`([^`]+)`", m[1])]
    return [s for s in spans if not fnmatch.filter(_ledger_ids(), s)]


def _ledger_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _ledger_strings(item)]


def test_the_ledgers_own_text_names_rows_and_modules_that_exist():
    """The ledger's words (reasons, measured, evidence: generated by the providers, so outside
    :data:`SOURCES`) name only rows and module paths that exist."""
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    texts = [(c["id"], s) for c in doc["claims"] for s in _ledger_strings(c)]
    rows = [(cid, ref) for cid, s in texts for ref in unknown_row_references(s)]
    modules = [(cid, m[0]) for cid, s in texts for m in MODULE_PATH.finditer(s)]
    assert rows == []
    assert [(cid, m) for cid, m in modules if not resolves(m)] == []


@pytest.mark.parametrize(
    "text, unknown",
    [
        ("the analogue is row `a5.cap`; rows `tab1.*`, `llama*` and `lm.*`", []),
        ("the regression analogue is row `a4` (figures/r_sensitivity.png)", ["a4"]),
        ("rows `tab1.*` or `tab9.*`", ["tab9.*"]),
        ("the function `a4` is not a row", []),
    ],
)
def test_the_row_check_reads_row_references(text, unknown):
    assert unknown_row_references(text) == unknown


@pytest.mark.parametrize(
    "markdown, unknown",
    [
        ("`thm1.pep`, `lm.linupper_best`, `fig7.linupper_fastest` and {claim}`overhead`", []),
        ("the claim `lm.nonexistent_claim`", ["lm.nonexistent_claim"]),
        ("`thm1.pep_typo` and `tab1.scale_`", ["thm1.pep_typo", "tab1.scale_"]),
        (
            "`fig9.shapes`, `thm3.i`: numbered like the paper, no such claim",
            ["fig9.shapes", "thm3.i"],
        ),
        ("{claim}`lm.nope` and {claim}`accelerator.prepare`", ["lm.nope", "accelerator.prepare"]),
        ("`accelerator.prepare`, `self.log_dict`, `stats.skipped`, `torch.compile`", []),
        ("`rwtheory.lm.losses`, `rw.sample_weights`, `lm.csv`, `figures/lm.csv`", []),
    ],
)
def test_the_claim_check_tells_claim_ids_from_other_dotted_names(markdown, unknown):
    assert unknown_claim_ids(text_tokens(markdown)) == unknown


def test_readme_links_exist():
    links = [c for kind, c, _ in tokens(ROOT / "README.md") if kind == "link"]
    local = [h.split("#")[0] for h in links if not re.match(r"^[a-z]+:", h) and h.split("#")[0]]
    assert local and [h for h in local if not (ROOT / h).exists()] == []
