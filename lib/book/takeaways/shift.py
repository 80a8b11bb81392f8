"""Chapter 6's takeaways: the domain tables and the phrases its prose cites, from the shift tables.

Every function takes chapter 6's tidy tables (:func:`lib.shift_tables`, concatenated over tasks by
:func:`combine`): ``similarity`` (task, domain, in_domain, layer, measure, value, seed_floor) and
``scores`` (task, domain, in_domain, seed, metric, value, n). The verdict per task follows
:func:`lib.findings.domain_gap`.
"""
from __future__ import annotations

import pandas as pd

from lib.experiments import DOMAINS, IN_DOMAIN, findings

SHOWN_TASKS = ("nli", "sentiment", "parsing")  # each has its own bullet in the chapter


def domain_label(table: pd.DataFrame) -> pd.Series:
    """A row's domain, with " (in-domain)" where the task trained on it.

    >>> domain_label(pd.DataFrame({"domain": ["snli", "wiki"], "in_domain": [True, False]})).tolist()
    ['snli (in-domain)', 'wiki']
    """
    return table.domain + table.in_domain.map({True: " (in-domain)", False: ""})


def combine(results: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One ``similarity`` and one ``scores`` table from :func:`lib.shift_tables`'s pair per task;
    ``similarity`` gains the column ``"domain "``, the :func:`domain_label` its charts show."""
    similarity = pd.concat([s for s, _ in results.values()], ignore_index=True)
    scores = pd.concat([s for _, s in results.values()], ignore_index=True)
    similarity["domain "] = domain_label(similarity)
    return similarity, scores


def domain_table(tasks: list[str], shift_domains: dict[str, list[str]]) -> pd.DataFrame:
    """Per domain of :data:`lib.DOMAINS`: its sentences, and for each task "in-domain", "out" (a
    domain of ``shift_domains[task]``) or nothing."""
    return pd.DataFrame([{"domain": d, "sentences": about,
                          **{t: "in-domain" if d in IN_DOMAIN[t] else ("out" if d in shift_domains[t] else "")
                             for t in tasks}} for d, about in DOMAINS.items()]).set_index("domain")


def last_layer_table(similarity: pd.DataFrame):
    """The last layer's RSA and CKA with the pre-trained model, and their seed floors, per task and domain."""
    last = similarity[similarity.layer == similarity.layer.max()]
    wide = last.pivot_table(index=["task", "domain "], columns="measure", values=["value", "seed_floor"])
    wide.columns = [f"{measure.upper()}{' seed floor' if part == 'seed_floor' else ''}"
                    for part, measure in wide.columns]
    return wide[["RSA", "RSA seed floor", "CKA", "CKA seed floor"]].style.format(precision=3, na_rep="")


def score_table(scores: pd.DataFrame):
    """The test scores per task and domain (columns: metrics), mean over seeds."""
    return (scores.assign(domain=domain_label(scores))
            .pivot_table(index=["task", "domain"], columns="metric", values="value")
            .style.format(precision=3, na_rep=""))


def span(values: pd.Series) -> str:
    """The range of ``values`` to 2 decimals, one number where both ends round alike.

    >>> span(pd.Series([0.912, 0.914])), span(pd.Series([0.5, 0.75]))
    ('0.91', '0.50 to 0.75')
    """
    low, high = values.min(), values.max()
    return f"{low:.2f}" if low.round(2) == high.round(2) else f"{low:.2f} to {high:.2f}"


def verdict(gap: pd.DataFrame, task: str) -> str:
    """Reproduced where in-domain sentences change more by both RSA and CKA (:func:`lib.findings.domain_gap`,
    indexed by task and measure), partly where by one."""
    holds = [bool(gap.loc[(task, m), "holds"]) for m in ("rsa", "cka") if (task, m) in gap.index]
    return "reproduced" if all(holds) else "partly reproduced" if any(holds) else "not reproduced"


def similarity_phrase(top: pd.DataFrame, gap: pd.DataFrame, task: str) -> str:
    """How much of its pre-trained self each domain keeps at the last layer (``top``: that layer's
    rows of ``task``), against the seed floors, and where in-domain sentences change more."""
    cka, rsa = top[top.measure == "cka"], top[top.measure == "rsa"]
    inside, outside = cka[cka.in_domain], cka[~cka.in_domain]
    floors = cka.seed_floor.dropna()
    text = (f"{verdict(gap, task).capitalize()}: the in-domain sentences keep a CKA of {span(inside.value)} with "
            f"their pre-trained selves (RSA {span(rsa[rsa.in_domain].value)}); the other domains keep "
            f"{span(outside.value)} (RSA {span(rsa[~rsa.in_domain].value)})"
            + (f", against seed floors of {span(floors)}." if len(floors) else "."))
    if (task, "cka") in gap.index:
        layers = gap.loc[(task, "cka")]
        text += (f" Layer by layer (CKA), in-domain sentences change more at {layers.in_domain_more_at}; "
                 f"layers beyond seed noise: {layers.beyond_noise}.")
    gum = outside[outside.domain.str.startswith("gum-")] if task == "parsing" else outside.iloc[:0]
    if len(gum):
        text += f" On GUM ({len(gum)} genre{'s' * (len(gum) > 1)}, never trained on): {span(gum.value)}."
    return text


def score_phrase(scores: pd.DataFrame, task: str) -> str:
    """``task``'s accuracy (LAS for parsing) in domain and out of it, mean over seeds; "" without scores.

    >>> scores = pd.DataFrame({"task": "sentiment", "domain": ["sst", "news"], "in_domain": [True, False],
    ...                        "metric": "accuracy", "value": [0.9, 0.7]})
    >>> score_phrase(scores, "sentiment")
    ' Its accuracy: 0.90 in domain, 0.70 out of domain (lowest: news).'
    """
    mine = scores[(scores.task == task) & scores.metric.isin(["accuracy", "las"])]
    if not len(mine):
        return ""
    means = mine.groupby(["domain", "in_domain", "metric"], as_index=False).value.mean()
    inside, outside = means[means.in_domain], means[~means.in_domain]
    text = (f" Its {'LAS' if task == 'parsing' else 'accuracy'}: {span(inside.value)} in domain"
            + (" (per EWT genre)" if len(inside) > 1 else ""))
    if len(outside):
        worst = outside.loc[outside.value.idxmin()]
        text += f", {span(outside.value)} out of domain (lowest: {worst.domain})"
    return text + "."


def facts(similarity: pd.DataFrame, scores: pd.DataFrame) -> dict:
    """Chapter 6's bullet per task (``shift_nli``, ``shift_sentiment``, ``shift_parsing``): the verdict,
    the last layer's similarity per domain, and the scores in and out of domain."""
    gap = findings.domain_gap(similarity).set_index(["task", "measure"])
    top = similarity[similarity.layer == similarity.layer.max()]
    run = set(gap.index.get_level_values("task"))
    return {f"shift_{task}": similarity_phrase(top[top.task == task], gap, task) + score_phrase(scores, task)
            if task in run else "not run on this profile." for task in SHOWN_TASKS}


def stated_facts(scores: pd.DataFrame) -> dict:
    """Facts other chapters state too, by glue name: a task's own test score (chapter 2's, on its
    test examples), per seed and the mean."""
    own = scores[scores.in_domain & scores.task.isin(["nli", "sentiment"])]
    return {**{f"score.{r.task}.{r.metric}.seed{r.seed}.n{r.n or 'all'}": round(r.value, 3) for r in own.itertuples()},
            **{f"score.{t}.{m}.mean.n{n or 'all'}": round(v, 3)
               for (t, m, n), v in own.groupby(["task", "metric", "n"]).value.mean().items()}}
