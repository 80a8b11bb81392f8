"""One training entry for every task: get-or-train a fine-tuned encoder.

A lean loop (our choice over Hugging Face ``Trainer``): AdamW with a linear warm-up and decay,
the encoder and the head on their own learning rates, length-grouped batches with dynamic
padding, bf16 autocast where the device has fast bf16 kernels, gradient clipping at 1.0, an
evaluation on dev at the end of every epoch, and a checkpoint every ``checkpoint_every`` steps.
All randomness derives from ``seed``, the epoch and the step (batch order per epoch, dropout
per step), so a run resumed from its checkpoint ends with the same weights as one that was never
interrupted. Under ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE`` > 1) each process takes
every n-th batch and DDP averages the gradients; process 0 evaluates and writes.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

from lib import checkpoints
from lib.features import collate, encode_task, length_grouped_batches
from lib.heads import TaskModel, make_head
from lib.metrics import evaluate
from lib.models import freeze_layers, load_encoder, model_shape, pick_device
from lib.runtime import Runtime, start_runtime
from lib.tasks import check_task, load_task

TRAINER_VERSION = 1  # bump when a change to the training code changes its results
PRECISIONS = ("auto", "fp32", "bf16")
LOG_EVERY = 10  # steps between two points of the training-loss curve


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that changes a fine-tuned model (and so its store key).

    ``freeze_below=k``: the embeddings and transformer layers 1..k stay frozen, in eval mode (no
    dropout; our choice, which makes their output a fixed function of the input that
    :mod:`lib.ablation` computes once); 0: none; the model's layer count: the whole encoder, only
    the head trains. ``n_* <= 0``: the whole split.
    """

    task: str
    model: str = "minilm"
    seed: int = 0
    dataset: str = ""  # "" = the task's default (snli for nli)
    n_train: int = 8000
    n_dev: int = 1000
    n_test: int = 0
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-4
    head_learning_rate: float = 3e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 128
    freeze_below: int = 0
    precision: str = "auto"  # auto | fp32 | bf16

    def check(self) -> "FinetuneConfig":
        """Validate before any heavy work (raises ValueError saying what is valid)."""
        check_task(self.task)
        n_layers, _ = model_shape(self.model)
        if not 0 <= self.freeze_below <= n_layers:
            raise ValueError(f"freeze_below={self.freeze_below} is outside 0..{n_layers}, the layers of {self.model}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        for name in ("epochs", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        return self

    def identity(self, runtime: Runtime) -> dict:
        """The store key's content: the config, how it runs, the data and trainer versions."""
        identity = {**asdict(self), "precision": runtime.precision, "attention": runtime.attention,
                    "device_type": runtime.device.split(":")[0], "trainer_version": TRAINER_VERSION}
        if self.freeze_below:
            identity["frozen_mode"] = "eval"  # frozen layers without dropout (keys of earlier runs differ)
        return identity


def config_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(FinetuneConfig))


def profile_config(task: str, seed: int, params: dict, freeze_below: int = 0, **change) -> FinetuneConfig:
    """The fine-tuning config of ``task`` and ``seed`` under profile (or chapter) parameters.

    Every chapter that needs "the model fine-tuned on task X with seed s" asks through this, so all
    of them find the same stored model. ``change``: config fields that differ from the profile's
    (the ablation grid's smaller training sets).
    """
    check_task(task)
    for name in ("n_train", "max_length"):
        if task not in params[name]:
            raise ValueError(f"parameter {name} has no entry for task {task!r}: {params[name]}")
    config = FinetuneConfig(
        task=task, model=params["model"], seed=seed, dataset=params["nli_dataset"] if task == "nli" else "",
        n_train=params["n_train"][task], n_dev=params["n_dev"], n_test=params["n_test"], epochs=params["epochs"],
        batch_size=params["train_batch_size"], learning_rate=params["learning_rate"],
        head_learning_rate=params["head_learning_rate"], max_length=params["max_length"][task],
        freeze_below=freeze_below)
    return replace(config, **change).check()


def _step_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


