"""The training loop: one fine-tuned encoder from a config.

A lean loop (our choice over Hugging Face ``Trainer``): AdamW with a linear warm-up and decay,
the encoder and the head on their own learning rates, length-grouped batches with dynamic
padding (on a GPU packed into rows of ``max_length`` tokens, :mod:`lib.finetune.packing`), bf16
autocast where the device has fast bf16 kernels (fp16 with a gradient scaler on an older GPU),
gradient clipping at 1.0, on a CPU activations recomputed in the backward pass for wide batches
(:data:`RECOMPUTE_ABOVE`: the same weights, less memory), a fixed budget of ``steps`` optimizer steps (as many passes over the
training set as that takes; the last one cut where the budget ends), an evaluation on dev at
:data:`DEV_POINTS` evenly spaced steps (the dev curve) and a checkpoint every ``checkpoint_every`` steps. All randomness derives from ``seed``, the epoch and the step (batch
order per epoch, dropout per step), so a run resumed from its checkpoint ends with the same
weights as one that was never interrupted. Under ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE`` > 1) each process takes
every n-th batch and DDP averages the gradients; process 0 evaluates and writes.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Mapping, NamedTuple

import torch
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

from lib.encoders.layers import freeze_layers
from lib.encoders.loading import load_encoder, sentence_pooling
from lib.encoders.runtime import Runtime, deterministic_kernels
from lib.finetune import checkpoints
from lib.finetune.config import FinetuneConfig
from lib.finetune.features import collate, encode_task, length_grouped_batches
from lib.finetune.heads import TaskModel, make_head
from lib.finetune.packing import pack
from lib.finetune.metrics import evaluate
from lib.finetune.tasks import TaskData, load_task
from lib.errors import InputError

LOG_EVERY = 10  # steps between two points of the training-loss curve
DEV_POINTS = 5  # evaluations on dev, evenly spaced over the step budget (the last at its end)
# On a CPU a batch wider than this many subwords keeps no layer's activations for the backward pass
# but recomputes them there (activation checkpointing, torch's RNG state restored, so the same
# dropout and the same weights): a batch of 32 parsing sentences of 256 subwords held about 2 GB of
# attention maps. Our choice; the few long batches of a length-grouped epoch pay for it.
RECOMPUTE_ABOVE = 128


def dev_steps(steps: int) -> set[int]:
    """The steps after which training evaluates on dev: :data:`DEV_POINTS` evenly spaced, the last
    one ``steps``.

    >>> sorted(dev_steps(200))
    [40, 80, 120, 160, 200]
    >>> sorted(dev_steps(2))
    [1, 2]
    """
    return {max(1, round(steps * i / DEV_POINTS)) for i in range(1, DEV_POINTS + 1)}


def _step_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


def _optimizer(model: TaskModel, config: FinetuneConfig, total_steps: int, device: str = "cpu"):
    groups = []
    for part, lr in ((model.encoder, config.learning_rate), (model.head, config.head_learning_rate)):
        named = [(n, p) for n, p in part.named_parameters() if p.requires_grad]
        decay = [p for n, p in named if p.ndim > 1 and "LayerNorm" not in n]
        rest = [p for n, p in named if not (p.ndim > 1 and "LayerNorm" not in n)]
        groups += [{"params": decay, "lr": lr, "weight_decay": config.weight_decay},
                   {"params": rest, "lr": lr, "weight_decay": 0.0}]
    # on a GPU, the fused kernel: one launch per step instead of several per parameter tensor
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], fused=True if device.startswith("cuda") else None)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler


def _to(batch: dict, device: str) -> dict:
    """The batch on ``device``; to a GPU from pinned memory, without waiting for the copy."""
    if not device.startswith("cuda"):
        return {k: v.to(device) for k, v in batch.items()}
    return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}


def _mean(losses: list[torch.Tensor]) -> float:
    """The mean of losses kept on the device: one copy to the host, not one per loss."""
    return float(torch.stack(losses).cpu().double().mean())


def recompute_wide_batches(encoder: torch.nn.Module) -> Callable[[int], None]:
    """``set_width(n)``: before a batch of ``n`` subwords, whether the encoder's layers recompute
    their activations in the backward pass (above :data:`RECOMPUTE_ABOVE`) or keep them."""
    from functools import partial

    from torch.utils.checkpoint import checkpoint
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in encoder.modules() if isinstance(m, GradientCheckpointingLayer)]
    for layer in layers:
        layer._gradient_checkpointing_func = partial(checkpoint, use_reentrant=False)

    def set_width(n: int) -> None:
        for layer in layers:
            layer.gradient_checkpointing = n > RECOMPUTE_ABOVE

    return set_width


def build_model(config: FinetuneConfig, n_labels: int, runtime: Runtime) -> TaskModel:
    """The encoder (pre-trained weights, or random-init) with a freshly seeded head, frozen as asked;
    a classifier head pools as the checkpoint was trained to (:func:`sentence_pooling`)."""
    encoder = load_encoder(config.model, device="cpu", seed=config.seed, attention=runtime.attention)
    torch.manual_seed(config.seed)
    head = make_head(config.task, encoder.hidden_size, n_labels, pooling=sentence_pooling(config.model))
    model = TaskModel(encoder.model, head, config.freeze_below)
    freeze_layers(model.encoder, config.freeze_below)
    model.tokenizer = encoder.tokenizer
    return model.to(runtime.device).train()


class Prepared(NamedTuple):
    """A task's data and its encoded splits: what :func:`prepare` returns and training reads."""

    data: TaskData
    features: tuple[list[dict], list[dict], list[dict]]  # train, dev, test


