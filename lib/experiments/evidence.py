"""The quantities the verdicts read, each with a 95 % interval (:mod:`lib.stats`).

Where per-item results exist (per test sentence or example), intervals come from a two-level
percentile bootstrap: fine-tuning or ablation seeds, then items, the same items for every model
(paired). Where only one value per seed exists, from Student's t over seeds (Welch's for a
difference between two tasks). The thresholds that turn them into verdicts live in
:mod:`lib.experiments.findings`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lib.stats import Interval, bootstrap, benjamini_hochberg, greater_p, percentile_interval, seed_interval

T_SEEDS = "t over seeds"
BOOTSTRAP = "bootstrap over seeds and items"
NO_INTERVAL = Interval(float("nan"), float("nan"), float("nan"))


def probe_item_table(models: dict, corpora, probing, runtime) -> pd.DataFrame:
    """:func:`lib.probe_items` of every model, ``models`` keyed by (name, seed) as chapter 7 builds
    them, with columns ``model`` and ``seed``."""
    from lib.probing.runner import probe_items

    return pd.concat([probe_items(ref, corpora, probing, runtime).assign(model=name, seed=str(s))
                      for (name, s), ref in models.items()], ignore_index=True)


def ablation_item_table(finetuning, ablation, tasks: list[str], runtime) -> pd.DataFrame:
    """:func:`lib.ablation_items` of every task."""
    from lib.experiments.ablation import ablation_items

    return pd.concat([ablation_items(finetuning, ablation, task, runtime) for task in tasks], ignore_index=True)


def _f1(counts: np.ndarray) -> np.ndarray:
    """F1 from (..., 3) counts of (tp, fp, fn): ``2 tp / (2 tp + fp + fn)``."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    return 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12)


def _kept_items(items: pd.DataFrame, task: str, probe: str, n_boot: int, seed: int):
    """(estimate, replicates) of the kept share from per-sentence counts, seeds then sentences."""
    rows = items[(items.probe == probe) & (items.layer >= 0)]
    counts = rows.groupby(["model", "seed", "layer", "sentence"])[["tp", "fp", "fn"]].sum()
    pre = counts.loc["pre-trained"].groupby(["layer", "sentence"]).sum()
    n_layers, sentences = pre.index.get_level_values(0).nunique(), pre.index.get_level_values(1).unique()
    pre = pre.to_numpy(float).reshape(n_layers, len(sentences), 3)  # (layers, sentences, 3)
    tuned = counts.loc[task]
    n_seeds = tuned.index.get_level_values(0).nunique()
    tuned = tuned.to_numpy(float).reshape(n_seeds, n_layers, len(sentences), 3)  # (seeds, layers, sentences, 3)

    def kept(seeds: np.ndarray, index: np.ndarray) -> float:
        weight = np.bincount(index, minlength=len(sentences)).astype(float)
        before = _f1(np.einsum("lnc,n->lc", pre, weight))
        after = _f1(np.einsum("slnc,n->slc", tuned, weight))[seeds].max(axis=1).mean()
        return (after - before[0]) / (before.max() - before[0])

    return bootstrap(kept, len(sentences), n_seeds, n_boot, seed)


