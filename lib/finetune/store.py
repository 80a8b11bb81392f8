"""The store of fine-tuned models: get a model by its config, trained once and found by every chapter.

A model is stored under ``<cache>/finetune/<key>/``, the key made by :func:`lib.artifacts.key`
from :meth:`lib.finetune.config.FinetuneConfig.identity`: the settings, the runtime's precision
and attention kernel, the pre-trained model's content and the data's checksums. What the store
hands out is a :class:`FineTuned`: what the model is, how to load it and its word vectors.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from lib.artifacts import artifact_path, locked
from lib.data import Record
from lib.encoders.cache import layers_identity, stored_layers
from lib.encoders.extraction import Reps
from lib.encoders.loading import Encoder
from lib.encoders.runtime import Runtime, release_memory
from lib.finetune import checkpoints
from lib.finetune.config import FinetuneConfig, config_fields, is_int
from lib.finetune.heads import TaskModel
from lib.finetune.loop import Prepared, build_model, train
from lib.errors import InputError


@dataclass(frozen=True)
class FineTuned:
    """A stored fine-tuned model: its manifest (``manifest.json``, checked against its weights) and
    its folder. What it is (:attr:`identity`), how it was trained (:attr:`config`, :attr:`trained`),
    what it scored (:attr:`metrics`, :attr:`history`), how to load it (:meth:`load`) and its word
    vectors (:meth:`layers`)."""

    manifest: Mapping
    checkpoint: Path

    @classmethod
    def read(cls, folder: Path) -> "FineTuned | None":
        """The model stored in ``folder``, or None when none is there."""
        if (folder / checkpoints.MANIFEST).is_file():
            return cls(checkpoints.read_manifest(folder), folder)
        return None

    task = property(lambda self: self.manifest["task"])
    model = property(lambda self: self.manifest["model"])  # the pre-trained model's name
    seed = property(lambda self: self.manifest["seed"])
    labels = property(lambda self: tuple(self.manifest["labels"]))
    metrics = property(lambda self: dict(self.manifest["metrics"]))  # test split
    history = property(lambda self: list(self.manifest["history"]))  # learning curves
    attention = property(lambda self: self.manifest["config"]["attention"])  # the kernel it trained with

    @property
    def config(self) -> FinetuneConfig:
        """The config it was trained with (its precision as resolved: ``fp32``, ``bf16`` or ``fp16``)."""
        return FinetuneConfig(**{k: v for k, v in self.manifest["config"].items() if k in config_fields()})

    @property
    def trained(self) -> dict:
        """How it was trained, as its store key holds it: settings, the runtime's precision, attention
        kernel, device type and processes (:meth:`FinetuneConfig.identity`'s ``settings``)."""
        return dict(self.manifest["identity"]["settings"])

    @property
    def data(self) -> dict:
        """The content of the data it was trained and scored on (:func:`lib.finetune.tasks.data_identity`)."""
        return dict(self.manifest["identity"]["data"])

    @property
    def identity(self) -> dict:
        """What the model is, by content: its weights' SHA-256 and the pre-trained model it started
        from (whose tokenizer it keeps)."""
        return {"finetuned": self.manifest["weights_sha256"], "base": self.manifest["identity"]["model"]}

    def load(self, device: str = "cpu") -> TaskModel:
        """Its encoder and head on ``device`` (a resolved device), in eval mode."""
        config = self.config
        model = build_model(config, len(self.labels), Runtime(device, config.precision, self.attention))
        checkpoints.load_weights(self.checkpoint, model)
        return model.eval()

    def shared(self, device: str = "cpu") -> TaskModel:
        """:meth:`load`, kept for reuse: the last ``SHARED_MODELS`` models loaded this way stay in
        memory, because a chapter reads each fine-tuned model many times (once per domain, corpus
        or split), and a load checks and reads the whole checkpoint. Read-only: a caller must not
        change the model's weights (switching it to eval mode is fine)."""
        key = (str(self.checkpoint), self.manifest.get("weights_sha256"), device)
        if key in _SHARED:
            _SHARED.move_to_end(key)
            return _SHARED[key]
        model = _SHARED[key] = self.load(device)
        while len(_SHARED) > SHARED_MODELS:
            _SHARED.popitem(last=False)
        return model

    def layers(self, records: list[Record], runtime: Runtime, pooling: str = "first", batch_size: int = 32,
               progress: bool = True) -> Reps:
        """Word vectors of ``records`` under its encoder (every layer), from the layer cache when there."""
        def open_encoder() -> Encoder:
            tuned = self.shared(runtime.device)
            return Encoder(name=f"{self.task}/seed {self.seed}", model=tuned.encoder.eval(), tokenizer=tuned.tokenizer)

        identity = layers_identity(self.identity, records, pooling, batch_size, runtime.device)
        return stored_layers(identity, open_encoder, records, pooling, batch_size, progress)


_SHARED: "OrderedDict[tuple, TaskModel]" = OrderedDict()
SHARED_MODELS = 3  # a task's three seeds: the chapters read them in turn, domain by domain


def _runtime_for(config: FinetuneConfig, runtime: Runtime) -> Runtime:
    return runtime.with_precision(config.check().precision)


def _store_folder(config: FinetuneConfig, runtime: Runtime, hub_files: Mapping[str, str] | None = None):
    identity = config.identity(runtime, hub_files)
    return artifact_path("finetune", identity), identity


def stored(config: FinetuneConfig, runtime: Runtime, hub_files: Mapping[str, str] | None = None) -> FineTuned | None:
    """``config``'s fine-tuned model if the store has it (for the runtime's process count), else None."""
    return FineTuned.read(_store_folder(config, _runtime_for(config, runtime), hub_files)[0])


def get_or_train(config: FinetuneConfig, runtime: Runtime, progress: bool = True, checkpoint_every: int = 200,
                 hub_files: Mapping[str, str] | None = None, prepared: Prepared | None = None) -> FineTuned:
    """The fine-tuned model for ``config``: loaded when stored, else trained (on ``runtime``).

    Two processes asking for one model take turns (a lock per store key): the second finds the
    first one's model. ``hub_files``: a local export per hub split, for MNLI and SQuAD
    (:data:`lib.finetune.tasks.HUB_SPLITS`). ``prepared``: ``config``'s data already loaded and
    encoded (:func:`lib.finetune.loop.prepare`), possibly carrying the frozen prefix's hidden states
    (:mod:`lib.experiments.prefix`).
    """
    if not is_int(checkpoint_every) or checkpoint_every < 1:
        raise InputError(f"checkpoint_every must be an integer >= 1 (steps), got {checkpoint_every!r}")
    runtime = _runtime_for(config, runtime)
    folder, identity = _store_folder(config, runtime, hub_files)
    found = FineTuned.read(folder)
    if found is not None:
        return found
    # torchrun's processes train together: none may wait for another's lock
    with locked(folder) if runtime.world == 1 else contextlib.nullcontext():
        found = FineTuned.read(folder) or FineTuned(train(config, folder, identity, runtime, progress,
                                                          checkpoint_every, hub_files, prepared), folder)
    release_memory()  # a chapter trains several models in one process
    return found


def _train_job(config: FinetuneConfig, runtime: Runtime, progress: bool) -> None:
    get_or_train(config, runtime, progress=progress)


def get_or_train_all(configs: list[FinetuneConfig], runtime: Runtime, progress: bool = True) -> list[FineTuned]:
    """:func:`get_or_train` of every config, in order: the missing ones trained (each in a fresh
    process on a CPU, else here, one after another; side by side when ``$BOOK_WORKERS`` asks:
    :func:`lib.parallel.run_jobs`), then every model read from the store."""
    from lib.parallel import run_jobs, runs_elsewhere

    configs = list(configs)
    missing = [c for c in configs if stored(c, runtime) is None]
    if missing:
        elsewhere = runs_elsewhere(runtime, len(missing))  # a line per model there instead of progress bars
        run_jobs(_train_job, [(c, runtime, progress and not elsewhere) for c in missing], runtime,
                 label=(lambda c, *_: f"trained {c.task}, seed {c.seed}") if progress else None)
    return [get_or_train(c, runtime, progress=progress) for c in configs]


def metrics_table(models: list[FineTuned]) -> pd.DataFrame:
    """Tidy final test metrics: (task, model, seed, metric, value)."""
    return pd.DataFrame([{"task": m.task, "model": m.model, "seed": m.seed, "metric": name, "value": value}
                         for m in models for name, value in m.metrics.items()])


def history_table(models: list[FineTuned]) -> pd.DataFrame:
    """Tidy learning curves: (task, seed, step, epoch, split, metric, value)."""
    return pd.DataFrame([{"task": m.task, "seed": m.seed, **row} for m in models for row in m.history])


__all__ = ["FineTuned", "get_or_train", "get_or_train_all", "history_table", "metrics_table", "stored"]
