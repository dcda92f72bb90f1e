"""benchmarks/gpu.py --dry-run: every code path of ours (loss variants, the paired training
steps, the sync counts, the float16 check) and the result writing run on tiny shapes on the
CPU; a peer that is missing or needs CUDA is recorded, not fatal."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_script_dry_run_writes_its_results(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu.py"),
            "--dry-run",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "gpu"),
        ],
        capture_output=True,
        text=True,
        timeout=500,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "gpu" / "gpu.json").read_text())
    text = (tmp_path / "gpu" / "gpu.txt").read_text()
    assert [item["vocab"] for item in results["loss"]] == [64, 256]
    for item in results["loss"]:
        ours = item["variants"]["ours"]
        assert ours["status"] == "ok" and ours["time_ms"] > 0
        assert item["variants"]["ours_1g"]["max_nll_diff_to_ours"] <= 1e-6
        for peer in ("cce", "liger"):  # on the CPU: not installed, or failing without CUDA
            assert item["variants"][peer]["status"] != "ok"
        assert item["vs_faster_peer"] == "no peer ran"
    step = results["step"]["variants"]
    assert set(step) == {"stock", "ours_logits", "ours_chunked"}
    assert step["ours_chunked"]["median_paired_ratio"] > 0
    syncs = results["syncs"]
    assert syncs["core_check_false_eager"] == 0
    assert syncs["reweighter_compiled_fullgraph_5_steps"] == 0
    assert syncs["reweighter_default_checked_1_step"] == 1
    assert syncs["float16_large_logits"]["max_abs_logit"] > 65504
    assert syncs["float16_large_logits"]["finite"]
    assert "V = 256" in text and "syncs:" in text
    assert (
        "--device: the measurements need CUDA"
        in subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "gpu.py"),
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "x"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stderr
    )
