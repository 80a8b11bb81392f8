"""Hidden states of a frozen bottom, computed once and advanced one layer at a time.

Frozen layers run in eval mode, so the bottom's output for an example (the embeddings and layers
1..k) is the same in every epoch, for every seed and at every larger ``k``. :class:`PrefixStates`
computes it once; a model at boundary ``k`` then runs only its top (``bench/ablation.py``
measures what that saves), and a restored model is scored with each layer computed once per
model, never once per ``k``.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from lib.encoders.families import family_of
from lib.encoders.layers import run_layers
from lib.encoders.runtime import autocast
from lib.finetune.features import collate
from lib.errors import InputError


class PrefixStates:
    """The hidden states of each example after layer ``layer`` of a fixed encoder, without padding.

    Starts at the embedding output (layer 0); :meth:`advance` runs the next layers on the stored
    states, so reaching layer k costs k layers once, whatever the number of models trained on it.
    """

    def __init__(self, encoder: torch.nn.Module, splits: tuple[list[dict], ...], pad_id: int,
                 device: str = "cpu", precision: str = "fp32", batch_size: int = 64, progress: bool = False):
        self.encoder, self.family, self.pad_id, self.device = encoder.eval(), family_of(encoder), pad_id, device
        self.precision, self.batch_size, self.progress = precision, batch_size, progress
        self.splits, self.layer = splits, 0
        self.states = [self._run(features, None) for features in splits]

    def _autocast(self):
        return autocast(self.device, self.precision)

    @torch.no_grad()
    def _run(self, features: list[dict], states: list[torch.Tensor] | None, stop: int = 0) -> list[torch.Tensor]:
        self.encoder.eval()  # stored states never carry dropout, whatever a caller did to the encoder since
        order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")
        out: list[torch.Tensor | None] = [None] * len(features)
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for rows in tqdm(batches, desc=f"layers {self.layer}->{stop}", disable=not self.progress, leave=False):
            batch = collate([features[i] for i in rows], self.pad_id)
            inputs = {key: value.to(self.device) for key, value in self.family.inputs(batch).items()}
            with self._autocast():
                if states is None:
                    hidden = self.family.embed(**inputs)
                else:
                    padded = torch.nn.utils.rnn.pad_sequence([states[i] for i in rows], batch_first=True)
                    mask = inputs["attention_mask"]
                    hidden = run_layers(self.encoder, padded.to(self.device), mask, self.layer, stop)
            hidden = hidden.float().cpu()
            for row, i in enumerate(rows):
                out[i] = hidden[row, :len(features[i]["input_ids"])].clone()
        return out

    def advance(self, layer: int) -> "PrefixStates":
        """Move every stored state up to the output of ``layer`` (never down)."""
        if layer < self.layer:
            raise InputError(f"the states are at layer {self.layer}; they cannot go back to {layer}")
        if layer > self.layer:
            self.states = [self._run(features, states, layer) for features, states in zip(self.splits, self.states)]
            self.layer = layer
        return self

    def features(self, split: int) -> list[dict]:
        """Split ``split``'s features carrying the states (a model then starts from them)."""
        return [{**f, "states": s, "states_layer": self.layer} for f, s in zip(self.splits[split], self.states[split])]
