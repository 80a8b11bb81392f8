"""Charts drawn for real (vl-convert renders the Vega-Lite spec to SVG): what the reader sees."""
import re

import pandas as pd
import vl_convert

from lib.book import charts


def _symbols(chart) -> int:
    """The number of points (symbol marks) in the rendered chart."""
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    groups = re.findall(r'<g class="mark-symbol role-mark[^"]*"[^>]*>(.*?)</g>', svg, flags=re.S)
    return sum(group.count("<path") for group in groups)


def _table() -> pd.DataFrame:
    return pd.DataFrame([{"task": task, "experiment": experiment, "k": k, "seed": seed, "value": 0.1 * k + seed}
                         for task in ("nli", "parsing") for experiment in ("a", "b") for k in range(3)
                         for seed in (0, 1)])


def test_seed_lines_menu_filters_every_data_layer():
    table = _table()
    marks = {0: "start", 2: "end"}
    whole = charts.seed_lines(table, x="k", y="value", color="experiment", title="t", subtitle="s", marks=marks)
    one = charts.seed_lines(table, x="k", y="value", color="experiment", title="t", subtitle="s", marks=marks,
                            choose="task")
    # 2 experiments x 3 k means; 12 seed points per task (the means pool the tasks when none is chosen)
    assert _symbols(whole) == 6 + 2 * 12
    assert _symbols(one) == 6 + 12


def test_line_chart_menu_filters():
    table = _table()[lambda t: t.seed == 0]
    assert _symbols(charts.line_chart(table, "k:O", "value", "experiment", "t", "s", choose="task")) == 6


def test_a_menu_opens_on_its_default():
    """The chart draws the default option's rows; an option the table lacks is refused before drawing."""
    import pytest

    table = _table()[lambda t: t.seed == 0].assign(floor=0.5)
    table = table[~((table.task == "parsing") & (table.k == 2))]  # parsing: 2 ks, nli: 3
    first = charts.dots(table, x="value", y="experiment", color="k", title="t", subtitle="s", choose="task")
    chosen = charts.dots(table, x="value", y="experiment", color="k", title="t", subtitle="s", choose="task",
                         default="parsing")
    assert _symbols(first) == 6 and _symbols(chosen) == 4
    with pytest.raises(ValueError, match="the menu of 'task' has no option 'qa'; options: nli, parsing"):
        charts.floor_lines(table.rename(columns={"k": "layer"}), y="value", floor="floor", color="experiment",
                           title="t", subtitle="s", choose="task", default="qa")


def _fills(chart) -> set[str]:
    """The colours (fill and stroke) of the rendered marks."""
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    return set(re.findall(r'(?:fill|stroke)="(#[0-9a-f]{6})"', svg))


def test_a_task_has_one_colour_on_every_chart():
    both = pd.DataFrame({"task": ["nli", "parsing"], "layer": [0, 0], "value": [0.1, 0.2]})
    parsing_only = both[both.task == "parsing"]
    as_lines = charts.layer_lines(parsing_only, y="value", color="task", title="t", subtitle="s")
    as_dots = charts.dots(both.assign(view="parsing · rsa"), x="value", y="task", color="view", title="t", subtitle="s")
    assert charts.COLORS["parsing"] in _fills(as_lines) and charts.COLORS["parsing"] in _fills(as_dots)
    assert charts.COLORS["nli"] not in _fills(as_lines)  # nli is not on it: its colour is not lent to parsing


def test_other_groups_never_borrow_a_tasks_colour():
    seeds = pd.DataFrame({"seed": [0, 1, 2], "layer": [0, 1, 2], "value": [0.1, 0.2, 0.3]})
    fills = _fills(charts.layer_lines(seeds, y="value", color="seed", title="t", subtitle="s"))
    assert fills and not fills & set(charts.COLORS.values())


def test_legend_symbols_are_opaque():
    legend = charts.book_theme()["config"]["legend"]
    assert legend["symbolOpacity"] == 1


def test_labels_that_only_start_with_a_model_name_keep_colours_of_their_own():
    restored = pd.DataFrame({"experiment": ["pre-trained bottom (0..k)", "pre-trained top (k+1..L)"],
                             "layer": [0, 0], "value": [0.1, 0.2]})
    fills = _fills(charts.layer_lines(restored, y="value", color="experiment", title="t", subtitle="s"))
    assert len(fills & set(charts.OTHERS)) == 2 and not fills & set(charts.COLORS.values())
