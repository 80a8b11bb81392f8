"""Probe every layer of a model: six tasks, their baselines, the scalar mix and Tenney's expected layer.

Each task reads its own corpus (:data:`CORPUS`): EWT train / test for UPOS, dependency labels and
the structural probe; GUM dev / test for entities and coreference; SNLI premises (train / test,
silver parses) for constituents. The hidden states of a corpus are extracted once per model, one
row per subword, and shared by every task, probe seed and baseline: the edge probes pool a span
over all its subwords, the structural probe reads word vectors (``pooling``: a word's first
subword or the mean of its subwords). Test targets whose label never occurs in training are left
out and counted (``n_unseen``). How one task is probed over the layers: :mod:`lib.probing.layerwise`.

Beside every score, its informed baselines: the majority class (``majority``), layer 0 (a layer of
the table), a linear probe at the first, middle and last layer (``linear``, pre-trained encoders
only), the linear-chain tree for the structural probe (``linear_chain``); the random-init encoder
is a model of its own. A probe whose best layer beats the majority by less than
:data:`INFORMATIVE_MARGIN` is marked ``informative = False``: its scores say nothing about the layers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lib.artifacts import artifact_path, cached_json
from lib.data import Record, records_digest
from lib.encoders.extraction import to_words
from lib.encoders.loading import RANDOM_PREFIX
from lib.encoders.runtime import Runtime, release_memory
from lib.errors import InputError
from lib.finetune.vectors import Model, Pretrained
from lib.probing.edge_probe import EdgeTraining, probe_precision
from lib.probing.layerwise import (DEV_EVERY, MIX, EdgeTask, ProbeData, check_layers, cumulative_mixes,  # noqa: F401
                                   edge_probe_layers, edge_task_probes, expected_layer, probe_task_layers,
                                   scalar_mix_probe, structural_probe_layers)
from lib.probing.structural_probe import DistanceTraining
from lib.probing.targets import CONTROLLED

INFORMATIVE_MARGIN = 0.05  # a probe's best layer must beat its majority baseline by this to say anything
ITEMS = ("probe", "layer", "probe_seed", "sentence", "tp", "fp", "fn")

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


SCORES = {"structural": "UUAS", "coreference": "F1 of 'same entity'"}


def describe_probe_tasks(tasks, corpora: dict | None = None) -> pd.DataFrame:
    """What each probe task reads and predicts, its sentences (with their counts, given the
    ``corpora`` of :func:`probe_corpora`), score and control: the table a chapter shows its readers."""
    check_tasks(tasks)

    def sentences(task: str) -> str:
        corpus = CORPUS[task]
        if corpora is None or corpus not in corpora:
            return CORPUS_SPLITS[corpus]
        train, test = corpora[corpus]
        return f"{CORPUS_SPLITS[corpus]} ({len(train):,} + {len(test):,})"

    return pd.DataFrame([{"task": task, "target → label": TARGETS[task], "sentences": sentences(task),
                          "score": SCORES.get(task, "micro-F1"),
                          "control": "Hewitt & Liang" if task in CONTROLLED else "none defined"} for task in tasks])


def check_tasks(tasks) -> None:
    for task in tasks:
        if task not in PROBE_TASKS:
            raise InputError(f"unknown probe task {task!r}; valid: {', '.join(PROBE_TASKS)}")


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
    each corpus (0: all; a fifth of the training sentences is the dev split of early stopping);
    at most ``epochs`` of the edge probes and ``structural_epochs`` of the rank-``rank`` structural
    probe; ``pooling`` of word vectors for the structural probe; ``seed`` of every probe, and
    ``seeds`` probe seeds (``seed``, ``seed + 1``, ...) for a pre-trained encoder (a fine-tuned
    model is probed with ``seed`` alone, its fine-tuning seeds give the spread; a random-init
    control with ``seed`` alone, to save time). Two parts run on the pre-trained encoder only
    (:meth:`full`): the control tasks (selectivity), which ask whether the probe or the layer holds
    a score, a question about the probe that the pre-trained encoder answers; and the cumulative
    scalar mixes of layers ``0..l`` behind the expected layer (every model gets the mix of all
    layers, its weights and center of gravity). On the nine fine-tuned models and the random-init
    control they cost about half the probing time. ``seeds`` is the library's, not a chapter
    parameter, so that every chapter finds the same stored probes."""

    tasks: Sequence[str]
    n_train: int
    n_test: int
    epochs: int = 4
    structural_epochs: int = 4
    rank: int = 64
    pooling: str = "first"
    seed: int = 0
    seeds: int = 3

    PARAMETERS = ("probe_tasks", "probe_train_sentences", "probe_test_sentences", "probe_epochs", "structural_epochs",
                  "probe_rank", "pooling", "seed")

    @classmethod
    def from_parameters(cls, values: Mapping) -> "Probing":
        """The stage a chapter's (or a profile's) checked parameters set."""
        return cls(tasks=tuple(values["probe_tasks"]), n_train=values["probe_train_sentences"],
                   n_test=values["probe_test_sentences"], epochs=values["probe_epochs"],
                   structural_epochs=values["structural_epochs"], rank=values["probe_rank"],
                   pooling=values["pooling"], seed=values["seed"])

    def seeds_of(self, model: Model) -> list[int]:
        """The probe seeds of ``model``: ``seeds`` of them for a pre-trained encoder, else ``seed``."""
        return [self.seed + i for i in range(self.seeds)] if _pre_trained(model) else [self.seed]

    @staticmethod
    def full(model: Model) -> bool:
        """Whether ``model``'s probes get control tasks (selectivity) and cumulative mixes (expected
        layer): the pre-trained encoder's only."""
        return _pre_trained(model)


