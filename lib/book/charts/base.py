"""The book's altair charts: one theme, a few helpers, and offline vega for the built HTML.

Charts render as HTML (``alt.renderers.enable("html")``), which loads vega from a CDN unless the
page already has it. :func:`write_vega_assets` writes the vega / vega-lite / vega-embed bundle
(from ``vl-convert-python``) and a preload that tells altair's loader those versions are present,
so the built book draws its charts with no network.
"""
from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from lib.errors import InputError, SetupError

BUNDLE_JS = "vega-bundle.js"
PRELOAD_JS = "vega-preload.js"
PALETTE = ["#1f5f8b", "#d1495b", "#edae49", "#66a182", "#8d6a9f", "#2e4057", "#00798c"]
# One colour per model and task on every chart of the book; a label such as "nli · rsa" or
# "random-init:minilm" takes the colour of its name before " · " or ":". Other groups (seeds,
# modules, domains, "pre-trained bottom (0..k)") take OTHERS in sorted order, so that they never
# borrow a task's colour.
COLORS = {"nli": "#1f5f8b", "parsing": "#d1495b", "sentiment": "#d99a1e", "qa": "#4f9a6e",
          "pre-trained": "#3b3b3b", "minilm": "#3b3b3b", "bert-base": "#3b3b3b", "bert-base-uncased": "#3b3b3b",
          "random-init": "#9a9a9a"}
OTHERS = ["#00798c", "#8d6a9f", "#7a8b2a", "#b5651d", "#c2185b", "#5c6bc0", "#8d8d8d", "#26a69a", "#6d4c41",
          "#ab47bc", "#9e9d24", "#ef6c00"]


def color_of(label: str) -> str | None:
    """The book's fixed colour of a model or task label (its name before " · " or ":"), else None.

    >>> color_of("parsing · rsa") == color_of("parsing")
    True
    >>> color_of("random-init:minilm") == COLORS["random-init"]
    True
    >>> color_of("pre-trained bottom (0..k)") is None
    True
    """
    return COLORS.get(str(label).split(" · ")[0].split(":")[0].strip())


def color_encoding(table: pd.DataFrame, field: str, title: str | None = None) -> alt.Color:
    """The colour encoding of ``field`` (optionally ``"name:N"``): fixed colours for models and tasks."""
    name = field.split(":")[0]
    values = sorted(table[name].dropna().unique().tolist(), key=str) if name in table else []
    others = iter(OTHERS * (1 + len(values) // len(OTHERS)))
    colors = [color_of(v) or next(others) for v in values]
    scale = alt.Scale(domain=values, range=colors) if values else alt.Undefined
    return alt.Color(f"{name}:N", scale=scale, title=title if title is not None else name.strip())


def book_theme() -> dict:
    """Altair config: container width, readable fonts, the book's palette."""
    return {"config": {
        "view": {"continuousWidth": 400, "continuousHeight": 260, "stroke": None},
        "font": "system-ui, -apple-system, 'Segoe UI', sans-serif",
        "title": {"fontSize": 15, "anchor": "start", "subtitleColor": "#555", "subtitleFontSize": 12},
        "axis": {"labelFontSize": 12, "titleFontSize": 12, "gridColor": "#eee"},
        "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "bottom", "columns": 4, "labelLimit": 280,
                   "symbolOpacity": 1, "symbolStrokeWidth": 2.5, "symbolSize": 120},
        "range": {"category": PALETTE},
        "point": {"size": 60, "filled": True},
    }}


def tooltip(table: pd.DataFrame, field: str) -> alt.Tooltip:
    """A tooltip entry for a column: its name in words, and 3 decimals for a float."""
    title = field.replace("_", " ").strip()
    if field in table and pd.api.types.is_float_dtype(table[field]):
        return alt.Tooltip(f"{field}:Q", title=title, format=".3f")
    return alt.Tooltip(field, title=title)


def highlight(field: str) -> alt.Parameter:
    """Click a legend entry of ``field`` to highlight its group (the others fade); click again to clear.
    Every chart of the book with a legend of entries has it (the introduction promises it)."""
    return alt.selection_point(fields=[field.split(":")[0]], bind="legend")


def faded(pick: alt.Parameter, low: float = 0.15, high: float = 1.0) -> alt.OpacityValue:
    """Opacity ``high`` for the highlighted group (or every group when none is), ``low`` for the others;
    a band passes its own ``high`` (the encoding overrides the mark's opacity)."""
    return alt.condition(pick, alt.value(high), alt.value(low))


def enable() -> None:
    """Use the book's theme and the HTML renderer (what jupyter-book and Colab both display)."""
    alt.theme.register("book", enable=True)(book_theme)
    alt.renderers.enable("html")


def line_chart(table: pd.DataFrame, x: str, y: str, color: str, title: str, subtitle: str,
               x_title: str | None = None, y_title: str | None = None, tooltip_extra: tuple[str, ...] = (),
               choose: str | None = None, default: str | None = None) -> alt.Chart:
    """``y`` against ``x`` (an encoding such as ``"layer:O"``), one line per ``color`` group.

    Click the legend to highlight a group; ``choose`` adds a drop-down that shows one value of
    that column at a time (``default``, else the first, sorted, to begin with).
    """
    pick = highlight(color)
    x_field = x.split(":")[0]
    base = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).encode(
        x=alt.X(x, title=x_title or x_field, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(zero=False)),
        color=color_encoding(table, color),
        opacity=faded(pick),
        tooltip=[alt.Tooltip(color if ":" in color else f"{color}:N"), alt.Tooltip(x),
                 alt.Tooltip(f"{y}:Q", title=y_title or y, format=".3f"),
                 *[tooltip(table, field) for field in tooltip_extra]],
    )
    return _menu((base.mark_line() + base.mark_point()).add_params(pick), table, choose,
                 default).properties(width="container")


