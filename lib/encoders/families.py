"""The encoder families the library runs, behind one small adapter.

The library never reaches into a model by attribute name: it asks :func:`family_of` for the model's
:class:`Family`, which says where the embeddings and the transformer layers are, how to compute the
embedding output and run a stretch of layers exactly as the model's own forward does, whether the
model reads token type ids, and which layer and module each parameter belongs to. A model of any
other family is refused when it loads (:func:`check_family`), not deep inside a run.

Families: BERT (MiniLM is a ``BertModel``), RoBERTa, XLM-R, ELECTRA (the discriminator),
DistilBERT, DeBERTa-v2/v3 and ModernBERT.

"Layer L's hidden state" is ``output_hidden_states[L]`` of the model's forward, for every family.
So ModernBERT's final norm belongs to its last layer (transformers reports the normed output as the
last hidden state), and DeBERTa's convolution after the first layer belongs to layer 1. DeBERTa's
relative position embeddings (and their norm) feed every layer: they belong to the bottom, frozen
with any layer, so that a frozen bottom stays a fixed function of the input
(:mod:`lib.experiments.prefix` relies on it).
"""
from __future__ import annotations

import re

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask, create_bidirectional_sliding_window_mask

from lib.errors import InputError

MODULES = ("embeddings", "attention", "feed-forward", "layer norm", "convolution")


class Family:
    """BERT and the encoders built like it: ``embeddings``, ``encoder.layer``, one bidirectional
    attention mask, a pooler the library never uses.

    A boundary ``k`` (0..n_layers) splits every family in two: the *bottom* (the embeddings, layers
    1..k and what the family keeps outside its layers for them; nothing when k = 0) and the *top*.
    """

    layers_at = "encoder.layer"  # the transformer layers
    bottom_at: tuple[str, ...] = ("embeddings",)  # frozen with any layer: the embeddings, what all layers share
    conv_at: tuple[str, ...] = ()  # a convolution after the first layer, part of layer 1 (DeBERTa)
    last_at: tuple[str, ...] = ()  # applied after the last layer, part of it (ModernBERT's final norm)
    unused_at: tuple[str, ...] = ("pooler",)  # part of no hidden state (the heads read the states)
    packs = True  # runs packed rows exactly (:meth:`run_packed`)

    def __init__(self, model: nn.Module):
        self.model = model

    @property
    def name(self) -> str:
        return self.model.config.model_type

    def _find(self, path: str) -> nn.Module | None:
        """The submodule at ``path``, or None where this model has none (an optional projection or norm)."""
        module = self.model
        for part in path.split("."):
            module = getattr(module, part, None)
        return module

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers, bottom first."""
        return self._find(self.layers_at)

    @property
    def max_tokens(self) -> int:
        """The most tokens (special ones included) the model's position embeddings hold."""
        return self.model.config.max_position_embeddings

    @property
    def token_types(self) -> bool:
        """Whether the model reads token type ids: an embedding of more than one type (BERT's, ELECTRA's)."""
        return getattr(self.model.config, "type_vocab_size", 0) > 1

    def inputs(self, batch: dict) -> dict:
        """The model's inputs in ``batch``: ids, mask and, where the model reads them, token type ids."""
        keys = ("input_ids", "attention_mask") + (("token_type_ids",) if self.token_types else ())
        return {key: batch[key] for key in keys if key in batch}

    @property
    def first_position(self) -> int:
        """The position id of a sequence's first token."""
        return 0

    def run_packed(self, batch: dict) -> torch.Tensor:
        """The last hidden states of a packed batch (:func:`lib.finetune.packing.pack`) in its padded
        (B, longest, hidden) layout: each example attends only to its own tokens, at its own
        positions, so it gets the states the padded batch gives it."""
        if not self.packs:
            raise InputError(f"{self.name} encoders do not run packed batches; train them padded")
        segments = batch["packed_segments"]
        same = (segments[:, :, None] == segments[:, None, :])[:, None]  # (rows, 1, width, width)
        kernel = self.model.config._attn_implementation
        if kernel == "sdpa":
            mask = same
        elif kernel == "eager":  # an additive mask, as transformers builds for eager attention
            dtype = self.model.dtype
            mask = torch.zeros(same.shape, dtype=dtype, device=same.device).masked_fill(~same, torch.finfo(dtype).min)
        else:
            raise InputError(f"packed batches run on the eager or sdpa attention kernel, not {kernel!r}")
        inputs = {"input_ids": batch["packed_input_ids"], "attention_mask": mask,
                  "position_ids": batch["packed_positions"] + self.first_position}
        if self.token_types and "packed_token_type_ids" in batch:
            inputs["token_type_ids"] = batch["packed_token_type_ids"]
        hidden = self.model(**inputs).last_hidden_state
        return hidden.flatten(0, 1)[batch["unpack"]]

    def _check(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= len(self.layers):
            raise InputError(f"layers {start}..{stop} are outside 0..{len(self.layers)}")

    def bottom(self, k: int) -> list[nn.Module]:
        """The modules that compute the hidden states after layer ``k`` (none for k = 0)."""
        if not 0 <= k <= len(self.layers):
            raise InputError(f"freeze_below={k} is outside 0..{len(self.layers)}")
        if k == 0:
            return []
        paths = self.bottom_at + self.conv_at + (self.last_at if k == len(self.layers) else ())
        return [*(m for m in map(self._find, paths) if m is not None), *self.layers[:k]]

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The hidden states of layer 0 (the embedding output), as the model's forward computes them."""
        return self.model.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)

    def run(self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """The hidden states after layer ``stop`` from ``hidden``, those after layer ``start``: the model's
        own computation from that point (its attention mask, its attention kernel)."""
        self._check(start, stop)
        mask = create_bidirectional_mask(config=self.model.config, inputs_embeds=hidden, attention_mask=attention_mask)
        for layer in self.layers[start:stop]:
            hidden = layer(hidden, mask)
        return hidden

    def locate(self, name: str) -> tuple[int, str] | None:
        """(layer, module) of parameter ``name`` (module: one of :data:`MODULES`); None for a module
        part of no hidden state. Layer 0 is the bottom's shared part (the embeddings).

        >>> from transformers import BertConfig, BertModel
        >>> bert = Family(BertModel(BertConfig(vocab_size=8, hidden_size=4, num_hidden_layers=4,
        ...                                    num_attention_heads=1)))
        >>> bert.locate("encoder.layer.3.attention.self.query.weight"), bert.locate("embeddings.LayerNorm.bias")
        ((4, 'attention'), (0, 'layer norm'))
        """
        def under(paths: tuple[str, ...]) -> bool:
            return any(name.startswith(path + ".") for path in paths)

        if under(self.unused_at):
            return None
        match = re.match(re.escape(self.layers_at) + r"\.(\d+)\.", name)
        if match:
            layer = int(match.group(1)) + 1
        elif under(self.bottom_at):
            layer = 0
        elif under(self.conv_at):
            layer = 1
        elif under(self.last_at):
            layer = len(self.layers)
        else:
            raise InputError(f"parameter {name!r} is not part of a {self.name} encoder")
        if "norm" in name.split(".")[-2].lower():
            return layer, "layer norm"
        if under(self.bottom_at):
            return layer, "embeddings"
        if under(self.conv_at):
            return layer, "convolution"
        return layer, "attention" if re.search(r"\.(attention|attn)\.", name) else "feed-forward"


class Roberta(Family):
    """RoBERTa and XLM-R: BERT's layout, but positions count from the padding id + 1 (two fewer tokens fit)."""

    @property
    def max_tokens(self) -> int:
        return self.model.config.max_position_embeddings - self.model.config.pad_token_id - 1

    @property
    def first_position(self) -> int:
        return self.model.config.pad_token_id + 1


class Electra(Family):
    """ELECTRA: BERT's layers on smaller embeddings, projected up to the hidden size when they differ."""

    bottom_at = ("embeddings", "embeddings_project")

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        hidden = super().embed(input_ids, attention_mask, token_type_ids)
        project = self._find("embeddings_project")
        return hidden if project is None else project(hidden)


class DistilBert(Family):
    """DistilBERT: ``transformer.layer``, no token types, no pooler."""

    layers_at = "transformer.layer"

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        return self.model.embeddings(input_ids)


class DebertaV2(Family):
    """DeBERTa-v2/v3: relative positions shared by all layers, padding zeroed in the embedding output,
    an optional convolution after the first layer (``DebertaV2Encoder.forward``)."""

    bottom_at = ("embeddings", "encoder.rel_embeddings", "encoder.LayerNorm")
    conv_at = ("encoder.conv",)
    packs = False  # its embeddings and convolution read the 2-D padding mask

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        return self.model.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, mask=attention_mask)

    def run(self, hidden, attention_mask, start, stop):
        self._check(start, stop)
        encoder = self.model.encoder
        mask, relative_pos = encoder.get_attention_mask(attention_mask), encoder.get_rel_pos(hidden)
        rel_embeddings = encoder.get_rel_embedding()
        for i in range(start, stop):
            out, _ = self.layers[i](hidden, mask, relative_pos=relative_pos, rel_embeddings=rel_embeddings)
            if i == 0 and encoder.conv is not None:  # on the embedding output, with the first layer's as residual
                out = encoder.conv(hidden, out, attention_mask)
            hidden = out
        return hidden


