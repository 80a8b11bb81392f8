"""Ablations: partial freezing (the paper's) and layer restoring (beyond the paper).

A boundary ``k`` (0..n_layers) splits an encoder in two, as ``freeze_below`` does: the *bottom*
is the embeddings and layers 1..k (nothing when k = 0), the *top* is everything else.

- **Freezing**: fine-tune with the bottom frozen at its pre-trained weights. ``k = 0`` is the full
  fine-tune, ``k = n_layers`` trains only the head on the frozen encoder (a probe on the top layer).
- **Restoring the bottom**: take a fine-tuned model and put the pre-trained weights back into its
  bottom; the fine-tuned top and head stay. The same architecture as freezing at ``k``, but the
  top was trained on a different bottom.
- **Restoring the top**: put the pre-trained weights back into the top; the fine-tuned bottom
  and head stay.

Frozen layers run in eval mode, so the bottom's output for an example is the same in every epoch,
for every seed and at every larger ``k``. :class:`PrefixStates` computes it once and advances it
one layer at a time; a model at boundary ``k`` then runs only its top (``bench/ablation.py``
measures what that saves). Restoring evaluates the same way: each layer is computed once per
model, never once per ``k``.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lib.artifacts import atomic_path, cache_dir
from lib.features import collate
from lib.finetune import (TRAINER_VERSION, FinetuneConfig, get_or_train, load_finetuned, prepare, profile_config,
                          stored)
from lib.heads import TaskModel
from lib.metrics import evaluate
from lib.models import load_encoder, model_shape, pick_device, run_layers
from lib.runtime import start_runtime
from lib.tasks import check_task

MAIN_METRIC = {"nli": "accuracy", "sentiment": "accuracy", "parsing": "las", "qa": "f1"}
EXPERIMENTS = ("freezing", "restore_bottom", "restore_top")
ABLATION_VERSION = 1  # bump when a change here changes the restoring results


def check_grid(grid, model: str) -> tuple[int, ...]:
    """The sorted boundaries of a freezing grid, each one a boundary of ``model`` (ValueError otherwise)."""
    n_layers, _ = model_shape(model)
    grid = list(grid)
    if not grid:
        raise ValueError(f"the freezing grid is empty: give boundaries in 0..{n_layers}, such as [0, {n_layers}]")
    bad = [k for k in grid if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n_layers]
    if bad:
        raise ValueError(f"freezing grid values {bad} are outside 0..{n_layers}, the layers of {model} "
                         f"(0: nothing frozen, {n_layers}: the whole encoder)")
    return tuple(sorted(set(grid)))


class PrefixStates:
    """The hidden states of each example after layer ``layer`` of a fixed encoder, without padding.

    Starts at the embedding output (layer 0); :meth:`advance` runs the next layers on the stored
    states, so reaching layer k costs k layers once, whatever the number of models trained on it.
    """

    def __init__(self, encoder: torch.nn.Module, splits: tuple[list[dict], ...], pad_id: int,
                 device: str = "cpu", autocast: bool = False, batch_size: int = 64, progress: bool = False):
        self.encoder, self.pad_id, self.device = encoder.eval(), pad_id, device
        self.autocast, self.batch_size, self.progress = autocast, batch_size, progress
        self.splits, self.layer = splits, 0
        self.states = [self._run(features, None) for features in splits]

    def _autocast(self):
        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.autocast)

    @torch.no_grad()
    def _run(self, features: list[dict], states: list[torch.Tensor] | None, stop: int = 0) -> list[torch.Tensor]:
        order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")
        out: list[torch.Tensor | None] = [None] * len(features)
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for rows in tqdm(batches, desc=f"layers {self.layer}->{stop}", disable=not self.progress, leave=False):
            batch = collate([features[i] for i in rows], self.pad_id)
            mask = batch["attention_mask"].to(self.device)
            with self._autocast():
                if states is None:
                    hidden = self.encoder.embeddings(input_ids=batch["input_ids"].to(self.device),
                                                     token_type_ids=batch["token_type_ids"].to(self.device))
                else:
                    padded = torch.nn.utils.rnn.pad_sequence([states[i] for i in rows], batch_first=True)
                    hidden = run_layers(self.encoder, padded.to(self.device), mask, self.layer, stop)
            hidden = hidden.float().cpu()
            for row, i in enumerate(rows):
                out[i] = hidden[row, :len(features[i]["input_ids"])].clone()
        return out

    def advance(self, layer: int) -> "PrefixStates":
        """Move every stored state up to the output of ``layer`` (never down)."""
        if layer < self.layer:
            raise ValueError(f"the states are at layer {self.layer}; they cannot go back to {layer}")
        if layer > self.layer:
            self.states = [self._run(features, states, layer) for features, states in zip(self.splits, self.states)]
            self.layer = layer
        return self

    def features(self, split: int) -> list[dict]:
        """Split ``split``'s features carrying the states (a model then starts from them)."""
        return [{**f, "states": s, "states_layer": self.layer} for f, s in zip(self.splits[split], self.states[split])]


