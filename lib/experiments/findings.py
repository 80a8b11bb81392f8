"""The paper's four findings, judged on this book's measurements by explicit rules.

Each function takes the tidy tables the chapters compute and returns the evidence per task; the
:func:`verdicts` table marks each finding ``reproduced``, ``partly`` or ``not reproduced`` (or
``not tested`` when a profile lacks what it needs) by the rules written next to it, so that the
closing chapter's verdicts follow from whatever profile it runs on.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TOLERANCE = 0.02  # a probe score change smaller than this (or than the seed range) is no change
FLOOR_MARGIN = 0.01  # a similarity counts as below the seed floor when it is lower by more than this
MOSTLY = 0.25  # "mostly in the top": the bottom third changes by at most this share of the largest change
PAPER = {
    "forgetting": "No catastrophic forgetting: probes read the same structure after fine-tuning",
    "top_layers": "Changes sit mostly in the top layers",
    "parsing_deep": "Parsing reconfigures most of the model; the sentence-level tasks change it shallowly",
    "domain": "Out-of-domain sentences change less than in-domain ones",
}


def forgetting_by_layer(layers: pd.DataFrame) -> pd.DataFrame:
    """Each probe's change at every layer, fine-tuned (mean of seeds) minus pre-trained, against its
    seed floor: ``floor = max(TOLERANCE, seed range)``; ``dropped`` / ``gained`` when the change passes it.
    Where the probe has a control, the change of its selectivity too.

    ``layers``: (model, seed, probe, layer, score[, selectivity]), model ``pre-trained`` or a task
    (chapter 3).
    """
    values = [c for c in ("score", "selectivity") if c in layers]
    pre = layers[layers.model == "pre-trained"].set_index(["probe", "layer"])[values]
    rows = []
    for (task, probe, layer), group in layers[layers.model != "pre-trained"].groupby(["model", "probe", "layer"]):
        before = pre.loc[(probe, layer)]
        change = float(group.score.mean() - before.score)
        spread = float(group.score.max() - group.score.min())
        floor = max(TOLERANCE, spread)
        row = {"task": task, "probe": probe, "layer": int(layer), "pre_trained": float(before.score),
               "fine_tuned": float(group.score.mean()), "change": change, "seed_range": spread, "floor": floor,
               "dropped": change < -floor, "gained": change > floor}
        if "selectivity" in values and not _missing(before.selectivity):
            row["selectivity_change"] = float(group.selectivity.mean() - before.selectivity)
        rows.append(row)
    return pd.DataFrame(rows)


def _layer_list(layers: list[int]) -> str:
    """``[4, 5, 6]`` -> ``"layers 4-6"``; ``[1, 3]`` -> ``"layers 1, 3"``; ``[2]`` -> ``"layer 2"``;
    ``[]`` -> ``"none"``."""
    if not layers:
        return "none"
    if len(layers) == 1:
        return f"layer {layers[0]}"
    runs, start = [], layers[0]
    for previous, layer in zip(layers, layers[1:] + [None]):
        if layer != previous + 1:
            runs.append(str(start) if start == previous else f"{start}-{previous}")
            start = layer
    return "layers " + ", ".join(runs)


def forgetting(layers: pd.DataFrame) -> pd.DataFrame:
    """Per (task, probe): the change at the best layer (the most a probe can read from the model,
    before and after) and where, layer by layer, the probe drops or gains beyond its seed floor.

    ``forgot``: the best-layer score falls by more than max(TOLERANCE, seed range): the structure
    is gone from the whole model, not moved or thinned at some layers.
    """
    by_layer = forgetting_by_layer(layers)
    best = layers.groupby(["model", "seed", "probe"], as_index=False).score.max()
    pre = best[best.model == "pre-trained"].set_index("probe").score
    rows = []
    for (task, probe), group in best[best.model != "pre-trained"].groupby(["model", "probe"]):
        change = float(group.score.mean() - pre[probe])
        noise = float(group.score.max() - group.score.min())
        per_layer = by_layer[(by_layer.task == task) & (by_layer.probe == probe)].sort_values("layer")
        worst = per_layer.loc[per_layer.change.idxmin()]
        rows.append({"task": task, "probe": probe, "pre_trained": float(pre[probe]),
                     "fine_tuned": float(group.score.mean()), "change": change, "seed_range": noise,
                     "forgot": change < -max(TOLERANCE, noise),
                     "drops_at": _layer_list(per_layer[per_layer.dropped].layer.tolist()),
                     "gains_at": _layer_list(per_layer[per_layer.gained].layer.tolist()),
                     "worst_layer": int(worst.layer), "worst_change": float(worst.change)})
    return pd.DataFrame(rows)


def depth_of_change(similarity: pd.DataFrame, measure: str = "rsa") -> pd.DataFrame:
    """Per task: where the pre-trained vs fine-tuned similarity leaves the seed floor, and how much
    each part of the model changed.

    ``similarity``: (task, layer, measure, value, seed_floor) (chapter 4's ``versus_pretrained``).
    ``first_below_floor``: the lowest layer whose similarity is under the seed floor by more than
    ``FLOOR_MARGIN`` (None: none); the margin keeps ties near 1.0 in the embeddings from counting.
    """
    rows = []
    for task, group in similarity[similarity.measure == measure].groupby("task"):
        group = group.sort_values("layer")
        n_layers = int(group.layer.max())
        change = 1 - group.set_index("layer").value
        below = group[group.value < group.seed_floor - FLOOR_MARGIN].layer
        rows.append({"task": task, "first_below_floor": int(below.min()) if len(below) else None,
                     "bottom_change": float(change[change.index <= n_layers // 3].max()),
                     "top_change": float(change[change.index > n_layers // 2].max()),
                     "largest_change": float(change.max()),
                     "most_changed_layer": int(change.idxmax()), "n_layers": n_layers})
    return pd.DataFrame(rows)


def freezing_cost(ablation: pd.DataFrame, metric: dict[str, str]) -> pd.DataFrame:
    """Per task: the score lost by freezing the bottom half, and the whole encoder, against k = 0.

    ``ablation``: chapter 5's table; ``metric``: the main metric per task.
    """
    rows = []
    frozen = ablation[(ablation.experiment == "freezing") & (ablation.metric == ablation.task.map(metric))]
    for task, group in frozen.groupby("task"):
        means = group.groupby("k").value.mean()
        half = means.index[np.argmin(np.abs(means.index - means.index.max() / 2))]
        rows.append({"task": task, "full": float(means.iloc[0]), "half_k": int(half),
                     "loss_at_half": float(means.iloc[0] - means[half]),
                     "loss_frozen": float(means.iloc[0] - means.iloc[-1])})
    return pd.DataFrame(rows)


def domain_gap(shift: pd.DataFrame, measure: str = "cka") -> pd.DataFrame:
    """Per task: change (1 - similarity) at the last layer in-domain against out of domain.

    ``shift``: chapter 6's similarity table (task, domain, in_domain, layer, measure, value, ...).
    """
    rows = []
    top = shift[(shift.measure == measure) & (shift.layer == shift.layer.max())]
    for task, group in top.groupby("task"):
        inside, outside = 1 - group[group.in_domain].value, 1 - group[~group.in_domain].value
        if inside.empty or outside.empty:
            continue
        rows.append({"task": task, "measure": measure, "in_domain_change": float(inside.mean()),
                     "out_of_domain_change": float(outside.mean()),
                     "out_of_domain_range": f"{outside.min():.3f} to {outside.max():.3f}",
                     "in_domain_changes_more": bool(inside.mean() > outside.mean())})
    return pd.DataFrame(rows)


def _missing(value) -> bool:
    return value is None or value != value  # None, or NaN once pandas has stored it


def _share(flags: list[bool]) -> str:
    if not flags:
        return "not tested"
    return "reproduced" if all(flags) else "partly" if any(flags) else "not reproduced"


def verdicts(forgot: pd.DataFrame, depth: pd.DataFrame, freezing: pd.DataFrame, gap: pd.DataFrame) -> pd.DataFrame:
    """One row per finding: the paper's claim, the verdict, the rule and the evidence in numbers.

    Rules: (1) no task loses more than max(0.02, seed range) at its best layer on any probe (the
    evidence names the layers where a probe drops beyond its seed floor);
    (2) per task, the first third of the layers changes by at most a quarter of the largest change
    (1 - similarity) and the most changed layer is in the upper half; (3) parsing leaves the seed floor at a lower layer than every
    other task, and loses more than each of them when its bottom half is frozen (both: reproduced,
    one: partly); (4) per task, the last layer changes more in-domain than out of domain on average.
    """
    rows = [{"finding": PAPER["forgetting"], "verdict": _share([not f for f in forgot.forgot]),
             "evidence": "; ".join(f"{r.task} {r.probe} {r.change:+.3f} at the best layer (seeds {r.seed_range:.3f})"
                                   + ("" if r.drops_at == "none" else f", drops at {r.drops_at}")
                                   for r in forgot.itertuples())}]
    rows.append({"finding": PAPER["top_layers"],
                 "verdict": _share([(r.bottom_change <= MOSTLY * r.largest_change and r.most_changed_layer > r.n_layers / 2)
                                    for r in depth.itertuples()]),
                 "evidence": "; ".join(f"{r.task}: bottom third {r.bottom_change:.3f}, most changed layer "
                                       f"{r.most_changed_layer} ({r.top_change:.3f})" for r in depth.itertuples())})
    tests = []
    parse, others = depth[depth.task == "parsing"], depth[depth.task != "parsing"]
    if len(parse) and len(others):  # a task that never leaves its floor counts as infinitely shallow
        leaves = lambda v: np.inf if _missing(v) else v  # noqa: E731
        tests.append(all(leaves(parse.first_below_floor.iloc[0]) < leaves(v) for v in others.first_below_floor))
    fparse, fothers = freezing[freezing.task == "parsing"], freezing[freezing.task != "parsing"]
    if len(fparse) and len(fothers):
        tests.append(all(fparse.loss_at_half.iloc[0] > v for v in fothers.loss_at_half))
    verdict = "not tested" if not tests else "reproduced" if all(tests) else "partly" if any(tests) else "not reproduced"
    rows.append({"finding": PAPER["parsing_deep"], "verdict": verdict,
                 "evidence": "; ".join([f"{r.task} leaves the seed floor at layer "
                                        f"{'none' if _missing(r.first_below_floor) else int(r.first_below_floor)}"
                                        for r in depth.itertuples()] +
                                       [f"{r.task} loses {r.loss_at_half:.3f} frozen below {r.half_k}"
                                        for r in freezing.itertuples()])})
    rows.append({"finding": PAPER["domain"], "verdict": _share(list(gap.in_domain_changes_more)),
                 "evidence": "; ".join(f"{r.task}: last-layer change (1 - {r.measure.upper()}) in-domain "
                                       f"{r.in_domain_change:.3f}, out of domain {r.out_of_domain_change:.3f}"
                                       for r in gap.itertuples())})
    return pd.DataFrame(rows)
