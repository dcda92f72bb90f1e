"""Worker processes for the independent tasks of a job: the robustness study's chunks, the LM
study's training runs, and the figures and claim checks of ``rwtheory reproduce``.

:func:`process_pool` is a :class:`concurrent.futures.ProcessPoolExecutor` whose processes
are started with ``spawn`` (a fresh interpreter: nothing inherited from the parent, the same
on every platform) and one BLAS/OpenMP thread each, so that K workers use K cores and do not
oversubscribe them. Assumption, which every task of this package satisfies: a task owns its
seeds and its thread count, so it computes the same bytes in any worker, in any order, as
alone in the main process (the tests compare the outputs of 1 and 2 workers byte for byte).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

__all__ = ["default_workers", "one_blas_thread", "process_pool"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_workers() -> int:
    """Worker processes when the user does not say: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """While active, processes started from here inherit one BLAS/OpenMP thread each (the
    variables are read when a child loads its libraries; this process's own libraries,
    already loaded, are not affected). The previous values are restored on exit."""
    old = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    os.environ.update({k: "1" for k in _THREAD_VARIABLES})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes with one BLAS thread each (see the module
    docstring). Workers are started on demand, at submission, so the thread variables stay
    set for the life of the pool; on exit (also on an exception or Ctrl-C) the tasks not yet
    started are cancelled and the workers are joined."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    with one_blas_thread():
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
