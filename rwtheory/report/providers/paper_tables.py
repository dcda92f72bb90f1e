r"""The paper's large-scale claims, checked against the numbers the paper itself reports.

The GPT-2 (120M-300M, SlimPajama-6B, 20,000 steps) and Llama (1.4B / 7B, FineWeb, 100B / 175B
tokens) experiments of Sec. 6 and App. A cannot be rerun here: they need GPU-weeks of compute
and datasets this machine cannot reach (only package registries are reachable). Their *tables*
survived the text extraction, though, so every claim whose wording states something about
those tables -- "5 out of 7 domains", "3 out of 4 tasks", "11 out of 19 tasks", "on average"
-- is checked here against the tables, transcribed below from the paper's text (App. A.3,
Sec. 6.2-6.4, App. B.3). The *experiments* are not reproduced; the status of such a row says
whether the paper's wording agrees with the paper's own numbers (scope ``"paper's numbers"``).

Conventions, stated once:

* "improves" / "outperforms" means strictly better at the reported precision; equal reported
  values are a tie ("matches"). Perplexity: lower is better; accuracy (%): higher is better.
* Means are recomputed from the per-task rows and compared with the reported "Mean" rows
  within half a unit of the reported last digit plus the rounding of the rows themselves.
* Every table is one run per arm (the paper reports no seeds or spread), so no difference
  here is a statistically tested one; rows that claim significance say so.
"""

from __future__ import annotations

from collections.abc import Sequence

from rwtheory.report.claim import Claim, Provider, Quantity, Report

__all__ = ["PROVIDER", "TABLES", "claims"]

DOMAINS = ("Arxiv", "Book", "C4", "CC", "GitHub", "StackExchange", "Wikipedia")

#: Table 1: final per-domain perplexity (lower is better), one run per (model, method).
TABLE1 = {
    "GPT2-mini": {
        "uniform": (2.48, 4.21, 4.47, 4.44, 1.84, 2.66, 3.14, 3.32),
        "linupper": (2.49, 4.16, 4.41, 4.38, 1.89, 2.67, 3.12, 3.30),
        "quadratic": (2.48, 4.26, 4.55, 4.53, 1.87, 2.67, 3.17, 3.36),
        "extremes": (2.54, 4.23, 4.47, 4.44, 1.90, 2.74, 3.19, 3.36),
    },
    "GPT2-small": {
        "uniform": (2.36, 4.04, 4.29, 4.26, 1.67, 2.51, 2.90, 3.15),
        "linupper": (2.36, 3.99, 4.23, 4.19, 1.73, 2.53, 2.88, 3.13),
        "quadratic": (2.38, 4.14, 4.43, 4.41, 1.72, 2.54, 2.99, 3.23),
        "extremes": (2.48, 4.12, 4.35, 4.32, 1.77, 2.65, 3.03, 3.24),
    },
    "GPT2-medium": {
        "uniform": (2.34, 4.02, 4.27, 4.22, 1.66, 2.49, 2.88, 3.13),
        "linupper": (2.34, 3.96, 4.20, 4.15, 1.72, 2.50, 2.85, 3.10),
        "quadratic": (2.35, 4.11, 4.40, 4.36, 1.70, 2.51, 2.93, 3.19),
        "extremes": (2.45, 4.08, 4.31, 4.27, 1.76, 2.62, 3.00, 3.21),
    },
}

FEW_SHOT_TASKS = ("LogiQA", "LogiQA 2", "SciQ", "PiQA")
#: Table 2: GPT2-medium, 5-shot accuracy (%); last entry the reported mean.
TABLE2 = {
    "uniform": (25.7, 27.5, 49.0, 55.5, 39.4),
    "linupper": (27.9, 27.6, 51.8, 56.2, 40.9),
    "quadratic": (25.5, 28.6, 48.7, 54.6, 39.3),
    "extremes": (26.5, 27.7, 49.6, 55.2, 39.8),
}
#: Table 3: non-uniform domain sampling (DoGE, DoReMi) with and without LinUpper.
TABLE3 = {
    "DoGE": (27.2, 27.5, 52.8, 55.8, 40.8),
    "DoGE + LinUpper": (28.6, 28.0, 53.2, 56.3, 41.5),
    "DoReMi": (27.2, 27.7, 53.3, 55.7, 41.0),
    "DoReMi + LinUpper": (27.6, 27.9, 54.5, 56.1, 41.5),
}
#: Table 12: GPT2-medium, DRO-KL configurations (KL temperature) against LinUpper (r = 0.4).
TABLE12 = {
    "uniform": (25.7, 27.5, 49.0, 55.5, 39.4),
    "linupper": (27.9, 27.6, 51.8, 56.2, 40.9),
    "DRO-KL 0.4": (23.2, 24.4, 41.1, 54.0, 35.7),
    "DRO-KL 1.0": (25.5, 28.7, 48.6, 56.2, 39.8),
    "DRO-KL 2.0": (26.8, 27.5, 49.4, 55.7, 39.9),
    "DRO-KL 5.0": (25.9, 28.2, 50.5, 56.5, 40.3),
    "DRO-KL 10.0": (26.3, 27.6, 49.4, 55.4, 39.7),
}

