"""Independent jobs of a chapter side by side, one single-threaded process per core: opt-in.

A chapter's expensive work is a list of independent jobs (nine fine-tunes, eleven probed encoders,
six ablation grids). On a machine with many cores, one single-threaded worker per job can do more
work than one process whose torch threads mostly wait on small operations. On the book's 2-core
machine it does not, so the default runs the jobs one after another in this process, on all its
threads. Measured there (``bench/parallel.py``, and the chapters): two workers trained chapter 2's
fine-tunes in 150-170 s each against 65-80 s one after another on two threads, and probed two
fine-tuned models in 87.9 s against 69.5 s.

``BOOK_WORKERS=N`` (N >= 2) opts in: the jobs then run on up to N spawned worker processes (not
forked: torch's thread pools do not survive a fork), each on one thread, so a job is a module-level
function with picklable arguments and writes its result to the artifact store, where the caller
reads it. A worker's result is bit-identical to the same job on one thread here (tested). On a GPU
or under torchrun, jobs always run here, one after another.
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
    """How many worker processes ``jobs`` jobs get on ``runtime``: ``$BOOK_WORKERS`` (unset: 0, run
    here), at most one per job and per core; 0 on a GPU, under torchrun, or for fewer than two.

    >>> from lib.encoders.runtime import Runtime
    >>> worker_count(Runtime("cuda", "bf16", "sdpa"), 9), worker_count(Runtime("cpu", "bf16", "eager"), 1)
    (0, 0)
    """
    limit = os.environ.get("BOOK_WORKERS", "").strip()
    if limit and not (limit.isdigit() and int(limit) >= 1):
        raise InputError(f"BOOK_WORKERS must be an integer >= 1 (worker processes; unset: none), got {limit!r}")
    if not limit or runtime.device_type != "cpu" or runtime.world > 1 or jobs < 2:
        return 0
    n = min(jobs, cores(), int(limit))
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
    """``[job(*args) for args in jobs]`` (results in the order of ``jobs``): here, one after another,
    or on :func:`worker_count` single-threaded worker processes when ``$BOOK_WORKERS`` asks."""
    jobs = list(jobs)
    n = worker_count(runtime, len(jobs))
    if n == 0:
        return [job(*args) for args in jobs]
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker) as pool:
        return list(pool.map(_run, [job] * len(jobs), jobs))


__all__ = ["cores", "one_thread", "run_jobs", "worker_count"]
