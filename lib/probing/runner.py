"""Probe every layer of a model: six tasks, controls, the scalar mix and Tenney's expected layer.

Each task reads its own corpus (:data:`CORPUS`): EWT train / test for UPOS, dependency labels and
the structural probe; GUM dev / test for entities and coreference; SNLI premises (train / test,
silver parses) for constituents. The hidden states of a corpus are extracted once per model, one
row per subword: the edge probes pool a span over all its subwords, the structural probe reads
word vectors (``pooling``: a word's first subword or the mean of its subwords). Test targets whose
label never occurs in training are left out and counted (``n_unseen``).

Per edge task, beside the per-layer probes: cumulative scalar mixes of layers ``0..l`` for every
``l``. Their scores give Tenney, Das & Pavlick's (2019) differential scores
``Delta(l) = score(0..l) - score(0..l-1)`` and expected layer
``E_delta = sum_l l Delta(l) / sum_l Delta(l)`` (a mix's score counted as the best up to it: see
:func:`expected_layer`); the mix of all layers gives the center of gravity
``sum_l l w_l`` of its learned weights. The mix of layer 0 alone is the layer-0 probe.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch

from lib.artifacts import cached_json
from lib.data import Record, records_digest
from lib.encoders.extraction import Reps, to_words, word_starts
from lib.encoders.runtime import Runtime
from lib.finetune.vectors import Model
from lib.probing.edge_probe import (EdgeTraining, fit_edge_probes, layer_masks, probe_precision, score_edge_probes,
                                    span_index)
from lib.probing.structural_probe import DistanceTraining, fit_distance_probes, score_distance_probes, tree_distances
from lib.probing.targets import (CONTROLLED, EDGE_TASKS, MULTI_LABEL, EdgeTargets, atoms, control_labels,
                                 edge_targets)
from lib.errors import InputError

PROBE_TASKS = ("upos", "deprel", "structural", "entities", "coreference", "constituents")
CORPUS = {"upos": "ewt", "deprel": "ewt", "structural": "ewt", "entities": "gum", "coreference": "gum",
          "constituents": "snli"}
CORPUS_SPLITS = {"ewt": "EWT train / test", "gum": "GUM dev / test",
                 "snli": "SNLI train / test premises (silver parses)"}


TARGETS = {"upos": "a word → its part of speech (UPOS)",
           "deprel": "a word and its head → their dependency relation",
           "structural": "every pair of words → their distance in the dependency tree",
           "entities": "an entity mention → its type (person, place, event, ...)",
           "coreference": "two mentions in one sentence → the same entity or not",
           "constituents": "a phrase → its label (NP, VP, PP, ...)"}


def describe_probe_tasks(tasks, corpora: dict | None = None) -> pd.DataFrame:
    """What each probe task reads and predicts, its sentences (with their counts, given the
    ``corpora`` of :func:`probe_corpora`), score and control: the table a chapter shows its readers."""
    _check_tasks(tasks)

    def sentences(task: str) -> str:
        corpus = CORPUS[task]
        if corpora is None or corpus not in corpora:
            return CORPUS_SPLITS[corpus]
        train, test = corpora[corpus]
        return f"{CORPUS_SPLITS[corpus]} ({len(train):,} + {len(test):,})"

    return pd.DataFrame([{"task": task, "target → label": TARGETS[task], "sentences": sentences(task),
                          "score": "UUAS" if task == "structural" else "micro-F1",
                          "control": "Hewitt & Liang" if task in CONTROLLED else "none defined"} for task in tasks])


def _check_tasks(tasks) -> None:
    for task in tasks:
        if task not in PROBE_TASKS:
            raise InputError(f"unknown probe task {task!r}; valid: {', '.join(PROBE_TASKS)}")


def _spans(targets: EdgeTargets, reps: Reps):
    starts = word_starts(reps)
    names = ["span1"] + (["span2"] if targets.span2 is not None else [])
    return [span_index(targets, starts, name) for name in names]


def _label_set(targets: EdgeTargets, multi_label: bool) -> tuple[str, ...]:
    return tuple(sorted({a for label in targets.labels.tolist() for a in atoms(label, multi_label)}))


def _seen(targets: EdgeTargets, label_set: tuple[str, ...], multi_label: bool) -> EdgeTargets:
    known = set(label_set)
    keep = np.array([set(atoms(label, multi_label)) <= known for label in targets.labels.tolist()], dtype=bool)
    return EdgeTargets(targets.words, targets.sentence[keep], targets.span1[keep],
                       None if targets.span2 is None else targets.span2[keep], targets.labels[keep])


def _spread(records: list[Record], n: int) -> list[Record]:
    """``n`` records evenly spaced through ``records`` (0 or more than there are: all)."""
    if not n or n >= len(records):
        return records
    return [records[i] for i in np.linspace(0, len(records), n, endpoint=False).astype(int)]


def probe_sentences(n_train: int, n_test: int, data_dir: str | None = None,
                    corpus: str = "ewt") -> tuple[list[Record], list[Record]]:
    """A corpus's probing sentences (0: all): ``ewt``, the first ``n_train`` of EWT train and
    ``n_test`` of EWT test; ``gum``, sentences evenly spaced through GUM dev and GUM test (every
    genre, our choice); ``snli``, the first distinct premises of SNLI train and test."""
    from lib.data import load_ewt, load_gum, load_snli_parses

    if corpus == "ewt":
        train, test = load_ewt("train", data_dir), load_ewt("test", data_dir)
        return train[:n_train or None], test[:n_test or None]
    if corpus == "gum":
        return _spread(load_gum("dev", data_dir), n_train), _spread(load_gum("test", data_dir), n_test)
    if corpus == "snli":
        return load_snli_parses("train", data_dir)[:n_train or None], load_snli_parses("test", data_dir)[:n_test or None]
    raise InputError(f"unknown probing corpus {corpus!r}; valid: {', '.join(CORPUS_SPLITS)}")


@dataclass(frozen=True)
class Probing:
    """The probing stage's settings: the probe ``tasks``; ``n_train`` and ``n_test`` sentences of
    each corpus (0: all); ``epochs`` of the edge probes and ``structural_epochs`` of the
    rank-``rank`` structural probe; ``pooling`` of word vectors for the structural probe; ``seed``
    of every probe."""

    tasks: Sequence[str]
    n_train: int
    n_test: int
    epochs: int = 4
    structural_epochs: int = 4
    rank: int = 64
    pooling: str = "first"
    seed: int = 0

    PARAMETERS = ("probe_tasks", "probe_train_sentences", "probe_test_sentences", "probe_epochs", "structural_epochs",
                  "probe_rank", "pooling", "seed")

    @classmethod
    def from_parameters(cls, values: Mapping) -> "Probing":
        """The stage a chapter's (or a profile's) checked parameters set."""
        return cls(tasks=tuple(values["probe_tasks"]), n_train=values["probe_train_sentences"],
                   n_test=values["probe_test_sentences"], epochs=values["probe_epochs"],
                   structural_epochs=values["structural_epochs"], rank=values["probe_rank"],
                   pooling=values["pooling"], seed=values["seed"])


def probe_corpora(probing: Probing, data_dir: str | None = None) -> dict:
    """``{corpus: (train records, test records)}`` for the corpora ``probing.tasks`` read."""
    _check_tasks(probing.tasks)
    corpora = dict.fromkeys(CORPUS[task] for task in probing.tasks)
    return {corpus: probe_sentences(probing.n_train, probing.n_test, data_dir, corpus) for corpus in corpora}


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


class EdgeTask:
    """One edge task's train and test targets, label set and span indices over given vectors; test
    targets with a label never seen in training are left out (``n_unseen``)."""

    def __init__(self, task: str, train_targets: EdgeTargets, test_targets: EdgeTargets, train: Reps, test: Reps):
        self.task, self.multi_label = task, task in MULTI_LABEL
        self.train = train_targets
        self.label_set = _label_set(train_targets, self.multi_label)
        self.test = _seen(test_targets, self.label_set, self.multi_label)
        self.n_unseen = len(test_targets) - len(self.test)
        self.train_spans, self.test_spans = _spans(self.train, train), _spans(self.test, test)

    @classmethod
    def of(cls, task: str, train: Reps, test: Reps, train_records: list[Record], test_records: list[Record]):
        """The task's targets in the records that ``train`` and ``test`` were extracted from."""
        if task not in EDGE_TASKS:
            raise InputError(f"unknown edge task {task!r}; valid: {', '.join(EDGE_TASKS)}")
        return cls(task, edge_targets(train_records, task), edge_targets(test_records, task), train, test)

    def score(self, x_train: np.ndarray, x_test: np.ndarray, seed: int, training: EdgeTraining = EdgeTraining(),
              labels=None, masks=None):
        """Fit on ``x_train`` (layers, rows, hidden), score on ``x_test``: one probe per row of
        ``masks`` (default: one mixing every layer), trained side by side as ``training`` says.
        ``labels``: other train / test labels (a control). Returns (scores, probes)."""
        train_labels, test_labels = (self.train.labels, self.test.labels) if labels is None else labels
        label_set = self.label_set if labels is None else tuple(sorted(set(np.concatenate(labels).tolist())))
        multi_label = self.multi_label and labels is None
        probes = fit_edge_probes(x_train, self.train_spans, train_labels, label_set, seed, training, masks,
                                 multi_label=multi_label)
        return score_edge_probes(probes, x_test, self.test_spans, test_labels, label_set, multi_label=multi_label), probes


