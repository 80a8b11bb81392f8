"""The text a similarity is measured on: each task's own held-out text, and one shared pool.

Measured on one text for every task (EWT, say), a comparison between tasks is confounded by the
text: it is in-domain for one task and out of domain for the others, and in-domain text changes
more (chapter 6). So the book measures each task on two inputs (:data:`INPUTS`):

- ``own``: the task's own held-out text (:data:`OWN_TEXT`): SNLI test premises for NLI, the
  sentiment task's test snippets, EWT test sentences for parsing, Wikipedia for QA (SQuAD's source);
- ``wikipedia``: one neutral pool shared by every task, which none of them trained on.

A claim about where one task acts reads its own text; a comparison between tasks reads the
shared pool (:mod:`lib.experiments.findings`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from lib.data import Record, load_ewt
from lib.encoders.runtime import Runtime
from lib.experiments.shift import domain_sentences
from lib.finetune.config import Finetuning
from lib.finetune.vectors import task_layers
from lib.finetune.tasks import check_task
from lib.similarity.compare import sample_tokens, versus_pretrained
from lib.errors import InputError

INPUTS = {"own": "the task's own held-out text", "wikipedia": "Wikipedia sentences, shared by every task"}
OWN_TEXT = {"nli": "SNLI test premises", "sentiment": "movie snippets of the sentiment test split",
            "parsing": "EWT test sentences", "qa": "Wikipedia sentences (SQuAD's source)"}
_OWN_DOMAIN = {"nli": "snli", "sentiment": "movies", "qa": "wikipedia"}


def check_inputs(inputs: str) -> str:
    if inputs not in INPUTS:
        raise InputError(f"unknown similarity inputs {inputs!r}; valid: {', '.join(INPUTS)}")
    return inputs


def input_name(task: str, inputs: str) -> str:
    """What ``inputs`` are for ``task``, in words."""
    return OWN_TEXT[check_task(task)] if check_inputs(inputs) == "own" else INPUTS["wikipedia"]


def similarity_sentences(task: str, inputs: str, n: int, data_dir: str | None = None) -> list[Record]:
    """``n`` held-out sentences of ``inputs`` for ``task`` (0: all). EWT's are the first of its test
    split (the probes' test sentences); the others come from :func:`lib.experiments.shift.domain_sentences`."""
    check_task(task)
    if check_inputs(inputs) == "own" and task == "parsing":
        return load_ewt("test", data_dir)[:n or None]
    return domain_sentences("wikipedia" if inputs == "wikipedia" else _OWN_DOMAIN[task], n, data_dir)


@dataclass(frozen=True)
class Similarity:
    """The similarity stage's settings: ``n_sentences`` held-out sentences per text (0: all), of
    which ``n_tokens`` word tokens are drawn with ``seed``; word vectors pooled by ``pooling``; RDMs
    with dissimilarity ``method`` (:mod:`lib.similarity.rsa`)."""

    n_sentences: int
    n_tokens: int
    seed: int = 0
    method: str = "cosine"
    pooling: str = "first"

    PARAMETERS = ("probe_test_sentences", "similarity_tokens", "seed", "rdm_method", "pooling")

    @classmethod
    def from_parameters(cls, values: Mapping) -> "Similarity":
        """The stage a chapter's (or a profile's) checked parameters set: the probes' test sentences."""
        return cls(n_sentences=values["probe_test_sentences"], n_tokens=values["similarity_tokens"],
                   seed=values["seed"], method=values["rdm_method"], pooling=values["pooling"])


def input_vectors(finetuning: Finetuning, similarity: Similarity, task: str, inputs: str, runtime: Runtime,
                  progress: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """The pre-trained and each fine-tuned seed's vectors (layers, tokens, hidden) of
    ``similarity.n_tokens`` word tokens (drawn with its seed) of ``inputs``."""
    records = similarity_sentences(task, inputs, similarity.n_sentences, runtime.data_dir)
    pre, tuned = task_layers(finetuning, task, records, runtime, pooling=similarity.pooling, progress=progress)
    index = sample_tokens(pre.n_words, similarity.n_tokens, similarity.seed)
    return pre.vectors[:, index], [t.vectors[:, index] for t in tuned]


def similarity_table(finetuning: Finetuning, similarity: Similarity, task: str, inputs: str, runtime: Runtime,
                     standardize: bool = False, progress: bool = True, per_seed: bool = False) -> pd.DataFrame:
    """:func:`lib.similarity.compare.versus_pretrained` of ``task`` on ``inputs``, with columns
    ``task`` and ``inputs`` (``per_seed``: its comparisons, seed by seed, behind the means)."""
    pre, tuned = input_vectors(finetuning, similarity, task, inputs, runtime, progress)
    return versus_pretrained(pre, tuned, similarity.method, standardize, device=runtime.device,
                             per_seed=per_seed).assign(task=task, inputs=inputs)
