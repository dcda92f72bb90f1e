"""Command line: ``rwtheory figures``, ``rwtheory check``, ``rwtheory reproduce``,
``rwtheory robustness``.

Each sub-command is declared by an ``add_*`` function (its arguments) and run by a
``cmd_*`` function; errors in the arguments exit with status 2 and a message naming the
argument, before anything is computed or written. ``python -m rwtheory`` runs the same
command line. The CLI sits on top of the package: nothing in ``rwtheory`` imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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


def _module_name(text: str) -> str:
    """A ``--plugin``: a dotted Python module name (``pkg.strategies``, ``my_strategy``)."""
    if not all(part.isidentifier() for part in text.split(".")):
        raise argparse.ArgumentTypeError(
            f"must be a module name (dotted identifiers, e.g. mypackage.strategies), got {text!r}"
        )
    return text


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
    ("compare", "run_dir"): True,
}


#: The extra each command needs (pyproject.toml), and the modules of it the command uses:
#: the computing commands need everything of `all`; the report validates the ledger against
#: its JSON Schema (jsonschema, of the extra `check`).
_ALL = ("torch", "scipy", "cvxpy", "PEPit", "matplotlib", "tqdm", "threadpoolctl", "jsonschema")
NEEDS = {
    **dict.fromkeys(("figures", "check", "reproduce", "robustness", "compare"), ("all", _ALL)),
    "report": ("check", ("jsonschema",)),
}


def _check_extras(args) -> None:
    """Exit with status 2 and one line naming the extra to install when a module that the
    command needs is absent (a core install: ``pip install rwtheory``)."""
    import importlib.util

    if args.command not in NEEDS:
        return
    extra, modules = NEEDS[args.command]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"rwtheory: `rwtheory {args.command}` needs the extra [{extra}] (missing: "
            f"{', '.join(missing)}): pip install 'rwtheory[{extra}]'",
            file=sys.stderr,
        )
        raise SystemExit(2)


def _check_outputs(parser, args) -> None:
    """Exit with status 2 naming the argument when an output path cannot be written
    (:func:`rwtheory.report.files.check_output_path`), before anything is computed; then
    remove the temporaries that killed runs left in the output folders."""
    from rwtheory.report.files import check_output_path, remove_stale_temporaries

    for (command, dest), folder in OUTPUTS.items():
        value = getattr(args, dest, None) if args.command == command else None
        problem = None if value is None else check_output_path(value, folder=folder)
        if problem:
            flag = {"run_dir": "run"}.get(dest, dest).replace("_", "-")
            parser.error(f"argument --{flag}: {problem}")
        if value is not None:  # a killed run's leftovers go first, whatever happens next
            remove_stale_temporaries(value if folder else value.parent)


def _add_workers(p, help: str) -> None:
    """The option ``--workers`` of a computing command (``help`` says what they run)."""
    p.add_argument("--workers", type=_positive_int, default=None, help=help)


def _add_output(p, flag: str, default: Path, help: str) -> None:
    """An output option (``flag``: a folder or a file, :data:`OUTPUTS` says which)."""
    p.add_argument(flag, type=_output_path, default=default, help=help)


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
    _add_output(p, "--out", DEFAULT_FIGURES_DIR, "output folder (default: figures/)")
    p.add_argument("--quick", action="store_true", help="small configurations (for tests)")
    _add_workers(p, "worker processes (default: every core; the outputs do not depend on it)")
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
        results, _ = job.finish(
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
    failed = job.failures(results)
    written = [n for n in names if n not in failed]
    print(
        f"wrote {len(written)} figure(s) to {args.out}/ in {elapsed:.1f} s: "
        f"{', '.join(f'{n}.png|.pdf|.csv' for n in written)}"
    )
    for name, error in failed.items():
        print(f"rwtheory: figure {name} raised {error}; not written", file=sys.stderr)
    return 1 if failed else 0


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
    _add_output(p, "--out", DEFAULT_CHECKS_FILE, "output file (default: paper_checks.md)")
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
    _add_workers(
        p, "worker processes for the checks (default: every core; the outputs do not depend on it)"
    )
    p.set_defaults(run=cmd_check)


def _robustness_notes(folder: Path, parser=None) -> dict[str, str]:
    """Claim key -> "Robustness: holds in k of N settings ..." from a robustness study's
    output folder (``rwtheory robustness --out``). Without a study there, every claim the
    study judges says "not run", and stderr says why (never a silent drop); a study whose
    files are malformed is an error of ``--robustness`` (exit status 2)."""
    from rwtheory._array import InputError
    from rwtheory.experiments import robustness, robustness_report

    if not (folder / "grid.json").is_file():
        print(
            f"rwtheory: no robustness study in {folder}/ (run `rwtheory robustness --out "
            f"{folder}`, or give --robustness DIR); its claims say 'robustness: not run'",
            file=sys.stderr,
        )
        why = f"not run (no robustness study in {folder}/ when this ledger was written)"
        return dict.fromkeys(robustness.select_claims(None), why)
    try:
        study = robustness_report.load(folder)
    except InputError as exc:
        if parser is None:
            raise
        parser.error(f"argument --robustness: {exc}")
    notes = robustness_report.ledger_notes(study)
    return {k: v.removeprefix("Robustness: ") for k, v in notes.items()}  # the row labels it


def _run_checks(args, parser, figure_results, robustness_dir: Path, done, figures=None) -> int:
    """Collect the reports (``done``: computed in workers), write the ledger and print its
    rows; returns 1 when a check raised (its claims are "error" rows, named on stderr)."""
    import time

    from rwtheory.report import ledger

    start = time.perf_counter()
    reports = ledger.collect(
        quick=args.quick,
        figure_results=figure_results,
        only=getattr(args, "only", None),
        robustness=_robustness_notes(robustness_dir, parser),
        done=done,
    )
    path, json_path = ledger.write(args.out, reports, quick=args.quick, figures=figures)
    wall = time.perf_counter() - start
    for rep in reports:
        for c in rep.claims:
            print(f"{c.status:>18}  {c.key:<16} {c.number[:90]}")
    timing = ", ".join(f"{r.provider} {r.seconds:.1f}s" for r in reports if r.seconds)
    print(f"wrote {path} and {json_path} in {wall:.1f} s wall (CPU: {timing})")
    for provider, error in ledger.errors(reports).items():
        print(
            f"rwtheory: check {provider} raised {error}; its claims are 'error' rows of {path}",
            file=sys.stderr,
        )
    return 1 if ledger.errors(reports) else 0


def cmd_check(args, parser) -> int:
    """Every provider (or those of ``--only``) as a task of a pinned process pool
    (:func:`rwtheory.experiments.job.check_task`), then the ledger."""
    from rwtheory.experiments import job
    from rwtheory.experiments.pool import default_workers, process_pool
    from rwtheory.report import ledger

    if args.only:
        try:
            ledger.check_names(args.only)
        except ValueError as exc:
            parser.error(f"argument --only: {exc}")
        if args.out == DEFAULT_CHECKS_FILE:
            parser.error(
                f"argument --out: required with --only (the default {DEFAULT_CHECKS_FILE} "
                f"holds every row; a partial run would replace it)"
            )
    names = list(dict.fromkeys(args.only or [p.name for p in ledger.providers()]))
    with process_pool(args.workers or default_workers()) as pool:
        futures = {n: pool.submit(job.check_task, n, args.quick) for n in names}
        done = {n: f.result() for n, f in futures.items()}
    return _run_checks(
        args, parser, None, args.robustness or DEFAULT_FIGURES_DIR / "robustness", done
    )


# ------------------------------------------------------------------ reproduce
def add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce", help="regenerate every figure and the robustness study, then run the checks"
    )
    p.add_argument("--quick", action="store_true", help="small configurations")
    _add_output(p, "--figures-out", DEFAULT_FIGURES_DIR, "figure folder (default: figures/)")
    _add_output(
        p,
        "--out",
        DEFAULT_CHECKS_FILE,
        "checks file (default: paper_checks.md; the JSON goes beside it)",
    )
    _add_output(
        p, "--report-out", DEFAULT_REPORT_DIR, "folder of the HTML report (default: report/)"
    )
    _add_workers(
        p,
        "worker processes for the figures, checks and robustness study "
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
    written = [n for n in results if n not in job.failures(results)]
    print(f"wrote {len(written)} figure(s) to {args.figures_out}/: {', '.join(written)}")
    status = _run_checks(
        args, parser, results, args.figures_out / "robustness", reports, figures=args.figures_out
    )
    # the README's table follows the committed ledger only, not a run written elsewhere
    readme = DEFAULT_README if args.out == DEFAULT_CHECKS_FILE else None
    _write_report(args.out.with_suffix(".json"), args.report_out, readme, args.figures_out)
    print(f"reproduce: {time.perf_counter() - start:.1f} s wall")
    return status


# ------------------------------------------------------------------ report
#: Default folder of ``rwtheory report`` (``report/index.html``) and the README it updates.
DEFAULT_REPORT_DIR = Path("report")
DEFAULT_README = Path("README.md")


def add_report(sub) -> None:
    p = sub.add_parser("report", help="write the HTML report of a ledger (paper_checks.json)")
    p.add_argument(
        "--ledger",
        type=Path,
        default=DEFAULT_CHECKS_FILE.with_suffix(".json"),
        help="the ledger to render (default: paper_checks.json)",
    )
    _add_output(
        p,
        "--out",
        DEFAULT_REPORT_DIR,
        "output folder (default: report/; the page is OUT/index.html)",
    )
    p.add_argument(
        "--figures",
        type=Path,
        default=None,
        help="folder of the figures the page shows (default: the folder the ledger records, "
        "else figures/ beside the ledger)",
    )
    p.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="also refresh the generated claims table of this README (default: none)",
    )
    p.set_defaults(run=cmd_report)


def _figures_of(ledger_path: Path, doc: dict) -> Path:
    """The figures folder of a ledger: the one it records (relative to its folder), else
    ``figures/`` beside it."""
    return ledger_path.parent / doc.get("figures", "figures")


def _write_report(
    ledger_path: Path, out: Path, readme: Path | None, figures: Path | None = None
) -> int:
    """Render ``ledger_path`` into ``out/index.html`` -- every link computed from where the
    page is written: the figures in ``figures`` (default :func:`_figures_of`), the ledger's
    own files in the header -- and refresh ``readme``'s generated block when given."""
    import json

    from rwtheory.report.files import atomic_write_text
    from rwtheory.report.html import page_links, render_html
    from rwtheory.report.markdown import README_BEGIN, replace_readme_block

    doc = json.loads(ledger_path.read_text(encoding="utf-8"))
    links = page_links(out, ledger_path, figures or _figures_of(ledger_path, doc))
    page = atomic_write_text(out / "index.html", render_html(doc, links=links))
    print(f"wrote {page}")
    if readme is not None:
        text = readme.read_text(encoding="utf-8")
        if README_BEGIN not in text:
            print(f"rwtheory: {readme} has no generated claims table; left alone", file=sys.stderr)
            return 0
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
    if args.figures is not None and not args.figures.is_dir():
        parser.error(f"argument --figures: {str(args.figures)!r} is not a folder")
    if args.readme is not None and not args.readme.is_file():
        parser.error(f"argument --readme: {str(args.readme)!r} is not a file")
    return _write_report(args.ledger, args.out, args.readme, args.figures)


