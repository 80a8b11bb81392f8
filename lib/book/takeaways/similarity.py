"""Chapter 4's takeaways: how similar each fine-tuned layer stays to its pre-trained self.

The functions take the chapter's tidy tables: ``raw`` (task, inputs, text, layer, measure, value,
seed_floor), the :func:`lib.experiments.similarity_table` rows of every task and text with the
text's label in ``text``; ``matrices`` (layer_x, layer_y, similarity, pair), the
:func:`lib.similarity.matrix_table` of each task and measure labelled ``"pre-trained vs <task> · <measure>"``;
and ``texts``, the label of each kind of input text (``{"own": "own text", "wikipedia": "Wikipedia"}``).
"""
from __future__ import annotations

import pandas as pd

from lib.experiments import findings, input_name
from lib.similarity import closest_layers


def inputs_table(tasks: list[str], texts: dict[str, str]) -> pd.DataFrame:
    """Which sentences each task's similarity is measured on, per kind of text (columns: labels).

    >>> inputs_table(["nli"], {"own": "own text"}).columns.tolist()
    ['own text']
    """
    return pd.DataFrame([{"task": task, **{name: input_name(task, inputs) for inputs, name in texts.items()}}
                         for task in tasks]).set_index("task")


def with_text(tables: list[pd.DataFrame], texts: dict[str, str]) -> pd.DataFrame:
    """The tables as one, each row labelled (``text``) by its ``inputs``.

    >>> with_text([pd.DataFrame({"inputs": ["own"]}), pd.DataFrame({"inputs": ["wikipedia"]})],
    ...           {"own": "own text", "wikipedia": "Wikipedia"}).text.tolist()
    ['own text', 'Wikipedia']
    """
    table = pd.concat(tables, ignore_index=True)
    return table.assign(text=table.inputs.map(texts))


def rsa_table(raw: pd.DataFrame) -> pd.DataFrame:
    """The RSA of each layer with its pre-trained self and, in brackets, its seed floor; a column
    per (task, text).

    >>> raw = pd.DataFrame({"task": "nli", "text": "own text", "layer": [0, 1], "measure": "rsa",
    ...                     "value": [0.99, 0.8], "seed_floor": [0.98, 0.9]})
    >>> rsa_table(raw).values.tolist()
    [['0.990 (0.980)'], ['0.800 (0.900)']]
    """
    rsa = raw[raw.measure == "rsa"]
    rsa = rsa.assign(cell=rsa.value.map("{:.3f}".format) + " (" + rsa.seed_floor.map("{:.3f}".format) + ")")
    return rsa.pivot(index="layer", columns=["task", "text"], values="cell").sort_index(axis=1)


def depth_by_text(raw: pd.DataFrame, texts: dict[str, str]) -> dict[str, pd.DataFrame]:
    """:func:`lib.experiments.findings.depth_of_change` of the RSA on each kind of text, by task."""
    return {inputs: findings.depth_of_change(raw[raw.inputs == inputs], "rsa").set_index("task") for inputs in texts}


def floors_sentence(depth: pd.DataFrame) -> str:
    """Where each task leaves its seed floor, lowest first, and which task reaches deepest:
    ``"parsing leaves its seed floor at layer 1, nli at layer 3: parsing reaches deepest"``.

    >>> depth = pd.DataFrame({"first_below_floor": [3, 1, None]}, index=pd.Index(["nli", "parsing", "qa"], name="task"))
    >>> floors_sentence(depth)
    'parsing leaves its seed floor at layer 1, nli at layer 3, qa never: parsing reaches deepest'
    """
    order = depth.first_below_floor.astype(float).sort_values(na_position="last")
    parts = [f"{t} {'leaves its seed floor at ' if i == 0 else 'at '}{findings.floor_layer(v)}" if v == v
             else f"{t} {'never leaves its seed floor' if i == 0 else 'never'}"
             for i, (t, v) in enumerate(order.items())]
    lowest = order[order == order.min()].index.tolist()
    if order.isna().all() or len(order) == 1:
        return ", ".join(parts)
    deepest = (f"{lowest[0]} reaches deepest" if len(lowest) == 1
               else f"{' and '.join(lowest)} reach deepest alike")
    return ", ".join(parts) + f": {deepest}"