#: Tables 8-11: Llama benchmarks, task -> (uniform, linupper) accuracy (%); Tables 4-5 hold
#: the reported means (LUR, QA, all 19). A table of the paper's numbers, one task a row: same
#: shape in every model and group by design.
LLAMA = {
    "1.4B": {
        "LUR": {
            "ARC Challenge": (33.19, 33.02),
            "ARC Easy": (63.80, 63.38),
            "COPA": (77.0, 77.0),
            "Lambada (OpenAI)": (49.87, 49.60),
            "Lambada (Standard)": (45.20, 43.30),
            "MMLU": (26.04, 25.49),
            "MNLI": (31.91, 36.92),
            "MNLI (mismatch)": (32.07, 36.56),
            "RTE": (51.26, 52.35),
            "SST-2": (66.86, 59.40),
            "TinyARC": (40.46, 40.85),
            "TinyWinoGrande": (56.17, 62.11),
            "WinoGrande": (56.75, 59.12),
        },
        "QA": {
            "BoolQ": (61.59, 65.47),
            "LogiQA": (20.28, 23.66),
            "LogiQA2": (26.02, 27.48),
            "SciQ": (91.30, 91.90),
            "SocialIQA": (43.86, 45.19),
            "TriviaQA (Exact Match)": (11.05, 10.73),
        },
        "means": {"LUR": (48.51, 49.16), "QA": (42.35, 44.07), "all": (46.56, 47.55)},
    },
    "7B": {
        "LUR": {
            "ARC Challenge": (41.81, 39.42),
            "ARC Easy": (72.77, 74.24),
            "COPA": (83.00, 84.00),
            "Lambada (OpenAI)": (61.28, 62.43),
            "Lambada (Standard)": (58.08, 58.80),
            "MMLU": (24.33, 25.81),
            "MNLI": (32.28, 34.24),
            "MNLI (mismatch)": (32.35, 34.01),
            "RTE": (50.54, 49.10),
            "SST-2": (49.89, 69.38),
            "TinyARC": (36.17, 32.80),
            "TinyWinoGrande": (49.09, 44.20),
            "WinoGrande": (65.43, 67.32),
        },
        "QA": {
            "BoolQ": (73.52, 74.40),
            "LogiQA": (23.35, 27.65),
            "LogiQA2": (26.72, 27.86),
            "SciQ": (95.20, 95.00),
            "SocialIQA": (47.80, 48.11),
            "TriviaQA (Exact Match)": (22.30, 22.79),
        },
        "means": {"LUR": (50.54, 51.98), "QA": (48.15, 49.31), "all": (49.79, 51.14)},
    },
}

TABLES = {"table1": TABLE1, "table2": TABLE2, "table3": TABLE3, "table12": TABLE12, "llama": LLAMA}

HOW = (
    "`rwtheory check` (rwtheory.report.providers.paper_tables); "
    "`pytest tests/report/test_paper_tables.py`"
)
GPT2_REASON = (
    "the experiment trains GPT-2 models (120M-300M parameters) for 20,000 steps on "
    "SlimPajama-6B: GPU-days per arm, and the dataset is not reachable from this "
    "machine (only package registries are); the paper's table survived extraction, "
    "so the claim's wording is checked against it. Reproducing the run needs the "
    "authors' code, SlimPajama-6B and about 8 GPU-days per arm"
)
LLAMA_REASON = (
    "the experiment trains Llama models of 1.4B and 7B parameters on 100B and 175B "
    "FineWeb tokens (thousands of GPU-hours; the data is not reachable here) and "
    "evaluates them with the LM Eval Harness on 19 tasks (datasets not reachable "
    "either); the benchmark tables survived extraction, so the wording is checked "
    "against them"
)


