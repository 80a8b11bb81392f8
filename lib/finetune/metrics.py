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


@torch.no_grad()
def evaluate(model, features: list[dict], task: str, pad_id: int, batch_size: int = 64,
             records=None, precision: str = "fp32", progress: bool = False) -> dict[str, float]:
    """Score ``model`` on encoded ``features`` (``records`` are needed for QA's answer texts).

    Runs in eval mode (no dropout) and leaves the model in the mode it found it in.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    counts = collections.Counter()
    batches = length_grouped_batches([len(f["input_ids"]) for f in features], batch_size, seed=0, shuffle=False)
    for index in tqdm(batches, desc=f"evaluating {task}", disable=not progress, leave=False):
        batch = {k: v.to(device) for k, v in collate([features[i] for i in index], pad_id).items()}
        with autocast(device, precision):
            _, pred = model(batch)
        if "label" in pred:  # counts stay on the device until the end: no synchronisation per batch
            counts["correct"] += (pred["label"] == batch["labels"]).sum()
            counts["total"] += len(index)
        elif "heads" in pred:
            scored = batch["word_mask"] & ~batch["punct"]
            arcs = (pred["heads"] == batch["heads"]) & scored
            counts["uas"] += arcs.sum()
            counts["las"] += (arcs & (pred["rels"] == batch["rels"])).sum()
            counts["total"] += scored.sum()
        else:
            for row, i in enumerate(index):
                a, b = best_span(pred["start_logits"][row].cpu(), pred["end_logits"][row].cpu())
                offsets = features[i]["offsets"]
                text = "" if offsets[a] is None or offsets[b] is None else \
                    records[i].text[offsets[a][0]:offsets[b][1]]
                exact, f1 = squad_scores(text, [t for t, _ in records[i].answers])
                counts["exact_match"] += exact
                counts["f1"] += f1
                counts["total"] += 1
    model.train(was_training)
    counts = {name: value.item() if torch.is_tensor(value) else value for name, value in counts.items()}
    total = max(counts["total"], 1)
    if "label" in pred:
        return {"accuracy": counts["correct"] / total}
    return {name: counts[name] / total for name in METRICS[task]}
