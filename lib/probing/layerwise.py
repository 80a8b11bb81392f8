"""One probe task over every layer of one model: the per-layer probes, the cumulative scalar mixes,
the controls, the baselines, and each probe's counts per test sentence.

Training holds out every :data:`DEV_EVERY`-th training sentence as a dev split; each probe stops
early on it (:class:`lib.probing.edge_probe.EdgeTraining`, :class:`DistanceTraining`) and keeps
its best-on-dev state. Per edge task, beside the per-layer probes: cumulative scalar mixes of
layers ``0..l`` for every ``l``. Their scores give Tenney, Das & Pavlick's (2019) differential
scores ``Delta(l) = score(0..l) - score(0..l-1)`` and expected layer
``E_delta = sum_l l Delta(l) / sum_l Delta(l)`` (a mix's score counted as the best up to it: see
:func:`expected_layer`); the mix of all layers gives the center of gravity ``sum_l l w_l`` of its
learned weights. The mix of layer 0 alone is the layer-0 probe.

Every score is ``2 sum(tp) / (2 sum(tp) + sum(fp) + sum(fn))`` over per-sentence counts, which
are kept (``counts``: ``{layer: (sentences, 3)}``, layer ``-1`` the mix of all layers) so that
intervals can be bootstrapped over test sentences.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from lib.data import Record
from lib.encoders.extraction import Reps, to_words, word_starts
from lib.errors import InputError
from lib.probing.baselines import linear_probe_counts, majority_counts, span_means
from lib.probing.edge_probe import EdgeTraining, f1, count_edge_probes, fit_edge_probes, layer_masks, span_index
from lib.probing.structural_probe import (DistanceTraining, fit_distance_probes, linear_chain_counts,
                                          score_distance_probes, tree_distances)
from lib.probing.targets import (CONTROLLED, EDGE_TASKS, MULTI_LABEL, POSITIVE, EdgeTargets, atoms, control_labels,
                                 edge_targets)

DEV_EVERY = 5  # every 5th training sentence (20 %) is the dev split that early stopping reads
MIX = -1  # the layer index that names the mix of all layers in the counts


class ProbeData(NamedTuple):
    """A corpus's probing data: the ``train`` and ``test`` hidden states
    (:class:`lib.encoders.extraction.Reps`) and the records they were extracted from, in order."""

    train: Reps
    test: Reps
    train_records: list[Record]
    test_records: list[Record]


def check_layers(layers, reps: Reps) -> list[int]:
    """The requested layers, each one the representations have (ValueError otherwise)."""
    available = list(reps.layers)
    layers = available if layers is None else list(layers)
    missing = [layer for layer in layers if layer not in available]
    if missing:
        raise InputError(f"layers {missing} do not exist; the model has layers {available[0]}..{available[-1]}")
    return layers


def dev_split(n_sentences: int) -> np.ndarray:
    """(sentences,) bool: the training sentences held out as dev, every :data:`DEV_EVERY`-th.

    >>> dev_split(6).astype(int).tolist()
    [0, 0, 0, 0, 1, 0]
    """
    return np.arange(n_sentences) % DEV_EVERY == DEV_EVERY - 1


def per_sentence(counts: np.ndarray, sentence: np.ndarray, n_sentences: int) -> np.ndarray:
    """(..., targets, 3) counts summed per sentence -> (..., n_sentences, 3).

    >>> per_sentence(np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0]]), np.array([0, 2, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 0], [1, 1, 1]]
    """
    counts = np.asarray(counts)
    out = np.zeros(counts.shape[:-2] + (n_sentences, 3), dtype=int)
    for index in np.ndindex(counts.shape[:-2]):
        np.add.at(out[index], sentence, counts[index])
    return out


def score_of(counts: np.ndarray) -> float:
    """The score of (sentences, 3) counts: ``2 tp / (2 tp + fp + fn)`` of their sums."""
    return float(f1(torch.as_tensor(counts.sum(0), dtype=torch.float64)))


def _label_set(targets: EdgeTargets, multi_label: bool) -> tuple[str, ...]:
    return tuple(sorted({a for label in targets.labels.tolist() for a in atoms(label, multi_label)}))


def _seen(targets: EdgeTargets, label_set: tuple[str, ...], multi_label: bool) -> EdgeTargets:
    known = set(label_set)
    keep = np.array([set(atoms(label, multi_label)) <= known for label in targets.labels.tolist()], dtype=bool)
    return EdgeTargets(targets.words, targets.sentence[keep], targets.span1[keep],
                       None if targets.span2 is None else targets.span2[keep], targets.labels[keep])


def _spans(targets: EdgeTargets, reps: Reps):
    starts = word_starts(reps)
    names = ["span1"] + (["span2"] if targets.span2 is not None else [])
    return [span_index(targets, starts, name) for name in names]


class EdgeTask:
    """One edge task's train and test targets, label set and span indices over given vectors; test
    targets with a label never seen in training are left out (``n_unseen``); ``dev`` marks the
    training targets of the dev sentences (:func:`dev_split`); ``positive``: the label whose F1
    is the score (coreference), else None (micro-F1 over every label)."""

    def __init__(self, task: str, train_targets: EdgeTargets, test_targets: EdgeTargets, train: Reps, test: Reps):
        self.task, self.multi_label, self.positive = task, task in MULTI_LABEL, POSITIVE.get(task)
        self.train = train_targets
        self.label_set = _label_set(train_targets, self.multi_label)
        self.test = _seen(test_targets, self.label_set, self.multi_label)
        self.n_unseen = len(test_targets) - len(self.test)
        self.n_sentences = len(test_targets.words)
        self.dev = dev_split(len(train_targets.words))[train_targets.sentence]
        self.train_spans, self.test_spans = _spans(self.train, train), _spans(self.test, test)

    @classmethod
    def of(cls, task: str, train: Reps, test: Reps, train_records: list[Record], test_records: list[Record]):
        """The task's targets in the records that ``train`` and ``test`` were extracted from."""
        if task not in EDGE_TASKS:
            raise InputError(f"unknown edge task {task!r}; valid: {', '.join(EDGE_TASKS)}")
        return cls(task, edge_targets(train_records, task), edge_targets(test_records, task), train, test)

    def counts(self, x_train: np.ndarray, x_test: np.ndarray, seed: int, training: EdgeTraining = EdgeTraining(),
               labels=None, masks=None):
        """Fit on ``x_train`` (layers, rows, hidden), early-stopped on the dev targets; count on
        ``x_test``: one probe per row of ``masks`` (default: one mixing every layer), trained side by
        side. ``labels``: other train / test labels (a control, scored by micro-F1). Returns
        ((P, test sentences, 3) counts, probes)."""
        train_labels, test_labels = (self.train.labels, self.test.labels) if labels is None else labels
        label_set = self.label_set if labels is None else tuple(sorted(set(np.concatenate(labels).tolist())))
        multi_label, positive = (self.multi_label, self.positive) if labels is None else (False, None)
        probes = fit_edge_probes(x_train, self.train_spans, train_labels, label_set, seed, training, masks,
                                 multi_label=multi_label, dev=self.dev, positive=positive)
        counts = count_edge_probes(probes, x_test, self.test_spans, test_labels, label_set, multi_label, positive)
        return per_sentence(counts, self.test.sentence, self.n_sentences), probes

    def score(self, x_train: np.ndarray, x_test: np.ndarray, seed: int, training: EdgeTraining = EdgeTraining(),
              labels=None, masks=None):
        """:meth:`counts`, as scores: (per-probe scores, probes)."""
        counts, probes = self.counts(x_train, x_test, seed, training, labels, masks)
        return [score_of(c) for c in counts], probes

    def majority(self) -> float:
        """The majority-class baseline's score (:func:`lib.probing.baselines.majority_counts`)."""
        return score_of(majority_counts(self.train.labels, self.test.labels, self.label_set, self.multi_label,
                                        self.positive))

    def linear(self, train: Reps, test: Reps, layer: int, seed: int) -> float:
        """A linear probe's score at ``layer`` (:func:`lib.probing.baselines.linear_probe_counts`),
        trained on the training targets outside the dev split."""
        view = train.layers.index(layer)
        keep = ~self.dev
        x_train = span_means(train.vectors[view], self.train_spans)[keep]
        x_test = span_means(test.vectors[view], self.test_spans)
        return score_of(linear_probe_counts(x_train, self.train.labels[keep], x_test, self.test.labels,
                                            self.label_set, self.multi_label, self.positive, seed))


