"""Chapter 3's takeaways: what the probes read from each layer before and after fine-tuning.

The functions take the chapter's tidy tables: ``layers`` (model, seed, probe, layer, score,
selectivity, n_train, n_test), ``model`` being ``pre-trained`` or a task; ``mixes`` (model, seed,
probe, expected_layer, center_of_gravity, cumulative_<layer>...); and ``forgot``, the
:func:`lib.experiments.findings.forgetting` table of (task, probe).
"""
from __future__ import annotations

import pandas as pd

from lib.experiments import findings


def probe_tables(names: list[tuple[str, str]], results: list[tuple[pd.DataFrame, pd.DataFrame]]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One ``layers`` and one ``mixes`` table from :func:`lib.probing.probe_model`'s results, each
    row marked with its model's (name, seed); the probe task's column is named ``probe``.

    >>> result = (pd.DataFrame({"task": ["upos"], "layer": [0], "score": [0.9]}), pd.DataFrame({"task": ["upos"]}))
    >>> layers, mixes = probe_tables([("pre-trained", "-")], [result])
    >>> layers.columns.tolist(), mixes.seed.tolist()
    (['probe', 'layer', 'score', 'model', 'seed'], ['-'])
    """
    def tidy(part: int) -> pd.DataFrame:
        return pd.concat([result[part].assign(model=name, seed=str(s)) for (name, s), result in zip(names, results)],
                         ignore_index=True).rename(columns={"task": "probe"})

    return tidy(0), tidy(1)


def task_overview(overview: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """:func:`lib.probing.describe_probe_tasks`'s table by task, with the number of targets the
    pre-trained model's probes trained and tested on ("every word pair" for the structural probe).

    >>> overview = pd.DataFrame({"task": ["upos", "structural"]})
    >>> layers = pd.DataFrame({"model": "pre-trained", "probe": ["upos", "structural"],
    ...                        "n_train": [1200, float("nan")], "n_test": [300, float("nan")]})
    >>> task_overview(overview, layers)["targets (train + test)"].tolist()
    ['1,200 + 300', 'every word pair']
    """
    counts = layers[layers.model == "pre-trained"].groupby("probe")[["n_train", "n_test"]].first()
    overview = overview.set_index("task")
    overview["targets (train + test)"] = [f"{int(counts.n_train[t]):,} + {int(counts.n_test[t]):,}"
                                          if t in counts.index and counts.n_train[t] == counts.n_train[t]
                                          else "every word pair" for t in overview.index]
    return overview


def forgetting_table(forgot: pd.DataFrame) -> pd.DataFrame:
    """The forgetting table as the chapter shows it: per (task, probe), the change at the best
    layer, the layers where the probe drops or gains beyond its seed floor, and the lowest change.

    >>> forgot = pd.DataFrame({"task": ["nli"], "probe": ["upos"], "change": [-0.00012], "drops_at": ["no layer"],
    ...                        "gains_at": ["layer 6"], "worst_change": [-0.0311], "worst_layer": [5]})
    >>> forgetting_table(forgot).values.tolist()
    [[0.0, 'no layer', 'layer 6', '-0.031 (layer 5)']]
    """
    worst = [f"{c:+.3f} (layer {layer})" for c, layer in zip(forgot.worst_change, forgot.worst_layer)]
    return (forgot.assign(change=forgot.change.round(3) + 0.0, worst=worst)
            .rename(columns={"change": "change at best layer", "drops_at": "drops beyond the floor",
                             "gains_at": "gains beyond the floor", "worst": "lowest change"})
            .set_index(["task", "probe"])[["change at best layer", "drops beyond the floor", "gains beyond the floor",
                                           "lowest change"]])


def forgetting_phrases(forgot: pd.DataFrame, by_layer: pd.DataFrame) -> dict:
    """How many (task, probe) pairs forgot, the lowest best-layer change and where probes drop or
    gain; ``by_layer``: :func:`lib.experiments.findings.forgetting_by_layer`."""
    worst = forgot.loc[forgot.change.idxmin()]
    forgotten = forgot[forgot.forgot]
    return {
        "tolerance": findings.TOLERANCE, "n_forgot": int(forgot.forgot.sum()), "n_pairs": len(forgot),
        "forgot_reading": "The structure stays readable somewhere in every fine-tuned model." if forgotten.empty else
                          "Where a pair does, the structure is thinner in the whole model, not only moved: "
                          + "; ".join(f"{r.task} {r.probe} ({r.change:+.3f})" for r in forgotten.itertuples()) + ".",
        "worst_best": float(forgot.change.min()), "worst_best_what": f"{worst.task} {worst.probe}",
        "n_drops": int(by_layer.dropped.sum()), "n_cells": len(by_layer),
        "drops_where": "; ".join(f"{r.task} {r.probe} at {r.drops_at}" for r in forgot.itertuples()
                                 if r.drops_at != findings.NO_LAYER) or "nowhere",
        "gains_where": "; ".join(f"{r.task} {r.probe} at {r.gains_at}" for r in forgot.itertuples()
                                 if r.gains_at != findings.NO_LAYER) or "nowhere",
    }


def mix_phrases(mixes: pd.DataFrame) -> dict:
    """The probes in order of the pre-trained model's expected layer, and the (task, probe) whose
    expected layer moved up most after fine-tuning (mean of seeds)."""
    pre = mixes[mixes.model == "pre-trained"].set_index("probe").expected_layer
    tuned = mixes[mixes.model != "pre-trained"].groupby(["model", "probe"]).expected_layer.mean()
    moved = tuned - pre.reindex(tuned.index.get_level_values("probe")).values
    top_move = moved.dropna().idxmax() if moved.notna().any() else None
    return {
        "order": ", ".join(f"{p} ({v:.2f})" for p, v in pre.dropna().sort_values().items()),
        "top_move_what": "none" if top_move is None else f"{top_move[0]} {top_move[1]}",
        "top_move": 0.0 if top_move is None else float(moved[top_move]),
    }


def facts(layers: pd.DataFrame, mixes: pd.DataFrame, forgot: pd.DataFrame) -> dict:
    """The values chapter 3's prose cites, by glue name.

    >>> layers = pd.DataFrame({"model": ["pre-trained", "nli", "nli"], "seed": ["-", "0", "1"], "probe": "upos",
    ...                        "layer": 0, "score": [0.90, 0.80, 0.82]})
    >>> mixes = pd.DataFrame({"model": ["pre-trained", "nli", "nli"], "seed": ["-", "0", "1"], "probe": "upos",
    ...                       "expected_layer": [2.0, 2.5, 3.5]})
    >>> f = facts(layers, mixes, findings.forgetting(layers))
    >>> f["n_forgot"], f["drops_where"], f["order"], f["top_move_what"], f["top_move"]
    (1, 'nli upos at layer 0', 'upos (2.00)', 'nli upos', 1.0)
    """
    return {**forgetting_phrases(forgot, findings.forgetting_by_layer(layers)), **mix_phrases(mixes)}


def shared_facts(forgot: pd.DataFrame) -> dict:
    """The change at the best layer per (task, probe), which chapter 7 states too.

    >>> shared_facts(pd.DataFrame({"task": ["nli"], "probe": ["upos"], "change": [-0.0001]}))
    {'best_change.nli.upos': 0.0}
    """
    return {f"best_change.{r.task}.{r.probe}": round(r.change, 3) + 0.0 for r in forgot.itertuples()}
