"""Training-step throughput: the book's recipes against the plain one and HF ``Trainer``, in one run.

Variants (``--variants``, comma-separated; the default is all of them that can run here):

- plain:    fp32, eager attention, every batch padded to ``max_length``, batches in random order;
- ours:     the book's loop on a CPU: the precision and attention kernel the runtime picks (bf16
            autocast where the device has fast bf16 kernels; SDPA on a GPU), length-grouped batches
            padded to their own longest member, fused AdamW and pinned, non-blocking copies on a GPU;
- packed:   the book's loop on a GPU: as ours, each batch packed into rows of ``max_length`` tokens
            (:mod:`lib.finetune.packing`);
- compiled: packed, with the encoder under ``torch.compile`` (default on a GPU only: compiling takes
            minutes on a CPU);
- trainer:  Hugging Face ``Trainer`` (bf16 where the runtime picks it, the same batch size and model,
            batches padded to their longest member); skipped where ``accelerate`` is not installed
            (``pip install -r bench/requirements.txt``).

All train the same encoder and classifier head on the same SNLI pairs. Throughput counts real
(non-padding) tokens. ``tflops_per_s`` counts the useful work on those tokens, as PaLM's appendix B
does: 6 x the parameters outside the embeddings per token, plus the attention scores and sums,
12 x layers x hidden x each example's length squared (forward and backward; padding and the blocks
a packed row masks out are not useful work). ``mfu`` divides it by ``--peak-tflops``.

``--trace DIR`` profiles ``--trace-steps`` steps of the first of packed / ours that runs
(``torch.profiler``): ``DIR/trace.json.gz`` (open it in Perfetto, https://ui.perfetto.dev), ``DIR/ops.txt``
(the operators by self time) and, in the JSON, the ten costliest operators and how busy the device
was. The last line printed is the JSON. ``--shape bert-base`` times a random-init model of
BERT-base's shape (no hub needed), e.g. on a GPU:
``--device cuda --shape bert-base --peak-tflops 989 --trace out/``.

    BOOK_DATA_DIR=<mirror> .venv/bin/python bench/finetune.py [--examples 640]
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig

from lib.data import NLI_LABELS, load_snli
from lib.encoders.families import family_of
from lib.encoders.loading import load_encoder, minilm_path
from lib.encoders.runtime import resolve_runtime
from lib.finetune.features import collate, encode_classification, length_grouped_batches
from lib.finetune.heads import ClassifierHead, TaskModel
from lib.finetune.loop import _to
from lib.finetune.packing import layout_tokens, pack

VARIANTS = ("plain", "ours", "packed", "compiled", "trainer")


def make_model(shape: str, attention: str, device: str) -> TaskModel:
    if shape == "bert-base":
        encoder = AutoModel.from_config(BertConfig(), attn_implementation=attention)  # bert-base-uncased's shape
    else:
        encoder = load_encoder("minilm", attention=attention).model
    torch.manual_seed(0)
    return TaskModel(encoder, ClassifierHead(encoder.config.hidden_size, 3)).to(device).train()


def useful_flops(model: TaskModel, lengths: list[int]) -> float:
    """Forward and backward FLOPs of training on examples of ``lengths`` real tokens (PaLM, app. B)."""
    family = family_of(model.encoder)
    outside = {id(p) for path in family.bottom_at + family.unused_at if family._find(path) is not None
               for p in family._find(path).parameters()}
    dense = sum(p.numel() for p in model.parameters() if id(p) not in outside)
    config = model.encoder.config
    lengths = np.asarray(lengths, dtype=np.float64)
    return 6 * dense * lengths.sum() + 12 * config.num_hidden_layers * config.hidden_size * (lengths ** 2).sum()


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _rates(model: TaskModel, seconds: float, samples: int, lengths: list[int], layout: int) -> dict:
    flops = useful_flops(model, lengths)
    return {"samples_per_s": round(samples / seconds, 1), "real_tokens_per_s": round(sum(lengths) / seconds),
            "padding": round(1 - sum(lengths) / layout, 3), "tflops_per_s": round(flops / seconds / 1e12, 3)}


def time_loop(model: TaskModel, features: list[dict], batches: list, pad_id: int, runtime, *, pad_to=None,
              packing: int | None = None, fused: bool = False, warmup: int = 3, trace: Path | None = None,
              trace_steps: int = 0) -> dict:
    """Train on ``batches`` and time every step after ``warmup``; with ``trace``, profile ``trace_steps``
    of them (and time the rest)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True if fused else None)
    sync, device = _sync(runtime.device), runtime.device
    plain_copy = pad_to is not None  # the plain recipe: a blocking copy from pageable memory
    steps, samples, lengths, layout, start, profiler, profile = 0, 0, [], 0, None, None, None
    for step, rows in enumerate(batches):
        if step == warmup:
            sync()
            start = time.perf_counter()
            if trace is not None:
                profiler = _start_profiler(device)
        batch = collate([features[i] for i in rows], pad_id, pad_to)
        if packing:
            batch = pack(batch, packing, pad_id)
        batch = {k: v.to(device) for k, v in batch.items()} if plain_copy else _to(batch, device)
        with runtime.autocast():
            loss, _ = model(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            steps += 1
            samples += len(rows)
            lengths += [len(features[i]["input_ids"]) for i in rows]
            layout += layout_tokens(batch)
        if profiler is not None and step + 1 == warmup + trace_steps:
            sync()
            profile = _stop_profiler(profiler, device, trace, time.perf_counter() - start)
            sync()
            steps, samples, lengths, layout, start, profiler = 0, 0, [], 0, time.perf_counter(), None
    sync()
    result = dict(_rates(model, time.perf_counter() - start, samples, lengths, layout), steps_timed=steps)
    if trace is not None:
        result["profile"] = profile
    return result


def _start_profiler(device: str):
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.startswith("cuda"):
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    profiler = torch.profiler.profile(activities=activities)
    profiler.__enter__()
    return profiler


def _stop_profiler(profiler, device: str, folder: Path, wall: float) -> dict:
    """Write the trace and the operator table; the ten costliest operators by self time, and the share
    of the wall time the device spent in kernels (on a GPU)."""
    profiler.__exit__(None, None, None)
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "trace.json"
    profiler.export_chrome_trace(str(raw))
    with raw.open("rb") as source, gzip.open(folder / "trace.json.gz", "wb") as target:
        shutil.copyfileobj(source, target)  # a tenth of the size; Perfetto opens it as it is
    raw.unlink()
    on_gpu = device.startswith("cuda")
    sort = "self_cuda_time_total" if on_gpu else "self_cpu_time_total"
    events = profiler.key_averages()
    (folder / "ops.txt").write_text(events.table(sort_by=sort, row_limit=40))

    def self_us(event) -> float:
        return event.self_device_time_total if on_gpu else event.self_cpu_time_total

    total = sum(self_us(e) for e in events)
    top = sorted(events, key=self_us, reverse=True)[:10]
    out = {"wall_s": round(wall, 3), "clock": "device" if on_gpu else "cpu",
           "top_ops": [{"op": e.key, "calls": e.count, "self_ms": round(self_us(e) / 1e3, 2),
                        "share": round(self_us(e) / total, 3) if total else None} for e in top]}
    if on_gpu:
        out["device_busy"] = round(total / 1e6 / wall, 3)  # kernel time over wall time: below 1, the host waits
    return out


def time_trainer(model: TaskModel, features: list[dict], batch_size: int, n_steps: int, pad_id: int, runtime,
                 warmup: int = 3) -> dict:
    """HF ``Trainer`` on the same model, batch size and examples (random order, padded per batch)."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class Loss(torch.nn.Module):  # Trainer's interface: keyword inputs in, a dict with the loss out
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, **batch):
            return {"loss": self.model(batch)[0]}

    seen: list[list[int]] = []

    def collator(rows):
        seen.append([len(r["input_ids"]) for r in rows])
        return collate(rows, pad_id)

    sync, clock = _sync(runtime.device), {}

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                sync()
                clock["start"] = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            sync()
            clock["stop"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch_size, max_steps=n_steps,
                                 learning_rate=5e-5, bf16=runtime.precision == "bf16",
                                 fp16=runtime.precision == "fp16", use_cpu=runtime.device == "cpu",
                                 report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True,
                                 dataloader_drop_last=True, remove_unused_columns=False, seed=0)
        Trainer(model=Loss(), args=args, train_dataset=features, data_collator=collator,
                callbacks=[Clock()]).train()
    lengths = [n for rows in seen[warmup:n_steps] for n in rows]
    layout = sum(len(rows) * max(rows) for rows in seen[warmup:n_steps])
    return dict(_rates(model, clock["stop"] - clock["start"], (n_steps - warmup) * batch_size, lengths, layout),
                steps_timed=n_steps - warmup)


def _has_trainer() -> bool:
    try:
        import accelerate  # noqa: F401  (Trainer needs it)
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=640)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", default="minilm", choices=["minilm", "bert-base"])
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="the device's dense bf16 peak, for MFU")
    parser.add_argument("--variants", default="", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--warmup", type=int, default=3, help="steps left untimed (compiled: 4 times as many)")
    parser.add_argument("--trace", type=Path, help="profile the packed (else ours) variant; write here")
    parser.add_argument("--trace-steps", type=int, default=5)
    args = parser.parse_args()
    on_gpu = args.device.startswith("cuda")
    wanted = [v for v in args.variants.split(",") if v] or [
        v for v in VARIANTS if (v != "compiled" or on_gpu) and (v != "trainer" or _has_trainer())]
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
    if "trainer" in wanted and not _has_trainer():
        parser.error("the trainer variant needs accelerate: pip install -r bench/requirements.txt")

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    pad_id = tokenizer.pad_token_id
    features = encode_classification(load_snli("train")[: args.examples], tokenizer, "nli", NLI_LABELS,
                                     args.max_length)
    lengths = [len(f["input_ids"]) for f in features]
    shuffled = np.random.default_rng(0).permutation(len(features))
    random_batches = [shuffled[i:i + args.batch_size] for i in range(0, len(shuffled) - args.batch_size + 1,
                                                                        args.batch_size)]
    grouped = [b for b in length_grouped_batches(lengths, args.batch_size, seed=0) if len(b) == args.batch_size]
    runtime = resolve_runtime(args.device)
    plain_runtime = runtime.with_precision("fp32")
    traced = next((v for v in ("packed", "ours") if v in wanted), None) if args.trace else None
    for variant in wanted:  # every variant times at least one step after its warm-up (and profile)
        needs = args.warmup * (4 if variant == "compiled" else 1) + (args.trace_steps if variant == traced else 0) + 1
        have = len(random_batches if variant in ("plain", "trainer") else grouped)
        if have < needs:
            parser.error(f"{args.examples} examples make {have} full batches of {args.batch_size}; the {variant} "
                         f"variant needs {needs} (warm-up, profiled and timed steps): raise --examples")
    results = {}
    for variant in wanted:
        trace = dict(trace=args.trace, trace_steps=args.trace_steps) if variant == traced else {}
        if variant == "plain":
            results[variant] = time_loop(make_model(args.shape, "eager", args.device), features, random_batches,
                                         pad_id, plain_runtime, pad_to=args.max_length, warmup=args.warmup)
        elif variant == "trainer":
            results[variant] = time_trainer(make_model(args.shape, runtime.attention, args.device), features,
                                            args.batch_size, len(random_batches), pad_id, runtime, args.warmup)
        else:
            model = make_model(args.shape, runtime.attention, args.device)
            if variant == "compiled":
                model.encoder = torch.compile(model.encoder)
            results[variant] = time_loop(
                model, features, grouped, pad_id, runtime, packing=args.max_length if variant != "ours" else None,
                fused=on_gpu, warmup=args.warmup * (4 if variant == "compiled" else 1), **trace)
    if args.peak_tflops:
        for result in results.values():
            result["mfu"] = round(result["tflops_per_s"] / args.peak_tflops, 4)

    def ratios(base: str) -> dict:
        return {name: round(r["samples_per_s"] / results[base]["samples_per_s"], 2)
                for name, r in results.items() if name != base} if base in results else {}

    print(json.dumps({"shape": args.shape, "device": args.device,
                      "device_name": torch.cuda.get_device_name(args.device) if on_gpu else "cpu",
                      "examples": args.examples, "batch_size": args.batch_size, "max_length": args.max_length,
                      "recipe": {"precision": runtime.precision, "attention": runtime.attention},
                      "variants": results, "speedup_vs_plain": ratios("plain"),
                      "speedup_vs_trainer": ratios("trainer")}))


if __name__ == "__main__":
    main()
