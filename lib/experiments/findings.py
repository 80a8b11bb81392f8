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
NO_LAYER = "no layer"  # where a per-layer effect appears at none
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
    ``[]`` -> ``"no layer"`` (:data:`NO_LAYER`)."""
    if not layers:
        return NO_LAYER
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


def expected_layers(mixes: pd.DataFrame) -> pd.DataFrame:
    """Per (task, probe): Tenney's expected layer ``E_delta`` and the center of gravity, pre-trained
    and fine-tuned (mean of seeds), and the move. ``mixes``: chapter 3's mix table (model, seed,
    probe, expected_layer, center_of_gravity)."""
    pre = mixes[mixes.model == "pre-trained"].set_index("probe")
    tuned = mixes[mixes.model != "pre-trained"].groupby(["model", "probe"], as_index=False)[
        ["expected_layer", "center_of_gravity"]].mean()
    rows = [{"task": r.model, "probe": r.probe, "pre_trained": float(pre.expected_layer[r.probe]),
             "fine_tuned": float(r.expected_layer), "move": float(r.expected_layer - pre.expected_layer[r.probe]),
             "center_move": float(r.center_of_gravity - pre.center_of_gravity[r.probe])}
            for r in tuned.itertuples()]
    return pd.DataFrame(rows, columns=["task", "probe", "pre_trained", "fine_tuned", "move", "center_move"])


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


def freezing_cost(ablation: pd.DataFrame, metric: dict[str, str], chance: dict[str, float] | None = None) -> pd.DataFrame:
    """Per task: the score lost by freezing the bottom half, and the whole encoder, against k = 0,
    and the loss at half as a share of what the full fine-tune scores above chance,
    ``share_lost_at_half = loss_at_half / (full - chance)`` (chance 0 where ``chance`` has no entry;
    NaN where the full fine-tune is not above chance).

    ``ablation``: chapter 5's table; ``metric``: the main metric per task; ``chance``: the chance
    score of that metric per task (:func:`lib.finetune.chance_table`).
    """
    rows = []
    frozen = ablation[(ablation.experiment == "freezing") & (ablation.metric == ablation.task.map(metric))]
    for task, group in frozen.groupby("task"):
        means = group.groupby("k").value.mean()
        half = means.index[np.argmin(np.abs(means.index - means.index.max() / 2))]
        base = float((chance or {}).get(task, 0.0))
        loss = float(means.iloc[0] - means[half])
        rows.append({"task": task, "full": float(means.iloc[0]), "chance": base, "half_k": int(half),
                     "loss_at_half": loss,
                     "share_lost_at_half": loss / (means.iloc[0] - base) if means.iloc[0] > base else float("nan"),
                     "loss_frozen": float(means.iloc[0] - means.iloc[-1])})
    return pd.DataFrame(rows)


def domain_gap_by_layer(shift: pd.DataFrame) -> pd.DataFrame:
    """Per task, measure (RSA and CKA) and layer: the change (1 - similarity) of in-domain and of
    out-of-domain sentences, and whether the layer says anything beyond seed noise.

    ``informative``: some domain's similarity is below its seed floor by more than ``FLOOR_MARGIN``
    (elsewhere a difference between domains is within what another seed would do);
    ``in_domain_changes_more``: the in-domain change exceeds the mean out-of-domain change by more
    than ``FLOOR_MARGIN``. ``shift``: chapter 6's similarity table.
    """
    rows = []
    for (task, measure, layer), group in shift[shift.measure.isin(["rsa", "cka"])].groupby(["task", "measure", "layer"]):
        inside, outside = group[group.in_domain], group[~group.in_domain]
        if inside.empty or outside.empty:
            continue
        below = (group.value < group.seed_floor - FLOOR_MARGIN).any()
        in_change, out_change = float(1 - inside.value.mean()), float(1 - outside.value.mean())
        rows.append({"task": task, "measure": measure, "layer": int(layer), "in_domain_change": in_change,
                     "out_of_domain_change": out_change, "out_of_domain_low": float(1 - outside.value.max()),
                     "out_of_domain_high": float(1 - outside.value.min()), "informative": bool(below),
                     "in_domain_changes_more": in_change > out_change + FLOOR_MARGIN})
    return pd.DataFrame(rows)


def domain_gap(shift: pd.DataFrame) -> pd.DataFrame:
    """Per task and measure: the layers beyond seed noise, those where in-domain sentences change
    more, and the last layer's changes. ``holds``: in-domain sentences change more at every layer
    beyond seed noise (and there is at least one)."""
    by_layer = domain_gap_by_layer(shift)
    rows = []
    for (task, measure), group in by_layer.groupby(["task", "measure"]):
        informative = group[group.informative]
        more = informative[informative.in_domain_changes_more]
        last = group.loc[group.layer.idxmax()]
        rows.append({"task": task, "measure": measure, "beyond_noise": _layer_list(informative.layer.tolist()),
                     "in_domain_more_at": _layer_list(more.layer.tolist()),
                     "holds": len(informative) > 0 and len(more) == len(informative),
                     "last_in_domain": float(last.in_domain_change), "last_out_of_domain": float(last.out_of_domain_change),
                     "last_out_of_domain_range": f"{last.out_of_domain_low:.3f} to {last.out_of_domain_high:.3f}"})
    return pd.DataFrame(rows)


def _missing(value) -> bool:
    return value is None or value != value  # None, or NaN once pandas has stored it


def floor_layer(first_below_floor) -> str | None:
    """``"layer 2"`` for a :func:`depth_of_change` row's ``first_below_floor``; None where the
    similarity never leaves its seed floor (stored as None or NaN)."""
    return None if _missing(first_below_floor) else f"layer {int(first_below_floor)}"


def _share(flags: list[bool]) -> str:
    if not flags:
        return "not tested"
    return "reproduced" if all(flags) else "partly" if any(flags) else "not reproduced"


def verdicts(forgot: pd.DataFrame, depth_own: pd.DataFrame, depth_shared: pd.DataFrame, freezing: pd.DataFrame,
             gap: pd.DataFrame, moves: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per finding: the paper's claim, the verdict, the rule and the evidence in numbers.

    Rules: (1) no task loses more than max(0.02, seed range) at its best layer on any probe (the
    evidence names the layers where a probe drops beyond its seed floor); (2) per task, on its own
    text, the first third of the layers changes by at most a quarter of the largest change
    (1 - similarity) and the most changed layer is in the upper half; (3) on the text shared by
    every task (Wikipedia), parsing leaves the seed floor at a lower layer than every other task,
    and it loses a larger share of its score above chance than each of them when its bottom half is
    frozen (both: reproduced, one:
    partly); (4) per task and measure (RSA, CKA), in-domain sentences change more than
    out-of-domain ones at every layer where some domain leaves its seed floor. ``moves``
    (:func:`expected_layers`) adds to finding 1's evidence the largest move of a probe's expected
    layer: structure that moved rather than vanished.
    """
    rows = [{"finding": PAPER["forgetting"], "verdict": _share([not f for f in forgot.forgot]),
             "evidence": "; ".join(f"{r.task} {r.probe} {r.change:+.3f} at the best layer (seeds {r.seed_range:.3f})"
                                   + ("" if r.drops_at == NO_LAYER else f", drops at {r.drops_at}")
                                   for r in forgot.itertuples())}]
    if moves is not None and moves.move.notna().any():
        top = moves.loc[moves.move.abs().idxmax()]
        rows[0]["evidence"] += (f"; largest move of an expected layer: {top.task} {top.probe} "
                                f"{top.pre_trained:.2f} -> {top.fine_tuned:.2f}")
    rows.append({"finding": PAPER["top_layers"],
                 "verdict": _share([(r.bottom_change <= MOSTLY * r.largest_change and r.most_changed_layer > r.n_layers / 2)
                                    for r in depth_own.itertuples()]),
                 "evidence": "on each task's own text: " + "; ".join(
                     f"{r.task}: bottom third {r.bottom_change:.3f}, most changed layer {r.most_changed_layer} "
                     f"({r.top_change:.3f})" for r in depth_own.itertuples())})
    tests = []
    parse, others = depth_shared[depth_shared.task == "parsing"], depth_shared[depth_shared.task != "parsing"]
    if len(parse) and len(others):  # a task that never leaves its floor counts as infinitely shallow
        leaves = lambda v: np.inf if _missing(v) else v  # noqa: E731
        tests.append(all(leaves(parse.first_below_floor.iloc[0]) < leaves(v) for v in others.first_below_floor))
    fparse, fothers = freezing[freezing.task == "parsing"], freezing[freezing.task != "parsing"]
    if len(fparse) and len(fothers):
        tests.append(all(fparse.share_lost_at_half.iloc[0] > v for v in fothers.share_lost_at_half))
    verdict = "not tested" if not tests else "reproduced" if all(tests) else "partly" if any(tests) else "not reproduced"
    rows.append({"finding": PAPER["parsing_deep"], "verdict": verdict,
                 "evidence": "; ".join([f"on Wikipedia, {r.task} leaves the seed floor at "
                                        f"{floor_layer(r.first_below_floor) or NO_LAYER}"
                                        for r in depth_shared.itertuples()] +
                                       [f"{r.task} loses {r.loss_at_half:.3f} frozen below {r.half_k} "
                                        + (f"({r.share_lost_at_half:.0%} of its score above chance)"
                                           if r.share_lost_at_half == r.share_lost_at_half else "(at chance)")
                                        for r in freezing.itertuples()])})
    rows.append({"finding": PAPER["domain"], "verdict": _share(list(gap.holds)),
                 "evidence": "; ".join(f"{r.task} {r.measure.upper()}: in-domain changes more at {r.in_domain_more_at} "
                                       f"of {r.beyond_noise} beyond seed noise; last layer {r.last_in_domain:.3f} "
                                       f"in-domain, {r.last_out_of_domain_range} out of domain"
                                       for r in gap.itertuples())})
    return pd.DataFrame(rows)