def layer_lines(table: pd.DataFrame, y: str, color: str, title: str, subtitle: str,
                y_title: str | None = None, tooltip_extra: tuple[str, ...] = (),
                choose: str | None = None, default: str | None = None) -> alt.Chart:
    """Value by layer (0 = embeddings), one line per ``color`` group; see :func:`line_chart`."""
    return line_chart(table, "layer:O", y, color, title, subtitle, x_title="layer (0 = embeddings)",
                      y_title=y_title, tooltip_extra=tooltip_extra, choose=choose, default=default)


def seed_points(table: pd.DataFrame, title: str, subtitle: str) -> alt.Chart:
    """One point per seed and a tick at the mean, per (task, metric); ``table`` from ``metrics_table``.
    The height is set (34 px a row): with a row step and a container width, Vega-Lite warns "Dropping
    fit-y because spec has discrete height" in the browser console."""
    table = table.assign(row=table.task + " · " + table.metric)
    base = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).encode(
        y=alt.Y("row:N", title=None), x=alt.X("value:Q", title="test score", scale=alt.Scale(zero=False)))
    pick = highlight("seed")
    points = base.mark_point(size=90).encode(
        color=color_encoding(table, "seed"), opacity=faded(pick),
        tooltip=["task", "metric", "seed:N", alt.Tooltip("value:Q", format=".3f")]).add_params(pick)
    mean = base.mark_tick(thickness=3, size=26, color="#333").encode(
        x="mean(value):Q", tooltip=["task", "metric", alt.Tooltip("mean(value):Q", format=".3f", title="mean"),
                                    alt.Tooltip("min(value):Q", format=".3f", title="lowest seed"),
                                    alt.Tooltip("max(value):Q", format=".3f", title="highest seed")])
    return (mean + points).properties(width="container", height=34 * table.row.nunique())


def layer_band(table: pd.DataFrame, y: str, low: str, high: str, color: str, title: str, subtitle: str,
               y_title: str | None = None, choose: str | None = None, default: str | None = None) -> alt.Chart:
    """A line per ``color`` group over layers with a band from ``low`` to ``high`` and a zero rule."""
    base = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).encode(
        x=alt.X("layer:O", title="layer (0 = embeddings)", axis=alt.Axis(labelAngle=0)),
        color=color_encoding(table, color))
    tips = [alt.Tooltip(f"{color}:N"), alt.Tooltip("layer:O"), alt.Tooltip(f"{y}:Q", format=".3f", title=y_title or y),
            alt.Tooltip(f"{low}:Q", format=".3f"), alt.Tooltip(f"{high}:Q", format=".3f")]
    pick = highlight(color)
    band = base.mark_area().encode(y=alt.Y(f"{low}:Q", title=y_title or y), y2=f"{high}:Q",
                                   opacity=faded(pick, 0.03, 0.18))
    line = base.mark_line().encode(y=f"{y}:Q", opacity=faded(pick))
    points = base.mark_point().encode(y=f"{y}:Q", tooltip=tips, opacity=faded(pick)).add_params(pick)
    zero = alt.Chart(table).mark_rule(color="#888", strokeDash=[4, 4]).encode(y=alt.datum(0))
    return _menu(alt.layer(band, line, points, zero), table, choose, default).properties(width="container")


