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

import numpy as np
import pandas as pd

from lib.data import Record, load_ewt
from lib.encoders.loading import pick_device
from lib.experiments.shift import domain_sentences
from lib.finetune.config import Finetuning
from lib.finetune.layers import task_layers
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


def input_vectors(finetuning: Finetuning, task: str, inputs: str, n_sentences: int, n_tokens: int, seed: int,
                  pooling: str = "first", data_dir: str | None = None, device: str = "cpu",
                  progress: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """The pre-trained and each fine-tuned seed's vectors (layers, tokens, hidden) of ``n_tokens``
    word tokens (drawn with ``seed``) of ``inputs``."""
    records = similarity_sentences(task, inputs, n_sentences, data_dir)
    pre, tuned = task_layers(finetuning, task, records, pooling=pooling, data_dir=data_dir, device=device,
                             progress=progress)
    index = sample_tokens(pre.n_words, n_tokens, seed)
    return pre.vectors[:, index], [t.vectors[:, index] for t in tuned]


def similarity_table(finetuning: Finetuning, task: str, inputs: str, n_sentences: int, n_tokens: int, seed: int,
                     method: str = "cosine", standardize: bool = False, pooling: str = "first",
                     data_dir: str | None = None, device: str = "cpu", progress: bool = True) -> pd.DataFrame:
    """:func:`lib.similarity.compare.versus_pretrained` of ``task`` on ``inputs``, with columns
    ``task`` and ``inputs``."""
    pre, tuned = input_vectors(finetuning, task, inputs, n_sentences, n_tokens, seed, pooling, data_dir, device,
                               progress)
    return versus_pretrained(pre, tuned, method, standardize, device=pick_device(device)).assign(task=task, inputs=inputs)
