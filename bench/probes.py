"""Chapter 3's edge probes of one model: one probe at a time against the stacked probes, side by side.

- one at a time: every per-layer probe and cumulative mix of a task trained alone, in fp32;
- stacked: the same probes as one :class:`lib.probing.edge_probe.EdgeProbes` stack, in fp32;
- stacked, bf16: the stack with its large products in bf16 (``precision="auto"`` on a CPU with
  native bf16 kernels, as the book runs).

Same vectors (MiniLM on EWT train and test), same targets and settings; the ratio of wall-clock
times is the result, with each variant's mean score over its probes beside it (they differ by
initial draws and rounding, not by method).

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/probes.py [--task deprel] [--sentences 400] [--epochs 2]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from lib.encoders.runtime import resolve_runtime
from lib.finetune.vectors import Pretrained
from lib.probing.edge_probe import EdgeTraining, fit_edge_probes, layer_masks, score_edge_probes
from lib.probing.runner import EdgeTask, probe_sentences


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="deprel", choices=["upos", "deprel"])
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    train_records, test_records = probe_sentences(args.sentences, args.sentences)
    runtime = resolve_runtime("cpu")
    train, test = (Pretrained("minilm").layers(part, runtime, pooling="subwords", progress=False)
                   for part in (train_records, test_records))
    edge = EdgeTask.of(args.task, train, test, train_records, test_records)
    masks = layer_masks(len(train.layers), cumulative=True)

    def run(stacks, precision):
        start, scores = time.perf_counter(), []
        for chosen in stacks:
            probes = fit_edge_probes(train.vectors, edge.train_spans, edge.train.labels, edge.label_set, 0,
                                     EdgeTraining(epochs=args.epochs, precision=precision), masks=chosen)
            scores += score_edge_probes(probes, test.vectors, edge.test_spans, edge.test.labels, edge.label_set)
        return time.perf_counter() - start, float(np.mean(scores))

    results = {"one at a time, fp32": run([m[None] for m in masks], "fp32"),
               "stacked, fp32": run([masks], "fp32"),
               "stacked, bf16 where native": run([masks], "auto")}
    base = results["one at a time, fp32"][0]
    print(json.dumps({"task": args.task, "probes": len(masks), "targets": len(edge.train),
                      "results": {name: {"seconds": round(t, 1), "speedup": round(base / t, 2),
                                         "mean_score": round(s, 4)} for name, (t, s) in results.items()}}, indent=1))


if __name__ == "__main__":
    main()
