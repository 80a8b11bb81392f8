"""The library behind the book "What happens to BERT embeddings during fine-tuning?".

Its subpackages follow the book's pipeline, each stage using only those before it:

- :mod:`lib.data`: the datasets as records, from a checked local mirror, the cache or a download;
- :mod:`lib.encoders`: pre-trained encoders, the runtime, word vectors from every layer (cached);
- :mod:`lib.finetune`: tasks, heads, metrics, the training loop and the store of fine-tuned models;
- :mod:`lib.probing` and :mod:`lib.similarity`: what probes read from each layer; RSA and CKA;
- :mod:`lib.experiments`: ablations, domain shift and the paper's findings;
- :mod:`lib.book`: parameters, chapter settings, charts, the chapter runner and the command line;
- :mod:`lib.artifacts`: the cache, atomic writes and the one key function behind every cache.

Glossary, used by every module:

- ``layer``: an int, 0 = the embedding output, 1..n_layers = transformer layers.
- ``vectors``: word vectors of all layers, ``(layers, words, hidden)`` float32.
- ``reps``: one layer's vectors, ``(n_items, hidden)``.
- ``n_*``: a count (``n_sentences``, ``n_pairs``).
- ``profile``: ``smoke`` (tests), ``cpu`` (the embedded default), ``gpu`` or ``paper`` (BERT-base, GPU);
  only the chapters and the command line read one: the library takes explicit arguments.
- ``runtime``: :class:`lib.encoders.runtime.Runtime`, where the work runs (device, precision, data
  folder), resolved once by :func:`lib.chapter_settings` or the command line; stages take it.
- a model: :class:`lib.finetune.Pretrained` (by name) or :class:`lib.finetune.FineTuned` (from the store).

This module only re-exports what the chapters call; see the subpackages for the code.
"""
__version__ = "0.1.0"  # part of every artifact key: a new version computes everything anew

from lib.book import charts  # noqa: E402
from lib.book.parameters import calibration, check_parameters, load_profile, seed_everything  # noqa: E402
from lib.book.prose import glue  # noqa: E402
from lib.book.differences import deviations, differences_box  # noqa: E402
from lib.book.provenance import describe_environment, reproduce_page  # noqa: E402
from lib.book.settings import Settings, chapter_settings, stage_settings  # noqa: E402
from lib.book import takeaways  # noqa: E402
from lib.data import (DataError, Record, load_ewt, load_gum, load_mnli, load_snli, load_squad, load_vader,  # noqa: E402
                      load_wikipedia)
from lib.encoders import (Encoder, Reps, Runtime, cached_layers, describe_layers, extract_layers, load_encoder,  # noqa: E402
                          model_shape, relative_change, weight_change)
from lib.experiments import (DOMAINS, IN_DOMAIN, Ablation, DomainShift, Similarity, ablation_items, ablation_table, ablation_tables,  # noqa: E402
                             check_grid, domain_scores, domain_sentences, findings, freezing_grid, input_name,
                             input_vectors, pca_table, pos_pca, restoring, share_lost, shift_tables, similarity_table)
from lib.finetune import (MAIN_METRIC, FineTuned, FinetuneConfig, Finetuning, Pretrained, chance_table,  # noqa: E402
                          get_or_train, get_or_train_all, history_table, metrics_table, task_layers)
from lib.probing import (Probing, describe_probe_tasks, probe_corpora, probe_items, probe_model, probe_models,  # noqa: E402
                         probe_sentences)
from lib.similarity import (closest_layers, linear_cka, matrix_table, same_layer, sample_tokens, similarity_matrix,  # noqa: E402
                            versus_pretrained)

REPOSITORY = "https://github.com/what-happens-to-bert/book"

__all__ = ["DOMAINS", "IN_DOMAIN", "MAIN_METRIC", "Ablation", "DataError", "DomainShift", "Encoder", "FineTuned",
           "FinetuneConfig", "Finetuning", "Pretrained", "Probing", "REPOSITORY", "Record", "Reps", "Runtime", "Settings",
           "Similarity", "ablation_items", "ablation_table", "ablation_tables", "cached_layers", "calibration", "chance_table", "chapter_settings", "charts",
           "check_grid", "check_parameters", "closest_layers", "describe_environment", "describe_layers",
           "describe_probe_tasks", "deviations", "differences_box", "domain_scores", "domain_sentences",
           "extract_layers", "findings", "freezing_grid", "get_or_train", "get_or_train_all", "glue", "history_table", "input_name",
           "input_vectors", "linear_cka", "load_encoder", "load_ewt", "load_gum", "load_mnli", "load_profile",
           "load_snli", "load_squad", "load_vader", "load_wikipedia", "matrix_table", "metrics_table", "model_shape", "pca_table", "pos_pca",
           "probe_corpora", "probe_items", "probe_model", "probe_models", "probe_sentences", "relative_change", "reproduce_page", "restoring",
           "same_layer", "sample_tokens", "seed_everything", "share_lost", "shift_tables", "similarity_matrix",
           "similarity_table", "stage_settings", "takeaways", "task_layers", "versus_pretrained", "weight_change"]
