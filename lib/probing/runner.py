"""Probe every layer of a model: edge probes with control tasks, the structural probe, scalar mix.

Inputs are :class:`lib.encoders.extraction.Reps` of the probe's train and test sentences (EWT train and test
by default) and the records they came from. Test targets whose label never occurs in the
training targets are left out and counted (``n_unseen``); :func:`lib.probing.edge_probe.encode_labels`
itself refuses them.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from lib.artifacts import artifact_path, atomic_path
from lib.data import Record, records_digest
from lib.encoders.extraction import Reps
from lib.finetune.layers import model_identity, model_layers
from lib.probing.edge_probe import fit_edge_probe, score_edge_probe, span_index
from lib.probing.structural_probe import fit_distance_probe, score_distance_probe, tree_distances
from lib.probing.targets import EdgeTargets, control_labels, ewt_targets
from lib.errors import InputError

PROBE_TASKS = ("upos", "deprel", "structural")


def _offsets(reps: Reps) -> np.ndarray:
    counts = np.bincount(reps.sentence)
    return np.concatenate([[0], np.cumsum(counts)[:-1]])


def _spans(targets: EdgeTargets, reps: Reps):
    offsets = _offsets(reps)
    names = ["span1"] + (["span2"] if targets.span2 is not None else [])
    return [span_index(targets, offsets, name) for name in names]


def _seen(targets: EdgeTargets, label_set: tuple[str, ...]) -> EdgeTargets:
    keep = np.isin(targets.labels, label_set)
    return EdgeTargets(targets.words, targets.sentence[keep], targets.span1[keep],
                       None if targets.span2 is None else targets.span2[keep], targets.labels[keep])


def probe_sentences(n_train: int, n_test: int, data_dir: str | None = None) -> tuple[list[Record], list[Record]]:
    """The probes' sentences: the first ``n_train`` of EWT train and ``n_test`` of EWT test (0: all)."""
    from lib.data import load_ewt

    train, test = load_ewt("train", data_dir), load_ewt("test", data_dir)
    return train[:n_train or None], test[:n_test or None]


def check_layers(layers, reps: Reps) -> list[int]:
    """The requested layers, each one the representations have (ValueError otherwise)."""
    available = list(reps.layers)
    layers = available if layers is None else list(layers)
    missing = [layer for layer in layers if layer not in available]
    if missing:
        raise InputError(f"layers {missing} do not exist; the model has layers {available[0]}..{available[-1]}")
    return layers


def edge_probe_layers(train: Reps, test: Reps, train_records: list[Record], test_records: list[Record],
                      task: str, seed: int, epochs: int = 4, layers=None, control: bool = True) -> pd.DataFrame:
    """Per layer: ``score`` (micro-F1), ``control`` (the same probe on control labels) and
    ``selectivity = score - control``; plus the counts of targets."""
    layers = check_layers(layers, train)
    train_targets = ewt_targets(train_records, task)
    label_set = tuple(sorted(set(train_targets.labels.tolist())))
    test_all = ewt_targets(test_records, task)
    test_targets = _seen(test_all, label_set)
    train_spans, test_spans = _spans(train_targets, train), _spans(test_targets, test)
    if control:
        train_control, test_control = control_labels([train_targets, test_targets], seed)
    rows = []
    for layer in layers:
        i = train.layers.index(layer)
        x_train, x_test = train.vectors[i:i + 1], test.vectors[i:i + 1]
        probe = fit_edge_probe(x_train, train_spans, train_targets.labels, label_set, seed, epochs)
        row = {"layer": layer, "score": score_edge_probe(probe, x_test, test_spans, test_targets.labels, label_set)}
        if control:
            control_set = tuple(sorted(set(train_control.tolist()) | set(test_control.tolist())))
            probe = fit_edge_probe(x_train, train_spans, train_control, control_set, seed, epochs)
            row["control"] = score_edge_probe(probe, x_test, test_spans, test_control, control_set)
            row["selectivity"] = row["score"] - row["control"]
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.assign(n_train=len(train_targets), n_test=len(test_targets),
                        n_unseen=len(test_all) - len(test_targets))


