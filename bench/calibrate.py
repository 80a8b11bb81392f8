"""The encoder learning rate of a profile, calibrated on dev: each task fine-tuned at each rate of a
grid, with the profile's sizes, step budget and seed 0, scored on 1,000 dev examples (the test
score is printed beside it, never used to choose).

The grid spans a factor of 30 in steps of about 3: 3e-5 (BERT's fine-tuning grid, Devlin et al.
2019, is 2e-5 to 5e-5), 1e-4 (which Turc et al. 2019 include for compact BERTs like MiniLM), 3e-4
and 1e-3; a best rate at either edge would say the grid is too narrow. The book uses the
rate with the best mean rank over the tasks (the profile's ``learning_rate``); chapter 2 shows the
table this writes to ``lib/profiles/calibration-<profile>.json``.

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/calibrate.py [--profile cpu]
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from lib.book.parameters import load_profile
from lib.encoders.runtime import resolve_runtime
from lib.finetune import MAIN_METRIC, Finetuning, get_or_train

GRID = (3e-5, 1e-4, 3e-4, 1e-3)
DEV = 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    values = load_profile(args.profile)
    finetuning, runtime = Finetuning.from_parameters(values), resolve_runtime(values["device"], values["data_dir"])
    rows = []
    for task in values["tasks"]:
        for rate in GRID:
            config = replace(finetuning.config(task, 0), learning_rate=rate, n_dev=DEV).check()
            start = time.perf_counter()
            run = get_or_train(config, runtime, progress=False)
            dev = [h for h in run.history if h["split"] == "dev" and h["metric"] == MAIN_METRIC[task]][-1]["value"]
            rows.append({"task": task, "learning_rate": rate, "metric": MAIN_METRIC[task], "dev": dev,
                         "test": run.metrics[MAIN_METRIC[task]], "seconds": round(time.perf_counter() - start)})
            print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    table["rank"] = table.groupby("task").dev.rank(ascending=False)
    best = float(table.groupby("learning_rate")["rank"].mean().idxmin())
    out = Path(__file__).resolve().parents[1] / "lib" / "profiles" / f"calibration-{args.profile}.json"
    out.write_text(json.dumps({"profile": args.profile, "grid": list(GRID), "dev_examples": DEV, "seed": 0,
                               "n_train": {t: values["n_train"][t] for t in values["tasks"]},
                               "steps": values["train_steps"], "best": best,
                               "rows": table.drop(columns=["seconds", "test"]).to_dict("records")},
                              indent=1) + "\n", encoding="utf-8")
    print(f"best learning rate: {best:g} (profile {args.profile} uses {values['learning_rate']:g}); wrote {out}")


if __name__ == "__main__":
    main()
