"""The library behind the book "What happens to BERT embeddings during fine-tuning?".

Glossary, used by every module:

- ``layer``: an int, 0 = the embedding output, 1..n_layers = transformer layers.
- ``vectors``: word vectors of all layers, ``(layers, words, hidden)`` float32.
- ``reps``: one layer's vectors, ``(n_items, hidden)``.
- ``n_*``: a count (``n_sentences``, ``n_pairs``).
- ``profile``: ``smoke`` (tests), ``cpu`` (the embedded default) or ``paper`` (BERT-base, GPU).

This module only re-exports; see the submodules for the code.
"""
from lib import charts
from lib.ablation import ablation_table, check_grid, freezing_grid, restoring
from lib.data import (DataError, Record, load_ewt, load_mnli, load_snli, load_squad, load_vader,
                      load_wikipedia)
from lib.extract import Reps, extract_layers
from lib.finetune import (FinetuneConfig, get_or_train, history_table, load_finetuned, metrics_table,
                          profile_config)
from lib.geometry import describe_layers
from lib.models import Encoder, load_encoder, model_shape, pick_device
from lib.probing import probe_model, probe_sentences
from lib.profiles import check_parameters, load_profile, seed_everything
from lib.provenance import describe_environment
from lib.layercache import cached_layers, task_layers
from lib.shift import domain_scores, domain_sentences, matched_samples, shift_tables
from lib.similarity import linear_cka, matrix_table, sample_tokens, same_layer, similarity_matrix, versus_pretrained
from lib.weights import relative_change, weight_change

REPOSITORY = "https://github.com/what-happens-to-bert/book"

__all__ = ["ablation_table", "check_grid", "freezing_grid", "restoring", "model_shape", "domain_scores",
           "domain_sentences", "matched_samples", "shift_tables", "DataError", "Encoder", "FinetuneConfig", "REPOSITORY", "Record", "Reps", "charts",
           "check_parameters", "describe_environment", "describe_layers", "extract_layers", "get_or_train",
           "history_table", "linear_cka", "load_encoder", "load_ewt", "load_finetuned", "load_mnli",
           "load_profile", "load_snli", "load_squad", "load_vader", "load_wikipedia", "metrics_table",
           "pick_device", "probe_model", "probe_sentences", "profile_config", "relative_change", "same_layer",
           "sample_tokens", "seed_everything", "similarity_matrix", "task_layers", "versus_pretrained",
           "weight_change", "cached_layers", "matrix_table"]
