"""Extractor throughput: batched, length-sorted extraction against the slow reference.

Both run in this process on the same EWT dev sentences with the packaged MiniLM, one after the
other; the ratio is what to read, not the absolute numbers.

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/extract.py [--sentences 300]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_extract import slow_reference  # noqa: E402  (the reference the tests hold it against)

from lib.data import load_ewt  # noqa: E402
from lib.encoders import extract_layers, load_encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    encoder = load_encoder("minilm")
    sentences = [r.words for r in load_ewt("dev")[: args.sentences]]
    n_words = sum(map(len, sentences))
    extract_layers(encoder, sentences[:8], progress=False)  # warm-up

    start = time.perf_counter()
    reps = extract_layers(encoder, sentences, batch_size=args.batch_size, progress=False)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    reference = np.concatenate([slow_reference(encoder, words, "first") for words in sentences], axis=1)
    slow = time.perf_counter() - start

    print(json.dumps({
        "sentences": len(sentences), "words": n_words, "threads": torch.get_num_threads(),
        "batched_words_per_s": round(n_words / batched), "reference_words_per_s": round(n_words / slow),
        "speedup": round(slow / batched, 2),
        "max_abs_diff": float(np.abs(reps.vectors - reference).max()),
    }))


if __name__ == "__main__":
    main()
