"""What each chapter's prose states, computed from its tidy tables: one module per chapter topic.

A chapter's hidden glue cell is one call, ``lib.glue(**lib.takeaways.<module>.facts(<tables>, ...))``;
the tables it shows come from the same module. The modules take tables (and plain numbers and
names), never a run's manifest or a device.
"""
from lib.book.takeaways import ablation, finetuning, layers, probing, shift, similarity, verdicts

__all__ = ["ablation", "finetuning", "layers", "probing", "shift", "similarity", "verdicts"]