def edge_task_probes(edge: EdgeTask, train: Reps, test: Reps, seed: int, training: EdgeTraining = EdgeTraining(),
                     layers=None, control: bool = True, mixes: bool = True,
                     cumulative: bool = True) -> tuple[pd.DataFrame, dict | None, dict]:
    """An edge task's per-layer table (``layer, score, best_epoch``; ``control``, ``selectivity``
    where a control is defined; the counts of targets), with ``mixes`` its cumulative scalar mixes
    (:func:`cumulative_mixes`: score, weights, center of gravity, cumulative scores, expected layer,
    best epoch), and the per-sentence counts ``{layer: (sentences, 3)}`` (the mix of all layers:
    :data:`MIX`). Per-layer probes and mixes train side by side in one early-stopped pass
    (:class:`lib.probing.edge_probe.EdgeProbes`), the control probes in a second one. Without
    ``cumulative``, the mix of all layers alone (score, weights, center of gravity; no cumulative
    scores, expected layer NaN): the per-layer probes are the same either way."""
    layers = check_layers(layers, train)
    n = len(train.layers)
    single = layer_masks(n)[[train.layers.index(layer) for layer in layers]]
    # the mix of the first layer alone is its per-layer probe: trained once, here if not asked for
    first = [] if train.layers[0] in layers else [layer_masks(n)[:1]]
    if mixes and not cumulative:
        masks = torch.cat([single, torch.ones(1, n, dtype=torch.bool)])
    else:
        masks = torch.cat([single, *first, layer_masks(n, single=False, cumulative=True)]) if mixes else single
    counts, probes = edge.counts(train.vectors, test.vectors, seed, training, masks=masks)
    scores = [score_of(c) for c in counts]
    table = pd.DataFrame({"layer": layers, "score": scores[:len(layers)],
                          "best_epoch": probes.best_epoch_[:len(layers)].tolist()})
    if control and edge.task in CONTROLLED:
        table["control"] = edge.score(train.vectors, test.vectors, seed, training,
                                      labels=control_labels([edge.train, edge.test], seed), masks=single)[0]
        table["selectivity"] = table.score - table.control
    table = table.assign(n_train=int((~edge.dev).sum()), n_dev=int(edge.dev.sum()), n_test=len(edge.test),
                         n_unseen=edge.n_unseen, epochs=len(probes.dev_curve_) or training.epochs)
    by_layer = dict(zip(layers, counts[:len(layers)]))
    if not mixes:
        return table, None, by_layer
    weights = probes.weights()[-1].tolist()
    mix = {"score": scores[-1], "weights": dict(zip(train.layers, weights)),
           "center_of_gravity": float(np.dot(train.layers, weights)), "best_epoch": int(probes.best_epoch_[-1]),
           "cumulative": {}, "expected_layer": float("nan")}
    if cumulative:
        scores_0_to_l = ([scores[len(layers)]] if first else [scores[layers.index(train.layers[0])]]) + \
            scores[len(layers) + len(first):]
        mix.update(cumulative=dict(zip(train.layers, scores_0_to_l)), expected_layer=expected_layer(scores_0_to_l))
    return table, mix, {**by_layer, MIX: counts[-1]}