def kept_gain(layers: pd.DataFrame, items: pd.DataFrame | None = None, min_gain: float = 0.0,
              n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per (task, probe): the share of the probe's contextual gain that fine-tuning keeps,
    ``kept = (fine-tuned best layer - pre-trained layer 0) / (pre-trained best - pre-trained layer 0)``
    (the fine-tuned best layer per seed, then the mean of seeds), with its interval.

    ``layers``: (model, seed, probe, layer, score[, informative]) (chapter 3; layer -1, the mix, is
    left out). ``items``: (model, seed, probe, layer, probe_seed, sentence, tp, fp, fn), the counts
    per test sentence of :func:`lib.probe_items` (None: seed intervals). ``informative``: the
    ``layers`` table's flag where it has one, else a contextual gain of at least ``min_gain``.
    """
    layers = layers[layers.layer >= 0]
    rows = []
    for (task, probe), group in layers[layers.model != "pre-trained"].groupby(["model", "probe"]):
        pre = layers[(layers.model == "pre-trained") & (layers.probe == probe)]
        before = pre.groupby("layer").score.mean()
        gain = float(before.max() - before.iloc[0])
        best = group.groupby("seed").score.max()
        flag = pre.informative.all() if "informative" in pre else gain >= min_gain
        row = {"task": task, "probe": probe, "layer0": float(before.iloc[0]), "pre_trained": float(before.max()),
               "fine_tuned": float(best.mean()), "gain": gain, "informative": bool(flag and gain > 0)}
        has_items = items is not None and ((items.model == task) & (items.probe == probe)).any()
        if not row["informative"]:
            interval, method = NO_INTERVAL, "left out"
        elif has_items:
            interval, method = percentile_interval(*_kept_items(items, task, probe, n_boot, seed)), BOOTSTRAP
        else:
            interval, method = seed_interval((best - before.iloc[0]) / gain), T_SEEDS
        rows.append({**row, "kept": interval.estimate, "low": interval.low, "high": interval.high, "method": method})
    return pd.DataFrame(rows)


def floor_gaps(comparisons: pd.DataFrame, q: float = 0.05) -> pd.DataFrame:
    """Per (task, inputs, measure, layer): how far the pre-trained vs fine-tuned similarity sits
    below the seed floor, ``gap_i = floor_i - versus_i`` for each seed i (``floor_i``: the mean
    similarity of seed i to the other seeds), with its t interval over seeds and the one-sided
    p-value of ``gap > 0``; ``below``: rejected by Benjamini-Hochberg at ``q`` over every cell of
    the measure. ``comparisons``: :func:`lib.similarity_table` with ``per_seed=True`` (several seeds).
    """
    keys = ["task", "inputs", "measure", "layer"]
    rows = []
    for key, group in comparisons.groupby(keys):
        versus = group[group.other == -1].set_index("seed").value
        pairs = group[group.other >= 0]
        floor = pd.Series({i: pairs[(pairs.seed == i) | (pairs.other == i)].value.mean() for i in versus.index})
        gaps = (floor - versus).dropna()
        interval = seed_interval(gaps) if len(gaps) else NO_INTERVAL
        rows.append({**dict(zip(keys, key)), "gap": interval.estimate, "low": interval.low, "high": interval.high,
                     "p": greater_p(gaps), "seed_gaps": gaps.to_dict()})
    table = pd.DataFrame(rows)
    table["adjusted"], table["below"] = np.nan, False
    for _, group in table.groupby("measure"):
        rejected, adjusted = benjamini_hochberg(group.p, q)
        table.loc[group.index, "adjusted"], table.loc[group.index, "below"] = adjusted, rejected
    return table


def top_margin(gaps: pd.DataFrame, mostly: float) -> pd.DataFrame:
    """Per task (one inputs and measure of :func:`floor_gaps`): the mean gap below the floor in the
    bottom third (layers <= L // 3) and the upper half (layers > L / 2), and, per seed,
    ``margin = mostly * top - bottom`` with its t interval over seeds (> 0: the bottom third holds
    at most ``mostly`` of the upper half's gap)."""
    rows = []
    for task, group in gaps.groupby("task"):
        n_layers = int(group.layer.max())
        per_seed = pd.DataFrame(list(group.seed_gaps), index=group.layer.values)  # (layers, seeds)
        bottom, top = per_seed[per_seed.index <= n_layers // 3].mean(), per_seed[per_seed.index > n_layers / 2].mean()
        interval = seed_interval(mostly * top - bottom)
        rows.append({"task": task, "bottom": float(bottom.mean()), "top": float(top.mean()),
                     "margin": interval.estimate, "low": interval.low, "high": interval.high,
                     "below_at": sorted(group[group.below].layer.astype(int).tolist())})
    return pd.DataFrame(rows)


LINES = {"freezing_chance": "freezing, share of the score above chance lost at k = half",
         "freezing_frozen": "freezing, share of (full - frozen encoder) lost at k = half",
         "restoring_chance": "restoring the pre-trained bottom half, share of the score above chance lost"}


def _shares(score: np.ndarray, chance: float) -> dict[str, np.ndarray]:
    """Each line's share from scores (..., 5) of :func:`_columns`: freezing at the full, half and
    largest boundary, restoring nothing and the bottom half."""
    full, half, frozen, r_full, r_half = np.moveaxis(score, -1, 0)
    return {"freezing_chance": (full - half) / (full - chance), "freezing_frozen": (full - half) / (full - frozen),
            "restoring_chance": (r_full - r_half) / (r_full - chance)}


def _boundaries(ablation: pd.DataFrame, task: str) -> tuple[int, int, int]:
    """The grid's smallest boundary, the one nearest half the largest, and the largest."""
    grid = np.sort(ablation[(ablation.task == task) & (ablation.experiment == "freezing")].k.unique())
    return grid[0], grid[np.argmin(np.abs(grid - grid.max() / 2))], grid[-1]


def _columns(table: pd.DataFrame, task: str) -> list[tuple[str, int]]:
    full, half, top = _boundaries(table, task)
    return [("freezing", full), ("freezing", half), ("freezing", top), ("restore_bottom", 0), ("restore_bottom", half)]


def ablation_samples(ablation: pd.DataFrame, chance: dict, metric: dict[str, str], items: pd.DataFrame | None = None,
                     n_boot: int = 2000, seed: int = 0) -> dict:
    """Per (task, line of :data:`LINES`): (estimate, samples, method): bootstrap replicates over
    ablation seeds then test items (``items``: :func:`lib.ablation_items`, (task, experiment, k,
    seed, item, correct, total), scored as sum correct / sum total) or, without items, the
    per-seed shares (chapter 5's ``ablation`` table, ``metric`` per task). ``chance``: per
    (task, metric)."""
    out = {}
    for task in sorted(ablation.task.unique()):
        columns = _columns(ablation, task)
        main = ablation[(ablation.task == task) & (ablation.metric == metric[task])]
        wide = main.pivot_table(index="seed", columns=["experiment", "k"], values="value").reindex(columns=columns)
        per_seed = _shares(wide.to_numpy(float), chance[(task, metric[task])])
        mine = None if items is None else items[items.task == task]
        for line, values in per_seed.items():
            out[(task, line)] = (float(np.nanmean(values)) if np.isfinite(values).any() else float("nan"),
                                 values[np.isfinite(values)], T_SEEDS)
        if mine is None or mine.empty:
            continue
        counts = mine.pivot_table(index=["seed", "item"], columns=["experiment", "k"], values=["correct", "total"],
                                  aggfunc="sum")
        n_seeds, n_items = (counts.index.get_level_values(i).nunique() for i in (0, 1))
        shape = (n_seeds, n_items, len(columns))
        correct = counts["correct"].reindex(columns=columns).to_numpy(float).reshape(shape)
        total = counts["total"].reindex(columns=columns).to_numpy(float).reshape(shape)
        base = chance[(task, metric[task])]  # items count the main metric (the parser: LAS)
        for line in LINES:
            def share(seeds, index, line=line):
                weight = np.bincount(index, minlength=n_items).astype(float)
                score = (np.einsum("snk,n->sk", correct, weight) / np.einsum("snk,n->sk", total, weight))[seeds]
                return _shares(score.mean(axis=0), base)[line]
            estimate, replicates = bootstrap(share, n_items, n_seeds, n_boot, seed)
            if np.isfinite(estimate):
                out[(task, line)] = (estimate, replicates, BOOTSTRAP)
    return out


def deeper(samples: dict, task: str = "parsing") -> pd.DataFrame:
    """Per line and other task: ``task``'s share minus the other's, with its interval (percentile of
    independent bootstrap replicates where both have items, else Welch's t over seeds)."""
    rows = []
    for (other, line), (estimate, values, method) in sorted(samples.items()):
        if other == task or (task, line) not in samples:
            continue
        mine, my_values, my_method = samples[(task, line)]
        if method == my_method == BOOTSTRAP:
            interval = percentile_interval(mine - estimate, my_values - values)
        else:
            interval, method = seed_interval(my_values, values), T_SEEDS
        rows.append({"line": line, "other": other, "share": mine, "other_share": estimate,
                     "difference": interval.estimate, "low": interval.low, "high": interval.high, "method": method})
    return pd.DataFrame(rows, columns=["line", "other", "share", "other_share", "difference", "low", "high", "method"])


def domain_closest(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Per (task, measure), at the top layer: the change (1 - similarity) of in-domain sentences
    (mean of the in-domain domains) minus that of the closest out-of-domain domain (the smallest
    such gap), per fine-tuning seed, with its t interval over seeds.

    ``comparisons``: :func:`lib.shift_tables`' similarity with ``per_seed=True``.
    """
    rows = []
    versus = comparisons[comparisons.other == -1]
    for (task, measure), group in versus.groupby(["task", "measure"]):
        top = group[group.layer == group.layer.max()]
        change = 1 - top.pivot_table(index="seed", columns="domain", values="value")  # (seeds, domains)
        inside = change[sorted(top[top.in_domain].domain.unique())].mean(axis=1)
        outside = change.drop(columns=sorted(top[top.in_domain].domain.unique()))
        if outside.empty:
            continue
        gaps = outside.rsub(inside, axis=0)  # (seeds, out-of-domain domains)
        closest = gaps.mean().idxmin()
        interval = seed_interval(gaps[closest])
        rows.append({"task": task, "measure": measure, "layer": int(top.layer.iloc[0]), "in_domain": float(inside.mean()),
                     "closest": closest, "closest_change": float(outside[closest].mean()),
                     "gap": interval.estimate, "low": interval.low, "high": interval.high, "method": T_SEEDS})
    return pd.DataFrame(rows)
