"""Worker processes for the independent tasks of a job: the robustness study's chunks, the LM
study's training runs, and the figures and claim checks of ``rwtheory reproduce``.

:func:`process_pool` is a :class:`concurrent.futures.ProcessPoolExecutor` whose processes
are started with ``spawn`` (a fresh interpreter: nothing inherited from the parent, the same
on every platform) and one BLAS/OpenMP thread each, so that K workers use K cores and do not
oversubscribe them. Assumption, which every task of this package satisfies: a task owns its
seeds and its thread count, so it computes the same bytes in any worker, in any order, as
alone in the main process (the tests compare the outputs of 1 and 2 workers byte for byte).

Same bytes on another machine. The outputs of ``rwtheory reproduce`` were found to differ
between two x86-64 machines of this project (an Intel CPU with AVX-512 and an AMD EPYC
without): numpy's float64 ``exp`` has an AVX-512 kernel that rounds differently from the C
library's, and OpenBLAS, MKL and torch pick their kernels by CPU. Most rows agree; the
chaotic LinUpper r = 0.1 runs of ``r_sensitivity`` and the float32 LM study amplify
last-bit differences into printed digits. :data:`PORTABLE` pins every one of those choices to
its AVX2 code path in the workers (numpy's AVX-512 dispatch off, OpenBLAS's Haswell kernels,
MKL's AVX2 path, torch's AVX2 kernels). On an AVX2 machine such as the AMD EPYC the pins
change no bit (measured: the same output bytes with and without); on an AVX-512 machine they
are meant to select the same code paths, at some cost in speed (numpy's ``exp`` falls back to
the C library's) -- expected, not verified, as no AVX-512 machine was at hand when they were
added. Non-x86 machines (ARM) use other kernels and are not covered.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

__all__ = ["PORTABLE", "default_workers", "one_blas_thread", "process_pool"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: The workers' SIMD code paths, pinned to AVX2 (see the module docstring).
PORTABLE = {
    "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
    "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
    "MKL_CBWR": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}


def default_workers() -> int:
    """Worker processes when the user does not say: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def one_blas_thread(extra: dict[str, str] | None = None) -> Iterator[None]:
    """While active, processes started from here inherit one BLAS/OpenMP thread each and the
    variables ``extra`` (read when a child loads its libraries; this process's own libraries,
    already loaded, are not affected). The previous values are restored on exit."""
    values = {**dict.fromkeys(_THREAD_VARIABLES, "1"), **(extra or {})}
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def process_pool(workers: int, *, portable: bool = True) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes with one BLAS thread each and, ``portable``,
    the SIMD pins of :data:`PORTABLE` (see the module docstring). Workers are started on demand, at submission, so the thread variables stay
    set for the life of the pool; on exit (also on an exception or Ctrl-C) the tasks not yet
    started are cancelled and the workers are joined."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    with one_blas_thread(PORTABLE if portable else None):
        pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_interruptible
        )
        try:
            yield pool
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True)


def _interruptible() -> None:
    """In each worker: SIGINT raises KeyboardInterrupt even where the parent was started with
    it ignored (``nohup cmd &`` in a shell without job control passes SIG_IGN on, and Python
    then keeps it), so that :func:`_stop` can interrupt the worker's task."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _stop(pool: ProcessPoolExecutor, grace: float = 10.0) -> None:
    """Stop at once (Ctrl-C, SIGTERM, an error): cancel the queued tasks and interrupt the
    running ones with SIGINT, so that they unwind as after a Ctrl-C (their atomic writes
    remove their temporaries) instead of running to their end. A worker still alive a second
    later (it took the task already handed to it, which cannot be cancelled) is interrupted
    again; one still alive after ``grace`` seconds (it ignores SIGINT) is terminated. Reads the executor's process table (``_processes``:
    the standard library has no public way to stop a running task before Python 3.14)."""
    import time

    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        alive = [proc for proc in processes if proc.is_alive()]
        if not alive:
            return
        for proc in alive:  # again after a while: a worker may have taken its next task
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
        for proc in alive:
            proc.join(min(1.0, max(0.0, deadline - time.monotonic())))
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
            proc.join()