def prepare(config: FinetuneConfig, tokenizer, data_dir: str | None = None,
            hub_files: Mapping[str, str] | None = None) -> Prepared:
    """``config``'s task data, its splits encoded by ``tokenizer``."""
    data = _load(config, data_dir, hub_files)
    return Prepared(data, _encode(data, tokenizer, config.max_length))


def _load(config: FinetuneConfig, data_dir: str | None, hub_files: Mapping[str, str] | None) -> TaskData:
    return load_task(config.task, config.n_train, config.n_dev, config.n_test, config.dataset, data_dir, hub_files)


def _encode(data: TaskData, tokenizer, max_length: int) -> tuple[list[dict], list[dict], list[dict]]:
    return tuple(encode_task(split, tokenizer, data, max_length) for split in (data.train, data.dev, data.test))


def train(config: FinetuneConfig, folder: Path, identity: dict, runtime: Runtime, progress: bool,
          checkpoint_every: int, hub_files: Mapping[str, str] | None = None,
          prepared: Prepared | None = None) -> dict:
    """Fine-tune and store in ``folder`` (the store's place for ``identity``); returns the manifest.
    Resumes from ``<folder>.partial`` when a checkpoint is there (the manifest's ``resumed_from``
    lists the steps). On a GPU it runs with deterministic kernels where torch has them."""
    with deterministic_kernels(runtime.device):
        return _train(config, folder, identity, runtime, progress, checkpoint_every, hub_files, prepared)