def grid_config(task: str, seed: int, params: dict, k: int) -> FinetuneConfig:
    """The fine-tuning config of one grid point: the profile's settings, the ablation's data and batch sizes.

    The grid's dev set (one learning-curve point per epoch) is a fifth of ``ablation_n_eval``, its
    test set ``ablation_n_eval`` examples (our choice: the grid has many models to score); with
    ``ablation_n_eval = 0`` both are whole, and a grid with the profile's ``n_train`` then shares
    its ``k = 0`` model with every other chapter.
    """
    n_eval = params["ablation_n_eval"]
    for name in ("ablation_n_train", "ablation_batch_size"):
        if task not in params[name]:
            raise ValueError(f"parameter {name} has no entry for task {task!r}: {params[name]}")
    return profile_config(task, seed, params, freeze_below=k, n_train=params["ablation_n_train"][task],
                          batch_size=params["ablation_batch_size"][task],
                          n_dev=max(1, n_eval // 5) if n_eval > 0 else 0, n_test=n_eval)


def freezing_grid(task: str, params: dict, device: str = "auto", progress: bool = True) -> list[dict]:
    """Manifests of the grid's fine-tuned models (``params["ablation_grid"]`` x ``params["seeds"]``).

    Stored models are reused; the missing frozen ones train on :class:`PrefixStates` of the
    pre-trained encoder, computed once per task (per seed for a random-init model).
    """
    check_task(task)
    grid = check_grid(params["ablation_grid"], params["model"])
    data_dir = params["data_dir"] or None
    configs = [grid_config(task, seed, params, k) for k in grid for seed in params["seeds"]]
    missing = [c for c in configs if stored(c, device) is None]
    if missing:
        _train_grid(missing, data_dir, device, progress)
    return [get_or_train(c, data_dir=data_dir, device=device, progress=progress) for c in configs]


def _train_grid(configs: list[FinetuneConfig], data_dir: str | None, device: str, progress: bool) -> None:
    """Train the missing grid models: the data is loaded and encoded once, the frozen prefix
    computed once (per seed only for a random-init model, whose bottom differs per seed)."""
    runtime = start_runtime(pick_device(device), configs[0].precision, distributed=False)
    shared = not configs[0].model.startswith("random-init")
    for prefix_seed in ([configs[0].seed] if shared else sorted({c.seed for c in configs})):
        group = [c for c in configs if shared or c.seed == prefix_seed]
        encoder = load_encoder(group[0].model, device=runtime.device, seed=prefix_seed, attention=runtime.attention)
        data, features = prepare(group[0], encoder.tokenizer, data_dir)
        for config in (c for c in group if c.freeze_below == 0):  # nothing frozen: the plain features
            get_or_train(config, data_dir=data_dir, device=device, progress=progress, prepared=(data, features))
        frozen = sorted({c.freeze_below for c in group} - {0})
        if not frozen:
            continue
        prefix = PrefixStates(encoder.model, features, encoder.tokenizer.pad_token_id, runtime.device,
                              runtime.bf16, progress=progress)
        for k in frozen:
            prefix.advance(k)
            with_states = (data, tuple(prefix.features(split) for split in range(3)))
            for config in (c for c in group if c.freeze_below == k):
                get_or_train(config, data_dir=data_dir, device=device, progress=progress, prepared=with_states)


def _restoring_path(manifest: dict, params: dict):
    identity = {"weights": manifest["weights_sha256"], "pretrained": params["model"], "n_eval": params["ablation_n_eval"],
                "dataset": manifest["dataset"], "version": ABLATION_VERSION, "trainer_version": TRAINER_VERSION}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "ablation" / f"{key}.json"


def restoring_cached(manifest: dict, params: dict) -> bool:
    """Whether :func:`restoring`'s result for ``manifest`` is on disk."""
    return _restoring_path(manifest, params).is_file()


def restoring_data(manifest: dict, params: dict, tokenizer) -> tuple:
    """The restoring experiment's test examples of ``manifest``'s task, encoded (as :func:`prepare`)."""
    config = manifest["config"]
    return prepare(FinetuneConfig(task=manifest["task"], n_train=1, n_dev=1, n_test=params["ablation_n_eval"],
                                  dataset=config["dataset"], max_length=config["max_length"]), tokenizer,
                   params["data_dir"] or None)


def restoring(manifest: dict, params: dict, device: str = "auto", progress: bool = True,
              prepared: tuple | None = None) -> pd.DataFrame:
    """Scores of a fine-tuned model with the pre-trained weights back in its bottom or its top.

    One row per (experiment, k, metric) on ``ablation_n_eval`` test examples (the grid's test
    set); cached on disk by the model's weights hash. ``prepared``: :func:`restoring_data`'s result,
    to share one loading between seeds.
    """
    task, model_name = manifest["task"], params["model"]
    n_layers, _ = model_shape(model_name)
    path = _restoring_path(manifest, params)
    if path.is_file():
        return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
    device = pick_device(device)
    tuned = load_finetuned(manifest, device=device)
    pre = load_encoder(model_name, device=device, seed=manifest["seed"], attention=manifest["config"]["attention"])
    config = manifest["config"]
    data, (_, _, test) = prepared or restoring_data(manifest, params, tuned.tokenizer)
    pad_id, bf16 = tuned.tokenizer.pad_token_id, config["precision"] == "bf16"
    pre_with_head = TaskModel(pre.model, tuned.head).eval()

    def score(model: TaskModel, features: list[dict]) -> dict[str, float]:
        return evaluate(model, features, task, pad_id, records=data.test, autocast=bf16)

    rows = []
    pre_states = PrefixStates(pre.model, (test,), pad_id, device, bf16, progress=progress)
    tuned_states = PrefixStates(tuned.encoder, (test,), pad_id, device, bf16, progress=progress)
    ends = {"tuned": score(tuned, test), "pre": score(pre_with_head, test)}
    for k in range(n_layers + 1):
        if 0 < k < n_layers:
            pre_states.advance(k)
            tuned_states.advance(k)
            bottom = score(tuned, pre_states.features(0))  # pre-trained bottom, fine-tuned top
            top = score(pre_with_head, tuned_states.features(0))  # fine-tuned bottom, pre-trained top
        else:
            bottom, top = (ends["tuned"], ends["pre"]) if k == 0 else (ends["pre"], ends["tuned"])
        for experiment, metrics in (("restore_bottom", bottom), ("restore_top", top)):
            rows += [{"experiment": experiment, "k": k, "metric": name, "value": value}
                     for name, value in metrics.items()]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rows), encoding="utf-8")
    return pd.DataFrame(rows)


