"""How a fine-tuned model is written and read: safetensors weights plus a JSON manifest.

A finished model lives in ``<cache>/finetune/<key>/`` (:func:`lib.artifacts.artifact_path`) with
``model.safetensors`` (the encoder's weights under ``encoder.``, the head's under ``head.``) and
``manifest.json`` (the config, the identity its key hashes, metrics, history, package versions and
the weights' SHA-256). The folder is written beside its place and renamed into it, so a reader
never sees half a model. A run in progress keeps its last checkpoint in
``<key>.partial/`` (weights, optimizer and scheduler state, step, history) to resume from.
"""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from lib.artifacts import atomic_dir, file_sha256
from lib.errors import CheckpointError

WEIGHTS, MANIFEST = "model.safetensors", "manifest.json"


def _file_sha(path: Path) -> str:
    """The weights' SHA-256, memoised while the file stays the same (a chapter reads each of its models
    several times; hashing 90 MB each time cost seconds per chapter)."""
    return file_sha256(path)


def versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("torch", "transformers", "safetensors", "numpy")}


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    """Safetensors bytes written by Python (safetensors' own writer hides a full disk's OSError)."""
    with open(path, "wb") as handle:
        handle.write(save(_state(model)))


def save_model(folder: Path, model: torch.nn.Module, manifest: dict) -> Path:
    """Write weights and manifest into ``folder`` atomically (a sibling temp folder, then a rename)."""
    with atomic_dir(folder) as tmp:
        _save_weights(model, tmp / WEIGHTS)
        manifest = dict(manifest, weights_sha256=_file_sha(tmp / WEIGHTS), versions=versions())
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return folder


def read_manifest(folder: Path) -> dict:
    """The manifest of a stored model, checked against its weights file."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{folder} has no readable manifest ({err}): delete the folder to retrain") from None
    weights = folder / WEIGHTS
    if not weights.is_file() or _file_sha(weights) != manifest.get("weights_sha256"):
        raise CheckpointError(f"{folder}: {WEIGHTS} does not match the SHA-256 in {MANIFEST} "
                              "(changed or truncated): delete the folder to retrain")
    return manifest


def load_weights(folder: Path, model: torch.nn.Module) -> dict:
    """Load checked weights into ``model`` (strict: every tensor must match); returns the manifest."""
    manifest = read_manifest(folder)
    state = load_file(folder / WEIGHTS)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{folder}: the weights do not fit the model its manifest describes "
                              f"({str(err)[:300]}): delete the folder to retrain") from None
    return manifest


def save_partial(folder: Path, model, optimizer, scheduler, progress: dict, scaler=None) -> None:
    """Checkpoint a run in progress (atomic): weights, optimizer, scheduler and (under fp16)
    gradient-scaler state, progress."""
    with atomic_dir(folder) as tmp:
        _save_weights(model, tmp / WEIGHTS)
        trainer = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
        if scaler is not None and scaler.is_enabled():
            trainer["scaler"] = scaler.state_dict()
        with open(tmp / "trainer.pt", "wb") as handle:  # Python's writes: a full disk is an OSError
            torch.save(trainer, handle)
        (tmp / "progress.json").write_text(json.dumps(progress), encoding="utf-8")


def load_partial(folder: Path, model, optimizer, scheduler, scaler=None) -> dict | None:
    """Restore a run in progress; ``None`` when there is no complete checkpoint."""
    if not (folder / "progress.json").is_file():
        return None
    model.load_state_dict(load_file(folder / WEIGHTS), strict=True)
    trainer = torch.load(folder / "trainer.pt", weights_only=True)
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    if scaler is not None and "scaler" in trainer:
        scaler.load_state_dict(trainer["scaler"])
    return json.loads((folder / "progress.json").read_text(encoding="utf-8"))
