r"""``report/index.html``: the claim ledger as one self-contained static page.

Read from the same document as ``paper_checks.json``
(:func:`rwtheory.report.records.ledger_record`),
so the page, the JSON and ``paper_checks.md`` cannot disagree. The page has no network
dependency: the CSS is inline, there is no script, and the figures are linked relatively
(``../figures/NAME.png``, the committed files), so it opens from a clone with a double click.

Layout, for a reader with ten seconds: the counts per status as coloured chips; the claims that
fail, each with its one-line reason; then a summary table of every claim (colour-coded status,
how it is checked, the headline number). Below, one card per claim -- the paper's words (quoted or
reconstructed), our statement, the number, the figure it rests on shown inline, the command that
regenerates it -- and a gallery of the figures, each linking back to the claims that use it.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATUS_COLOURS", "PageLinks", "headline", "page_links", "render_html"]

#: Background colour of each status (colour-blind safe pairs with the text label beside them).
STATUS_COLOURS = {
    "holds": "#1a7f37",
    "holds with caveat": "#b7791f",
    "fails": "#c62828",
    "not checked": "#6b7280",
    "error": "#6f42c1",
}

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
main{max-width:1100px;margin:auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{margin:32px 0 8px;font-size:19px}
.sub{color:#57606a;margin:0 0 16px}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 16px}
.chip{border-radius:16px;padding:4px 12px;color:#fff;font-weight:600}
.chip.scope{background:#fff;color:#1f2328;border:1px solid #d0d7de;font-weight:500}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;color:#fff;font-size:12px;
font-weight:600;white-space:nowrap}
.scopebadge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;
border:1px solid #d0d7de;background:#fff;white-space:nowrap}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #d8dee4;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2;font-size:13px}
td.id a{font-family:ui-monospace,monospace;font-size:13px}
.fails{background:#fff5f5;border:1px solid #f3c0c0;border-radius:8px;padding:8px 16px}
.fails li{margin:4px 0}
.card{background:#fff;border:1px solid #d0d7de;border-left:6px solid var(--c);border-radius:8px;
padding:12px 16px;margin:12px 0}
.card h3{margin:0 0 6px;font-size:16px;font-family:ui-monospace,monospace}
.card dl{display:grid;grid-template-columns:150px 1fr;gap:4px 12px;margin:8px 0}
.card dt{color:#57606a;font-weight:600}.card dd{margin:0}
blockquote{margin:0;padding:0 0 0 10px;border-left:3px solid #d0d7de;color:#24292f}
code{font-family:ui-monospace,monospace;font-size:13px;background:#eff1f3;padding:1px 4px;
border-radius:4px}
figure{margin:8px 0}figure img{max-width:100%;border:1px solid #d8dee4;border-radius:4px}
figcaption{font-size:13px;color:#57606a}
.gallery figure{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px}
.scroll{overflow-x:auto;max-width:100%}
.card,.fails,.sub{overflow-wrap:anywhere}
@media (max-width:700px){
main{padding:12px}
.card dl{grid-template-columns:1fr}.card dd{margin:0 0 6px}
figure img{width:100%}
.gallery figure{padding:4px}
}
"""


