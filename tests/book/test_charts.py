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


def _spec_values(spec, key: str) -> list:
    """Every value of ``key`` anywhere in a Vega-Lite spec (dicts and lists, depth first)."""
    found = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == key:
                found.append(v)
            found.extend(_spec_values(v, key))
    elif isinstance(spec, list):
        for v in spec:
            found.extend(_spec_values(v, key))
    return found


def _probe_layers() -> pd.DataFrame:
    rows = [{"model": model, "seed": seed, "probe": probe, "layer": layer,
             "score": 0.838 + 0.001 * layer + (0.004 * seed if model != "pre-trained" else 0.0)}
            for model, seeds in (("pre-trained", ["-"]), ("nli", [0, 1])) for seed in seeds
            for probe in ("upos", "coreference") for layer in range(3)]
    return pd.DataFrame(rows)


def test_probe_panels_keep_scores_on_a_fixed_axis_one_panel_per_probe():
    """A flat probe (scores 0.838-0.846) is drawn on [0, 1], not zoomed; the probes are panels, not a menu."""
    chart = charts.score_panels(_probe_layers(), order=["upos", "coreference"], title="t", subtitle="s", y_title="y")
    spec = chart.to_dict()
    assert [0.0, 1.0] in _spec_values(spec, "domain")
    assert spec["facet"]["field"] == "probe" and not _spec_values(spec, "bind") == ["select"]
    assert "select" not in str(_spec_values(spec, "bind"))  # no drop-down
    svg = vl_convert.vegalite_to_svg(spec)
    assert svg.count("upos") >= 1 and svg.count("coreference") >= 1


def test_probe_differences_draw_the_tolerance_band_on_a_shared_axis_centred_on_zero():
    from lib.experiments import findings

    spec = charts.difference_band(_probe_layers(), title="t", subtitle="s", y_title="d").to_dict()
    assert spec["datasets"][spec["data"]["name"]][0]["noise_high"] == findings.TOLERANCE
    domains = [d for d in _spec_values(spec, "domain") if isinstance(d, list) and len(d) == 2
               and all(isinstance(v, float) for v in d)]
    assert domains and all(low == -high and high >= 0.1 for low, high in domains)


def test_symmetric_domain_holds_every_value():
    assert charts.symmetric(pd.Series([-0.34, 0.457])) == (-0.5, 0.5)
    assert charts.symmetric(pd.Series([0.001])) == (-0.1, 0.1)


def _shift_similarity() -> pd.DataFrame:
    rows = []
    for task, domains in (("nli", ["snli", "wikipedia", "ewt-email"]), ("parsing", ["ewt-email", "gum-bio"])):
        for i, domain in enumerate(domains):
            for layer in range(3):
                for measure in ("rsa", "cka"):
                    rows.append({"task": task, "domain": domain, "in_domain": i == 0, "layer": layer,
                                 "measure": measure, "value": 1 - 0.2 * layer - 0.05 * (i == 0),
                                 "seed_floor": 0.9 - 0.01 * i})
    return pd.DataFrame(rows)


def test_domain_chart_highlights_the_own_domain_and_keeps_its_legend_short():
    """The legend names what is shown: one entry per task's own domain, "other domains" and the seed floor."""
    chart = charts.domain_layers(_shift_similarity(), tasks=["nli", "parsing"], title="t", subtitle="s")
    spec = chart.to_dict()
    color_domains = [d for d in _spec_values(spec, "domain") if isinstance(d, list) and "other domains" in d]
    assert color_domains and set(color_domains[0]) == {"nli: in-domain", "parsing: in-domain", "other domains"}
    svg = vl_convert.vegalite_to_svg(spec)
    assert "seed floor (range over the domains)" in svg and "gum-bio" not in svg.split("other domains")[-1]
    assert charts.COLORS["nli"] in _fills(chart) and charts.COLORS["parsing"] in _fills(chart)


