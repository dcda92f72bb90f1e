"""The README's set-up commands are what CI runs, and the README's summary of the claims
agrees with the generated paper_checks.md."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> tuple[str, str]:
    """The README's set-up commands: the first bash block's install-and-run and test lines."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("```bash")
    block = lines[start + 1:lines.index("```", start + 1)]
    main = next(c for c in block if c.endswith("rwtheory reproduce"))
    test = next(c for c in block if "pytest" in c)
    return main, test


def test_readme_commands_install_the_local_cpu_wheel():
    """Both set-up commands pin torch through constraints.txt (the local CPU wheel, no CUDA
    download) and install what they run: the package for reproduce, the test extra for
    pytest."""
    main, test = _commands()
    for cmd in (main, test):
        assert "pip install" in cmd and "-c constraints.txt" in cmd
    assert '".[test]"' in test
    constraints = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert any(line.startswith("torch") for line in constraints.splitlines())


def test_ci_runs_exactly_the_readme_test_command():
    _, test = _commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == test


#: README summary row (its first words) -> the paper_checks.md keys it summarises, in the
#: order of the row's "a / b / ..." status cell.
SUMMARY_ROWS = {
    "Thm. 1, reweighted GD": ["thm1"],
    "Thm. 2 (i)": ["thm2.i"],
    "Thm. 2 (ii)": ["thm2.ii"],
    "\"the cap eliminates DRO\"": ["thm1.cap"],
    "Thm. 1 tightness (PEPit)": ["thm1.pep", "thm1.pep_sanity"],
    "Prop. 1, closed form vs cvxpy": ["prop1"],
    "\"without KL half the data is discarded\"": ["prop1.no_kl"],
    "\"LinUpper + Eq. 4 *is* Prop. 1's optimum\"": ["prop1.linupper"],
    "A.5: the pipeline keeps ρ ≤ 2": ["a5.cap"],
    "Fig. 7:": ["fig7.linupper_fastest", "fig7.quadratic_beats_uniform",
                "fig7.extremes_behind"],
    "Fig. 8:": ["fig8.drokl_diverges_shared_rate", "fig8.drokl_slower_small_rate"],
    "A.4:": ["r_sensitivity.large_r_uniform", "r_sensitivity.small_r_hurts"],
    "A.5/Fig. 6:": ["max_weight.linupper_below_cap", "lm.cap"],
    "LM study:": ["lm.linupper_vs_uniform", "lm.linupper_best", "lm.extremes_lags",
                  "lm.vs_dro_kl"],
    "\"nearly zero computational overhead\"": ["overhead"],
    "Thm. 4": ["thm4"],
}


def _table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ")]


def test_readme_summary_table_matches_paper_checks():
    """The README's short table is written by hand: every status in it must be the status
    that the generated paper_checks.md gives the claims it summarises."""
    checks = {}
    for cells in _table_rows((ROOT / "paper_checks.md").read_text(encoding="utf-8")):
        key = cells[0].split("`")[1] if cells[0].startswith("`") else None
        status = next((c.strip("*") for c in cells if c.startswith("**")), None)
        if key and status:
            checks[key] = status
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    seen = set()
    for cells in _table_rows(readme):
        prefix = next((p for p in SUMMARY_ROWS if cells[0].startswith(p)), None)
        if prefix is None or len(cells) != 3:
            continue
        seen.add(prefix)
        keys = SUMMARY_ROWS[prefix]
        expected = [checks[k] for k in keys]
        stated = [s.split(" (")[0].strip() for s in cells[1].split(" / ")]
        if len(stated) == 1 and len(expected) > 1:  # "fails (all three)": one status for all
            stated = stated * len(expected)
        assert stated == expected, (prefix, cells[1], dict(zip(keys, expected, strict=True)))
    assert seen == set(SUMMARY_ROWS), set(SUMMARY_ROWS) - seen
