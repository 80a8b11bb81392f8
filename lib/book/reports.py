"""What each command of ``python -m lib`` prints last: one JSON object, built from the stage's tidy tables.

The library's stages return tables and objects; only the command line turns them into JSON, here.
Numbers are rounded to 4 decimals; a missing value (NaN, such as a seed floor from one seed) is null.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lib.finetune.store import FineTuned
from lib.finetune.tasks import MAIN_METRIC

EXPERIMENTS = ("freezing", "restore_bottom", "restore_top")


def number(value) -> float | None:
    """A JSON number, None for a missing one.

    >>> number(float("nan")), number(0.25)
    (None, 0.25)
    """
    return None if value is None or value != value else float(value)


def rounded(value) -> float | None:
    """:func:`number`, rounded to 4 decimals."""
    value = number(value)
    return None if value is None else round(value, 4)


def finetune_report(tuned: FineTuned) -> dict:
    """``finetune``: task, model, seed, checkpoint, metrics."""
    return {"task": tuned.task, "model": tuned.model, "seed": tuned.seed, "checkpoint": str(tuned.checkpoint),
            "metrics": tuned.metrics}


def ablation_report(table: pd.DataFrame) -> dict:
    """``ablate``: per k, the main metric (mean over seeds, and per seed) of each experiment."""
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


def shift_report(similarity: pd.DataFrame, scores: pd.DataFrame) -> dict:
    """``shift``: one entry per domain and layer (RSA, CKA, their seed floors), and the scores per domain."""
    wide = similarity.pivot_table(index=["domain", "in_domain", "layer"], columns="measure",
                                  values=["value", "seed_floor"])
    entries = [{"domain": domain, "layer": int(layer), "in_domain": bool(in_domain),
                **{m: rounded(row.get(("value", m))) for m in ("rsa", "cka")},
                **{f"{m}_seed_floor": rounded(row.get(("seed_floor", m))) for m in ("rsa", "cka")}}
               for (domain, in_domain, layer), row in wide.iterrows()]
    return {"task": similarity.task.iloc[0], "entries": entries,
            "scores": scores.groupby(["domain", "in_domain", "metric"], as_index=False)["value"].mean()
            .round(4).to_dict("records")}


def similarity_report(table: pd.DataFrame) -> list[dict]:
    """``similarity``, one text: per layer, RSA and CKA with their seed floors."""
    wide = table.pivot(index="layer", columns="measure", values=["value", "seed_floor"])
    return [{"layer": int(layer), "rsa": float(row[("value", "rsa")]), "cka": float(row[("value", "cka")]),
             "rsa_seed_floor": number(row[("seed_floor", "rsa")]), "cka_seed_floor": number(row[("seed_floor", "cka")])}
            for layer, row in wide.iterrows()]


def probe_report(layers: pd.DataFrame, mix: pd.DataFrame, control: pd.DataFrame | None = None) -> dict:
    """``probe``: per layer, score (mean of probe seeds, with each seed's), control, selectivity and
    the linear probe's score where fitted; the all-layer mix's score, with its center of gravity
    and (a pre-trained encoder) its expected layer and the cumulative mixes' scores; the baselines (majority class, layer 0,
    linear chain for the structural probe, and the random-init encoder ``control``'s layers) and
    whether the probe is informative."""
    by_layer = layers.groupby("layer", as_index=False).mean(numeric_only=True)  # over probe seeds
    columns = ["layer", "score", "control", "selectivity", "linear"]
    entries = [{key: number(value) if key != "layer" else int(value) for key, value in row.items()}
               for row in by_layer.reindex(columns=columns).to_dict("records")]
    if "probe_seed" in layers:
        for entry in entries:
            entry["score_per_probe_seed"] = [rounded(v) for v in layers[layers.layer == entry["layer"]].score]
    report = {"layers": entries, "probe_seeds": sorted(int(s) for s in layers.get("probe_seed", pd.Series([0])).unique())}
    if not mix.empty:
        row = mix.mean(numeric_only=True)
        report.update(mix={"score": rounded(row.score), "probe_seed_range": rounded(mix.score.max() - mix.score.min())},
                      expected_layer=number(row.expected_layer), center_of_gravity=float(row.center_of_gravity),
                      cumulative=[float(row[f"cumulative_{e['layer']}"]) for e in entries]
                      if f"cumulative_{entries[0]['layer']}" in row else None)  # the pre-trained encoder's only
    first = layers.iloc[0]
    baselines = {"majority": rounded(first.get("majority")), "layer_0": rounded(entries[0]["score"])}
    if "linear_chain" in layers:
        baselines["linear_chain"] = rounded(first.linear_chain)
    if control is not None:
        control_layers = control.groupby("layer", as_index=False).mean(numeric_only=True)
        baselines["random_init"] = rounded(control_layers.score.max())
        baselines["random_init_layers"] = [rounded(v) for v in control_layers.score]
    report.update(baselines=baselines, informative=bool(first.get("informative", True)))
    return report
