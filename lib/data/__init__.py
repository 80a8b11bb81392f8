"""Datasets: one record form, a checked local mirror, cache and download."""
from lib.data.hub import load_mnli, load_squad
from lib.data.loaders import (EWT_GENRES, EWT_SPLITS, SNLI_SPLITS, VADER_DOMAINS, load_ewt, load_snli,
                              load_vader, load_wikipedia)
from lib.data.records import Record, split_words
from lib.data.sources import FILES, MIRROR_ENV, DataError, data_path

__all__ = ["DataError", "EWT_GENRES", "EWT_SPLITS", "FILES", "MIRROR_ENV", "Record", "SNLI_SPLITS",
           "VADER_DOMAINS", "data_path", "load_ewt", "load_mnli", "load_snli", "load_squad", "load_vader",
           "load_wikipedia", "split_words"]
