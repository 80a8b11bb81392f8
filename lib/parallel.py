"""Independent jobs of a chapter on every CPU core: one single-threaded process per core.

A chapter's expensive work is a list of independent jobs (nine fine-tunes, eleven probed encoders)
whose operations are small: on the book's 2-core machine a fine-tuning step on one thread takes
about 1.35x its time on two, a probe stack about 1.4x (measured: ``bench/parallel.py``), so the
second thread of one process mostly waits. Two one-thread processes, each on its own job, do about
1.45x the work. On a GPU (or under torchrun) jobs run in this process, one after another.

Every job on a CPU runs on one thread, in a worker or (a single job, a single core) in this process,
so a result does not depend on how many jobs were missing from the store when it was computed.
A job writes its result to the artifact store; the caller reads it back from there. Workers are
spawned (not forked: torch's thread pools do not survive a fork), so a job is a module-level
function and picklable arguments. ``BOOK_WORKERS`` caps the number of worker processes.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence

from lib.encoders.runtime import Runtime
from lib.errors import InputError


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_count(runtime: Runtime, jobs: int) -> int:
    """How many worker processes ``jobs`` jobs get on ``runtime``: 0 (run here) on a GPU, under
    torchrun, for fewer than two jobs or on one core; else one per core, at most one per job and at
    most ``$BOOK_WORKERS``.

    >>> from lib.encoders.runtime import Runtime
    >>> worker_count(Runtime("cuda", "bf16", "sdpa"), 9), worker_count(Runtime("cpu", "bf16", "eager"), 1)
    (0, 0)
    """
    if runtime.device_type != "cpu" or runtime.world > 1 or jobs < 2:
        return 0
    limit = os.environ.get("BOOK_WORKERS", "").strip()
    if limit and not (limit.isdigit() and int(limit) >= 1):
        raise InputError(f"BOOK_WORKERS must be an integer >= 1 (worker processes), got {limit!r}")
    n = min(jobs, cores(), int(limit) if limit else jobs)
    return n if n >= 2 else 0


@contextlib.contextmanager
def one_thread():
    """torch, and the BLAS under numpy and scikit-learn, on one thread inside the block."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def _start_worker() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    from lib.encoders.runtime import steady_malloc

    steady_malloc()
    torch.set_num_threads(1)
    global _LIMITS
    _LIMITS = threadpool_limits(1)  # kept for the worker's life


_LIMITS = None


def _run(job: Callable, args: tuple):
    """One job in a worker; afterwards the worker lets go of what the next job will not need: the
    parsed data files it kept and the memory its tensors freed."""
    from lib.data.loaders import _parse_once
    from lib.encoders.runtime import release_memory

    try:
        return job(*args)
    finally:
        _parse_once.cache_clear()
        release_memory()


def run_jobs(job: Callable, jobs: Sequence[tuple], runtime: Runtime) -> list:
    """``[job(*args) for args in jobs]``, on :func:`worker_count` single-threaded processes where
    that pays (results in the order of ``jobs``). On a CPU each job runs on one thread wherever it
    runs; on a GPU, here, as they come."""
    jobs = list(jobs)
    n = worker_count(runtime, len(jobs))
    if n == 0:
        if runtime.device_type != "cpu":
            return [job(*args) for args in jobs]
        with one_thread():
            return [job(*args) for args in jobs]
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker) as pool:
        return list(pool.map(_run, [job] * len(jobs), jobs))


__all__ = ["cores", "one_thread", "run_jobs", "worker_count"]
