"""Chapter 5's takeaways: the score table and the phrases its prose cites, from the ablation tables.

Every function takes chapter 5's tidy tables: ``table``, the ablation scores
(task, seed, experiment, k, metric, value) of :func:`lib.ablation_table`, and ``chance``, the
chance score per (task, metric) (:func:`lib.chance_table` indexed by task and metric). Shares of
the score above chance come from :func:`lib.share_lost` and :func:`lib.findings.freezing_cost`.
"""
from __future__ import annotations

import pandas as pd

from lib.experiments import findings, share_lost
from lib.finetune.tasks import MAIN_METRIC

EXPERIMENTS = {"freezing": "frozen 0..k", "restore_bottom": "pre-trained 0..k restored",
               "restore_top": "pre-trained k+1..L restored"}


def tasks_of(table: pd.DataFrame) -> list[str]:
    """The tasks of a table in the order they first appear (the chapter's ``tasks``)."""
    return list(dict.fromkeys(table.task))


def main_chance(chance: pd.Series) -> dict[str, float]:
    """The chance score of each task's main metric, from chance scores indexed by (task, metric).

    >>> chance = pd.DataFrame({"task": ["parsing", "parsing"], "metric": ["uas", "las"],
    ...                        "chance": [0.2, 0.1]}).set_index(["task", "metric"]).chance
    >>> {task: float(value) for task, value in main_chance(chance).items()}
    {'parsing': 0.1}
    """
    return {task: chance[task, MAIN_METRIC[task]] for task in dict.fromkeys(chance.index.get_level_values("task"))}


