"""Each chapter's charts: the chapter's tidy table shaped for its one chart (a filter, a mean over
seeds, a melt, a label column) and drawn with :mod:`lib.book.charts.base` or as small multiples
(:mod:`lib.book.charts.panels`); the chapter keeps the question (title, subtitle) and its axis labels."""
from __future__ import annotations

import textwrap

import altair as alt
import pandas as pd

from lib.book.charts.base import color_encoding, faded, highlight, layer_lines, seed_lines
from lib.book.charts.panels import (SCORE, from_zero, panel_differences, panel_dots, panel_floor_lines, panel_heatmaps,
                                    panel_lines, panel_seed_lines, score_domain)
from lib.book.takeaways.ablation import main_chance, main_scores, mean_scores
from lib.experiments import findings, share_lost


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
                    order: list | None = None) -> alt.Chart:
    """Chapter 3's probe score of each fine-tuned model minus the pre-trained one, layer by layer,
    one panel per probe (in ``order``): the mean over seeds as a line, their range as a band, and
    the tolerance below which a change is no change (:data:`lib.experiments.findings.TOLERANCE`)
    as a grey band around 0, on one y axis centred on 0."""
    pre = layers[layers.model == "pre-trained"][["probe", "layer", "score"]].rename(columns={"score": "pre_trained"})
    diffs = layers[layers.model != "pre-trained"].merge(pre, on=["probe", "layer"])
    diffs = diffs.assign(difference=diffs.score - diffs.pre_trained)
    spread = diffs.groupby(["model", "probe", "layer"], as_index=False).difference.agg(["mean", "min", "max"])
    return panel_differences(spread, color="model", facet="probe", order=order, noise=findings.TOLERANCE,
                             title=title, subtitle=subtitle, y_title=y_title)


def score_panels(layers: pd.DataFrame, title: str, subtitle: str, y_title: str, y: str = "score",
                 order: list | None = None, domain: tuple[float, float] = SCORE) -> alt.Chart:
    """Chapter 3's ``y`` (a probe score, or its selectivity) by layer, a line per model (fine-tuned:
    mean of seeds, the band their range), one panel per probe on a fixed axis (``domain``)."""
    spread = layers.dropna(subset=[y]).groupby(["model", "probe", "layer"], as_index=False)[y].agg(
        ["mean", "min", "max"]).rename(columns={"mean": y, "min": "lowest_seed", "max": "highest_seed"})
    return panel_lines(spread, y=y, color="model", facet="probe", order=order, domain=domain, low="lowest_seed",
                       high="highest_seed", title=title, subtitle=subtitle, y_title=y_title)


MIX_MEASURES = {"expected_layer": "E_delta, the expected layer", "center_of_gravity": "center of gravity"}


BASELINES = {"linear": "pre-trained, linear probe", "majority": "majority class", "linear_chain": "linear-chain tree"}


def baseline_lines(layers: pd.DataFrame, control: pd.DataFrame, title: str, subtitle: str, y_title: str,
                   order: list | None = None) -> alt.Chart:
    """Chapter 3's pre-trained probe score by layer (mean of probe seeds) beside its baselines:
    the random-init encoder's, the linear probe's (at its layers), the majority class and the
    linear-chain tree (flat lines); one panel per probe (in ``order``), scores on [0, 1]."""
    pre = layers[layers.model == "pre-trained"]
    parts = [pre.assign(series="pre-trained, MLP probe"), control.assign(series="random-init encoder, MLP probe")]
    parts += [pre.assign(score=pre[column], series=name) for column, name in BASELINES.items() if column in pre]
    table = pd.concat([part[["probe", "layer", "score", "series"]] for part in parts]).dropna(subset=["score"])
    return panel_lines(table, y="score", color="series", facet="probe", order=order, title=title,
                       subtitle=subtitle, y_title=y_title)


def mix_dots(mixes: pd.DataFrame, title: str, subtitle: str, order: list | None = None) -> alt.Chart:
    """Chapter 3's scalar mixes: each probe's expected layer and center of gravity side by side,
    one point per model and seed, on the model's whole depth (0..L)."""
    where = mixes.melt(id_vars=["model", "seed", "probe"], value_vars=list(MIX_MEASURES), var_name="measure",
                       value_name="layer")
    where["measure"] = where.measure.map(MIX_MEASURES)
    n_layers = len([c for c in mixes if c.startswith("weight_")]) - 1
    return panel_dots(where.dropna(), x="layer", y="probe", color="model", column="measure", title=title,
                      subtitle=subtitle, x_title="layer", domain=(0, n_layers), order=order)


