"""Chapter 6's charts: a task's own domain against every other, one panel per task and measure.

The task's own domains take its colour ("nli: in-domain") and every other domain one grey, so that
the legend names what is shown, not every domain (hover a line or dot for its domain).
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from lib.book.charts.base import color_of, faded, highlight
from lib.book.charts.panels import LAYER, SCORE

_HEADER = alt.Header(labelFontSize=13, labelFontWeight="bold")
OTHER_DOMAINS = "other domains"
FLOOR_MIN = 0.02  # the seed-floor band's least drawn height, in similarity (3 px of a 150 px panel on [0, 1])


def _in_domain_lines(similarity: pd.DataFrame) -> pd.DataFrame:
    """``similarity`` with ``line``: "<task>: in-domain" (the task's colour) or "other domains" (grey),
    and ``measure`` upper-cased."""
    return similarity.assign(line=[f"{t}: in-domain" if own else OTHER_DOMAINS
                                   for t, own in zip(similarity.task, similarity.in_domain)],
                             measure=similarity.measure.str.upper())


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
    band = alt.Chart().transform_aggregate(
        low="min(seed_floor)", high="max(seed_floor)", groupby=["task", "measure", "layer"]
    ).transform_calculate(  # drawn at least FLOOR_MIN tall (within [0, 1]): parsing's range is a hairline near 1
        top=f"min(1, max(datum.high, (datum.low + datum.high) / 2 + {FLOOR_MIN / 2}))",
        floor="'seed floor (range over the domains)'"
    ).transform_calculate(bottom=f"min(datum.low, datum.top - {FLOOR_MIN})").mark_area(
        color="#999999", opacity=0.35, stroke="#8a8a8a", strokeWidth=0.5).encode(
        x=x, y=alt.Y("bottom:Q", title="similarity", scale=alt.Scale(domain=list(SCORE))), y2="top:Q",
        fill=alt.Fill("floor:N", title=None, scale=alt.Scale(range=["#999999"])),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("low:Q", title="lowest seed floor", format=".3f"),
                 alt.Tooltip("high:Q", title="highest seed floor", format=".3f")])
    tips = [alt.Tooltip("task:N"), alt.Tooltip("domain:N"), alt.Tooltip("measure:N"), alt.Tooltip("layer:O"),
            alt.Tooltip("value:Q", title="similarity", format=".3f"),
            alt.Tooltip("seed_floor:Q", title="seed floor", format=".3f")]
    lines = alt.Chart().mark_line(point=alt.OverlayMarkDef(size=20)).encode(
        x=x, y=y, detail="domain:N", color=_line_colors(table), tooltip=tips,
        strokeWidth=alt.condition(alt.datum.in_domain, alt.value(3), alt.value(1)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        order=alt.Order("front:Q")).add_params(pick)
    last = alt.datum.in_domain & alt.datum.alone & (alt.datum.layer == int(table.layer.max()))
    text = dict(align="right", dx=-8, dy=-13, fontSize=11, fontWeight="bold")  # clear of the line's last point
    halo = alt.Chart().mark_text(**text, stroke="white", strokeWidth=3, strokeJoin="round").encode(
        x=x, y=y, text="domain:N").transform_filter(last)
    label = alt.Chart().mark_text(**text).encode(x=x, y=y, text="domain:N",
                                                 color=_line_colors(table)).transform_filter(last)
    inner = alt.layer(band, lines, halo, label).properties(width=250, height=150)
    rows = [t for t in (tasks or sorted(set(table.task))) if t in set(table.task)]
    return inner.facet(row=alt.Row("task:N", sort=rows, title=None, header=_HEADER),
                       column=alt.Column("measure:N", title=None, header=_HEADER), data=table,
                       title=alt.Title(title, subtitle=subtitle)).resolve_scale(color="shared")


def domain_change(similarity: pd.DataFrame, title: str, subtitle: str, tasks: list | None = None) -> alt.Chart:
    """The change at the last layer (1 - similarity) per domain, a block of panels per task (in
    ``tasks``; its own domains), one panel per measure, the in-domain dots in the task's colour, x on [0, 1]."""
    table = _in_domain_lines(similarity)
    top = table[table.layer == table.layer.max()]
    top = top.assign(change=1 - top.value, floor_change=1 - top.seed_floor)
    pick = highlight("line")
    rows = [t for t in (tasks or sorted(set(top.task))) if t in set(top.task)]
    charts = []
    for task in rows:  # a task's own domains, its two measures side by side sharing the rows
        part = top[top.task == task]
        chart = alt.Chart().mark_point(size=70).encode(
            x=alt.X("change:Q", title="change at the last layer (1 - similarity)", scale=alt.Scale(domain=list(SCORE))),
            y=alt.Y("domain:N", title=None, sort=alt.EncodingSortField("change", op="mean", order="descending")),
            color=_line_colors(top), opacity=faded(pick),
            tooltip=[alt.Tooltip("task:N"), alt.Tooltip("domain:N"), alt.Tooltip("measure:N"),
                     alt.Tooltip("change:Q", format=".3f"),
                     alt.Tooltip("floor_change:Q", title="1 - seed floor", format=".3f")]
        ).properties(width=250, height=alt.Step(13))
        charts.append(chart.facet(column=alt.Column("measure:N", title=None, header=_HEADER), data=part,
                                  title=alt.Title(task, fontSize=13)))
    charts[0] = charts[0].add_params(pick)  # one selection, read by every task's panels
    return alt.vconcat(*charts, title=alt.Title(title, subtitle=subtitle)).resolve_scale(color="shared")


def domain_scores(scores: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """The test score per domain, one point per seed and a tick at their mean, one row per domain
    and one panel per metric (parsing's UAS and LAS side by side), a block per task scored on
    more than their own domain; one x axis for every panel, from 0.5 (or below the lowest score) to 1."""
    shown = scores.assign(metric=scores.metric.str.upper().replace({"ACCURACY": "accuracy"}),
                          line=[f"{t}: in-domain" if own else OTHER_DOMAINS
                                for t, own in zip(scores.task, scores.in_domain)])
    shown = shown[shown.task.map(shown.groupby("task").domain.nunique()) > 1]  # a task scored out of domain
    rows = shown.groupby("domain").value.mean().sort_values(ascending=False).index.tolist()
    low = math.floor(min(0.5, shown.value.min()) * 10) / 10  # one fixed axis for every panel
    pick = highlight("line")
    scale = alt.Scale(domain=[low, 1.0], zero=False)
    base = alt.Chart().encode(x=alt.X("value:Q", title="test score", scale=scale), y=alt.Y("domain:N", title=None, sort=rows))
    seeds = base.mark_point(size=45, filled=True).encode(
        color=_line_colors(shown), opacity=faded(pick, 0.1),
        tooltip=[alt.Tooltip("task:N"), alt.Tooltip("domain:N"), alt.Tooltip("metric:N"), alt.Tooltip("seed:N"),
                 alt.Tooltip("value:Q", title="test score", format=".3f"), alt.Tooltip("n:Q", title="examples")])
    mean = base.mark_tick(thickness=2, size=14, color="#333").encode(
        x=alt.X("mean(value):Q", title="test score", scale=scale), tooltip=[alt.Tooltip("domain:N"), alt.Tooltip("metric:N"),
                                    alt.Tooltip("mean(value):Q", title="mean of seeds", format=".3f")])
    tasks = [t for t in ("sentiment", "parsing") if t in set(shown.task)]
    tasks += sorted(set(shown.task) - set(tasks))
    charts = [alt.layer(mean, seeds).properties(width=220, height=alt.Step(14))
              .facet(column=alt.Column("metric:N", title=None, header=_HEADER, sort=["accuracy", "UAS", "LAS"]),
                     data=shown[shown.task == task], title=alt.Title(task, fontSize=13)) for task in tasks]
    charts[0] = charts[0].add_params(pick)  # one selection, read by every task's panels
    return alt.vconcat(*charts, title=alt.Title(title, subtitle=subtitle)).resolve_scale(color="shared")


__all__ = ["OTHER_DOMAINS", "domain_change", "domain_layers", "domain_scores"]
