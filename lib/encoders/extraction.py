"""Word-level vectors from every layer of an encoder.

A word's vector at layer l is its first subword's hidden state (``pooling="first"``) or the mean
of its subwords' states (``pooling="mean"``); ``pooling="subwords"`` keeps every subword's state
(one row per subword, ``position`` its word: the edge probes pool a span over all of them).
Layer 0 is the embedding output. Sentences are
sorted by length and batched with dynamic padding, so padding costs little; the result comes
back in the input order, as if each sentence had been run alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from lib.encoders.families import family_of
from lib.encoders.loading import Encoder
from lib.encoders.runtime import autocast, resolve_precision
from lib.errors import InputError

POOLINGS = ("first", "mean", "subwords")


@dataclass
class Reps:
    """``vectors`` (layers, rows, hidden) float32; ``sentence`` and ``position`` (rows,) int: a row is a
    word, or a subword of word ``position`` (``pooling="subwords"``)."""

    vectors: np.ndarray
    sentence: np.ndarray
    position: np.ndarray
    layers: tuple[int, ...]

    @property
    def n_words(self) -> int:
        return self.vectors.shape[1]


def _spaced_words(tok) -> bool:
    """Whether ``tok`` is byte-level BPE without ``add_prefix_space`` (RoBERTa's, ModernBERT's): it reads
    a word's start from the space before it, which pre-split words do not carry."""
    pre = tok.backend_tokenizer.pre_tokenizer
    state = json.loads(pre.__getstate__()) if pre is not None else {}
    return any(part.get("type") == "ByteLevel" and not part.get("add_prefix_space")
               for part in state.get("pretokenizers", [state]))


def tokenize_words(tok, words: Sequence[str]) -> tuple[list[int], list[int | None]]:
    """Subword ids (with the model's special tokens, such as [CLS] and [SEP]) and each subword's word
    index; a word with no subword becomes [UNK].

    Each word is tokenized as inside running text: a byte-level BPE tokenizer is given the space
    before every word (what ``add_prefix_space=True`` does), else it would tokenize each word as the
    start of a text.
    """
    spaced = _spaced_words(tok)

    def encode(items: Sequence[str]):
        enc = tok([" " + w for w in items] if spaced else list(items), is_split_into_words=True,
                  add_special_tokens=True, truncation=False)
        return enc["input_ids"], enc.word_ids()

    ids, word_ids = encode(words)
    seen = {w for w in word_ids if w is not None}
    if len(seen) < len(words):
        ids, word_ids = encode([w if i in seen else tok.unk_token for i, w in enumerate(words)])
    return ids, word_ids


def _check_inputs(encoder: Encoder, sentences, pooling: str, layers) -> tuple[int, ...]:
    if pooling not in POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
    if len(sentences) == 0:
        raise InputError("no sentences to embed: pass at least one non-empty list of words")
    for i, words in enumerate(sentences):
        if isinstance(words, str) or len(words) == 0:
            raise InputError(f"sentence {i} must be a non-empty list of words, got {words!r}")
    n_layers = encoder.n_layers
    layers = tuple(range(n_layers + 1)) if layers is None else tuple(layers)
    bad = [layer for layer in layers if not 0 <= layer <= n_layers]
    if bad:
        raise InputError(f"layers {bad} do not exist: {encoder.name} has layers 0 (embeddings)..{n_layers}")
    return layers


@torch.no_grad()
def extract_layers(encoder: Encoder, sentences: Sequence[Sequence[str]], pooling: str = "first",
                   layers: Sequence[int] | None = None, batch_size: int = 32,
                   progress: bool = True, precision: str = "fp32") -> Reps:
    """Embed pre-tokenised sentences; returns :class:`Reps` with words in input order.

    ``precision``: ``fp32``, ``bf16`` (autocast: about 2x faster on a CPU with native bf16, words'
    vectors within 1% of fp32), ``fp16`` or ``auto`` (:func:`lib.encoders.runtime.resolve_precision`)."""
    layers = _check_inputs(encoder, sentences, pooling, layers)
    precision = extraction_precision(encoder.model.device.type, precision)
    encoded = [tokenize_words(encoder.tokenizer, words) for words in sentences]
    limit = family_of(encoder.model).max_tokens
    too_long = [i for i, (ids, _) in enumerate(encoded) if len(ids) > limit]
    if too_long:
        raise InputError(f"sentences {too_long[:5]} have more than {limit} subwords, the model's limit: "
                         "split or drop them")
    device = encoder.model.device
    order = np.argsort([len(ids) for ids, _ in encoded], kind="stable")
    per_sentence: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(sentences)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=f"embedding ({encoder.name})", disable=not progress, leave=False):
        padded = encoder.tokenizer.pad({"input_ids": [encoded[i][0] for i in batch]}, return_tensors="pt")
        with autocast(device, precision):
            out = encoder.model(input_ids=padded["input_ids"].to(device),
                                attention_mask=padded["attention_mask"].to(device), output_hidden_states=True)
        hidden = torch.stack([out.hidden_states[layer].float() for layer in layers])  # (layers, batch, tokens, hidden)
        pooled = _pool_batch(hidden, [encoded[i][1] for i in batch], [len(sentences[i]) for i in batch], pooling)
        for i, result in zip(batch, pooled):
            per_sentence[i] = result
    vectors = np.concatenate([v for v, _ in per_sentence], axis=1)
    sentence = np.repeat(np.arange(len(sentences)), [len(p) for _, p in per_sentence])
    position = np.concatenate([p for _, p in per_sentence])
    return Reps(vectors=vectors, sentence=sentence, position=position, layers=layers)


