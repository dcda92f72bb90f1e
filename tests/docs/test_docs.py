"""The documentation site, built as documented (warnings are errors, every example runs; the
build itself is the ``docs_site`` fixture of conftest.py): no broken internal link or image,
a page for every public module with an entry for every public name, every example executed
with its output and figures, the ledger and the numbers read from the artifacts."""

from __future__ import annotations

import csv
import json
import re
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from docutils.nodes import make_id

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
rwdocs = pytest.importorskip("rwdocs", reason="the docs extension needs the docs extra")

pytestmark = pytest.mark.timeout(900)


class _Page(HTMLParser):
    """The ids, links and images of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("img", "script") and a.get("src"):
            self.images.append(a["src"]) if tag == "img" else self.links.append(a["src"])
        if tag == "link" and a.get("href"):
            self.links.append(a["href"])


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _local(base: Path, url: str) -> tuple[Path, str] | None:
    """The file and fragment a relative URL of ``base`` points to; None for other schemes."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    target = base if not parts.path else (base.parent / unquote(parts.path)).resolve()
    return target, parts.fragment


def site_problems(site: Path) -> list[str]:
    """Every internal link or resource that does not resolve, every fragment without its
    anchor, every image that is missing or empty."""
    pages = {p.resolve(): _parse(p) for p in site.rglob("*.html")}
    bad = []
    for path, page in pages.items():
        for url in page.links:
            hit = _local(path, url)
            if hit is None:
                continue
            target, fragment = hit
            if not target.exists():
                bad.append(f"{path.relative_to(site)}: broken link {url}")
            elif fragment and target in pages and fragment not in pages[target].ids:
                bad.append(f"{path.relative_to(site)}: no anchor for {url}")
        for src in page.images:
            hit = _local(path, src)
            if hit is not None and (not hit[0].is_file() or hit[0].stat().st_size == 0):
                bad.append(f"{path.relative_to(site)}: broken image {src}")
    return bad


def test_no_broken_internal_link_or_image(docs_site):
    assert (docs_site / "index.html").is_file()
    assert site_problems(docs_site) == []


def test_the_link_check_finds_broken_links_and_images(tmp_path):
    """The check above can fail: a page with a missing target, anchor and image."""
    (tmp_path / "a.html").write_text(
        '<p id="here"><a href="b.html">x</a><a href="a.html#nowhere">y</a>'
        '<a href="#here">z</a><a href="https://example.org/">w</a><img src="i.png"></p>',
        encoding="utf-8",
    )
    assert sorted(site_problems(tmp_path)) == [
        "a.html: broken image i.png",
        "a.html: broken link b.html",
        "a.html: no anchor for a.html#nowhere",
    ]


@pytest.mark.parametrize("module", rwdocs.public_modules())
def test_every_public_module_has_a_page_with_every_public_name(docs_site, module):
    import importlib

    page = docs_site / "api" / f"{module}.html"
    assert page.is_file(), f"no API page for {module}"
    ids = _parse(page).ids
    assert f"module-{module}" in ids
    own, reexported = rwdocs._module_names(importlib.import_module(module))
    missing = [n for n in own if f"{module}.{n}" not in ids]
    assert missing == [], f"{module}: public names without an entry: {missing}"
    text = page.read_text(encoding="utf-8")
    assert all(f"{n}" in text for n in reexported)


def test_the_public_modules_are_those_of_the_five_packages():
    mods = rwdocs.public_modules()
    for pkg in rwdocs.API_PACKAGES:
        assert pkg in mods
    assert "rwtheory.weights.pipeline" in mods and "rwtheory.lm.hf" in mods
    assert not any(part.startswith("_") for m in mods for part in m.split("."))


EXAMPLES = sorted((ROOT / "examples" / "gallery").glob("plot_*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_ran_and_shows_its_output_and_figures(docs_site, example):
    page = docs_site / "examples" / f"{example.stem}.html"
    assert page.is_file()
    text = page.read_text(encoding="utf-8")
    assert "sphx-glr-script-out" in text  # printed output
    figures = [s for s in _parse(page).images if f"sphx_glr_{example.stem}_" in s]
    assert figures, f"{example.name} shows no figure"


def test_the_ledger_page_has_every_claim(docs_site):
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    ids = _parse(docs_site / "claims.html").ids  # docutils normalises the labels' ids
    missing = [c["id"] for c in doc["claims"] if make_id(rwdocs.claim_target(c["id"])) not in ids]
    assert missing == []


def test_numbers_on_the_site_are_the_artifacts(docs_site):
    """Substitutions were replaced by the artifacts' values: the ledger's counts on the front
    page, the LM study's last-step perplexities on the figures page."""
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    index = (docs_site / "index.html").read_text(encoding="utf-8")
    counts = doc["counts"]
    assert f"{counts['total']} claims of the" in " ".join(index.split())
    assert all(str(v) in index for v in counts["status"].values())
    lines = (ROOT / "figures" / "lm.csv").read_text(encoding="utf-8").splitlines()
    rows = list(csv.DictReader(ln for ln in lines if not ln.startswith("#")))
    last = max(int(r["step"]) for r in rows if r["quantity"] == "ppl_text")
    figures = (docs_site / "figures.html").read_text(encoding="utf-8")
    for r in rows:
        if r["quantity"] == "ppl_text" and int(r["step"]) == last:
            assert f"<td><p>{r['value']}</p></td>" in figures or f"<td>{r['value']}</td>" in figures
    for page in docs_site.rglob("*.html"):  # no substitution left unreplaced (code aside)
        text = re.sub(r"<(code|pre)\b.*?</\1>", "", page.read_text(encoding="utf-8"), flags=re.S)
        assert "{{" not in text, page


def _text(page: Path) -> str:
    """What a reader sees of an HTML page: tags, scripts and styles dropped, entities
    decoded, white space collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", page.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_lm_guide_shows_the_package_constants_and_the_result_files(docs_site):
    """docs/lm.md states rwtheory.lm's constants through substitutions: the built page holds
    the package's own values in their sentences. Its measurements are the committed result
    files, shown whole: every line of each is on the page."""
    pytest.importorskip("torch")
    from rwtheory.lm.losses import CHUNK_BUDGET_BYTES, CHUNKED_MIN_VOCAB

    text = _text(docs_site / "lm.html")
    assert f"from a vocabulary of {CHUNKED_MIN_VOCAB} entries up" in text
    assert f"fit a {CHUNK_BUDGET_BYTES / 2**20:g} MiB buffer budget" in text
    for name in ("bench_lm_loss.txt", "bench_lm_step.txt"):
        lines = (ROOT / "benchmarks" / "results" / name).read_text(encoding="utf-8").splitlines()
        assert [ln for ln in lines if " ".join(ln.split()) not in text] == [], name


def test_the_lm_guide_says_whether_gpu_results_are_committed():
    """The LM guide says that no GPU result is committed exactly while benchmarks/gpu.py's
    default output folder (``sh benchmarks/gpu.sh``) does not exist: committing the results
    means showing them there."""
    page = " ".join((ROOT / "docs" / "lm.md").read_text(encoding="utf-8").split())
    committed = (ROOT / "benchmarks" / "results" / "gpu").exists()
    assert ("No GPU result is committed yet" in page) != committed
