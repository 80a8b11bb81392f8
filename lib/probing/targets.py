"""Edge-probing data: labelled spans and span pairs over sentences, as jiant defines the tasks.

An :class:`EdgeTargets` holds, for one task, each target's sentence, its span(s) as word offsets
``[start, end)`` and its label. The tasks and their sentences:

- ``upos`` (EWT): one word -> its part of speech;
- ``deprel`` (EWT): the pair dependent -> head, its relation (the root's head is itself);
- ``entities`` (GUM): an entity mention -> its type (person, place, abstract, ...; 10 types);
- ``coreference`` (GUM): two mentions of one sentence, both in a chain of at least two mentions in
  their document -> ``1`` if the same entity, else ``0`` (every such pair, as jiant's OntoNotes
  extraction pairs them);
- ``constituents`` (SNLI premises, silver Stanford-parser trees): a phrase -> its nonterminal label.

A span can carry several labels (a mention of two types, a unary chain ``S -> VP``): such a target
joins its sorted labels with ``+`` and is probed with one sigmoid per label (:data:`MULTI_LABEL`).
jiant's edge-probing JSON lines (``{"text": ..., "targets": [{"span1": [s, e], "span2": [s, e],
"label": ...}]}``) load into the same form, so OntoNotes-derived files probe with the same code.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from lib.data import Record
from lib.errors import InputError

EDGE_TASKS = ("upos", "deprel", "entities", "coreference", "constituents")
MULTI_LABEL = frozenset({"entities", "constituents"})  # targets that can carry several labels
POSITIVE = {"coreference": "1"}  # scored by this label's F1: a pair is rarely coreferent (about 1 in 6)
CONTROLLED = ("upos", "deprel")  # Hewitt & Liang (2019) define control tasks for these two only
SEPARATOR = "+"


@dataclass
class EdgeTargets:
    """``sentence`` (n,), ``span1`` / ``span2`` (n, 2) word offsets (span2 is None for one-span
    tasks), ``labels`` (n,) strings (several labels joined by ``+``); ``words`` are the sentences' words."""

    words: list[tuple[str, ...]]
    sentence: np.ndarray
    span1: np.ndarray
    span2: np.ndarray | None
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def edge_targets(records: list[Record], task: str) -> EdgeTargets:
    """The targets of ``task`` in ``records`` (EWT records for upos and deprel, GUM for entities and
    coreference, parsed SNLI premises for constituents)."""
    if task not in EDGE_TASKS:
        raise InputError(f"unknown edge task {task!r}; valid: {', '.join(EDGE_TASKS)}")
    sentence, span1, span2, labels = [], [], [], []
    for s, record in enumerate(records):
        for first, second, label in _targets(record, task):
            sentence.append(s)
            span1.append(first)
            if second is not None:
                span2.append(second)
            labels.append(label)
    if not labels:
        raise InputError(f"the {len(records)} sentences hold no {task} target: probe {task} on its own corpus "
                         "(EWT for upos and deprel, GUM for entities and coreference, SNLI for constituents)")
    return EdgeTargets(words=[r.words for r in records], sentence=np.array(sentence), span1=np.array(span1),
                       span2=np.array(span2) if span2 else None, labels=np.array(labels))


def _targets(record: Record, task: str):
    """(span1, span2 or None, label) of one sentence."""
    if task == "upos":
        return [((i, i + 1), None, tag) for i, tag in enumerate(record.upos)]
    if task == "deprel":
        heads = [h - 1 if h > 0 else i for i, h in enumerate(record.heads)]
        return [((i, i + 1), (h, h + 1), rel) for i, (h, rel) in enumerate(zip(heads, record.deprels))]
    if task == "coreference":
        chained = sorted({(s, e, chain) for s, e, _, chain in record.mentions if chain})
        return [((a[0], a[1]), (b[0], b[1]), "1" if a[2] == b[2] else "0") for a, b in combinations(chained, 2)]
    spans = defaultdict(set)
    phrases = record.mentions if task == "entities" else record.constituents
    for start, end, label, *_ in phrases:
        spans[(start, end)].add(label)
    return [(span, None, SEPARATOR.join(sorted(found))) for span, found in sorted(spans.items())]


def atoms(label: str, multi_label: bool) -> list[str]:
    """A target's labels: the ``+``-joined ones of a multi-label task, else the label itself."""
    return label.split(SEPARATOR) if multi_label else [label]


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
                labels.append(SEPARATOR.join(sorted(map(str, label))) if isinstance(label, list) else str(label))
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
