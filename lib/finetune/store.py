"""The store of fine-tuned models: get a model by its config, trained once and found by every chapter.

A model is stored under ``<cache>/finetune/<key>/``, the key made by :func:`lib.artifacts.key`
from :meth:`lib.finetune.config.FinetuneConfig.identity`: the settings, the runtime's precision
and attention kernel, the pre-trained model's content and the data's checksums.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
import os
from pathlib import Path
from typing import Mapping

import pandas as pd

from lib.artifacts import artifact_path, locked
from lib.encoders.loading import pick_device
from lib.encoders.runtime import release_memory, start_runtime
from lib.finetune import checkpoints
from lib.finetune.config import FinetuneConfig, config_fields, is_int
from lib.finetune.heads import TaskModel
from lib.finetune.loop import build_model, train
from lib.errors import InputError


def _store_folder(config: FinetuneConfig, runtime, hub_files: Mapping[str, str] | None = None) -> tuple[Path, dict]:
    identity = config.identity(runtime, hub_files)
    return artifact_path("finetune", identity), identity


def _read(folder: Path) -> dict | None:
    if (folder / checkpoints.MANIFEST).is_file():
        return dict(checkpoints.read_manifest(folder), checkpoint=str(folder))
    return None


def stored(config: FinetuneConfig, device: str = "auto", hub_files: Mapping[str, str] | None = None) -> dict | None:
    """The manifest of ``config``'s fine-tuned model if the store has it, else None (for this
    process count: ``$WORLD_SIZE`` under torchrun, else one)."""
    runtime = start_runtime(pick_device(device), config.check().precision, distributed=False)
    runtime.world = int(os.environ.get("WORLD_SIZE", "1"))
    return _read(_store_folder(config, runtime, hub_files)[0])


def get_or_train(config: FinetuneConfig, data_dir: str | None = None, device: str = "auto",
                 progress: bool = True, checkpoint_every: int = 200,
                 hub_files: Mapping[str, str] | None = None, prepared: tuple | None = None) -> dict:
    """The manifest of the fine-tuned model for ``config``: loaded when stored, else trained.

    Two processes asking for one model take turns (a lock per store key): the second finds the
    first one's model. ``hub_files``: a local export per hub split, for MNLI and SQuAD
    (:data:`lib.finetune.tasks.HUB_SPLITS`). ``prepared``: ``(data, (train, dev, test) features)``
    already loaded and encoded, possibly carrying the frozen prefix's hidden states
    (:mod:`lib.experiments.prefix`); it must be ``config``'s data.
    """
    if not is_int(checkpoint_every) or checkpoint_every < 1:
        raise InputError(f"checkpoint_every must be an integer >= 1 (steps), got {checkpoint_every!r}")
    found = stored(config, device, hub_files)
    if found is not None:
        return found
    runtime = start_runtime(pick_device(device), config.precision)
    folder, identity = _store_folder(config, runtime, hub_files)
    # torchrun's processes train together: none may wait for another's lock
    with locked(folder) if runtime.world == 1 else contextlib.nullcontext():
        manifest = _read(folder) or train(config, folder, identity, runtime, data_dir, progress, checkpoint_every,
                                          hub_files, prepared)
    release_memory()  # a chapter trains several models in one process
    return manifest


def load_finetuned(manifest: dict, device: str = "cpu") -> TaskModel:
    """The stored fine-tuned model (encoder and head) of a manifest from :func:`get_or_train`."""
    config = FinetuneConfig(**{k: v for k, v in manifest["config"].items() if k in config_fields()})
    runtime = start_runtime(pick_device(device), manifest["config"]["precision"], distributed=False)
    runtime.attention = manifest["config"]["attention"]
    model = build_model(config, len(manifest["labels"]), runtime)
    checkpoints.load_weights(Path(manifest["checkpoint"]), model)
    return model.eval()


_SHARED: "OrderedDict[tuple, TaskModel]" = OrderedDict()
SHARED_MODELS = 3  # a task's three seeds: the chapters read them in turn, domain by domain


def shared_finetuned(manifest: dict, device: str = "cpu") -> TaskModel:
    """:func:`load_finetuned`, kept for reuse: the last ``SHARED_MODELS`` models loaded this way stay
    in memory, because a chapter reads each fine-tuned model many times (once per domain, corpus or
    split), and a load checks and reads the whole checkpoint. Read-only: a caller must not change the
    model's weights (switching it to eval mode is fine)."""
    key = (manifest["checkpoint"], manifest.get("weights_sha256"), pick_device(device))
    if key in _SHARED:
        _SHARED.move_to_end(key)
        return _SHARED[key]
    model = _SHARED[key] = load_finetuned(manifest, device=device)
    while len(_SHARED) > SHARED_MODELS:
        _SHARED.popitem(last=False)
    return model


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