def edge_task_probes(edge: EdgeTask, train: Reps, test: Reps, seed: int, training: EdgeTraining = EdgeTraining(),
                     layers=None, control: bool = True, mixes: bool = True) -> tuple[pd.DataFrame, dict | None]:
    """An edge task's per-layer table (see :func:`edge_probe_layers`) and, with ``mixes``, its
    cumulative scalar mixes (see :func:`cumulative_mixes`). The per-layer probes and the mixes train
    side by side in one pass (:class:`lib.probing.edge_probe.EdgeProbes`), the control probes in a
    second one, each as ``training`` says."""
    layers = check_layers(layers, train)
    single = layer_masks(len(train.layers))[[train.layers.index(layer) for layer in layers]]
    # the mix of the first layer alone is its per-layer probe: trained once, here if not asked for
    first = [] if train.layers[0] in layers else [layer_masks(len(train.layers))[:1]]
    masks = (torch.cat([single, *first, layer_masks(len(train.layers), single=False, cumulative=True)])
             if mixes else single)
    scores, probes = edge.score(train.vectors, test.vectors, seed, training, masks=masks)
    table = pd.DataFrame({"layer": layers, "score": scores[:len(layers)]})
    if control and edge.task in CONTROLLED:
        table["control"] = edge.score(train.vectors, test.vectors, seed, training,
                                      labels=control_labels([edge.train, edge.test], seed), masks=single)[0]
        table["selectivity"] = table.score - table.control
    table = table.assign(n_train=len(edge.train), n_test=len(edge.test), n_unseen=edge.n_unseen)
    if not mixes:
        return table, None
    cumulative = ([scores[len(layers)]] if first else [scores[layers.index(train.layers[0])]]) + \
        scores[len(layers) + len(first):]
    weights = probes.weights()[-1].tolist()
    return table, {"score": cumulative[-1], "weights": dict(zip(train.layers, weights)),
                   "center_of_gravity": float(np.dot(train.layers, weights)),
                   "cumulative": dict(zip(train.layers, cumulative)), "expected_layer": expected_layer(cumulative)}