class ModernBert(Family):
    """ModernBERT: ``layers`` with rotary positions, global and sliding-window attention by layer, and a
    final norm after the last layer (part of it: the last hidden state transformers reports is normed)."""

    layers_at = "layers"
    last_at = ("final_norm",)
    packs = False  # its sliding-window layers build their own mask

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        return self.model.embeddings(input_ids=input_ids)

    def run(self, hidden, attention_mask, start, stop):
        self._check(start, stop)
        config = self.model.config
        masks = {kind: make(config=config, inputs_embeds=hidden, attention_mask=attention_mask)
                 for kind, make in (("full_attention", create_bidirectional_mask),
                                    ("sliding_attention", create_bidirectional_sliding_window_mask))}
        positions = torch.arange(hidden.shape[1], device=hidden.device)[None]
        rotary = {kind: self.model.rotary_emb(hidden, positions, kind) for kind in set(config.layer_types)}
        for layer in self.layers[start:stop]:
            hidden = layer(hidden, attention_mask=masks[layer.attention_type],
                           position_embeddings=rotary[layer.attention_type])
        if start < stop == len(self.layers):
            hidden = self.model.final_norm(hidden)
        return hidden


FAMILIES: dict[str, type[Family]] = {"bert": Family, "roberta": Roberta, "xlm-roberta": Roberta, "electra": Electra,
                                     "distilbert": DistilBert, "deberta-v2": DebertaV2, "modernbert": ModernBert}


def check_family(config, name: str) -> str:
    """The family (``model_type``) of a model's config; an InputError listing the supported ones otherwise."""
    kind = getattr(config, "model_type", "")
    if kind not in FAMILIES:
        raise InputError(f"model {name!r} is of type {kind!r}, not one of the encoder families the book runs: "
                         f"{', '.join(FAMILIES)} (MiniLM is a bert)")
    return kind


def family_of(model: nn.Module) -> Family:
    """The :class:`Family` of a loaded encoder (a transformers base model such as ``BertModel``)."""
    return FAMILIES[check_family(model.config, type(model).__name__)](model)
