"""Model inputs for each task, length-grouped batches and dynamic padding.

A feature is a dict of python lists for one example; :func:`collate` pads a batch of them to its
own longest member (dynamic padding), never to a fixed length. A feature carries ``token_type_ids``
only where the tokenizer makes them (BERT's does; RoBERTa's, DistilBERT's and ModernBERT's do not),
and the model reads them only where it has token types (:attr:`lib.encoders.families.Family.token_types`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from lib.data import Record
from lib.encoders.extraction import tokenize_words
from lib.finetune.tasks import check_parsing_records, label_of
from lib.errors import InputError

PAD_LABEL = -100  # ignored by the losses


def encode_classification(records: Sequence[Record], tokenizer, task: str, labels: tuple[str, ...],
                          max_length: int) -> list[dict]:
    """[CLS] text [SEP] (pair [SEP]) truncated to ``max_length`` subwords, with the class index."""
    texts = [r.text for r in records]
    pairs = [r.pair for r in records] if records and records[0].pair is not None else None
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    return [{"input_ids": enc["input_ids"][i], **_token_types(enc, i), "label": label_of(r, task, labels)}
            for i, r in enumerate(records)]


def _token_types(enc, i: int) -> dict:
    """Example ``i``'s token type ids, where the tokenizer makes them."""
    return {"token_type_ids": enc["token_type_ids"][i]} if "token_type_ids" in enc else {}


def encode_parsing(records: Sequence[Record], tokenizer, labels: tuple[str, ...], max_length: int) -> list[dict]:
    """Subwords of each sentence, the first subword of every word, gold heads and relations.

    Sentences longer than ``max_length`` subwords are kept whole up to the model's 512 limit
    (a parse needs all its words); ``punct`` marks the words left out of UAS/LAS.
    """
    check_parsing_records(records)
    features = []
    for record in records:
        ids, word_ids = tokenize_words(tokenizer, record.words)
        if len(ids) > max(max_length, 512):
            raise InputError(f"sentence {record.id} has {len(ids)} subwords, more than the model's 512")
        starts = [t for t, w in enumerate(word_ids) if w is not None and (t == 0 or word_ids[t - 1] != w)]
        rels = [labels.index(rel) if rel in labels else PAD_LABEL for rel in record.deprels]
        features.append({"input_ids": ids, "word_starts": starts, "heads": list(record.heads), "rels": rels,
                         "punct": [tag == "PUNCT" for tag in record.upos]})
    return features


def encode_qa(records: Sequence[Record], tokenizer, max_length: int) -> list[dict]:
    """[CLS] question [SEP] context [SEP]; the first answer's token span ((0, 0) if truncated away).

    ``context`` marks the tokens an answer may cover: the context and the special tokens after it
    (BERT's token type 1; found by the tokenizer's sequence ids, which every family has).
    """
    enc = tokenizer([r.pair for r in records], [r.text for r in records], truncation="only_second",
                    max_length=max_length, return_offsets_mapping=True)
    features = []
    for i, record in enumerate(records):
        offsets, sequence = enc["offset_mapping"][i], enc.sequence_ids(i)
        text, char_start = record.answers[0]
        char_end = char_start + len(text)
        inside = [t for t, (a, b) in enumerate(offsets) if sequence[t] == 1 and a < char_end and b > char_start]
        start, end = (inside[0], inside[-1]) if inside else (0, 0)
        first = sequence.index(1) if 1 in sequence else len(sequence)
        features.append({"input_ids": enc["input_ids"][i], **_token_types(enc, i),
                         "context": [t >= first for t in range(len(sequence))], "start": start, "end": end,
                         "offsets": [o if s == 1 else None for o, s in zip(offsets, sequence)]})
    return features


def encode_task(records: Sequence[Record], tokenizer, data, max_length: int) -> list[dict]:
    """Model inputs of ``records`` for the task of ``data`` (a :class:`lib.finetune.tasks.TaskData`)."""
    if data.task in ("nli", "sentiment"):
        return encode_classification(records, tokenizer, data.task, data.labels, max_length)
    if data.task == "parsing":
        return encode_parsing(records, tokenizer, data.labels, max_length)
    return encode_qa(records, tokenizer, max_length)


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True,
                           group: int = 50) -> list[np.ndarray]:
    """Batches of similar length: shuffle, sort within chunks of ``group`` batches, shuffle batches.

    Deterministic for a seed; ``shuffle=False`` gives length-sorted batches (evaluation).
    """
    lengths = np.asarray(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    chunk = batch_size * group
    order = np.concatenate([c[np.argsort(-lengths[c], kind="stable")]
                            for c in (order[i:i + chunk] for i in range(0, len(order), chunk))])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _pad(rows: list[list], value, width: int = 0) -> torch.Tensor:
    """``rows`` padded with ``value`` to the longest of them (or to ``width`` if wider)."""
    width = max(width, *(len(r) for r in rows))
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows])


def collate(features: list[dict], pad_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member (or to ``pad_to``: the fixed-padding baseline)."""
    ids = [f["input_ids"] + [pad_id] * ((pad_to or 0) - len(f["input_ids"])) for f in features]
    batch = {"input_ids": _pad(ids, pad_id)}
    batch["attention_mask"] = (batch["input_ids"] != pad_id).long()
    first, width = features[0], batch["input_ids"].shape[1]
    if "token_type_ids" in first:
        batch["token_type_ids"] = _pad([f["token_type_ids"] for f in features], 0, width)
    if "label" in first:
        batch["labels"] = torch.tensor([f["label"] for f in features])
    if "word_starts" in first:
        batch["word_starts"] = _pad([f["word_starts"] for f in features], 0)
        batch["word_mask"] = _pad([[True] * len(f["word_starts"]) for f in features], False)
        batch["heads"] = _pad([f["heads"] for f in features], PAD_LABEL)
        batch["rels"] = _pad([f["rels"] for f in features], PAD_LABEL)
        batch["punct"] = _pad([f["punct"] for f in features], True)
    if "context" in first:
        batch["context"] = _pad([f["context"] for f in features], False, width)
    if "start" in first:
        batch["start"] = torch.tensor([f["start"] for f in features])
        batch["end"] = torch.tensor([f["end"] for f in features])
    if "states" in first:  # stored hidden states of a frozen prefix (lib.experiments.prefix)
        if len({f["states_layer"] for f in features}) != 1:
            raise InputError("a batch mixes hidden states of different layers")
        batch["states"] = torch.nn.utils.rnn.pad_sequence([f["states"] for f in features], batch_first=True)
        batch["states"] = torch.nn.functional.pad(batch["states"],
                                                  (0, 0, 0, batch["input_ids"].shape[1] - batch["states"].shape[1]))
        batch["states_layer"] = torch.tensor(first["states_layer"])
    return batch