def edge_probe_layers(data: ProbeData, task: str, seed: int, training: EdgeTraining = EdgeTraining(), layers=None,
                      control: bool = True) -> pd.DataFrame:
    """Per layer: ``score`` (micro-F1; coreference: positive-class F1) and, for the tasks that have
    a control (UPOS and dependency label), ``control`` (the same probe on control labels) and
    ``selectivity = score - control``; plus the counts of targets."""
    edge = EdgeTask.of(task, *data)
    return edge_task_probes(edge, data.train, data.test, seed, training, layers, control, mixes=False)[0]


def expected_layer(cumulative: list[float]) -> float:
    """Tenney, Das & Pavlick's ``E_delta`` from the scores of the mixes of layers ``0..l``:
    ``sum_l l Delta(l) / sum_l Delta(l)`` with ``Delta(l) = best(0..l) - best(0..l-1)``, where
    ``best(0..l)`` is the best score of the mixes up to ``l`` (our choice: a mix of 0..l contains the
    mix of 0..l-1, so a lower score is the optimiser's shortfall, not negative information, and
    would push E_delta outside the layers). NaN when no mix gains over layer 0.

    >>> round(expected_layer([0.5, 0.7, 0.8, 0.8]), 4)
    1.3333
    >>> round(expected_layer([0.80, 0.82, 0.84, 0.83, 0.81]), 4)  # the raw formula would give -5
    1.5
    """
    delta = np.diff(np.maximum.accumulate(np.asarray(cumulative, dtype=float)))
    total = delta.sum()
    return float(np.dot(np.arange(1, len(cumulative)), delta) / total) if total > 0 else float("nan")


