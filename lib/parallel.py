"""A chapter's independent jobs: each in a fresh process of its own (the default on a CPU), or side by
side, one single-threaded process per core (opt-in).

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

**A fresh process per job** (the default on a CPU, ``BOOK_ISOLATE=0`` turns it off): without
workers, each job still runs in a process of its own, one after another on all this process's
threads, and that process ends with its job. A fine-tune leaves memory behind in the process that
ran it (the allocator's fragmented arenas, oneDNN's kernels, parsed data), so a chapter kernel that
trained nine models in turn peaked at 3.95 GB; a fresh process per fine-tune peaks at about 2 GB and
gives all of it back, and the kernel never holds a training run. The processes fork from a
*forkserver* that imported torch, transformers and ``lib`` once (and never ran a torch operation,
so its children's thread pools start clean), so a job starts in a fraction of a second, not the
seconds a spawned interpreter needs to import them. A job gets this process's environment and
thread count when it starts, and its result or its exception comes back here; its results are
bit-identical to the same job run here (tested).
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import traceback
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


ISOLATE_ENV = "BOOK_ISOLATE"
# what the forkserver imports once, so that a job's process starts with them loaded
PRELOAD = ["torch", "transformers", "lib", "lib.finetune.loop", "lib.finetune.store", "lib.probing.runner",
           "lib.experiments.ablation", "sklearn.linear_model", "sklearn.dummy"]


def isolates(runtime: Runtime) -> bool:
    """Whether :func:`run_jobs` runs each job in a fresh process of its own when no workers run them:
    on a CPU, in one process (not under torchrun), where the platform has a forkserver (Linux, macOS),
    unless ``$BOOK_ISOLATE`` is ``0``."""
    value = os.environ.get(ISOLATE_ENV, "").strip()
    if value not in ("", "0", "1"):
        raise InputError(f"{ISOLATE_ENV} must be 0 (every job runs in this process) or 1 (each in a fresh "
                         f"process; the default on a CPU), got {value!r}")
    return (value != "0" and runtime.device_type == "cpu" and runtime.world == 1
            and "forkserver" in multiprocessing.get_all_start_methods())


def runs_elsewhere(runtime: Runtime, jobs: int) -> bool:
    """Whether :func:`run_jobs` would run ``jobs`` jobs in other processes (workers or fresh ones)."""
    return jobs > 0 and (worker_count(runtime, jobs) > 0 or isolates(runtime))


def _forkserver():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # read when the server starts (once per process)
    return context


def _fresh(conn, job: Callable, args: tuple, environment: dict, threads: int) -> None:
    """In the fresh process: this caller's environment and threads, the job, its outcome sent back."""
    os.environ.clear()
    os.environ.update(environment)
    import torch

    torch.set_num_threads(threads)
    try:
        outcome = (True, job(*args))
    except BaseException as error:  # noqa: BLE001 (sent back and raised there)
        error.add_note("in the job's own process:\n" + "".join(traceback.format_exception(error)))
        outcome = (False, error)
    try:
        conn.send(outcome)
    except Exception as unsent:  # a result or exception that does not pickle
        conn.send((False, RuntimeError(f"{outcome[1]!r} could not come back from the job's process ({unsent})")))
    conn.close()


def run_isolated(job: Callable, args: tuple):
    """``job(*args)`` in a fresh process forked from the forkserver, on this process's threads and
    environment; its result returned, its exception raised here. The process ends with the job."""
    import torch

    context = _forkserver()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_fresh, args=(send, job, args, dict(os.environ), torch.get_num_threads()))
    process.start()
    send.close()
    try:
        try:
            ok, value = receive.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"the process running {getattr(job, '__name__', job)} ended without a result "
                               f"(exit status {process.exitcode}; -9 is usually the kernel's out-of-memory "
                               f"killer): run it with {ISOLATE_ENV}=0 to see it fail here") from None
        process.join()
    finally:
        if process.is_alive():  # interrupted: the job goes with us
            process.kill()
            process.join()
        receive.close()
    if not ok:
        raise value
    return value


def run_jobs(job: Callable, jobs: Sequence[tuple], runtime: Runtime, label: Callable | None = None) -> list:
    """``[job(*args) for args in jobs]`` (results in the order of ``jobs``): each in a fresh process,
    one after another (:func:`isolates`: the default on a CPU), on :func:`worker_count`
    single-threaded worker processes when ``$BOOK_WORKERS`` asks, or here. ``label(*args)``, when
    given, names a job in the line printed as it ends in another process (none for work done here,
    which shows its own progress)."""
    jobs = list(jobs)
    n = worker_count(runtime, len(jobs))
    if n == 0 and not (jobs and isolates(runtime)):
        return [job(*args) for args in jobs]
    if n == 0:
        results = []
        for i, args in enumerate(jobs):
            results.append(run_isolated(job, args))
            if label is not None:
                print(f"{label(*args)} ({i + 1} of {len(jobs)})", flush=True)
        return results
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker) as pool:
        return list(pool.map(_run, [job] * len(jobs), jobs))


__all__ = ["cores", "isolates", "one_thread", "run_isolated", "run_jobs", "runs_elsewhere", "worker_count"]
