"""The worker pool: one BLAS thread per spawned worker, the parent's environment restored,
bad worker counts refused."""

import os

import pytest

from rwtheory.experiments import pins, pool

_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_VARS = (*_THREADS, *pins.variables())


def _environment() -> dict:
    return {k: os.environ.get(k) for k in _VARS}


def _effective() -> tuple[list[str], pins.Effective]:
    """What is in effect in a worker: the pins' problems and the effective code paths."""
    return pins.problems(), pins.effective()


def test_workers_run_one_blas_thread_pinned_and_the_parent_environment_is_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    for name in ("OPENBLAS_NUM_THREADS", *pins.variables()):
        monkeypatch.delenv(name, raising=False)
    with pool.process_pool(2) as ex:
        seen = [ex.submit(_environment).result() for _ in range(3)]
        pids = {ex.submit(os.getpid).result() for _ in range(4)}
        problems, eff = ex.submit(_effective).result()
    expected = {**dict.fromkeys(_THREADS, "1"), **pins.variables()}
    assert all(env == expected for env in seen)
    # the effective code paths, not the hardware: numpy dispatches no function above its
    # pinned target, every OpenBLAS runs the Haswell kernels, torch its AVX2 kernels
    assert problems == [] and eff.numpy_off == ()
    if pins.pinnable():
        assert set(eff.openblas) <= {"Haswell"} and eff.torch in (None, "AVX2")
    assert os.getpid() not in pids
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ
    assert not set(pins.variables()) & set(os.environ)


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


_ORPHAN_TASKS = """
import os, pathlib, time

def sleeper(folder, i):
    pathlib.Path(folder, f"{i}.pid").write_text(str(os.getpid()))
    try:
        time.sleep(120)
    except KeyboardInterrupt:   # the interrupt of an orphaned worker unwinds the task
        pathlib.Path(folder, f"{i}.unwound").write_text("")
        raise
"""

_ORPHAN_PARENT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from orphan_tasks import sleeper
from rwtheory.experiments import pool

if __name__ == "__main__":
    with pool.process_pool(2) as ex:
        for i in range(2):
            ex.submit(sleeper, sys.argv[1], i)
        time.sleep(600)
"""


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux's /proc)."""
    out = set()
    for status in __import__("pathlib").Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == pid:
            out.add(int(status.parent.name))
    return out


def _running(pid: int) -> bool:
    """Alive and not a zombie (an ended child that PID 1 of a container may not reap)."""
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
def test_workers_and_resource_tracker_end_within_seconds_when_the_parent_is_killed(tmp_path):
    """SIGKILL of the parent (no clean-up runs there): every process it started -- the
    workers and multiprocessing's resource tracker -- ends within a few seconds, and the
    running tasks are interrupted (they unwind) instead of finishing their work."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "orphan_tasks.py").write_text(_ORPHAN_TASKS)
    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    try:
        start = time.monotonic()
        while len(list(tmp_path.glob("*.pid"))) < 2:
            assert time.monotonic() - start < 60 and parent.poll() is None
            time.sleep(0.05)
        children = _children(parent.pid)
        workers = {int(p.read_text()) for p in tmp_path.glob("*.pid")}
        assert workers <= children
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        killed = time.monotonic()
        while any(_running(pid) for pid in children) and time.monotonic() - killed < 30:
            time.sleep(0.1)
        ended_after = time.monotonic() - killed
    finally:
        if parent.poll() is None:
            parent.kill()
    assert not any(_running(pid) for pid in children), "orphans still running after 30 s"
    assert ended_after < pool.ORPHAN_POLL + pool.ORPHAN_GRACE + 2
    assert len(list(tmp_path.glob("*.unwound"))) == 2
