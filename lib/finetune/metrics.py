"""Task metrics, named as in the book: ``accuracy``; ``uas`` and ``las``; ``f1`` and ``exact_match``."""
from __future__ import annotations

import collections
import re
import string

import torch
from tqdm import tqdm

from lib.encoders.runtime import autocast
from lib.finetune.features import collate, length_grouped_batches
from lib.finetune.tasks import METRICS


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffeltower'
    """
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_scores(prediction: str, answers: list[str]) -> tuple[float, float]:
    """(exact match, token F1) of a prediction against its best gold answer."""
    def f1(gold: str) -> float:
        pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
        common = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(pred_tokens), common / len(gold_tokens)
        return 2 * precision * recall / (precision + recall)

    exact = max(float(normalize_answer(prediction) == normalize_answer(a)) for a in answers)
    return exact, max(f1(a) for a in answers)


def best_span(start: torch.Tensor, end: torch.Tensor, max_answer: int = 30) -> tuple[int, int]:
    """The span (i, j), i <= j < i + max_answer, maximising start[i] + end[j]."""
    scores = start[:, None] + end[None, :]
    n = len(start)
    allowed = torch.triu(torch.ones(n, n, dtype=torch.bool)) & ~torch.triu(torch.ones(n, n, dtype=torch.bool), max_answer)
    flat = scores.masked_fill(~allowed, float("-inf")).argmax()
    return int(flat // n), int(flat % n)


def outcomes(pred: dict, batch: dict, index, features: list[dict], records) -> dict[str, list[float]]:
    """Per example of a batch, the counts its metrics sum: ``correct`` of one (a class); ``uas``
    and ``las`` correct arcs of ``total`` scored words (punctuation is not scored); QA's
    ``exact_match`` and ``f1`` of one."""
    if "label" in pred:
        return {"correct": (pred["label"] == batch["labels"]).float().tolist(), "total": [1.0] * len(index)}
    if "heads" in pred:
        scored = batch["word_mask"] & ~batch["punct"]
        arcs = (pred["heads"] == batch["heads"]) & scored
        return {"uas": arcs.sum(1).float().tolist(), "las": (arcs & (pred["rels"] == batch["rels"])).sum(1).float().tolist(),
                "total": scored.sum(1).float().tolist()}
    counts = {"exact_match": [], "f1": [], "total": [1.0] * len(index)}
    for row, i in enumerate(index):
        a, b = best_span(pred["start_logits"][row].cpu(), pred["end_logits"][row].cpu())
        offsets = features[i]["offsets"]
        text = "" if offsets[a] is None or offsets[b] is None else records[i].text[offsets[a][0]:offsets[b][1]]
        exact, f1 = squad_scores(text, [t for t, _ in records[i].answers])
        counts["exact_match"].append(exact)
        counts["f1"].append(f1)
    return counts


@torch.no_grad()
def evaluate(model, features: list[dict], task: str, pad_id: int, batch_size: int = 64,
             records=None, precision: str = "fp32", progress: bool = False, items: bool = False):
    """Score ``model`` on encoded ``features`` (``records`` are needed for QA's answer texts):
    ``{metric: value}``; with ``items``, also the per-example counts (:func:`outcomes`, in the order
    of ``features``) that the metrics are sums of: ``(metrics, items)``.

    Runs in eval mode (no dropout) and leaves the model in the mode it found it in.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    per_example: dict[int, dict] = {}
    batches = length_grouped_batches([len(f["input_ids"]) for f in features], batch_size, seed=0, shuffle=False)
    for index in tqdm(batches, desc=f"evaluating {task}", disable=not progress, leave=False):
        batch = {k: v.to(device) for k, v in collate([features[i] for i in index], pad_id).items()}
        with autocast(device, precision):
            _, pred = model(batch)
        counts = outcomes(pred, batch, index, features, records)
        for row, i in enumerate(index):
            per_example[i] = {name: values[row] for name, values in counts.items()}
    model.train(was_training)
    names = list(next(iter(per_example.values()))) if per_example else ["correct", "total"]
    table = {name: [per_example[i][name] for i in range(len(features))] for name in names}
    total = max(sum(table["total"]), 1)
    metrics = ({"accuracy": sum(table["correct"]) / total} if "correct" in table else
               {name: sum(table[name]) / total for name in METRICS[task]})
    return (metrics, table) if items else metrics