def scalar_mix_probe(data: ProbeData, task: str, seed: int, training: EdgeTraining = EdgeTraining()) -> dict:
    """:func:`cumulative_mixes` of an edge task on the records ``data.train`` and ``data.test`` come from."""
    return cumulative_mixes(EdgeTask.of(task, *data), data.train, data.test, seed, training)


def cumulative_mixes(edge: EdgeTask, train: Reps, test: Reps, seed: int,
                     training: EdgeTraining = EdgeTraining()) -> dict:
    """Scalar-mix probes over layers ``0..l`` for every ``l``: their scores (``cumulative``; the mix
    of layer 0 alone is the layer-0 probe), the expected layer ``E_delta``, and the full mix's
    score, weights and center of gravity."""
    return edge_task_probes(edge, train, test, seed, training, layers=train.layers[:1], control=False)[1]


def _by_sentence(reps: Reps, views: list[int]) -> list[np.ndarray]:
    """Per sentence, its word vectors in the layers at indices ``views``: (views, words, hidden)."""
    return np.split(reps.vectors[views], np.cumsum(np.bincount(reps.sentence))[:-1], axis=1)


def structural_probe_layers(data: ProbeData, seed: int, rank: int = 64,
                            training: DistanceTraining = DistanceTraining(), layers=None,
                            counts: dict | None = None) -> pd.DataFrame:
    """Per layer: UUAS (``score``) and distance Spearman of a rank-``rank`` distance probe on word
    vectors (``data``'s Reps one row per word), trained as ``training`` says and early-stopped on
    the dev sentences (:func:`dev_split`); ``linear_chain``: the UUAS of the linear-chain tree.
    ``counts``, a dict given: filled with the per-sentence UUAS counts ``{layer: (sentences, 3)}``."""
    train, test, train_records, test_records = data
    layers = check_layers(layers, train)
    distances = [tree_distances(r.heads) for r in train_records]
    heads = [r.heads for r in test_records]
    punct = [np.array([tag == "PUNCT" for tag in r.upos]) for r in test_records]
    views = [train.layers.index(layer) for layer in layers]
    dev = dev_split(len(train_records))
    b = fit_distance_probes(_by_sentence(train, views), distances, rank, seed, training, dev=dev)
    scores = score_distance_probes(b, _by_sentence(test, views), heads, punct)
    if counts is not None:
        counts.update({layer: score["counts"] for layer, score in zip(layers, scores)})
    return pd.DataFrame([{"layer": layer, "score": float(score["uuas"]), "spearman": score["spearman"],
                          "linear_chain": score_of(linear_chain_counts(heads, punct)),
                          "n_train": int((~dev).sum()), "n_dev": int(dev.sum()), "n_test": len(test_records)}
                         for layer, score in zip(layers, scores)])


def probe_task_layers(task: str, data: ProbeData, seed: int, epochs: int = 4, rank: int = 64, layers=None,
                      pooling: str = "first", device: str = "cpu") -> pd.DataFrame:
    """One probe task over layers of ``data`` (Reps one row per subword): an edge task (with its
    control where one is defined) or ``structural`` (on word vectors pooled by ``pooling``), each
    trained for at most ``epochs`` on ``device``, its probe's other knobs at their defaults
    (:class:`EdgeTraining`, :class:`DistanceTraining`)."""
    from lib.probing.runner import check_tasks

    check_tasks([task])
    if task == "structural":
        words = data._replace(train=to_words(data.train, pooling), test=to_words(data.test, pooling))
        return structural_probe_layers(words, seed, rank, DistanceTraining(epochs=epochs, device=device), layers)
    return edge_probe_layers(data, task, seed, EdgeTraining(epochs=epochs, device=device), layers)