# ------------------------------------------------------------------ robustness
def add_robustness(sub) -> None:
    # argparse's declarations, one keyword a line as ruff formats them: every command's
    # parser has this shape by design (the options differ)
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
    _add_workers(p, "worker processes (default: every core)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run on this Dask scheduler instead (needs rwtheory[dask])",
    )
    _add_output(
        p,
        "--out",
        DEFAULT_FIGURES_DIR / "robustness",
        "output folder (default: figures/robustness/)",
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


# ------------------------------------------------------------------ compare
def add_compare(sub) -> None:
    # argparse's declarations, one keyword a line as ruff formats them: every command's
    # parser has this shape by design (the options differ)
    p = sub.add_parser(
        "compare",
        help="regenerate (or take) a run's outputs and compare them with the committed ones",
    )
    p.add_argument(
        "--run",
        dest="run_dir",
        type=_output_path,
        default=None,
        help="a run's output folder (paper_checks.json, figures/); regenerated into it with "
        "`rwtheory reproduce` when it holds no ledger (default: a new scratch folder)",
    )
    p.add_argument(
        "--reference",
        type=Path,
        default=Path("."),
        help="the committed outputs (default: the current folder, a clone's root)",
    )
    p.add_argument("--quick", action="store_true", help="regenerate the small configurations")
    _add_workers(p, "worker processes (default: every core)")
    p.set_defaults(run=cmd_compare)


def cmd_compare(args, parser) -> int:
    """Exit 0 when every claim status and robustness k/N of the run equals the reference's,
    1 otherwise; the table says which files are byte-identical and, for the others, how
    far each CSV column moved (:mod:`rwtheory.report.compare`)."""
    import tempfile

    from rwtheory.report.compare import compare_trees, render

    if not (args.reference / "paper_checks.json").is_file():
        parser.error(
            f"argument --reference: {str(args.reference)!r} holds no paper_checks.json (give "
            "the folder of the committed outputs, a clone's root)"
        )
    run = args.run_dir or Path(tempfile.mkdtemp(prefix="rwtheory-compare-"))
    if not (run / "paper_checks.json").is_file():
        print(f"regenerating into {run}/ (rwtheory reproduce)", file=sys.stderr)
        flags = ["--quick"] if args.quick else []
        flags += ["--workers", str(args.workers)] if args.workers else []
        repro = build_parser().parse_args(
            ["reproduce", *flags, "--figures-out", str(run / "figures")]
            + ["--out", str(run / "paper_checks.md"), "--report-out", str(run / "report")]
        )
        cmd_reproduce(repro, parser)
    comparison = compare_trees(args.reference, run)
    print(f"run {run}/ against {args.reference}/")
    print(render(comparison))
    return 0 if comparison.agree else 1


# ------------------------------------------------------------------ pins
def add_pins(sub) -> None:
    p = sub.add_parser(
        "pins", help="the CPU pins of the worker processes, and what is in effect here"
    )
    p.add_argument(
        "--export",
        action="store_true",
        help="print only a shell line that pins the processes started after it "
        '(eval "$(rwtheory pins --export)"; dask worker ADDRESS)',
    )
    p.set_defaults(run=cmd_pins)


def cmd_pins(args, parser) -> int:
    """The pins (:mod:`rwtheory.experiments.pins`) and whether this process runs them."""
    from rwtheory.experiments import pins

    if not pins.pinnable():
        print(
            "# nothing to pin on this machine (not x86-64 with AVX2): its results may differ "
            "in the last bits from the committed ones; `rwtheory compare` says how far"
        )
        return 0
    if args.export:
        print(pins.export_line())
        return 0
    print(pins.export_line())
    found = pins.problems()
    print("this process: " + ("pinned" if not found else "NOT pinned: " + "; ".join(found)))
    return 0


# ------------------------------------------------------------------ entry point
COMMANDS = [
    add_figures,
    add_check,
    add_reproduce,
    add_robustness,
    add_report,
    add_compare,
    add_pins,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rwtheory",
        description="Check the theory and regenerate the convex experiments of Sow et al. "
        "(ICLR 2025), loss-based sample reweighting.",
    )
    import rwtheory

    parser.add_argument("--version", action="version", version=f"rwtheory {rwtheory.__version__}")
    parser.add_argument(
        "--plugin",
        action="append",
        type=_module_name,
        default=[],
        metavar="MODULE",
        help="import this module first, here and in every worker process: a module that "
        "registers strategies, which then appear in the figures and studies that compare "
        "strategies (repeatable; installed packages can use the entry points "
        "'rwtheory_strategies' instead)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command. The process pins its CPU code paths first, before numpy or torch is
    loaded (:func:`rwtheory.experiments.pins.pin_this_process`; the computing is done in
    pinned worker processes in any case). SIGTERM (``timeout``, Slurm, container stops) is
    handled like Ctrl-C: the writers' clean-up runs, no partial output is left, and the exit
    status is 128 + the signal's number (130 for SIGINT, 143 for SIGTERM). A worker refusing
    to compute unpinned, or an unreachable Dask scheduler, is one line on stderr and exit 2."""
    from rwtheory.experiments import pins

    pins.pin_this_process()
    from rwtheory._array import InputError
    from rwtheory.report.files import Terminated, sigterm_as_interrupt

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with sigterm_as_interrupt(), _plugins(parser, args.plugin):
            _check_extras(args)
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
    except RuntimeError as exc:
        if not _environment_error(exc):
            raise
        print(f"rwtheory: {exc}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def _plugins(parser, modules: list[str]):
    """The ``--plugin`` modules loaded for the command (and its workers); an import error is
    an argument error, one line. A plugin is found as ``python -m`` would find it: installed,
    or a module in the current folder (:func:`_current_folder_importable`)."""
    if not modules:
        yield
        return
    from rwtheory._array import InputError
    from rwtheory.experiments import lineup

    with _current_folder_importable():
        try:
            context = lineup.plugins(modules)
            context.__enter__()
        except InputError as exc:
            parser.error(f"argument --plugin: {exc}")
        try:
            yield
        finally:
            context.__exit__(None, None, None)


@contextlib.contextmanager
def _current_folder_importable():
    """The current folder first on ``sys.path`` and on ``PYTHONPATH`` (read by the worker
    processes started meanwhile), restored on exit: the console script, unlike ``python -m
    rwtheory``, does not put it there, and ``--plugin my_strategy`` for a file
    ``my_strategy.py`` beside the user must work either way. Dask workers started by hand
    find plugins through their own environment (docs/contributing.md)."""
    folder = os.getcwd()
    old_path, old_env = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path.insert(0, folder)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (folder, old_env)))
    try:
        yield
    finally:
        sys.path[:] = old_path
        if old_env is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_env


def _environment_error(exc: RuntimeError) -> bool:
    """Is ``exc`` about the environment the command runs in (an unpinned worker, a Dask
    scheduler that does not answer), not a bug? Those are one line, not a traceback."""
    from rwtheory.experiments.pins import UnpinnedProcess
    from rwtheory.experiments.robustness import SchedulerUnreachable

    return isinstance(exc, UnpinnedProcess | SchedulerUnreachable)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
