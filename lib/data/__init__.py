"""Pipeline stage 1, data: the datasets as one record form, from a checked mirror, the cache or a download."""
from lib.data.hub import load_mnli, load_squad
from lib.data.loaders import (EWT_GENRES, EWT_SPLITS, GUM_GENRES, GUM_SPLITS, SNLI_SPLITS, VADER_DOMAINS, dataset_files,
                              load_ewt, load_gum, load_snli, load_snli_parses, load_vader, load_wikipedia)
from lib.data.records import NLI_LABELS, Record, records_digest, split_words
from lib.data.sources import FILES, MIRROR_ENV, DataError, checksums, data_path

__all__ = ["DataError", "EWT_GENRES", "EWT_SPLITS", "FILES", "GUM_GENRES", "GUM_SPLITS", "MIRROR_ENV", "NLI_LABELS", "Record", "SNLI_SPLITS",
           "VADER_DOMAINS", "checksums", "data_path", "dataset_files", "load_ewt", "load_gum", "load_mnli", "load_snli", "load_snli_parses",
           "load_squad", "load_vader", "load_wikipedia", "records_digest", "split_words"]
