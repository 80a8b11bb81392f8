"""Peak memory of fine-tuning several models for one chapter, as chapter 2 does: three ways, side by side.

Each way runs in a fresh process with its own empty cache, on real data: the ``cpu`` profile's
models of ``--tasks`` (seed 0), one after the other, through ``lib.get_or_train_all`` (chapter 2's
call). A sampler reads, every 0.2 s, the memory of that process and every process under it
(``/proc/<pid>/smaps_rollup``): the largest single resident set (RSS) and the largest total
proportional set (PSS: shared pages counted once), so a way that trains in child processes is
charged for them.

- *fresh*: the library as it is: each model in a fresh process forked from a preloaded
  forkserver (``lib.parallel.run_isolated``), which ends with its model.
- *here*: every model in the calling process (``BOOK_ISOLATE=0``), ``release_memory`` after each.
- *defaults*: in the calling process without the trim and with oneDNN's default cache of 1,024
  kernels.

All three train the same weights (checked); printed: each way's peaks, the ratios to *fresh*, and
the wall-clock times.

    .venv/bin/python bench/memory.py [--tasks nli,sentiment,parsing]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

CHILD = """
import json, sys, time
import lib.finetune.store as store
from lib.book.parameters import load_profile
from lib.encoders.runtime import resolve_runtime
from lib.finetune.config import Finetuning
if sys.argv[1] == "defaults":
    store.release_memory = lambda: None
start = time.perf_counter()
finetuning, runtime = Finetuning.from_parameters(load_profile("cpu")), resolve_runtime("cpu")
models = store.get_or_train_all([finetuning.config(task, 0) for task in sys.argv[2].split(",")], runtime,
                                progress=False)
print(json.dumps({"seconds": time.perf_counter() - start, "weights": [m.manifest["weights_sha256"] for m in models]}))
"""


def _tree(root: int) -> list[int]:
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    parents.setdefault(int(handle.read().rsplit(")", 1)[1].split()[1]), []).append(int(name))
            except OSError:
                pass
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack += parents.get(pid, [])
    return tree


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB, 0 when it is gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                parts = line.split()
                if parts[0] in ("Rss:", "Pss:"):
                    values[parts[0]] = int(parts[1])
    except (OSError, IndexError, ValueError):
        pass
    return values.get("Rss:", 0), values.get("Pss:", 0)


def run(way: str, tasks: str) -> dict:
    env = dict(os.environ, BOOK_ISOLATE="1" if way == "fresh" else "0")
    if way == "defaults":
        env["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = "1024"
    with tempfile.TemporaryDirectory() as cache:
        env["BOOK_CACHE_DIR"] = cache
        child = subprocess.Popen([sys.executable, "-c", CHILD, way, tasks], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        peaks = {"rss": 0, "pss": 0}

        def sample() -> None:
            while child.poll() is None:
                sizes = [_memory(pid) for pid in _tree(child.pid)]
                peaks["rss"] = max(peaks["rss"], max((rss for rss, _ in sizes), default=0))
                peaks["pss"] = max(peaks["pss"], sum(pss for _, pss in sizes))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        out, err = child.communicate()
        sampler.join()
        if child.returncode:
            raise SystemExit(f"{way}: the training process failed:\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_rss_gb": peaks["rss"] / 1e6,
            "peak_pss_gb": peaks["pss"] / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="nli,sentiment,parsing")
    args = parser.parse_args()
    ways = {way: run(way, args.tasks) for way in ("fresh", "here", "defaults")}
    assert len({tuple(w["weights"]) for w in ways.values()}) == 1, "the ways trained different weights"
    report = {"bench": "memory", "tasks": args.tasks}
    for way, result in ways.items():
        report.update({f"peak_rss_gb_{way}": round(result["peak_rss_gb"], 2),
                       f"peak_pss_gb_{way}": round(result["peak_pss_gb"], 2), f"seconds_{way}": round(result["seconds"])})
    for way in ("here", "defaults"):
        report[f"peak_pss_ratio_{way}_to_fresh"] = round(ways[way]["peak_pss_gb"] / ways["fresh"]["peak_pss_gb"], 3)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
