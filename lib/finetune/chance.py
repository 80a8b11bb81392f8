"""Chance scores: what a task's metric gives without reading the input, on a given test set.

A score is compared with a frozen or restored model's only above chance: ``(score - chance) /
(full - chance)`` is the share of what fine-tuning achieved above chance that is kept.

- ``accuracy`` (NLI, sentiment): the share of the test set's most frequent class (always
  answering it).
- ``uas``: a uniformly random head among the ``n`` choices of a word in an ``n``-word sentence
  (the other ``n - 1`` words and the root), ``mean(1 / n)`` over the scored words (punctuation
  excluded, as in UAS); ``las``: that times the share of the most frequent relation (the label
  drawn independently of the head).
- ``f1``, ``exact_match`` (SQuAD): 0.
"""
from __future__ import annotations

import collections

import pandas as pd

from lib.data import Record
from lib.finetune.config import Finetuning
from lib.finetune.tasks import load_test


def chance_scores(task: str, records: list[Record]) -> dict[str, float]:
    """The chance score of each metric of ``task`` on ``records`` (see the module docstring).

    >>> from lib.data import Record
    >>> r = Record("a", "ewt", "test", "x", "a b", ("a", "b"), upos=("X", "X"), heads=(0, 1), deprels=("root", "dep"))
    >>> chance_scores("parsing", [r])
    {'uas': 0.5, 'las': 0.25}
    """
    if task in ("nli", "sentiment"):
        classes = collections.Counter(int(r.label > 0) if task == "sentiment" else r.label for r in records)
        return {"accuracy": max(classes.values()) / sum(classes.values())}
    if task == "parsing":
        scored = [(len(r.words), rel) for r in records for tag, rel in zip(r.upos, r.deprels) if tag != "PUNCT"]
        uas = sum(1 / n for n, _ in scored) / len(scored)
        relations = collections.Counter(rel for _, rel in scored)
        return {"uas": uas, "las": uas * max(relations.values()) / len(scored)}
    return {"f1": 0.0, "exact_match": 0.0}


def chance_table(finetuning: Finetuning, tasks: list[str], n_test: int, data_dir: str | None = None) -> pd.DataFrame:
    """(task, metric, chance) on the first ``n_test`` test examples of each task, the set that
    chapter 2 (``n_test``) and the ablations (``n_eval``) score on."""
    rows = []
    for task in tasks:
        data = load_test(task, n_test, finetuning.nli_dataset if task == "nli" else "", data_dir)
        rows += [{"task": task, "metric": m, "chance": v} for m, v in chance_scores(task, data.test).items()]
    return pd.DataFrame(rows, columns=["task", "metric", "chance"])
