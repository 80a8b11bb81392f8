"""Word vectors of the book's models, pre-trained or fine-tuned, through the layer cache.

A model is a :class:`Pretrained` (an alias, path or hub id, or a random-init encoder) or a
:class:`lib.finetune.store.FineTuned` from the store; both say what they are by content
(``identity``) and give their word vectors of every layer (``layers``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from lib.data import Record
from lib.encoders.cache import cached_layers
from lib.encoders.extraction import Reps
from lib.encoders.loading import model_identity
from lib.encoders.runtime import Runtime
from lib.finetune.config import Finetuning
from lib.finetune.store import FineTuned, get_or_train


@dataclass(frozen=True)
class Pretrained:
    """A pre-trained encoder by name (alias, path, hub id or ``random-init[:<model>]``); ``seed``
    draws a random-init model's weights.

    >>> Pretrained("minilm").identity == Pretrained("minilm", seed=3).identity
    True
    """

    name: str
    seed: int = 0

    @property
    def identity(self) -> dict:
        """What it is, by content (:func:`lib.encoders.loading.model_identity`)."""
        return model_identity(self.name, self.seed)

    def layers(self, records: list[Record], runtime: Runtime, pooling: str = "first", batch_size: int = 32,
               progress: bool = True) -> Reps:
        """Word vectors of ``records`` under it (every layer), from the layer cache when there."""
        return cached_layers(self.name, records, pooling=pooling, batch_size=batch_size, device=runtime.device,
                             seed=self.seed, progress=progress)


Model = Union[Pretrained, FineTuned]  # what probes, similarity and domain shift read vectors from


def task_layers(finetuning: Finetuning, task: str, records: list[Record], runtime: Runtime, pooling: str = "first",
                progress: bool = True) -> tuple[Reps, list[Reps]]:
    """Word vectors of ``records`` under the pre-trained model and under each fine-tuned seed of
    ``task`` (the models come from the store, trained there when missing)."""
    pre = Pretrained(finetuning.model).layers(records, runtime, pooling=pooling, progress=progress)
    tuned = [get_or_train(finetuning.config(task, seed), runtime, progress=progress)
             .layers(records, runtime, pooling=pooling, progress=progress) for seed in finetuning.seeds]
    return pre, tuned
