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
    ``mentions``: GUM's entity mentions ``(start, end, type, chain)`` in word offsets ``[start, end)``;
    ``chain`` names the coreference chain within the document (``doc/id``), empty for a singleton.
    ``constituents``: a parse's phrases ``(start, end, label)``, preterminals and the root left out.
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
    mentions: tuple[tuple[int, int, str, str], ...] = ()
    constituents: tuple[tuple[int, int, str], ...] = ()


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

    The domain is the genre: EWT's ``sent_id`` prefix before the first '-' (``answers``), GUM's
    second field of ``GUM_<genre>_<name>``. GUM's gold entity mentions come from MISC's ``Entity=``.
    """
    records, rows, meta, document = [], [], {}, ""
    sentences: list[tuple[dict, list[list[str]]]] = []
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
            document = meta.get("newdoc id", document)
            sentences.append(({**meta, "document": document}, rows))
            rows, meta = [], {}
    mentions = _gum_mentions(sentences) if dataset == "gum" else [()] * len(sentences)
    for (meta, rows), found in zip(sentences, mentions):
        sent_id = meta.get("sent_id", f"{split}-{len(records)}")
        domain = sent_id.split("_")[1] if dataset == "gum" else sent_id.split("-", 1)[0]
        heads = tuple(int(r[6]) if r[6].isdigit() else -1 for r in rows)
        records.append(Record(
            id=sent_id, dataset=dataset, split=split, domain=domain,
            text=meta.get("text", " ".join(r[1] for r in rows)), words=tuple(r[1] for r in rows),
            upos=tuple(r[3] for r in rows), heads=heads, deprels=tuple(r[7] for r in rows), mentions=found))
    return records


_ENTITY = re.compile(r"\(([^()]+)(\)?)|([^()]+)\)")


def _gum_mentions(sentences: list[tuple[dict, list[list[str]]]]) -> list[tuple]:
    """Each sentence's entity mentions from GUM's ``Entity=`` brackets: ``(id-type-...`` opens a
    mention at a word, ``id)`` closes it, ``(id-type-...)`` is a one-word mention. A mention that
    does not close within its sentence is left out; a chain with one mention in its document is a
    singleton (its ``chain`` is empty)."""
    found, sizes = [], {}
    for meta, rows in sentences:
        opened: dict[str, list[tuple[int, str]]] = {}
        mentions = []
        for i, row in enumerate(rows):
            misc = dict(item.partition("=")[::2] for item in row[9].split("|"))
            for match in _ENTITY.finditer(misc.get("Entity", "")):
                if match.group(1):
                    key, kind = match.group(1).split("-")[:2]
                    if match.group(2):
                        mentions.append((i, i + 1, kind, key))
                    else:
                        opened.setdefault(key, []).append((i, kind))
                else:
                    key = match.group(3)
                    if opened.get(key):
                        start, kind = opened[key].pop()
                        mentions.append((start, i + 1, kind, key))
        chains = [(start, end, kind, f"{meta['document']}/{key}") for start, end, kind, key in sorted(mentions)]
        for *_, chain in chains:
            sizes[chain] = sizes.get(chain, 0) + 1
        found.append(chains)
    return [tuple((s, e, kind, chain if sizes[chain] > 1 else "") for s, e, kind, chain in chains)
            for chains in found]


def parse_tree(text: str) -> tuple[tuple[str, ...], tuple[tuple[int, int, str], ...]]:
    """A bracketed parse (``(ROOT (S (NP (DT A) (NN dog)) ...))``) -> its words and its phrases
    ``(start, end, label)``: every node above the part-of-speech level except the root.

    >>> parse_tree("(ROOT (S (NP (DT A) (NN dog)) (VP (VBZ runs))))")
    (('A', 'dog', 'runs'), ((0, 3, 'S'), (0, 2, 'NP'), (2, 3, 'VP')))
    """
    tokens = re.findall(r"\(|\)|[^\s()]+", text)
    words, phrases, stack = [], [], []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "(":
            label = tokens[i + 1]
            if i + 3 < len(tokens) and tokens[i + 2] not in "()" and tokens[i + 3] == ")":  # (TAG word)
                words.append(tokens[i + 2])
                i += 4
                continue
            stack.append((label, len(words), len(phrases)))
            phrases.append(None)
            i += 2
        elif token == ")":
            if not stack:
                raise InputError(f"unbalanced parse: {text[:80]!r}")
            label, start, slot = stack.pop()
            phrases[slot] = (start, len(words), label)
            i += 1
        else:
            raise InputError(f"unexpected word {token!r} outside a part-of-speech node in parse {text[:80]!r}")
    if stack:
        raise InputError(f"unbalanced parse: {text[:80]!r}")
    return tuple(words), tuple(p for p in phrases if p[2] != "ROOT")


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
