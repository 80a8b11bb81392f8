"""The fine-tuning tasks: their data, labels, metrics and model inputs.

- ``nli``: sentence-pair classification; SNLI (``dataset="snli"``) or MNLI matched (``"mnli"``).
- ``sentiment``: VADER movie-review snippets, positive if the mean rating is >= +0.5 and negative
  if <= -0.5; the band in between is dropped (our choice). A seeded 80/10/10 split.
- ``parsing``: UD EWT dependency parsing, scored by UAS/LAS without punctuation (UPOS ``PUNCT``).
- ``qa``: SQuAD v1.1 span extraction (context truncated to ``max_length``, no document stride).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from lib.artifacts import file_sha256
from lib.data import (NLI_LABELS, Record, checksums, dataset_files, load_ewt, load_mnli, load_snli, load_squad,
                      load_vader)
from lib.data.hub import HUB_IDS, export_help, hub_revision, local_exports
from lib.errors import InputError

TASKS = ("nli", "sentiment", "parsing", "qa")
METRICS = {"nli": ("accuracy",), "sentiment": ("accuracy",), "parsing": ("uas", "las"),
           "qa": ("f1", "exact_match")}
MAIN_METRIC = {"nli": "accuracy", "sentiment": "accuracy", "parsing": "las", "qa": "f1"}  # what a verdict reads
SENTIMENT_BAND = 0.5  # |mean rating| below this is neutral and dropped
SENTIMENT_LABELS = ("negative", "positive")


@dataclass
class TaskData:
    """Train / dev / test records of a task and its label set (``labels``: classes or relations)."""

    task: str
    dataset: str
    train: list[Record]
    dev: list[Record]
    test: list[Record]
    labels: tuple[str, ...]


def check_task(task: str) -> str:
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    return task


# The hub splits a task reads (train; then dev and test, which share MNLI's matched validation
# and SQuAD's validation split): the keys of ``hub_files``.
HUB_SPLITS = {"mnli": ("train", "validation_matched"), "squad": ("train", "validation")}


def check_hub_files(name: str, hub_files: Mapping[str, str] | None, data_dir: str | None = None) -> dict[str, str]:
    """``hub_files`` for hub dataset ``name``, else the local export in the data mirror or cache
    (:func:`lib.data.hub.local_exports`): one file per split of :data:`HUB_SPLITS`, each an existing
    file; empty where there is neither (read through ``datasets``)."""
    if not hub_files:
        exports = local_exports(name, data_dir)
        if exports and not set(HUB_SPLITS[name]) <= set(exports):
            raise InputError(f"the local export of {name} has {', '.join(sorted(exports))} but not every split "
                             f"{', '.join(HUB_SPLITS[name])}: {export_help(name, data_dir)}")
        hub_files = {split: str(exports[split]) for split in HUB_SPLITS[name]} if exports else {}
    if not hub_files:
        return {}
    needed = HUB_SPLITS[name]
    if set(hub_files) != set(needed):
        raise InputError(f"hub_files for {name} must give one file for each split {', '.join(needed)} "
                         f"(got {', '.join(sorted(hub_files)) or 'none'})")
    for split, path in hub_files.items():
        if not Path(path).is_file():
            raise InputError(f"hub_files[{split!r}] = {path} is not a file: pass a hub export (.jsonl or .parquet)")
    return {split: str(hub_files[split]) for split in needed}


def _hub_dataset(task: str, dataset: str) -> str | None:
    if task == "qa":
        return "squad"
    return "mnli" if task == "nli" and dataset == "mnli" else None


def data_identity(task: str, dataset: str = "", hub_files: Mapping[str, str] | None = None,
                  data_dir: str | None = None) -> dict:
    """The content of a task's data, for the keys of results computed from it: the checksums of the
    mirror files it reads, or of each split's local hub export, or the hub id and the revision that
    ``datasets`` resolved (:func:`lib.data.hub.hub_revision`) when read through ``datasets``."""
    check_task(task)
    name = _hub_dataset(task, dataset)
    if name is None and hub_files:
        raise InputError(f"hub_files are for MNLI and SQuAD; task {task!r} reads {dataset or 'the mirror'}")
    if task == "nli" and (dataset or "snli") == "snli":
        return checksums(dataset_files("snli"))
    if task == "sentiment":
        return checksums(dataset_files("vader-movies"))
    if task == "parsing":
        return checksums(dataset_files("ewt"))
    files = check_hub_files(name, hub_files, data_dir)
    if files:
        return {"hub_exports": {split: file_sha256(path) for split, path in files.items()}}
    return {"hub": HUB_IDS[name], "revision": hub_revision(name, data_dir)}


def _sample(records: list[Record], n: int, seed: int) -> list[Record]:
    """``n`` records in a fixed random order (all when n <= 0 or n >= len)."""
    order = np.random.default_rng(seed).permutation(len(records))
    return [records[i] for i in (order if n <= 0 else order[:n])]


def load_task(task: str, n_train: int, n_dev: int, n_test: int, dataset: str = "",
              data_dir: str | None = None, hub_files: Mapping[str, str] | None = None) -> TaskData:
    """The task's data; ``n_* <= 0`` keeps the whole split. Samples use data seed 0 (our choice),
    so that training seeds differ only in initialisation and batch order. ``hub_files``: a local
    export per hub split of MNLI or SQuAD (:data:`HUB_SPLITS`); none: read through ``datasets``."""
    check_task(task)
    name = _hub_dataset(task, dataset)
    files = check_hub_files(name, hub_files, data_dir) if name else {}
    if task == "nli":
        dataset = dataset or "snli"
        if dataset == "snli":
            train, dev, test = (load_snli(s, data_dir) for s in ("train", "dev", "test"))
        elif dataset == "mnli":
            train = load_mnli("train", files.get("train"))
            dev = test = load_mnli("validation_matched", files.get("validation_matched"))
        else:
            raise InputError(f"unknown NLI dataset {dataset!r}; valid: snli, mnli")
        labels = NLI_LABELS
    elif task == "sentiment":
        dataset = "vader-movies"
        snippets = [r for r in load_vader("movies", data_dir) if abs(r.label) >= SENTIMENT_BAND]
        snippets = _sample(snippets, 0, seed=0)
        cut1, cut2 = int(0.8 * len(snippets)), int(0.9 * len(snippets))
        train, dev, test = snippets[:cut1], snippets[cut1:cut2], snippets[cut2:]
        labels = SENTIMENT_LABELS
    elif task == "parsing":
        dataset = "ewt"
        train, dev, test = (load_ewt(s, data_dir) for s in ("train", "dev", "test"))
        labels = tuple(sorted({rel for r in train for rel in r.deprels}))
    else:
        dataset = "squad"
        train = load_squad("train", files.get("train"))
        dev = test = load_squad("validation", files.get("validation"))
        labels = ()
    return TaskData(task, dataset, _sample(train, n_train, 0), _sample(dev, n_dev, 0),
                    _sample(test, n_test, 0), labels)


def load_test(task: str, n_test: int, dataset: str = "", data_dir: str | None = None) -> TaskData:
    """The task's first ``n_test`` test examples (0: all), the same ones :func:`load_task` scores a
    model on (its train and dev splits hold one example each: nothing trains on them)."""
    return load_task(task, 1, 1, n_test, dataset, data_dir)


def label_of(record: Record, task: str, labels: tuple[str, ...]) -> int:
    """The class index of a classification record."""
    if task == "sentiment":
        return int(record.label > 0)
    if record.label not in labels:
        raise InputError(f"record {record.id} has label {record.label!r}, not one of {labels}")
    return labels.index(record.label)


def check_parsing_records(records: list[Record]) -> None:
    """Parsing needs gold heads and relations on every word."""
    for record in records:
        if not record.heads or len(record.heads) != len(record.words) or len(record.deprels) != len(record.words):
            raise InputError(f"record {record.id} ({record.dataset}) has no dependency heads and relations: "
                             "parsing needs treebank data such as EWT")
