"""Small multiples and numbered figures: one panel per probe, task or measure on axes fixed in advance
(so that noise never fills a panel), and :func:`glue_figure`, which glues a chart for a numbered,
captioned ``{glue:figure}`` of the book.

Every chart with a legend highlights the group whose legend entry is clicked
(:func:`lib.book.charts.base.highlight`).
"""
from __future__ import annotations

import json
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


def from_zero(values: pd.Series, step: float = 0.01) -> tuple[float, float]:
    """A domain from 0 to the largest value rounded up to ``step``: one fixed axis for every panel.

    >>> from_zero(pd.Series([0.003, 0.0496]))
    (0.0, 0.05)
    """
    return (0.0, round(math.ceil(max(step, float(values.max())) / step - 1e-9) * step, 10))


def score_domain(values: pd.Series) -> tuple[float, float]:
    """[0, 1], or from below the lowest value (a tenth) where a similarity is negative.

    >>> score_domain(pd.Series([0.13, 0.99])), score_domain(pd.Series([-0.04, 0.9]))
    ((0.0, 1.0), (-0.1, 1.0))
    """
    return (min(0.0, math.floor(float(values.min()) * 10) / 10), 1.0)


def _facet(chart, table: pd.DataFrame, facet: str, order: list | None, columns: int, title: str, subtitle: str):
    values = [v for v in (order or sorted(table[facet].unique(), key=str)) if v in set(table[facet])]
    return chart.facet(facet=alt.Facet(f"{facet}:N", sort=values, title=None,
                                       header=alt.Header(labelFontSize=13, labelFontWeight="bold", labelAnchor="start")),
                       columns=min(columns, len(values)), data=table,
                       title=alt.Title(title, subtitle=subtitle))


def panel_lines(table: pd.DataFrame, y: str, color: str, facet: str, title: str, subtitle: str, y_title: str,
                domain: tuple[float, float] | None = SCORE, order: list | None = None, columns: int = 3,
                low: str | None = None, high: str | None = None, tooltip_extra: tuple[str, ...] = (),
                x: str = "layer:O", x_title: str = LAYER, noise: str | None = None, noise_title: str = "seed noise"):
    """``y`` against ``x`` (by layer unless told), one line per ``color`` group, one panel per value of
    ``facet`` (in ``order``), the y axis fixed to ``domain`` (None: each panel from 0 to its largest
    value, as for a loss); ``low`` / ``high`` add a band of the group's range (its seeds); ``noise``
    a grey band from 0 to that column (what noise alone reaches), named ``noise_title`` in a legend."""
    pick = highlight(color)
    scale = alt.Scale(domain=list(domain), clamp=True) if domain is not None else alt.Scale(zero=True)
    tips = [alt.Tooltip(f"{facet}:N"), alt.Tooltip(f"{color}:N"), alt.Tooltip(x, title=x_title),
            alt.Tooltip(f"{y}:Q", title=y_title, format=".3f"),
            *[alt.Tooltip(f"{c}:Q", title=c.replace("_", " "), format=".3f") for c in (low, high, *tooltip_extra) if c]]
    base = alt.Chart().encode(
        x=alt.X(x, title=x_title, axis=alt.Axis(labelAngle=0)), y=alt.Y(f"{y}:Q", title=y_title, scale=scale),
        color=_legend_in_columns(color_encoding(table, color)), opacity=faded(pick))
    # the legend's selection on a layer that draws its field (Altair lifts a layered chart's to the first layer)
    layers = [base.mark_line().add_params(pick), base.mark_point(size=30).encode(tooltip=tips)]
    if low and high:
        layers.insert(0, base.mark_area().encode(y=f"{low}:Q", y2=f"{high}:Q", opacity=faded(pick, 0.03, 0.18)))
    if noise:
        layers.insert(0, _noise_band(x, x_title, noise, noise_title, y_title, scale))
    if domain is not None:
        return _facet(alt.layer(*layers).properties(**PANEL), table, facet, order, columns, title,
                      subtitle)
    inner = alt.layer(*layers).properties(**{**PANEL, "width": 160})  # room for each own axis
    return _facet(inner, table, facet, order, columns, title, subtitle).resolve_scale(y="independent")