def main_scores(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each task's main metric (accuracy, LAS, F1)."""
    return table[table.metric == table.task.map(MAIN_METRIC)]


def mean_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Per (task, experiment, k): the main metric's mean over seeds, ``value``."""
    return main_scores(table).groupby(["task", "experiment", "k"], as_index=False).value.mean()


def main_means(table: pd.DataFrame, chance: pd.Series) -> pd.DataFrame:
    """:func:`mean_scores` with the task's ``chance`` and the share of the full fine-tune's score
    above chance that is lost, ``lost`` (:func:`lib.share_lost`)."""
    means, base = mean_scores(table), main_chance(chance)
    return means.assign(chance=means.task.map(base), lost=share_lost(means, base))


def score_table(table: pd.DataFrame, chance: pd.Series, seeds: list[int]):
    """The test score by boundary k (columns) per task and experiment, mean of ``seeds``, with chance."""
    scores = main_scores(table).groupby(["task", "experiment", "k"]).value.mean().unstack("k").rename(index=EXPERIMENTS)
    scores["chance"] = [chance[t, MAIN_METRIC[t]] for t in scores.index.get_level_values("task")]
    metrics = ", ".join(sorted({MAIN_METRIC[t] for t in tasks_of(table)}))
    return scores.style.format(precision=3, na_rep="").set_caption(
        f"Test score ({metrics}) by boundary k, mean of seeds {seeds}; "
        "chance: always the most frequent class, or a random head (parsing)")


def curve(means: pd.DataFrame, task: str) -> str:
    """``task``'s frozen scores along the grid, from :func:`mean_scores`.

    >>> means = pd.DataFrame({"task": ["nli"] * 3, "experiment": ["freezing"] * 3, "k": [0, 3, 6],
    ...                       "value": [0.8, 0.7, 0.5]})
    >>> curve(means, "nli")
    "nli's accuracy goes from 0.800 (full fine-tune) to 0.700 (k = 3) and 0.500 (k = 6)"
    """
    values = means[(means.task == task) & (means.experiment == "freezing")].set_index("k").value
    metric = MAIN_METRIC[task]
    steps = [f"{v:.3f} (k = {k})" for k, v in values.iloc[1:].items()]
    path = ", ".join(steps[:-1]) + f" and {steps[-1]}" if len(steps) > 1 else "".join(steps)
    start = f"{task}'s {metric.upper() if task == 'parsing' else metric} goes from {values.iloc[0]:.3f} (full fine-tune)"
    return f"{start} to {path}" if steps else f"{start}, the only boundary run"


def kept(means: pd.DataFrame, task: str, experiment: str, k: int) -> str:
    """The score of ``task``'s model restored at boundary ``k`` beside its fine-tuned score, with the
    share of the score above chance kept (``1 - lost``); ``means`` from :func:`main_means`.

    >>> means = pd.DataFrame({"task": ["nli"] * 2, "experiment": ["restore_bottom"] * 2, "k": [0, 1],
    ...                       "value": [0.8, 0.6]})
    >>> kept(means.assign(chance=0.4, lost=[0.0, 0.5]), "nli", "restore_bottom", 1)
    'nli 0.600 of 0.800 (50%)'
    """
    rows = means[means.task == task].set_index(["experiment", "k"])
    full, row = rows.value["restore_bottom", 0], rows.loc[(experiment, k)]
    share = f"{1 - row.lost:.0%}" if full > row.chance else "the fine-tuned model is at chance"
    return f"{task} {row.value:.3f} of {full:.3f} ({share})"


def _loss(task: str, cost: pd.Series) -> str:
    """One task's loss with its bottom half frozen, from a :func:`lib.findings.freezing_cost` row."""
    share = (f"({cost.share_lost_at_half:.0%} of its {cost.full - cost.chance:.3f} above chance)"
             if cost.full > cost.chance else "(its full fine-tune is at chance)")
    return f"{task} {cost.loss_at_half:.3f} {share}"


def contrast(cost: pd.DataFrame) -> str:
    """Whether, on the means of the seeds, the parser loses a larger share above chance with its
    bottom half frozen than every other task; ``cost``: :func:`lib.findings.freezing_cost` indexed
    by task. Without an interval this is the paper's pattern or not, not yet a verdict (chapter 7's).

    >>> cost = pd.DataFrame({"task": ["nli", "parsing"], "share_lost_at_half": [0.1, 0.3]}).set_index("task")
    >>> contrast(cost).split(":")[0]
    "**the paper's pattern**, on the means"
    """
    others = cost.drop(index="parsing", errors="ignore")
    if "parsing" not in cost.index or not len(others):
        return "not tested (it needs the parser and another task)"
    if bool((cost.share_lost_at_half["parsing"] > others.share_lost_at_half).all()):
        return "**the paper's pattern**, on the means: the parser loses a larger share than every sentence-level task"
    return ("**not the paper's pattern**, on the means: the parser does not lose a larger share than every "
            "sentence-level task")


def facts(table: pd.DataFrame, chance: pd.Series, n_train: dict[str, int], seeds: list[int], n_eval: int) -> dict:
    """The phrases and numbers chapter 5's prose cites, by glue name; ``n_train``, ``seeds`` and
    ``n_eval``: the grid's training sizes, its seeds and the test examples scored (0: all)."""
    tasks, base = tasks_of(table), main_chance(chance)
    cost = findings.freezing_cost(table, MAIN_METRIC, base).set_index("task")
    means = main_means(table, chance)
    n_layers = int(table[table.experiment != "freezing"].k.max())  # restoring runs k = 0..L
    half = n_layers // 2
    bottom = means[(means.experiment == "restore_bottom") & (means.k == half)].set_index("task").lost
    shares = {task: 1 - bottom[task] for task in tasks}  # kept with the bottom half restored
    phrases = {name: "; ".join(kept(means, task, experiment, k) for task in tasks) for name, experiment, k in (
        ("top_restored", "restore_top", n_layers - 1), ("bottom_one", "restore_bottom", 1),
        ("bottom_half", "restore_bottom", half), ("top_half", "restore_top", half))}
    return {"n_eval": n_eval or "all", "grid_seeds": ", ".join(map(str, seeds)),
            "grid_sizes": ", ".join(f"{task} {n_train[task]:,}" for task in tasks),
            "curves": "; ".join(curve(means, task) for task in tasks),
            "losses": "; ".join(_loss(task, r) for task, r in cost.iterrows()),
            "chances": "; ".join(f"{t} {base[t]:.3f}" for t in tasks),
            "half_k": int(cost.half_k.iloc[0]), "contrast": contrast(cost), **phrases, "half": half,
            "most_bottom": min(shares, key=shares.get),
            "grid_ks": ", ".join(map(str, sorted(set(table[table.experiment == "freezing"].k)))), "n_layers": n_layers}


def freezing_facts(cost: pd.DataFrame, chance: pd.Series, n_eval: int) -> dict:
    """The chance scores and freezing losses that chapters 5 and 7 both state, by glue name;
    ``cost``: :func:`lib.findings.freezing_cost`, ``n_eval``: the test examples scored (0: all)."""
    n = n_eval or "all"
    return {**{f"chance.{t}.{MAIN_METRIC[t]}.n{n}": round(v, 3) for t, v in main_chance(chance).items()},
            **{f"freeze_loss.{r.task}": round(r.loss_at_half, 3) for r in cost.itertuples()},
            **{f"freeze_share.{r.task}": round(r.share_lost_at_half, 3) for r in cost.itertuples()}}


def stated_facts(table: pd.DataFrame, chance: pd.Series, n_eval: int) -> dict:
    """Facts other chapters state too, by glue name: chapter 2's models (nothing restored, on the
    same test examples), the chance scores and the freezing losses (:func:`freezing_facts`)."""
    n = n_eval or "all"
    unchanged = table[(table.experiment == "restore_bottom") & (table.k == 0)]
    cost = findings.freezing_cost(table, MAIN_METRIC, main_chance(chance))
    return {**{f"score.{r.task}.{r.metric}.seed{r.seed}.n{n}": round(r.value, 3) for r in unchanged.itertuples()},
            **freezing_facts(cost, chance, n_eval)}
