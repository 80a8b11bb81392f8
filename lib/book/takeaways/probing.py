"""Chapter 3's takeaways: what the probes read from each layer before and after fine-tuning.

The functions take the chapter's tidy tables: ``layers`` (model, seed, probe, layer, score,
selectivity, n_train, n_test), ``model`` being ``pre-trained`` or a task; ``mixes`` (model, seed,
probe, expected_layer, center_of_gravity, cumulative_<layer>...); and ``forgot``, the
:func:`lib.experiments.findings.forgetting` table of (task, probe).
"""
from __future__ import annotations

import pandas as pd

from lib.experiments import findings
from lib.probing.runner import INFORMATIVE_MARGIN


def _collapse(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows of several probe seeds as one row per ``keys``: numbers averaged, the spread of
    ``score`` over probe seeds as ``probe_seed_range`` (0 with one seed), the rest as found first."""
    if "probe_seed" not in table or table.empty:
        return table
    numbers = [c for c in table.select_dtypes("number") if c not in keys + ["probe_seed"]]
    grouped = table.groupby(keys, sort=False, dropna=False)
    out = grouped[numbers].mean()
    out["probe_seed_range"] = grouped.score.max() - grouped.score.min()
    out["n_probe_seeds"] = grouped.probe_seed.nunique()
    others = [c for c in table if c not in numbers + keys + ["probe_seed"]]
    if others:
        out = out.join(grouped[others].first())
    return out.reset_index()[[c for c in table if c != "probe_seed"] + ["probe_seed_range", "n_probe_seeds"]]


def probe_tables(names: list[tuple[str, str]], results: list[tuple[pd.DataFrame, pd.DataFrame]]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One ``layers`` and one ``mixes`` table from :func:`lib.probing.probe_model`'s results, each
    row marked with its model's (name, seed); the probe task's column is named ``probe``. A model
    probed with several probe seeds gets one row per (probe, layer): ``score`` and the other numbers
    are the mean over probe seeds, ``probe_seed_range`` their spread (:func:`probe_seed_tables`
    keeps the rows per probe seed).

    >>> result = (pd.DataFrame({"task": ["upos"], "layer": [0], "score": [0.9]}), pd.DataFrame({"task": ["upos"]}))
    >>> layers, mixes = probe_tables([("pre-trained", "-")], [result])
    >>> layers.columns.tolist(), mixes.seed.tolist()
    (['probe', 'layer', 'score', 'model', 'seed'], ['-'])
    >>> two = (pd.DataFrame({"task": "upos", "probe_seed": [0, 1], "layer": 0, "score": [0.8, 0.9]}),
    ...        pd.DataFrame({"task": "upos", "probe_seed": [0, 1], "score": [0.7, 0.9]}))
    >>> layers, mixes = probe_tables([("pre-trained", "-")], [two])
    >>> layers.score.round(3).tolist(), layers.probe_seed_range.round(3).tolist(), mixes.score.round(3).tolist()
    ([0.85], [0.1], [0.8])
    """
    layers, mixes = probe_seed_tables(names, results)
    return (_collapse(layers, ["model", "seed", "probe", "layer"]), _collapse(mixes, ["model", "seed", "probe"]))


def probe_seed_tables(names: list[tuple[str, str]], results: list[tuple[pd.DataFrame, pd.DataFrame]]
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`probe_tables` with one row per probe seed."""
    def tidy(part: int) -> pd.DataFrame:
        return pd.concat([result[part].assign(model=name, seed=str(s)) for (name, s), result in zip(names, results)],
                         ignore_index=True).rename(columns={"task": "probe"})

    return tidy(0), tidy(1)


def informative(layers: pd.DataFrame) -> pd.DataFrame:
    """The rows of the probes that say something about the layers: those whose pre-trained probe
    beats its majority baseline by a clear margin (:data:`lib.probing.runner.INFORMATIVE_MARGIN`).

    >>> layers = pd.DataFrame({"model": "pre-trained", "probe": ["upos", "coreference"], "informative": [True, False]})
    >>> informative(layers).probe.tolist()
    ['upos']
    """
    if "informative" not in layers:
        return layers
    keep = set(layers[(layers.model == "pre-trained") & layers.informative.astype(bool)].probe)
    return layers[layers.probe.isin(keep)]


def baseline_table(layers: pd.DataFrame, mixes: pd.DataFrame, control: pd.DataFrame) -> pd.DataFrame:
    """Per probe, the pre-trained model's best layer and all-layer mix (mean of probe seeds, with
    their range) beside the informed baselines: layer 0, the majority class, the random-init
    encoder's best layer (``control``: its :func:`probe_tables` layers), the linear probe's best of
    its layers beside the MLP at the same layers, and the linear-chain tree (structural)."""
    pre = layers[layers.model == "pre-trained"]
    mix = mixes[mixes.model == "pre-trained"].set_index("probe")
    rows = []
    for probe, group in pre.groupby("probe", sort=False):
        best = group.loc[group.score.idxmax()]
        linear = group.dropna(subset=["linear"]) if "linear" in group else group.iloc[:0]
        rows.append({
            "probe": probe, "best layer": int(best.layer), "score": best.score,
            "probe-seed range": best.get("probe_seed_range", float("nan")),
            "all-layer mix": mix.score.get(probe, float("nan")),
            "mix range": mix.probe_seed_range.get(probe, float("nan")) if "probe_seed_range" in mix else float("nan"),
            "layer 0": float(group[group.layer == group.layer.min()].score.iloc[0]),
            "majority": group.majority.iloc[0] if "majority" in group else float("nan"),
            "linear chain": group.linear_chain.iloc[0] if "linear_chain" in group else float("nan"),
            "random-init": float(control[control.probe == probe].score.max()),
            "linear probe": linear.linear.max() if len(linear) else float("nan"),
            "MLP at its layers": linear.score.max() if len(linear) else float("nan"),
            "informative": bool(group.informative.iloc[0]) if "informative" in group else True})
    return pd.DataFrame(rows).set_index("probe")


def baseline_views(baselines: pd.DataFrame) -> tuple:
    """:func:`baseline_table` as the page shows it, in two tables narrow enough for the page's column
    (pandas Stylers with captions): the pre-trained model's probes (best layer, its score and the
    all-layer mix with their probe-seed range, highest - lowest, in brackets; whether the probe beats
    its majority baseline), then every baseline beside them, a dash where one does not apply (the
    linear chain is the structural probe's only). Scores to 3 decimals.

    >>> table = pd.DataFrame({"best layer": [3], "score": [0.91234], "probe-seed range": [0.004],
    ...                       "all-layer mix": [0.9], "mix range": [0.01], "layer 0": [0.8], "majority": [0.2],
    ...                       "linear chain": [float("nan")], "random-init": [0.5], "linear probe": [0.85],
    ...                       "MLP at its layers": [0.9], "informative": [True]},
    ...                      index=pd.Index(["upos"], name="probe"))
    >>> scores, floors = baseline_views(table)
    >>> scores.data.iloc[0, 1:].tolist(), floors.data.iloc[0].tolist()
    (['0.912 (0.004)', '0.900 (0.010)', 'yes'], ['0.800', '0.200', '0.500', '0.850', '0.900', '–'])
    """
    def number(value: float) -> str:
        return DASH if value != value else f"{value:.3f}"

    def spread(value: float, width: float) -> str:
        return number(value) if width != width else f"{value:.3f} ({width:.3f})"

    scores = pd.DataFrame({
        "best layer": baselines["best layer"].astype(int),
        "score (seed range)": [spread(v, r) for v, r in zip(baselines.score, baselines["probe-seed range"])],
        "all-layer mix (range)": [spread(v, r) for v, r in zip(baselines["all-layer mix"], baselines["mix range"])],
        "informative": baselines.informative.map({True: "yes", False: "no"})}, index=baselines.index)
    floors = pd.DataFrame({column: baselines[column].map(number) for column in
                           ("layer 0", "majority", "random-init", "linear probe", "MLP at its layers", "linear chain")},
                          index=baselines.index)
    return (scores.style.set_caption("The pre-trained model's probes: the best layer and the mix of all layers "
                                     "(the range over probe seeds in brackets)"),
            floors.style.set_caption("Their baselines: no context (layer 0), no pre-training (random-init), "
                                     "less capacity (a linear probe, beside the MLP at the same layers), no model "
                                     "(majority class, linear-chain tree); a dash: does not apply"))


def training_table(layers: pd.DataFrame, mixes: pd.DataFrame, cap: int,
                   structural_cap: int | None = None) -> pd.DataFrame:
    """Per probe, how early stopping ended (pre-trained model): the epoch whose dev score each
    layer's probe kept (lowest - highest over layers and probe seeds), the mix's (mean of probe
    seeds), and the epochs run, against the cap (``structural_cap`` for the structural probe, which
    records no epochs: a dash); plus the training and dev targets. Counts are whole numbers.

    >>> layers = pd.DataFrame({"model": "pre-trained", "probe": ["upos", "upos", "structural"], "n_train": 90,
    ...                        "n_dev": 10, "best_epoch": [3.0, 4.0, float("nan")], "epochs": [4.0, 4.0, float("nan")]})
    >>> mixes = pd.DataFrame({"model": ["pre-trained"], "probe": ["upos"], "best_epoch": [3.5]})
    >>> table = training_table(layers, mixes, cap=4, structural_cap=10)
    >>> table.loc["structural"].tolist(), table.loc["upos"].tolist()
    (['90 + 10 sentences', '–', '–', '–', 10], ['90 + 10', '3-4', '3.5', '4', 4])
    """
    pre = layers[layers.model == "pre-trained"]
    mix = mixes[mixes.model == "pre-trained"].set_index("probe")
    rows = []
    for probe, group in pre.groupby("probe", sort=False):
        unit = " sentences" if probe == "structural" else ""
        targets = f"{int(group.n_train.iloc[0]):,} + {int(group.n_dev.iloc[0]):,}{unit}"
        row = {"probe": probe, "train + dev targets": targets,
               "best epoch (layers)": DASH, "best epoch (mix, mean of seeds)": DASH, "epochs run": DASH,
               "cap": structural_cap if probe == "structural" and structural_cap else cap}
        if "best_epoch" in group and group.best_epoch.notna().any():
            row.update({"best epoch (layers)": f"{group.best_epoch.min():.0f}-{group.best_epoch.max():.0f}",
                        "best epoch (mix, mean of seeds)": f"{mix.best_epoch.get(probe):.1f}",
                        "epochs run": str(int(group.epochs.max()))})
        rows.append(row)
    return pd.DataFrame(rows).set_index("probe").astype({"cap": object})


DASH = "–"  # a cell that does not apply


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
        **layer_readings(by_layer),
    }


def layer_readings(by_layer: pd.DataFrame) -> dict:
    """What the cells that drop or gain beyond their floor say, as sentences: how many drops sit in
    the upper half of the model (``drops_reading``) and which task gains most (``gains_reading``);
    ``by_layer``: :func:`lib.experiments.findings.forgetting_by_layer`.

    >>> by_layer = pd.DataFrame({"task": ["nli", "nli", "parsing", "parsing"], "probe": "upos", "layer": [1, 4, 3, 4],
    ...                          "dropped": [False, True, False, False], "gained": [False, False, True, True]})
    >>> r = layer_readings(by_layer)
    >>> r["drops_reading"]
    '1 of them sits in the upper half of the model (layers 3 to 4), where the paper expects a task to act'
    >>> r["gains_reading"]
    'parsing gains in 2 cells (upos), nli in none'
    """
    top = int(by_layer.layer.max())
    upper = by_layer.layer > top / 2
    drops = by_layer[by_layer.dropped]
    first = int(by_layer.layer[upper].min()) if upper.any() else top
    n_upper = int(upper[by_layer.dropped].sum())
    readings = {"drops_reading": (f"{n_upper} of them {'sits' if n_upper == 1 else 'sit'} in the upper half of the "
                                  f"model (layers {first} to {top}), where the paper expects a task to act")
                if len(drops) else "No layer loses what it knew"}
    gains = by_layer.groupby("task").gained.sum().sort_values(ascending=False, kind="stable")
    parts = []
    for i, (task, n) in enumerate(gains.items()):
        probes = ", ".join(sorted(set(by_layer[(by_layer.task == task) & by_layer.gained].probe)))
        count = f"{int(n)} cell{'s' if n != 1 else ''}" if n else "none"
        parts.append(f"{task} gains in {count}" + (f" ({probes})" if n else "") if i == 0
                     else f"{task} in {count}" + (f" ({probes})" if n else ""))
    readings["gains_reading"] = ", ".join(parts) if gains.sum() else "none of the tasks gains beyond its floor"
    return readings


def mix_phrases(mixes: pd.DataFrame) -> dict:
    """The probes in order of the pre-trained model's expected layer, and the (task, probe) whose
    all-layer mix moved its center of gravity up most after fine-tuning (mean of seeds; the
    expected layer needs the cumulative mixes, which only the pre-trained encoder gets)."""
    pre = mixes[mixes.model == "pre-trained"].set_index("probe")
    tuned = mixes[mixes.model != "pre-trained"].groupby(["model", "probe"]).center_of_gravity.mean()
    moved = tuned - pre.center_of_gravity.reindex(tuned.index.get_level_values("probe")).values
    top_move = moved.dropna().idxmax() if moved.notna().any() else None
    return {
        "order": ", ".join(f"{p} ({v:.2f})" for p, v in pre.expected_layer.dropna().sort_values().items()),
        "top_move_what": "none" if top_move is None else f"{top_move[0]} {top_move[1]}",
        "top_move": 0.0 if top_move is None else float(moved[top_move]),
    }


def facts(layers: pd.DataFrame, mixes: pd.DataFrame, forgot: pd.DataFrame) -> dict:
    """The values chapter 3's prose cites, by glue name.

    >>> layers = pd.DataFrame({"model": ["pre-trained", "nli", "nli"], "seed": ["-", "0", "1"], "probe": "upos",
    ...                        "layer": 0, "score": [0.90, 0.80, 0.82]})
    >>> mixes = pd.DataFrame({"model": ["pre-trained", "nli", "nli"], "seed": ["-", "0", "1"], "probe": "upos",
    ...                       "expected_layer": [2.0, None, None], "center_of_gravity": [2.0, 2.5, 3.5]})
    >>> f = facts(layers, mixes, findings.forgetting(layers))
    >>> f["n_forgot"], f["drops_where"], f["order"], f["top_move_what"], f["top_move"]
    (1, 'nli upos at layer 0', 'upos (2.00)', 'nli upos', 1.0)
    """
    mixes = mixes[mixes.probe.isin(layers.probe.unique())]  # the informative probes only, as ``layers``
    return {**forgetting_phrases(forgot, findings.forgetting_by_layer(layers)), **mix_phrases(mixes)}


def baseline_facts(baselines: pd.DataFrame) -> dict:
    """What chapter 3 says of its baselines (:func:`baseline_table`): the all-layer mix against
    the best layer (within the larger of their probe-seed ranges), the probes that are not
    informative, and coreference's F1 beside its constant baseline.

    >>> table = pd.DataFrame({"score": [0.9, 0.3], "probe-seed range": [0.01, 0.02], "all-layer mix": [0.905, 0.25],
    ...                       "mix range": [0.0, 0.01], "majority": [0.1, 0.28], "informative": [True, False]},
    ...                      index=pd.Index(["upos", "coreference"], name="probe"))
    >>> f = baseline_facts(table)
    >>> f["n_mix_reaches"], f["mix_short"], f["uninformative"]
    (1, 'coreference (-0.050)', 'coreference')
    """
    noise = baselines[["probe-seed range", "mix range"]].max(axis=1).fillna(0)
    gap = baselines["all-layer mix"] - baselines.score
    short = gap[gap < -noise]
    dropped = baselines.index[~baselines.informative.astype(bool)].tolist()
    facts = {"n_mix_reaches": int((gap >= -noise).sum()), "n_probes": len(baselines),
             "informative_margin": INFORMATIVE_MARGIN,
             "mix_short": "; ".join(f"{p} ({g:+.3f})" for p, g in short.items()) or "none",
             "mix_gap_low": float(gap.min()), "mix_gap_high": float(gap.max()),
             "uninformative": ", ".join(dropped) or "none"}
    if "coreference" in baselines.index:
        coref = baselines.loc["coreference"]
        facts.update(coref_score=float(coref.score), coref_majority=float(coref.majority),
                     coref_reading="It is informative: it beats that baseline by a clear margin, and stays in the "
                                   "verdicts." if coref.informative else
                                   "Its best layer does not beat that baseline by a clear margin: the probe is "
                                   "uninformative here, and this chapter and the verdicts leave it out.")
    return facts


def shared_facts(forgot: pd.DataFrame) -> dict:
    """The change at the best layer per (task, probe), which chapter 7 states too.

    >>> shared_facts(pd.DataFrame({"task": ["nli"], "probe": ["upos"], "change": [-0.0001]}))
    {'best_change.nli.upos': 0.0}
    """
    return {f"best_change.{r.task}.{r.probe}": round(r.change, 3) + 0.0 for r in forgot.itertuples()}
