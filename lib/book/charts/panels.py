"""Small multiples and numbered figures: one panel per probe, task or measure on axes fixed in advance
(so that noise never fills a panel), and :func:`glue_figure`, which glues a chart for a numbered,
captioned ``{glue:figure}`` of the book.

Every chart with a legend highlights the group whose legend entry is clicked
(:func:`lib.book.charts.base.highlight`).
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from lib.book.charts.base import color_encoding, faded, highlight
from lib.book.prose import PREFIX

SCORE = (0.0, 1.0)  # probe scores, accuracies, F1, similarities
LAYER = "layer (0 = embeddings)"
PANEL = {"width": 190, "height": 140}


def glue_figure(name: str, chart) -> None:
    """Glue ``chart`` under ``name`` without showing it in place (``myst_nb.glue(name, chart,
    display=False)``, written here so that a chapter runs without myst-nb); a Markdown cell shows it
    with ``{glue:figure}`` and a caption, and jupyter-book numbers it."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(chart)
    metadata["scrapbook"] = {"name": name, "mime_prefix": PREFIX}
    display({PREFIX + kind: data for kind, data in bundle.items()}, raw=True, metadata=metadata)


def _legend_in_columns(color: alt.Color, columns: int = 2) -> alt.Color:
    """``color`` with its legend in ``columns`` columns: panels side by side leave no room for four."""
    return color.legend(columns=columns)


def symmetric(values: pd.Series, least: float = 0.1, step: float = 0.05) -> tuple[float, float]:
    """A domain centred on 0 that holds every value and at least ``least`` either side (rounded up).

    >>> symmetric(pd.Series([-0.03, 0.012]))
    (-0.1, 0.1)
    >>> symmetric(pd.Series([-0.34, 0.457]))
    (-0.5, 0.5)
    """
    edge = max(least, float(values.abs().max()))
    edge = round(math.ceil(edge / step - 1e-9) * step, 10)
    return (-edge, edge)


def _facet(chart, table: pd.DataFrame, facet: str, order: list | None, columns: int, title: str, subtitle: str):
    values = [v for v in (order or sorted(table[facet].unique(), key=str)) if v in set(table[facet])]
    return chart.facet(facet=alt.Facet(f"{facet}:N", sort=values, title=None,
                                       header=alt.Header(labelFontSize=13, labelFontWeight="bold", labelAnchor="start")),
                       columns=min(columns, len(values)), data=table,
                       title=alt.Title(title, subtitle=subtitle))


def panel_lines(table: pd.DataFrame, y: str, color: str, facet: str, title: str, subtitle: str, y_title: str,
                domain: tuple[float, float] | None = SCORE, order: list | None = None, columns: int = 3,
                low: str | None = None, high: str | None = None, tooltip_extra: tuple[str, ...] = (),
                x: str = "layer:O", x_title: str = LAYER):
    """``y`` against ``x`` (by layer unless told), one line per ``color`` group, one panel per value of
    ``facet`` (in ``order``), the y axis fixed to ``domain`` (None: each panel from 0 to its largest
    value, as for a loss); ``low`` / ``high`` add a band of the group's range (its seeds)."""
    pick = highlight(color)
    scale = alt.Scale(domain=list(domain), clamp=True) if domain is not None else alt.Scale(zero=True)
    tips = [alt.Tooltip(f"{facet}:N"), alt.Tooltip(f"{color}:N"), alt.Tooltip(x, title=x_title),
            alt.Tooltip(f"{y}:Q", title=y_title, format=".3f"),
            *[alt.Tooltip(f"{c}:Q", title=c.replace("_", " "), format=".3f") for c in (low, high, *tooltip_extra) if c]]
    base = alt.Chart().encode(
        x=alt.X(x, title=x_title, axis=alt.Axis(labelAngle=0)), y=alt.Y(f"{y}:Q", title=y_title, scale=scale),
        color=_legend_in_columns(color_encoding(table, color)), opacity=faded(pick))
    layers = [base.mark_line(), base.mark_point(size=30).encode(tooltip=tips)]
    if low and high:
        layers.insert(0, base.mark_area(opacity=0.15).encode(y=f"{low}:Q", y2=f"{high}:Q",
                                                             opacity=faded(pick, 0.03)))
    if domain is not None:
        return _facet(alt.layer(*layers).add_params(pick).properties(**PANEL), table, facet, order, columns, title,
                      subtitle)
    inner = alt.layer(*layers).add_params(pick).properties(**{**PANEL, "width": 160})  # room for each own axis
    return _facet(inner, table, facet, order, columns, title, subtitle).resolve_scale(y="independent")


