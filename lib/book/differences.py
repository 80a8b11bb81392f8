"""The appendix's box "How this book differs from the paper": the paper's setting beside a profile's.

Every cell of the profile's column is read from the profile file, so the box follows the profile
the book was built with; the paper's column says what the paper states in its abstract and setup,
and a setting this book does not compare is marked as such.
"""
from __future__ import annotations

import html

import pandas as pd

from lib.book.parameters import load_profile

MODELS = {"minilm": "all-MiniLM-L6-v2: 6 layers x 384, a sentence embedder",
          "bert-base": "bert-base-uncased: 12 layers x 768"}
TASKS = {"nli": {"snli": "SNLI", "mnli": "MNLI"}, "sentiment": "VADER movie-review sentiment", "qa": "SQuAD v1.1",
         "parsing": "EWT dependency parsing"}
NOT_AT_HAND = "not compared here"


def _tasks(p: dict) -> str:
    return ", ".join(TASKS[t][p["nli_dataset"]] if t == "nli" else TASKS[t] for t in p["tasks"])


def _sizes(p: dict, key: str = "n_train") -> str:
    sizes = [f"{t} {p[key][t]:,}" if p[key][t] else f"{t} all" for t in p["tasks"]]
    return "all of each training set" if all(p[key][t] == 0 for t in p["tasks"]) else ", ".join(sizes)


def _count(n: int, what: str) -> str:
    return f"all {what}" if n == 0 else f"{n:,} {what}"


def _pooling(model: str) -> str:
    """How the profile's classifier heads pool a sentence: as its checkpoint was trained to."""
    from lib.encoders.loading import sentence_pooling

    pooled = sentence_pooling(model)
    return ("[CLS]" if pooled == "cls" else
            "the mean of the token vectors, as the checkpoint was trained to pool (its sentence-transformers config)")


def profile_differences(profile: str) -> pd.DataFrame:
    """(aspect, the paper, the profile): model, tasks, data sizes, learning rate, steps, pooling, seeds, ..."""
    p = load_profile(profile)
    grid = p["ablation_grid"]
    rows = [
        ("encoder", "BERT-base (12 layers x 768)", MODELS.get(p["model"], p["model"])),
        ("fine-tuning tasks", "MNLI, SQuAD, EWT dependency parsing", _tasks(p)),
        ("fine-tuning data", "each task's training set", _sizes(p)),
        ("encoder learning rate", NOT_AT_HAND, f"{p['learning_rate']:g} (head {p['head_learning_rate']:g})"),
        ("optimizer steps per task", NOT_AT_HAND, f"{p['train_steps']:,} of {p['train_batch_size']} examples, "
         "the same for every task (warm-up 10 %, linear decay)"),
        ("sentence vector of a classifier head", "[CLS]", _pooling(p["model"])),
        ("fine-tuning seeds", "several (a seed-to-seed noise floor)", str(len(p["seeds"]))),
        ("probe data", "edge probing and structural probe suites",
         f"{_count(p['probe_train_sentences'], 'sentences')} to train, {_count(p['probe_test_sentences'], 'sentences')} "
         f"to score per corpus; {p['probe_epochs']} epoch{'s' * (p['probe_epochs'] != 1)} per edge probe"),
        ("similarity (RSA, CKA)", "a few thousand tokens", f"{p['similarity_tokens']:,} tokens per text"),
        ("freezing boundaries k", "bottom layers frozen", ", ".join(map(str, grid))
         + f"; {len(p['ablation_seeds'])} seed{'s' * (len(p['ablation_seeds']) > 1)}"),
        ("domains", "in-domain vs out-of-domain sentences",
         f"{_count(p['shift_sentences'], 'sentences')} and {_count(p['shift_tokens'], 'tokens')} per domain"),
    ]
    return pd.DataFrame(rows, columns=["aspect", "the paper", f"this book ({profile})"])


class DifferencesBox:
    """The box itself: an admonition in HTML (the book, Jupyter, Colab) and plain text elsewhere."""

    def __init__(self, profile: str):
        self.profile, self.table = profile, profile_differences(profile)

    def __repr__(self) -> str:
        return "How this book differs from the paper\n" + self.table.to_string(index=False)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.table.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in self.table.itertuples(index=False))
        return ('<div class="admonition note differences"><p class="admonition-title">How this book differs from '
                f'the paper</p><table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                "<p>Every other choice of ours, with its reason, is in the table <em>Our choices</em> below.</p></div>")


def differences_box(profile: str) -> DifferencesBox:
    """The appendix's "How this book differs from the paper" box for ``profile``."""
    return DifferencesBox(profile)


def deviations(model: str, tasks, nli_dataset: str, n_train: dict, steps: int) -> str:
    """What a run's encoder, tasks and data change from the paper, as one phrase for a takeaway.

    >>> deviations("bert-base", ["nli", "qa", "parsing"], "mnli", {"nli": 0, "qa": 0, "parsing": 0}, 10000)
    'none in the encoder, the tasks or the training data'
    >>> deviations("minilm", ["nli", "sentiment"], "snli", {"nli": 6400, "sentiment": 3200}, 200)
    'MiniLM-L6 (6 layers x 384) rather than BERT-base (12 x 768); SNLI for MNLI; VADER sentiment in place of SQuAD; no dependency parsing; 200 optimizer steps on a sample of each training set (nli 6,400, sentiment 3,200)'
    """
    parts = []
    if model == "minilm":
        parts.append("MiniLM-L6 (6 layers x 384) rather than BERT-base (12 x 768)")
    elif model.startswith("random-init"):
        parts.append("a randomly initialised encoder rather than pre-trained BERT-base")
    elif model not in ("bert-base", "bert-base-uncased"):
        parts.append(f"`{model}` rather than BERT-base")
    if "nli" in tasks and nli_dataset == "snli":
        parts.append("SNLI for MNLI")
    if "qa" not in tasks:
        parts.append("VADER sentiment in place of SQuAD" if "sentiment" in tasks else "no SQuAD")
    if "parsing" not in tasks:
        parts.append("no dependency parsing")
    sampled = {t: n_train[t] for t in tasks if n_train.get(t, 0) > 0}
    if sampled:
        parts.append(f"{steps:,} optimizer steps on a sample of each training set ("
                     + ", ".join(f"{t} {n:,}" for t, n in sampled.items()) + ")")
    return "; ".join(parts) or "none in the encoder, the tasks or the training data"
