"""Word vectors of the book's models, pre-trained or fine-tuned, through the layer cache.

A model is named by an alias, path or hub id (a pre-trained or random-init encoder) or by the
manifest of a fine-tuned one (:func:`lib.finetune.store.get_or_train`); :func:`model_identity`
says what either is by content.
"""
from __future__ import annotations

from lib.data import Record
from lib.encoders import loading
from lib.encoders.cache import cached_layers, layers_identity, stored_layers
from lib.encoders.extraction import Reps
from lib.encoders.loading import Encoder
from lib.finetune.config import Finetuning
from lib.finetune.store import get_or_train, shared_finetuned


def model_identity(model: str | dict) -> dict:
    """A pre-trained model's content (:func:`lib.encoders.loading.model_identity`), or a fine-tuned
    one's: its weights' SHA-256 and the content of the model it started from (its tokenizer's)."""
    if isinstance(model, dict):
        return {"finetuned": model["weights_sha256"], "base": model["identity"]["model"]}
    return loading.model_identity(model)


def model_layers(model: str | dict, records: list[Record], pooling: str = "first", batch_size: int = 32,
                 device: str = "cpu", progress: bool = True) -> Reps:
    """Word vectors of ``records`` under ``model`` (a name, or a fine-tuned model's manifest), cached."""
    if not isinstance(model, dict):
        return cached_layers(model, records, pooling=pooling, batch_size=batch_size, device=device, progress=progress)

    def open_encoder() -> Encoder:
        tuned = shared_finetuned(model, device=device)
        return Encoder(name=f"{model['task']}/seed {model['seed']}", model=tuned.encoder.eval(),
                       tokenizer=tuned.tokenizer)

    identity = layers_identity(model_identity(model), records, pooling, batch_size, device)
    return stored_layers(identity, open_encoder, records, pooling, batch_size, progress)


def task_layers(finetuning: Finetuning, task: str, records: list[Record], pooling: str = "first",
                data_dir: str | None = None, device: str = "cpu", progress: bool = True) -> tuple[Reps, list[Reps]]:
    """Word vectors of ``records`` under the pre-trained model and under each fine-tuned seed of
    ``task`` (the models come from the store, trained there when missing)."""
    pre = model_layers(finetuning.model, records, pooling=pooling, device=device, progress=progress)
    tuned = []
    for seed in finetuning.seeds:
        manifest = get_or_train(finetuning.config(task, seed), data_dir=data_dir, device=device, progress=progress)
        tuned.append(model_layers(manifest, records, pooling=pooling, device=device, progress=progress))
    return pre, tuned
