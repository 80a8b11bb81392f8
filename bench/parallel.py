"""One thread per job, one job per core: why chapters 2, 3 and 5 run their jobs side by side.

Measures, in one run on this machine, the same fine-tunes (a few real cpu-profile steps of each
task, tiny samples, a throwaway store) three ways:

- ``threads``: one after another in this process on every core (torch's default);
- ``one_thread``: one after another on one thread (what each worker does);
- ``side_by_side``: :func:`lib.finetune.get_or_train_all`, one single-threaded worker per core.

and prints the ratios: ``one_thread / threads`` (how much a job slows on one thread) and
``threads / side_by_side`` (the speed-up the chapters get). Same configs, fresh store each way.

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/parallel.py [--steps 20] [--tasks nli,sentiment,parsing]

The last line printed is the JSON summary.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace

import torch

from lib.book.parameters import load_profile
from lib.encoders.runtime import resolve_runtime
from lib.finetune import Finetuning, get_or_train, get_or_train_all
from lib.parallel import cores, one_thread


def _timed(label: str, configs, run) -> float:
    os.environ["BOOK_CACHE_DIR"] = tempfile.mkdtemp(prefix=f"bench-parallel-{label}-")
    start = time.perf_counter()
    run(configs)
    seconds = time.perf_counter() - start
    print(json.dumps({"way": label, "seconds": round(seconds, 1)}), flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--tasks", default="nli,sentiment,parsing")
    args = parser.parse_args()
    values = load_profile(args.profile)
    finetuning = Finetuning.from_parameters(values)
    runtime = resolve_runtime("cpu", values["data_dir"])
    configs = [replace(finetuning.config(task, seed), steps=args.steps, n_train=args.steps * 32, n_dev=32, n_test=64)
               for task in args.tasks.split(",") for seed in (0, 1)]
    threads = _timed("threads", configs, lambda cs: [get_or_train(c, runtime, progress=False) for c in cs])

    def alone(cs):
        with one_thread():
            return [get_or_train(c, runtime, progress=False) for c in cs]

    single = _timed("one_thread", configs, alone)
    side = _timed("side_by_side", configs, lambda cs: get_or_train_all(cs, runtime, progress=False))
    print(json.dumps({"cores": cores(), "torch_threads": torch.get_num_threads(), "models": len(configs),
                      "steps": args.steps, "seconds": {"threads": round(threads, 1), "one_thread": round(single, 1),
                                                       "side_by_side": round(side, 1)},
                      "one_thread_over_threads": round(single / threads, 2),
                      "speedup_side_by_side": round(threads / side, 2)}))


if __name__ == "__main__":
    main()