def _menu_param(table: pd.DataFrame, choose: str, default: str | None = None):
    """A drop-down over the values of column ``choose`` (sorted), opening on ``default`` (else the first)."""
    options = sorted(table[choose].unique().tolist())
    if default is not None and default not in options:
        raise InputError(f"the menu of {choose!r} has no option {default!r}; options: {', '.join(map(str, options))}")
    return alt.param(name=f"pick_{choose}", value=options[0] if default is None else default,
                     bind=alt.binding_select(options=options, name=f"{choose} "))


def _menu(chart, table: pd.DataFrame, choose: str | None, default: str | None = None):
    """Add a drop-down that filters ``chart`` to one value of column ``choose`` (opening on ``default``).

    The filter sits on ``chart`` itself, so every layer must share its data (Altair then lifts
    the data to the top); :func:`seed_lines` filters its data layers one by one instead.
    """
    if not choose:
        return chart
    menu = _menu_param(table, choose, default)
    return chart.add_params(menu).transform_filter(alt.datum[choose] == menu)


def floor_lines(table: pd.DataFrame, y: str, floor: str, color: str, title: str, subtitle: str,
                y_title: str | None = None, choose: str | None = None, default: str | None = None) -> alt.Chart:
    """Solid lines of ``y`` over layers and dashed lines of ``floor`` (the seed noise floor)."""
    base = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).encode(
        x=alt.X("layer:O", title="layer (0 = embeddings)", axis=alt.Axis(labelAngle=0)),
        color=color_encoding(table, color))
    tips = [alt.Tooltip(f"{color}:N"), alt.Tooltip("layer:O"), alt.Tooltip(f"{y}:Q", format=".3f", title=y_title or y),
            alt.Tooltip(f"{floor}:Q", format=".3f", title="seed floor")]
    pick = highlight(color)
    line = base.mark_line(point=True).encode(y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(zero=False)),
                                             tooltip=tips, opacity=faded(pick)).add_params(pick)
    dashed = base.mark_line(strokeDash=[5, 4]).encode(y=f"{floor}:Q", tooltip=tips, opacity=faded(pick, 0.1))
    return _menu(alt.layer(line, dashed), table, choose, default).properties(width="container")


def heatmap(table: pd.DataFrame, x: str, y: str, value: str, title: str, subtitle: str,
            x_title: str | None = None, y_title: str | None = None, choose: str | None = None,
            default: str | None = None) -> alt.Chart:
    """A layer-by-layer matrix: cell colour is ``value``; hover a cell for its number."""
    chart = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).mark_rect().encode(
        x=alt.X(f"{x}:O", title=x_title or x, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{y}:O", title=y_title or y, sort="descending"),
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="viridis"), title=value),
        tooltip=[alt.Tooltip(f"{x}:O", title=x_title or x), alt.Tooltip(f"{y}:O", title=y_title or y),
                 alt.Tooltip(f"{value}:Q", format=".3f")])
    return _menu(chart, table, choose, default).properties(width="container", height=300)


def dots(table: pd.DataFrame, x: str, y: str, color: str, title: str, subtitle: str,
         x_title: str | None = None, choose: str | None = None, default: str | None = None) -> alt.Chart:
    """One point per row: ``x`` quantitative against the ``y`` category, coloured by ``color``."""
    pick = highlight(color)
    chart = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).mark_point(size=90).encode(
        x=alt.X(f"{x}:Q", title=x_title or x, scale=alt.Scale(zero=False)), opacity=faded(pick),
        y=alt.Y(f"{y}:N", title=None, sort=None, axis=alt.Axis(labelLimit=320)), color=color_encoding(table, color),
        tooltip=[tooltip(table, c) for c in table.columns if c not in (x,)]
                + [alt.Tooltip(f"{x}:Q", format=".3f", title=x_title or x)],
    ).add_params(pick)
    return _menu(chart, table, choose, default).properties(width="container")


