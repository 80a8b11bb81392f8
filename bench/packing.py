"""Packing keeps the quality: each task and seed of a profile fine-tuned padded and packed, on this device.

Packing (:mod:`lib.finetune.packing`) gives every example the padded batch's states, loss and
gradients; only dropout's draws differ. This trains (or finds in the store) both versions of each
model and prints the test metric of each, their difference, and the seed range of the padded
models for scale. On a GPU the packed models are the book's own (packing is the default there);
on a CPU both are trained, the packed one on a runtime resolved with ``packing="on"`` (what
``BOOK_PACKING=on`` sets).

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/packing.py [--profile cpu] [--tasks nli] [--seeds 0,1,2]

The last line printed is the JSON summary.
"""
from __future__ import annotations

import argparse
import json
import time

from lib.book.parameters import load_profile
from lib.encoders.runtime import resolve_runtime
from lib.finetune import MAIN_METRIC, Finetuning, get_or_train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--tasks", default="nli", help="comma-separated")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", default="", help="comma-separated; default: the profile's")
    args = parser.parse_args()
    values = load_profile(args.profile)
    finetuning = Finetuning.from_parameters(values)
    runtimes = {packing: resolve_runtime(args.device, values["data_dir"], packing=packing) for packing in ("off", "on")}
    summary = {}
    for task in args.tasks.split(","):
        metric, rows = MAIN_METRIC[task], []
        for seed in [int(s) for s in args.seeds.split(",") if s] or finetuning.seeds:
            row = {"task": task, "seed": seed}
            for packing in ("off", "on"):
                start = time.perf_counter()
                run = get_or_train(finetuning.config(task, seed), runtimes[packing], progress=False)
                row[{"off": "padded", "on": "packed"}[packing]] = round(run.metrics[metric], 4)
                row[f"{packing}_seconds"] = round(time.perf_counter() - start)
            row["difference"] = round(row["packed"] - row["padded"], 4)
            rows.append(row)
            print(json.dumps(row), flush=True)
        padded, packed = [r["padded"] for r in rows], [r["packed"] for r in rows]
        summary[task] = {"metric": metric, "padded_mean": round(sum(padded) / len(rows), 4),
                         "packed_mean": round(sum(packed) / len(rows), 4),
                         "mean_difference": round((sum(packed) - sum(padded)) / len(rows), 4),
                         "padded_seed_range": round(max(padded) - min(padded), 4), "seeds": len(rows)}
    print(json.dumps({"profile": args.profile, "tasks": summary}))


if __name__ == "__main__":
    main()
