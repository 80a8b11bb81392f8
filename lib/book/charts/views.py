"""Each chapter's charts: the chapter's tidy table shaped for its one chart (a filter, a mean over
seeds, a melt, a label column) and drawn with :mod:`lib.book.charts.base`; the chapter keeps the
question (title, subtitle) and its axis labels."""
from __future__ import annotations

import altair as alt
import pandas as pd

from lib.book.charts.base import dots, floor_lines, layer_band, layer_lines, line_chart, seed_lines
from lib.book.takeaways.ablation import main_chance, main_scores, mean_scores
from lib.book.takeaways.shift import domain_label
from lib.experiments import share_lost


# Chapters 1-4
def metric_lines(layers: pd.DataFrame, metric: str, title: str, subtitle: str, y_title: str,
                 tooltip_extra: tuple[str, ...] = ()) -> alt.Chart:
    """One metric of :func:`lib.encoders.describe_layers` (chapter 1) by layer, one line per model."""
    return layer_lines(layers[layers.metric == metric], y="value", color="model", title=title, subtitle=subtitle,
                       y_title=y_title, tooltip_extra=tooltip_extra)


def seed_mean_lines(table: pd.DataFrame, y: str, color: str, title: str, subtitle: str,
                    y_title: str | None = None) -> alt.Chart:
    """The mean of ``y`` over seeds by layer, one line per ``color`` group (chapter 2's weight change)."""
    return layer_lines(table.groupby([color, "layer"], as_index=False)[y].mean(), y=y, color=color, title=title,
                       subtitle=subtitle, y_title=y_title)


def difference_band(layers: pd.DataFrame, title: str, subtitle: str, y_title: str,
                    default: str | None = None) -> alt.Chart:
    """Chapter 3's probe score of each fine-tuned model minus the pre-trained one, layer by layer:
    the mean over seeds as a line, their range as a band; choose the probe (``default`` first)."""
    pre = layers[layers.model == "pre-trained"][["probe", "layer", "score"]].rename(columns={"score": "pre_trained"})
    diffs = layers[layers.model != "pre-trained"].merge(pre, on=["probe", "layer"])
    diffs = diffs.assign(difference=diffs.score - diffs.pre_trained)
    spread = diffs.groupby(["model", "probe", "layer"], as_index=False).difference.agg(["mean", "min", "max"])
    return layer_band(spread, y="mean", low="min", high="max", color="model", choose="probe", default=default,
                      title=title, subtitle=subtitle, y_title=y_title)


MIX_MEASURES = {"expected_layer": "E_delta, the expected layer", "center_of_gravity": "center of gravity"}


BASELINES = {"linear": "pre-trained, linear probe", "majority": "majority class", "linear_chain": "linear-chain tree"}


def baseline_lines(layers: pd.DataFrame, control: pd.DataFrame, title: str, subtitle: str, y_title: str,
                   default: str | None = None) -> alt.Chart:
    """Chapter 3's pre-trained probe score by layer (mean of probe seeds) beside its baselines:
    the random-init encoder's, the linear probe's (at its layers), the majority class and the
    linear-chain tree (flat lines); choose the probe (``default`` first)."""
    pre = layers[layers.model == "pre-trained"]
    parts = [pre.assign(series="pre-trained, MLP probe"), control.assign(series="random-init encoder, MLP probe")]
    parts += [pre.assign(score=pre[column], series=name) for column, name in BASELINES.items() if column in pre]
    table = pd.concat([part[["probe", "layer", "score", "series"]] for part in parts]).dropna(subset=["score"])
    return layer_lines(table, y="score", color="series", choose="probe", default=default, title=title,
                       subtitle=subtitle, y_title=y_title)


