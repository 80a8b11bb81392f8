"""Each chapter's charts: the chapter's tidy table shaped for its one chart (a filter, a mean over
seeds, a melt, a label column) and drawn with :mod:`lib.book.charts.base`; the chapter keeps the
question (title, subtitle) and its axis labels."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from lib.book.charts.base import (color_encoding, color_of, dots, faded, floor_lines, highlight, layer_lines,
                                  line_chart, seed_lines)
from lib.book.charts.panels import LAYER, SCORE, panel_differences, panel_dots, panel_lines
from lib.book.takeaways.ablation import main_chance, main_scores, mean_scores
from lib.book.takeaways.shift import domain_label
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


def _in_domain_lines(similarity: pd.DataFrame) -> pd.DataFrame:
    """``similarity`` with ``line``: "<task>: in-domain" (the task's colour) or "other domains" (grey),
    and ``measure`` upper-cased."""
    return similarity.assign(line=[f"{t}: in-domain" if own else OTHER_DOMAINS
                                   for t, own in zip(similarity.task, similarity.in_domain)],
                             measure=similarity.measure.str.upper())


OTHER_DOMAINS = "other domains"


def _line_colors(table: pd.DataFrame) -> alt.Color:
    values = sorted(set(table.line) - {OTHER_DOMAINS}) + [OTHER_DOMAINS]
    return alt.Color("line:N", title=None, legend=alt.Legend(columns=2), scale=alt.Scale(domain=values, range=[
        color_of(v) or "#b0b0b0" if v != OTHER_DOMAINS else "#b0b0b0" for v in values]))


def domain_layers(similarity: pd.DataFrame, title: str, subtitle: str, tasks: list | None = None) -> alt.Chart:
    """Similarity with the pre-trained model by layer, one panel per task (rows, in ``tasks``) and
    measure (columns): the in-domain line in the task's colour and labelled, every other domain a
    thin grey line, and the seed floor (its range over the domains) as a grey band; y on [0, 1]."""
    table = _in_domain_lines(similarity)
    own = table[table.in_domain].groupby("task").domain.nunique()
    table = table.assign(alone=table.task.map(own).eq(1),  # the one in-domain domain is labelled
                         front=table.in_domain.astype(int))  # and drawn above the others
    pick = highlight("line")
    x = alt.X("layer:O", title=LAYER, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title="similarity", scale=alt.Scale(domain=list(SCORE)))
    band = alt.Chart().mark_area(color="#999999", opacity=0.3).encode(
        x=x, y=alt.Y("min(seed_floor):Q", title="similarity", scale=alt.Scale(domain=list(SCORE))),
        y2="max(seed_floor):Q", fill=alt.Fill("floor:N", title=None, scale=alt.Scale(range=["#999999"])),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("min(seed_floor):Q", title="lowest seed floor", format=".3f"),
                 alt.Tooltip("max(seed_floor):Q", title="highest seed floor", format=".3f")]
    ).transform_calculate(floor="'seed floor (range over the domains)'")
    tips = [alt.Tooltip("task:N"), alt.Tooltip("domain:N"), alt.Tooltip("measure:N"), alt.Tooltip("layer:O"),
            alt.Tooltip("value:Q", title="similarity", format=".3f"),
            alt.Tooltip("seed_floor:Q", title="seed floor", format=".3f")]
    lines = alt.Chart().mark_line(point=alt.OverlayMarkDef(size=20)).encode(
        x=x, y=y, detail="domain:N", color=_line_colors(table), tooltip=tips,
        strokeWidth=alt.condition(alt.datum.in_domain, alt.value(3), alt.value(1)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        order=alt.Order("front:Q")).add_params(pick)
    label = alt.Chart().mark_text(align="right", dx=-4, dy=-9, fontSize=11, fontWeight="bold").encode(
        x=x, y=y, text="domain:N", color=_line_colors(table)).transform_filter(
        alt.datum.in_domain & alt.datum.alone & (alt.datum.layer == int(table.layer.max())))
    inner = alt.layer(band, lines, label).properties(width=250, height=150)
    rows = [t for t in (tasks or sorted(set(table.task))) if t in set(table.task)]
    return inner.facet(row=alt.Row("task:N", sort=rows, title=None, header=_HEADER),
                       column=alt.Column("measure:N", title=None, header=_HEADER), data=table,
                       title=alt.Title(title, subtitle=subtitle)).resolve_scale(color="shared")


_HEADER = alt.Header(labelFontSize=13, labelFontWeight="bold")


def domain_change(similarity: pd.DataFrame, title: str, subtitle: str, tasks: list | None = None) -> alt.Chart:
    """The change at the last layer (1 - similarity) per domain, one panel per task (rows, each with
    its own domains) and measure (columns), the in-domain dot in the task's colour, x on [0, 1]."""
    table = _in_domain_lines(similarity)
    top = table[table.layer == table.layer.max()]
    top = top.assign(change=1 - top.value, floor_change=1 - top.seed_floor)
    pick = highlight("line")
    chart = alt.Chart().mark_point(size=70).encode(
        x=alt.X("change:Q", title="change at the last layer (1 - similarity)", scale=alt.Scale(domain=list(SCORE))),
        y=alt.Y("domain:N", title=None, sort=alt.EncodingSortField("change", order="descending")),
        color=_line_colors(top), opacity=faded(pick),
        tooltip=[alt.Tooltip("task:N"), alt.Tooltip("domain:N"), alt.Tooltip("measure:N"),
                 alt.Tooltip("change:Q", format=".3f"),
                 alt.Tooltip("floor_change:Q", title="1 - seed floor", format=".3f")]
    ).add_params(pick).properties(width=250, height=alt.Step(13))
    rows = [t for t in (tasks or sorted(set(top.task))) if t in set(top.task)]
    return chart.facet(row=alt.Row("task:N", sort=rows, title=None, header=_HEADER),
                       column=alt.Column("measure:N", title=None, header=_HEADER), data=top,
                       title=alt.Title(title, subtitle=subtitle)).resolve_scale(y="independent")


def domain_scores(scores: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """The test score per domain, one point per seed and a tick at their mean, one row per domain
    and one panel per task and metric (parsing's UAS and LAS side by side), for the tasks scored on
    more than their own domain; one x axis for every panel, from 0.5 (or below the lowest score) to 1."""
    shown = scores.assign(metric=scores.metric.str.upper().replace({"ACCURACY": "accuracy"}),
                          line=[f"{t}: in-domain" if own else OTHER_DOMAINS
                                for t, own in zip(scores.task, scores.in_domain)])
    shown = shown.assign(panel=shown.task + " · " + shown.metric)
    shown = shown[shown.task.map(shown.groupby("task").domain.nunique()) > 1]  # a task scored out of domain
    rows = shown.groupby("domain").value.mean().sort_values(ascending=False).index.tolist()
    low = math.floor(min(0.5, shown.value.min()) * 10) / 10  # one fixed axis for every panel
    pick = highlight("line")
    base = alt.Chart().encode(
        x=alt.X("value:Q", title="test score", scale=alt.Scale(domain=[low, 1.0])),
        y=alt.Y("domain:N", title=None, sort=rows))
    seeds = base.mark_point(size=45, filled=True).encode(
        color=_line_colors(shown), opacity=faded(pick, 0.1),
        tooltip=[alt.Tooltip("task:N"), alt.Tooltip("domain:N"), alt.Tooltip("metric:N"), alt.Tooltip("seed:N"),
                 alt.Tooltip("value:Q", title="test score", format=".3f"), alt.Tooltip("n:Q", title="examples")]
    ).add_params(pick)
    mean = base.mark_tick(thickness=2, size=14, color="#333").encode(
        x="mean(value):Q", tooltip=[alt.Tooltip("domain:N"), alt.Tooltip("metric:N"),
                                    alt.Tooltip("mean(value):Q", title="mean of seeds", format=".3f")])
    panels = [p for p in ("sentiment · accuracy", "parsing · UAS", "parsing · LAS") if p in set(shown.panel)]
    panels += sorted(set(shown.panel) - set(panels))
    return alt.layer(mean, seeds).properties(width=200, height=alt.Step(14)).facet(
        facet=alt.Facet("panel:N", sort=panels, title=None, header=_HEADER), columns=3, data=shown,
        title=alt.Title(title, subtitle=subtitle)).resolve_scale(y="independent")


def change_by_layer(similarity: pd.DataFrame, title: str, subtitle: str, measure: str = "rsa",
                    inputs: str = "own") -> alt.Chart:
    """1 - ``measure`` between the pre-trained and the fine-tuned model by layer, on ``inputs``,
    mean of seeds, a line per task; ``similarity`` from :func:`lib.similarity_table`."""
    change = similarity[(similarity.measure == measure) & (similarity.inputs == inputs)]
    change = change.assign(value=1 - change.value)
    return layer_lines(change.groupby(["task", "layer"], as_index=False).value.mean(), y="value", color="task",
                       title=title, subtitle=subtitle, y_title=f"change (1 - {measure.upper()})")


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


def verdict_panels(units: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """One small chart per finding: each unit's estimate and interval (``estimate``, ``low``,
    ``high``), coloured by its verdict, against the finding's threshold (a rule); ``units`` from
    :func:`lib.takeaways.verdicts.verdict_units` (columns ``finding``, ``unit``, ``threshold``,
    ``measure``, ``verdict``)."""
    color = alt.Color("verdict:N", title="verdict", scale=alt.Scale(domain=list(VERDICT_COLORS),
                                                                   range=list(VERDICT_COLORS.values())))
    pick = highlight("verdict")
    charts = []
    for finding, part in units.groupby("finding", sort=False):
        base = alt.Chart(part, title=alt.Title(finding, fontSize=12)).encode(
            y=alt.Y("unit:N", title=None, sort=None, axis=alt.Axis(labelLimit=150)))
        tips = [alt.Tooltip("unit:N"), alt.Tooltip("estimate:Q", format=".3f"), alt.Tooltip("low:Q", format=".3f"),
                alt.Tooltip("high:Q", format=".3f"), alt.Tooltip("verdict:N")]
        bar = base.mark_rule(strokeWidth=2).encode(
            x=alt.X("low:Q", title=part.measure.iloc[0], scale=alt.Scale(zero=True)), x2="high:Q", color=color, opacity=faded(pick))
        dot = base.mark_point(size=50, filled=True).encode(x="estimate:Q", color=color, opacity=faded(pick),
                                                           tooltip=tips)
        rule = alt.Chart(part.head(1)).mark_rule(color="#333", strokeDash=[4, 3]).encode(x="threshold:Q")
        charts.append(alt.layer(rule, bar, dot).properties(width=150, height=alt.Step(14)))
    charts[0] = charts[0].add_params(pick)  # one selection, read by every panel
    rows = [alt.hconcat(*charts[i:i + 2]) for i in range(0, len(charts), 2)]
    return alt.vconcat(*rows, title=alt.Title(title, subtitle=subtitle)).resolve_scale(color="shared")


__all__ = ["BASELINES", "MIX_MEASURES", "baseline_lines", "score_panels", "change_by_layer", "cumulative_lines", "difference_band", "domain_change",
           "domain_layers", "domain_scores", "freezing_losses", "losses_by_boundary", "verdict_panels", "VERDICT_COLORS", "measure_floor_lines",
           "metric_lines", "mix_dots", "restored_scores", "seed_mean_lines", "standardising_lines"]
