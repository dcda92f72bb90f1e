"""Bad-input campaign over the whole public surface (issue 22): Python and the CLI.

Part 1 (weights): the 15 functions of issue 13's weighting API (``tests/api_cases.py``:
``rwtheory.__all__`` without the LM path), with its good and bad inputs.

Part 2 (surface): every entry point added since issue 13 (``tests/surface_cases.py``:
the strategy registry with good and bad user score functions, the cap analysis at any n,
the bisection's ``tol``/``max_iter``, the batched pipeline, the least-squares and
non-convex generators, ``LeastSquares``, ``engine.run`` and ``run_reference`` (problems
changed in place, user schemes returning bad weights, bad schedules, every argument),
``sample_batches``, the schemes, the adversaries, the GLM engine and user losses, grids as
mappings and files, a robustness study's folder). Each call is judged: ``correct`` (checked
against a simple reference), ``clean_error`` (a ValueError/TypeError naming a bad argument,
or the user's function), ``silent`` (a bad input accepted or a wrong result), ``deep`` (any
other exception, or an escaped warning), ``vague`` (an error naming no bad argument),
``valid_refused`` (a good input refused).

Part 4 (LM): the LM path ``rwtheory.lm`` (``tests/lm_cases.py``: ``per_sample_loss`` and
``per_sample_loss_from_hidden`` with every argument, packing included, in float16, bfloat16,
float32 and float64; ``gather_losses`` in one process; ``reweighted_loss`` with every
strategy form and good and bad user callables; ``SampleReweighter`` built with every option,
called, scored, checkpointed through ``torch.save``/``torch.load(weights_only=True)`` and
printed; its calls with one bad argument, which must leave it as it was; damaged
checkpoints; ``kl_capped``; ``accumulate_gradients``; the packing helpers;
``ReweightStats`` / ``stats_from_dict``), judged as Part 2 -- a good call checked against a
float64 cross entropy written out, weights against :func:`rwtheory.sample_weights` (and its
siblings) on the same float32 losses.

Part 3 (CLI): bad command lines (``surface_cases.cli_commands``: unknown commands and
options, bad numbers, bad output paths, missing or damaged grid files, ledgers and study
folders), each run as ``python -m rwtheory ...`` in a fresh process with a timeout, and a
few good controls. Classes: ``clean`` (exit 2 and one line naming the argument; a control:
exit 0), ``traceback``, ``silently accepted`` (exit 0, or still running at the timeout),
``not one line``, ``unnamed``, ``other exit``, ``valid refused``.

    .venv/bin/python benchmarks/bad_input_surface.py --calls 100 \\
        --out benchmarks/results/bad_input_surface_after.txt

``--parts`` runs some parts only (e.g. ``--parts lm`` for the LM path alone, as its
``before`` was measured: ``benchmarks/results/bad_input_surface_lm_before.txt``).

The package is imported from this script's checkout (``ROOT``), so a copy of this script and
of ``tests/surface_cases.py`` and ``tests/lm_cases.py`` placed in an older checkout measures
that checkout (``before``).
Timings on a loaded machine are noisy; the counts are what matters.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CLASSES = (
    "correct",
    "clean_error",
    "documented_refusal",
    "silent",
    "deep",
    "vague",
    "valid_refused",
)
CLI_CLASSES = (
    "clean",
    "traceback",
    "silently accepted",
    "not one line",
    "unnamed",
    "other exit",
    "valid refused",
)
#: issue 13's outcome -> this campaign's class
_FROM_API = {"crash": "deep", "unnamed_error": "vague"}


def _examples(n: int, body, name: str):
    """``n`` calls of ``body``, drawn from a seed that depends on ``name`` only (not on the
    checkout's path, as hypothesis' derandomisation would): two checkouts draw the same
    inputs."""

    @seed(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data):
        body(data)

    run()


def weights_part(calls: int, counts, per_fn, examples, show):
    import api_cases

    for fn in [f for f in api_cases.ALL_FUNCTIONS if f not in api_cases.LM_FUNCTIONS]:

        def body(data, fn=fn):
            outcome, detail = api_cases.run_any(data, fn)
            if outcome == "unnamed_error" and detail.startswith("good input rejected"):
                outcome = "valid_refused"
            outcome = _FROM_API.get(outcome, outcome)
            _count(fn, outcome, detail, counts, per_fn, examples, show)

        _examples(calls, body, f"weights/{fn}")


def _judged_part(scenarios, prefix: str, calls: int, counts, per_fn, examples, show):
    """Every scenario of ``scenarios`` (name -> scenario of tests/surface_cases.py's form)
    ``calls`` times, each outcome judged by ``surface_cases.judge``."""
    import surface_cases

    for name, scenario in scenarios.items():

        def body(data, name=name, scenario=scenario):
            outcome, detail = surface_cases.judge(scenario(data))
            _count(name, outcome, detail, counts, per_fn, examples, show)

        _examples(calls, body, f"{prefix}/{name}")


def surface_part(calls: int, counts, per_fn, examples, show):
    import surface_cases

    _judged_part(surface_cases.SCENARIOS, "surface", calls, counts, per_fn, examples, show)


def lm_part(calls: int, counts, per_fn, examples, show):
    import lm_cases

    _judged_part(lm_cases.SCENARIOS, "lm", calls, counts, per_fn, examples, show)


#: The Python parts: ``--parts`` key -> (title, function).
PARTS = {
    "weights": ("weights (issue 13's functions)", weights_part),
    "surface": ("surface (since issue 13)", surface_part),
    "lm": ("LM (rwtheory.lm)", lm_part),
}


def _count(fn, outcome, detail, counts, per_fn, examples, show):
    counts[outcome] += 1
    per_fn[fn][outcome] += 1
    if (
        outcome not in ("correct", "clean_error", "documented_refusal")
        and len(examples[outcome]) < show
    ):
        examples[outcome].append(f"{fn}: {detail[:240]}")


def _run_command(argv, timeout: float):
    """(exit status or None if it was still running at ``timeout``, stderr) of
    ``python -m rwtheory argv`` in its own process group (killed as a group at the timeout,
    so that no worker outlives it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rwtheory", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        return None, err


def cli_part(show: int, timeout_bad: float):
    import surface_cases

    counts, examples = collections.Counter(), collections.defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for cmd in surface_cases.cli_commands(Path(tmp)):
            rc, err = _run_command(cmd.argv, cmd.timeout if not cmd.bad else timeout_bad)
            outcome = surface_cases.judge_command(cmd, rc, err)
            counts[("bad " if cmd.bad else "good ") + outcome] += 1
            if outcome != "clean" and len(examples[outcome]) < show:
                tail = " | ".join(ln for ln in err.strip().splitlines()[-2:])
                examples[outcome].append(
                    f"rwtheory {' '.join(a if len(a) < 50 else '...' + a[-40:] for a in cmd.argv)}"
                    f" -> exit {rc}: {tail[:200]}"
                )
    return counts, examples


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=40, help="calls per entry point")
    p.add_argument("--show", type=int, default=4, help="examples per bad outcome")
    p.add_argument("--timeout", type=float, default=45.0, help="seconds a bad command may run")
    p.add_argument("--no-cli", action="store_true", help="the Python parts only (--parts ...)")
    p.add_argument(
        "--parts",
        nargs="+",
        choices=(*PARTS, "cli"),
        default=None,
        help="the parts to run (default: all of them)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = p.parse_args(argv)
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    import rwtheory

    head = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    ).stdout.strip()
    say(f"# bad_input_surface: package {rwtheory.__file__.rsplit('/rwtheory/', 1)[0]}")
    say(f"# checkout at commit {head[:90]}")
    parts = args.parts or ([*PARTS] if args.no_cli else [*PARTS, "cli"])
    if args.no_cli and "cli" in parts:
        p.error("--no-cli contradicts --parts cli")
    chosen = "" if args.parts is None else " --parts " + " ".join(parts)
    no_cli = " --no-cli" if args.no_cli else ""
    say(f"# command: python benchmarks/bad_input_surface.py --calls {args.calls}{chosen}{no_cli}")
    bad_total = 0
    for key, (part, fn) in PARTS.items():
        if key not in parts:
            continue
        t0 = time.perf_counter()
        counts, per_fn = collections.Counter(), collections.defaultdict(collections.Counter)
        examples = collections.defaultdict(list)
        fn(args.calls, counts, per_fn, examples, args.show)
        total = sum(counts.values())
        took = time.perf_counter() - t0
        say(f"\n## {part}: {total} inputs over {len(per_fn)} entry points ({took:.0f} s)")
        for c in CLASSES:
            say(f"  {c:>18}: {counts[c]}")
        for name, c in per_fn.items():
            say(f"    {name:<38} " + " ".join(f"{k}={v}" for k, v in sorted(c.items())))
        for outcome, ex in examples.items():
            for e in ex:
                say(f"  [{outcome}] {e}")
        bad_total += sum(counts[c] for c in ("silent", "deep", "vague", "valid_refused"))
    if "cli" in parts:
        t0 = time.perf_counter()
        counts, examples = cli_part(args.show, args.timeout)
        bad = sum(v for k, v in counts.items() if k.startswith("bad "))
        good = sum(v for k, v in counts.items() if k.startswith("good "))
        say(
            f"\n## CLI: {bad} bad commands, {good} good controls ({time.perf_counter() - t0:.0f} s)"
        )
        for prefix in ("bad ", "good "):
            for c in CLI_CLASSES:
                if counts[prefix + c] or c in (
                    "clean",
                    "traceback",
                    "silently accepted",
                    "not one line",
                ):
                    say(f"  {prefix + c:>24}: {counts[prefix + c]}")
        for outcome, ex in examples.items():
            for e in ex:
                say(f"  [{outcome}] {e}")
        bad_total += sum(v for k, v in counts.items() if not k.endswith(" clean"))
    if args.out:
        from rwtheory.report.files import atomic_write_text

        atomic_write_text(args.out, "\n".join(lines) + "\n")  # no half-written report
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main())
