"""Word vectors of a model, extracted once per (model content, records, settings) and kept on disk.

Probes, similarity and domain-shift chapters all read the same hidden states: they are computed
once and stored as safetensors (float16, half the disk) under ``<cache>/layers/``, keyed by
:func:`lib.artifacts.key` of what went in: the model's content (:func:`model_identity`), every
field of every record, the pooling, the batch size, the device type and the precision.
"""
from __future__ import annotations

import json
from typing import Callable

import torch
from safetensors.torch import load_file, save

from lib.artifacts import artifact_path, atomic_path
from lib.data import Record, records_digest
from lib.encoders.extraction import Reps, extract_layers, extraction_precision
from lib.encoders.loading import Encoder, load_encoder, model_identity
from lib.errors import InputError


def layers_identity(model: dict, records: list[Record], pooling: str, batch_size: int, device: str) -> dict:
    """The identity of word vectors of ``records`` under the model of identity ``model`` (extracted
    in the device's precision: :func:`lib.encoders.extraction.extraction_precision`)."""
    device_type = device.split(":")[0]
    return {"model": model, "records": records_digest(records), "pooling": pooling, "batch_size": batch_size,
            "device_type": device_type, "precision": extraction_precision(device_type)}


def stored_layers(identity: dict, open_encoder: Callable[[], Encoder], records: list[Record], pooling: str,
                  batch_size: int, progress: bool) -> Reps:
    """The word vectors of ``identity`` (:func:`layers_identity`) from the cache, else extracted by the
    encoder that ``open_encoder()`` loads, stored, and returned."""
    if not records:
        raise InputError("no sentences to embed: pass at least one record")
    path = artifact_path("layers", identity, ".safetensors")
    if path.is_file():
        stored = load_file(path)
        return Reps(vectors=stored["vectors"].float().numpy(), sentence=stored["sentence"].numpy(),
                    position=stored["position"].numpy(), layers=tuple(stored["layers"].tolist()))
    reps = extract_layers(open_encoder(), [r.words for r in records], pooling=pooling, batch_size=batch_size,
                          progress=progress, precision=identity["precision"])
    half = torch.from_numpy(reps.vectors).half()  # torch converts in vector instructions, numpy one by one
    with atomic_path(path) as tmp:  # bytes written by Python: a full disk is an OSError (a StorageError)
        tensors = {"vectors": half, "sentence": torch.from_numpy(reps.sentence),
                   "position": torch.from_numpy(reps.position), "layers": torch.tensor(reps.layers)}
        tmp.write_bytes(save(tensors, metadata={"identity": json.dumps(identity, sort_keys=True)}))
    reps.vectors = half.float().numpy()  # the same numbers as a cache hit
    return reps


def cached_layers(model: str, records: list[Record], pooling: str = "first", batch_size: int = 32,
                  device: str = "cpu", seed: int = 0, progress: bool = True) -> Reps:
    """:func:`lib.encoders.extraction.extract_layers` of ``records`` by model ``model`` (an alias,
    path, hub id or ``random-init[:<model>]``; ``seed`` draws a random-init model), from the disk
    cache when there."""
    identity = layers_identity(model_identity(model, seed), records, pooling, batch_size, device)
    return stored_layers(identity, lambda: load_encoder(model, device=device, seed=seed), records, pooling,
                         batch_size, progress)
