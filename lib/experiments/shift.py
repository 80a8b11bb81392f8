"""Domain shift: does fine-tuning change the representations of in-domain sentences more?

Each domain is a pool of held-out sentences (``DOMAINS``); a task's own domain is *in-domain*
(``IN_DOMAIN``). For every domain the pre-trained and fine-tuned models embed the same
sentences, a token sample is drawn, and the same-layer RSA and CKA of :mod:`lib.similarity`
compare them, with the seed floor. Samples are matched across domains in size and in word
frequency (:func:`matched_samples`), so that a domain does not look "changed" only because its
words are rarer. Where labels exist, the fine-tuned models are also scored out of domain.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lib.artifacts import cached_json
from lib.data import (EWT_GENRES, GUM_GENRES, VADER_DOMAINS, Record, load_ewt, load_gum, load_snli, load_vader,
                      load_wikipedia, records_digest, split_words)
from lib.encoders.runtime import Runtime
from lib.finetune.config import Finetuning
from lib.finetune.features import encode_task
from lib.finetune.metrics import evaluate
from lib.finetune.store import FineTuned, get_or_train
from lib.finetune.vectors import Pretrained
from lib.finetune.tasks import SENTIMENT_BAND, TaskData, check_task, load_task
from lib.similarity.compare import versus_pretrained
from lib.errors import InputError

DOMAINS = {"snli": "SNLI test premises (image captions)",
           **{f"ewt-{genre}": f"EWT test, {genre} genre" for genre in EWT_GENRES},
           **{f"gum-{genre}": f"GUM dev and test, {genre} genre (gold trees; CC BY-NC-SA)" for genre in GUM_GENRES},
           "wikipedia": "Wikipedia sample, split into sentences",
           **{domain: f"VADER {domain} snippets" for domain in VADER_DOMAINS}}
IN_DOMAIN = {"nli": {"snli"}, "sentiment": {"movies"}, "parsing": {f"ewt-{g}" for g in EWT_GENRES},
             "qa": {"wikipedia"}}
FREQUENCY_BINS = 8  # quantile bins of log word frequency that samples are matched on (our choice)
MIN_WORDS, MAX_WORDS = 4, 60  # sentences kept from raw text (our choice)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def check_domains(domains) -> list[str]:
    domains = list(domains)
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise InputError(f"unknown domain {unknown[0]!r}; valid: {', '.join(DOMAINS)}")
    if len(domains) < 2:
        raise InputError(f"domain shift compares at least two domains, got {domains}")
    return domains


def _movie_test(data_dir: str | None) -> list[Record]:
    """The sentiment task's own test split (movie snippets it never trained on)."""
    return load_task("sentiment", 1, 1, 0, data_dir=data_dir).test


def _gum_genre(genre: str, data_dir: str | None) -> list[Record]:
    """GUM's dev and test sentences of one genre: never trained on by this book's models."""
    return [r for split in ("dev", "test") for r in load_gum(split, data_dir) if r.domain == genre]


def _held_out(records: list[Record], n: int) -> list[Record]:
    kept = [r for r in records if MIN_WORDS <= len(r.words) <= MAX_WORDS]
    order = np.random.default_rng(0).permutation(len(kept))  # data seed 0, as for the task splits
    return [kept[i] for i in (order if n <= 0 else order[:n])]


def domain_sentences(domain: str, n: int, data_dir: str | None = None) -> list[Record]:
    """Up to ``n`` held-out sentences of ``domain`` (4 to 60 words; ``n <= 0``: all), in a fixed random order.

    Held out means never trained on by this book's models: SNLI and EWT test, the sentiment
    task's test split for movies; tweets, NYT, Amazon, GUM and Wikipedia are not training data at all.
    """
    check_domains([domain, domain])
    if domain == "snli":
        seen, records = set(), []
        for record in load_snli("test", data_dir):
            if record.text not in seen:  # each premise comes with several hypotheses
                seen.add(record.text)
                records.append(Record(id=f"snli-{record.id}", dataset="snli", split="test", domain="snli",
                                      text=record.text, words=record.words))
    elif domain.startswith("ewt-"):
        records = [r for r in load_ewt("test", data_dir) if r.domain == domain[4:]]
    elif domain.startswith("gum-"):
        records = _gum_genre(domain[4:], data_dir)
    elif domain == "wikipedia":
        records = [Record(id=f"{p.id}-{i}", dataset="wikipedia", split="all", domain="wikipedia", text=text,
                          words=split_words(text))
                   for p in load_wikipedia(data_dir) for i, text in enumerate(_SENTENCE_END.split(p.text))]
    elif domain == "movies":
        records = _movie_test(data_dir)
    else:
        records = load_vader(domain, data_dir)
    return _held_out(records, n)


