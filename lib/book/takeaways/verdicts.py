"""Chapter 7's takeaways: the verdict and probe tables and the phrases its prose cites.

Every function takes the tables of :mod:`lib.experiments.findings` that chapter 7 computes from the
other chapters' measurements: ``forgot`` (:func:`~lib.findings.forgetting`), ``depth_own`` and
``depth_shared`` (:func:`~lib.findings.depth_of_change` on each task's own text and on Wikipedia),
``frozen`` (:func:`~lib.findings.freezing_cost`), ``gap`` (:func:`~lib.findings.domain_gap`) and
``verdicts`` (:func:`~lib.findings.verdicts`), beside the probe scores per layer (``layers``) and the
ablation scores (``ablation``, :func:`lib.ablation_table`).
"""
from __future__ import annotations

import pandas as pd

from lib.book.takeaways.ablation import freezing_facts, mean_scores, tasks_of
from lib.experiments import findings

FINDINGS = ["forgetting", "top", "parsing", "domain"]  # the rows of the verdicts table, in order
PROBE_COLUMNS = {"pre_trained": "pre-trained", "fine_tuned": "fine-tuned", "change": "change",
                 "seed_range": "seed range", "drops_at": "below the floor at", "gains_at": "above the floor at"}


def verdict_table(verdicts: pd.DataFrame):
    """The verdicts, one finding a row, left-aligned and wrapped."""
    return verdicts.style.hide(axis="index").set_properties(**{"text-align": "left", "white-space": "normal"})


def probe_table(forgot: pd.DataFrame) -> pd.DataFrame:
    """The probes at their best layer: pre-trained, fine-tuned (mean of seeds), the change and the
    seed range, and the layers below or above the seed floor.

    >>> forgot = pd.DataFrame({"task": ["nli"], "probe": ["upos"], "pre_trained": [0.9], "fine_tuned": [0.9],
    ...                        "change": [-0.0001], "seed_range": [0.01], "drops_at": ["no layer"],
    ...                        "gains_at": ["no layer"]})
    >>> probe_table(forgot).change.tolist()  # no "-0.000"
    [0.0]
    """
    table = forgot.assign(change=forgot.change.round(3) + 0.0).set_index(["task", "probe"])
    return table[list(PROBE_COLUMNS)].round(3).rename(columns=PROBE_COLUMNS)


def floor_phrase(task: str, first_below_floor) -> str:
    """Where ``task``'s similarity leaves its seed floor (a :func:`~lib.findings.depth_of_change` row).

    >>> floor_phrase("parsing", 2), floor_phrase("nli", None)
    ('parsing at layer 2', 'nli never leaves it')
    """
    where = findings.floor_layer(first_below_floor)
    return f"{task} at {where}" if where else f"{task} never leaves it"


def forgetting_evidence(forgot: pd.DataFrame) -> str:
    """How many (task, probe) pairs lose more than their seed floor, and where probes drop."""
    drops = "; ".join(f"{r.task} {r.probe} at {r.drops_at}" for r in forgot.itertuples()
                      if r.drops_at != findings.NO_LAYER) or "none"
    return (f"{int(forgot.forgot.sum())} of {len(forgot)} (task, probe) pairs lose more than their seed floor at "
            f"their best layer (largest change there {forgot.change.min():+.3f}). Layer by layer, the drops "
            f"beyond the floor: {drops}.")


def parsing_evidence(depth_shared: pd.DataFrame, frozen: pd.DataFrame) -> str:
    """Where each task leaves its seed floor on Wikipedia, and what freezing the bottom half costs."""
    losses = "; ".join(f"{r.task} {r.loss_at_half:.3f} " + (
        f"({r.share_lost_at_half:.0%} of its score above chance)" if r.share_lost_at_half == r.share_lost_at_half
        else "(at chance)") for r in frozen.itertuples())
    return ("On Wikipedia, which no task trained on, the RSA leaves its seed floor: "
            + "; ".join(floor_phrase(r.task, r.first_below_floor) for r in depth_shared.itertuples())
            + f" (chapter 4). With the bottom half frozen, the loss: {losses} (chapter 5).")