def panel_differences(table: pd.DataFrame, color: str, facet: str, title: str, subtitle: str, y_title: str,
                      noise: float, order: list | None = None, columns: int = 3):
    """A difference by layer (column ``mean``; seed range ``min``..``max``), one line and band per
    ``color`` group, one panel per ``facet``: a grey band at +/- ``noise`` and a zero rule on a
    y axis centred on 0 that every panel shares."""
    table = table.assign(noise_low=-noise, noise_high=noise)
    pick = highlight(color)
    x = alt.X("layer:O", title=LAYER, axis=alt.Axis(labelAngle=0))
    scale = alt.Scale(domain=list(symmetric(pd.concat([table["min"], table["max"]]))))
    tips = [alt.Tooltip(f"{facet}:N"), alt.Tooltip(f"{color}:N"), alt.Tooltip("layer:O"),
            alt.Tooltip("mean:Q", title=y_title, format="+.3f"), alt.Tooltip("min:Q", title="lowest seed", format="+.3f"),
            alt.Tooltip("max:Q", title="highest seed", format="+.3f")]
    band = alt.Chart().mark_area(color="#bbbbbb", opacity=0.35).encode(
        x=x, y=alt.Y("noise_low:Q", title=y_title, scale=scale), y2="noise_high:Q")
    zero = alt.Chart().mark_rule(color="#777", strokeDash=[4, 4]).encode(y=alt.datum(0))
    base = alt.Chart().encode(x=x, color=_legend_in_columns(color_encoding(table, color)), opacity=faded(pick))
    seeds = base.mark_area(opacity=0.18).encode(y="min:Q", y2="max:Q", opacity=faded(pick, 0.03))
    line = base.mark_line().encode(y=alt.Y("mean:Q", scale=scale))
    points = base.mark_point(size=30).encode(y="mean:Q", tooltip=tips)
    inner = alt.layer(band, zero, seeds, line, points).add_params(pick).properties(**PANEL)
    return _facet(inner, table, facet, order, columns, title, subtitle)


def panel_dots(table: pd.DataFrame, x: str, y: str, color: str, column: str, title: str, subtitle: str,
               x_title: str, domain: tuple[float, float], order: list | None = None):
    """One point per row, ``x`` on the fixed ``domain`` against the ``y`` category, one panel per
    ``column`` value side by side (sharing the rows)."""
    pick = highlight(color)
    chart = alt.Chart().mark_point(size=70).encode(
        x=alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(domain=list(domain))),
        y=alt.Y(f"{y}:N", title=None, sort=order), yOffset=alt.YOffset(f"{color}:N"),
        color=_legend_in_columns(color_encoding(table, color)), opacity=faded(pick),
        tooltip=[alt.Tooltip(c, title=c.replace("_", " ")) if c != x else alt.Tooltip(f"{x}:Q", format=".2f")
                 for c in table.columns]).add_params(pick).properties(width=260, height=alt.Step(7))
    return chart.facet(column=alt.Column(f"{column}:N", title=None,
                                         header=alt.Header(labelFontSize=13, labelFontWeight="bold")),
                       data=table, title=alt.Title(title, subtitle=subtitle))


__all__ = ["LAYER", "PANEL", "SCORE", "glue_figure", "panel_differences", "panel_dots",
           "panel_lines", "symmetric"]