# ----------------------------------------------------------------------- helpers
def _wins(ours: Sequence[float], theirs: Sequence[float], *, lower: bool) -> tuple[int, int, int]:
    """(better, tied, worse) counts of ``ours`` against ``theirs``, entry by entry."""
    better = sum((a < b) if lower else (a > b) for a, b in zip(ours, theirs, strict=True))
    tied = sum(a == b for a, b in zip(ours, theirs, strict=True))
    return better, tied, len(ours) - better - tied


#: Tolerance for a mean of two-decimal rows against a two-decimal reported mean (points).
MEAN_TOL = 0.011


def _mean_consistent(rows: Sequence[float], reported: float, decimals: int) -> bool:
    """Does the mean of rows reported to ``decimals`` places round to ``reported``? Allowed:
    half a unit of the reported digit plus the rows' own rounding (half a unit each)."""
    mean = sum(rows) / len(rows)
    return abs(mean - reported) <= 10.0**-decimals + 1e-9


def _claim(
    key, section, quote, ours, status, number, quantities, *, reason=GPT2_REASON, evidence=()
) -> Claim:
    return Claim(
        key,
        section,
        quote,
        True,
        ours,
        HOW,
        status,
        number,
        stable=True,
        scope="paper's numbers",
        reason=reason,
        quantities=tuple(Quantity(*q) for q in quantities),
        evidence=tuple(evidence),
    )


# ----------------------------------------------------------------------- GPT-2: Tables 1-3
def table1_claims() -> list[Claim]:
    """Sec. 6.2: LinUpper's per-domain perplexity on GPT2-medium, and the scale trend."""
    med = TABLE1["GPT2-medium"]
    lin = med["linupper"][:7]
    others = [m for m in med if m != "linupper"]
    best_other = [min(med[m][i] for m in others) for i in range(7)]
    b, t, w = _wins(lin, best_other, lower=True)
    gains = {d: round(med["uniform"][i] - lin[i], 2) for i, d in enumerate(DOMAINS)}
    top3 = sorted(gains, key=lambda d: -gains[d])[:3]
    ok = b + t == 5 and set(top3) == {"CC", "C4", "Book"}
    rows = [
        _claim(
            "tab1.linupper_5of7",
            "Sec. 6.2, Fig. 2 / Table 1",
            '"LinUpper strategy outperforms or matches the other baseline in 5 out of 7 domains, '
            'with particularly notable improvements in CC, C4, and Book domains"',
            "In Table 1's GPT2-medium rows (final perplexities; Fig. 2's curves were lost), count "
            "the domains where LinUpper's perplexity is at most the best of the other three "
            "methods, and rank the domains by LinUpper's gain over uniform.",
            "holds" if ok else "fails",
            f"LinUpper best or tied in {b + t}/7 domains ({b} better, {t} tied, worse on "
            + ", ".join(d for d, x, y in zip(DOMAINS, lin, best_other, strict=True) if x > y)
            + "); largest gains over uniform: "
            + ", ".join(f"{d} {gains[d]:.2f}" for d in top3)
            + " perplexity",
            [
                ("domains best or tied", b + t, "domains"),
                ("largest gain", gains[top3[0]], "perplexity"),
            ],
        )
    ]
    mean_gain = {m: round(TABLE1[m]["uniform"][7] - TABLE1[m]["linupper"][7], 2) for m in TABLE1}
    grows = mean_gain["GPT2-medium"] > max(mean_gain["GPT2-mini"], mean_gain["GPT2-small"])
    rows.append(
        _claim(
            "tab1.scale",
            "Sec. 6.2, Table 1",
            '"We also note competitive results for LinUpper method at the smaller scale models in '
            'Table 1, but the advantage is more significant in the larger GPT2-medium model."',
            "LinUpper's gain in mean perplexity over uniform (Table 1's Mean column) per model "
            'size; "more significant" read as a larger gain (no seeds are reported, so no test '
            "of significance is possible).",
            "holds with caveat" if grows else "fails",
            "mean-perplexity gain over uniform: "
            + ", ".join(f"{m} {g:.2f}" for m, g in mean_gain.items())
            + "; the trend rests on one run per arm and a 0.01 step at the reported precision",
            [(f"{m} mean gain", g, "perplexity") for m, g in mean_gain.items()],
        )
    )
    rows.append(
        Claim(
            "tab1.significance",
            "Sec. 6.2, Fig. 2",
            '"LinUpper achieves significantly lower perplexity in these domains [CC, C4, Book]"',
            True,
            "Whether the perplexity gains (0.06-0.07) exceed run-to-run variation.",
            HOW,
            "not checked",
            "n/a: one run per arm; no spread is reported",
            stable=True,
            scope="not checkable here",
            reason="significance needs several seeds per arm and the paper reports one run; "
            "rerunning needs the GPT-2 training (" + GPT2_REASON.split(": ", 1)[1] + ")",
        )
    )
    return rows


