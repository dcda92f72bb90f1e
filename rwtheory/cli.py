"""Command line: ``rwtheory figures``, ``rwtheory check``, ``rwtheory reproduce``,
``rwtheory robustness``.

Each sub-command is declared by an ``add_*`` function (its arguments) and run by a
``cmd_*`` function; errors in the arguments exit with status 2 and a message naming the
argument, before anything is computed or written. ``python -m rwtheory`` runs the same
command line. The CLI sits on top of the package: nothing in ``rwtheory`` imports it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]

#: Default output folder of ``rwtheory figures``: the repository's committed ``figures/``.
DEFAULT_FIGURES_DIR = Path("figures")


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: ``rwtheory COMMAND: error: argument --x: ...``
    and exit status 2 (the usage is one ``--help`` away, not printed with every error)."""

    def error(self, message: str):
        text = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def _study_folder(text: str) -> Path:
    """``check --robustness``: a folder holding a study's ``grid.json`` (given explicitly,
    a missing or wrong folder is an error, not silently ignored)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"must be the folder of a robustness study (`rwtheory robustness --out`), "
            f"got {text!r}, which is not a folder"
        )
    if not (path / "grid.json").is_file():
        raise argparse.ArgumentTypeError(
            f"must be the folder of a robustness study (`rwtheory robustness --out`), "
            f"got {text!r}, which holds no grid.json"
        )
    return path


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {v}")
    return v


def _output_path(text: str) -> Path:
    """An output path argument: any non-empty text (``''`` would silently mean the current
    folder). The rest is checked by :func:`_check_outputs` before anything runs."""
    if text == "":
        raise argparse.ArgumentTypeError("must not be empty (use '.' for the current folder)")
    return Path(text)


#: Every output argument, checked before any computation: (command, dest) -> True for a
#: folder to write into, False for a file. A new command with an output adds its row.
OUTPUTS: dict[tuple[str, str], bool] = {
    ("figures", "out"): True,
    ("check", "out"): False,
    ("reproduce", "figures_out"): True,
    ("reproduce", "out"): False,
    ("reproduce", "report_out"): True,
    ("robustness", "out"): True,
    ("report", "out"): True,
}


def _check_outputs(parser, args) -> None:
    """Exit with status 2 naming the argument when an output path cannot be written
    (:func:`rwtheory.report.files.check_output_path`), before anything is computed; then
    remove the temporaries that killed runs left in the output folders."""
    from rwtheory.report.files import check_output_path, remove_stale_temporaries

    for (command, dest), folder in OUTPUTS.items():
        value = getattr(args, dest, None) if args.command == command else None
        problem = None if value is None else check_output_path(value, folder=folder)
        if problem:
            parser.error(f"argument --{dest.replace('_', '-')}: {problem}")
        if value is not None:  # a killed run's leftovers go first, whatever happens next
            remove_stale_temporaries(value if folder else value.parent)


# ------------------------------------------------------------------ figures
def add_figures(sub) -> None:
    p = sub.add_parser("figures", help="regenerate the figures (PNG, PDF and CSV)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these figures")
    p.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="seeds per configuration (default: each figure's own)",
    )
    p.add_argument(
        "--out",
        type=_output_path,
        default=DEFAULT_FIGURES_DIR,
        help="output folder (default: figures/)",
    )
    p.add_argument("--quick", action="store_true", help="small configurations (for tests)")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="worker processes (default: every core; the outputs do not depend on it)",
    )
    p.set_defaults(run=cmd_figures)


def _figure_names(parser, only) -> list[str]:
    from rwtheory.experiments import FIGURES

    if not only:
        return list(FIGURES)
    unknown = [n for n in only if n not in FIGURES]
    if unknown:
        parser.error(
            f"argument --only: unknown figure(s) {', '.join(unknown)}; "
            f"choose from {', '.join(FIGURES)}"
        )
    return list(dict.fromkeys(only))


def cmd_figures(args, parser) -> int:
    """The figures as tasks of a process pool (:mod:`rwtheory.experiments.job`: the LM
    study's runs side by side), each saved as soon as it is built."""
    import time

    from rwtheory.experiments import job
    from rwtheory.experiments.pool import default_workers, process_pool

    names = _figure_names(parser, args.only)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"argument --out: {str(args.out)!r} exists and is not a folder")
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    with process_pool(args.workers or default_workers()) as pool:
        job.finish(
            job.submit(
                pool,
                quick=args.quick,
                figures_out=args.out,
                names=names,
                seeds=args.seeds,
                checks=False,
            )
        )
    elapsed = time.perf_counter() - start
    print(
        f"wrote {len(names)} figure(s) to {args.out}/ in {elapsed:.1f} s: "
        f"{', '.join(f'{n}.png|.pdf|.csv' for n in names)}"
    )
    return 0


