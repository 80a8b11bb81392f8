"""The paper's four findings, judged on this book's measurements by explicit rules.

The descriptive tables of the chapters (:func:`forgetting`, :func:`depth_of_change`,
:func:`freezing_cost`, :func:`domain_gap`) and the verdicts: :func:`verdicts` reads the quantities
of :mod:`lib.experiments.evidence`, each with its 95 % interval, and marks each finding
``reproduced`` (the interval lies above the rule's threshold), ``not reproduced`` (below it) or
``inconclusive`` (it spans the threshold, or there is no interval), or ``not tested`` where a profile
lacks what the rule needs. Every threshold is a constant here, stated by the closing chapter.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lib.experiments import evidence
from lib.stats import LEVEL, Interval

TOLERANCE = 0.02  # a probe score change smaller than this (or than the seed range) is no change
FLOOR_MARGIN = 0.01  # a similarity counts as below the seed floor when it is lower by more than this
NO_LAYER = "no layer"  # where a per-layer effect appears at none
MOSTLY = 0.25  # "mostly in the top": the bottom third sits below its seed floor by at most this share of the top's gap
KEPT_MIN = 0.5  # no catastrophic forgetting: a fine-tuned model keeps more than this share of a probe's contextual gain
MIN_GAIN = 0.02  # a probe whose best layer beats layer 0 by less (F1) reads nothing contextual (without a flag)
FDR = 0.05  # Benjamini-Hochberg's false discovery rate over the layer cells tested together
DEEPER = 0.0  # parsing deepest: the parser's share lost minus each other task's must be above this
DOMAIN = 0.0  # in-domain change minus the closest out-of-domain domain's change must be above this
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


def judge(low: float, high: float, threshold: float) -> str:
    """``reproduced`` when the interval lies above ``threshold``, ``not reproduced`` below it,
    ``inconclusive`` when it spans it or there is none.

    >>> judge(0.6, 0.9, 0.5), judge(0.1, 0.4, 0.5), judge(0.4, 0.6, 0.5), judge(float("nan"), float("nan"), 0.5)
    ('reproduced', 'not reproduced', 'inconclusive', 'inconclusive')
    """
    if not (low == low and high == high):
        return "inconclusive"
    return "reproduced" if low > threshold else "not reproduced" if high < threshold else "inconclusive"


def every(words: list[str]) -> str:
    """A claim that must hold for every unit: any ``not reproduced`` refutes it; all ``reproduced``
    reproduce it; else ``inconclusive`` (``not tested`` without units).

    >>> every(["reproduced", "inconclusive"]), every(["reproduced", "not reproduced", "inconclusive"])
    ('inconclusive', 'not reproduced')
    """
    if not words:
        return "not tested"
    return "not reproduced" if "not reproduced" in words else "reproduced" if set(words) == {"reproduced"} \
        else "inconclusive"


def agree(words: list[str]) -> str:
    """Lines of evidence for one claim: the word they all give, else ``inconclusive``.

    >>> agree(["reproduced", "reproduced"]), agree(["reproduced", "not reproduced"])
    ('reproduced', 'inconclusive')
    """
    return "not tested" if not words else words[0] if len(set(words)) == 1 else "inconclusive"


def _ci(estimate: float, low: float, high: float, digits: int = 2) -> str:
    return Interval(estimate, low, high).format(digits)


def forgetting_verdict(kept: pd.DataFrame) -> dict:
    """Finding 1 from :func:`lib.experiments.evidence.kept_gain`."""
    used, left = kept[kept.informative], kept[~kept.informative]
    words = [judge(r.low, r.high, KEPT_MIN) for r in used.itertuples()]
    measured = "; ".join(f"{r.task} {r.probe} {_ci(r.kept, r.low, r.high)} ({w})" for r, w in zip(used.itertuples(), words))
    if len(left):
        measured += "; left out (no contextual gain to keep): " + ", ".join(sorted(set(left.probe)))
    return {"verdict": every(words), "measured": measured,
            "rule": f"every (task, probe) keeps more than {KEPT_MIN:.2f} of the probe's gain over layer 0 "
                    f"(intervals: {', '.join(sorted(set(used.method)))})"}


def top_verdict(top: pd.DataFrame) -> dict:
    """Finding 2 from :func:`lib.experiments.evidence.top_margin` (each task's own text, RSA)."""
    words = [judge(r.low, r.high, 0.0) for r in top.itertuples()]
    return {"verdict": every(words), "measured": "; ".join(
                f"{r.task}: gap below the seed floor {r.bottom:.3f} in the bottom third, {r.top:.3f} in the upper "
                f"half; margin {_ci(r.margin, r.low, r.high, 3)} ({w}); below the floor at {_layer_list(r.below_at)}"
                for r, w in zip(top.itertuples(), words)),
            "rule": f"per task, the bottom third's gap below the seed floor is at most {MOSTLY:.2f} of the upper half's "
                    f"(margin {MOSTLY:.2f} x top - bottom above 0; t over seeds); a layer is below the floor where "
                    f"its gap is above 0 at a false discovery rate of {FDR:.2f} (Benjamini-Hochberg)"}


def parsing_verdict(deeper: pd.DataFrame, shared: pd.DataFrame | None = None) -> dict:
    """Finding 3 from :func:`lib.experiments.evidence.deeper` (and, as description, where each task
    is below its floor on Wikipedia: a :func:`lib.experiments.evidence.floor_gaps` slice)."""
    lines = {line: [judge(r.low, r.high, DEEPER) for r in group.itertuples()] for line, group in deeper.groupby("line")}
    measured = "; ".join(f"{evidence.LINES[r.line]}: parsing {r.share:.0%} vs {r.other} {r.other_share:.0%}, "
                         f"difference {_ci(r.difference, r.low, r.high)}" for r in deeper.itertuples())
    if shared is not None and len(shared):
        measured += "; on Wikipedia, below the seed floor at: " + "; ".join(
            f"{task} {_layer_list(sorted(g[g.below].layer.astype(int)))}" for task, g in shared.groupby("task"))
    return {"verdict": agree([every(words) for words in lines.values()]), "measured": measured,
            "rule": f"on each line (freezing over chance, freezing over the frozen encoder, restoring), the parser "
                    f"loses a larger share than every other task (difference above {DEEPER:.2f}); the lines must agree "
                    f"(intervals: {', '.join(sorted(set(deeper.method))) or 'none'})"}


def domain_verdict(closest: pd.DataFrame) -> dict:
    """Finding 4 from :func:`lib.experiments.evidence.domain_closest`."""
    words = [judge(r.low, r.high, DOMAIN) for r in closest.itertuples()]
    return {"verdict": every(words), "measured": "; ".join(
                f"{r.task} {r.measure.upper()}: in-domain {r.in_domain:.3f} vs {r.closest} {r.closest_change:.3f}, "
                f"difference {_ci(r.gap, r.low, r.high, 3)} ({w})" for r, w in zip(closest.itertuples(), words)),
            "rule": f"per task and measure, at the top layer, in-domain sentences change (1 - similarity) more than "
                    f"those of the closest out-of-domain domain (difference above {DOMAIN:.2f}; t over seeds)"}


def verdicts(kept: pd.DataFrame, top: pd.DataFrame, deeper: pd.DataFrame, closest: pd.DataFrame,
             shared: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per finding: the paper's claim, the verdict, the rule with its threshold, and the
    numbers with their {LEVEL:.0%} intervals. Inputs: :mod:`lib.experiments.evidence`'s tables."""
    rows = [forgetting_verdict(kept) if len(kept) else _untested(),
            top_verdict(top) if len(top) else _untested(),
            parsing_verdict(deeper, shared) if len(deeper) else _untested(),
            domain_verdict(closest) if len(closest) else _untested()]
    return pd.DataFrame([{"finding": PAPER[name], **row} for name, row in zip(PAPER, rows)],
                        columns=["finding", "verdict", "rule", "measured"])


def _untested() -> dict:
    return {"verdict": "not tested", "measured": "this profile lacks what the rule reads", "rule": ""}