def ablation_table(task: str, params: dict, device: str = "auto", progress: bool = True) -> pd.DataFrame:
    """Tidy scores: (task, seed, experiment, k, metric, value) for freezing and both restorings.

    Freezing models come from :func:`freezing_grid`; restoring starts from the profile's
    fine-tuned models (the ones every other chapter studies).
    """
    rows = []
    for manifest in freezing_grid(task, params, device, progress):
        rows += [{"seed": manifest["seed"], "experiment": "freezing", "k": manifest["config"]["freeze_below"],
                  "metric": name, "value": value} for name, value in manifest["metrics"].items()]
    table, prepared = pd.DataFrame(rows), None
    for seed in params["seeds"]:
        manifest = get_or_train(profile_config(task, seed, params), data_dir=params["data_dir"] or None,
                                device=device, progress=progress)
        if prepared is None and not restoring_cached(manifest, params):
            prepared = restoring_data(manifest, params, load_encoder(params["model"]).tokenizer)
        table = pd.concat([table, restoring(manifest, params, device, progress, prepared).assign(seed=seed)],
                          ignore_index=True)
    return table.assign(task=task)[["task", "seed", "experiment", "k", "metric", "value"]]


def summary(table: pd.DataFrame) -> dict:
    """The ``ablate`` command's JSON: per k, the main metric (mean over seeds) of each experiment."""
    task = table["task"].iloc[0]
    metric = MAIN_METRIC[task]
    main = table[table.metric == metric]
    means = main.groupby(["k", "experiment"])["value"].mean().unstack()
    per_seed = main.pivot_table(index=["k", "experiment"], columns="seed", values="value")
    entries = []
    for k in sorted(main.k.unique()):
        entry = {"k": int(k)}
        for experiment in EXPERIMENTS:
            if experiment in means.columns and not np.isnan(means.loc[k, experiment]):
                entry[experiment] = round(float(means.loc[k, experiment]), 4)
                entry[f"{experiment}_seeds"] = [round(float(v), 4) for v in per_seed.loc[(k, experiment)]]
        entries.append(entry)
    return {"task": task, "metric": metric, "entries": entries}