def test_every_chart_with_a_legend_highlights_on_click():
    layers = _probe_layers()
    table = _table()
    made = [charts.score_panels(layers, title="t", subtitle="s", y_title="y"),
            charts.difference_band(layers, title="t", subtitle="s", y_title="d"),
            charts.domain_layers(_shift_similarity(), title="t", subtitle="s"),
            charts.domain_change(_shift_similarity(), title="t", subtitle="s"),
            charts.layer_lines(table.rename(columns={"k": "layer"}), y="value", color="task", title="t", subtitle="s"),
            charts.seed_lines(table, x="k", y="value", color="experiment", title="t", subtitle="s", choose="task",
                              marks={0: "start"}),
            charts.floor_lines(table.rename(columns={"k": "layer"}).assign(floor=0.5), y="value", floor="floor",
                               color="experiment", title="t", subtitle="s"),
            charts.dots(table, x="value", y="experiment", color="task", title="t", subtitle="s"),
            charts.seed_points(table.assign(metric="accuracy"), title="t", subtitle="s"),
            charts.layer_band(table.rename(columns={"k": "layer"}), y="value", low="value", high="value",
                              color="task", title="t", subtitle="s"),
            charts.measure_floor_lines(_similarity(), title="t", subtitle="s", y_title="y"),
            charts.standardising_lines(_similarity(), _similarity(), title="t", subtitle="s", y_title="y"),
            charts.restored_scores(*_ablation(), title="t", subtitle="s"),
            charts.change_by_layer(_similarity(), title="t", subtitle="s")]
    for chart in made:
        assert "legend" in str(_spec_values(chart.to_dict(), "bind")), chart
        spec = chart.to_dict()
        for param, view in _legend_selections(spec):  # Vega-Lite binds a legend only where its field is drawn
            views = [v for name in param.get("views", []) for v in _named(spec, name)] or [view]
            drawn = {e.get("field") for v in views for e in v.get("encoding", {}).values() if isinstance(e, dict)}
            assert set(param["select"]["fields"]) <= drawn, (param, drawn)


def _legend_selections(spec) -> list[tuple[dict, dict]]:
    """Every selection bound to the legend, with the view that defines it."""
    found = []
    if isinstance(spec, dict):
        found += [(p, spec) for p in spec.get("params", []) if isinstance(p, dict) and p.get("bind") == "legend"]
        for v in spec.values():
            found.extend(_legend_selections(v))
    elif isinstance(spec, list):
        for v in spec:
            found.extend(_legend_selections(v))
    return found


def _named(spec, name: str) -> list[dict]:
    """The views of a spec called ``name``."""
    if isinstance(spec, dict):
        return ([spec] if spec.get("name") == name else []) + [v for x in spec.values() for v in _named(x, name)]
    if isinstance(spec, list):
        return [v for x in spec for v in _named(x, name)]
    return []


def _ablation():
    rows = [{"task": task, "seed": seed, "experiment": experiment, "k": k, "metric": "accuracy",
             "value": 0.8 - (0.05 * k if experiment == "freezing" else 0.05 * (2 - k))}
            for task in ("nli", "sentiment") for seed in (0, 1)
            for experiment in ("freezing", "restore_top", "restore_bottom") for k in range(3)]
    chance = pd.Series({("nli", "accuracy"): 0.34, ("sentiment", "accuracy"): 0.5})
    chance.index.names = ["task", "metric"]
    return pd.DataFrame(rows), chance


def test_freezing_and_restoring_have_x_axes_of_their_own():
    ablation, chance = _ablation()
    spec = charts.losses_by_boundary(ablation, chance, title="t", subtitle="s").to_dict()
    titles = [c["encoding"]["x"]["title"] for c in spec["hconcat"]]
    assert titles == ["frozen during fine-tuning: layers 0..k", "restored afterwards: layers k+1..L"]
    ks = [sorted({row["k"] for row in spec["datasets"][c["data"]["name"]]}) for c in spec["hconcat"]]
    assert ks == [[0, 1, 2], [0, 1]]  # restoring k = L restores nothing: left out