def _optimizer(model: TaskModel, config: FinetuneConfig, total_steps: int):
    groups = []
    for part, lr in ((model.encoder, config.learning_rate), (model.head, config.head_learning_rate)):
        named = [(n, p) for n, p in part.named_parameters() if p.requires_grad]
        decay = [p for n, p in named if p.ndim > 1 and "LayerNorm" not in n]
        rest = [p for n, p in named if not (p.ndim > 1 and "LayerNorm" not in n)]
        groups += [{"params": decay, "lr": lr, "weight_decay": config.weight_decay},
                   {"params": rest, "lr": lr, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]])
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler


def build_model(config: FinetuneConfig, n_labels: int, runtime: Runtime) -> TaskModel:
    """The encoder (pre-trained weights, or random-init) with a freshly seeded head, frozen as asked."""
    encoder = load_encoder(config.model, device="cpu", seed=config.seed, attention=runtime.attention)
    torch.manual_seed(config.seed)
    model = TaskModel(encoder.model, make_head(config.task, encoder.hidden_size, n_labels), config.freeze_below)
    freeze_layers(model.encoder, config.freeze_below)
    model.tokenizer = encoder.tokenizer
    return model.to(runtime.device).train()


def _store_folder(config: FinetuneConfig, runtime: Runtime) -> Path:
    return checkpoints.store_dir(config.task, checkpoints.make_key(config.identity(runtime)))


def stored(config: FinetuneConfig, device: str = "auto") -> dict | None:
    """The manifest of ``config``'s fine-tuned model if the store has it, else None."""
    folder = _store_folder(config.check(), start_runtime(pick_device(device), config.precision, distributed=False))
    if (folder / checkpoints.MANIFEST).is_file():
        return dict(checkpoints.read_manifest(folder), checkpoint=str(folder))
    return None


def get_or_train(config: FinetuneConfig, data_dir: str | None = None, device: str = "auto",
                 progress: bool = True, checkpoint_every: int = 200, hub_path: str = "",
                 prepared: tuple | None = None) -> dict:
    """The manifest of the fine-tuned model for ``config``: loaded when stored, else trained.

    ``prepared``: ``(data, (train, dev, test) features)`` already loaded and encoded, possibly
    carrying the frozen prefix's hidden states (:mod:`lib.ablation`); it must be ``config``'s data.
    """
    found = stored(config, device)
    if found is not None:
        return found
    runtime = start_runtime(pick_device(device), config.precision)
    return train(config, _store_folder(config, runtime), runtime, data_dir, progress, checkpoint_every, hub_path,
                 prepared)


def _load(config: FinetuneConfig, data_dir: str | None, hub_path: str):
    return load_task(config.task, config.n_train, config.n_dev, config.n_test, config.dataset, data_dir, hub_path)


def _encode(data, tokenizer, max_length: int) -> tuple[list[dict], ...]:
    return tuple(encode_task(split, tokenizer, data, max_length) for split in (data.train, data.dev, data.test))


def prepare(config: FinetuneConfig, tokenizer, data_dir: str | None = None, hub_path: str = "") -> tuple:
    """``(data, (train, dev, test) features)`` of ``config``'s task, encoded by ``tokenizer``."""
    data = _load(config, data_dir, hub_path)
    return data, _encode(data, tokenizer, config.max_length)


