"""Hygiene of the committed chapters: no outputs, one parameters cell, the cpu defaults, Colab."""
import ast
import json
from pathlib import Path

import pytest

from lib.book.build import ROOT, chapters
from lib.book.parameters import load_profile

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def test_every_notebook_is_in_the_table_of_contents():
    assert NOTEBOOKS and sorted(chapters()) == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_hygiene(path: Path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), "commit without outputs"
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    assert "remove-cell" in code[0]["metadata"].get("tags", []) and "google.colab" in "".join(code[0]["source"])
    parameters = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(parameters) == 1
    defaults = {}
    for node in ast.parse("".join(parameters[0]["source"])).body:
        assert isinstance(node, ast.AnnAssign), "parameters are typed literals: name: type = value"
        defaults[node.target.id] = ast.literal_eval(node.value)
    import papermill

    assert set(papermill.inspect_notebook(str(path))) == set(defaults), "papermill must parse every parameter"
    cpu = load_profile("cpu")
    assert {k: v for k, v in defaults.items()} == {k: cpu[k] for k in defaults}, "defaults are the cpu profile"
    assert "lib.chapter_settings(globals())" in "".join(code[2]["source"]), "the cell after parameters checks them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_machinery_is_folded_for_readers(path: Path):
    """Parameters and setup are folded (or removed) on the page; a chapter ends with its
    "Reproduce this page" note, whose code is not shown."""
    code = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    folded = {"hide-input", "remove-cell", "remove-input"}
    assert folded & set(code[1]["metadata"].get("tags", [])), "the parameters cell is folded"
    assert folded & set(code[2]["metadata"].get("tags", [])), "the setup cell is folded"
    if path.stem not in ("intro", "appendix_settings"):
        assert f'lib.reproduce_page("book/{path.name}", settings)' in "".join(code[-1]["source"])
        assert "remove-input" in code[-1]["metadata"].get("tags", [])


SCIENCE = ("lib.get_or_train_all(", "lib.probe_models(", "lib.similarity_table(", "lib.ablation_tables(",
           "lib.shift_tables(", "lib.extract_layers(")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem not in ("intro", "appendix_settings")],
                         ids=lambda p: p.name)
def test_the_science_is_shown_and_the_chart_plumbing_folded(path: Path):
    """Code where it teaches: a cell that trains, probes, compares or ablates is on the page; a
    cell that only draws a chart is folded (its output stays). Chapter 7 only gathers the other
    chapters' results (from their caches) before its verdicts: that cell is folded."""
    code = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    for cell in code[3:-1]:
        source, tags = "".join(cell["source"]).lstrip(), set(cell["metadata"].get("tags", []))
        if any(call in source for call in SCIENCE) and path.stem != "07_conclusions":
            assert not tags & {"hide-input", "remove-cell", "remove-input"}, source.splitlines()[0]
        if source.startswith(("chart = lib.charts", "lib.charts.glue_figure")):
            assert "hide-input" in tags, source.splitlines()[0]
