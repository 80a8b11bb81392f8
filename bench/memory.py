"""Peak memory of fine-tuning several models in one process, as chapter 2 does: ours against the defaults.

Side by side in one run, each in a fresh process with its own empty cache, on real data: the
``cpu`` profile's models of ``--tasks`` (seed 0), one after the other, as chapter 2's kernel
trains them. *Ours*: the library as it is (``release_memory`` after each model hands freed heap
back to the system; oneDNN keeps 16 compiled kernels). *Defaults*: no trim and oneDNN's default
cache of 1,024 kernels. Both train the same weights; the bench checks that and reports each
process's peak resident memory (``VmHWM``), the ratio, and the wall-clock times.

    .venv/bin/python bench/memory.py [--tasks sentiment,parsing]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import json, sys, time
import lib.finetune.store as store
from lib.book.parameters import load_profile
from lib.encoders.runtime import resolve_runtime
from lib.finetune.config import Finetuning
if sys.argv[1] == "defaults":
    store.release_memory = lambda: None
start, weights = time.perf_counter(), []
finetuning, runtime = Finetuning.from_parameters(load_profile("cpu")), resolve_runtime("cpu")
for task in sys.argv[2].split(","):
    weights.append(store.get_or_train(finetuning.config(task, 0), runtime, progress=False).manifest["weights_sha256"])
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"peak_gb": peak / 1e6, "seconds": time.perf_counter() - start, "weights": weights}))
"""


def run(variant: str, tasks: str) -> dict:
    env = dict(os.environ)
    if variant == "defaults":
        env["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = "1024"
    with tempfile.TemporaryDirectory() as cache:
        env["BOOK_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, "-c", CHILD, variant, tasks], env=env, capture_output=True,
                             text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="sentiment,parsing")
    args = parser.parse_args()
    ours, defaults = run("ours", args.tasks), run("defaults", args.tasks)
    assert ours["weights"] == defaults["weights"], "the two variants trained different weights"
    print(json.dumps({"bench": "memory", "tasks": args.tasks, "peak_gb_ours": round(ours["peak_gb"], 2),
                      "peak_gb_defaults": round(defaults["peak_gb"], 2),
                      "peak_ratio": round(ours["peak_gb"] / defaults["peak_gb"], 3),
                      "seconds_ours": round(ours["seconds"]), "seconds_defaults": round(defaults["seconds"])}))


if __name__ == "__main__":
    main()
