"""A Sphinx extension: ``{glue:figure}`` of a figure glued on another page, numbered and captioned.

    ```{glue:figure} 07_conclusions.ipynb::fig_summary
    :name: fig-summary

    The caption.
    ```

myst-nb 1.4 pastes another page's output only inline (``{glue:text}`page.ipynb::key```) or bare
(``{glue:any}`` with ``:doc:``), not as a figure with a caption and a number. This directive makes the
figure node, its caption and its name when the page is read, so that jupyter-book numbers it like any
other, and puts myst-nb's pending reference inside it: myst-nb's own post-transform replaces that with
the other page's output (for the book's charts, their HTML) when the page is written, whatever order the
pages were read in. A key without ``::`` is myst-nb's own ``{glue:figure}``.
"""
from __future__ import annotations

from docutils import nodes
from myst_nb.ext.glue.directives import PasteFigureDirective
from myst_nb.ext.glue.utils import PendingGlueReferenceError, create_pending_glue_ref, glue_warning


class PastedFigure(PasteFigureDirective):
    """myst-nb's ``{glue:figure}``, which also takes ``page.ipynb::key``."""

    def run(self):
        if "::" not in self.arguments[0]:
            return super().run()
        page, key = self.arguments[0].split("::", 1)
        try:
            pasted = create_pending_glue_ref(self.document, self.source, self.line, page, key)
        except PendingGlueReferenceError as exc:
            return [glue_warning(str(exc), self.document, self.line)]
        figure = nodes.figure("", pasted)
        self.set_source_info(figure)
        figure["classes"] += self.options.get("figclass", [])
        self.add_name(figure)
        if self.content:
            parsed = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, parsed)
            first = parsed[0]
            if not isinstance(first, nodes.paragraph):
                return [figure, glue_warning("Figure caption must be a paragraph.", self.document, self.lineno)]
            caption = nodes.caption(first.rawsource, "", *first.children)
            caption.source, caption.line = first.source, first.line
            figure += caption
        return [figure]


def setup(app):
    """Register after myst-nb (``sphinx.extra_extensions`` in ``_config.yml`` comes after it)."""
    app.add_directive_to_domain("glue", "figure", PastedFigure, override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