def mix_dots(mixes: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """Chapter 3's scalar mixes: each probe's expected layer and center of gravity, one point per
    model and seed; choose the measure (the expected layer first)."""
    where = mixes.melt(id_vars=["model", "seed", "probe"], value_vars=list(MIX_MEASURES), var_name="measure",
                       value_name="layer")
    where["measure"] = where.measure.map(MIX_MEASURES)
    return dots(where.dropna(), x="layer", y="probe", color="model", choose="measure", title=title, subtitle=subtitle,
                x_title="layer", default=MIX_MEASURES["expected_layer"])


def cumulative_lines(mixes: pd.DataFrame, title: str, subtitle: str, y_title: str) -> alt.Chart:
    """Chapter 3's score of the scalar mix of layers 0..l (columns ``cumulative_<l>``) by layer,
    mean over seeds, one line per model; choose the probe."""
    columns = [c for c in mixes if c.startswith("cumulative_")]
    cumulative = mixes.melt(id_vars=["model", "seed", "probe"], value_vars=columns, var_name="layer",
                            value_name="mix score")
    cumulative["layer"] = cumulative.layer.str.removeprefix("cumulative_").astype(int)
    return layer_lines(cumulative.groupby(["model", "probe", "layer"], as_index=False)["mix score"].mean(),
                       y="mix score", color="model", choose="probe", title=title, subtitle=subtitle, y_title=y_title)


def measure_floor_lines(similarity: pd.DataFrame, title: str, subtitle: str, y_title: str,
                        default: str | None = None) -> alt.Chart:
    """Chapter 4's similarity of each layer with its pre-trained self and its seed floor, one line per
    task; choose the measure and text (``"RSA · own text"``); debiased CKA left out."""
    view = similarity[similarity.measure != "cka_debiased"]
    view = view.assign(view=view.measure.str.upper() + " · " + view.text)
    return floor_lines(view, y="value", floor="seed_floor", color="task", choose="view", title=title,
                       subtitle=subtitle, y_title=y_title, default=default)


def standardising_lines(raw: pd.DataFrame, standard: pd.DataFrame, title: str, subtitle: str,
                        y_title: str) -> alt.Chart:
    """Chapter 4's RSA on the task's own text with raw and with standardised vectors (and their
    seed floors), one line per view; choose the task."""
    views = pd.concat([raw.assign(view="raw cosine"), standard.assign(view="standardised")])
    views = views[(views.measure == "rsa") & (views.inputs == "own")]
    return floor_lines(views, y="value", floor="seed_floor", color="view", choose="task", title=title,
                       subtitle=subtitle, y_title=y_title)


# Chapters 5-7

def freezing_losses(ablation: pd.DataFrame, chance: pd.Series, title: str, subtitle: str) -> alt.Chart:
    """The share of the full fine-tune's score above chance lost (:func:`lib.share_lost`) per frozen
    boundary k, a line per task; ``ablation`` from :func:`lib.ablation_table`, ``chance`` per
    (task, metric)."""

    main = main_scores(ablation)
    frozen = main[main.experiment == "freezing"]
    frozen = frozen.assign(lost=share_lost(frozen, main_chance(chance)))
    top, n_layers = int(frozen.k.max()), int(main[main.experiment != "freezing"].k.max())
    return seed_lines(frozen, x="k", y="lost", color="task", title=title, subtitle=subtitle,
                      x_title="frozen: embeddings and layers 1..k", y_title="share lost",
                      marks={0: "full fine-tune", top: "frozen encoder" if top == n_layers else f"k = {top}"})


def restored_scores(ablation: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """The test score of the fine-tuned models with their bottom (0..k) or top (k+1..L) layers
    restored to the pre-trained weights, per boundary k; choose the task."""

    main = main_scores(ablation)
    restored = main[main.experiment != "freezing"].replace(
        {"experiment": {"restore_bottom": "pre-trained bottom (0..k)", "restore_top": "pre-trained top (k+1..L)"}})
    n_layers = int(restored.k.max())  # restoring runs k = 0..L
    return seed_lines(restored, x="k", y="value", color="experiment", choose="task", title=title, subtitle=subtitle,
                      x_title="boundary k", y_title="test score",
                      marks={0: "bottom: nothing restored", n_layers: "top: nothing restored"})


def _task_measure(similarity: pd.DataFrame) -> pd.DataFrame:
    """``similarity`` with the column ``view``, such as "nli · rsa", that a chart's menu chooses."""
    return similarity.assign(view=similarity.task + " · " + similarity.measure)


def domain_layers(similarity: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """Similarity with the pre-trained model by layer, a line per domain (column ``"domain "``);
    choose the task and measure (opening on the first task's RSA)."""
    view = _task_measure(similarity)
    return layer_lines(view, y="value", color="domain ", choose="view", title=title, subtitle=subtitle,
                       y_title="similarity", tooltip_extra=("seed_floor",), default=f"{view.task.iloc[0]} · rsa")


def domain_change(similarity: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """The change at the last layer (1 - similarity) per domain, in-domain and out of domain
    coloured apart; choose the task and measure."""
    view = _task_measure(similarity)
    top = view[view.layer == view.layer.max()]
    top = top.assign(change=1 - top.value, sentences=top.in_domain.map({True: "in-domain", False: "out of domain"}))
    return dots(top[["view", "domain", "sentences", "seed_floor", "change"]], x="change", y="domain",
                color="sentences", choose="view", title=title, subtitle=subtitle,
                x_title="change at the last layer (1 - similarity)", default=f"{view.task.iloc[0]} · rsa")


def domain_scores(scores: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """One dot per seed: the test score per domain and metric; choose the task (opening on parsing)."""

    shown = scores.assign(domain=domain_label(scores) + " · " + scores.metric)
    return dots(shown, x="value", y="domain", color="seed", choose="task", title=title, subtitle=subtitle,
                x_title="test score", default="parsing" if "parsing" in set(shown.task) else None)


def change_by_layer(similarity: pd.DataFrame, title: str, subtitle: str, measure: str = "rsa",
                    inputs: str = "own") -> alt.Chart:
    """1 - ``measure`` between the pre-trained and the fine-tuned model by layer, on ``inputs``,
    mean of seeds, a line per task; ``similarity`` from :func:`lib.similarity_table`."""
    change = similarity[(similarity.measure == measure) & (similarity.inputs == inputs)]
    change = change.assign(value=1 - change.value)
    return layer_lines(change.groupby(["task", "layer"], as_index=False).value.mean(), y="value", color="task",
                       title=title, subtitle=subtitle, y_title=f"change (1 - {measure.upper()})")


def losses_by_boundary(ablation: pd.DataFrame, chance: pd.Series, title: str, subtitle: str) -> alt.Chart:
    """The share of the score above chance lost at boundary k (mean of seeds), by freezing 0..k
    and by restoring k+1..L; choose the task."""

    means = mean_scores(ablation)
    losses = means.assign(value=share_lost(means, main_chance(chance)),
                          evidence=means.experiment.map({"freezing": "freezing (0..k frozen)",
                                                         "restore_top": "restoring (k+1..L restored)"}))
    return line_chart(losses.dropna(subset="evidence"), x="k:O", y="value", color="evidence", choose="task",
                      title=title, subtitle=subtitle, x_title="boundary k",
                      y_title="share of the score above chance lost")


def pca_panels(table: pd.DataFrame, title: str, subtitle: str, panel_width: int = 300) -> alt.FacetChart:
    """:func:`lib.experiments.pca.pca_table` as one scatter per model, side by side, each word
    coloured by its part of speech (the same colours in both panels), the word and its POS in the
    tooltip; each panel keeps its own axes (each is its own PCA). Vega-Lite sizes a faceted chart
    per panel (``width="container"`` is for single views), hence ``panel_width``."""
    view = table.assign(panel=[f"{m} (PC1+PC2: {v:.0%} of the variance)" for m, v in zip(table.model, table.variance)],
                        pc1=table.pc1.round(3), pc2=table.pc2.round(3)).drop(columns="variance")
    tags = sorted(view.upos.unique())
    points = alt.Chart(view).mark_circle(size=38, opacity=0.75).encode(
        x=alt.X("pc1:Q", title="PC1", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("pc2:Q", title="PC2", axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color("upos:N", title="part of speech (gold)", scale=alt.Scale(domain=tags, scheme="tableau20")),
        tooltip=[alt.Tooltip("word:N"), alt.Tooltip("upos:N", title="part of speech"), alt.Tooltip("model:N"),
                 alt.Tooltip("layer:O")],
    ).properties(width=panel_width, height=panel_width)
    return points.facet(column=alt.Column("panel:N", title=None, sort=list(dict.fromkeys(view.panel))),
                        title=alt.Title(title, subtitle=subtitle)).resolve_scale(x="independent", y="independent")


__all__ = ["BASELINES", "MIX_MEASURES", "baseline_lines", "change_by_layer", "cumulative_lines", "difference_band", "domain_change",
           "domain_layers", "domain_scores", "freezing_losses", "losses_by_boundary", "measure_floor_lines",
           "metric_lines", "mix_dots", "pca_panels", "restored_scores", "seed_mean_lines", "standardising_lines"]
