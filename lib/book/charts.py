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
    pick = alt.selection_point(fields=[color.split(":")[0]], bind="legend")
    x_field = x.split(":")[0]
    base = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).encode(
        x=alt.X(x, title=x_title or x_field, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(zero=False)),
        color=color_encoding(table, color),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
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
    """One point per seed and a tick at the mean, per (task, metric); ``table`` from ``metrics_table``."""
    table = table.assign(row=table.task + " · " + table.metric)
    base = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).encode(
        y=alt.Y("row:N", title=None), x=alt.X("value:Q", title="test score", scale=alt.Scale(zero=False)))
    points = base.mark_point(size=90).encode(
        color=color_encoding(table, "seed"),
        tooltip=["task", "metric", "seed:N", alt.Tooltip("value:Q", format=".3f")])
    mean = base.mark_tick(thickness=3, size=26, color="#333").encode(
        x="mean(value):Q", tooltip=["task", "metric", alt.Tooltip("mean(value):Q", format=".3f", title="mean"),
                                    alt.Tooltip("min(value):Q", format=".3f", title="lowest seed"),
                                    alt.Tooltip("max(value):Q", format=".3f", title="highest seed")])
    return (mean + points).properties(width="container")


def layer_band(table: pd.DataFrame, y: str, low: str, high: str, color: str, title: str, subtitle: str,
               y_title: str | None = None, choose: str | None = None, default: str | None = None) -> alt.Chart:
    """A line per ``color`` group over layers with a band from ``low`` to ``high`` and a zero rule."""
    base = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).encode(
        x=alt.X("layer:O", title="layer (0 = embeddings)", axis=alt.Axis(labelAngle=0)),
        color=color_encoding(table, color))
    tips = [alt.Tooltip(f"{color}:N"), alt.Tooltip("layer:O"), alt.Tooltip(f"{y}:Q", format=".3f", title=y_title or y),
            alt.Tooltip(f"{low}:Q", format=".3f"), alt.Tooltip(f"{high}:Q", format=".3f")]
    band = base.mark_area(opacity=0.18).encode(y=alt.Y(f"{low}:Q", title=y_title or y), y2=f"{high}:Q")
    line = base.mark_line().encode(y=f"{y}:Q")
    points = base.mark_point().encode(y=f"{y}:Q", tooltip=tips)
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
    line = base.mark_line(point=True).encode(y=alt.Y(f"{y}:Q", title=y_title or y, scale=alt.Scale(zero=False)),
                                             tooltip=tips)
    dashed = base.mark_line(strokeDash=[5, 4], opacity=0.7).encode(y=f"{floor}:Q", tooltip=tips)
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
    chart = alt.Chart(table, title=alt.Title(title, subtitle=subtitle)).mark_point(size=90).encode(
        x=alt.X(f"{x}:Q", title=x_title or x, scale=alt.Scale(zero=False)),
        y=alt.Y(f"{y}:N", title=None, sort=None, axis=alt.Axis(labelLimit=320)), color=color_encoding(table, color),
        tooltip=[tooltip(table, c) for c in table.columns if c not in (x,)]
                + [alt.Tooltip(f"{x}:Q", format=".3f", title=x_title or x)],
    )
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
    mean = base.mark_line(point=True).encode(
        y=alt.Y(f"mean({y}):Q", title=y_title or y, scale=alt.Scale(zero=False)),
        tooltip=tips + [alt.Tooltip(f"mean({y}):Q", format=".3f", title=f"mean {y_title or y}"),
                        alt.Tooltip(f"min({y}):Q", format=".3f", title="lowest seed"),
                        alt.Tooltip(f"max({y}):Q", format=".3f", title="highest seed")])
    seeds = base.mark_point(size=25, opacity=0.5, filled=True).encode(
        y=f"{y}:Q", tooltip=tips + [alt.Tooltip("seed:N"), alt.Tooltip(f"{y}:Q", format=".3f", title=y_title or y)])
    layers = [mean, seeds]
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


# Chart views of chapters 1-4
# Each takes a chapter's tidy table, shapes it for its one chart (a filter, a mean over seeds, a melt,
# a label column) and draws it with the functions above; the chapter keeps the question and its labels.
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


# Chart views of chapters 5-7
# Each takes a chapter's tidy table and its question (title, subtitle), shapes the table for the
# chart (the rows of a task's main metric, shares lost, label columns) and draws it.

def freezing_losses(ablation: pd.DataFrame, chance: pd.Series, title: str, subtitle: str) -> alt.Chart:
    """The share of the full fine-tune's score above chance lost (:func:`lib.share_lost`) per frozen
    boundary k, a line per task; ``ablation`` from :func:`lib.ablation_table`, ``chance`` per
    (task, metric)."""
    from lib.book.takeaways.ablation import main_chance, main_scores
    from lib.experiments import share_lost

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
    from lib.book.takeaways.ablation import main_scores

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
    from lib.book.takeaways.shift import domain_label

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
    from lib.book.takeaways.ablation import main_chance, mean_scores
    from lib.experiments import share_lost

    means = mean_scores(ablation)
    losses = means.assign(value=share_lost(means, main_chance(chance)),
                          evidence=means.experiment.map({"freezing": "freezing (0..k frozen)",
                                                         "restore_top": "restoring (k+1..L restored)"}))
    return line_chart(losses.dropna(subset="evidence"), x="k:O", y="value", color="evidence", choose="task",
                      title=title, subtitle=subtitle, x_title="boundary k",
                      y_title="share of the score above chance lost")