def _pre_trained(model: Model) -> bool:
    return isinstance(model, Pretrained) and not model.name.startswith(RANDOM_PREFIX)


def probe_corpora(probing: Probing, data_dir: str | None = None) -> dict:
    """``{corpus: (train records, test records)}`` for the corpora ``probing.tasks`` read."""
    check_tasks(probing.tasks)
    corpora = dict.fromkeys(CORPUS[task] for task in probing.tasks)
    return {corpus: probe_sentences(probing.n_train, probing.n_test, data_dir, corpus) for corpus in corpora}


def _identity(model: Model, corpora: dict, probing: Probing, runtime: Runtime) -> dict:
    tasks = list(probing.tasks)
    check_tasks(tasks)
    missing = sorted({CORPUS[task] for task in tasks} - set(corpora))
    if missing:
        raise InputError(f"no sentences for corpus {', '.join(missing)}: build corpora with probe_corpora(probing, ...)")
    return {"model": model.identity, "tasks": tasks, "seeds": probing.seeds_of(model), "epochs": probing.epochs,
            "rank": probing.rank, "structural_epochs": probing.structural_epochs, "pooling": probing.pooling,
            "edge_training": repr(EdgeTraining(epochs=probing.epochs)), "dev_every": DEV_EVERY,
            "distance_training": repr(DistanceTraining(epochs=probing.structural_epochs)),
            "linear": isinstance(model, Pretrained), "full": probing.full(model),
            "informative_margin": INFORMATIVE_MARGIN,
            "precision": probe_precision(device=runtime.device), "device_type": runtime.device_type,
            "sentences": {CORPUS[t]: [records_digest(part) for part in corpora[CORPUS[t]]] for t in tasks}}


def _stored(model: Model, corpora: dict, probing: Probing, runtime: Runtime, progress: bool) -> dict:
    return cached_json("probes", _identity(model, corpora, probing, runtime),
                       lambda: _probe_tables(model, corpora, probing, runtime, progress))