def matched_samples(words: dict[str, list[str]], n: int, seed: int) -> dict[str, np.ndarray]:
    """Token indices per domain: ``n`` tokens each, with the same log-frequency histogram.

    Frequencies are counted over all the domains' tokens together; the histogram to match is
    proportional to the per-bin minimum over domains. Raises ValueError when a domain cannot give
    ``n`` matched tokens (more sentences, or a smaller ``n``, is the fix).
    """
    if n < 4:
        raise InputError(f"a token sample needs at least 4 tokens, got {n}")
    counts = Counter(w for tokens in words.values() for w in tokens)
    pooled = np.log([counts[w] for tokens in words.values() for w in tokens])
    edges = np.unique(np.quantile(pooled, np.linspace(0, 1, FREQUENCY_BINS + 1)[1:-1]))
    bins = {d: np.searchsorted(edges, np.log([counts[w] for w in tokens]), side="right")
            for d, tokens in words.items()}
    per_bin = np.array([[int((b == i).sum()) for i in range(len(edges) + 1)] for b in bins.values()])
    floor = per_bin.min(axis=0)
    if floor.sum() < n:
        available = dict(zip(words, per_bin.sum(axis=1)))
        poorest = min(available, key=available.get)
        raise InputError(f"too few sentences for a sample of {n} tokens matched in word frequency: only "
                         f"{floor.sum()} are (domain {poorest!r} has {available[poorest]} tokens in all); "
                         "raise shift_sentences or lower shift_tokens")
    quota = np.floor(n * floor / floor.sum()).astype(int)
    rest = np.argsort(-(n * floor / floor.sum() - quota), kind="stable")[:n - quota.sum()]
    quota[rest] += 1
    rng = np.random.default_rng(seed)
    return {d: np.sort(np.concatenate([rng.choice(np.flatnonzero(b == i), q, replace=False)
                                       for i, q in enumerate(quota) if q]))
            for d, b in bins.items()}


@dataclass(frozen=True)
class DomainShift:
    """The domain-shift stage's settings.

    ``domains``: per task, the domains it is compared on (its own among them); ``n_sentences``
    held-out sentences per domain; ``n_tokens`` word tokens per domain, matched in word frequency;
    ``n_eval`` labelled examples per domain for the out-of-domain scores (0: all); ``method`` the
    RDM's dissimilarity (:mod:`lib.similarity.rsa`).
    """

    domains: Mapping[str, Sequence[str]]
    n_sentences: int
    n_tokens: int
    n_eval: int
    method: str = "cosine"

    PARAMETERS = ("shift_domains", "shift_sentences", "shift_tokens", "shift_eval", "rdm_method")

    @classmethod
    def from_parameters(cls, values: Mapping) -> "DomainShift":
        """The stage a chapter's (or a profile's) checked parameters set."""
        return cls(domains=values["shift_domains"], n_sentences=values["shift_sentences"],
                   n_tokens=values["shift_tokens"], n_eval=values["shift_eval"], method=values["rdm_method"])


