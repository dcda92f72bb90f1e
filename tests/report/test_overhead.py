"""The overhead row: its status rule, and the generated record it is stated from, which must
agree with the committed benchmark output and be exactly what the generator writes."""

from dataclasses import replace
from pathlib import Path

import pytest

from rwtheory.report import overhead
from rwtheory.report.overhead import StepBenchmark, measured, overhead_claim, record_json

ROOT = Path(__file__).resolve().parents[2]
BENCH = StepBenchmark(1.0, 1.0, 0.5, 0.1, "tiny model", "cpu")


def test_record_agrees_with_the_committed_benchmark_output():
    text = (ROOT / "benchmarks" / "results" / "bench_lm_step.txt").read_text(encoding="utf-8")
    assert measured() == StepBenchmark.parse(text), (
        "rerun `python benchmarks/bench_lm_step.py --out benchmarks/results/bench_lm_step.txt "
        "--record` so that the record and the committed output agree"
    )


def test_record_file_is_what_the_generator_writes_and_reads_back(tmp_path, monkeypatch):
    record = Path(overhead.__file__).with_name(overhead.RECORD)
    assert record.read_text(encoding="utf-8") == record_json(measured())
    tricky = replace(BENCH, setup="a 'quoted' \"setup\" " * 12, device="cuda")
    monkeypatch.setattr(overhead, "RECORD", "tricky.json")
    monkeypatch.setattr(
        overhead.resources, "files", lambda package: tmp_path
    )  # the package data folder, here a scratch one
    (tmp_path / "tricky.json").write_text(record_json(tricky), encoding="utf-8")
    assert measured() == tricky


@pytest.mark.parametrize(
    ("ratio", "status"),
    [
        (0.97, "holds with caveat"),
        (overhead.TARGET_RATIO, "holds with caveat"),
        (1.0201, "fails"),
        (1.5, "fails"),
    ],
)
def test_status_follows_the_ratio_against_the_target(ratio, status):
    c = overhead_claim(replace(BENCH, ratio=ratio))
    assert c.status == status and c.stable
    assert c.number.startswith(f"step time ratio {ratio:.4f} ")


def test_default_claim_states_the_record():
    c = overhead_claim()
    m = measured()
    assert f"{m.ratio:.4f}" in c.number and f"{m.loss_overhead_ms:.3f} ms" in c.number
    assert c.status == ("holds with caveat" if m.ratio <= 1.02 else "fails")
    assert (
        "no GPU" in c.number
        and "no GPU" not in overhead_claim(replace(BENCH, device="cuda")).number
    )


def test_parse_names_what_is_missing():
    with pytest.raises(ValueError, match="ratio"):
        StepBenchmark.parse("# bench_lm_step: x\n# device cpu\n")
    body = (
        "# device cpu\nstep ratio of medians 1.0 median paired ratio 1.0\n"
        "loss overhead 0.5 ms = 0.1 % of a step\n"
    )
    assert StepBenchmark.parse("# bench_lm_step: m\n" + body).setup == "m"
    with pytest.raises(ValueError, match="header"):
        StepBenchmark.parse(body)