def extraction_precision(device_type: str, precision: str = "auto") -> str:
    """``fp32``, ``bf16`` or ``fp16`` for a forward pass on ``device_type``, as training decides
    (:func:`lib.encoders.runtime.resolve_precision`)."""
    return resolve_precision(device_type, precision)


def _pool_batch(hidden: torch.Tensor, word_ids: list[list[int | None]], n_words: list[int],
                pooling: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(layers, batch, tokens, hidden) subword states -> per sentence (layers, rows, hidden) vectors
    and each row's word, pooled on the device in one gather (one scatter for ``mean``) and copied
    to the host once per batch (not once per sentence)."""
    n_layers, width, dim = hidden.shape[0], hidden.shape[2], hidden.shape[3]
    flat = hidden.reshape(n_layers, -1, dim)
    picks, targets, words = [], [], []  # flat tokens, their output rows (mean), per sentence its rows' words
    n_rows = 0
    for b, (ids, n) in enumerate(zip(word_ids, n_words)):
        tokens = [(t, w) for t, w in enumerate(ids) if w is not None]  # padding is never selected
        if pooling == "subwords":
            picks += [b * width + t for t, _ in tokens]
            words.append(np.array([w for _, w in tokens], dtype=np.int64))
        elif pooling == "first":
            first: dict[int, int] = {}
            for t, w in tokens:
                first.setdefault(w, t)
            picks += [b * width + first[w] for w in range(n)]  # a word without subwords is an error, as before
            words.append(np.arange(n))
        else:
            picks += [b * width + t for t, _ in tokens]
            targets += [n_rows + w for _, w in tokens]
            words.append(np.arange(n))
        n_rows += len(words[-1])
    index = torch.as_tensor(picks, device=hidden.device)
    if pooling == "mean":
        segment = torch.as_tensor(targets, device=hidden.device)
        sums = torch.zeros(n_layers, n_rows, dim, dtype=hidden.dtype, device=hidden.device)
        sums.index_add_(1, segment, flat[:, index])
        vectors = sums / torch.bincount(segment, minlength=n_rows).clamp(min=1)[None, :, None].to(hidden.dtype)
    else:
        vectors = flat[:, index]
    vectors = vectors.float().cpu().numpy()
    bounds = np.cumsum([0] + [len(w) for w in words])  # bounds[-1] == n_rows
    return [(vectors[:, bounds[k]:bounds[k + 1]], words[k]) for k in range(len(words))]


def word_starts(reps: Reps) -> np.ndarray:
    """The row of each word's first vector, in order, and one past the last row: word ``g`` (counted
    over all sentences) has rows ``starts[g]:starts[g + 1]``."""
    new_word = np.r_[True, (np.diff(reps.sentence) != 0) | (np.diff(reps.position) != 0)]
    return np.r_[np.flatnonzero(new_word), len(reps.sentence)]


def to_words(reps: Reps, pooling: str) -> Reps:
    """Word vectors (``first`` or ``mean`` pooling) from subword rows (``pooling="subwords"``); the
    same numbers :func:`extract_layers` gives with that pooling. Word rows pass through unchanged."""
    starts = word_starts(reps)
    if len(starts) - 1 == len(reps.sentence):
        return reps
    if pooling == "first":
        vectors = reps.vectors[:, starts[:-1]]
    elif pooling == "mean":
        vectors = np.add.reduceat(reps.vectors, starts[:-1], axis=1) / np.diff(starts)[None, :, None]
    else:
        raise InputError(f"words are pooled 'first' or 'mean', not {pooling!r}")
    return Reps(vectors=vectors.astype(np.float32), sentence=reps.sentence[starts[:-1]],
                position=reps.position[starts[:-1]], layers=reps.layers)
