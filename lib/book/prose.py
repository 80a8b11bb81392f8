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
        bundle, metadata = format_display_data(Markdown(value) if isinstance(value, str) else value)
        metadata["scrapbook"] = {"name": name, "mime_prefix": PREFIX}
        display({PREFIX + kind: data for kind, data in bundle.items()}, raw=True, metadata=metadata)
