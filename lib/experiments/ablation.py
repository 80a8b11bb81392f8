"""Ablations: partial freezing (the paper's) and layer restoring (beyond the paper).

A boundary ``k`` (0..n_layers) splits an encoder in two, as ``freeze_below`` does: the *bottom*
is the embeddings and layers 1..k (nothing when k = 0), the *top* is everything else.

- **Freezing**: fine-tune with the bottom frozen at its pre-trained weights. ``k = 0`` is the full
  fine-tune, ``k = n_layers`` trains only the head on the frozen encoder (a probe on the top layer).
  The missing models of a grid train on :class:`lib.experiments.prefix.PrefixStates`: the frozen
  bottom runs once per task, not once per model and epoch.
- **Restoring** the bottom or the top of the book's fine-tuned models: :mod:`lib.experiments.restoring`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lib.encoders.loading import load_encoder, model_shape
from lib.encoders.runtime import Runtime
from lib.experiments.prefix import PrefixStates
from lib.experiments.restoring import restoring, restoring_cached, restoring_data
from lib.finetune.config import FinetuneConfig, Finetuning
from lib.finetune.loop import Prepared, prepare
from lib.finetune.store import FineTuned, get_or_train, stored
from lib.finetune.tasks import MAIN_METRIC, check_task
from lib.errors import InputError

EXPERIMENTS = ("freezing", "restore_bottom", "restore_top")


@dataclass(frozen=True)
class Ablation:
    """The ablation stage's settings.

    ``grid``: the freezing boundaries k; ``n_train`` and ``batch_size``: per task, the training
    examples and batch size of each grid model (fewer than the book's models: the grid has many);
    ``n_eval``: the test examples that score each grid and restored model (0: all). The grid's dev
    set (the learning curve's dev points) is a fifth of ``n_eval`` (our choice). A grid with the
    book's ``n_train`` and batch size, and with ``n_eval`` the book's ``n_test`` (and a fifth of it
    its ``n_dev``; or both whole), shares its ``k = 0`` models with every other chapter.
    ``seeds``: the seeds of the grid and of restoring (None: the book's fine-tuning seeds).
    """

    grid: Sequence[int]
    n_train: Mapping[str, int]
    batch_size: Mapping[str, int]
    n_eval: int
    seeds: Sequence[int] | None = None

    PARAMETERS = ("ablation_grid", "ablation_n_train", "ablation_batch_size", "ablation_n_eval", "ablation_seeds")

    @classmethod
    def from_parameters(cls, values: Mapping) -> "Ablation":
        """The stage a chapter's (or a profile's) checked parameters set."""
        return cls(grid=values["ablation_grid"], n_train=values["ablation_n_train"],
                   batch_size=values["ablation_batch_size"], n_eval=values["ablation_n_eval"],
                   seeds=values["ablation_seeds"])

    def config(self, finetuning: Finetuning, task: str, seed: int, k: int) -> FinetuneConfig:
        """The fine-tuning config of one grid point: the book's settings, the ablation's sizes."""
        for name in ("n_train", "batch_size"):
            if task not in getattr(self, name):
                raise InputError(f"parameter ablation_{name} has no entry for task {task!r}: {getattr(self, name)}")
        n_eval = self.n_eval
        return replace(finetuning.config(task, seed, freeze_below=k), n_train=self.n_train[task],
                       batch_size=self.batch_size[task], n_dev=max(1, n_eval // 5) if n_eval > 0 else 0,
                       n_test=n_eval).check()


def check_grid(grid, model: str) -> tuple[int, ...]:
    """The sorted boundaries of a freezing grid, each one a boundary of ``model`` (ValueError otherwise)."""
    n_layers, _ = model_shape(model)
    grid = list(grid)
    if not grid:
        raise InputError(f"the freezing grid is empty: give boundaries in 0..{n_layers}, such as [0, {n_layers}]")
    bad = [k for k in grid if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n_layers]
    if bad:
        raise InputError(f"freezing grid values {bad} are outside 0..{n_layers}, the layers of {model} "
                         f"(0: nothing frozen, {n_layers}: the whole encoder)")
    return tuple(sorted(set(grid)))


def freezing_grid(finetuning: Finetuning, ablation: Ablation, task: str, runtime: Runtime,
                  progress: bool = True) -> list[FineTuned]:
    """The grid's fine-tuned models (``ablation.grid`` x its seeds: ``ablation.seeds``, else
    ``finetuning.seeds``).

    Stored models are reused; the missing frozen ones train on :class:`PrefixStates` of the
    pre-trained encoder, computed once per task (per seed for a random-init model).
    """
    check_task(task)
    grid = check_grid(ablation.grid, finetuning.model)
    seeds = finetuning.seeds if ablation.seeds is None else ablation.seeds
    configs = [ablation.config(finetuning, task, seed, k) for k in grid for seed in seeds]
    missing = [c for c in configs if stored(c, runtime) is None]
    if missing:
        _train_grid(missing, runtime, progress)
    return [get_or_train(c, runtime, progress=progress) for c in configs]


def _train_grid(configs: list[FinetuneConfig], runtime: Runtime, progress: bool) -> None:
    """Train the missing grid models: the data is loaded and encoded once, the frozen prefix
    computed once (per seed only for a random-init model, whose bottom differs per seed)."""
    runtime = runtime.with_precision(configs[0].precision)
    shared = not configs[0].model.startswith("random-init")
    for prefix_seed in ([configs[0].seed] if shared else sorted({c.seed for c in configs})):
        group = [c for c in configs if shared or c.seed == prefix_seed]
        encoder = load_encoder(group[0].model, device=runtime.device, seed=prefix_seed, attention=runtime.attention)
        prepared = prepare(group[0], encoder.tokenizer, runtime.data_dir)
        for config in (c for c in group if c.freeze_below == 0):  # nothing frozen: the plain features
            get_or_train(config, runtime, progress=progress, prepared=prepared)
        frozen = sorted({c.freeze_below for c in group} - {0})
        if not frozen:
            continue
        prefix = PrefixStates(encoder.model, prepared.features, encoder.tokenizer.pad_token_id, runtime.device,
                              runtime.precision, progress=progress)
        for k in frozen:
            prefix.advance(k)
            with_states = Prepared(prepared.data, tuple(prefix.features(split) for split in range(3)))
            for config in (c for c in group if c.freeze_below == k):
                get_or_train(config, runtime, progress=progress, prepared=with_states)


def ablation_table(finetuning: Finetuning, ablation: Ablation, task: str, runtime: Runtime,
                   progress: bool = True) -> pd.DataFrame:
    """Tidy scores: (task, seed, experiment, k, metric, value) for freezing and both restorings.

    Freezing models come from :func:`freezing_grid`; restoring starts from the book's fine-tuned
    models (the ones every other chapter studies) of the same seeds and scores them on
    ``ablation.n_eval`` examples.
    """
    rows = []
    for tuned in freezing_grid(finetuning, ablation, task, runtime, progress):
        rows += [{"seed": tuned.seed, "experiment": "freezing", "k": tuned.config.freeze_below,
                  "metric": name, "value": value} for name, value in tuned.metrics.items()]
    table, prepared = pd.DataFrame(rows), None
    for seed in finetuning.seeds if ablation.seeds is None else ablation.seeds:
        tuned = get_or_train(finetuning.config(task, seed), runtime, progress=progress)
        if prepared is None and not restoring_cached(tuned, finetuning.model, ablation.n_eval, runtime):
            prepared = restoring_data(tuned, ablation.n_eval, load_encoder(finetuning.model).tokenizer, runtime.data_dir)
        scores = restoring(tuned, finetuning.model, ablation.n_eval, runtime, progress, prepared)
        table = pd.concat([table, scores.assign(seed=seed)], ignore_index=True)
    return table.assign(task=task)[["task", "seed", "experiment", "k", "metric", "value"]]


def _ablation_job(finetuning: Finetuning, ablation: Ablation, task: str, runtime: Runtime) -> None:
    ablation_table(finetuning, ablation, task, runtime, progress=False)


def _ablation_stored(finetuning: Finetuning, ablation: Ablation, task: str, runtime: Runtime) -> bool:
    seeds = finetuning.seeds if ablation.seeds is None else ablation.seeds
    grid = check_grid(ablation.grid, finetuning.model)
    if any(stored(ablation.config(finetuning, task, seed, k), runtime) is None for k in grid for seed in seeds):
        return False
    tuned = [stored(finetuning.config(task, seed), runtime) for seed in seeds]
    return all(t is not None and restoring_cached(t, finetuning.model, ablation.n_eval, runtime) for t in tuned)


def ablation_tables(finetuning: Finetuning, ablation: Ablation, tasks: Sequence[str], runtime: Runtime,
                    progress: bool = True) -> pd.DataFrame:
    """:func:`ablation_table` of every task, concatenated. What is not stored yet is computed first:
    on a CPU one job per task in a fresh process (its grid models and restorings of every seed: the
    data and the frozen prefix computed once for all of them); side by side when ``$BOOK_WORKERS``
    asks, one job per task and seed (each freezes its own prefix, a forward pass)
    (:func:`lib.parallel.run_jobs`); otherwise :func:`ablation_table` computes it here."""
    from lib.parallel import run_jobs, runs_elsewhere, worker_count

    for task in tasks:
        check_task(task)
    seeds = finetuning.seeds if ablation.seeds is None else ablation.seeds
    if worker_count(runtime, len(tasks) * len(seeds)):
        jobs = [(finetuning, replace(ablation, seeds=(seed,)), task, runtime) for task in tasks for seed in seeds]
    else:
        jobs = [(finetuning, replace(ablation, seeds=tuple(seeds)), task, runtime) for task in tasks]
    if runs_elsewhere(runtime, len(jobs)):  # only then look up what is missing: ablation_table finds it anyway
        missing = [job for job in jobs if not _ablation_stored(*job)]
        if missing:
            run_jobs(_ablation_job, missing, runtime,
                     label=(lambda f, a, task, *_: f"ablated {task}, seeds {', '.join(map(str, a.seeds))}")
                     if progress else None)
    return pd.concat([ablation_table(finetuning, ablation, task, runtime, progress) for task in tasks],
                     ignore_index=True)


def ablation_items(finetuning: Finetuning, ablation: Ablation, task: str, runtime: Runtime,
                   progress: bool = True) -> pd.DataFrame:
    """Per test example of every freezing-grid model, what its main metric sums
    (:data:`lib.finetune.tasks.MAIN_METRIC`): ``(task, experiment, k, seed, item, correct, total)``
    with the metric ``sum(correct) / sum(total)``: a class right (of 1); the parser's correctly
    attached and labelled words (LAS) of the scored words of a sentence; QA's F1 (of 1). Every grid
    model scores the same test examples in the same order, so rows pair by ``item`` for a paired
    bootstrap (:mod:`lib.stats`). A model stored before its manifest kept these counts has no rows.
    """
    rows = []
    for tuned in freezing_grid(finetuning, ablation, task, runtime, progress):
        items = tuned.manifest.get("test_items")
        if not items:
            continue
        key = "correct" if "correct" in items else MAIN_METRIC[task]
        rows.append(pd.DataFrame({"task": task, "experiment": "freezing", "k": tuned.config.freeze_below,
                                  "seed": tuned.seed, "item": np.arange(len(items["total"])),
                                  "correct": items[key], "total": items["total"]}))
    columns = ["task", "experiment", "k", "seed", "item", "correct", "total"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def share_lost(table: pd.DataFrame, chance: dict[str, float]) -> pd.Series:
    """Per row of an ablation table (one metric per task): the share of the full fine-tune's score
    above chance that is lost, ``(full - value) / (full - chance[task])``.

    ``full`` is the grid's smallest boundary for a freezing row and chapter 2's model (nothing
    restored, ``restore_bottom`` at k = 0) for a restoring row; of the same seed where ``table``
    has a ``seed`` column (else ``table`` holds one row per task, experiment and k, such as means).

    >>> t = pd.DataFrame({"task": ["nli"] * 3, "experiment": ["freezing", "freezing", "restore_bottom"],
    ...                   "k": [0, 3, 0], "value": [0.7, 0.5, 0.8]})
    >>> share_lost(t, {"nli": 0.3}).round(2).tolist()
    [0.0, 0.5, 0.0]
    """
    keys = ["task", "seed"] if "seed" in table else ["task"]
    kind = np.where(table.experiment == "freezing", "freezing", "restoring")
    frozen = table[table.experiment == "freezing"]
    reference = pd.concat([frozen[frozen.k == frozen.groupby(keys).k.transform("min")].assign(kind="freezing"),
                           table[(table.experiment == "restore_bottom") & (table.k == 0)].assign(kind="restoring")])
    full = table[keys].assign(kind=kind).merge(reference[[*keys, "kind", "value"]], on=[*keys, "kind"], how="left")
    return pd.Series((full.value.values - table.value.values) / (full.value.values - table.task.map(chance).values),
                     index=table.index)
