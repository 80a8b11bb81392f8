"""Fine-tuning quality on a profile (default ``cpu``) against the book's targets.

Gets or trains every (task, seed) of the profile through the store, so after ``make book`` it
only evaluates. Parsing is also scored on the whole EWT dev set, where its target is set.

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/quality.py [--profile cpu]
"""
from __future__ import annotations

import argparse
import json
import time

from lib.book.parameters import load_profile, profile_finetuning
from lib.finetune import get_or_train, load_finetuned, load_task
from lib.finetune.features import encode_parsing
from lib.finetune.metrics import evaluate

TARGETS = {"nli": ("accuracy", 0.70, "SNLI test"), "sentiment": ("accuracy", 0.80, "held-out movie snippets"),
           "parsing": ("uas", 0.70, "EWT dev")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    values, finetuning = load_profile(args.profile), profile_finetuning(args.profile)
    rows = []
    for task in values["tasks"]:
        for seed in finetuning.seeds:
            start = time.perf_counter()
            run = get_or_train(finetuning.config(task, seed), data_dir=values["data_dir"] or None, progress=False)
            row = {"task": task, "seed": seed, "test": run["metrics"], "seconds": round(time.perf_counter() - start)}
            if task == "parsing":
                model = load_finetuned(run)
                dev = load_task("parsing", 1, 0, 1).dev
                row["dev"] = evaluate(model, encode_parsing(dev, model.tokenizer, tuple(run["labels"]), 256),
                                      "parsing", model.tokenizer.pad_token_id)
            metric, target, where = TARGETS.get(task, (None, None, None))
            if metric:
                value = (row.get("dev") or row["test"])[metric]
                row["target"] = f"{metric} >= {target} on {where}: {'met' if value >= target else 'MISSED'} ({value:.3f})"
            rows.append(row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
