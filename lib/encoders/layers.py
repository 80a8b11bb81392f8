"""The layers of an encoder: which are frozen, and running a stretch of them.

A boundary ``k`` (0..n_layers) splits an encoder in two: the embeddings and transformer layers
1..k, and everything above. What belongs where depends on the model's family
(:mod:`lib.encoders.families`).
"""
from __future__ import annotations

import torch

from lib.encoders.families import family_of


def frozen_modules(model: torch.nn.Module, freeze_below: int) -> list[torch.nn.Module]:
    """The embeddings and transformer layers 1..k of an encoder (``k = freeze_below``), with what its
    family keeps outside the layers for them (:meth:`lib.encoders.families.Family.bottom`)."""
    return family_of(model).bottom(freeze_below)


def freeze_layers(model: torch.nn.Module, freeze_below: int) -> None:
    """Freeze the embeddings and transformer layers 1..k (``k = freeze_below``; 0 freezes nothing)."""
    for module in frozen_modules(model, freeze_below):
        for parameter in module.parameters():
            parameter.requires_grad_(False)


def run_layers(model: torch.nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int,
               stop: int | None = None) -> torch.Tensor:
    """Hidden states after layer ``stop`` (default: the last) from ``hidden``, those after layer ``start``.

    The same computation as the model's own forward from that point (its attention mask, its
    attention kernel), so stored states of the lower layers can stand in for recomputing them.
    """
    family = family_of(model)
    return family.run(hidden, attention_mask, start, len(family.layers) if stop is None else stop)
