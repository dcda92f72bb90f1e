"""Bad-input and interrupt campaign over the public API.

Part 1 draws calls of every public function (``rwtheory.__all__`` and ``rwtheory.lm.__all__``;
``ReweightingTrainer`` needs the ``hf`` extra and is left out) from the good and bad inputs
of ``tests/api_cases.py`` -- NaN/inf, empty, 0-d, 2-D, bool/complex/string/object dtypes,
lists, non-contiguous and read-only arrays, sparse/meta/nested tensors, masked arrays,
extreme magnitudes and temperatures, every dtype from float16 to longdouble -- and counts
each call's outcome: correct result (checked against a float64 reference), clean error
(ValueError/TypeError naming the argument), silent wrong/NaN result, unnamed error,
crash/deep traceback/escaped warning.

Part 2 starts ``rwtheory figures --only fig1 --quick --out DIR`` N times, kills it at a
random moment (odd runs: as soon as a temporary appears in DIR, i.e. in the write phase)
with SIGINT or SIGTERM, and checks that DIR never holds a partial figure set
nor a temporary file: before each run the three files are overwritten with markers, so
afterwards they must be all markers (old set untouched) or all the new run's bytes. Exit
status 130/143: the signal was handled (clean-up ran); 0: the run had finished; -2/-15:
the signal came before the handlers were installed (interpreter start-up).

    .venv/bin/python benchmarks/bad_input_campaign.py --calls 40 --kills 10

Timings on a loaded machine are noisy; the counts are what matters.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _runner(api_cases, fn, n, seed, counts, fn_counts, examples, show):
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data):
        outcome, detail = api_cases.run_any(data, fn)
        counts[outcome] += 1
        fn_counts[outcome] += 1
        if (
            outcome not in ("correct", "clean_error", "documented_refusal")
            and len(examples[outcome]) < show
        ):
            examples[outcome].append(f"{fn}: {detail[:200]}")

    return run


def input_campaign(calls_per_function: int, seed: int, show: int):
    import api_cases

    counts = collections.Counter()
    per_fn = collections.defaultdict(collections.Counter)
    examples = collections.defaultdict(list)
    for fn in api_cases.ALL_FUNCTIONS:
        run = _runner(api_cases, fn, calls_per_function, seed, counts, per_fn[fn], examples, show)
        run()
    return counts, per_fn, examples


def _figure_set_state(folder: Path):
    names = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    temps = [n for n in names if n.startswith(".rwtheory-tmp.") or n.endswith(".tmp")]
    figs = {n for n in names if n.startswith("fig1.")}
    return figs, temps


def _wait_for_temporary(folder: Path, proc, timeout: float = 120.0) -> int:
    """Poll ``folder`` until a figure's temporary appears (a staging folder, or a legacy
    ``.NAME.XXXX.tmp`` file; not the output-path probe) or the run ends; 1 if seen."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            if any(
                e.name.startswith(".") and (e.is_dir() or e.name.endswith(".tmp"))
                for e in os.scandir(folder)
            ):
                return 1
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    return 0


def interrupt_campaign(kills: int, seed: int):
    rng = random.Random(seed)
    exe = str(Path(sys.executable).with_name("rwtheory"))
    results = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figs"
        # a complete reference run: its three files, and how long a run takes
        start = time.perf_counter()
        subprocess.run(
            [exe, "figures", "--only", "fig1", "--quick", "--out", str(out)],
            check=True,
            capture_output=True,
        )
        full = time.perf_counter() - start
        complete = {p.name: p.read_bytes() for p in out.iterdir()}
        for i in range(kills):
            # mark the old set, so that a mix of old and new files would show
            marker = {n: f"old set {i}: {n}".encode() for n in complete}
            for n, b in marker.items():
                (out / n).write_bytes(b)
            sig = rng.choice([signal.SIGINT, signal.SIGTERM])
            proc = subprocess.Popen(
                [exe, "figures", "--only", "fig1", "--quick", "--out", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if i % 2:  # at the write phase: as soon as a temporary appears in the folder
                results["killed at the write phase"] += _wait_for_temporary(out, proc)
            else:
                time.sleep(rng.uniform(0.3 * full, 1.05 * full))
            proc.send_signal(sig)
            rc = proc.wait()
            figs, temps = _figure_set_state(out)
            now = {n: (out / n).read_bytes() for n in figs}
            new, old = figs == set(complete) and now == complete, now == marker
            results["runs"] += 1
            results[f"exit {rc} ({signal.Signals(sig).name})"] += 1
            results[
                "new complete set"
                if new
                else "old set untouched"
                if old
                else "PARTIAL OR MIXED SETS"
            ] += 1
            results["stray temporaries" if temps else "no temporaries"] += 1
            if temps:
                results[
                    f"  stray after exit {rc}, killed {'at write' if i % 2 else 'at random'}:"
                    f" {', '.join(temps)}"
                ] += 1
    return results, full


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=40, help="calls per public function")
    p.add_argument("--kills", type=int, default=10, help="interrupted figure runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=3, help="examples per bad outcome")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    counts, per_fn, examples = (
        input_campaign(args.calls, args.seed, args.show)
        if args.calls
        else (collections.Counter(), {}, {})
    )
    total = sum(counts.values())
    print(
        f"inputs tried: {total} over {len(per_fn)} public functions "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    for outcome in (
        "correct",
        "clean_error",
        "documented_refusal",
        "silent",
        "unnamed_error",
        "crash",
    ):
        print(f"  {outcome:>14}: {counts[outcome]}")
    for fn, c in per_fn.items():
        print(f"    {fn:<30} " + " ".join(f"{k}={v}" for k, v in sorted(c.items())))
    for outcome, ex in examples.items():
        for e in ex:
            print(f"  [{outcome}] {e}")
    if args.kills:
        res, full = interrupt_campaign(args.kills, args.seed)
        print(
            f"interrupts: {res['runs']} runs of 'rwtheory figures --only fig1 --quick' killed "
            f"with SIGINT/SIGTERM, half at random in [0.3, 1.05] x its {full:.1f} s, half "
            f"when a temporary appeared"
        )
        for k, v in sorted(res.items()):
            if k != "runs":
                print(f"  {k}: {v}")
    bad = counts["silent"] + counts["unnamed_error"] + counts["crash"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