def restoring_costs(ablation: pd.DataFrame, n_layers: int) -> dict[str, str]:
    """The score lost by restoring the top layer (``top_cost``, a range over tasks) and the
    embeddings and layer 1 (``bottom_cost``, the largest), mean of seeds.

    >>> ablation = pd.DataFrame({"task": "nli", "seed": 0, "metric": "accuracy", "value": [0.8, 0.7, 0.6],
    ...                          "experiment": ["restore_bottom", "restore_top", "restore_bottom"], "k": [0, 1, 1]})
    >>> restoring_costs(ablation, 2)
    {'top_cost': '0.100 to 0.100', 'bottom_cost': '0.200'}
    """
    restore = mean_scores(ablation).set_index(["task", "experiment", "k"]).value
    full = {t: restore[(t, "restore_bottom", 0)] for t in sorted(set(ablation.task))
            if (t, "restore_bottom", 0) in restore}
    costs = {name: [full[t] - restore[(t, experiment, k)] for t in full if (t, experiment, k) in restore]
             for name, experiment, k in (("top", "restore_top", n_layers - 1), ("bottom", "restore_bottom", 1))}
    top, bottom = costs["top"], costs["bottom"]
    return {"top_cost": f"{min(top):.3f} to {max(top):.3f}" if top else "not measured",
            "bottom_cost": f"{max(bottom):.3f}" if bottom else "not measured"}


def facts(verdicts: pd.DataFrame, forgot: pd.DataFrame, depth_own: pd.DataFrame, depth_shared: pd.DataFrame,
          frozen: pd.DataFrame, gap: pd.DataFrame, layers: pd.DataFrame, ablation: pd.DataFrame,
          n_train: dict[str, int]) -> dict:
    """The phrases and numbers chapter 7's prose cites, by glue name: each finding's verdict (``v_*``)
    and evidence (``e_*``), the cost of restoring, the pre-trained structural probe, and the scale
    (``n_train``: the fine-tuning examples per task, 0: all)."""
    structural = layers[(layers.model == "pre-trained") & (layers.probe == "structural")].set_index("layer").score
    top_k = int(layers.layer.max())
    return {**{f"v_{name}": verdict for name, verdict in zip(FINDINGS, verdicts.verdict)},
            "e_forgetting": forgetting_evidence(forgot),
            "e_top": ("On each task's own text, the bottom third of the layers changes by at most "
                      f"{depth_own.bottom_change.max():.2f} (1 - RSA), against "
                      + "; ".join(f"{r.task} {r.largest_change:.2f} at layer {r.most_changed_layer}"
                                  for r in depth_own.itertuples()) + " (chapter 4)."),
            "e_parsing": parsing_evidence(depth_shared, frozen),
            "e_domain": "; ".join(f"{r.task} by {r.measure.upper()}: in-domain sentences change more at "
                                  f"{r.in_domain_more_at} (beyond seed noise: {r.beyond_noise})"
                                  for r in gap.itertuples()) + " (chapter 6).",
            **restoring_costs(ablation, top_k),
            "uuas_best": float(structural.max()), "uuas_best_layer": int(structural.idxmax()),
            "uuas_top": float(structural.iloc[-1]), "top_layer": top_k,
            "n_train_phrase": " / ".join(f"{n_train[t]:,}" if n_train[t] else "all" for t in tasks_of(ablation)),
            "n_seeds": layers.seed[layers.model != "pre-trained"].nunique(), "tolerance": findings.TOLERANCE}


def stated_facts(forgot: pd.DataFrame, depth_own: pd.DataFrame, depth_shared: pd.DataFrame, frozen: pd.DataFrame,
                 chance: pd.Series, n_eval: int) -> dict:
    """Facts the other chapters state too, by glue name, so that the book's consistency check holds
    every page to one value; ``chance`` per (task, metric), ``n_eval``: the ablations' test examples."""
    return {**{f"best_change.{r.task}.{r.probe}": round(r.change, 3) + 0.0 for r in forgot.itertuples()},
            **{f"floor_layer.{r.task}.wikipedia": findings.floor_layer(r.first_below_floor) or "none"
               for r in depth_shared.itertuples()},
            **{f"floor_layer.{r.task}.own": findings.floor_layer(r.first_below_floor) or "none"
               for r in depth_own.itertuples()},
            **{f"most_changed.{r.task}.own": int(r.most_changed_layer) for r in depth_own.itertuples()},
            **freezing_facts(frozen, chance, n_eval)}
