"""Chapter 2's takeaways: the learning rate chosen, the fine-tuned models' scores and how far
each layer's weights moved.

The functions take the chapter's tidy tables: ``scores`` (task, model, seed, metric, value) from
:func:`lib.finetune.metrics_table`, ``chance`` (a Series indexed by task and metric) from
:func:`lib.finetune.chance_table`, ``by_layer`` (task, seed, layer, relative_change) from
:func:`lib.encoders.relative_change`, and the calibration of :func:`lib.book.parameters.calibration`.
One definition of seed spread serves the whole book: the range, highest minus lowest seed.
"""
from __future__ import annotations

import pandas as pd

from lib.finetune.tasks import MAIN_METRIC

NAMES = {"nli": "NLI accuracy", "sentiment": "sentiment accuracy", "parsing": "parsing", "qa": "QA"}
# What a full fine-tune reaches, where a document states it: accuracy (%) on the GLUE dev sets of MNLI
# (matched) and SST-2, as the MiniLM model card reports it (book/references.bib: minilm2020card). No
# published score of all-MiniLM-L6-v2 fine-tuned on SNLI, on VADER's sentences or on UD EWT parsing
# was found (searched: its model card, MiniLM's, benchmark pages, UD parsing papers).
PUBLISHED = {"MiniLM-L12-H384": {"MNLI-m": 85.7, "SST-2": 93.0}, "BERT-base": {"MNLI-m": 84.5, "SST-2": 93.2}}


def published_phrase(published: dict[str, dict[str, float]] = PUBLISHED) -> str:
    """The published full fine-tunes (:data:`PUBLISHED`) as the prose cites them.

    >>> published_phrase({"A": {"MNLI-m": 85.7, "SST-2": 93.0}, "B": {"MNLI-m": 84.5, "SST-2": 93.2}})
    'A reaches 85.7% on MNLI (matched) and 93.0% on SST-2, B 84.5% and 93.2%'
    """
    (first, scores), *others = published.items()
    phrase = f"{first} reaches {scores['MNLI-m']:.1f}% on MNLI (matched) and {scores['SST-2']:.1f}% on SST-2"
    return ", ".join([phrase] + [f"{name} {s['MNLI-m']:.1f}% and {s['SST-2']:.1f}%" for name, s in others])


def calibration_table(calib: dict) -> pd.DataFrame:
    """The dev score of each task and metric (columns) at each learning rate of the grid (rows).

    >>> calib = {"rows": [{"learning_rate": 1e-4, "task": "nli", "metric": "accuracy", "dev": 0.61234}]}
    >>> calibration_table(calib).values.tolist()
    [[0.612]]
    """
    return pd.DataFrame(calib["rows"]).pivot_table(index="learning_rate", columns=["task", "metric"],
                                                   values="dev").round(3)


def lr_choice(calib: dict | None, learning_rate: float, profile: str) -> str:
    """How the learning rate was chosen, as the prose says it.

    >>> lr_choice(None, 1e-4, "smoke")
    '0.0001, set by the `smoke` profile (no calibration was run for it)'
    >>> lr_choice({"best": 2e-4, "dev_examples": 1000, "grid": [1e-4, 2e-4]}, 2e-4, "cpu")[:60]
    '0.0002, the best mean rank on 1,000 dev examples per task ov'
    """
    if calib is None:
        return f"{learning_rate:g}, set by the `{profile}` profile (no calibration was run for it)"
    choice = (f"{calib['best']:g}, the best mean rank on {calib['dev_examples']:,} dev examples per task over "
              f"{', '.join(f'{r:g}' for r in calib['grid'])}")
    if calib["best"] == max(calib["grid"]):
        choice += " (the largest rate of the grid; larger ones leave the range used to fine-tune BERT-style encoders)"
    if learning_rate != calib["best"]:
        choice += f" (this run overrides it: {learning_rate:g})"
    return choice