def cumulative_lines(mixes: pd.DataFrame, title: str, subtitle: str, y_title: str,
                     order: list | None = None) -> alt.Chart:
    """Chapter 3's score of the scalar mix of layers 0..l (columns ``cumulative_<l>``) by layer,
    mean over seeds (band: their range), one line per model, one panel per probe on [0, 1]."""
    columns = [c for c in mixes if c.startswith("cumulative_")]
    cumulative = mixes.melt(id_vars=["model", "seed", "probe"], value_vars=columns, var_name="layer",
                            value_name="mix score")
    cumulative["layer"] = cumulative.layer.str.removeprefix("cumulative_").astype(int)
    return score_panels(cumulative.rename(columns={"mix score": "mix_score"}), y="mix_score", order=order,
                        title=title, subtitle=subtitle, y_title=y_title)


SEED_RANGE = (("value_min", "lowest seed"), ("value_max", "highest seed"))


def measure_floor_lines(similarity: pd.DataFrame, title: str, subtitle: str, y_title: str) -> alt.Chart:
    """Chapter 4's similarity of each layer with its pre-trained self (solid) and its seed floor
    (dashed), a line per task, one panel per measure (RSA, CKA: columns) and text (``text``: rows,
    in the table's order); debiased CKA left out; y on [0, 1] (lower where a similarity is negative)."""
    view = similarity[similarity.measure != "cka_debiased"]
    view = view.assign(view=view.measure.str.upper() + " · " + view.text)
    order = [f"{m} · {t}" for t in dict.fromkeys(view.text) for m in ("RSA", "CKA")]
    domain = score_domain(pd.concat([view.value, view.seed_floor]).dropna())
    return panel_floor_lines(view, y="value", floor="seed_floor", color="task", facet="view", order=order,
                             domain=domain, title=title, subtitle=subtitle, y_title=y_title, tooltip_extra=SEED_RANGE)


def standardising_lines(raw: pd.DataFrame, standard: pd.DataFrame, title: str, subtitle: str,
                        y_title: str, tasks: list | None = None) -> alt.Chart:
    """Chapter 4's RSA on the task's own text with raw and with standardised vectors (solid) and
    their seed floors (dashed), a line per view, one panel per task (in ``tasks``)."""
    views = pd.concat([raw.assign(view="raw cosine"), standard.assign(view="standardised")])
    views = views[(views.measure == "rsa") & (views.inputs == "own")]
    domain = score_domain(pd.concat([views.value, views.seed_floor]).dropna())
    return panel_floor_lines(views, y="value", floor="seed_floor", color="view", facet="task", order=tasks,
                             columns=3, domain=domain, title=title, subtitle=subtitle, y_title=y_title,
                             tooltip_extra=SEED_RANGE)


def matrix_panels(matrices: pd.DataFrame, title: str, subtitle: str, tasks: list | None = None) -> alt.Chart:
    """Chapter 4's layer-by-layer similarity of the pre-trained and a fine-tuned model, one matrix per
    task (rows, in ``tasks``) and measure (columns); ``matrices``: (layer_x, layer_y, similarity,
    task, measure), layer_x the pre-trained layer; colours on [0, 1]."""
    table = matrices.assign(measure=matrices.measure.str.upper())
    return panel_heatmaps(table, x="layer_x", y="layer_y", value="similarity", row="task", column="measure",
                          rows=tasks, columns=["RSA", "CKA"], domain=score_domain(table.similarity), title=title,
                          subtitle=subtitle, x_title="pre-trained layer", y_title="fine-tuned layer")


def module_panels(by_module: pd.DataFrame, title: str, subtitle: str, y_title: str,
                  tasks: list | None = None) -> alt.Chart:
    """Chapter 2's relative change of each module type by layer (``relative_change``), a line per
    module, one panel per task (in ``tasks``) on one y axis from 0 that holds every value."""
    return panel_lines(by_module, y="relative_change", color="module", facet="task", order=tasks,
                       domain=from_zero(by_module.relative_change), title=title, subtitle=subtitle, y_title=y_title)


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