def seed_lines(table: pd.DataFrame, x: str, y: str, color: str, title: str, subtitle: str,
               x_title: str | None = None, y_title: str | None = None, choose: str | None = None,
               marks: dict | None = None) -> alt.Chart:
    """The mean over seeds as a line per ``color`` group, each seed as a small point.

    ``table`` has one row per seed (column ``seed``); ``marks`` labels some ``x`` values with a
    vertical rule and a text (such as the two ends of an ablation grid).
    """
    tips = [alt.Tooltip(f"{color}:N"), alt.Tooltip(f"{x}:O", title=x_title or x)]
    base = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).encode(
        x=alt.X(f"{x}:O", title=x_title or x, axis=alt.Axis(labelAngle=0)), color=color_encoding(table, color))
    pick = highlight(color)
    mean = base.mark_line(point=True).encode(
        y=alt.Y(f"mean({y}):Q", title=y_title or y, scale=alt.Scale(zero=False)), opacity=faded(pick),
        tooltip=tips + [alt.Tooltip(f"mean({y}):Q", format=".3f", title=f"mean {y_title or y}"),
                        alt.Tooltip(f"min({y}):Q", format=".3f", title="lowest seed"),
                        alt.Tooltip(f"max({y}):Q", format=".3f", title="highest seed")])
    seeds = base.mark_point(size=25, filled=True).encode(
        y=f"{y}:Q", opacity=alt.condition(pick, alt.value(0.5), alt.value(0.08)),
        tooltip=tips + [alt.Tooltip("seed:N"), alt.Tooltip(f"{y}:Q", format=".3f", title=y_title or y)])
    layers = [mean.add_params(pick), seeds]
    menu = _menu_param(table, choose) if choose else None
    if menu is not None:  # each data layer filtered: the notes below have data of their own
        layers = [layer.transform_filter(alt.datum[choose] == menu) for layer in layers]
    if marks:
        notes = pd.DataFrame({x: list(marks), "note": list(marks.values())})
        rule = alt.Chart(notes).mark_rule(color="#999", strokeDash=[2, 3]).encode(
            x=f"{x}:O", tooltip=[alt.Tooltip(f"{x}:O", title=x_title or x), "note"])
        last = notes[x] == table[x].max()  # its note reads leftwards, inside the chart
        texts = [alt.Chart(part).mark_text(align=align, dx=dx, dy=-6, color="#555", fontSize=11).encode(
                     x=f"{x}:O", y=alt.value(0), text="note")
                 for part, align, dx in ((notes[~last], "left", 3), (notes[last], "right", -3)) if len(part)]
        layers = [rule, *texts] + layers  # beneath the data, so hovering a point finds the point
    chart = alt.layer(*layers)
    return (chart.add_params(menu) if menu is not None else chart).properties(width="container")


def write_vega_assets(static_dir: str | Path) -> list[str]:
    """Write the offline vega bundle and its preload into ``static_dir``; returns their names.

    The bundle is wrapped in an IIFE so that its top-level declarations stay private to it; it
    sets ``window.vega``, ``window.vegaLite`` and ``window.vegaEmbed``. The preload sets altair's
    ``VEGA_DEBUG`` versions, which makes altair's loader use those instead of fetching a CDN.
    """
    import vl_convert as vlc
    from lib.artifacts import atomic_path

    static_dir = Path(static_dir)
    vl_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    bundle = f"(function () {{\n{vlc.javascript_bundle(vl_version=vl_minor)}\n}})();\n"
    versions = {"vega_version": alt.VEGA_VERSION, "vegalite_version": alt.VEGALITE_VERSION,
                "vegaembed_version": alt.VEGAEMBED_VERSION}
    preload = f"var VEGA_DEBUG = Object.assign(window.VEGA_DEBUG || {{}}, {versions!r});\n".replace("'", '"')
    for name, text in ((BUNDLE_JS, bundle), (PRELOAD_JS, preload)):
        with atomic_path(static_dir / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return [PRELOAD_JS, BUNDLE_JS]


def write_mathjax(extra_dir: str | Path) -> Path:
    """Copy MathJax 3 (shipped by the ``django-static-mathjax`` package) into ``extra_dir/mathjax``.

    Sphinx would load MathJax from a CDN; ``_config.yml`` points ``mathjax_path`` here instead.
    Not ``_static``: jupyter-book would add every script found there to every page.
    """
    import shutil

    try:
        import mathjax
    except ImportError:
        raise SetupError("the offline book takes MathJax from django-static-mathjax: "
                          "pip install django-static-mathjax==3.2.2.1") from None
    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    target = Path(extra_dir) / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return target


__all__ = ["BUNDLE_JS", "COLORS", "OTHERS", "PALETTE", "PRELOAD_JS", "book_theme", "color_encoding", "color_of",
           "dots", "enable", "faded", "floor_lines", "highlight", "heatmap", "layer_band", "layer_lines", "line_chart", "seed_lines",
           "seed_points", "tooltip", "write_mathjax", "write_vega_assets"]
