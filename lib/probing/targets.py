"""Edge-probing data: labelled spans and span pairs over sentences, from EWT or jiant files.

An :class:`EdgeTargets` holds, for one task, each target's sentence, its span(s) as word offsets
``[start, end)`` and its label. EWT gives two tasks: ``upos`` (one word, its part of speech) and
``deprel`` (the pair dependent -> head, its relation; the root's head is itself). jiant's
edge-probing JSON lines (``{"text": ..., "targets": [{"span1": [s, e], "span2": [s, e],
"label": ...}]}``) load into the same form, so OntoNotes-derived files probe with the same code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib.data import Record
from lib.errors import InputError

EDGE_TASKS = ("upos", "deprel")


@dataclass
class EdgeTargets:
    """``sentence`` (n,), ``span1`` / ``span2`` (n, 2) word offsets (span2 is None for one-span
    tasks), ``labels`` (n,) strings; ``words`` are the sentences' words."""

    words: list[tuple[str, ...]]
    sentence: np.ndarray
    span1: np.ndarray
    span2: np.ndarray | None
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def ewt_targets(records: list[Record], task: str) -> EdgeTargets:
    """UPOS or dependency-relation targets of EWT sentences."""
    if task not in EDGE_TASKS:
        raise InputError(f"unknown edge task {task!r}; valid: {', '.join(EDGE_TASKS)}")
    sentence, span1, span2, labels = [], [], [], []
    for s, record in enumerate(records):
        for i in range(len(record.words)):
            sentence.append(s)
            span1.append((i, i + 1))
            if task == "upos":
                labels.append(record.upos[i])
            else:
                head = record.heads[i] - 1 if record.heads[i] > 0 else i
                span2.append((head, head + 1))
                labels.append(record.deprels[i])
    return EdgeTargets(words=[r.words for r in records], sentence=np.array(sentence), span1=np.array(span1),
                       span2=np.array(span2) if task == "deprel" else None, labels=np.array(labels))


def _span(value, n_words: int, where: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise InputError(f"{where}: a span is [start, end] in word offsets, got {value!r}")
    start, end = value
    if not 0 <= start < end <= n_words:
        raise InputError(f"{where}: span {value} is outside the sentence of {n_words} words")
    return start, end


def read_jiant(path: str | Path) -> EdgeTargets:
    """Targets of a jiant edge-probing JSON-lines file (spans over ``text.split()``)."""
    words, sentence, span1, span2, labels = [], [], [], [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            tokens = tuple(row["text"].split())
            for t, target in enumerate(row.get("targets", [])):
                where = f"{path}:{number} target {t}"
                if "span1" not in target or "label" not in target:
                    raise InputError(f"{where}: a target needs span1 and label, got keys {sorted(target)}")
                span1.append(_span(target["span1"], len(tokens), where))
                if "span2" in target:
                    span2.append(_span(target["span2"], len(tokens), where))
                label = target["label"]
                labels.append(label[0] if isinstance(label, list) and len(label) == 1 else label)
                sentence.append(len(words))
            words.append(tokens)
    if span2 and len(span2) != len(span1):
        raise InputError(f"{path}: either every target has span2 or none does")
    return EdgeTargets(words=words, sentence=np.array(sentence), span1=np.array(span1),
                       span2=np.array(span2) if span2 else None, labels=np.array(labels, dtype=object).astype(str))


def control_labels(target_sets: list[EdgeTargets], seed: int) -> list[np.ndarray]:
    """Hewitt & Liang (2019) control task for each set (train, test, ...): every word type (of
    span1's first word, lower-cased) gets one random label, drawn from the label distribution of
    all sets together, and keeps it in every set and every occurrence."""
    rng = np.random.default_rng(seed)
    types = [[t.words[s][a].lower() for s, (a, _) in zip(t.sentence, t.span1)] for t in target_sets]
    values, counts = np.unique(np.concatenate([t.labels for t in target_sets]), return_counts=True)
    vocabulary = sorted({word for words in types for word in words})
    drawn = rng.choice(values, size=len(vocabulary), p=counts / counts.sum())
    assigned = dict(zip(vocabulary, drawn))
    return [np.array([assigned[word] for word in words]) for words in types]