def edge_probe_layers(data: ProbeData, task: str, seed: int, training: EdgeTraining = EdgeTraining(), layers=None,
                      control: bool = True) -> pd.DataFrame:
    """Per layer: ``score`` (micro-F1) and, for the tasks that have a control (UPOS and dependency
    label), ``control`` (the same probe on control labels) and ``selectivity = score - control``;
    plus the counts of targets."""
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
                            training: DistanceTraining = DistanceTraining(), layers=None) -> pd.DataFrame:
    """Per layer: UUAS (``score``) and distance Spearman of a rank-``rank`` distance probe on word
    vectors (``data``'s Reps one row per word), trained as ``training`` says."""
    train, test, train_records, test_records = data
    layers = check_layers(layers, train)
    distances = [tree_distances(r.heads) for r in train_records]
    heads = [r.heads for r in test_records]
    punct = [np.array([tag == "PUNCT" for tag in r.upos]) for r in test_records]
    views = [train.layers.index(layer) for layer in layers]
    b = fit_distance_probes(_by_sentence(train, views), distances, rank, seed, training)
    scores = score_distance_probes(b, _by_sentence(test, views), heads, punct)
    return pd.DataFrame([{"layer": layer, "score": score["uuas"], "spearman": score["spearman"]}
                         for layer, score in zip(layers, scores)])


