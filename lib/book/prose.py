"""Numbers and phrases for a chapter's prose, from the run (myst-nb's ``glue``).

A chapter computes what its text states and glues it; the markdown cites it with
``{glue:text}`name:.3f``` (a number) or ``{glue:md}`name``` (a phrase), so the text follows the
profile and no number is typed by hand. The output is the one ``myst_nb.glue`` writes (its
mimebundle under the ``application/papermill.record/`` prefix, its name in the ``scrapbook``
metadata), written here so that a chapter runs where myst-nb is not installed, as in Colab.
"""
from __future__ import annotations

from numbers import Number

from lib.errors import InputError

PREFIX = "application/papermill.record/"


def glue(**values) -> None:
    """Glue each value under its name: a number (``{glue:text}``) or a phrase in Markdown (``{glue:md}``)."""
    from IPython.core.formatters import format_display_data
    from IPython.display import Markdown, display

    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (Number, str)):
            raise InputError(f"glue {name!r}: a number or a phrase, not {type(value).__name__}")
        if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar reads as the number itself
            value = value.item()
        if isinstance(value, float):
            value += 0.0  # no "-0.0"
        bundle, metadata = format_display_data(Markdown(value) if isinstance(value, str) else value)
        if isinstance(value, str):  # a phrase reads as itself in text too: another page cites it by {glue:text}
            bundle["text/plain"] = value
        metadata["scrapbook"] = {"name": name, "mime_prefix": PREFIX}
        display({PREFIX + kind: data for kind, data in bundle.items()}, raw=True, metadata=metadata)


def glued(notebook: dict) -> dict[str, str]:
    """The values an executed notebook (``nbformat`` JSON) glued, by name, as plain text."""
    values = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                data = output.get("data", {})
                # a phrase's text/plain is only its repr ("<IPython...Markdown object>"): read its Markdown
                text = data.get(PREFIX + "text/markdown", data.get(PREFIX + "text/plain", ""))
                values[record["name"]] = "".join(text) if isinstance(text, list) else text
    return values


def contradictions(notebooks: dict[str, dict]) -> list[str]:
    """Every name glued by two pages with different values: one line per name, naming the pages.

    A quantity that several chapters state (a model's test score on a test set, a chance score, a
    layer where a task leaves its seed floor) is glued under one name wherever it is stated, so a
    page that computed it differently shows here.

    >>> page = lambda value: {"cells": [{"outputs": [{"metadata": {"scrapbook": {"name": "x"}},
    ...                                               "data": {PREFIX + "text/plain": value}}]}]}
    >>> contradictions({"a": page("0.5"), "b": page("0.5")})
    []
    >>> contradictions({"a": page("0.5"), "b": page("0.6")})
    ['x: a says 0.5, b says 0.6']
    """
    seen: dict[str, dict[str, str]] = {}
    for page, notebook in notebooks.items():
        for name, value in glued(notebook).items():
            seen.setdefault(name, {})[page] = value
    return [f"{name}: " + ", ".join(f"{page} says {value}" for page, value in pages.items())
            for name, pages in sorted(seen.items()) if len(set(pages.values())) > 1]
