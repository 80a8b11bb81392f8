"""One record form for every dataset, and the readers that produce it.

Every loader returns a list of :class:`Record`. Fields a dataset lacks stay empty: SNLI has no
``upos``, EWT has no ``label``. ``words`` are the units the book embeds and probes: the treebank's
syntactic words for EWT, and a simple regex tokenisation (our choice) for raw text.
"""
from __future__ import annotations

import gzip
import json
import re
import hashlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Iterator

from lib.errors import InputError

_WORD = re.compile(r"\d+(?:[.,:]\d+)*|\w+(?:[-'’]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class Record:
    """One example.

    ``domain``: EWT genre, VADER domain, MNLI genre or Wikipedia article title.
    ``label``: a class name (NLI), a float rating (VADER) or ``None``.
    ``pair``: the second segment (NLI hypothesis, QA question).
    ``heads``: 1-based head index per word, 0 = root. ``answers``: ``((text, char_start), ...)``.
    """

    id: str
    dataset: str
    split: str
    domain: str
    text: str
    words: tuple[str, ...]
    label: str | float | None = None
    pair: str | None = None
    upos: tuple[str, ...] = ()
    heads: tuple[int, ...] = ()
    deprels: tuple[str, ...] = ()
    answers: tuple[tuple[str, int], ...] = ()


def records_digest(records: Iterable[Record]) -> str:
    """SHA-256 of every field of every record, in order: the content a result computed from them
    depends on (a change to a reader or to :func:`split_words` changes it).

    >>> a = Record("1", "x", "test", "d", "Hi there", ("Hi", "there"))
    >>> records_digest([a]) == records_digest([a]) != records_digest([a, a])
    True
    """
    sha = hashlib.sha256()
    names = [f.name for f in fields(Record)]
    for record in records:
        sha.update(json.dumps([getattr(record, name) for name in names], ensure_ascii=False).encode("utf-8"))
        sha.update(b"\n")
    return sha.hexdigest()


def split_words(text: str) -> tuple[str, ...]:
    """Split raw text into words and punctuation.

    >>> split_words("Don't panic: it's 4.5 km at 10:30!")
    ("Don't", 'panic', ':', "it's", '4.5', 'km', 'at', '10:30', '!')
    """
    return tuple(_WORD.findall(text))


def read_lines(path: Path) -> Iterator[str]:
    """Lines of a gzip text file, without line endings (CRLF files included)."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for line in handle:
            yield line.rstrip("\r\n")


def parse_conllu(lines: Iterable[str], split: str, dataset: str = "ewt") -> list[Record]:
    """CoNLL-U sentences to records; multiword-token ranges and empty nodes are skipped.

    The genre is the ``sent_id`` prefix before the first '-' (EWT's convention).
    """
    records, rows, meta = [], [], {}
    for line in list(lines) + [""]:
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            meta[key.strip()] = value.strip()
        elif line.strip():
            cols = line.split("\t")
            if len(cols) != 10:
                raise InputError(f"malformed CoNLL-U line in sentence {meta.get('sent_id')}: {line!r}")
            if cols[0].isdigit():
                rows.append(cols)
        elif rows:
            sent_id = meta.get("sent_id", f"{split}-{len(records)}")
            heads = tuple(int(r[6]) if r[6].isdigit() else -1 for r in rows)
            records.append(Record(
                id=sent_id, dataset=dataset, split=split, domain=sent_id.split("-", 1)[0],
                text=meta.get("text", " ".join(r[1] for r in rows)), words=tuple(r[1] for r in rows),
                upos=tuple(r[3] for r in rows), heads=heads, deprels=tuple(r[7] for r in rows)))
            rows, meta = [], {}
    return records


def parse_nli_jsonl(lines: Iterable[str], split: str, dataset: str) -> list[Record]:
    """SNLI / MultiNLI official jsonl (``sentence1``, ``sentence2``, ``gold_label``) to records.

    Pairs without annotator consensus (``gold_label == "-"``) are dropped.
    """
    records = []
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        if row["gold_label"] not in NLI_LABELS:
            continue
        records.append(Record(
            id=str(row.get("pairID", len(records))), dataset=dataset, split=split,
            domain=row.get("genre", "captions"), text=row["sentence1"], pair=row["sentence2"],
            words=split_words(row["sentence1"]), label=row["gold_label"]))
    return records


NLI_LABELS = ("entailment", "neutral", "contradiction")


def parse_vader(lines: Iterable[str], domain: str) -> list[Record]:
    """VADER ground truth: ``id<TAB>mean rating in [-4, 4]<TAB>text`` per line."""
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise InputError(f"VADER {domain} line {number} is not id<TAB>rating<TAB>text: {line[:80]!r}")
        records.append(Record(id=f"{domain}-{parts[0]}", dataset="vader", split="all", domain=domain,
                              text=parts[2], words=split_words(parts[2]), label=float(parts[1])))
    return records


def parse_wikipedia(lines: Iterable[str]) -> list[Record]:
    """The Wikipedia sample: one paragraph per line (``title``, ``page_id``, ``paragraph``, ``text``)."""
    records = []
    for line in lines:
        if line.strip():
            row = json.loads(line)
            records.append(Record(id=f"{row['page_id']}-{row['paragraph']}", dataset="wikipedia",
                                  split="all", domain=row["title"], text=row["text"],
                                  words=split_words(row["text"])))
    return records
