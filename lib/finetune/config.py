"""What a fine-tuned model is made from: one model's config, and the book's set of models.

:class:`FinetuneConfig` holds everything that changes one fine-tuned model; its :meth:`identity`
(with the model's and the data's content) is what the store's key hashes. :class:`Finetuning` is
the fine-tuning stage of the book: the settings every chapter trains or finds its models with.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Mapping, Sequence

from lib.encoders.families import FAMILIES
from lib.encoders.loading import model_family, model_identity, model_shape, sentence_pooling
from lib.encoders.runtime import PRECISIONS, Runtime
from lib.finetune.tasks import check_task, data_identity
from lib.errors import InputError

NLI_DATASETS = ("snli", "mnli")


def is_int(value) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that changes a fine-tuned model (and so its store key).

    ``freeze_below=k``: the embeddings and transformer layers 1..k stay frozen, in eval mode (no
    dropout; our choice, which makes their output a fixed function of the input that
    :mod:`lib.experiments.prefix` computes once); 0: none; the model's layer count: the whole
    encoder, only the head trains. ``n_* <= 0``: the whole split.
    """

    task: str
    model: str = "minilm"
    seed: int = 0
    dataset: str = ""  # "" = the task's default (snli for nli)
    n_train: int = 8000
    n_dev: int = 1000
    n_test: int = 0
    steps: int = 200
    batch_size: int = 32
    learning_rate: float = 2e-4
    head_learning_rate: float = 3e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 128
    freeze_below: int = 0
    precision: str = "auto"  # auto | fp32 | bf16 | fp16

    def check(self) -> "FinetuneConfig":
        """Validate before any heavy work (raises ValueError saying what is valid)."""
        check_task(self.task)
        n_layers, _ = model_shape(self.model)
        if not 0 <= self.freeze_below <= n_layers:
            raise InputError(f"freeze_below={self.freeze_below} is outside 0..{n_layers}, the layers of {self.model}")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        for name in ("steps", "batch_size", "max_length"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise InputError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("seed", "n_train", "n_dev", "n_test"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 0:
                raise InputError(f"{name} must be an integer >= 0 (0: the whole split), got {getattr(self, name)!r}")
        for name in ("learning_rate", "head_learning_rate"):
            if not is_number(getattr(self, name)) or not getattr(self, name) > 0:
                raise InputError(f"{name} must be a number > 0, got {getattr(self, name)!r}")
        if not is_number(self.warmup_ratio) or not 0 <= self.warmup_ratio < 1:
            raise InputError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not is_number(self.weight_decay) or self.weight_decay < 0:
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.dataset not in NLI_DATASETS + ("",):
            raise InputError(f"unknown dataset {self.dataset!r}; valid: {', '.join(NLI_DATASETS)} (for nli)")
        return self

    def packs(self, runtime: Runtime) -> bool:
        """Whether training packs its batches: where the runtime asks for it, the model's family runs
        packed rows exactly (:attr:`lib.encoders.families.Family.packs`) and nothing is frozen (a
        frozen bottom's stored states, :mod:`lib.experiments.prefix`, are padded)."""
        return runtime.packing and self.freeze_below == 0 and FAMILIES[model_family(self.model)].packs

    def describe(self, runtime: Runtime) -> dict:
        """The config as it ran: its fields, the classifier head's sentence pooling
        (:func:`lib.encoders.loading.sentence_pooling`), the precision and attention kernel resolved, and
        ``packing: True`` where its batches were packed (absent where they were padded)."""
        packing = {"packing": True} if self.packs(runtime) else {}
        return {**asdict(self), "pooling": sentence_pooling(self.model), "precision": runtime.precision,
                "attention": runtime.attention,
                "device_type": runtime.device_type, "processes": runtime.world, **packing}

    def identity(self, runtime: Runtime, hub_files: Mapping[str, str] | None = None) -> dict:
        """The store key's content: the settings, how it runs (precision, kernel, device type, number
        of processes: each takes every n-th batch), and the model's and the data's content."""
        settings = self.describe(runtime)
        settings.pop("model")  # a name: its content stands in for it
        return {"settings": settings, "model": model_identity(self.model, self.seed),
                "data": data_identity(self.task, self.dataset, hub_files, runtime.data_dir)}


def config_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(FinetuneConfig))


@dataclass(frozen=True)
class Finetuning:
    """The book's fine-tuned models: one per task and seed, all trained with these settings.

    Every chapter that needs "the model fine-tuned on task X with seed s" asks :meth:`config`, so
    all of them find the same stored model. Every task trains for the same ``steps`` optimizer
    steps (``train_steps``), so that tasks compare at one budget. ``n_train`` and ``max_length`` map a task to its value;
    ``nli_dataset`` is ``snli`` or ``mnli``.
    """

    model: str
    seeds: Sequence[int]
    nli_dataset: str
    n_train: Mapping[str, int]
    n_dev: int
    n_test: int
    steps: int
    batch_size: int
    learning_rate: float
    head_learning_rate: float
    max_length: Mapping[str, int]

    PARAMETERS = ("model", "seeds", "nli_dataset", "n_train", "n_dev", "n_test", "train_steps", "train_batch_size",
                  "learning_rate", "head_learning_rate", "max_length")

    @classmethod
    def from_parameters(cls, values: Mapping) -> "Finetuning":
        """The stage a chapter's (or a profile's) checked parameters set (``train_batch_size`` is
        ``batch_size`` here)."""
        return cls(model=values["model"], seeds=values["seeds"], nli_dataset=values["nli_dataset"],
                   n_train=values["n_train"], n_dev=values["n_dev"], n_test=values["n_test"], steps=values["train_steps"],
                   batch_size=values["train_batch_size"], learning_rate=values["learning_rate"],
                   head_learning_rate=values["head_learning_rate"], max_length=values["max_length"])

    def config(self, task: str, seed: int, freeze_below: int = 0) -> FinetuneConfig:
        """The checked config of the model fine-tuned on ``task`` with ``seed``."""
        check_task(task)
        for name in ("n_train", "max_length"):
            if task not in getattr(self, name):
                raise InputError(f"parameter {name} has no entry for task {task!r}: {getattr(self, name)}")
        return FinetuneConfig(
            task=task, model=self.model, seed=seed, dataset=self.nli_dataset if task == "nli" else "",
            n_train=self.n_train[task], n_dev=self.n_dev, n_test=self.n_test, steps=self.steps,
            batch_size=self.batch_size, learning_rate=self.learning_rate,
            head_learning_rate=self.head_learning_rate, max_length=self.max_length[task],
            freeze_below=freeze_below).check()
