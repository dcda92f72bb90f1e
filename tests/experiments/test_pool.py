"""The worker pool: one BLAS thread per spawned worker, the parent's environment restored,
bad worker counts refused."""

import os

import pytest

from rwtheory.experiments import pool

_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", *pool.PORTABLE)


def _environment() -> dict:
    return {k: os.environ.get(k) for k in _VARS}


def _pinned() -> tuple[bool, str]:
    """What the pins select in a worker: numpy's AVX-512 dispatch, torch's kernels."""
    import numpy as np
    import torch

    return (
        bool(np._core._multiarray_umath.__cpu_features__["AVX512F"]),
        torch.backends.cpu.get_cpu_capability(),
    )


def test_workers_run_one_blas_thread_and_the_parent_environment_is_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    for name in ("OPENBLAS_NUM_THREADS", *pool.PORTABLE):
        monkeypatch.delenv(name, raising=False)
    with pool.process_pool(2) as ex:
        seen = [ex.submit(_environment).result() for _ in range(3)]
        pids = {ex.submit(os.getpid).result() for _ in range(4)}
        avx512, torch_isa = ex.submit(_pinned).result()
    expected = {**dict.fromkeys(_VARS[:3], "1"), **pool.PORTABLE}
    assert all(env == expected for env in seen)
    assert not avx512 and torch_isa == "AVX2"
    assert os.getpid() not in pids
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ
    assert not set(pool.PORTABLE) & set(os.environ)
    with pool.process_pool(1, portable=False) as ex:
        env = ex.submit(_environment).result()
    assert all(env[k] is None for k in pool.PORTABLE) and env["MKL_NUM_THREADS"] == "1"


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2"])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ValueError, match=r"workers must be an integer >= 1"):
        with pool.process_pool(workers):
            pass


def test_default_workers_is_the_usable_cores():
    n = pool.default_workers()
    assert n >= 1
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))


def _sleep_then_write(path, seconds):
    import time

    try:  # the flag inside the try: an interrupt right after it still writes the outcome
        path.with_suffix(".started").write_text("")
        time.sleep(seconds)
    except KeyboardInterrupt:
        path.write_text("interrupted")
        raise
    path.write_text("finished")


def test_an_interrupt_stops_running_tasks_at_once_and_lets_them_unwind(tmp_path):
    """Also when this process ignores SIGINT (as under ``nohup ... &``): the workers do not."""
    import time

    flags = [tmp_path / f"task{i}" for i in range(3)]
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with pool.process_pool(2) as ex:
            futures = [ex.submit(_sleep_then_write, f, 120) for f in flags]
            while len(list(tmp_path.glob("*.started"))) < 2:  # both workers busy
                assert time.monotonic() - start < 60
                time.sleep(0.05)
            raise KeyboardInterrupt
    assert time.monotonic() - start < 60  # not the 120 s of a task
    # both running tasks unwound; the one already handed to a worker was stopped unfinished
    assert [f.read_text() for f in flags[:2]] == ["interrupted", "interrupted"]
    assert not flags[2].exists() or flags[2].read_text() == "interrupted"
    assert all(f.done() for f in futures)
