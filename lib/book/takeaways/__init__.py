"""What each chapter's prose states, computed from its tidy tables: one module per chapter topic.

A chapter's hidden glue cell is one call, ``lib.glue(**lib.takeaways.<module>.facts(<tables>, ...))``;
the modules take tables (and plain numbers and names), never a run's manifest or a device.
"""
from lib.book.takeaways import finetuning, layers, probing, similarity

__all__ = ["finetuning", "layers", "probing", "similarity"]