def seed_spread(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean, lowest and highest seed of each (task, metric): columns ``mean``, ``min``, ``max``."""
    return scores.groupby(["task", "metric"]).value.agg(["mean", "min", "max"])


def score_summary(scores: pd.DataFrame, chance: pd.Series) -> pd.DataFrame:
    """Per (task, metric): mean, lowest seed, highest seed, seed range and chance.

    >>> scores = pd.DataFrame({"task": "nli", "metric": "accuracy", "seed": [0, 1], "value": [0.6, 0.7]})
    >>> chance = pd.Series([0.34], index=pd.MultiIndex.from_tuples([("nli", "accuracy")], names=["task", "metric"]))
    >>> score_summary(scores, chance).round(3).values.tolist()
    [[0.65, 0.6, 0.7, 0.1, 0.34]]
    """
    summary = seed_spread(scores)
    summary["seed range"] = summary["max"] - summary["min"]
    summary["chance"] = chance.reindex(summary.index).values
    return summary.rename(columns={"min": "lowest seed", "max": "highest seed"})


def score_phrase(spread: pd.DataFrame, chance: pd.Series, task: str) -> str:
    """``"NLI accuracy 0.650 (seed range 0.100; chance 0.340)"``: each metric's mean (QA without
    exact match), the widest seed range and the chance score of the task's main metric."""
    rows = spread.loc[task]
    values = " / ".join(f"{metric.upper() if task == 'parsing' else ''} {r['mean']:.3f}".strip()
                        for metric, r in rows.iterrows() if not (task == "qa" and metric == "exact_match"))
    width = float((rows["max"] - rows["min"]).max())
    main = MAIN_METRIC[task]
    return f"{NAMES.get(task, task)} {values} (seed range {width:.3f}; chance {chance[task, main]:.3f})"


def _names(tasks: list[str]) -> str:
    """``"nli, parsing and sentiment"``."""
    return tasks[0] if len(tasks) == 1 else ", ".join(tasks[:-1]) + " and " + tasks[-1]


def change_phrases(by_layer: pd.DataFrame) -> dict:
    """Where the weights moved, as phrases chapter 2's takeaway builds its sentences from: the range
    of the per-layer mean changes (``change_range``), the task that moved most (``most_moved``), the
    layer each task moved most (``most_moved_layer``, one clause) and the top layer against the
    layers between it and the embeddings (``top_vs_rest``, a sentence that says which way it goes).

    >>> by_layer = pd.DataFrame({"task": ["nli"] * 3 + ["parsing"] * 3, "seed": 0, "layer": [0, 1, 2] * 2,
    ...                          "relative_change": [0.01, 0.03, 0.02, 0.01, 0.02, 0.04]})
    >>> f = change_phrases(by_layer)
    >>> f["most_moved_layer"]
    'nli moves layer 1 the most, parsing layer 2'
    >>> f["top_vs_rest"]
    'The top layer moves more than the layers below it for parsing (4.0% against 2.0% on average), less for nli (2.0% against 3.0%)'
    """
    layer_means = by_layer.groupby(["task", "layer"]).relative_change.mean().unstack("layer")
    top, bottom = layer_means.columns.max(), layer_means.columns.min()
    peak = layer_means.idxmax(axis=1).astype(int)
    if peak.nunique() == 1:
        where = f"every task moves layer {peak.iloc[0]} the most"
    else:
        where = ", ".join(f"{task} moves layer {layer} the most" if i == 0 else f"{task} layer {layer}"
                          for i, (task, layer) in enumerate(peak.items()))
    rest = layer_means.drop(columns=[bottom, top]).mean(axis=1)
    more = [t for t in layer_means.index if layer_means.loc[t, top] > rest[t]]
    less = [t for t in layer_means.index if t not in more]

    def numbers(tasks: list[str], first: bool) -> str:
        return "; ".join(f"{t + ' ' if len(tasks) > 1 else ''}{layer_means.loc[t, top]:.1%} against {rest[t]:.1%}"
                         + (" on average" if first and i == 0 else "") for i, t in enumerate(tasks))

    if not less or not more:
        way = "more" if more else "less"
        top_vs_rest = (f"For {'every task' if len(layer_means) > 1 else _names(list(layer_means.index))}, the top "
                       f"layer moves {way} than the layers between it and the embeddings ("
                       f"{numbers(list(layer_means.index), True)})")
    else:
        top_vs_rest = (f"The top layer moves more than the layers below it for {_names(more)} ({numbers(more, True)}), "
                       f"less for {_names(less)} ({numbers(less, False)})")
    return {"change_range": f"{layer_means.values.min():.1%} to {layer_means.values.max():.1%}",
            "most_moved": layer_means.mean(axis=1).idxmax(), "most_moved_layer": where, "top_vs_rest": top_vs_rest}


