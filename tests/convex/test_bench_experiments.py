"""The experiments benchmark's correctness half, on a small workload (no timing asserted:
speed is measured by running the script, never by a unit test): the engine equals the same
runs one at a time and the plain reference loop, and the floor it is timed against runs at
the engine's own shapes."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_experiments", ROOT / "benchmarks" / "bench_experiments.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_batched_one_at_a_time_and_reference_loop_agree():
    bench = _bench()
    problem, schemes, rows = bench.workload(2)
    tr = bench.batched(problem, schemes, rows, 30, 0.1)
    singles = bench.one_at_a_time(problem, schemes, rows, 30, 0.1)
    ref = bench.reference_loop(problem, schemes, rows, 30, 0.1)
    assert tr.iterates.shape == ref["iterates"].shape == (10, 31, problem.d)
    for diff in (bench.max_difference(tr, singles), bench.max_difference(tr, ref)):
        assert set(diff) == set(bench.FIELDS)
        assert max(diff.values()) <= bench.TOLERANCE
    # the runs moved: a comparison of frozen iterates would prove nothing
    assert np.all(tr.train_loss[:, -1] < tr.train_loss[:, 0])


def test_report_is_written_and_exit_status_reflects_equality(tmp_path, capsys):
    out = tmp_path / "report.txt"
    rc = _bench().main(["--seeds", "1", "--steps", "5", "--repeat", "1", "--out", str(out)])
    assert rc == 0
    text = out.read_text()
    assert "equality to 1e-10: yes" in text
    assert "engine / floor (process time)" in text and "K = 1 blocks x m = 5 runs" in text
    assert "speed-up vs one at a time" in text and "reference loop" in text
    assert text == capsys.readouterr().out


def test_floor_uses_the_engines_layout():
    """The floor is timed at the shapes the engine uses: one data block per seed holding one
    run per strategy (the shared layout), n samples, d + 1 columns."""
    bench = _bench()
    problem, schemes, rows = bench.workload(3)
    assert bench.floor(problem, schemes, rows, 2, 0.1) == (3, 5, problem.n, problem.d)
    # an uneven workload falls back to one block per run, and so does the floor
    assert bench.floor(problem, schemes[:4], rows[:4], 2, 0.1) == (4, 1, problem.n, problem.d)


def test_a_difference_is_reported_and_fails_the_exit_status(tmp_path, monkeypatch, capsys):
    bench = _bench()
    honest = bench.reference_loop

    def perturbed(*args):
        out = honest(*args)
        out["test_loss"][0, -1] += 1e-8  # one recorded number off by more than 1e-10
        return out

    monkeypatch.setattr(bench, "reference_loop", perturbed)
    out = tmp_path / "report.txt"
    rc = bench.main(["--seeds", "1", "--steps", "5", "--repeat", "1", "--out", str(out)])
    assert rc == 1
    assert "equality to 1e-10: NO" in out.read_text()
    capsys.readouterr()
