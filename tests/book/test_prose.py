"""The chapters' takeaways state measured numbers only through myst-nb glue, never typed by hand."""
import json
import re
from pathlib import Path

import pytest

from lib.book.build import ROOT

NOTEBOOKS = sorted((ROOT / "book").glob("0*.ipynb"))  # the chapters (the introduction has no takeaway)
# a decimal, a percentage or a count with a thousands separator: what a measurement looks like
MEASURED = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])|\d+\s?%|\d{1,3}(?:,\d{3})+")
# what may hold one: a glue role, inline code, inline math
QUOTED = re.compile(r"\{glue:\w+\}`[^`]*`|`[^`]*`|\$[^$]*\$")


def takeaway(path: Path) -> str:
    """The markdown from a chapter's ``## Takeaway`` heading (the closing chapter's ``## What this
    book found``) to its next ``## `` heading."""
    text = "\n".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
                     if c["cell_type"] == "markdown")
    start = text.find("## Takeaway")
    start = text.index("## What this book found") if start < 0 else start
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_takeaway_types_a_measured_number(path: Path):
    typed = MEASURED.findall(QUOTED.sub("", takeaway(path)))
    assert not typed, f"{path.name}: numbers typed into the takeaway (glue them from the run): {typed}"


def test_the_check_sees_a_typed_number():
    assert MEASURED.findall(QUOTED.sub("", "accuracy 0.765 ({glue:text}`acc:.3f`), 87 % of 8,000 pairs, k = 2")) == [
        "0.765", "87 %", "8,000"]


def test_two_pages_that_glue_one_phrase_differently_are_caught():
    from lib.book.prose import PREFIX, contradictions

    def page(phrase: str) -> dict:  # as lib.glue writes a phrase: Markdown, with its repr as text/plain
        data = {PREFIX + "text/markdown": phrase, PREFIX + "text/plain": "<IPython.core.display.Markdown object>"}
        return {"cells": [{"outputs": [{"metadata": {"scrapbook": {"name": "floor"}}, "data": data}]}]}

    assert contradictions({"a": page("layer 3"), "b": page("layer 3")}) == []
    assert contradictions({"a": page("layer 3"), "b": page("layer 1")}) == ["floor: a says layer 3, b says layer 1"]


def _markdown(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
                     if c["cell_type"] == "markdown")


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_prose_refers_to_figures_by_number(path: Path):
    """Every chart is a numbered figure: the text cites it with {numref}, not by its place on the page."""
    stale = re.findall(r"drop-down|(?:first|second|third|last) chart|chart (?:below|above)", _markdown(path), re.I)
    assert not stale, f"{path.name}: {stale} (cite the figure with {{numref}}`fig-...`)"


def test_the_closing_findings_do_not_repeat_the_verdict_table():
    found = takeaway(ROOT / "book" / "07_conclusions.ipynb")
    assert "{numref}`fig-verdicts`" in found and "{glue:md}`e_" not in found


def test_the_intro_gives_every_finding_its_interval():
    from lib.book.takeaways.verdicts import FINDINGS

    intro = _markdown(ROOT / "book" / "intro.ipynb")
    missing = [name for name in FINDINGS if f"07_conclusions.ipynb::i_{name}:" not in intro]
    assert not missing, f"the intro's findings table lacks the interval of {missing}"