def table2_claims() -> list[Claim]:
    """Sec. 6.2 few-shot: LinUpper best on 3/4 tasks, Quadratic best on LogiQA 2, Extremes lags."""
    tasks = FEW_SHOT_TASKS
    best = [max(TABLE2, key=lambda m: TABLE2[m][i]) for i in range(4)]
    n_lin = sum(b == "linupper" for b in best)
    rank = {}
    for i in range(5):
        order = sorted(TABLE2, key=lambda m: -TABLE2[m][i])
        rank[(tasks + ("Mean",))[i]] = order.index("extremes") + 1
    last = sum(r == 4 for t, r in rank.items() if t != "Mean")
    return [
        _claim(
            "tab2.linupper_3of4",
            "Sec. 6.2, Table 2",
            '"The LinUpper reweighting strategy consistently yields competitive results, '
            'outperforming the other compared baselines on 3 out of 4 tasks."',
            "Count the tasks of Table 2 (GPT2-medium, 5-shot) where LinUpper has the "
            "strictly highest accuracy of the four methods.",
            "holds" if n_lin == 3 else "fails",
            f"LinUpper best on {n_lin}/4 ("
            + ", ".join(t for t, b in zip(tasks, best, strict=True) if b == "linupper")
            + f"); mean {TABLE2['linupper'][4]} vs uniform {TABLE2['uniform'][4]} %",
            [("tasks best", n_lin, "tasks"), ("mean accuracy", TABLE2["linupper"][4], "%")],
        ),
        _claim(
            "tab2.quadratic_logiqa2",
            "Sec. 6.2, Table 2",
            '"Notably, Quadratic performs best in LogiQA 2 (28.6%)"',
            "Table 2's LogiQA 2 row: is Quadratic's 28.6 % the highest?",
            "holds" if best[1] == "quadratic" and TABLE2["quadratic"][1] == 28.6 else "fails",
            f"LogiQA 2: quadratic {TABLE2['quadratic'][1]} %, next best "
            f"{sorted(r[1] for r in TABLE2.values())[-2]} %",
            [("quadratic LogiQA 2", TABLE2["quadratic"][1], "%")],
        ),
        _claim(
            "tab2.extremes_lags",
            "Sec. 6.2, Table 2",
            '"Also note that the Extremes strategy consistently lags behind the other methods"',
            "Extremes' rank (1 = best of 4) on each task of Table 2 and on the mean; "
            '"consistently lags" read as last, or at least behind every other method, on '
            "each task.",
            "fails" if last < 4 else "holds",
            "Extremes' rank: "
            + ", ".join(f"{t} {r}/4" for t, r in rank.items())
            + f"; last on {last}/4 tasks; its mean {TABLE2['extremes'][4]} % beats uniform "
            f"{TABLE2['uniform'][4]} % and quadratic {TABLE2['quadratic'][4]} % (the "
            "perplexity table, Table 1, does rank it last on the mean at every size)",
            [
                ("tasks where extremes is last", last, "tasks"),
                ("extremes mean rank", rank["Mean"], "rank"),
            ],
        ),
    ]