# ------------------------------------------------------------------ check
#: Default output of ``rwtheory check``: the repository's committed ``paper_checks.md``.
DEFAULT_CHECKS_FILE = Path("paper_checks.md")


def add_check(sub) -> None:
    p = sub.add_parser("check", help="run every claim check and regenerate paper_checks.md")
    p.add_argument(
        "--quick",
        action="store_true",
        help="small configurations (< 2 min); deterministic rows are unchanged",
    )
    p.add_argument(
        "--out",
        type=_output_path,
        default=DEFAULT_CHECKS_FILE,
        help="output file (default: paper_checks.md)",
    )
    p.add_argument(
        "--robustness",
        type=_study_folder,
        default=None,
        help="robustness study whose verdict counts the empirical rows quote "
        "(default: figures/robustness/ when it holds one, written by `rwtheory robustness`)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="PROVIDER",
        help="only these providers (theorems, prop1, pep, cap, overhead, figure names); "
        "the file then holds only their rows",
    )
    p.set_defaults(run=cmd_check)


def _robustness_notes(folder: Path, parser=None) -> dict[str, str]:
    """Claim key -> "Robustness: holds in k of N settings ..." from a robustness study's
    output folder (``rwtheory robustness --out``); empty when the folder has no study. A
    study whose files are malformed is an error of ``--robustness`` (exit status 2)."""
    from rwtheory._array import InputError
    from rwtheory.experiments import robustness_report

    if not (folder / "grid.json").is_file():
        return {}
    try:
        study = robustness_report.load(folder)
    except InputError as exc:
        if parser is None:
            raise
        parser.error(f"argument --robustness: {exc}")
    notes = robustness_report.ledger_notes(study)
    return {k: v.removeprefix("Robustness: ") for k, v in notes.items()}  # the row labels it


def _run_checks(args, parser, figure_results=None, robustness_dir=None, done=None) -> int:
    import time

    from rwtheory.report import ledger

    if getattr(args, "only", None) and args.out == DEFAULT_CHECKS_FILE:
        parser.error(
            f"argument --out: required with --only (the default {DEFAULT_CHECKS_FILE} "
            f"holds every row; a partial run would replace it)"
        )
    start = time.perf_counter()
    try:
        reports = ledger.collect(
            quick=args.quick,
            figure_results=figure_results,
            only=getattr(args, "only", None),
            robustness=_robustness_notes(
                robustness_dir
                or getattr(args, "robustness", None)
                or DEFAULT_FIGURES_DIR / "robustness",
                parser,
            ),
            done=done,
        )
    except ValueError as exc:
        parser.error(f"argument --only: {exc}")
    path, json_path = ledger.write(args.out, reports, quick=args.quick)
    wall = time.perf_counter() - start
    for rep in reports:
        for c in rep.claims:
            print(f"{c.status:>18}  {c.key:<16} {c.number[:90]}")
    timing = ", ".join(f"{r.provider} {r.seconds:.1f}s" for r in reports if r.seconds)
    print(f"wrote {path} and {json_path} in {wall:.1f} s wall (CPU: {timing})")
    return 0