def _train(config: FinetuneConfig, folder: Path, identity: dict, runtime: Runtime, progress: bool,
           checkpoint_every: int, hub_files: Mapping[str, str] | None, prepared: Prepared | None) -> dict:
    if prepared is None:  # the data first: the head's size is its label count; then encoded by the model's tokenizer
        data = _load(config, runtime.data_dir, hub_files)
        model = build_model(config, len(data.labels), runtime)
        features = _encode(data, model.tokenizer, config.max_length)
    else:
        data, features = prepared
        model = build_model(config, len(data.labels), runtime)
    train_features, dev_features, test_features = features
    pad_id = model.tokenizer.pad_token_id
    packs = config.packs(runtime)
    lengths = [len(f["input_ids"]) for f in train_features]
    per_epoch = len(length_grouped_batches(lengths, config.batch_size, seed=0)) // runtime.world
    if per_epoch == 0:
        raise InputError(f"{len(train_features)} training examples make fewer batches of {config.batch_size} "
                         f"than processes ({runtime.world}): nothing would be trained. Raise n_train or lower "
                         "the batch size or the number of processes")
    optimizer, scheduler = _optimizer(model, config, config.steps, runtime.device)
    partial = folder.with_name(folder.name + ".partial")
    scaler = runtime.grad_scaler()
    state = checkpoints.load_partial(partial, model, optimizer, scheduler, scaler)
    if state is None:
        state = {"step": 0, "history": [], "running": [], "resumed_from": []}
    else:
        state["resumed_from"] = [*state.get("resumed_from", []), state["step"]]
    trained = runtime.wrap(model)
    set_width = recompute_wide_batches(model.encoder) if runtime.device_type == "cpu" else None
    bar = tqdm(total=config.steps, initial=state["step"], desc=f"fine-tuning {config.task}",
               disable=not progress or runtime.rank != 0)
    # losses since the last point of the curve, on the device (a resumed run's too)
    running = [torch.tensor(v, dtype=torch.float32, device=runtime.device) for v in state["running"]]
    evaluations = dev_steps(config.steps)
    for epoch in range(-(-config.steps // per_epoch)):  # passes over the data until the budget is spent
        batches = length_grouped_batches(lengths, config.batch_size, seed=config.seed * 1000 + epoch)
        batches = batches[runtime.rank::runtime.world][:per_epoch]
        for index, rows in enumerate(batches):
            step = epoch * per_epoch + index + 1
            if step > config.steps:
                break
            if step <= state["step"]:
                continue
            torch.manual_seed(_step_seed(config.seed, step))
            batch = collate([train_features[i] for i in rows], pad_id)
            batch = _to(pack(batch, config.max_length, pad_id) if packs else batch, runtime.device)
            if set_width is not None:
                set_width(batch["attention_mask"].shape[1])
            with runtime.autocast():
                loss, _ = trained(batch)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # clip the true gradients
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)  # skipped (and the scale lowered) where an fp16 gradient overflowed
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running.append(loss.detach().float())  # read at the next point of the curve: no sync per step
            bar.update(1)
            if step % LOG_EVERY == 0 or step == config.steps:
                state["history"].append({"step": step, "epoch": epoch + 1, "split": "train", "metric": "loss",
                                         "value": _mean(running)})
                running.clear()
            if step in evaluations and runtime.rank == 0:
                dev = evaluate(model, dev_features, config.task, pad_id, records=data.dev,
                               precision=runtime.precision)
                state["history"] += [{"step": step, "epoch": epoch + 1, "split": "dev", "metric": name,
                                      "value": value} for name, value in dev.items()]
            state["step"] = step
            if (step % checkpoint_every == 0 or step == config.steps) and runtime.rank == 0:
                checkpoints.save_partial(partial, model, optimizer, scheduler,
                                         dict(state, running=[float(v) for v in running]), scaler)
    bar.close()
    manifest = {"task": config.task, "model": config.model, "seed": config.seed, "dataset": data.dataset,
                "labels": list(data.labels), "config": config.describe(runtime), "identity": identity,
                "history": state["history"], "resumed_from": state["resumed_from"],
                "sizes": {"train": len(data.train), "dev": len(data.dev), "test": len(data.test)}}
    if runtime.rank == 0:
        manifest["metrics"], manifest["test_items"] = evaluate(model, test_features, config.task, pad_id,
                                                               records=data.test, precision=runtime.precision,
                                                               items=True)
        checkpoints.save_model(folder, model, manifest)
        shutil.rmtree(partial, ignore_errors=True)
    runtime.barrier()
    return checkpoints.read_manifest(folder)