def table3_claims() -> list[Claim]:
    """Sec. 6.3: LinUpper on top of DoGE and DoReMi improves every task."""
    pairs = [("DoGE", "DoGE + LinUpper"), ("DoReMi", "DoReMi + LinUpper")]
    better = sum(TABLE3[b][i] > TABLE3[a][i] for a, b in pairs for i in range(4))
    gains = [round(TABLE3[b][i] - TABLE3[a][i], 1) for a, b in pairs for i in range(4)]
    quoted = {
        ("DoGE", 0): (27.2, 28.6),
        ("DoReMi", 0): (27.2, 27.6),
        ("DoGE", 2): (52.8, 53.2),
        ("DoReMi", 2): (53.3, 54.5),
    }
    quotes_ok = all(
        (TABLE3[a][i], TABLE3[a + " + LinUpper"][i]) == v for (a, i), v in quoted.items()
    )
    means_ok = all(_mean_consistent(r[:4], r[4], 1) for r in TABLE3.values())
    return [
        _claim(
            "tab3.domain_reweighting",
            "Sec. 6.3, Table 3",
            '"Across all tasks, LinUpper consistently improves the performance of both domain '
            'reweighting baselines"',
            "Table 3: LinUpper added to DoGE and to DoReMi against the baseline alone, task by "
            "task (8 pairs); the numbers quoted in the paragraph and the Mean row against the "
            "table.",
            "holds" if better == 8 and quotes_ok and means_ok else "fails",
            f"improved in {better}/8 (task, baseline) pairs, gains {min(gains):.1f}-"
            f"{max(gains):.1f} points; quoted numbers {'match' if quotes_ok else 'differ'}; "
            f"Mean rows {'consistent' if means_ok else 'inconsistent'} (one run per arm)",
            [("pairs improved", better, "pairs"), ("smallest gain", min(gains), "%")],
        )
    ]


def table12_claims() -> list[Claim]:
    """App. B.3: LinUpper outperforms every DRO-KL configuration on average."""
    dro = [k for k in TABLE12 if k.startswith("DRO")]
    best_dro = max(dro, key=lambda k: TABLE12[k][4])
    beaten = [
        (t, k)
        for i, t in enumerate(FEW_SHOT_TASKS)
        for k in dro
        if TABLE12[k][i] > TABLE12["linupper"][i]
    ]
    ok = TABLE12["linupper"][4] > TABLE12[best_dro][4]
    return [
        _claim(
            "tab12.dro_kl",
            "App. B.3, Table 12",
            '"On average, our LinUpper strategy outperforms the other DRO-KL configurations"',
            "Table 12 (GPT2-medium): LinUpper's mean accuracy against each DRO-KL temperature's "
            "mean, and the tasks where some DRO-KL configuration is better.",
            "holds" if ok else "fails",
            f"mean LinUpper {TABLE12['linupper'][4]} % vs best DRO-KL ({best_dro}) "
            f"{TABLE12[best_dro][4]} %; per task some DRO-KL is better on "
            + (", ".join(f"{t} ({k})" for t, k in beaten) or "none"),
            [
                ("LinUpper mean", TABLE12["linupper"][4], "%"),
                ("best DRO-KL mean", TABLE12[best_dro][4], "%"),
            ],
        )
    ]


# ----------------------------------------------------------------------- Llama: Tables 4-5, 8-11
def _llama_counts(size: str) -> dict[str, tuple[float, ...]]:
    """Per group (LUR, QA): LinUpper's (better, tied, worse) task counts against uniform,
    and under ``group + "_means"`` the (uniform, LinUpper) mean accuracies."""
    out: dict[str, tuple[float, ...]] = {}
    for group in ("LUR", "QA"):
        rows = LLAMA[size][group]
        u = [v[0] for v in rows.values()]
        lu = [v[1] for v in rows.values()]
        out[group] = _wins(lu, u, lower=False)
        out[group + "_means"] = (sum(u) / len(u), sum(lu) / len(lu))
    return out


