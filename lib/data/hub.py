"""MNLI and SQuAD v1.1 for the ``paper`` profile, in the Hugging Face hub's row format.

The hub's rows are read from a local export or, where there is none, through ``datasets.load_dataset``
at the revision the hub resolves now (:func:`hub_revision`: the commit a result's key holds). A local
export is one file per split, ``<name>/<split>.jsonl`` (one hub row per line, as
``Dataset.to_json`` writes it) or ``<name>/<split>.parquet``, in the data mirror (``data_dir`` or
``$BOOK_DATA_DIR``) or the cache's data folder (:func:`local_exports`); a file can also be passed
directly (``path=``).

- MNLI (``nyu-mll/multi_nli``): ``premise``, ``hypothesis``, ``label`` (0 entailment, 1 neutral,
  2 contradiction, -1 no consensus), ``genre``, ``pairID``.
- SQuAD (``rajpurkar/squad``): ``id``, ``title``, ``context``, ``question``,
  ``answers = {"text": [...], "answer_start": [...]}``.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Iterable

from lib.data.records import NLI_LABELS, Record, split_words
from lib.errors import DataError, InputError, SetupError

HUB_IDS = {"mnli": "nyu-mll/multi_nli", "squad": "rajpurkar/squad"}
MNLI_SPLITS = ("train", "validation_matched", "validation_mismatched")
SQUAD_SPLITS = ("train", "validation")
SPLITS = {"mnli": MNLI_SPLITS, "squad": SQUAD_SPLITS}
FIELDS = {"mnli": "premise, hypothesis, label, genre, pairID",
          "squad": "id, title, context, question, answers {text, answer_start}"}
EXPORT_SUFFIXES = (".jsonl", ".parquet")


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


def _export_roots(data_dir: str | Path | None) -> list[Path]:
    from lib.artifacts import cache_dir
    from lib.data.sources import MIRROR_ENV

    mirror = data_dir or os.environ.get(MIRROR_ENV)
    return ([Path(mirror)] if mirror else []) + [cache_dir() / "data"]


def local_exports(name: str, data_dir: str | Path | None = None) -> dict[str, Path]:
    """The split files of the first local export of hub dataset ``name``: ``<root>/<name>/<split>.jsonl``
    (or ``.parquet``) in the data mirror (``data_dir``, else ``$BOOK_DATA_DIR``), then in the cache's data
    folder; empty where neither holds a ``<name>/`` folder."""
    for root in _export_roots(data_dir):
        if (root / name).is_dir():
            return {split: root / name / f"{split}{suffix}" for split in SPLITS[name] for suffix in EXPORT_SUFFIXES
                    if (root / name / f"{split}{suffix}").is_file()}
    return {}


def export_help(name: str, data_dir: str | Path | None = None) -> str:
    """What to do without a hub: where a local export of ``name`` goes and what it holds."""
    root = _export_roots(data_dir)[0]
    return (f"put a local export of {HUB_IDS[name]} in {root / name}/: one file per split "
            f"({', '.join(SPLITS[name])}) named <split>.jsonl, one hub row per line ({FIELDS[name]}), or "
            f"<split>.parquet; on a machine with a network: datasets.load_dataset({HUB_IDS[name]!r}, "
            f"split=s).to_json(f'{name}/{{s}}.jsonl'). Or point data_dir / $BOOK_DATA_DIR at a mirror that holds {name}/")


def _datasets(name: str):
    try:
        import datasets
    except ImportError:
        raise SetupError(f"{name} is read through the 'datasets' package (pip install datasets), "
                         f"or {export_help(name)}") from None
    return datasets


@functools.lru_cache(maxsize=None)
def _resolved(hub_id: str) -> str:
    import datasets

    return datasets.load_dataset_builder(hub_id).hash or ""


def hub_revision(name: str, data_dir: str | Path | None = None) -> str:
    """The commit of ``HUB_IDS[name]`` that ``datasets`` resolves (once per process): the revision a
    result's key holds and the one :func:`load_mnli` / :func:`load_squad` read. Offline, a
    :class:`DataError` says where a local export goes instead."""
    _datasets(name)
    try:
        revision = _resolved(HUB_IDS[name])
    except Exception as err:  # offline: ConnectionError; no such dataset: DatasetNotFoundError
        raise DataError(f"could not reach {HUB_IDS[name]} through datasets ({type(err).__name__}: {err}). "
                        f"Offline, {export_help(name, data_dir)}") from None
    if not revision:
        raise DataError(f"datasets resolved no revision for {HUB_IDS[name]}: {export_help(name, data_dir)}")
    return revision


def _hub_rows(name: str, split: str, path: str | Path | None, data_dir: str | Path | None) -> list[dict]:
    path = path or local_exports(name, data_dir).get(split)
    if path is not None:
        return read_rows(path)
    datasets, revision = _datasets(name), hub_revision(name, data_dir)
    try:
        return list(datasets.load_dataset(HUB_IDS[name], split=split, revision=revision))
    except Exception as err:
        raise DataError(f"could not load {HUB_IDS[name]} at revision {revision} through datasets "
                        f"({type(err).__name__}: {err}). Offline, {export_help(name, data_dir)}") from None


def load_mnli(split: str, path: str | Path | None = None, data_dir: str | Path | None = None) -> list[Record]:
    """MNLI pairs of ``split`` (one of MNLI_SPLITS): from ``path``, else the local export
    (:func:`local_exports`), else the hub through ``datasets``."""
    if split not in MNLI_SPLITS:
        raise InputError(f"unknown MNLI split {split!r}; valid: {', '.join(MNLI_SPLITS)}")
    return mnli_records(_hub_rows("mnli", split, path, data_dir), split)


def load_squad(split: str, path: str | Path | None = None, data_dir: str | Path | None = None) -> list[Record]:
    """SQuAD v1.1 questions of ``split`` (one of SQUAD_SPLITS), from where :func:`load_mnli` reads."""
    if split not in SQUAD_SPLITS:
        raise InputError(f"unknown SQuAD split {split!r}; valid: {', '.join(SQUAD_SPLITS)}")
    return squad_records(_hub_rows("squad", split, path, data_dir), split)
