"""MNLI and SQuAD v1.1 for the ``paper`` profile, in the Hugging Face hub's row format.

The hub's rows are read from a local file (jsonl, or parquet where pyarrow is installed) or, when
no file is given, through ``datasets.load_dataset`` (needs the ``datasets`` package and a network).

- MNLI (``nyu-mll/multi_nli``): ``premise``, ``hypothesis``, ``label`` (0 entailment, 1 neutral,
  2 contradiction, -1 no consensus), ``genre``, ``pairID``.
- SQuAD (``rajpurkar/squad``): ``id``, ``title``, ``context``, ``question``,
  ``answers = {"text": [...], "answer_start": [...]}``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from lib.data.records import NLI_LABELS, Record, split_words
from lib.errors import DataError, InputError, SetupError

HUB_IDS = {"mnli": "nyu-mll/multi_nli", "squad": "rajpurkar/squad"}
MNLI_SPLITS = ("train", "validation_matched", "validation_mismatched")
SQUAD_SPLITS = ("train", "validation")


def mnli_records(rows: Iterable[dict], split: str) -> list[Record]:
    """Hub MNLI rows to records; rows without a gold label (-1) are dropped."""
    records = []
    for number, row in enumerate(rows):
        label = int(row["label"])
        if label not in (0, 1, 2):
            continue
        records.append(Record(id=str(row.get("pairID", number)), dataset="mnli", split=split,
                              domain=row.get("genre", ""), text=row["premise"], pair=row["hypothesis"],
                              words=split_words(row["premise"]), label=NLI_LABELS[label]))
    return records


def squad_records(rows: Iterable[dict], split: str) -> list[Record]:
    """Hub SQuAD rows to records: ``text`` is the context, ``pair`` the question.

    Raises ``ValueError`` for a row without answers or with an answer that is not in its context.
    """
    records = []
    for row in rows:
        answers = tuple(zip(row["answers"]["text"], row["answers"]["answer_start"]))
        if not answers:
            raise InputError(f"SQuAD row {row['id']} has no answers: SQuAD v1.1 needs one per question")
        for text, start in answers:
            if row["context"][start:start + len(text)] != text:
                raise InputError(f"SQuAD row {row['id']}: answer {text!r} is not at character {start}")
        records.append(Record(id=row["id"], dataset="squad", split=split, domain=row["title"],
                              text=row["context"], pair=row["question"], words=split_words(row["context"]),
                              answers=tuple((t, int(s)) for t, s in answers)))
    return records


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a hub export: ``.jsonl`` / ``.json`` (one object per line) or ``.parquet``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: pass a hub export (.jsonl or .parquet)")
    if path.suffix == ".parquet":
        import pandas as pd
        return pd.read_parquet(path).to_dict("records")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _hub_rows(name: str, split: str, path: str | Path | None) -> list[dict]:
    if path is not None:
        return read_rows(path)
    try:
        import datasets
    except ImportError:
        raise SetupError(f"{name} needs a local file (path=...) or the 'datasets' package "
                          f"to fetch {HUB_IDS[name]} from the hub: pip install datasets") from None
    return list(datasets.load_dataset(HUB_IDS[name], split=split))


def load_mnli(split: str, path: str | Path | None = None) -> list[Record]:
    """MNLI pairs of ``split`` (one of MNLI_SPLITS)."""
    if split not in MNLI_SPLITS:
        raise InputError(f"unknown MNLI split {split!r}; valid: {', '.join(MNLI_SPLITS)}")
    return mnli_records(_hub_rows("mnli", split, path), split)


def load_squad(split: str, path: str | Path | None = None) -> list[Record]:
    """SQuAD v1.1 questions of ``split`` (one of SQUAD_SPLITS)."""
    if split not in SQUAD_SPLITS:
        raise InputError(f"unknown SQuAD split {split!r}; valid: {', '.join(SQUAD_SPLITS)}")
    return squad_records(_hub_rows("squad", split, path), split)
