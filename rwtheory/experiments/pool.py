"""Worker processes for the independent tasks of a job: the robustness study's chunks, the LM
study's training runs, and the figures and claim checks of ``rwtheory reproduce``.

:func:`process_pool` is a :class:`concurrent.futures.ProcessPoolExecutor` whose processes
are started with ``spawn`` (a fresh interpreter: nothing inherited from the parent, the same
on every platform) and one BLAS/OpenMP thread each, so that K workers use K cores and do not
oversubscribe them. Assumption, which every task of this package satisfies: a task owns its
seeds and its thread count, so it computes the same bytes in any worker, in any order, as
alone in the main process (the tests compare the outputs of 1 and 2 workers byte for byte).

Same bytes on another machine: the workers are started with the CPU pins of
:mod:`rwtheory.experiments.pins` (every library on its AVX2 code path), and every task of
the job verifies them before it computes (:func:`rwtheory.experiments.pins.require_pinned`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

__all__ = ["default_workers", "one_blas_thread", "process_pool"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes with one BLAS thread each and the CPU pins of
    :func:`rwtheory.experiments.pins.variables` (see the module docstring). Workers are
    started on demand, at submission, so the variables stay set for the life of the pool; on
    exit (also on an exception or Ctrl-C) the tasks not yet started are cancelled and the
    workers are joined. A worker whose parent dies (any signal, SIGKILL included) stops
    within :data:`ORPHAN_GRACE` seconds (:func:`_worker_init`)."""
    from rwtheory.experiments import pins

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    with one_blas_thread(pins.variables()):
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )
        try:
            yield pool
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True)


#: Seconds between a worker's looks at its parent, and before an orphan that did not unwind
#: after its interrupt is ended.
ORPHAN_POLL = 0.5
ORPHAN_GRACE = 5.0


def _worker_init(parent: int) -> None:
    """In each worker: SIGINT raises KeyboardInterrupt even where the parent was started with
    it ignored (``nohup cmd &`` in a shell without job control passes SIG_IGN on, and Python
    then keeps it), so that :func:`_stop` can interrupt the worker's task; and a daemon thread
    watches the parent: once it is gone (the worker is re-parented), the worker interrupts
    itself, so that its task unwinds as after a Ctrl-C (atomic writes remove their
    temporaries), and ends ``ORPHAN_GRACE`` seconds later if it has not. Polling is the
    portable way (Linux's parent-death signal follows the spawning *thread*, not process)."""
    import threading

    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    import time

    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(ORPHAN_GRACE)
    os._exit(1)


def _stop(pool: ProcessPoolExecutor, grace: float = 10.0) -> None:
    """Stop at once (Ctrl-C, SIGTERM, an error): cancel the queued tasks and interrupt the
    running ones with SIGINT, so that they unwind as after a Ctrl-C (their atomic writes
    remove their temporaries) instead of running to their end. A worker still alive a second
    later (it took the task already handed to it, which cannot be cancelled) is interrupted
    again; one still alive after ``grace`` seconds (it ignores SIGINT) is terminated. Reads
    the executor's process table (``_processes``: the standard library has no public way to
    stop a running task before Python 3.14)."""
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