def scalar_mix_probe(train: Reps, test: Reps, train_records: list[Record], test_records: list[Record],
                     task: str, seed: int, epochs: int = 4) -> dict:
    """An edge probe over a learned mix of all layers: its score, layer weights and expected layer."""
    train_targets = ewt_targets(train_records, task)
    label_set = tuple(sorted(set(train_targets.labels.tolist())))
    test_targets = _seen(ewt_targets(test_records, task), label_set)
    probe = fit_edge_probe(train.vectors, _spans(train_targets, train), train_targets.labels, label_set, seed, epochs)
    score = score_edge_probe(probe, test.vectors, _spans(test_targets, test), test_targets.labels, label_set)
    weights = probe.mix.detach().softmax(0).tolist()
    return {"score": score, "weights": dict(zip(train.layers, weights)),
            "expected_layer": float(np.dot(train.layers, weights))}


def _by_sentence(reps: Reps, layer: int) -> list[np.ndarray]:
    vectors = reps.vectors[reps.layers.index(layer)]
    return np.split(vectors, np.cumsum(np.bincount(reps.sentence))[:-1])


def structural_probe_layers(train: Reps, test: Reps, train_records: list[Record], test_records: list[Record],
                            seed: int, rank: int = 64, epochs: int = 4, layers=None) -> pd.DataFrame:
    """Per layer: UUAS (``score``) and distance Spearman of a rank-``rank`` distance probe."""
    layers = check_layers(layers, train)
    distances = [tree_distances(r.heads) for r in train_records]
    heads = [r.heads for r in test_records]
    punct = [np.array([tag == "PUNCT" for tag in r.upos]) for r in test_records]
    rows = []
    for layer in layers:
        b = fit_distance_probe(_by_sentence(train, layer), distances, rank, seed, epochs)
        scores = score_distance_probe(b, _by_sentence(test, layer), heads, punct)
        rows.append({"layer": layer, "score": scores["uuas"], "spearman": scores["spearman"]})
    return pd.DataFrame(rows)


def probe_task_layers(task: str, train: Reps, test: Reps, train_records: list[Record], test_records: list[Record],
                      seed: int, epochs: int = 4, rank: int = 64, layers=None) -> pd.DataFrame:
    """One probe task over layers: ``upos`` and ``deprel`` (edge probes with control), ``structural``."""
    if task not in PROBE_TASKS:
        raise InputError(f"unknown probe task {task!r}; valid: {', '.join(PROBE_TASKS)}")
    if task == "structural":
        return structural_probe_layers(train, test, train_records, test_records, seed, rank, epochs, layers)
    return edge_probe_layers(train, test, train_records, test_records, task, seed, epochs, layers)


def probe_model(model: str | dict, train_records: list[Record], test_records: list[Record], tasks: list[str],
                seed: int, epochs: int, structural_epochs: int, rank: int, pooling: str = "first",
                device: str = "cpu", progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every probe task on every layer of ``model`` (alias or fine-tuned manifest), and the scalar
    mix of the edge tasks: ``(layers table, mix table)``. Cached on disk by everything that
    produced them; the hidden states are extracted once for all tasks."""
    for task in tasks:
        if task not in PROBE_TASKS:
            raise InputError(f"unknown probe task {task!r}; valid: {', '.join(PROBE_TASKS)}")
    identity = {"model": model_identity(model), "tasks": tasks, "seed": seed, "epochs": epochs, "rank": rank,
                "structural_epochs": structural_epochs, "pooling": pooling,
                "train": records_digest(train_records), "test": records_digest(test_records)}
    path = artifact_path("probes", identity, ".json")
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        return pd.DataFrame(stored["layers"]), pd.DataFrame(stored["mix"])
    train = model_layers(model, train_records, pooling=pooling, device=device, progress=progress)
    test = model_layers(model, test_records, pooling=pooling, device=device, progress=progress)
    tables, mixes = [], []
    for task in tasks:
        task_epochs = structural_epochs if task == "structural" else epochs
        tables.append(probe_task_layers(task, train, test, train_records, test_records, seed, task_epochs, rank)
                      .assign(task=task))
        if task != "structural":
            mix = scalar_mix_probe(train, test, train_records, test_records, task, seed, epochs)
            mixes.append({"task": task, "score": mix["score"], "expected_layer": mix["expected_layer"],
                          **{f"weight_{layer}": w for layer, w in mix["weights"].items()}})
    layers, mix = pd.concat(tables, ignore_index=True), pd.DataFrame(mixes)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"identity": identity, "layers": layers.to_dict("records"),
                                   "mix": mix.to_dict("records")}), encoding="utf-8")
    return layers, mix
