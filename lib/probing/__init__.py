"""Pipeline stage 4, probing: what a probe reads from each layer of a pre-trained or fine-tuned model.

Targets (labelled spans and span pairs), the edge probe with its scalar mix, the structural
distance probe, and the runner that probes every layer and caches the tables.
"""
from lib.probing.runner import (PROBE_TASKS, Probing, describe_probe_tasks, probe_corpora, probe_items, probe_model,
                               probe_models, probe_sentences)

__all__ = ["PROBE_TASKS", "Probing", "describe_probe_tasks", "probe_corpora", "probe_items", "probe_model",
           "probe_models", "probe_sentences"]
