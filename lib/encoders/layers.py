"""The layers of a BERT-style encoder: which are frozen, and running a stretch of them.

A boundary ``k`` (0..n_layers) splits an encoder in two: the embeddings and transformer layers
1..k, and everything above.
"""
from __future__ import annotations

import torch

from lib.errors import InputError


def frozen_modules(model: torch.nn.Module, freeze_below: int) -> list[torch.nn.Module]:
    """The embeddings and transformer layers 1..k of a BERT-style model (``k = freeze_below``)."""
    if freeze_below <= 0:
        return []
    layers = model.encoder.layer
    if freeze_below > len(layers):
        raise InputError(f"freeze_below={freeze_below} is outside 0..{len(layers)}")
    return [model.embeddings, *layers[:freeze_below]]


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
    from transformers.masking_utils import create_bidirectional_mask

    layers = model.encoder.layer
    stop = len(layers) if stop is None else stop
    if not 0 <= start <= stop <= len(layers):
        raise InputError(f"layers {start}..{stop} are outside 0..{len(layers)}")
    mask = create_bidirectional_mask(config=model.config, inputs_embeds=hidden, attention_mask=attention_mask)
    for layer in layers[start:stop]:
        hidden = layer(hidden, mask)
    return hidden