def test_glue_figure_glues_the_chart_without_showing_it(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from lib.book.prose import PREFIX

    shown = []
    shell = InteractiveShell.instance()
    shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append((data, metadata))
    charts.enable()
    charts.glue_figure("fig_x", charts.layer_lines(_table().rename(columns={"k": "layer"}), y="value", color="task",
                                                   title="t", subtitle="s"))
    (data, metadata), = shown
    assert metadata["scrapbook"] == {"name": "fig_x", "mime_prefix": PREFIX}
    assert set(data) and all(kind.startswith(PREFIX) for kind in data) and PREFIX + "text/html" in data


def test_verdict_table_has_one_short_value_per_cell_and_a_chart_per_finding():
    from lib.book.takeaways import verdicts as V

    kept = pd.DataFrame({"task": ["nli", "nli"], "probe": ["upos", "coreference"], "kept": [0.9, 0.5],
                         "low": [0.8, 0.1], "high": [1.0, 0.9], "informative": [True, True], "method": "t"})
    top = pd.DataFrame({"task": ["nli"], "margin": [0.08], "low": [0.06], "high": [0.1]})
    deeper = pd.DataFrame({"line": ["freezing_chance"], "other": ["nli"], "difference": [0.1], "low": [-0.1],
                           "high": [0.3]})
    closest = pd.DataFrame({"task": ["nli"], "measure": ["rsa"], "gap": [-0.05], "low": [-0.07], "high": [-0.03]})
    units = V.verdict_units(kept, top, deeper, closest)
    verdicts = pd.DataFrame({"verdict": ["inconclusive", "reproduced", "inconclusive", "not reproduced"]})
    table = V.verdict_table(verdicts, units)
    assert table.map(len).max().max() <= 300 and len(table) == 4
    assert table.loc["No catastrophic forgetting", "weakest case"] == "NLI model, coreference probe"
    assert table.loc["No catastrophic forgetting", "its estimate [interval]"] == "0.50 [0.10, 0.90]"
    spec = charts.verdict_panels(units, title="t", subtitle="s").to_dict()
    assert sum(len(row["hconcat"]) for row in spec["vconcat"]) == 4


def test_training_curves_are_one_panel_per_task_with_the_loss_axis_from_zero():
    history = _table().rename(columns={"k": "step"})
    spec = charts.panel_lines(history, x="step:Q", y="value", color="seed", facet="task", domain=None, title="t",
                              subtitle="s", y_title="loss", x_title="optimizer step").to_dict()
    assert spec["facet"]["field"] == "task" and "select" not in str(_spec_values(spec, "bind"))
    assert {"zero": True} in _spec_values(spec, "scale") and spec["resolve"]["scale"]["y"] == "independent"
    assert "optimizer step" in _spec_values(spec, "title")


def _similarity(seeds: int = 3) -> pd.DataFrame:
    """Chapter 4's table: (task, inputs, text, layer, measure, value, value_min, value_max, seed_floor)."""
    rows = [{"task": task, "inputs": inputs, "text": text, "layer": layer, "measure": measure,
             "value": 1 - 0.1 * layer - 0.05 * i, "value_min": 0.99 - 0.1 * layer - 0.05 * i,
             "value_max": 1 - 0.1 * layer - 0.05 * i, "seed_floor": 1 - 0.04 * layer if seeds > 1 else float("nan")}
            for i, task in enumerate(("nli", "parsing", "sentiment"))
            for inputs, text in (("own", "own text"), ("wikipedia", "Wikipedia")) for layer in range(3)
            for measure in ("rsa", "cka", "cka_debiased")]
    return pd.DataFrame(rows)


def _panels(spec) -> list:
    """The facet values of a faceted spec, as Vega-Lite orders them (the ``sort`` list)."""
    return spec["facet"]["sort"]


def test_similarity_by_layer_is_one_panel_per_measure_and_text_on_a_fixed_axis():
    """RSA and CKA on each text are four panels (no menu), the seed floor dashed, y on [0, 1]."""
    spec = charts.measure_floor_lines(_similarity(), title="t", subtitle="s", y_title="similarity").to_dict()
    assert _panels(spec) == ["RSA · own text", "CKA · own text", "RSA · Wikipedia", "CKA · Wikipedia"]
    assert spec["columns"] == 2 and "select" not in str(_spec_values(spec, "bind"))
    assert [0.0, 1.0] in _spec_values(spec, "domain") and [5, 4] in _spec_values(spec, "strokeDash")
    svg = vl_convert.vegalite_to_svg(spec)
    assert all(panel in svg for panel in _panels(spec)) and "CKA_DEBIASED" not in svg


def test_a_negative_similarity_widens_the_axis_instead_of_being_cut():
    table = _similarity().assign(value=lambda t: t.value - 0.85)  # lowest -0.15
    spec = charts.measure_floor_lines(table, title="t", subtitle="s", y_title="similarity").to_dict()
    assert [-0.2, 1.0] in _spec_values(spec, "domain")


def test_standardising_is_one_panel_per_task():
    raw = _similarity()
    spec = charts.standardising_lines(raw, raw.assign(value=raw.value - 0.1), tasks=["parsing", "nli", "sentiment"],
                                      title="t", subtitle="s", y_title="RSA").to_dict()
    assert spec["facet"]["field"] == "task" and _panels(spec) == ["parsing", "nli", "sentiment"]
    assert "select" not in str(_spec_values(spec, "bind"))
    rows = spec["datasets"][spec["data"]["name"]]
    assert {r["view"] for r in rows} == {"raw cosine", "standardised"} and {r["measure"] for r in rows} == {"rsa"}


def test_layer_matrices_are_one_panel_per_task_and_measure_on_one_colour_scale():
    matrices = pd.DataFrame([{"layer_x": x, "layer_y": y, "similarity": 1 - 0.2 * abs(x - y), "task": task,
                              "measure": measure} for task in ("nli", "parsing") for measure in ("rsa", "cka")
                             for x in range(3) for y in range(3)])
    spec = charts.matrix_panels(matrices, tasks=["parsing", "nli"], title="t", subtitle="s").to_dict()
    assert spec["facet"]["row"]["sort"] == ["parsing", "nli"] and spec["facet"]["column"]["sort"] == ["RSA", "CKA"]
    assert [0.0, 1.0] in _spec_values(spec, "domain") and "select" not in str(_spec_values(spec, "bind"))
    svg = vl_convert.vegalite_to_svg(spec)
    assert svg.count('role-mark') >= 4 and "RSA" in svg and "parsing" in svg


def test_module_change_is_one_panel_per_task_on_one_axis_from_zero():
    table = pd.DataFrame([{"task": task, "module": module, "layer": layer, "relative_change": 0.01 * layer + d}
                          for task, d in (("nli", 0.0), ("parsing", 0.021)) for module in ("attention", "feed-forward")
                          for layer in range(3)])
    spec = charts.module_panels(table, tasks=["nli", "parsing"], title="t", subtitle="s", y_title="y").to_dict()
    assert spec["facet"]["field"] == "task" and "select" not in str(_spec_values(spec, "bind"))
    assert [0.0, 0.05] in _spec_values(spec, "domain") and "resolve" not in spec  # 0.041 rounded up, shared


def test_restoring_is_one_panel_per_task_with_chance_and_the_lines_ends_named():
    ablation, chance = _ablation()
    spec = charts.restored_scores(ablation, chance, tasks=["sentiment", "nli"], title="t", subtitle="s").to_dict()
    assert spec["facet"]["field"] == "task" and _panels(spec) == ["sentiment", "nli"]
    assert "select" not in str(_spec_values(spec, "bind")) and [0.0, 1.0] in _spec_values(spec, "domain")
    rows = spec["datasets"][spec["data"]["name"]]
    assert {(r["task"], r["chance"]) for r in rows} == {("nli", 0.34), ("sentiment", 0.5)}
    assert {r["experiment"] for r in rows} == {"pre-trained bottom (0..k), k = 0: nothing restored",
                                               "pre-trained top (k+1..L), k = L: nothing restored"}
    svg = vl_convert.vegalite_to_svg(spec)
    # per panel: 2 experiments x 3 k means and 12 seed points; the chance rule named once per panel
    assert _symbols(charts.restored_scores(ablation, chance, title="t", subtitle="s")) == 2 * (6 + 12)
    assert svg.count(">chance<") == 2 and ">pre-trained top (k+1..L), k = L: nothing restored<" in svg


def test_change_by_layer_is_on_a_fixed_axis_with_the_seed_noise_as_a_band():
    """1 - RSA on [0, 1], one panel per task, and the change two seeds alone make (1 - seed floor) drawn."""
    tasks = ["nli", "parsing", "sentiment"]
    spec = charts.change_by_layer(_similarity(), tasks=tasks, title="t", subtitle="s").to_dict()
    assert spec["facet"]["field"] == "task" and [0.0, 1.0] in _spec_values(spec, "domain")
    rows = pd.DataFrame(spec["datasets"][spec["data"]["name"]])
    assert len(rows) == 3 * 3 and ((rows.seed_noise - 0.04 * rows.layer).abs() < 1e-9).all()
    assert ((rows.lowest_seed <= rows.change) & (rows.change <= rows.highest_seed)).all()
    svg = vl_convert.vegalite_to_svg(spec)
    assert "two seeds apart (1 - seed floor)" in svg
    one_seed = charts.change_by_layer(_similarity(seeds=1), title="t", subtitle="s")  # no floor: no band, no error
    assert "<path" in vl_convert.vegalite_to_svg(one_seed.to_dict())



def test_seed_points_sets_its_height_so_that_vega_lite_drops_no_fit():
    """A container width over a discrete y with no height makes Vega-Lite log "Dropping fit-y because
    spec has discrete height" in the browser: the chart sets a height, one step a row."""
    table = pd.DataFrame({"task": ["nli", "nli", "parsing"], "metric": ["accuracy", "accuracy", "las"],
                          "seed": [0, 1, 0], "value": [0.7, 0.72, 0.8]})
    spec = charts.seed_points(table, title="t", subtitle="s").to_dict()
    assert spec["width"] == "container" and isinstance(spec["height"], int) and spec["height"] == 2 * 34


def test_the_intro_summary_draws_each_finding_at_its_weakest_case():
    from lib.book.takeaways import verdicts as V

    units = pd.DataFrame({"finding": [V.SHORT["top"]] * 2 + [V.SHORT["domain"]], "unit": ["NLI model", "parsing model",
                          "NLI model, RSA"], "estimate": [0.3, 0.1, -0.05], "low": [0.2, -0.1, -0.07],
                          "high": [0.4, 0.3, -0.03], "threshold": 0.0, "measure": ["margin", "margin", "gap"],
                          "verdict": ["reproduced", "inconclusive", "not reproduced"]})
    weakest = V.weakest_units(units)
    assert weakest.unit.tolist() == ["parsing model", "NLI model, RSA"]
    spec = charts.verdict_panels(weakest, title="t", subtitle="s").to_dict()
    assert [len(row["hconcat"]) for row in spec["vconcat"]] == [1, 1]


def test_the_seed_floor_band_is_drawn_at_least_a_few_pixels_tall_with_its_true_range_in_the_tooltip():
    from lib.book.charts.domains import FLOOR_MIN

    similarity = _shift_similarity().assign(seed_floor=0.998)  # a floor with no range: a hairline near 1
    spec = charts.domain_layers(similarity, title="t", subtitle="s").to_dict()
    band = next(layer for layer in spec["spec"]["layer"] if layer["mark"]["type"] == "area")
    calculated = " ".join(t.get("calculate", "") for t in band["transform"])
    assert f"{FLOOR_MIN / 2}" in calculated and f"datum.top - {FLOOR_MIN}" in calculated and "min(1," in calculated
    assert {t["field"] for t in band["encoding"]["tooltip"]} == {"layer", "low", "high"}
    assert "seed floor (range over the domains)" in vl_convert.vegalite_to_svg(spec)