def _noise_band(x: str, x_title: str, noise: str, name: str, y_title: str, scale: alt.Scale) -> alt.Chart:
    """A grey area from 0 up to the column ``noise`` (its mean per ``x``), a legend entry ``name``."""
    return alt.Chart().mark_area(opacity=0.35).encode(
        x=alt.X(x, title=x_title, axis=alt.Axis(labelAngle=0)), y=alt.Y(f"mean({noise}):Q", title=y_title, scale=scale),
        y2=alt.datum(0),
        fill=alt.Fill("band:N", title=None, scale=alt.Scale(range=["#bbbbbb"])),
        tooltip=[alt.Tooltip(x, title=x_title), alt.Tooltip(f"mean({noise}):Q", title=name, format=".3f")]
    ).transform_calculate(band=f"{json.dumps(name)}")


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
    seeds = base.mark_area().encode(y="min:Q", y2="max:Q", opacity=faded(pick, 0.03, 0.18))
    line = base.mark_line().encode(y=alt.Y("mean:Q", scale=scale))
    points = base.mark_point(size=30).encode(y="mean:Q", tooltip=tips)
    inner = alt.layer(band, zero, seeds, line.add_params(pick), points).properties(**PANEL)  # see panel_lines
    return _facet(inner, table, facet, order, columns, title, subtitle)


def panel_floor_lines(table: pd.DataFrame, y: str, floor: str, color: str, facet: str, title: str, subtitle: str,
                      y_title: str, order: list | None = None, columns: int = 2, domain: tuple[float, float] = SCORE,
                      tooltip_extra: tuple[str, ...] = ()):
    """``y`` by layer as a solid line per ``color`` group and its seed floor ``floor`` as a dashed one,
    one panel per ``facet`` value (in ``order``), the y axis fixed to ``domain``: a solid line below
    its dashed twin changed more than two seeds differ."""
    pick = highlight(color)
    scale = alt.Scale(domain=list(domain))
    tips = [alt.Tooltip(f"{facet}:N"), alt.Tooltip(f"{color}:N"), alt.Tooltip("layer:O"),
            alt.Tooltip(f"{y}:Q", title=y_title, format=".3f"),
            alt.Tooltip(f"{floor}:Q", title="seed floor", format=".3f"),
            *[alt.Tooltip(f"{c}:Q", title=t, format=".3f") for c, t in tooltip_extra]]
    base = alt.Chart().encode(x=alt.X("layer:O", title=LAYER, axis=alt.Axis(labelAngle=0)),
                              color=_legend_in_columns(color_encoding(table, color)))
    solid = base.mark_line(point=alt.OverlayMarkDef(size=30)).encode(
        y=alt.Y(f"{y}:Q", title=y_title, scale=scale), opacity=faded(pick), tooltip=tips)
    dashed = base.mark_line(strokeDash=[5, 4], point=alt.OverlayMarkDef(size=12)).encode(
        y=alt.Y(f"{floor}:Q", scale=scale), opacity=faded(pick, 0.1), tooltip=tips)
    size = PANEL if columns > 2 else {"width": 250, "height": 160}  # two columns: room for wider panels
    inner = alt.layer(solid, dashed).add_params(pick).properties(**size)
    return _facet(inner, table, facet, order, columns, title, subtitle)


