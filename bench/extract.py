"""Extraction throughput: ours against the naive path, side by side in one run.

- naive: batches in corpus order, ``output_hidden_states=True`` in fp32, every layer's whole
  padded tensor copied to the host, then each word's first subword picked out in numpy;
- ours: :func:`lib.encoders.extract_layers` (length-sorted batches, the device's precision,
  pooling on the device, one copy to the host per batch).

The ratio is what to read, not the absolute numbers; ``max_relative_diff`` says how far ours
(in bf16 where the device has it) is from the fp32 vectors.

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/extract.py [--device cuda] [--shape bert-base]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from lib.data import load_ewt
from lib.encoders import extract_layers, load_encoder, resolve_runtime
from lib.encoders.extraction import extraction_precision, tokenize_words

SHAPES = {"minilm": "minilm", "bert-base": "random-init:bert-base"}  # bert-base: its shape, no hub needed


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def naive(encoder, sentences: list[list[str]], batch_size: int) -> np.ndarray:
    device = encoder.model.device
    out = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        encoded = [tokenize_words(encoder.tokenizer, words) for words in chunk]
        padded = encoder.tokenizer.pad({"input_ids": [ids for ids, _ in encoded]}, return_tensors="pt")
        states = encoder.model(input_ids=padded["input_ids"].to(device),
                               attention_mask=padded["attention_mask"].to(device),
                               output_hidden_states=True).hidden_states
        hidden = np.stack([h.cpu().numpy() for h in states])  # (layers, batch, tokens, hidden)
        for row, (_, word_ids) in enumerate(encoded):
            first = {}
            for t, w in enumerate(word_ids):
                if w is not None:
                    first.setdefault(w, t)
            out.append(hidden[:, row, [first[w] for w in range(len(chunk[row]))]])
    return np.concatenate(out, axis=1)


def timed(device: str, run) -> tuple[float, object]:
    _sync(device)
    start = time.perf_counter()
    result = run()
    _sync(device)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="minilm")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    runtime = resolve_runtime(args.device)
    device = runtime.device
    encoder = load_encoder(SHAPES[args.shape], device=device)
    sentences = [r.words for r in load_ewt("dev")[: args.sentences]]
    n_words = sum(map(len, sentences))
    extract_layers(encoder, sentences[:16], progress=False, precision="auto")  # warm-up, both paths
    naive(encoder, sentences[:16], args.batch_size)
    ours_s, reps = timed(device, lambda: extract_layers(encoder, sentences, batch_size=args.batch_size,
                                                        progress=False, precision="auto"))
    naive_s, reference = timed(device, lambda: naive(encoder, sentences, args.batch_size))
    relative = np.linalg.norm(reps.vectors - reference, axis=-1) / np.linalg.norm(reference, axis=-1).clip(1e-12)
    print(json.dumps({
        "device": device, "shape": args.shape, "sentences": len(sentences), "words": n_words,
        "layers": len(reps.layers), "batch_size": args.batch_size,
        "precision": extraction_precision(runtime.device_type, "auto"), "threads": torch.get_num_threads(),
        "ours_words_per_s": round(n_words / ours_s), "naive_words_per_s": round(n_words / naive_s),
        "speedup": round(naive_s / ours_s, 2), "max_relative_diff": float(relative.max()),
    }))


if __name__ == "__main__":
    main()
