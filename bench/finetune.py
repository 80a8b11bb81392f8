"""Training-step throughput: the book's recipe against the plain one, side by side in one run.

- plain: fp32, eager attention, every batch padded to ``max_length``, batches in random order;
- ours:  bf16 autocast where the device has fast bf16 kernels, the attention kernel the runtime
  picks (eager on CPU, SDPA on GPU), length-grouped batches padded to their own longest member.

Both train the same encoder and classifier head on the same SNLI pairs with the same optimizer;
the ratio of samples per second is the result. ``--shape bert-base`` times a random-init model of
BERT-base's shape (no hub needed), e.g. on a GPU: ``--device cuda --shape bert-base --batch-size 128``.

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/finetune.py [--examples 640]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from transformers import AutoModel, BertConfig

from lib.data import NLI_LABELS, load_snli
from lib.encoders.loading import load_encoder, minilm_path
from lib.encoders.runtime import start_runtime
from lib.finetune.features import collate, encode_classification, length_grouped_batches
from lib.finetune.heads import ClassifierHead, TaskModel


def make_model(shape: str, attention: str, device: str) -> TaskModel:
    if shape == "bert-base":
        encoder = AutoModel.from_config(BertConfig(), attn_implementation=attention)  # bert-base-uncased's shape
    else:
        encoder = load_encoder("minilm", attention=attention).model
    torch.manual_seed(0)
    return TaskModel(encoder, ClassifierHead(encoder.config.hidden_size, 3)).to(device).train()


def time_recipe(model, features, batches, pad_id, pad_to, runtime, warmup: int = 2) -> dict:
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    sync = torch.cuda.synchronize if runtime.device.startswith("cuda") else (lambda: None)
    samples, tokens, start = 0, 0, None
    for step, rows in enumerate(batches):
        if step == warmup:
            sync()
            start = time.perf_counter()
        batch = {k: v.to(runtime.device) for k, v in collate([features[i] for i in rows], pad_id, pad_to).items()}
        with runtime.autocast():
            loss, _ = model(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            samples += len(rows)
            tokens += batch["input_ids"].numel()
    sync()
    seconds = time.perf_counter() - start
    n_params = sum(p.numel() for p in model.parameters())
    flops = 6 * n_params * tokens  # forward + backward, attention scores left out
    return {"samples_per_s": round(samples / seconds, 1), "tokens_per_s": round(tokens / seconds),
            "tflops_per_s": round(flops / seconds / 1e12, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=640)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", default="minilm", choices=["minilm", "bert-base"])
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="device bf16 peak, for MFU")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    records = load_snli("train")[: args.examples]
    features = encode_classification(records, tokenizer, "nli", NLI_LABELS, args.max_length)
    lengths = [len(f["input_ids"]) for f in features]
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(len(features))
    random_batches = [shuffled[i:i + args.batch_size] for i in range(0, len(shuffled), args.batch_size)]
    plain_runtime = start_runtime(args.device, "fp32", distributed=False)
    ours_runtime = start_runtime(args.device, "auto", distributed=False)
    results = {}
    results["plain"] = time_recipe(make_model(args.shape, "eager", args.device), features, random_batches,
                                   tokenizer.pad_token_id, args.max_length, plain_runtime)
    results["ours"] = time_recipe(make_model(args.shape, ours_runtime.attention, args.device), features,
                                  length_grouped_batches(lengths, args.batch_size, seed=0),
                                  tokenizer.pad_token_id, None, ours_runtime)
    if args.peak_tflops:
        for name in results:
            results[name]["mfu"] = round(results[name]["tflops_per_s"] / args.peak_tflops, 4)
    print(json.dumps({"shape": args.shape, "device": args.device, "examples": args.examples,
                      "batch_size": args.batch_size, "ours_recipe": {"precision": ours_runtime.precision,
                                                                "attention": ours_runtime.attention},
                      **results, "speedup": round(results["ours"]["samples_per_s"] /
                                                  results["plain"]["samples_per_s"], 2)}))


if __name__ == "__main__":
    main()