def bottom_sentence(depth: pd.DataFrame) -> str:
    """The change 1 - RSA in the bottom third against the most changed layer, over the tasks, as one
    sentence that names the task whose bottom layers changed most.

    >>> depth = pd.DataFrame({"bottom_change": [0.06, 0.12], "largest_change": [0.85, 0.69],
    ...                       "most_changed_layer": [6, 5]}, index=pd.Index(["nli", "parsing"], name="task"))
    >>> bottom_sentence(depth)
    "the bottom third of the layers changes by 0.06 (nli) to 0.12 (parsing), the most changed layer by 0.69 (parsing, layer 5) to 0.85 (nli, layer 6): parsing changes its bottom layers the most, and no task's bottom third changes by more than 17% of its most changed layer's change"
    """
    lo, hi = depth.bottom_change.idxmin(), depth.bottom_change.idxmax()
    lo2, hi2 = depth.largest_change.idxmin(), depth.largest_change.idxmax()

    def at(task: str) -> str:
        return f"{task}, layer {int(depth.loc[task, 'most_changed_layer'])}"

    if len(depth) == 1:
        r = depth.iloc[0]
        return (f"the bottom third of the layers changes by {r.bottom_change:.2f}, the most changed layer "
                f"(layer {int(r.most_changed_layer)}) by {r.largest_change:.2f}")
    share = float((depth.bottom_change / depth.largest_change).max())
    return (f"the bottom third of the layers changes by {depth.bottom_change[lo]:.2f} ({lo}) to "
            f"{depth.bottom_change[hi]:.2f} ({hi}), the most changed layer by {depth.largest_change[lo2]:.2f} "
            f"({at(lo2)}) to {depth.largest_change[hi2]:.2f} ({at(hi2)}): {hi} changes its bottom layers the most, "
            f"and no task's bottom third changes by more than {share:.0%} of its most changed layer's change")


def closest_phrase(matrices: pd.DataFrame, task: str) -> str:
    """The fine-tuned layers of ``task`` closest (RSA) to a lower pre-trained layer than their own."""
    table = closest_layers(matrices[matrices.pair == f"pre-trained vs {task} · rsa"])
    pulled = table[table.closest < table.layer]
    if pulled.empty:
        return f"every fine-tuned {task} layer is closest to its own pre-trained layer"
    return "; ".join(f"{task} layer {int(r.layer)} is closest to pre-trained layer {int(r.closest)} "
                     f"(RSA {r.similarity:.2f}, against {r.same_layer:.2f} with its own)" for r in pulled.itertuples())


def facts(raw: pd.DataFrame, matrices: pd.DataFrame, tasks: list[str], texts: dict[str, str],
          similarity_tokens: int, n_seeds: int) -> dict:
    """The values chapter 4's prose cites, by glue name.

    >>> raw = pd.DataFrame({"task": "nli", "inputs": ["own"] * 3 + ["wikipedia"] * 3, "layer": [0, 1, 2] * 2,
    ...                     "measure": "rsa", "value": [0.99, 0.9, 0.6, 0.99, 0.95, 0.8], "seed_floor": 0.97})
    >>> matrices = pd.DataFrame({"layer_x": [0, 0, 1, 1], "layer_y": [0, 1, 0, 1], "similarity": [0.9, 0.8, 0.2, 0.5],
    ...                          "pair": "pre-trained vs nli · rsa"})
    >>> f = facts(raw, matrices, ["nli"], {"own": "own text", "wikipedia": "Wikipedia"}, 500, 2)
    >>> f["floors_own"], f["top_value"]
    ('nli leaves its seed floor at layer 1', 'nli 0.60')
    >>> print(f["closest"])
    **What the matrices show (RSA, seed 0):** nli layer 1 is closest to pre-trained layer 0
    (RSA 0.80, against 0.50 with its own).
    """
    depth = depth_by_text(raw, texts)
    top = raw[(raw.layer == raw.layer.max()) & (raw.measure == "rsa") & (raw.inputs == "own")].set_index("task")
    return {
        "similarity_tokens": similarity_tokens, "n_seeds": n_seeds,
        "bottom_own": bottom_sentence(depth["own"]),
        **{f"floors_{'shared' if inputs == 'wikipedia' else inputs}": floors_sentence(table)
           for inputs, table in depth.items()},
        "top_floor": "; ".join(f"{t} {r.seed_floor:.2f}" for t, r in top.iterrows() if r.seed_floor == r.seed_floor)
                     or "no floor (one seed)",
        "closest": "**What the matrices show (RSA, seed 0):** " + "; ".join(closest_phrase(matrices, t) for t in tasks)
                   + ".",
        "top_value": "; ".join(f"{t} {r.value:.2f}" for t, r in top.iterrows()),
    }


def shared_facts(raw: pd.DataFrame, texts: dict[str, str]) -> dict:
    """Where each task leaves its seed floor and which layer changed most, per kind of text, which
    chapter 7 states too.

    >>> raw = pd.DataFrame({"task": "nli", "inputs": "own", "layer": [0, 1], "measure": "rsa", "value": [0.99, 0.99],
    ...                     "seed_floor": 0.98})
    >>> shared_facts(raw, {"own": "own text"})
    {'floor_layer.nli.own': 'none', 'most_changed.nli.own': 0}
    """
    depth = depth_by_text(raw, texts)
    return {**{f"floor_layer.{t}.{inputs}": findings.floor_layer(r.first_below_floor) or "none"
               for inputs, table in depth.items() for t, r in table.iterrows()},
            **{f"most_changed.{t}.{inputs}": int(r.most_changed_layer) for inputs, table in depth.items()
               for t, r in table.iterrows()}}