def facts(scores: pd.DataFrame, chance: pd.Series, by_layer: pd.DataFrame, tasks: list[str],
          n_train: dict[str, int], steps: int, n_seeds: int) -> dict:
    """The values chapter 2's prose cites, by glue name.

    >>> scores = pd.DataFrame({"task": "nli", "metric": "accuracy", "seed": [0, 1], "value": [0.6, 0.7]})
    >>> chance = pd.Series([0.34], index=pd.MultiIndex.from_tuples([("nli", "accuracy")]))
    >>> by_layer = pd.DataFrame({"task": "nli", "seed": 0, "layer": [0, 1, 2], "relative_change": [0.01, 0.02, 0.04]})
    >>> f = facts(scores, chance, by_layer, ["nli"], {"nli": 2000}, steps=200, n_seeds=2)
    >>> f["scores_phrase"], f["steps_phrase"], f["train_sizes"]
    ('NLI accuracy 0.650 (seed range 0.100; chance 0.340)', '200 optimizer steps', 'nli 2,000')
    >>> f["top_vs_rest"]
    'For nli, the top layer moves more than the layers between it and the embeddings (4.0% against 2.0% on average)'
    """
    spread = seed_spread(scores)
    return {
        "n_seeds": n_seeds, "steps_phrase": f"{steps:,} optimizer steps",
        "scores_phrase": "; ".join(score_phrase(spread, chance, task) for task in tasks),
        **change_phrases(by_layer),
        "train_sizes": ", ".join(f"{task} {n_train[task]:,}" for task in tasks),
    }


def dev_curve(history: pd.DataFrame) -> pd.DataFrame:
    """The dev rows of a :func:`lib.history_table` in each task's main metric
    (:data:`lib.finetune.tasks.MAIN_METRIC`): one learning curve per task and seed.

    >>> h = pd.DataFrame({"task": "parsing", "seed": 0, "split": "dev", "step": [40, 40],
    ...                   "metric": ["uas", "las"], "value": [0.7, 0.6]})
    >>> dev_curve(h)[["step", "metric", "value"]].values.tolist()
    [[40, 'las', 0.6]]
    """
    return history[(history.split == "dev") & (history.metric == history.task.map(MAIN_METRIC))]


def shared_facts(scores: pd.DataFrame, chance: pd.Series, n_test: int) -> dict:
    """The scores other chapters state too, under the names the book's consistency check compares:
    each seed's and the mean test score, and chance, on ``n_test`` test examples (0: all).

    >>> scores = pd.DataFrame({"task": "nli", "metric": "accuracy", "seed": [0, 1], "value": [0.6, 0.7]})
    >>> chance = pd.Series([0.34], index=pd.MultiIndex.from_tuples([("nli", "accuracy")]))
    >>> shared_facts(scores, chance, 0)
    {'score.nli.accuracy.seed0.nall': 0.6, 'score.nli.accuracy.seed1.nall': 0.7,
     'score.nli.accuracy.mean.nall': 0.65, 'chance.nli.accuracy.nall': 0.34}
    """
    n = n_test or "all"
    return {**{f"score.{r.task}.{r.metric}.seed{r.seed}.n{n}": round(r.value, 3) for r in scores.itertuples()},
            **{f"score.{t}.{m}.mean.n{n}": round(v, 3) for (t, m), v in seed_spread(scores)["mean"].items()},
            **{f"chance.{t}.{m}.n{n}": round(v, 3) for (t, m), v in chance.items()}}