def panel_heatmaps(table: pd.DataFrame, x: str, y: str, value: str, row: str, column: str, title: str, subtitle: str,
                   x_title: str, y_title: str, rows: list | None = None, columns: list | None = None,
                   domain: tuple[float, float] = SCORE):
    """Layer-by-layer matrices, one per (``row``, ``column``) pair (in ``rows``, ``columns``), each cell
    coloured by ``value`` on one colour scale fixed to ``domain``; hover a cell for its number."""
    chart = alt.Chart().mark_rect().encode(
        x=alt.X(f"{x}:O", title=x_title, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{y}:O", title=y_title, sort="descending"),
        color=alt.Color(f"{value}:Q", title=value, scale=alt.Scale(scheme="viridis", domain=list(domain))),
        tooltip=[alt.Tooltip(f"{row}:N"), alt.Tooltip(f"{column}:N"), alt.Tooltip(f"{x}:O", title=x_title),
                 alt.Tooltip(f"{y}:O", title=y_title), alt.Tooltip(f"{value}:Q", format=".3f")],
    ).properties(width=150, height=150)
    header = alt.Header(labelFontSize=13, labelFontWeight="bold")
    return chart.facet(row=alt.Row(f"{row}:N", sort=rows, title=None, header=header),
                       column=alt.Column(f"{column}:N", sort=columns, title=None, header=header),
                       data=table, title=alt.Title(title, subtitle=subtitle))


def panel_seed_lines(table: pd.DataFrame, x: str, y: str, color: str, facet: str, title: str, subtitle: str,
                     x_title: str, y_title: str, order: list | None = None, columns: int = 3,
                     domain: tuple[float, float] = SCORE, reference: str | None = None, reference_title: str = "chance"):
    """The mean over seeds of ``y`` against ``x`` (ordinal) as a line per ``color`` group, each seed as
    a small point, one panel per ``facet`` value on a y axis fixed to ``domain``; ``reference`` (a
    column, one value per panel) draws a dashed rule named ``reference_title``."""
    pick = highlight(color)
    scale = alt.Scale(domain=list(domain))
    x_enc = alt.X(f"{x}:O", title=x_title, axis=alt.Axis(labelAngle=0))
    tips = [alt.Tooltip(f"{facet}:N"), alt.Tooltip(f"{color}:N"), alt.Tooltip(f"{x}:O", title=x_title)]
    legend = color_encoding(table, color).legend(columns=1, labelLimit=480)  # long labels, one per line
    base = alt.Chart().encode(x=x_enc, color=legend)
    mean = base.mark_line(point=True).encode(
        y=alt.Y(f"mean({y}):Q", title=y_title, scale=scale), opacity=faded(pick),
        tooltip=tips + [alt.Tooltip(f"mean({y}):Q", format=".3f", title=f"mean {y_title}"),
                        alt.Tooltip(f"min({y}):Q", format=".3f", title="lowest seed"),
                        alt.Tooltip(f"max({y}):Q", format=".3f", title="highest seed")])
    seeds = base.mark_point(size=25, filled=True).encode(
        y=alt.Y(f"{y}:Q", scale=scale), opacity=alt.condition(pick, alt.value(0.5), alt.value(0.08)),
        tooltip=tips + [alt.Tooltip("seed:N"), alt.Tooltip(f"{y}:Q", format=".3f", title=y_title)])
    layers = [mean.add_params(pick), seeds]
    if reference:
        y_ref = alt.Y(f"mean({reference}):Q", scale=scale)
        rule = alt.Chart().mark_rule(color="#777", strokeDash=[4, 4]).encode(
            y=y_ref, tooltip=[alt.Tooltip(f"mean({reference}):Q", title=reference_title, format=".3f")])
        note = alt.Chart().mark_text(dy=-6, color="#555", fontSize=10).encode(  # mid-panel, clear of the lines' ends
            y=y_ref, x=alt.value(PANEL["width"] / 2), text=alt.value(reference_title))
        layers = [rule, note, *layers]
    return _facet(alt.layer(*layers).properties(**PANEL), table, facet, order, columns, title, subtitle)


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


__all__ = ["LAYER", "PANEL", "SCORE", "from_zero", "glue_figure", "panel_differences", "panel_dots",
           "panel_floor_lines", "panel_heatmaps", "panel_lines", "panel_seed_lines", "score_domain", "symmetric"]