def cmd_check(args, parser) -> int:
    return _run_checks(args, parser)


# ------------------------------------------------------------------ reproduce
def add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce", help="regenerate every figure and the robustness study, then run the checks"
    )
    p.add_argument("--quick", action="store_true", help="small configurations")
    p.add_argument(
        "--figures-out",
        type=_output_path,
        default=DEFAULT_FIGURES_DIR,
        help="figure folder (default: figures/)",
    )
    p.add_argument(
        "--out",
        type=_output_path,
        default=DEFAULT_CHECKS_FILE,
        help="checks file (default: paper_checks.md; the JSON goes beside it)",
    )
    p.add_argument(
        "--report-out",
        type=_output_path,
        default=DEFAULT_REPORT_DIR,
        help="folder of the HTML report (default: report/)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="worker processes for the figures, checks and robustness study "
        "(default: every core; the outputs do not depend on it)",
    )
    p.set_defaults(run=cmd_reproduce)


def cmd_reproduce(args, parser) -> int:
    """Figures, LM study, checks and robustness study as tasks of one process pool
    (:mod:`rwtheory.experiments.job`), then the ledger and the report."""
    import time

    from rwtheory.experiments import job
    from rwtheory.experiments.pool import default_workers, process_pool

    start = time.perf_counter()
    args.figures_out.mkdir(parents=True, exist_ok=True)
    with process_pool(args.workers or default_workers()) as pool:
        pending = job.submit(pool, quick=args.quick, figures_out=args.figures_out)
        cmd_robustness(
            build_parser().parse_args(
                [
                    "robustness",
                    "--grid",
                    "quick" if args.quick else "default",
                    "--out",
                    str(args.figures_out / "robustness"),
                ]
            ),
            parser,
            executor=pool,
        )
        results, reports = job.finish(pending)
    print(f"wrote {len(results)} figure(s) to {args.figures_out}/: {', '.join(results)}")
    _run_checks(
        args,
        parser,
        figure_results=results,
        robustness_dir=args.figures_out / "robustness",
        done=reports,
    )
    # the README's table follows the committed ledger only, not a run written elsewhere
    readme = DEFAULT_README if args.out == DEFAULT_CHECKS_FILE else None
    status = _write_report(args.out.with_suffix(".json"), args.report_out, readme)
    print(f"reproduce: {time.perf_counter() - start:.1f} s wall")
    return status


# ------------------------------------------------------------------ report
#: Default folder of ``rwtheory report`` (``report/index.html``) and the README it updates.
DEFAULT_REPORT_DIR = Path("report")
DEFAULT_README = Path("README.md")


def add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write the HTML report (and the README's claims table) from paper_checks.json",
    )
    p.add_argument(
        "--ledger",
        type=Path,
        default=DEFAULT_CHECKS_FILE.with_suffix(".json"),
        help="the ledger to render (default: paper_checks.json)",
    )
    p.add_argument(
        "--out",
        type=_output_path,
        default=DEFAULT_REPORT_DIR,
        help="output folder (default: report/; the page is OUT/index.html)",
    )
    p.add_argument(
        "--readme",
        type=Path,
        default=DEFAULT_README,
        help="README whose generated claims table is refreshed, if it has one (default: README.md)",
    )
    p.set_defaults(run=cmd_report)


def _write_report(ledger_path: Path, out: Path, readme: Path | None) -> int:
    """Render ``ledger_path`` into ``out/index.html`` (figures linked relative to the current
    folder, the repository root) and refresh ``readme``'s generated block when it has one."""
    import json
    import os

    from rwtheory.report.files import atomic_write_text
    from rwtheory.report.html import render_html
    from rwtheory.report.markdown import README_BEGIN, replace_readme_block

    doc = json.loads(ledger_path.read_text(encoding="utf-8"))
    prefix = Path(os.path.relpath(Path.cwd(), out.resolve())).as_posix() + "/"
    page = atomic_write_text(out / "index.html", render_html(doc, prefix=prefix))
    print(f"wrote {page}")
    if (
        readme is not None
        and readme.is_file()
        and README_BEGIN in (text := readme.read_text(encoding="utf-8"))
    ):
        atomic_write_text(readme, replace_readme_block(text, doc))
        print(f"refreshed the claims table of {readme}")
    return 0