def headline(text: str, limit: int = 160) -> str:
    """The first clause of a measured text, cut at ``limit`` characters (for tables)."""
    first = text.split("; ")[0]
    if len(first) <= limit:
        return first + (" …" if len(first) < len(text) else "")
    cut = first[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def _inline(text: str) -> str:
    """Escape, then render the two markdown spans the ledger uses: `code` and **bold**."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def _anchor(claim_id: str) -> str:
    return "claim-" + claim_id.replace(".", "-")


def _fig_anchor(path: str) -> str:
    return "fig-" + re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-")


def _badge(status: str) -> str:
    return (
        f'<span class="badge" style="background:{STATUS_COLOURS[status]}">'
        f"{html.escape(status)}</span>"
    )


@dataclass(frozen=True)
class PageLinks:
    """Where the page's links lead, as URLs relative to the page: ``figures``, the folder of
    the figures (ending in ``/``); ``root``, the folder that the ledger's other evidence
    paths are relative to (the ledger's folder, ending in ``/``); ``markdown`` and ``json``,
    the ledger's two files (``markdown`` None when there is none beside the JSON)."""

    figures: str = "../figures/"
    root: str = "../"
    markdown: str | None = "../paper_checks.md"
    json: str = "../paper_checks.json"

    def evidence(self, path: str) -> str:
        """The URL of an evidence path of the ledger (``figures/NAME.png`` and the like are
        in the figures folder, wherever it is)."""
        head, _, rest = path.partition("/")
        return self.figures + rest if head == "figures" and rest else self.root + path


def page_links(page_folder: Path, ledger: Path, figures: Path) -> PageLinks:
    """:class:`PageLinks` for a page written into ``page_folder`` from the ledger file
    ``ledger`` (its JSON) with the figures in ``figures``."""

    def url(target: Path, folder: bool = False) -> str:
        rel = Path(os.path.relpath(target.resolve(), page_folder.resolve())).as_posix()
        return rel + "/" if folder else rel

    md = ledger.with_suffix(".md")
    return PageLinks(
        figures=url(figures, folder=True),
        root=url(ledger.parent, folder=True),
        markdown=url(md) if md.is_file() else None,
        json=url(ledger),
    )


def _header(doc: dict, links: PageLinks) -> list[str]:
    counts = doc["counts"]
    chips = "".join(
        f'<span class="chip" style="background:{STATUS_COLOURS[s]}">{n} {html.escape(s)}</span>'
        for s, n in counts["status"].items()
    )
    scopes = "".join(
        f'<span class="chip scope">{n} {html.escape(s)}</span>' for s, n in counts["scope"].items()
    )
    return [
        f"<h1>{html.escape(doc['title'])}</h1>",
        f'<p class="sub">{counts["total"]} claims of the paper. Generated by '
        f"<code>{html.escape(doc['generated_by'])}</code> and <code>rwtheory report</code>; "
        + (
            f'details in <a href="{html.escape(links.markdown)}">'
            f"{html.escape(Path(links.markdown).name)}</a>, "
            if links.markdown
            else ""
        )
        + f'data in <a href="{html.escape(links.json)}">{html.escape(Path(links.json).name)}</a>.'
        "</p>",
        f'<div class="chips">{chips}</div><div class="chips">{scopes}</div>',
    ]


def _failing(claims: Sequence[dict]) -> list[str]:
    bad = [c for c in claims if c["status"] == "fails"]
    if not bad:
        return []
    items = "".join(
        f'<li><a href="#{_anchor(c["id"])}"><code>{html.escape(c["id"])}</code></a> '
        f"({html.escape(c['section'])}): {_inline(headline(c['measured']))}</li>"
        for c in bad
    )
    return ['<h2 id="fails">What fails, and why</h2>', f'<div class="fails"><ul>{items}</ul></div>']


def _summary(claims: Sequence[dict]) -> list[str]:
    rows = "".join(
        f'<tr><td class="id"><a href="#{_anchor(c["id"])}">{html.escape(c["id"])}</a></td>'
        f"<td>{html.escape(c['section'])}</td><td>{_badge(c['status'])}</td>"
        f'<td><span class="scopebadge">{html.escape(c["scope"])}</span></td>'
        f"<td>{_inline(headline(c['measured']))}</td></tr>"
        for c in claims
    )
    return [
        '<h2 id="summary">Every claim</h2>',
        '<div class="scroll"><table><thead><tr><th>id</th><th>where in the paper</th>'
        "<th>status</th><th>checked</th><th>measured</th></tr></thead><tbody>"
        + rows
        + "</tbody></table></div>",
    ]


def _evidence(paths: Sequence[str], links: PageLinks) -> str:
    parts = []
    for p in paths:
        src = html.escape(links.evidence(p))
        if p.endswith(".png"):
            parts.append(
                f'<figure><a href="#{_fig_anchor(p)}"><img src="{src}" alt="{html.escape(p)}" '
                f"></a><figcaption>{html.escape(p)}</figcaption></figure>"
            )
        else:
            parts.append(f'<a href="{src}">{html.escape(p)}</a>')
    return " ".join(parts)


def _card(c: dict, links: PageLinks) -> str:
    kind = "Quoted" if c["statement"]["kind"] == "quoted" else "Reconstructed"
    rows = [
        ("The paper", f"<blockquote><i>{kind}:</i> {_inline(c['statement']['text'])}</blockquote>"),
        ("We check", _inline(c["ours"])),
        ("Measured", _inline(c["measured"])),
        ("Checked", html.escape(c["scope"])),
    ]
    if c["analogue"]:
        rows.append(("The analogue", _inline(c["analogue"])))
    if c["reason"]:
        rows.append(("Why not here", _inline(c["reason"])))
    if c["robustness"]:
        rows.append(("Robustness", _inline(c["robustness"])))
    if c["evidence"]:
        rows.append(("Evidence", _evidence(c["evidence"], links)))
    rows.append(("Regenerate", _inline(c["command"])))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (
        f'<section class="card" id="{_anchor(c["id"])}" '
        f'style="--c:{STATUS_COLOURS[c["status"]]}"><h3>{html.escape(c["id"])} '
        f"{_badge(c['status'])}</h3><div>{html.escape(c['section'])}</div><dl>{dl}</dl>"
        "</section>"
    )


def _gallery(claims: Sequence[dict], links: PageLinks) -> list[str]:
    users: dict[str, list[str]] = {}
    for c in claims:
        for p in c["evidence"]:
            if p.endswith(".png"):
                users.setdefault(p, []).append(c["id"])
    if not users:
        return []
    figs = []
    for p, ids in users.items():
        refs = ", ".join(f'<a href="#{_anchor(i)}"><code>{html.escape(i)}</code></a>' for i in ids)
        figs.append(
            f'<figure id="{_fig_anchor(p)}"><img src="{html.escape(links.evidence(p))}" '
            f'alt="{html.escape(p)}"><figcaption>{html.escape(p)}: '
            f"claims {refs}</figcaption></figure>"
        )
    return ['<h2 id="figures">Figures</h2>', '<div class="gallery">' + "".join(figs) + "</div>"]


def render_html(doc: dict, *, links: PageLinks | None = None) -> str:
    """The page for a ledger document; ``links`` (default: the repository's layout, the page
    in ``report/``) says where its links lead (:func:`page_links`)."""
    links = links or PageLinks()
    claims = doc["claims"]
    body = (
        _header(doc, links)
        + _failing(claims)
        + _summary(claims)
        + ['<h2 id="claims">Claims in detail</h2>']
        + [_card(c, links) for c in claims]
        + _gallery(claims, links)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(doc['title'])}</title><style>{CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )
