"""Informed baselines beside an edge probe's score, with scikit-learn where it is the natural tool.

- the majority class (:class:`sklearn.dummy.DummyClassifier`): every test target gets the training
  set's most frequent label (a multi-label task: its most frequent label set). Under positive-class
  F1 (coreference) the majority ("not the same entity") scores 0, so the baseline is the better of
  the two constant predictions, which there is "always the same entity";
- a linear probe (Hewitt & Liang 2019 compare probe capacity): multinomial logistic regression on
  a span's mean subword vector (a pair of spans: the two concatenated), standardised; a multi-label
  task gets one binary regression per label (one-vs-rest).

Both are scored by the edge probe's own counts (:func:`decision_counts`), so their scores read on
the same scale. Layer 0 and the random-init encoder are baselines too; they are probes of their own
(:mod:`lib.probing.runner`), and the structural probe's baseline, the linear-chain tree, is in
:mod:`lib.probing.structural_probe`.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from lib.probing.edge_probe import encode_labels


def _hot(labels: np.ndarray, label_set: tuple[str, ...], multi_label: bool) -> np.ndarray:
    """(targets, labels) bool: each target's labels."""
    encoded = encode_labels(labels, label_set, multi_label)
    return encoded > 0.5 if multi_label else np.eye(len(label_set), dtype=bool)[encoded]


def decision_counts(guess: np.ndarray, gold: np.ndarray, column: int | None = None) -> np.ndarray:
    """(targets, 3) tp, fp, fn of each target's (target, label) decisions, from (targets, labels)
    bool arrays; ``column``: that label alone (positive-class F1).

    >>> decision_counts(np.array([[1, 0], [0, 1]], bool), np.array([[1, 0], [1, 0]], bool)).tolist()
    [[1, 0, 0], [0, 1, 1]]
    """
    if column is not None:
        guess, gold = guess[:, column:column + 1], gold[:, column:column + 1]
    return np.stack([(guess & gold).sum(1), (guess & ~gold).sum(1), (~guess & gold).sum(1)], 1).astype(int)


def majority_counts(train_labels: np.ndarray, test_labels: np.ndarray, label_set: tuple[str, ...],
                    multi_label: bool = False, positive: str | None = None) -> np.ndarray:
    """(test targets, 3) counts of the majority-class baseline (see the module docstring).

    >>> majority_counts(np.array(["a", "a", "b"]), np.array(["a", "b"]), ("a", "b")).tolist()
    [[1, 0, 0], [0, 1, 1]]
    """
    gold = _hot(test_labels, label_set, multi_label)
    column = None if positive is None else label_set.index(positive)
    from sklearn.dummy import DummyClassifier  # here, not at the top: a worker that never probes skips it

    strategies = [DummyClassifier(strategy="most_frequent")]
    if positive is not None:
        strategies.append(DummyClassifier(strategy="constant", constant=positive))
    candidates = []
    for dummy in strategies:
        predicted = dummy.fit(np.zeros((len(train_labels), 1)), train_labels).predict(np.zeros((len(test_labels), 1)))
        candidates.append(decision_counts(_hot(predicted, label_set, multi_label), gold, column))
    return max(candidates, key=lambda c: _f1(c.sum(0)))


def _f1(counts: np.ndarray) -> float:
    tp, fp, fn = counts
    return 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0


def span_means(vectors: np.ndarray, spans: list[tuple[torch.Tensor, torch.Tensor]]) -> np.ndarray:
    """(targets, spans * hidden): each target's spans, each the mean of its rows of ``vectors``
    (rows, hidden), concatenated.

    >>> span_means(np.arange(6.).reshape(3, 2), [(torch.tensor([0, 2]), torch.tensor([2, 3]))]).tolist()
    [[1.0, 2.0], [4.0, 5.0]]
    """
    total = np.concatenate([np.zeros((1, vectors.shape[1])), np.cumsum(vectors, 0, dtype=np.float64)])
    parts = []
    for begin, end in spans:
        begin, end = begin.numpy(), end.numpy()
        parts.append((total[end] - total[begin]) / (end - begin)[:, None])
    return np.concatenate(parts, 1)


def linear_probe_counts(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                        label_set: tuple[str, ...], multi_label: bool = False, positive: str | None = None,
                        seed: int = 0) -> np.ndarray:
    """(test targets, 3) counts of a linear probe (see the module docstring) trained on features
    ``train`` (targets, features) (:func:`span_means`) and scored on ``test``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from threadpoolctl import threadpool_limits

    regression = LogisticRegression(max_iter=300, C=1.0, random_state=seed)
    # one BLAS thread: these fits are small, and on the 2-core machine one thread ran them 2-3x faster
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # 300 lbfgs steps: close enough to compare capacity
        if multi_label:
            model = make_pipeline(StandardScaler(), OneVsRestClassifier(regression))
            guess = model.fit(train, _hot(train_labels, label_set, True).astype(int)).predict(test).astype(bool)
        else:
            model = make_pipeline(StandardScaler(), regression).fit(train, train_labels)
            guess = _hot(model.predict(test), label_set, False)
    column = None if positive is None else label_set.index(positive)
    return decision_counts(guess, _hot(test_labels, label_set, multi_label), column)