def probe_model(model: Model, corpora: dict, probing: Probing, runtime: Runtime,
                progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every probe task of ``probing`` on every layer of ``model`` (pre-trained or fine-tuned), and
    the scalar mixes of the edge tasks: ``(layers table, mix table)``, one row per probe seed
    (``probe_seed``; :meth:`Probing.seeds_of`). ``corpora`` from :func:`probe_corpora`. Stored by
    everything that produced them; each corpus's hidden states are extracted once for all its tasks.

    The layers table: ``task, probe_seed, layer, score`` (micro-F1; structural: UUAS; coreference:
    F1 of "same entity"), ``best_epoch`` and ``epochs`` (early stopping), ``control`` and
    ``selectivity`` (UPOS, dependency label), the baselines ``majority``, ``linear`` (at three
    layers, pre-trained encoders), ``linear_chain`` (structural), ``informative``, and the counts of
    targets. The mix table: ``task, probe_seed, score, best_epoch, expected_layer,
    center_of_gravity, weight_<l>, cumulative_<l>``."""
    stored = _stored(model, corpora, probing, runtime, progress)
    return pd.DataFrame(stored["layers"]), pd.DataFrame(stored["mix"])


def _probe_job(model: Model, corpora: dict, probing: Probing, runtime: Runtime, progress: bool) -> None:
    _stored(model, corpora, probing, runtime, progress)


def _probed(model: Model, *_) -> str:
    return f"probed {model.name}" if isinstance(model, Pretrained) else f"probed {model.task}, seed {model.seed}"


def probe_models(models: Sequence[Model], corpora: dict, probing: Probing, runtime: Runtime,
                 progress: bool = True) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """:func:`probe_model` of every model, in order: the ones not stored yet probed (each in a fresh
    process on a CPU, else here, one after another; side by side when ``$BOOK_WORKERS`` asks:
    :func:`lib.parallel.run_jobs`), then every result read from the store."""
    from lib.parallel import run_jobs, runs_elsewhere

    models = list(models)
    missing = [m for m in models if not artifact_path("probes", _identity(m, corpora, probing, runtime), ".json").is_file()]
    if missing:
        elsewhere = runs_elsewhere(runtime, len(missing))  # a line per model there instead of progress bars
        run_jobs(_probe_job, [(m, corpora, probing, runtime, progress and not elsewhere) for m in missing], runtime,
                 label=_probed if progress else None)
    return [probe_model(m, corpora, probing, runtime, progress) for m in models]


def probe_items(model: Model, corpora: dict, probing: Probing, runtime: Runtime,
                progress: bool = True) -> pd.DataFrame:
    """The per-test-sentence counts behind every score of :func:`probe_model` (the same stored
    run): columns ``probe, layer, probe_seed, sentence, tp, fp, fn``; ``layer`` -1 is the mix of
    all layers; ``sentence`` indexes the corpus's test sentences, in the same order for every model.
    A score is ``2 sum(tp) / (2 sum(tp) + sum(fp) + sum(fn))`` over its sentences (accuracy: a wrong
    target counts one fp and one fn; UUAS: per gold edge)."""
    stored = _stored(model, corpora, probing, runtime, progress)
    frames = [pd.DataFrame({"probe": item["probe"], "layer": item["layer"], "probe_seed": item["probe_seed"],
                            "sentence": np.arange(len(item["tp"])), "tp": item["tp"], "fp": item["fp"],
                            "fn": item["fn"]}) for item in stored["items"]]
    return pd.concat(frames, ignore_index=True)[list(ITEMS)] if frames else pd.DataFrame(columns=ITEMS)


def _items(task: str, seed: int, counts: dict) -> list[dict]:
    return [{"probe": task, "layer": int(layer), "probe_seed": seed, **{name: c[:, i].tolist() for i, name in
                                                                       enumerate(("tp", "fp", "fn"))}}
            for layer, c in counts.items()]


def _task_rows(task: str, data: ProbeData, model: Model, probing: Probing, device: str):
    """One task's (layer tables, mixes, items) over the probe seeds of ``model``, with baselines."""
    tables, mixes, items = [], [], []
    linear = isinstance(model, Pretrained)
    for seed in probing.seeds_of(model):
        counts = {}
        if task == "structural":
            words = data._replace(train=to_words(data.train, probing.pooling), test=to_words(data.test, probing.pooling))
            table = structural_probe_layers(words, seed, probing.rank,
                                            DistanceTraining(epochs=probing.structural_epochs, device=device),
                                            counts=counts)
        else:
            edge = EdgeTask.of(task, *data)
            table, mix, counts = edge_task_probes(edge, data.train, data.test, seed,
                                                  EdgeTraining(epochs=probing.epochs, device=device),
                                                  control=probing.full(model), cumulative=probing.full(model))
            table["majority"] = edge.majority()
            if linear and seed == probing.seed:
                layers = data.train.layers
                table["linear"] = [edge.linear(data.train, data.test, layer, seed)
                                   if layer in (layers[0], layers[len(layers) // 2], layers[-1]) else np.nan
                                   for layer in table.layer]
            mixes.append({"task": task, "probe_seed": seed, "score": mix["score"], "best_epoch": mix["best_epoch"],
                          "expected_layer": mix["expected_layer"], "center_of_gravity": mix["center_of_gravity"],
                          **{f"weight_{layer}": w for layer, w in mix["weights"].items()},
                          **{f"cumulative_{layer}": c for layer, c in mix["cumulative"].items()}})
        tables.append(table.assign(task=task, probe_seed=seed))
        items += _items(task, seed, counts)
    table = pd.concat(tables, ignore_index=True)
    baseline = table.majority.iloc[0] if "majority" in table else table.linear_chain.iloc[0]
    table["informative"] = bool(table.groupby("layer").score.mean().max() - baseline > INFORMATIVE_MARGIN)
    return table, mixes, items


def _probe_tables(model: Model, corpora: dict, probing: Probing, runtime: Runtime, progress: bool) -> dict:
    """:func:`probe_model`'s tables, computed: ``{"layers": records, "mix": records, "items": [...]}``."""
    tasks = list(probing.tasks)
    tables, mixes, items = [], [], []
    for corpus in dict.fromkeys(CORPUS[task] for task in tasks):
        train_records, test_records = corpora[corpus]
        train, test = (model.layers(part, runtime, pooling="subwords", progress=progress)
                       for part in (train_records, test_records))
        data = ProbeData(train, test, train_records, test_records)
        for task in [t for t in tasks if CORPUS[t] == corpus]:
            table, task_mixes, task_items = _task_rows(task, data, model, probing, runtime.device)
            tables.append(table)
            mixes += task_mixes
            items += task_items
            release_memory()  # each task's probes and their tensors, handed back before the next
        del train, test, data  # this corpus's vectors, before the next corpus's are extracted
        release_memory()
    first = ["task", "probe_seed", "layer", "score"]
    layers = pd.concat(tables, ignore_index=True)
    layers = layers[first + [c for c in layers if c not in first]]
    return {"layers": layers.to_dict("records"), "mix": mixes, "items": items}