def llama_claims() -> list[Claim]:
    """Sec. 6.4, App. A.3: task counts and average gains of the 1.4B and 7B models."""
    claims = []
    stated = {"1.4B": (6, 1, 5, 11), "7B": (9, 0, 5, 14)}
    quotes = {
        "1.4B": '"our LinUpper method improves performance for 11 out of 19 tasks in total"; '
        '"improving on 6 out of 13 benchmarks and tied on one benchmark (Table 9). For '
        'QA benchmarks, we improved on 5/6 tasks"',
        "7B": '"For the 7B parameter model, our LinUpper method improves results for 14 out of '
        '19 tasks"; "Our strategy outperforms the baseline in 9/13 LUR (Table 11) and '
        '5/6 QA tasks"',
    }
    for size, (lur_b, lur_t, qa_b, total) in stated.items():
        c = _llama_counts(size)
        found = (c["LUR"][0], c["LUR"][1], c["QA"][0], c["LUR"][0] + c["QA"][0])
        worst = min(
            ((t, v[1] - v[0]) for g in ("LUR", "QA") for t, v in LLAMA[size][g].items()),
            key=lambda x: x[1],
        )
        claims.append(
            _claim(
                f"llama{size.lower().replace('.', '_')}.tasks",
                f"Sec. 6.4, App. A.3 (Llama-{size})",
                quotes[size],
                f"Count the tasks of the Llama-{size} benchmark tables (13 LUR, 6 QA) where "
                "LinUpper's accuracy is strictly above uniform's, and the ties.",
                "holds" if found == (lur_b, lur_t, qa_b, total) else "fails",
                f"LUR better/tied/worse {c['LUR'][0]}/{c['LUR'][1]}/{c['LUR'][2]}, QA "
                f"{c['QA'][0]}/{c['QA'][1]}/{c['QA'][2]}: {found[3]}/19 improved; largest loss "
                f"{worst[0]} {worst[1]:+.2f} points",
                [("tasks improved", found[3], "tasks"), ("largest loss", round(worst[1], 2), "%")],
                reason=LLAMA_REASON,
            )
        )
        means = LLAMA[size]["means"]
        lur, qa = c["LUR_means"], c["QA_means"]
        all19 = ((13 * lur[0] + 6 * qa[0]) / 19, (13 * lur[1] + 6 * qa[1]) / 19)
        # two reported decimals: half a unit of the mean's digit + the rows' own rounding
        ok = all(
            abs(x - r) <= MEAN_TOL
            for pair, rep in ((lur, means["LUR"]), (qa, means["QA"]), (all19, means["all"]))
            for x, r in zip(pair, rep, strict=True)
        )
        claims.append(
            _claim(
                f"llama{size.lower().replace('.', '_')}.average",
                f"Sec. 6.4, Table {4 if size == '1.4B' else 5} (Llama-{size})",
                '"Tables 5 and 5 show the average performance among LUR and QA tasks ... our '
                "LinUpper strategy improves the average model performance by [lost] and [lost] for "
                'LUR and QA tasks" (the gains themselves were lost in extraction)',
                f"Recompute the LUR, QA and all-19 means of Llama-{size} from the per-task tables "
                "and compare with the reported means (within 0.011 points); the gains are the "
                "numbers the text lost.",
                "holds" if ok and lur[1] > lur[0] and qa[1] > qa[0] else "fails",
                f"mean gain LUR {lur[1] - lur[0]:+.2f}, QA {qa[1] - qa[0]:+.2f}, all 19 "
                f"{all19[1] - all19[0]:+.2f} points; reported means "
                f"{'consistent' if ok else 'inconsistent'} with the task rows",
                [
                    ("LUR gain", round(lur[1] - lur[0], 2), "%"),
                    ("QA gain", round(qa[1] - qa[0], 2), "%"),
                    ("all-19 gain", round(all19[1] - all19[0], 2), "%"),
                ],
                reason=LLAMA_REASON,
            )
        )
    return claims


def conclusion_claims() -> list[Claim]:
    """Sec. 7: "consistently outperforms uniform sampling" over every benchmark table."""
    results = [(TABLE2["linupper"][i], TABLE2["uniform"][i]) for i in range(4)]
    for size in LLAMA:
        results += [(v[1], v[0]) for g in ("LUR", "QA") for v in LLAMA[size][g].values()]
    b, t, w = _wins([r[0] for r in results], [r[1] for r in results], lower=False)
    return [
        _claim(
            "conclusion.consistent",
            "Sec. 7 (Conclusion), Sec. 1",
            '"The experiments show that our proposed LinUpper strategy consistently outperforms '
            'uniform sampling on common LLM reasoning and commonsense benchmarks."',
            "Every benchmark result of LinUpper against uniform in the paper's tables (Table 2, "
            "GPT2-medium; Tables 8-11, Llama-1.4B and 7B): better / tied / worse.",
            "holds with caveat" if b > w else "fails",
            f"better in {b}, tied in {t}, worse in {w} of {len(results)} task results; the mean "
            'is better in every table, but "consistently" does not hold task by task',
            [("task results better", b, "tasks"), ("task results worse", w, "tasks")],
            reason=LLAMA_REASON,
        )
    ]