def cmd_report(args, parser) -> int:
    from rwtheory._array import InputError
    from rwtheory.report.records import load_ledger

    if not args.ledger.is_file():
        parser.error(
            f"argument --ledger: {str(args.ledger)!r} is not a file (run `rwtheory check` first)"
        )
    try:  # JSON valid against the shipped schema, counts the tallies of the claims
        load_ledger(args.ledger)
    except InputError as exc:
        parser.error(f"argument --ledger: {exc}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"argument --out: {str(args.out)!r} exists and is not a folder")
    return _write_report(args.ledger, args.out, args.readme)


# ------------------------------------------------------------------ robustness
def add_robustness(sub) -> None:
    p = sub.add_parser(
        "robustness",
        help="re-judge every empirical claim over a grid of the parameters the paper lost",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="CLAIM",
        help="only these claims (keys such as fig7.linupper_fastest, or families: "
        "fig7 fig8 r_sensitivity max_weight)",
    )
    p.add_argument(
        "--grid",
        default="default",
        help="default, quick, or a TOML file with one grid (default: default)",
    )
    p.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="seeds per setting (default: the grid's, 10)",
    )
    p.add_argument(
        "--workers", type=_positive_int, default=None, help="worker processes (default: every core)"
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run on this Dask scheduler instead (needs rwtheory[dask])",
    )
    p.add_argument(
        "--out",
        type=_output_path,
        default=DEFAULT_FIGURES_DIR / "robustness",
        help="output folder (default: figures/robustness/)",
    )
    p.set_defaults(run=cmd_robustness)


def cmd_robustness(args, parser, executor=None) -> int:
    import time

    from rwtheory.experiments import robustness, robustness_report
    from rwtheory.experiments.robustness_grid import load_grid

    try:
        grid = load_grid(args.grid)
    except ValueError as exc:
        parser.error(f"argument --grid: {exc}")
    try:
        only = robustness.select_claims(args.only)
    except ValueError as exc:
        parser.error(f"argument --only: {exc}")
    if args.seeds is not None:
        grid = grid.with_seeds(args.seeds)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"argument --out: {str(args.out)!r} exists and is not a folder")
    start = time.perf_counter()
    study = robustness.run_study(
        grid,
        only=only,
        workers=args.workers,
        scheduler=args.scheduler,
        out=args.out,
        executor=executor,
    )
    robustness_report.write(study, args.out)
    for key, text in robustness_report.ledger_notes(study).items():
        print(f"{key}: {text[:160]}")
    print(
        f"wrote {args.out}/ in {time.perf_counter() - start:.1f} s wall "
        f"(grid {grid.name}, {sum(len(v) for v in study.settings.values())} settings)"
    )
    return 0


# ------------------------------------------------------------------ entry point
COMMANDS = [add_figures, add_check, add_reproduce, add_robustness, add_report]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rwtheory",
        description="Check the theory and regenerate the convex experiments of Sow et al. "
        "(ICLR 2025), loss-based sample reweighting.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command. SIGTERM (``timeout``, Slurm, container stops) is handled like Ctrl-C:
    the writers' clean-up runs, no partial output is left, and the exit status is
    128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    from rwtheory._array import InputError
    from rwtheory.report.files import Terminated, sigterm_as_interrupt

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with sigterm_as_interrupt():
            _check_outputs(parser, args)
            return args.run(args, parser)
    except InputError as exc:  # bad input found past the arguments' own checks: one line
        parser.error(str(exc))
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(
            f"rwtheory: interrupted by {'SIGTERM' if terminated else 'SIGINT'}; files "
            f"already written are complete, nothing was left half-written",
            file=sys.stderr,
        )
        return 143 if terminated else 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