def train(config: FinetuneConfig, folder: Path, runtime: Runtime, data_dir: str | None, progress: bool,
          checkpoint_every: int, hub_path: str, prepared: tuple | None = None) -> dict:
    """Fine-tune and store; resumes from ``<folder>.partial`` when a checkpoint is there."""
    data = _load(config, data_dir, hub_path) if prepared is None else prepared[0]
    model = build_model(config, len(data.labels), runtime)
    features = _encode(data, model.tokenizer, config.max_length) if prepared is None else prepared[1]
    train_features, dev_features, test_features = features
    pad_id = model.tokenizer.pad_token_id
    lengths = [len(f["input_ids"]) for f in train_features]
    per_epoch = len(length_grouped_batches(lengths, config.batch_size, seed=0)) // runtime.world
    optimizer, scheduler = _optimizer(model, config, per_epoch * config.epochs)
    partial = folder.with_name(folder.name + ".partial")
    state = checkpoints.load_partial(partial, model, optimizer, scheduler) or {"step": 0, "history": [],
                                                                                "running": []}
    trained = runtime.wrap(model)
    bar = tqdm(total=per_epoch * config.epochs, initial=state["step"], desc=f"fine-tuning {config.task}",
               disable=not progress or runtime.rank != 0)
    running = state["running"]  # losses since the last point of the curve
    for epoch in range(config.epochs):
        batches = length_grouped_batches(lengths, config.batch_size, seed=config.seed * 1000 + epoch)
        batches = batches[runtime.rank::runtime.world][:per_epoch]
        for index, rows in enumerate(batches):
            step = epoch * per_epoch + index + 1
            if step <= state["step"]:
                continue
            torch.manual_seed(_step_seed(config.seed, step))
            batch = {k: v.to(runtime.device) for k, v in collate([train_features[i] for i in rows], pad_id).items()}
            with runtime.autocast():
                loss, _ = trained(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running.append(loss.item())
            bar.update(1)
            if step % LOG_EVERY == 0 or step == per_epoch * (epoch + 1):
                state["history"].append({"step": step, "epoch": epoch + 1, "split": "train", "metric": "loss",
                                         "value": float(np.mean(running))})
                running.clear()
            if index + 1 == len(batches) and runtime.rank == 0:
                dev = evaluate(model, dev_features, config.task, pad_id, records=data.dev, autocast=runtime.bf16)
                state["history"] += [{"step": step, "epoch": epoch + 1, "split": "dev", "metric": name,
                                      "value": value} for name, value in dev.items()]
            state["step"] = step
            if (step % checkpoint_every == 0 or index + 1 == len(batches)) and runtime.rank == 0:
                checkpoints.save_partial(partial, model, optimizer, scheduler, state)
    bar.close()
    state.pop("running")
    manifest = {"task": config.task, "model": config.model, "seed": config.seed, "dataset": data.dataset,
                "labels": list(data.labels), "config": config.identity(runtime), "history": state["history"],
                "sizes": {"train": len(data.train), "dev": len(data.dev), "test": len(data.test)}}
    if runtime.rank == 0:
        manifest["metrics"] = evaluate(model, test_features, config.task, pad_id, records=data.test,
                                       autocast=runtime.bf16)
        checkpoints.save_model(folder, model, manifest)
        shutil.rmtree(partial, ignore_errors=True)
    runtime.barrier()
    return dict(checkpoints.read_manifest(folder), checkpoint=str(folder))


def load_finetuned(manifest: dict, device: str = "cpu") -> TaskModel:
    """The stored fine-tuned model (encoder and head) of a manifest from :func:`get_or_train`."""
    config = FinetuneConfig(**{k: v for k, v in manifest["config"].items() if k in config_fields()})
    runtime = start_runtime(pick_device(device), manifest["config"]["precision"], distributed=False)
    runtime.attention = manifest["config"]["attention"]
    model = build_model(config, len(manifest["labels"]), runtime)
    checkpoints.load_weights(Path(manifest["checkpoint"]), model)
    return model.eval()


def metrics_table(manifests: list[dict]) -> pd.DataFrame:
    """Tidy final test metrics: (task, model, seed, metric, value)."""
    return pd.DataFrame([{"task": m["task"], "model": m["model"], "seed": m["seed"], "metric": name, "value": value}
                         for m in manifests for name, value in m["metrics"].items()])


def history_table(manifests: list[dict]) -> pd.DataFrame:
    """Tidy learning curves: (task, seed, step, epoch, split, metric, value)."""
    return pd.DataFrame([{"task": m["task"], "seed": m["seed"], **row} for m in manifests for row in m["history"]])


def summary(manifest: dict) -> dict:
    """The command's JSON summary: task, model, seed, checkpoint, metrics."""
    return {key: manifest[key] for key in ("task", "model", "seed", "checkpoint", "metrics")}