def cap_7b_claims() -> list[Claim]:
    """App. A.5 / Fig. 6 in the paper's own 7B setting (Table 7: minibatch 128, r = 2)."""
    from rwtheory.weights.pipeline import worst_case_rho

    batch, r = 128, 2.0
    rho_b = worst_case_rho("linupper", batch, r)
    rho_sup = worst_case_rho("linupper", 10**9, r)
    return [
        Claim(
            "a5.cap_7b",
            "App. A.5, Fig. 6 (Llama-7B), Table 7",
            '"To demonstrate that in practice the upper bound of [ρ ≤ 2] is, in fact, satisfied by '
            "our LinUpper method, we provide the distribution of the maximum weights per step ... "
            'during the pretraining of the 7B parameter model"',
            True,
            "With Table 7's 7B setting (LinUpper, r = 2.0 after warm-up, minibatch 128), the exact "
            "supremum of ρ = n·max w over every possible batch of losses "
            "(rwtheory.worst_case_rho). Assumption: weights are computed over the minibatch of "
            "128; any other batch size gives at most the sup over n, also reported.",
            "`rwtheory check` (rwtheory.report.providers.paper_tables); "
            "`pytest tests/weights/test_cap.py`",
            "holds" if rho_sup <= 2 else "fails",
            f"sup ρ = {rho_b:.4f} at n = 128 and {rho_sup:.4f} for any n (e^(1/2)): the cap ρ ≤ 2 "
            "holds for every batch whatever the losses, so Fig. 6's observation (max weight below "
            "2/B) is guaranteed in that setting (it is not at the GPT-2 r = 0.4: row `a5.cap`)",
            stable=True,
            quantities=(
                Quantity("sup rho at n=128", round(rho_b, 6)),
                Quantity("sup rho over n", round(rho_sup, 6)),
            ),
        )
    ]


def not_checkable_claims() -> list[Claim]:
    """Claims whose numbers were lost or that need the large runs, stated with the reason."""
    return [
        Claim(
            "fig5.r_sensitivity_lm",
            "App. A.4, Fig. 5",
            '"when the value of r is large (e.g. [lost]) then, as expected, the performance '
            "of our method becomes closer to that of the uniform baseline ... when r is too "
            'small (e.g. [lost])"',
            True,
            "LinUpper's GPT-2 perplexity curves for several r against uniform.",
            HOW,
            "not checked",
            "n/a: the figure and the r values were lost in extraction",
            stable=True,
            scope="not checkable here",
            reason="Fig. 5's curves and the example r values were lost in extraction, and "
            "rerunning needs the GPT-2 training ("
            + GPT2_REASON.split(": ", 1)[1]
            + "); the regression analogue is rows `r_sensitivity.*` (figures/r_sensitivity.png)",
        ),
        Claim(
            "intro.faster_convergence",
            "Sec. 1 (contributions)",
            '"in complex, large-scale problems such as LLM pretraining with number of '
            "parameters ranging from 124M to 7B, our approach leads to notably improved "
            'performance and faster convergence"',
            True,
            "Convergence speed (perplexity against step) of the large runs.",
            HOW,
            "not checked",
            "n/a: the perplexity curves (Figs. 2-4) were lost in extraction",
            stable=True,
            scope="not checkable here",
            reason="the curves of Figs. 2-4 were lost in extraction and the runs need "
            "GPU-weeks and unreachable data; final numbers are checked in rows "
            "`tab1.*`, `tab2.*`, `llama*`; the small LM analogue is row `lm.*`; the convex half "
            "(does a larger Γ come with faster convergence where the theorems apply) is "
            "row `intro.faster_convergence.convex`",
        ),
    ]


def claims() -> list[Claim]:
    """Every large-scale claim of the paper, in the paper's order."""
    return (
        table1_claims()
        + table2_claims()
        + table3_claims()
        + llama_claims()
        + table12_claims()
        + conclusion_claims()
        + cap_7b_claims()
        + not_checkable_claims()
    )


def report(quick: bool) -> Report:
    """The large-scale claims (``quick`` changes nothing: the tables are data)."""
    return Report("paper_tables", claims())


PROVIDER = Provider("paper_tables", report, keys=tuple(c.key for c in claims()))