def shift_tables(finetuning: Finetuning, shift: DomainShift, task: str, runtime: Runtime,
                 domains: Sequence[str] | None = None, seed: int = 0, pooling: str = "first",
                 progress: bool = True, per_seed: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(similarity, scores)`` of ``task``'s fine-tuned models across ``domains`` (default:
    ``shift.domains[task]``); ``seed`` draws the token samples.

    similarity: (task, domain, in_domain, layer, measure, value, seed_floor), measures ``rsa``
    and ``cka``; scores: (task, seed, domain, in_domain, metric, value, n) where labels exist.
    ``per_seed``: the similarity's comparisons seed by seed instead of ``value`` and ``seed_floor``
    (``seed``, ``other``, ``value``: :func:`lib.similarity.compare.versus_pretrained`).
    """
    check_task(task)
    if not domains and task not in shift.domains:
        raise InputError(f"parameter shift_domains has no entry for task {task!r}: {shift.domains}")
    domains = check_domains(domains or shift.domains[task])
    if len(finetuning.seeds) < 1:
        raise InputError("domain shift needs at least one fine-tuning seed")
    sentences = {d: domain_sentences(d, shift.n_sentences, runtime.data_dir) for d in domains}
    samples = matched_samples({d: [w.lower() for r in s for w in r.words] for d, s in sentences.items()},
                              shift.n_tokens, seed)  # before any heavy work
    models = [get_or_train(finetuning.config(task, s), runtime, progress=progress) for s in finetuning.seeds]
    pretrained = Pretrained(finetuning.model)
    pre = {d: pretrained.layers(s, runtime, pooling=pooling, progress=progress) for d, s in sentences.items()}
    tables = []
    for domain in domains:
        tuned = [m.layers(sentences[domain], runtime, pooling=pooling, progress=progress) for m in models]
        index = samples[domain]
        table = versus_pretrained(pre[domain].vectors[:, index], [t.vectors[:, index] for t in tuned], shift.method,
                                  device=runtime.device, measures=("rsa", "cka"), per_seed=per_seed)
        tables.append(table.assign(domain=domain))
    similarity = pd.concat(tables, ignore_index=True).assign(task=task)
    similarity["in_domain"] = similarity.domain.isin(IN_DOMAIN[task])
    values = ["seed", "other", "value"] if per_seed else ["value", "seed_floor"]
    similarity = similarity[["task", "domain", "in_domain", "layer", "measure", *values]]
    scores = domain_scores(task, models, domains, shift.n_eval, runtime)
    return similarity, scores


def _labelled(task: str, domain: str, n: int, data_dir: str | None) -> list[Record]:
    if task == "sentiment" and domain in VADER_DOMAINS:
        records = load_vader(domain, data_dir) if domain != "movies" else _movie_test(data_dir)
        records = [r for r in records if abs(r.label) >= SENTIMENT_BAND]
    elif task == "parsing" and domain.startswith("ewt-"):
        records = [r for r in load_ewt("test", data_dir) if r.domain == domain[4:]]
    elif task == "parsing" and domain.startswith("gum-"):
        records = _gum_genre(domain[4:], data_dir)  # gold trees in another corpus: out of domain
    elif task == "nli" and domain == "snli":
        records = load_snli("test", data_dir)
    else:
        return []
    order = np.random.default_rng(0).permutation(len(records))
    return [records[i] for i in (order[:n] if n > 0 else order)]


def _score(tuned: FineTuned, task: str, domain: str, records: list[Record], runtime: Runtime) -> dict:
    """``tuned``'s metrics on ``records`` of ``domain`` (stored by content)."""
    identity = {"model": tuned.identity, "settings": tuned.trained, "task": task, "domain": domain,
                "records": records_digest(records), "device_type": runtime.device_type}

    def compute() -> dict:
        model = tuned.shared(runtime.device)
        data = TaskData(task, domain, [], [], records, tuned.labels)
        features = encode_task(records, model.tokenizer, data, tuned.config.max_length)
        return evaluate(model, features, task, model.tokenizer.pad_token_id, records=records,
                        precision=tuned.config.precision)

    return cached_json("shift-scores", identity, compute)


def domain_scores(task: str, models: list[FineTuned], domains: Sequence[str], n_eval: int,
                  runtime: Runtime) -> pd.DataFrame:
    """The task metric of each fine-tuned model on up to ``n_eval`` labelled examples (0: all) of
    each domain that has the task's labels. A task's only in-domain test set (SNLI for NLI, the
    movie snippets for sentiment) is scored as in chapter 2: the model's own test score, on its
    ``n_test`` examples, so that one model has one score for one test set across the book."""
    rows = []
    for domain in domains:
        if IN_DOMAIN[task] == {domain}:  # the task's own test set: chapter 2's score, on chapter 2's examples
            rows += [{"task": task, "seed": m.seed, "domain": domain, "in_domain": True, "metric": name,
                      "value": value, "n": m.config.n_test} for m in models for name, value in m.metrics.items()]
            continue
        records = _labelled(task, domain, n_eval, runtime.data_dir)
        if not records:
            continue
        for tuned in models:
            metrics = _score(tuned, task, domain, records, runtime)
            rows += [{"task": task, "seed": tuned.seed, "domain": domain, "in_domain": domain in IN_DOMAIN[task],
                      "metric": name, "value": value, "n": len(records)} for name, value in metrics.items()]
    return pd.DataFrame(rows, columns=["task", "seed", "domain", "in_domain", "metric", "value", "n"])