def probe_task_layers(task: str, data: ProbeData, seed: int, epochs: int = 4, rank: int = 64, layers=None,
                      pooling: str = "first", device: str = "cpu") -> pd.DataFrame:
    """One probe task over layers of ``data`` (Reps one row per subword): an edge task (with its
    control where one is defined) or ``structural`` (on word vectors pooled by ``pooling``), each
    trained for ``epochs`` on ``device``, its probe's other knobs at their defaults
    (:class:`EdgeTraining`, :class:`DistanceTraining`)."""
    _check_tasks([task])
    if task == "structural":
        words = data._replace(train=to_words(data.train, pooling), test=to_words(data.test, pooling))
        return structural_probe_layers(words, seed, rank, DistanceTraining(epochs=epochs, device=device), layers)
    return edge_probe_layers(data, task, seed, EdgeTraining(epochs=epochs, device=device), layers)


def probe_model(model: Model, corpora: dict, probing: Probing, runtime: Runtime,
                progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every probe task of ``probing`` on every layer of ``model`` (pre-trained or fine-tuned), and
    the scalar mixes of the edge tasks: ``(layers table, mix table)``. ``corpora`` from
    :func:`probe_corpora`. Stored by everything that produced them; each corpus's hidden states are
    extracted once for all its tasks."""
    tasks = list(probing.tasks)
    _check_tasks(tasks)
    missing = sorted({CORPUS[task] for task in tasks} - set(corpora))
    if missing:
        raise InputError(f"no sentences for corpus {', '.join(missing)}: build corpora with probe_corpora(probing, ...)")
    identity = {"model": model.identity, "tasks": tasks, "seed": probing.seed, "epochs": probing.epochs,
                "rank": probing.rank, "structural_epochs": probing.structural_epochs, "pooling": probing.pooling,
                "precision": probe_precision(device=runtime.device), "device_type": runtime.device_type,
                "sentences": {CORPUS[t]: [records_digest(part) for part in corpora[CORPUS[t]]] for t in tasks}}
    stored = cached_json("probes", identity, lambda: _probe_tables(model, corpora, probing, runtime, progress))
    return pd.DataFrame(stored["layers"]), pd.DataFrame(stored["mix"])


def _probe_tables(model: Model, corpora: dict, probing: Probing, runtime: Runtime, progress: bool) -> dict:
    """:func:`probe_model`'s tables, computed: ``{"layers": records, "mix": records}``."""
    tasks, seed, device = list(probing.tasks), probing.seed, runtime.device
    tables, mixes = [], []
    for corpus in dict.fromkeys(CORPUS[task] for task in tasks):
        train_records, test_records = corpora[corpus]
        train, test = (model.layers(part, runtime, pooling="subwords", progress=progress)
                       for part in (train_records, test_records))
        data = ProbeData(train, test, train_records, test_records)
        for task in [t for t in tasks if CORPUS[t] == corpus]:
            if task == "structural":
                table = probe_task_layers(task, data, seed, probing.structural_epochs, probing.rank,
                                          pooling=probing.pooling, device=device)
                tables.append(table.assign(task=task))
                continue
            table, mix = edge_task_probes(EdgeTask.of(task, *data), train, test, seed,
                                          EdgeTraining(epochs=probing.epochs, device=device))
            tables.append(table.assign(task=task))
            mixes.append({"task": task, "score": mix["score"], "expected_layer": mix["expected_layer"],
                          "center_of_gravity": mix["center_of_gravity"],
                          **{f"weight_{layer}": w for layer, w in mix["weights"].items()},
                          **{f"cumulative_{layer}": c for layer, c in mix["cumulative"].items()}})
    return {"layers": pd.concat(tables, ignore_index=True).to_dict("records"), "mix": mixes}
