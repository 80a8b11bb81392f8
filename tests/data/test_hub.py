"""MNLI and SQuAD: a local export in the mirror or cache, else ``datasets`` at a resolved revision;
offline, an error that says where the export goes."""
import json
import os
import subprocess
import sys

import pytest

from lib.artifacts import file_sha256
from lib.data import hub, load_mnli, load_squad
from lib.data.hub import export_help, local_exports
from lib.finetune.tasks import data_identity, load_task

PAIRS = [("A man eats.", "Someone eats.", 0), ("A man eats.", "Nobody eats.", 2), ("A dog runs.", "An animal moves.", 0),
         ("A dog runs.", "The cat sleeps.", 1), ("x", "y", -1)]


def _export(folder, split, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _mnli(root, offset=0):
    rows = [{"premise": p, "hypothesis": h, "label": label, "genre": "fiction", "pairID": f"{i + offset}"}
            for i, (p, h, label) in enumerate(PAIRS)]
    for split in ("train", "validation_matched"):
        _export(root / "mnli", split, rows)


def test_a_local_export_in_the_mirror_is_read_and_keyed_by_its_content(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    _mnli(tmp_path / "mirror")
    mirror = str(tmp_path / "mirror")
    assert sorted(local_exports("mnli", mirror)) == ["train", "validation_matched"]
    assert local_exports("squad", mirror) == {}
    assert [r.label for r in load_mnli("train", data_dir=mirror)] == ["entailment", "contradiction", "entailment", "neutral"]
    first = data_identity("nli", "mnli", data_dir=mirror)
    assert first == {"hub_exports": {split: file_sha256(tmp_path / "mirror" / "mnli" / f"{split}.jsonl")
                                     for split in ("train", "validation_matched")}}
    _mnli(tmp_path / "mirror", offset=10)  # other pair ids: other content, another key
    assert data_identity("nli", "mnli", data_dir=mirror) != first
    data = load_task("nli", 2, 2, 2, "mnli", data_dir=mirror)
    assert len(data.train) == 2 and data.labels == ("entailment", "neutral", "contradiction")
    (tmp_path / "mirror" / "mnli" / "train.jsonl").unlink()
    with pytest.raises(ValueError, match="not every split train, validation_matched"):
        data_identity("nli", "mnli", data_dir=mirror)


def test_the_cache_data_folder_holds_an_export_too(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BOOK_DATA_DIR", raising=False)
    _mnli(tmp_path / "cache" / "data")
    assert len(load_mnli("validation_matched")) == 4


def test_through_datasets_the_key_holds_the_revision_it_resolved_and_loads(tmp_path, monkeypatch):
    """No hub here: ``datasets``' resolution is replaced by a fixed commit; what is checked is that
    the key holds it and that the rows are read at that same revision."""
    import datasets

    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BOOK_DATA_DIR", str(tmp_path))
    sha = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setattr(hub, "_resolved", lambda hub_id: sha)
    calls = []

    def load_dataset(hub_id, split, revision):
        calls.append((hub_id, split, revision))
        return [{"id": "q", "title": "T", "context": "In Paris.", "question": "Where?",
                 "answers": {"text": ["Paris"], "answer_start": [3]}}]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert data_identity("qa") == {"hub": "rajpurkar/squad", "revision": sha}
    assert load_squad("validation")[0].answers == (("Paris", 3),)
    assert calls == [("rajpurkar/squad", "validation", sha)]


def test_offline_the_error_says_where_a_local_export_goes(tmp_path):
    """The real ``datasets`` in offline mode: one clear error naming the folder, the files and their fields."""
    code = "import lib.data.hub as h; h.load_squad('train', data_dir=%r)" % str(tmp_path)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "BOOK_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("lib.errors.DataError: could not reach rajpurkar/squad through datasets")
    assert export_help("squad", tmp_path) in last
    assert f"{tmp_path}/squad/" in last and "answers {text, answer_start}" in last