RESTORED = {"restore_bottom": "pre-trained bottom (0..k), k = 0: nothing restored",
            "restore_top": "pre-trained top (k+1..L), k = L: nothing restored"}


def restored_scores(ablation: pd.DataFrame, chance: pd.Series, title: str, subtitle: str,
                    tasks: list | None = None) -> alt.Chart:
    """The test score of the fine-tuned models with their bottom (0..k) or top (k+1..L) layers
    restored to the pre-trained weights, per boundary k, one panel per task (in ``tasks``) on
    [0, 1] with the task's chance score (``chance`` per (task, metric)) as a dashed rule; the legend
    names the end of each line where nothing is restored."""

    main = main_scores(ablation)
    restored = main[main.experiment != "freezing"].replace({"experiment": RESTORED})
    restored = restored.assign(chance=restored.task.map(main_chance(chance)))
    return panel_seed_lines(restored, x="k", y="value", color="experiment", facet="task", order=tasks, title=title,
                            subtitle=subtitle, x_title="boundary k", y_title="test score", reference="chance")


def change_by_layer(similarity: pd.DataFrame, title: str, subtitle: str, measure: str = "rsa",
                    inputs: str = "own", tasks: list | None = None) -> alt.Chart:
    """1 - ``measure`` between the pre-trained and the fine-tuned model by layer, on ``inputs``: the
    mean of seeds as a line (their range as a band), one panel per task (in ``tasks``) on [0, 1],
    and as a grey band what two fine-tuning seeds alone change, 1 - seed floor; ``similarity``
    from :func:`lib.similarity_table`."""
    part = similarity[(similarity.measure == measure) & (similarity.inputs == inputs)]
    change = part[["task", "layer"]].assign(change=1 - part.value, lowest_seed=1 - part.value_max,
                                           highest_seed=1 - part.value_min, seed_noise=1 - part.seed_floor)
    return panel_lines(change, y="change", color="task", facet="task", order=tasks, low="lowest_seed",
                       high="highest_seed", tooltip_extra=("seed_noise",), noise="seed_noise",
                       noise_title="two seeds apart (1 - seed floor)", title=title, subtitle=subtitle,
                       domain=(0.0, max(1.0, float(change.change.max()))), y_title=f"change (1 - {measure.upper()})")


def losses_by_boundary(ablation: pd.DataFrame, chance: pd.Series, title: str, subtitle: str) -> alt.Chart:
    """The share of the score above chance lost (mean of seeds), a line per task, on two panels
    with x axes of their own: freezing layers 0..k during fine-tuning, and restoring the
    pre-trained weights into layers k+1..L after it; one y axis for both."""
    means = mean_scores(ablation)
    losses = means.assign(value=share_lost(means, main_chance(chance)))
    n_layers = int(means.k.max())
    pick = highlight("task")
    y = alt.Y("value:Q", title="share of the score above chance lost",
              scale=alt.Scale(domain=[min(0.0, float(losses.value.min())), max(1.0, float(losses.value.max()))]))
    panels = []
    for experiment, x_title, keep in (("freezing", "frozen during fine-tuning: layers 0..k", range(n_layers + 1)),
                                      ("restore_top", "restored afterwards: layers k+1..L", range(n_layers))):
        part = losses[(losses.experiment == experiment) & losses.k.isin(list(keep))]
        tips = [alt.Tooltip("task:N"), alt.Tooltip("k:O"), alt.Tooltip("value:Q", title="share lost", format=".3f")]
        panels.append(alt.Chart(part).mark_line(point=True).encode(
            x=alt.X("k:O", title=x_title, axis=alt.Axis(labelAngle=0)), y=y, color=color_encoding(losses, "task"),
            opacity=faded(pick), tooltip=tips).properties(width=260, height=200))
    panels[0] = panels[0].add_params(pick)  # one selection, read by both panels
    return alt.hconcat(*panels, title=alt.Title(title, subtitle=subtitle)).resolve_scale(y="shared")


VERDICT_COLORS = {"reproduced": "#4f9a6e", "inconclusive": "#9a9a9a", "not reproduced": "#d1495b"}


