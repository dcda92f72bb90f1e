"""The Accelerate and Lightning examples (examples/lm_accelerate.py, examples/lm_lightning.py)
run for 3 steps on 2 CPU processes (gloo) with the libraries' own launchers, and their
averaged gradients and objectives equal the same script run in one process on the same
global batches: on the first step (identical parameters) to 1e-6, on the later steps (after
AdamW updates that carry the float32 rounding of the sums in different orders) to 1e-5."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.distributed, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["--steps", "3", "--warmup-steps", "0", "--seq-len", "12"]


def _run(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=500, cwd=tmp_path, env=env, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]


def _compare(one, two):
    a = torch.load(one / "rank0.pt", weights_only=False)
    b = torch.load(two / "rank0.pt", weights_only=False)
    assert len(a["grads"]) == len(b["grads"]) == 3
    for step, (ga, gb) in enumerate(zip(a["grads"], b["grads"], strict=True)):
        worst = max(float((ga[k] - gb[k]).abs().max()) for k in ga)
        assert worst <= (1e-6 if step == 0 else 1e-5), f"step {step}: {worst:.2e}"
    assert max(float(g.abs().max()) for g in a["grads"][0].values()) > 1e-3
    assert a["objective"] == pytest.approx(b["objective"], rel=1e-5)
    return a


def test_accelerate_launch_on_two_processes_equals_one_process(tmp_path):
    script = str(ROOT / "examples" / "lm_accelerate.py")
    _run([sys.executable, script, *COMMON, "--batch-size", "8", "--cpu", "--dump", "one"], tmp_path)
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    _run(
        [
            launcher,
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            script,
            *COMMON,
            "--batch-size",
            "4",
            "--cpu",
            "--dump",
            "two",
        ],
        tmp_path,
    )
    _compare(tmp_path / "one", tmp_path / "two")


def test_lightning_ddp_on_two_processes_equals_one_process(tmp_path):
    pytest.importorskip("lightning")
    script = str(ROOT / "examples" / "lm_lightning.py")
    _run([sys.executable, script, *COMMON, "--batch-size", "8", "--dump", "one"], tmp_path)
    _run(
        [sys.executable, script, *COMMON, "--batch-size", "4", "--devices", "2", "--dump", "two"],
        tmp_path,
    )
    _compare(tmp_path / "one", tmp_path / "two")
