"""Word vectors of a model, extracted once per (model, sentences, pooling) and kept on disk.

Probes, similarity and domain-shift chapters all read the same hidden states: they are computed
once and stored as safetensors (float16, half the disk) under ``<cache>/layers/``.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lib.artifacts import atomic_path, cache_dir
from lib.data import Record
from lib.extract import Reps, extract_layers
from lib.models import Encoder, load_encoder


def model_identity(model: str | dict) -> str:
    """What a model is: an alias, path or hub id; or a fine-tuned model's weights hash (its manifest)."""
    return model["weights_sha256"] if isinstance(model, dict) else model


def open_model(model: str | dict, device: str = "cpu", seed: int = 0) -> Encoder:
    """An :class:`Encoder` for an alias / path, or for the fine-tuned model of a manifest."""
    if not isinstance(model, dict):
        return load_encoder(model, device=device, seed=seed)
    from lib.finetune import load_finetuned

    tuned = load_finetuned(model, device=device)
    return Encoder(name=f"{model['task']}/seed {model['seed']}", model=tuned.encoder.eval(), tokenizer=tuned.tokenizer)


def cached_layers(model: str | dict, records: list[Record], pooling: str = "first", batch_size: int = 32,
                  device: str = "cpu", seed: int = 0, progress: bool = True) -> Reps:
    """:func:`lib.extract.extract_layers` of ``records`` by ``model``, from the disk cache when there."""
    identity = {"model": model_identity(model), "seed": seed, "pooling": pooling,
                "sentences": hashlib.sha256("\n".join(r.id for r in records).encode()).hexdigest()}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    path = cache_dir() / "layers" / f"{key}.safetensors"
    if path.is_file():
        stored = load_file(path)
        return Reps(vectors=stored["vectors"].float().numpy(), sentence=stored["sentence"].numpy(),
                    position=stored["position"].numpy(), layers=tuple(stored["layers"].tolist()))
    reps = extract_layers(open_model(model, device, seed), [r.words for r in records], pooling=pooling,
                          batch_size=batch_size, progress=progress)
    with atomic_path(path) as tmp:
        save_file({"vectors": torch.from_numpy(reps.vectors).half(), "sentence": torch.from_numpy(reps.sentence),
                   "position": torch.from_numpy(reps.position), "layers": torch.tensor(reps.layers)}, str(tmp))
    reps.vectors = reps.vectors.astype(np.float16).astype(np.float32)  # the same numbers as a cache hit
    return reps


def task_layers(task: str, params: dict, records: list[Record], device: str = "cpu",
                progress: bool = True) -> tuple[Reps, list[Reps]]:
    """Word vectors of ``records`` under the pre-trained model and under each fine-tuned seed of
    ``task`` (``params``: a profile's or a chapter's parameters; models come from the store)."""
    from lib.finetune import get_or_train, profile_config

    pooling = params.get("pooling", "first")
    pre = cached_layers(params["model"], records, pooling=pooling, device=device, progress=progress)
    tuned = []
    for seed in params["seeds"]:
        manifest = get_or_train(profile_config(task, seed, params), data_dir=params["data_dir"] or None,
                                device=device, progress=progress)
        tuned.append(cached_layers(manifest, records, pooling=pooling, device=device, progress=progress))
    return pre, tuned