def verdict_panels(units: pd.DataFrame, title: str, subtitle: str, columns: int = 1, width: int = 260) -> alt.Chart:
    """One small chart per finding, ``columns`` a row and ``width`` px wide (its labels beside it):
    each unit's estimate and interval (``estimate``, ``low``, ``high``), coloured by its verdict,
    against the finding's threshold (a rule); ``units`` from
    :func:`lib.takeaways.verdicts.verdict_units` (columns ``finding``, ``unit``, ``threshold``,
    ``measure``, ``verdict``), or one row a finding (:func:`lib.takeaways.verdicts.weakest_units`)."""
    color = alt.Color("verdict:N", title="verdict", scale=alt.Scale(domain=list(VERDICT_COLORS),
                                                                   range=list(VERDICT_COLORS.values())))
    pick = highlight("verdict")
    charts = []
    for finding, part in units.groupby("finding", sort=False):
        base = alt.Chart(part, title=alt.Title(finding, fontSize=12)).encode(
            # whole labels ("freezing, gain over frozen: parser vs sentiment"), the plots aligned
            y=alt.Y("unit:N", title=None, sort=None, axis=alt.Axis(labelLimit=290, minExtent=290)))
        tips = [alt.Tooltip("unit:N"), alt.Tooltip("estimate:Q", format=".3f"), alt.Tooltip("low:Q", format=".3f"),
                alt.Tooltip("high:Q", format=".3f"), alt.Tooltip("verdict:N")]
        bar = base.mark_rule(strokeWidth=2).encode(
            x=alt.X("low:Q", title=textwrap.wrap(part.measure.iloc[0], 24), scale=alt.Scale(zero=True)), x2="high:Q",
            color=color, opacity=faded(pick))
        dot = base.mark_point(size=50, filled=True).encode(x="estimate:Q", color=color, opacity=faded(pick),
                                                           tooltip=tips)
        rule = alt.Chart(part.head(1)).mark_rule(color="#333", strokeDash=[4, 3]).encode(x="threshold:Q")
        charts.append(alt.layer(rule, bar, dot).properties(width=width, height=alt.Step(14)))
    charts[0] = charts[0].add_params(pick)  # one selection, read by every panel
    rows = [alt.hconcat(*charts[i:i + columns]) for i in range(0, len(charts), columns)]
    return alt.vconcat(*rows, title=alt.Title(title, subtitle=subtitle)).resolve_scale(color="shared")


def pca_panels(table: pd.DataFrame, title: str, subtitle: str, panel_width: int = 300) -> alt.FacetChart:
    """:func:`lib.experiments.pca.pca_table` as one scatter per model, side by side, each word
    coloured by its part of speech (the same colours in both panels), the word and its POS in the
    tooltip; each panel keeps its own axes (each is its own PCA). Vega-Lite sizes a faceted chart
    per panel (``width="container"`` is for single views), hence ``panel_width``."""
    view = table.assign(panel=[f"{m} (PC1+PC2: {v:.0%} of the variance)" for m, v in zip(table.model, table.variance)],
                        pc1=table.pc1.round(3), pc2=table.pc2.round(3)).drop(columns="variance")
    tags = sorted(view.upos.unique())
    pick = highlight("upos")
    points = alt.Chart(view).mark_circle(size=38).encode(
        x=alt.X("pc1:Q", title="PC1", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("pc2:Q", title="PC2", axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color("upos:N", title="part of speech (gold)", scale=alt.Scale(domain=tags, scheme="tableau20")),
        opacity=alt.condition(pick, alt.value(0.75), alt.value(0.06)),
        tooltip=[alt.Tooltip("word:N"), alt.Tooltip("upos:N", title="part of speech"), alt.Tooltip("model:N"),
                 alt.Tooltip("layer:O")],
    ).add_params(pick).properties(width=panel_width, height=panel_width)
    return points.facet(column=alt.Column("panel:N", title=None, sort=list(dict.fromkeys(view.panel))),
                        title=alt.Title(title, subtitle=subtitle)).resolve_scale(x="independent", y="independent")


__all__ = ["BASELINES", "MIX_MEASURES", "RESTORED", "SEED_RANGE", "VERDICT_COLORS", "baseline_lines", "change_by_layer",
           "cumulative_lines", "difference_band", "freezing_losses", "losses_by_boundary", "matrix_panels",
           "measure_floor_lines", "metric_lines", "mix_dots", "module_panels", "pca_panels", "restored_scores",
           "score_panels", "seed_mean_lines", "standardising_lines", "verdict_panels"]
