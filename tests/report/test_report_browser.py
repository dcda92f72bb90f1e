"""report/index.html as a person sees it: rendered by a real headless Chromium (Debian's
package, driven by Playwright), with no console errors, no failed request, no broken image,
and a card for every claim of paper_checks.json. A screenshot is saved for a human look
(REPORT_SCREENSHOT=path keeps it; otherwise it goes to pytest's tmp folder)."""

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium installed (Debian: apt-get install chromium); .ci/run installs it",
)

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


@pytest.mark.timeout(300)
def test_report_renders_cleanly_in_a_real_browser(tmp_path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is part of the test extra"
    )
    page_file = ROOT / "report" / "index.html"
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    shot = Path(os.environ.get("REPORT_SCREENSHOT", tmp_path / "report.png"))
    errors, failed = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.set_default_timeout(60_000)  # a hang fails the test instead of stalling CI
        page.goto(page_file.as_uri(), wait_until="load")  # "load" waits for every image
        broken = page.evaluate(
            "() => [...document.images].filter(i => !i.complete || "
            "i.naturalWidth === 0).map(i => i.getAttribute('src'))"
        )
        cards = page.evaluate("() => [...document.querySelectorAll('section.card')].map(s => s.id)")
        summary_rows = page.locator("#summary + .scroll table tbody tr").count()
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert errors == [] and failed == [], (errors, failed)
    assert broken == []
    ids = [c["id"] for c in doc["claims"]]
    assert cards == ["claim-" + i.replace(".", "-") for i in ids]
    assert summary_rows == len(ids)
    assert shot.stat().st_size > 10_000  # a real picture of the page, not a blank


@pytest.mark.timeout(300)
@pytest.mark.parametrize("width", [400, 1400])
def test_report_reads_on_a_phone_and_a_wide_screen(width):
    """At 400 px (a phone) and 1400 px: no horizontal scroll of the page (the claims table
    scrolls inside its own box), no card whose text runs past its border, and the gallery's
    figures use the width they have (at least 80 % of the page's content box)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is part of the test extra"
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.set_default_timeout(60_000)
        page.goto((ROOT / "report" / "index.html").as_uri(), wait_until="load")
        m = page.evaluate(
            """() => {
            const main = document.querySelector('main');
            const inner = main.clientWidth - parseFloat(getComputedStyle(main).paddingLeft)
                - parseFloat(getComputedStyle(main).paddingRight);
            const table = document.querySelector('#summary + .scroll');
            return {
              page: document.documentElement.scrollWidth, view: window.innerWidth,
              tableBox: table.getBoundingClientRect().right,
              tableScrolls: getComputedStyle(table).overflowX,
              cardsOver: [...document.querySelectorAll('section.card')]
                .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.id),
              figures: [...document.querySelectorAll('.gallery img')]
                .map(i => i.getBoundingClientRect().width / inner),
            };
        }"""
        )
        browser.close()
    assert m["page"] <= m["view"], m
    assert m["tableBox"] <= m["view"] and m["tableScrolls"] == "auto"
    assert m["cardsOver"] == []
    assert m["figures"] and min(m["figures"]) >= (0.8 if width == 400 else 0.3), m["figures"]
