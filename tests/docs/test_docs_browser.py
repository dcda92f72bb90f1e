"""The documentation site as a person sees it: every page of the built site (the
``docs_site`` fixture) opened in a real headless Chromium (Debian's package, driven by
Playwright), with no console error, no failed request (the site loads nothing from the
network: MathJax is served with it) and no broken image. Screenshots of the front page and
of an example page are kept in DOCS_SCREENSHOTS=folder when set (else pytest's tmp folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium installed (Debian: apt-get install chromium); .ci/run installs it",
    ),
    pytest.mark.timeout(900),
]

#: Flags for a root, offline, headless run (no sandbox as root; no background network).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROKEN_IMAGES = (
    "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
    ".map(i => i.getAttribute('src'))"
)


def _pages(site: Path) -> list[Path]:
    """Every page but the highlighted sources of viewcode (plain text, many and large)."""
    return sorted(p for p in site.rglob("*.html") if "_modules" not in p.parts)


def test_every_page_renders_cleanly_in_a_real_browser(docs_site, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test extra")
    shots = Path(os.environ.get("DOCS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)  # a hang fails the test instead of stalling CI
        current = {"name": ""}
        page.on(
            "console",
            lambda m: (
                problems.append(f"{current['name']}: console {m.text}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(f"{current['name']}: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"{current['name']}: failed {r.url}"))
        for html in _pages(docs_site):
            current["name"] = str(html.relative_to(docs_site))
            page.goto(html.as_uri(), wait_until="load")  # "load" waits for every image
            problems += [
                f"{current['name']}: broken image {s}" for s in page.evaluate(BROKEN_IMAGES)
            ]
            if current["name"] == "index.html":
                page.screenshot(path=str(shots / "front_page.png"))
            if current["name"] == "examples/plot_batch_weights.html":
                page.screenshot(path=str(shots / "example_page.png"), full_page=True)
        math = page.goto((docs_site / "theory.html").as_uri(), wait_until="load")
        assert math is not None and math.ok
        page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0")
        browser.close()
    assert problems == []
    assert (shots / "front_page.png").stat().st_size > 10_000  # a real picture, not a blank
    assert (shots / "example_page.png").stat().st_size > 10_000
