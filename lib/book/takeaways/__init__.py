"""What each chapter's prose states, from its tidy tables: one module per chapter's takeaways.

A chapter's hidden glue cell is one call, ``lib.glue(**lib.takeaways.<module>.facts(<tables>, ...))``;
the tables it shows come from the same module.
"""
from lib.book.takeaways import ablation, shift, verdicts

__all__ = ["ablation", "shift", "verdicts"]
