"""The book's datasets as lists of :class:`~lib.data.records.Record`.

Each loader takes ``data_dir`` (a local mirror; default ``$BOOK_DATA_DIR``, then the cache, then a
download: see :mod:`lib.data.sources`). Splits are the datasets' own, except SNLI's dev set, which
SNLI's mirror sample lacks: it is carved from the end of the 100k train sample (our choice).
"""
from __future__ import annotations

import functools

import json

from lib.data.records import (NLI_LABELS, Record, parse_conllu, parse_nli_jsonl, parse_tree, parse_vader,
                              parse_wikipedia, read_lines)
from lib.data.sources import data_path
from lib.errors import InputError

EWT_SPLITS = ("train", "dev", "test")
EWT_GENRES = ("answers", "email", "newsgroup", "reviews", "weblog")
GUM_SPLITS = ("dev", "test")  # the mirror has no GUM train file
GUM_GENRES = ("academic", "bio", "conversation", "court", "essay", "fiction", "interview", "letter", "news",
              "podcast", "speech", "textbook", "vlog", "voyage", "whow")
SNLI_SPLITS = ("train", "dev", "test")
SNLI_DEV_SIZE = 5_000  # the last 5,000 usable pairs of the 100k train sample
VADER_DOMAINS = {"movies": "movieReviewSnippets", "tweets": "tweets",
                 "nyt": "nytEditorialSnippets", "amazon": "amazonReviewSnippets"}


def dataset_files(dataset: str) -> tuple[str, ...]:
    """The mirror files a dataset's loader reads: ``ewt``, ``snli``, ``wikipedia`` or ``vader-<domain>``."""
    if dataset == "ewt":
        return tuple(f"ud_english_ewt/en_ewt-ud-{split}.conllu.gz" for split in EWT_SPLITS)
    if dataset == "gum":
        return tuple(f"ud_english_gum/en_gum-ud-{split}.conllu.gz" for split in GUM_SPLITS)
    if dataset == "snli":
        return ("snli/snli_1.0_test.jsonl.gz", "snli/snli_1.0_train_first100k.jsonl.gz")
    if dataset == "wikipedia":
        return ("wikipedia/enwiki_sample.jsonl.gz",)
    domain = dataset.removeprefix("vader-")
    if dataset.startswith("vader-") and domain in VADER_DOMAINS:
        return (f"vader/{VADER_DOMAINS[domain]}_GroundTruth.txt.gz",)
    valid = ["ewt", "gum", "snli", "wikipedia"] + [f"vader-{d}" for d in VADER_DOMAINS]
    raise InputError(f"unknown dataset {dataset!r}; valid: {', '.join(valid)}")


def _check(kind: str, value: str, valid) -> None:
    if value not in valid:
        raise InputError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")


def _parsed(path, split: str, dataset: str, parse=None) -> list[Record]:
    """The records of a file (CoNLL-U unless ``parse`` says otherwise), parsed once per process for
    each version of the file (its path, size and modification time): chapters read the same
    treebank split, and the same SNLI file, many times. Records are frozen, so sharing them is safe."""
    stat = path.stat()
    return list(_parse_once(str(path), stat.st_size, stat.st_mtime_ns, split, dataset, parse or _conllu))


def _conllu(lines, split: str, dataset: str) -> list[Record]:
    return parse_conllu(lines, split, dataset=dataset)


@functools.lru_cache(maxsize=12)
def _parse_once(path: str, size: int, mtime: int, split: str, dataset: str, parse) -> tuple[Record, ...]:
    return tuple(parse(read_lines(path), split, dataset))


def load_ewt(split: str, data_dir: str | None = None) -> list[Record]:
    """UD English EWT r2.16 sentences with gold UPOS, heads and relations; ``domain`` is the genre."""
    _check("EWT split", split, EWT_SPLITS)
    path = data_path(dataset_files("ewt")[EWT_SPLITS.index(split)], data_dir)
    return _parsed(path, split, "ewt")


def load_gum(split: str, data_dir: str | None = None) -> list[Record]:
    """UD English GUM (UD 2.16) sentences with gold UPOS, trees and entity mentions with their
    coreference chains; ``domain`` is the genre. Licence CC BY-NC-SA 4.0: non-commercial use only."""
    _check("GUM split", split, GUM_SPLITS)
    path = data_path(dataset_files("gum")[GUM_SPLITS.index(split)], data_dir)
    return _parsed(path, split, "gum")


def load_snli_parses(split: str, data_dir: str | None = None) -> list[Record]:
    """SNLI's distinct premises of a split as parsed sentences: ``words`` are the leaves of the
    Stanford parser's tree (``sentence1_parse``, silver, not gold) and ``constituents`` its phrases."""
    _check("SNLI split", split, SNLI_SPLITS)
    test, train = dataset_files("snli")
    return _parsed(data_path(test if split == "test" else train, data_dir), split, "snli-parses", _snli_parses)


def _snli_parses(lines, split: str, dataset: str) -> list[Record]:
    rows = [json.loads(line) for line in lines if line.strip()]
    rows = [row for row in rows if row["gold_label"] in NLI_LABELS]  # the pairs load_snli keeps, in order
    if split != "test":
        rows = rows[-SNLI_DEV_SIZE:] if split == "dev" else rows[:-SNLI_DEV_SIZE]
    records, seen = [], set()
    for row in rows:
        if row["sentence1"] in seen:
            continue
        seen.add(row["sentence1"])
        words, phrases = parse_tree(row["sentence1_parse"])
        records.append(Record(id=str(row.get("pairID", len(records))), dataset="snli", split=split, domain="captions",
                              text=row["sentence1"], words=words, constituents=phrases))
    return records


def load_snli(split: str, data_dir: str | None = None) -> list[Record]:
    """SNLI 1.0 pairs with a gold label; ``label`` in entailment | neutral | contradiction."""
    _check("SNLI split", split, SNLI_SPLITS)
    test, train = dataset_files("snli")
    if split == "test":
        return _parsed(data_path(test, data_dir), "test", "snli", parse_nli_jsonl)
    pairs = _parsed(data_path(train, data_dir), split, "snli", parse_nli_jsonl)
    return pairs[-SNLI_DEV_SIZE:] if split == "dev" else pairs[:-SNLI_DEV_SIZE]


def load_vader(domain: str, data_dir: str | None = None) -> list[Record]:
    """VADER ground-truth snippets of one domain; ``label`` is the mean human rating in [-4, 4]."""
    _check("VADER domain", domain, tuple(VADER_DOMAINS))
    path = data_path(dataset_files(f"vader-{domain}")[0], data_dir)
    return parse_vader(read_lines(path), domain)


def load_wikipedia(data_dir: str | None = None) -> list[Record]:
    """The Wikipedia sample, one record per paragraph; ``domain`` is the article title."""
    return parse_wikipedia(read_lines(data_path(dataset_files("wikipedia")[0], data_dir)))
