"""Fine-tuning quality on a profile (default ``cpu``) against the book's targets.

Gets or trains every (task, seed) of the profile through the store, so after ``make book`` it
only evaluates. Parsing is also scored on the whole EWT dev set, where its target is set.

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/quality.py [--profile cpu]
"""
from __future__ import annotations

import argparse
import json
import time

from lib.book.parameters import load_profile
from lib.encoders.runtime import resolve_runtime
from lib.finetune import Finetuning, get_or_train, load_task
from lib.finetune.features import encode_parsing
from lib.finetune.metrics import evaluate

TARGETS = {"nli": ("accuracy", 0.70, "SNLI test"), "sentiment": ("accuracy", 0.80, "held-out movie snippets"),
           "parsing": ("uas", 0.70, "EWT dev")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    values = load_profile(args.profile)
    finetuning, runtime = Finetuning.from_parameters(values), resolve_runtime(values["device"], values["data_dir"])
    rows = []
    for task in values["tasks"]:
        for seed in finetuning.seeds:
            start = time.perf_counter()
            run = get_or_train(finetuning.config(task, seed), runtime, progress=False)
            row = {"task": task, "seed": seed, "test": run.metrics, "seconds": round(time.perf_counter() - start)}
            if task == "parsing":
                model = run.load()
                dev = load_task("parsing", 1, 0, 1, data_dir=runtime.data_dir).dev
                row["dev"] = evaluate(model, encode_parsing(dev, model.tokenizer, run.labels, 256),
                                      "parsing", model.tokenizer.pad_token_id)
            metric, target, where = TARGETS.get(task, (None, None, None))
            if metric:
                value = (row.get("dev") or row["test"])[metric]
                row["target"] = f"{metric} >= {target} on {where}: {'met' if value >= target else 'MISSED'} ({value:.3f})"
            rows.append(row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
