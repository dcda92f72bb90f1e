"""What each figure's claims rest on, and which figures are small analogues of the paper's runs.

The figure providers attach :func:`figure_evidence` to every claim of a figure, and a figure
listed in :data:`ANALOGUES` marks its claims as a small analogue with the text given here (what
the analogue keeps of the paper's experiment and what it drops)."""

from __future__ import annotations

from dataclasses import replace

from rwtheory.report.claim import Claim

__all__ = ["ANALOGUES", "annotate", "figure_evidence"]

#: Figure name -> what its small analogue keeps and drops.
ANALOGUES = {
    "lm": (
        "keeps: the paper's pipeline (normalise, strategy, tempered softmax) on per-sample "
        "mean token losses of a transformer language model, the r schedule of Table 7 "
        "(r = 100 during warm-up, then 0.4), AdamW with warm-up and cosine decay, several "
        "domains (one redundant, one noisy), held-out per-domain perplexity, the cap 2/B; "
        "drops: scale (a byte-level transformer trained in minutes on 2 CPU cores instead of "
        "GPT-2 120M-300M and Llama 1.4B/7B), the data (Python's documentation, duplicated "
        "templates and random bytes instead of SlimPajama/FineWeb), training length (hundreds "
        "of steps instead of 20,000-170,000) and the few-shot benchmarks"
    ),
}


def figure_evidence(name: str) -> tuple[str, ...]:
    """The committed files a figure's claims rest on (picture and exact plotted numbers)."""
    return (f"figures/{name}.png", f"figures/{name}.csv")


def annotate(claims: list[Claim], figure: str) -> list[Claim]:
    """The claims of figure ``figure`` with their evidence and, for an analogue, scope."""
    analogue = ANALOGUES.get(figure)
    out = []
    for c in claims:
        c = replace(c, evidence=c.evidence or figure_evidence(figure))
        if analogue is not None:  # the scope always, the text unless the claim has its own
            c = replace(c, scope="small analogue", analogue=c.analogue or analogue)
        out.append(c)
    return out
