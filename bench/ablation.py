"""The freezing grid with the frozen prefix computed once, against training every grid model plainly.

Side by side in one run, each in its own empty cache, on real data (the mirror):
``lib.experiments.freezing_grid`` (frozen layers run once per example, stored, advanced layer by
layer) against ``lib.finetune.get_or_train`` for each boundary k (the frozen layers recomputed
at every step and every evaluation). Both train the same models; the bench checks their test
scores and training losses agree, and reports the wall-clock ratio, beside the ratio to expect if
only the encoder's layers cost anything (a frozen layer in a plain run costs its forward pass, not
its backward, so the stored prefix saves forward passes only; the head, the data and the
evaluation dilute it further).

    .venv/bin/python bench/ablation.py [--task sentiment --n-train 600 --grid 0,1,2,3,4,5,6 --seeds 0]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch

from lib.book.parameters import load_profile
from lib.encoders.runtime import resolve_runtime
from lib.experiments import Ablation, freezing_grid
from lib.finetune import Finetuning, get_or_train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--n-train", type=int, default=600)
    parser.add_argument("--n-eval", type=int, default=500)
    parser.add_argument("--grid", default="0,1,2,3,4,5,6")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    values = load_profile(args.profile)
    finetuning = Finetuning.from_parameters({**values, "seeds": [int(s) for s in args.seeds.split(",")]})
    ablation = Ablation(grid=[int(k) for k in args.grid.split(",")], n_train={args.task: args.n_train},
                        batch_size=values["ablation_batch_size"], n_eval=args.n_eval)
    runtime = resolve_runtime(args.device, data_dir=os.environ.get("BOOK_DATA_DIR"))
    result = {"task": args.task, "n_train": args.n_train, "n_eval": args.n_eval, "grid": list(ablation.grid),
              "seeds": list(finetuning.seeds), "device": runtime.device, "threads": torch.get_num_threads()}

    os.environ["BOOK_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-plain-")
    start = time.perf_counter()
    plain = [get_or_train(ablation.config(finetuning, args.task, seed, k), runtime, progress=False)
             for k in ablation.grid for seed in finetuning.seeds]
    result["plain_s"] = round(time.perf_counter() - start, 1)

    os.environ["BOOK_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-prefix-")
    start = time.perf_counter()
    fast = freezing_grid(finetuning, ablation, args.task, runtime, progress=False)
    result["prefix_s"] = round(time.perf_counter() - start, 1)

    result["speedup"] = round(result["plain_s"] / result["prefix_s"], 2)
    n_layers = 6 if finetuning.model == "minilm" else None
    if n_layers:  # if only the encoder's layers cost anything: a forward is 1 unit, a backward 2
        grid = list(ablation.grid)  # plain: the frozen bottom runs forward (no backward) at every step
        plain = sum(3 * (n_layers - k) + k for k in grid)
        stored = sum(3 * (n_layers - k) for k in grid) + max(grid)  # the bottom's forward, once
        result["encoder_only_speedup"] = round(plain / stored, 2)
    result["max_score_difference"] = max(abs(a.metrics[m] - b.metrics[m])
                                         for a, b in zip(plain, fast) for m in a.metrics)
    result["max_loss_difference"] = float(max(
        np.max(np.abs(np.array([h["value"] for h in a.history]) - np.array([h["value"] for h in b.history])))
        for a, b in zip(plain, fast)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
